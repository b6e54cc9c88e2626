"""A client without mmdebstrap (#13 item 5): the Debian bases are made by
mmdebstrap in a container on the engine, from a stage 0 image made here with
Python alone from Debian's packages. The real mirror, engine and mmdebstrap."""

import hashlib
import os
import subprocess
import sys
import tarfile

import docker
import pytest

from tasks.build import stage0
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
# mmdebstrap copies these from where it runs: the container's, or this machine's.
WHERE_IT_RAN = {"./etc/hostname", "./etc/resolv.conf"}


def make_base(home, output, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO_DIR), "PATH": path}
    return subprocess.run(
        [sys.executable, "-c", MAKE_BASE, str(output)], capture_output=True, text=True, env=env, timeout=1200
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


@pytest.fixture
def stage0_image():
    """The stage 0 image is removed afterwards unless it was there before."""
    client = docker.from_env(timeout=120)
    had = bool(client.api.images(name=stage0.IMAGE))
    yield client
    if not had:
        client.api.remove_image(stage0.IMAGE)


def test_without_mmdebstrap_here_a_base_is_made_on_the_engine_as_mmdebstrap_here_makes_it(tmp_path, stage0_image):
    nothing = tmp_path / "empty-path"  # no mmdebstrap, gpgv or anything else: Python alone
    nothing.mkdir()
    on_engine = make_base(tmp_path / "home", tmp_path / "engine.tar", str(nothing))
    assert on_engine.returncode == 0, on_engine.stdout + on_engine.stderr
    here = make_base(tmp_path / "home-here", tmp_path / "here.tar", os.environ["PATH"])
    assert here.returncode == 0, here.stdout + here.stderr

    made_there, made_here = contents(tmp_path / "engine.tar"), contents(tmp_path / "here.tar")
    assert "./usr/sbin/iptables" in made_there and "./usr/sbin/conntrack" in made_there
    assert made_there == made_here
    # Nothing of it stays on the engine but the stage 0 image, which says whose it is.
    leftovers = stage0_image.api.containers(all=True, filters={"label": f"io.kubeadm-local-cluster.role={stage0.ROLE}"})
    assert leftovers == []
    labels = stage0_image.api.inspect_image(stage0.IMAGE)["Config"]["Labels"]
    assert labels["io.kubeadm-local-cluster.role"] == stage0.ROLE
