"""Seeds are named after their node image and role, so the suite's node image
(another repository) never shares the user's, even with the same image ID."""

from tasks.cluster import NodeSpec
from tasks.node import seed as node_seed


def test_a_seed_is_named_after_its_image_and_role():
    assert node_seed.volume_name("kubeadm-local-cluster/node:v1.37.2", "master") == (
        "kubeadm-local-cluster-node-v1.37.2-seed-master"
    )
    assert node_seed.volume_name("kubeadm-local-cluster-test/node:v1.37.2", "worker") == (
        "kubeadm-local-cluster-test-node-v1.37.2-seed-worker"
    )


def test_only_the_roles_a_cluster_has_are_seeded():
    master = NodeSpec("kube-master", "master", "10.192.0.2")
    worker = NodeSpec("kube-node-1", "worker", "10.192.0.3")
    assert node_seed.roles([master]) == ["master"]
    assert node_seed.roles([master, worker, worker]) == ["master", "worker"]
