"""Many clusters on one engine, each touching only its own objects; objects of
the user's that look like ours (a container or network of the same or a
similar name) are never adopted, changed or removed.

Two single-node clusters (the node count is not the point here) live side by
side through down, up from the snapshot and clean of one of them."""

import json
import subprocess

import pytest

from tasks.naming import Names
from tests.integration.conftest import NODE_REPOSITORY, VERSION, Kubectl, local_cluster
from tests.integration.test_cluster import docker

pytestmark = pytest.mark.integration

A, B = "it-iso-a", "it-iso-b"


def up(home, cluster, *args):
    return local_cluster(home, "up", "--kubernetes-version", VERSION, "--num-nodes", "0", *args, cluster=cluster)


def container_id(name: str) -> str:
    return docker("inspect", "--format", "{{.Id}}", name).stdout.strip()


@pytest.fixture(scope="module")
def two_clusters(shared_home):
    # A network of the user's whose name starts like cluster A's: never adopted or removed.
    docker("network", "create", f"k8s-{A}-old", check=True)
    try:
        for cluster in (A, B):
            result = up(shared_home, cluster)
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        yield shared_home
    finally:
        for cluster in (A, B):
            local_cluster(shared_home, "clean", cluster=cluster)
        docker("network", "rm", f"k8s-{A}-old")


def test_two_clusters_are_ready_at_once_each_with_its_own_kubeconfig(two_clusters):
    for cluster in (A, B):
        names = Names(cluster)
        nodes = Kubectl(two_clusters, cluster).json("get", "nodes")["items"]
        assert [n["metadata"]["name"] for n in nodes] == [names.master]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in nodes[0]["status"]["conditions"])
    assert Names(A).kubeconfig(two_clusters) != Names(B).kubeconfig(two_clusters)
    subnets = {
        cluster: json.loads(docker("network", "inspect", Names(cluster).network).stdout)[0]["IPAM"]["Config"][0][
            "Subnet"
        ]
        for cluster in (A, B)
    }
    assert subnets[A] != subnets[B]


def test_clusters_lists_both_from_labels(two_clusters):
    result = local_cluster(two_clusters, "clusters")
    assert result.returncode == 0, result.stdout + result.stderr
    for cluster in (A, B):
        assert f"\n{cluster}\n" in result.stdout
        assert f"{Names(cluster).master} (running)" in result.stdout
    assert f"  kubernetes  {VERSION}" in result.stdout
    assert "  api server  https://127.0.0.1:" in result.stdout


def test_down_and_up_of_one_restores_its_own_snapshot_while_the_other_runs_on(two_clusters):
    before = container_id(Names(B).master)
    assert local_cluster(two_clusters, "down", cluster=A).returncode == 0
    assert docker("ps", "-aq", "--filter", f"name=^{Names(A).master}$").stdout.strip() == ""
    result = up(two_clusters, A)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "restoring the snapshot taken" in result.stdout
    assert container_id(Names(B).master) == before
    assert Kubectl(two_clusters, B)("get", "nodes")


def test_clean_of_one_leaves_the_other_and_its_snapshot(two_clusters):
    snapshot_of_b = docker("image", "ls", "-q", "--filter", f"label=io.kubeadm-local-cluster.cluster={B}").stdout
    assert snapshot_of_b.strip()
    result = local_cluster(two_clusters, "clean", cluster=A)
    assert result.returncode == 0, result.stdout + result.stderr
    assert docker("ps", "-aq", "--filter", f"label=io.kubeadm-local-cluster.cluster={A}").stdout.strip() == ""
    assert docker("network", "inspect", f"k8s-{A}-old").returncode == 0  # the user's, untouched
    assert (
        docker("image", "ls", "-q", "--filter", f"label=io.kubeadm-local-cluster.cluster={B}").stdout == snapshot_of_b
    )
    assert Kubectl(two_clusters, B)("get", "nodes")


def test_a_users_container_on_a_node_name_is_named_and_left_alone(shared_home):
    cluster = "it-iso-c"
    clash = Names(cluster).master
    image = docker("image", "ls", "-q", NODE_REPOSITORY).stdout.split()[0]
    docker("create", "--name", clash, image, check=True)
    try:
        before = container_id(clash)
        for command in ("up", "down", "clean"):
            result = (
                up(shared_home, cluster) if command == "up" else local_cluster(shared_home, command, cluster=cluster)
            )
            if command == "up":
                assert result.returncode == 1
                assert f"a container named {clash} exists that is not cluster {cluster}'s" in result.stdout
                assert "Traceback" not in result.stdout + result.stderr
            assert container_id(clash) == before, command
    finally:
        subprocess.run(["docker", "rm", "-f", clash], capture_output=True)
        local_cluster(shared_home, "clean", cluster=cluster)


def test_a_users_network_on_the_clusters_network_name_is_named_and_left_alone(shared_home):
    cluster = "it-iso-d"
    network = Names(cluster).network
    docker("network", "create", network, check=True)
    try:
        result = up(shared_home, cluster)
        assert result.returncode == 1
        assert f"a network named {network} exists that is not cluster {cluster}'s" in result.stdout
        assert local_cluster(shared_home, "clean", cluster=cluster).returncode == 0
        assert docker("network", "inspect", network).returncode == 0
    finally:
        docker("network", "rm", network)
