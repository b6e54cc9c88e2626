"""The test-image mirror of a conformance run (tasks/e2e/mirror.py): where
it sits on the cluster's network, and that a user's own registry.k8s.io
mirror is left to serve the run."""

from types import SimpleNamespace

import pytest

from tasks.cluster import node_specs
from tasks.e2e import mirror as e2e_mirror
from tasks.errors import UserError
from tasks.settings import load_settings, parse_flags


def cluster_of(*flags: str):
    values, _, _ = parse_flags(list(flags))
    settings = load_settings(flags=values, environ={})
    return SimpleNamespace(settings=settings, nodes=node_specs(settings))


def test_it_sits_below_the_local_registry_clear_of_the_nodes():
    cluster = cluster_of("--dind-subnet", "10.50.0.0/24", "--num-nodes", "2")
    assert e2e_mirror.address(cluster) == "10.50.0.253"  # the registry: .254


def test_a_subnet_with_no_address_left_is_one_line():
    cluster = cluster_of("--dind-subnet", "10.50.0.0/29", "--num-nodes", "3")
    with pytest.raises(UserError, match="has no address left for the test-image mirror"):
        e2e_mirror.address(cluster)


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"the engine was asked for {name}")


def test_a_mirror_of_the_user_s_for_registry_k8s_io_serves_the_run():
    mirror = "registry.k8s.io=http://cache.example.invalid:5000"
    cluster = cluster_of("--registry-mirrors", mirror, "--dind-subnet", "10.50.0.0/24")
    cluster.objects, cluster.names = Untouchable(), Untouchable()
    with e2e_mirror.serving(cluster, archive=None):
        pass
