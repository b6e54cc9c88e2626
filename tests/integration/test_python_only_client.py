"""A client with nothing but Python and an engine (#13 item 5), as far as it
goes: with an empty PATH (no mmdebstrap, go, gpgv or anything else), the
Debian bases are made by mmdebstrap in a container on the engine (its image
made here from Debian's packages), and Go programs are built in a container
there (its Go fetched and checked here by Python), as are the C builds (runc,
busybox). Each is compared with what this machine's own mmdebstrap and go
make, or checked as the build checks it. The real mirror, module proxy,
engine, mmdebstrap, go and C compiler."""

import contextlib
import hashlib
import os
import subprocess
import sys
import tarfile

import docker
import pytest

from tasks.build import containerd, go_engine, stage0
from tasks.build import engine as engine_build
from tasks.paths import REPO_DIR

pytestmark = pytest.mark.integration

# The kube-proxy base: the smallest base a cluster needs, with an extract hook.
MAKE_BASE = """
import sys
from pathlib import Path
from tasks.build import artifacts, debian
debian.rootfs("trixie", artifacts.KUBE_PROXY_PACKAGES, Path(sys.argv[1]), "the kube-proxy base",
              variant="extract", extract_hook=artifacts.KUBE_PROXY_HOOK)
"""
# Our pause, as `up` builds it; then a module of the test's with one
# dependency, tidied (go.mod and go.sum come back) and built.
BUILD_GO = """
import sys
from pathlib import Path
from tasks.build import gobuild
work = Path(sys.argv[1])
gobuild.write_module(work / "pause", "pause.go.mod", {}, {"main.go": gobuild.our_source("pause")})
gobuild.build(work / "pause", ".", work / "pause.bin", work / "pause.log", "pause", ldflags="-s -w -X main.version=t")
gobuild.tidy(work / "toml", work / "toml-tidy.log", "the test's module")
gobuild.build(work / "toml", ".", work / "toml.bin", work / "toml.log", "the test's module")
"""
TOML_MAIN = """package main

import (
\t"fmt"

\t"github.com/BurntSushi/toml"
)

func main() {
\tvar v map[string]any
\t_, err := toml.Decode("answer = 42", &v)
\tfmt.Println(v["answer"], err)
}
"""
# The C builds: runc (cgo, static libseccomp) for containerd 2.3's nodes, and
# the busybox test image's busybox, each checked by the build itself.
# Their checks (runc --version; busybox's ash) run on the engine too, as on
# a Mac: this machine's answer to "can it run them" is a fake that says no.
BUILD_C = """
from tasks.build import containerd, run_built
from tasks.e2e import busybox
run_built.runs_here = lambda program, *rest: False
containerd.build_runc(containerd.CONTAINERD_2_3)
print(containerd.runc_binary(containerd.CONTAINERD_2_3.runc))
busybox.build()
print(busybox.binary())
"""
# mmdebstrap copies these from where it runs: the container's, or this machine's.
WHERE_IT_RAN = {"./etc/hostname", "./etc/resolv.conf"}


def python(script: str, home, argument, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO_DIR), "PATH": path}
    return subprocess.run(
        [sys.executable, "-c", script, str(argument)], capture_output=True, text=True, env=env, timeout=1800
    )


def contents(archive) -> dict[str, tuple]:
    with tarfile.open(archive) as tar:
        return {
            m.name: (
                m.type,
                m.mode,
                m.linkname,
                hashlib.sha256(tar.extractfile(m).read()).hexdigest() if m.isreg() else "",
            )
            for m in tar
            if m.name not in WHERE_IT_RAN
        }


@pytest.fixture(scope="module")
def engine_objects():
    """What these tests make on the engine is removed afterwards unless it was there before."""
    client = docker.from_env(timeout=120)
    api = client.api
    images = [stage0.IMAGE, engine_build.IMAGE]
    had_images = {image: bool(api.images(name=image)) for image in images}
    had_volume = engine_build.CACHE_VOLUME in {v["Name"] for v in api.volumes().get("Volumes") or []}
    had_container = bool(api.containers(all=True, filters={"name": f"^{go_engine.CONTAINER}$"}))
    yield client
    with contextlib.suppress(docker.errors.NotFound):  # what a test left unmade is not there to remove
        if not had_container:
            api.remove_container(go_engine.CONTAINER, force=True)
    with contextlib.suppress(docker.errors.NotFound):
        if not had_volume:
            api.remove_volume(engine_build.CACHE_VOLUME)
    for image, had in had_images.items():
        with contextlib.suppress(docker.errors.NotFound):
            if not had:
                api.remove_image(image)


@pytest.fixture
def empty_path(tmp_path):
    nothing = tmp_path / "empty-path"  # no mmdebstrap, go, gpgv or anything else: Python alone
    nothing.mkdir()
    return str(nothing)


def test_without_mmdebstrap_here_a_base_is_made_on_the_engine_as_mmdebstrap_here_makes_it(
    tmp_path, engine_objects, empty_path
):
    on_engine = python(MAKE_BASE, tmp_path / "home", tmp_path / "engine.tar", empty_path)
    assert on_engine.returncode == 0, on_engine.stdout + on_engine.stderr
    here = python(MAKE_BASE, tmp_path / "home-here", tmp_path / "here.tar", os.environ["PATH"])
    assert here.returncode == 0, here.stdout + here.stderr

    made_there, made_here = contents(tmp_path / "engine.tar"), contents(tmp_path / "here.tar")
    assert "./usr/sbin/iptables" in made_there and "./usr/sbin/conntrack" in made_there
    assert made_there == made_here
    # Nothing of it stays on the engine but the stage 0 image, which says whose it is.
    api = engine_objects.api
    assert api.containers(all=True, filters={"label": f"io.kubeadm-local-cluster.role={stage0.ROLE}"}) == []
    assert api.inspect_image(stage0.IMAGE)["Config"]["Labels"]["io.kubeadm-local-cluster.role"] == stage0.ROLE


def test_without_go_here_go_programs_are_built_on_the_engine_as_go_here_builds_them(
    tmp_path, engine_objects, empty_path
):
    for where in ("engine", "here"):
        (tmp_path / where / "toml").mkdir(parents=True)
        (tmp_path / where / "toml" / "go.mod").write_text("module example.invalid/toml\n\ngo 1.22\n")
        (tmp_path / where / "toml" / "main.go").write_text(TOML_MAIN)
    on_engine = python(BUILD_GO, tmp_path / "home", tmp_path / "engine", empty_path)
    assert on_engine.returncode == 0, on_engine.stdout + on_engine.stderr
    here = python(BUILD_GO, tmp_path / "home-here", tmp_path / "here", os.environ["PATH"])
    assert here.returncode == 0, here.stdout + here.stderr

    engine, local = tmp_path / "engine", tmp_path / "here"
    said = subprocess.run([engine / "pause.bin", "-v"], capture_output=True, text=True)
    assert (said.stdout + said.stderr).strip() == "pause.go t"
    assert subprocess.run([engine / "toml.bin"], capture_output=True, text=True).stdout == "42 <nil>\n"
    # tidy there wrote go.mod and go.sum here, as tidy here does.
    for name in ("go.mod", "go.sum"):
        assert (engine / "toml" / name).read_text() == (local / "toml" / name).read_text()
    go_here = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    if go_here == f"go{go_engine.GO_VERSION}":  # the same Go: -trimpath builds are the same bytes
        for name in ("pause.bin", "toml.bin"):
            assert (engine / name).read_bytes() == (local / name).read_bytes(), name
    assert (
        engine_objects.api.inspect_container(go_engine.CONTAINER)["Config"]["Labels"]["io.kubeadm-local-cluster.role"]
        == go_engine.ROLE
    )


def test_without_a_c_compiler_or_go_here_runc_and_busybox_are_built_and_checked_on_the_engine(
    tmp_path, engine_objects, empty_path
):
    made = python(BUILD_C, tmp_path / "home", "", empty_path)
    assert made.returncode == 0, made.stdout + made.stderr
    runc, busybox = made.stdout.split()
    said = subprocess.run([runc, "--version"], capture_output=True, text=True).stdout
    assert f"runc version {containerd.CONTAINERD_2_3.runc.removeprefix('v')}" in said and "libseccomp" in said
    with open(runc, "rb") as program:
        assert b"/ld-linux" not in program.read()  # static: no dynamic loader named, it runs in any node
    # busybox's own build check ran (ash passes odd names on, says ash's words); it lists its applets.
    assert "sh" in subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
