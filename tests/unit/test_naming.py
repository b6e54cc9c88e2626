"""Cluster names namespace every object; the default cluster keeps the seed's names."""

import dataclasses

import pytest

from tasks import cluster
from tasks.errors import SettingsError, UserError
from tasks.naming import Names
from tasks.settings import load_settings


def test_the_default_cluster_keeps_the_seed_names(state):
    names = Names("kubeadm-local-cluster")
    assert (names.master, names.worker(1), names.network, names.e2e_runner) == (
        "kube-master",
        "kube-node-1",
        "k8s-kubeadm-local-cluster",
        "kube-e2e",
    )
    assert names.kubeconfig() == state / "admin.conf"
    assert names.shown(names.kubeconfig()) == "~/.kubeadm-local-cluster/admin.conf"


def test_other_clusters_get_their_own_names_everywhere(state):
    names = Names("b")
    assert (names.master, names.worker(2), names.network, names.e2e_runner) == (
        "kube-master-b",
        "kube-node-2-b",
        "k8s-b",
        "kube-e2e-b",
    )
    assert Names.data_volume(names.master) == "kube-master-b-containerd"
    assert Names.snapshot_volume(names.worker(1)) == "kube-node-1-b-containerd-snapshot"
    assert names.snapshot_image(names.master) == "kubeadm-local-cluster/snapshot:b-kube-master-b"
    assert names.kubeconfig() == state / "clusters" / "b" / "admin.conf"
    assert names.kubectl() == state / "clusters" / "b" / "kubectl"


def test_node_specs_follow_the_cluster_name():
    settings = load_settings({"cluster.name": "b", "cluster.numNodes": 2, "dind.subnet": "10.50.0.0/16"})
    specs = cluster.node_specs(settings)
    assert [(s.name, s.role, s.address) for s in specs] == [
        ("kube-master-b", "master", "10.50.0.2"),
        ("kube-node-1-b", "worker", "10.50.0.3"),
        ("kube-node-2-b", "worker", "10.50.0.4"),
    ]


@dataclasses.dataclass
class FakeObjects:
    """A fake engine's networks: {name: subnet} (what Objects answers about them)."""

    networks: dict[str, str]
    ours: tuple[str, ...] = ()

    def network_subnet(self, name):
        return self.networks.get(name) if name in self.ours else None

    def engine_subnets(self):
        return {subnet: name for name, subnet in self.networks.items()}


def test_auto_subnet_is_the_first_free_one():
    settings = load_settings({"cluster.name": "b"})
    engine = FakeObjects(
        {"bridge": "172.17.0.0/16", "k8s-kubeadm-local-cluster": "10.192.0.0/16", "x": "10.193.0.0/24"}
    )
    assert cluster.pick_subnet(settings, engine) == "10.194.0.0/16"


def test_auto_subnet_keeps_the_one_the_cluster_network_has():
    settings = load_settings({"cluster.name": "b"})
    engine = FakeObjects({"k8s-b": "10.200.0.0/16"}, ours=("k8s-b",))
    assert cluster.pick_subnet(settings, engine) == "10.200.0.0/16"


def test_auto_subnet_skips_the_pod_range():
    settings = load_settings({})
    taken = {f"n{i}": f"10.{i}.0.0/16" for i in range(192, 244)}
    assert cluster.pick_subnet(settings, FakeObjects(taken)) == "10.245.0.0/16"


def test_explicit_subnet_overlapping_an_engine_network_is_one_line():
    settings = load_settings({"dind.subnet": "10.211.0.0/16"})
    with pytest.raises(SettingsError) as caught:
        cluster.pick_subnet(settings, FakeObjects({"theirs": "10.211.5.0/24"}))
    assert str(caught.value) == (
        "dind.subnet 10.211.0.0/16 (flag --dind-subnet) overlaps the engine's network theirs (10.211.5.0/24): "
        "choose another or set dind.subnet to auto to get a free one"
    )


def test_no_free_subnet_says_what_to_do():
    taken = {f"n{i}": f"10.{i}.0.0/16" for i in range(192, 256)}
    with pytest.raises(UserError, match="no free /16"):
        cluster.pick_subnet(load_settings({}), FakeObjects(taken))


def test_each_node_gets_its_own_pod_range_by_its_place():
    from tasks.podnet import pod_cidr

    assert [pod_cidr(i) for i in range(3)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
