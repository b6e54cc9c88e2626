"""What decides whether a snapshot fits, what `up` says when it does not, and
when a restarted cluster counts as Ready: no engine needed."""

import json

from tasks import cluster
from tasks.build.artifacts import ArtifactSet
from tasks.node import readiness, snapshot
from tasks.settings import load_settings


def _artifacts(version: str, node_image: str) -> ArtifactSet:
    artifacts = ArtifactSet(version)
    artifacts.root.mkdir(parents=True, exist_ok=True)
    (artifacts.root / "node-image.json").write_text(json.dumps({"id": node_image, "tag": "t"}))
    return artifacts


def test_changes_name_each_setting_and_version_that_differs():
    old = {"kubernetes version": "v1.34.4", "cluster.numNodes": 1, "node image": "sha256:a", "cluster.addons": []}
    new = {"kubernetes version": "v1.36.3", "cluster.numNodes": 2, "node image": "sha256:b", "cluster.addons": ["x"]}
    assert snapshot.changes(old, new) == [
        "cluster.addons [] -> [x]",
        "cluster.numNodes 1 -> 2",
        "kubernetes version v1.34.4 -> v1.36.3",
    ]


def test_changes_say_when_only_the_node_image_was_rebuilt():
    old = {"kubernetes version": "v1.34.4", "node image": "sha256:a"}
    new = {"kubernetes version": "v1.34.4", "node image": "sha256:b"}
    assert snapshot.changes(old, new) == ["the node image was rebuilt: its binaries or images changed"]


def test_changes_of_an_unreadable_state_still_say_something():
    assert snapshot.changes({}, {}) == ["its format (made by another release of this tool)"]


def test_a_snapshot_missing_an_image_or_volume_names_what_is_missing():
    found = snapshot.Snapshot(
        "c", "b", {}, "2026-11-25T22:00:00", {"kube-master": "sha256:1"}, frozenset({"kube-master-containerd-snapshot"})
    )
    assert found.problems(["kube-master"]) == []
    missing = found.problems(["kube-master", "kube-node-1"])
    assert missing == ["image kube-node-1", "volume kube-node-1-containerd-snapshot"]


def test_reup_matches_across_rebuilt_binaries_and_patch_versions_but_not_minor_ones():
    settings = load_settings()
    first = _artifacts("v1.34.4", "sha256:a")
    same = cluster.config_hash(settings, first), cluster.base_hash(settings, first)
    rebuilt = _artifacts("v1.34.4", "sha256:b")
    assert cluster.config_hash(settings, rebuilt) != same[0]
    assert cluster.base_hash(settings, rebuilt) == same[1]
    assert cluster.base_hash(settings, _artifacts("v1.34.5", "sha256:a")) == same[1]
    assert cluster.base_hash(settings, _artifacts("v1.35.0", "sha256:a")) != same[1]
    two = load_settings({"cluster.numNodes": 3})
    assert cluster.base_hash(two, first) != same[1]


def _node(name: str, heartbeat: str) -> dict:
    condition = {"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}
    return {"metadata": {"name": name}, "status": {"conditions": [condition]}}


def test_a_restarted_node_counts_as_ready_only_once_it_reported_since():
    since = 1_764_108_000.0  # 2025-11-25T22:00:00Z
    assert not readiness._node_ready(_node("n", "2025-11-25T21:59:59Z"), {"n": since})
    assert readiness._node_ready(_node("n", "2025-11-25T22:00:00Z"), {"n": since})
    # A node this run did not restart: its Ready stands as the API says it.
    assert readiness._node_ready(_node("n", "2020-01-01T00:00:00Z"), {"other": since})


def test_coredns_on_a_restarted_node_counts_only_when_its_containers_started_since():
    since = 1_764_108_000.0

    def pod(started: str) -> dict:
        return {
            "spec": {"nodeName": "n"},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"state": {"running": {"startedAt": started}}}],
            },
        }

    assert not readiness._pod_ready(pod("2025-11-25T21:59:00Z"), {"n": since})
    assert readiness._pod_ready(pod("2025-11-25T22:00:05Z"), {"n": since})
    assert readiness._pod_ready(pod("2025-11-25T21:59:00Z"), {})
