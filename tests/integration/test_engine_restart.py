"""The engine stops under a cluster: during `up`'s snapshot, and between two
`up`s (a host restart). Run against a second engine the suite starts itself,
never the host's dockerd."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.naming import Names
from tests.integration.conftest import BUSYBOX, NODE_REPOSITORY, VERSION, Kubectl, local_cluster, tool_environ
from tests.integration.second_engine import ENGINE_ADDRESS

pytestmark = pytest.mark.integration

NAME = "it-engine"
MASTER = Names(NAME).master


def up(home, engine):
    # The engine is remote (tcp://ENGINE_ADDRESS:2375): the API server is
    # published on an address of its host this machine reaches.
    return local_cluster(
        home, "up", "--kubernetes-version", VERSION, "--num-nodes", "0", "--api-server-address", ENGINE_ADDRESS,
        env=engine.env(), cluster=NAME,
    )  # fmt: skip


def pods(engine) -> dict[str, str]:
    """{pod name: uid} in kube-system, asked inside the master."""
    result = engine.docker(
        "exec", MASTER, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "-n", "kube-system", "get", "pods",
        "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in json.loads(result.stdout)["items"]}


def test_engine_stopped_during_the_snapshot_is_one_line_and_up_repairs(shared_home, second_engine):
    environ = tool_environ(shared_home, NAME, second_engine.env())
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks", "up", "--kubernetes-version", VERSION, "--num-nodes", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    seen = ""
    for line in process.stdout:
        seen += line
        if line.startswith("• snapshot"):
            second_engine.stop()
            break
    out, err = process.communicate(timeout=300)
    seen += out
    assert "• snapshot" in seen, seen[-3000:] + err[-2000:]
    assert process.returncode == 1, seen[-3000:] + err[-2000:]
    assert "Traceback" not in seen + err
    failures = [line for line in seen.splitlines() if line.startswith("✗")]
    assert len(failures) == 1 and "engine" in failures[0], seen[-3000:]

    second_engine.start()
    result = up(shared_home, second_engine)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert pods(second_engine)
    states = second_engine.docker("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    assert f"{MASTER} running" in states


def load(home, engine, *args):
    return local_cluster(home, "load", *args, env=engine.env(), cluster=NAME)


def test_up_after_an_engine_restart_starts_the_stopped_nodes(shared_home, second_engine, busybox_archive):
    result = up(shared_home, second_engine)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    before = pods(second_engine)
    # An image of the engine loaded into the node through tcp:// (a remote engine) ...
    second_engine.docker("load", "-i", str(busybox_archive), check=True)
    loaded = load(shared_home, second_engine, BUSYBOX)
    assert f"{BUSYBOX}: loaded into {MASTER}" in loaded.stdout, loaded.stdout + loaded.stderr
    second_engine.restart()
    state = second_engine.docker("inspect", "--format", "{{.State.Status}}", MASTER).stdout.strip()
    assert state == "exited"

    result = up(shared_home, second_engine)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"starting the stopped nodes {MASTER}" in result.stdout
    assert "✓ kubeadm init" not in result.stdout and "restoring the snapshot" not in result.stdout
    assert pods(second_engine) == before  # the same pods, not new ones
    # The kubeconfig follows the port the restarted engine published, on the named address.
    assert f"server: https://{ENGINE_ADDRESS}:" in Names(NAME).kubeconfig(shared_home).read_text()
    assert Kubectl(shared_home, NAME)("get", "nodes", "-o", "name").split() == [f"node/{MASTER}"]
    # ... is still there after the engine's restart.
    again = load(shared_home, second_engine, BUSYBOX)
    assert f"{BUSYBOX}: already in {MASTER}" in again.stdout, again.stdout + again.stderr
    host = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.kubeadm-local-cluster.cluster={NAME}"],
        capture_output=True,
        text=True,
    )
    assert host.stdout.strip() == ""
    assert local_cluster(shared_home, "clean", env=second_engine.env(), cluster=NAME).returncode == 0


def _freezer_files(container_id: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    found = [*root.glob(f"freezer/**/{container_id}/freezer.state"), *root.glob(f"**/*{container_id}*/cgroup.freeze")]
    return found[:1]


def test_a_container_left_frozen_is_thawed_by_resume(second_engine, monkeypatch):
    """What the snapshot's pause can leave: a node whose freezer cgroup stays
    frozen (a `docker exec` racing the pause freezes inside it; here the cgroup
    is frozen by hand, which the engine does not know of). Every exec is then
    refused. Objects.resume, which the snapshot and `up` call after every
    pause, finds it out and thaws it by itself."""
    from tasks.engine import Engine
    from tasks.objects import Objects

    image = f"{NODE_REPOSITORY}:{VERSION}"
    name = "it-engine-frozen"
    second_engine.docker(
        "run", "-d", "--name", name, "--label", f"io.kubeadm-local-cluster.cluster={NAME}", "--entrypoint", "sleep",
        image, "600", check=True,
    )  # fmt: skip
    try:
        container_id = second_engine.docker("inspect", "--format", "{{.Id}}", name).stdout.strip()
        freezer = _freezer_files(container_id)
        if not freezer:
            pytest.skip("no freezer cgroup file for the container on this host")
        freezer[0].write_text("FROZEN" if freezer[0].name == "freezer.state" else "1")
        assert second_engine.docker("exec", name, "true", timeout=30).returncode != 0  # frozen: refused
        monkeypatch.setenv("DOCKER_HOST", second_engine.host)
        Objects(Engine.connect(), NAME).resume(name, image)
        assert second_engine.docker("exec", name, "true", timeout=30).returncode == 0
        assert second_engine.docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "running"
    finally:
        second_engine.docker("rm", "-f", name)
