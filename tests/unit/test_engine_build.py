"""Builds on the engine (#13): which source a build setting gives, the build's
environment, and the receipt that comes back instead of the binary."""

from pathlib import Path

import pytest

from tasks.build import engine as engine_build
from tasks.build.artifacts import ArtifactSet, binary_source
from tasks.errors import UserError
from tasks.settings import load_settings, parse_flags


def settings(*flags: str):
    return load_settings(parse_flags(flags)[0], environ={})


def test_build_in_engine_makes_the_tree_s_binaries_engine_built(tmp_path):
    (tmp_path / "cmd" / "kubeadm").mkdir(parents=True)
    local = settings("--build-kubelet", "--k8s-dir", str(tmp_path))
    engine = settings("--build-kubelet", "--k8s-dir", str(tmp_path), "--build-in", "engine")
    assert binary_source(local, "kubelet").kind == "tree"
    assert binary_source(engine, "kubelet").kind == "engine"
    assert binary_source(engine, "kubelet").describe() == f"the tree {tmp_path}, built on the engine"
    assert binary_source(engine, "kubeadm").kind == "modules"  # only what is asked to be built


def test_the_build_uses_the_tree_s_go_and_this_machine_s_module_settings(tmp_path):
    env = engine_build.build_environment("/cache/go/1.26.10", "arm64", "v1.37.2", tmp_path)
    assert env["PATH"].startswith("/cache/go/1.26.10/bin:")
    assert env["GOTOOLCHAIN"] == "local"
    assert env["KUBE_BUILD_PLATFORMS"] == "linux/arm64"  # the engine's, not this machine's
    assert env["GOCACHE"].startswith(engine_build.CACHE)  # the cache volume, kept between builds
    assert env["KUBE_GIT_VERSION"] == "v1.37.2"  # no .git: the version as the local build gives it
    (tmp_path / ".git").mkdir()
    assert "KUBE_GIT_VERSION" not in engine_build.build_environment("/g", "amd64", "v1.37.2", tmp_path)


def test_a_tree_without_go_version_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"has no \.go-version"):
        engine_build.go_version(tmp_path)
    (tmp_path / ".go-version").write_text("1.26.10\n")
    assert engine_build.go_version(tmp_path) == "1.26.10"


def test_a_tree_s_build_container_is_named_after_this_machine_and_its_path(tmp_path):
    one, other = tmp_path / "a", tmp_path / "b"
    assert engine_build.container_name(one) != engine_build.container_name(other)
    assert engine_build.container_name(one) == engine_build.container_name(Path(str(one) + "/"))


def test_a_receipt_is_written_and_read_back(tmp_path):
    receipt = engine_build.Receipt("kubelet", "/go/src/k8s.io/kubernetes/_output/local/go/bin/kubelet", "ab", 3, "v")
    receipt.write(tmp_path / "kubelet.engine.json")
    assert engine_build.Receipt.read(tmp_path / "kubelet.engine.json") == receipt


def _tasks(*flags: str) -> dict:
    """The artifact and node-image tasks `up` would run with these flags, by name."""
    from tasks import context
    from tasks import steps as node_steps
    from tasks.build import steps as build_steps

    context.set_run(context.Run(load_settings(parse_flags(["--kubernetes-version", "v1.37.2", *flags])[0], {})))
    try:
        made = [*build_steps.task_kubernetes(), *build_steps.task_image_list(), *node_steps.task_node_image()]
        return {task["basename"] if "basename" in task else f"kubernetes:{task['name']}": task for task in made}
    finally:
        context.set_run(None)


def test_with_engine_builds_kubelet_and_kubeadm_never_come_here(tmp_path):
    """`up --build-in engine`: what the engine built goes into the node image
    there; no step here needs the binary itself."""
    (tmp_path / "cmd" / "kubeadm").mkdir(parents=True)
    tasks = _tasks("--build-kubelet", "--build-kubeadm", "--k8s-dir", str(tmp_path), "--build-in", "engine")
    local = {name: str(ArtifactSet("v1.37.2").binary(name)) for name in ("kubelet", "kubeadm")}
    for name in ("kubelet", "kubeadm"):
        assert tasks[f"kubernetes:{name}"]["targets"] == [str(engine_build.receipt_path(ArtifactSet("v1.37.2"), name))]
        assert local[name] not in tasks["node-image"]["file_dep"]
    assert tasks["image-list"]["file_dep"] == [str(engine_build.receipt_path(ArtifactSet("v1.37.2"), "kubeadm"))]
    assert tasks["node-image"]["targets"] == [str(ArtifactSet("v1.37.2").root / "node-image-partial.json")]
    finishing = tasks["node-image-engine"]
    assert finishing["actions"] and finishing["targets"][0].endswith("/node-image.json")
    assert not finishing.get("file_dep")  # a reup whose node image waits leaves none of them


def test_without_engine_builds_the_node_image_is_made_here_whole():
    tasks = _tasks()
    assert any(path.endswith("/bin/kubelet") for path in tasks["node-image"]["file_dep"])
    assert tasks["node-image"]["targets"] == [str(ArtifactSet("v1.37.2").root / "node-image.json")]
    assert tasks["node-image-engine"]["actions"] is None  # nothing to finish: a name to wait for


def test_the_engine_commits_the_partial_image_s_configuration_with_the_binaries_named():
    from tasks.node import image_engine

    built = [engine_build.Receipt("kubelet", f"{engine_build.TREE}/_output/local/go/bin/kubelet", "ab", 3, "v")]
    assert image_engine.script(built) == "install -m 0755 /mnt/kubernetes/_output/local/go/bin/kubelet /usr/bin/kubelet"
    partial = {
        "Entrypoint": ["/usr/local/bin/entrypoint"],
        "Env": ["container=docker"],
        "StopSignal": "SIGRTMIN+3",
        "Labels": {"io.kubeadm-local-cluster.role": "node-image"},
    }
    conf = image_engine.commit_config(partial, built)
    assert conf["Entrypoint"] == ["/usr/local/bin/entrypoint"]  # not the helper's
    assert conf["StopSignal"] == "SIGRTMIN+3"
    assert conf["Labels"]["io.kubeadm-local-cluster.role"] == "node-image"  # not the helper's "copy"
    assert conf["Labels"][image_engine.LABEL_BINARIES] == "kubelet=ab"


def test_the_finished_image_is_made_again_when_its_partial_image_or_binaries_change(tmp_path):
    import json

    from tasks.node import image as node_image
    from tasks.node import image_engine

    (tmp_path / "cmd" / "kubeadm").mkdir(parents=True)
    on_engine = settings("--build-kubelet", "--k8s-dir", str(tmp_path), "--build-in", "engine")
    artifacts = ArtifactSet("v1.37.2")
    assert image_engine.made_from(on_engine, artifacts) is None  # a reup left nothing to finish
    engine_build.receipt_path(artifacts, "kubelet").parent.mkdir(parents=True)
    engine_build.Receipt("kubelet", "/p", "ab", 3, "v").write(engine_build.receipt_path(artifacts, "kubelet"))
    node_image.described_path(artifacts, partial=True).write_text(json.dumps({"id": "sha256:1", "tag": "t"}))
    assert image_engine.made_from(on_engine, artifacts) == {"partial": "sha256:1", "binaries": {"kubelet": "ab"}}
    engine_build.Receipt("kubelet", "/p", "cd", 3, "v").write(engine_build.receipt_path(artifacts, "kubelet"))
    assert image_engine.made_from(on_engine, artifacts)["binaries"] == {"kubelet": "cd"}
    assert not image_engine.finished(on_engine, artifacts)  # no finished image described yet
