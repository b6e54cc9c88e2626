"""Builds on the engine (#13): which source a build setting gives, the build's
environment, and the receipt that comes back instead of the binary."""

from pathlib import Path

import pytest

from tasks.build import engine as engine_build
from tasks.build.artifacts import binary_source
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
