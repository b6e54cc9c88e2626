"""A remote engine over ssh:// (#13): the second engine of the suite, in a
network namespace of its own, reached through the system's ssh and an sshd of
the suite's own, as a cloud box would be. The API server stays on that host's
loopback; `up` forwards a local port to it over ssh, and the written
kubeconfig works from this machine. Nothing reaches the host's engine."""

import os
import socket
import stat
import subprocess

import pytest
import yaml

from tasks.naming import Names
from tests.integration.conftest import VERSION, Kubectl, local_cluster

pytestmark = pytest.mark.integration

NAME = "it-ssh"
NAMES = Names(NAME)


def run(home, engine, *args):
    return local_cluster(home, *args, env=engine.ssh_env(), cluster=NAME)


def ready_nodes(home) -> list[str]:
    """`kubectl get nodes` from this machine with the written kubeconfig."""
    return [
        n["metadata"]["name"]
        for n in Kubectl(home, NAME).json("get", "nodes")["items"]
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]


def server(home) -> str:
    config = yaml.safe_load(NAMES.kubeconfig(home).read_text())
    return config["clusters"][0]["cluster"]["server"]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def host_objects() -> str:
    """The host engine's objects of the test's cluster: there must be none."""
    label = f"label=io.kubeadm-local-cluster.cluster={NAME}"
    found = ""
    for kind in ("ps -a", "volume ls", "network ls", "images"):
        found += subprocess.run(
            ["docker", *kind.split(), "-q", "--filter", label], capture_output=True, text=True
        ).stdout.strip()
    return found


def test_a_cluster_on_an_ssh_engine_is_used_from_here(shared_home, ssh_engine):
    try:
        up_down_up_clean(shared_home, ssh_engine)
    finally:
        run(shared_home, ssh_engine, "clean")


def up_down_up_clean(home, engine):
    doctor = run(home, engine, "doctor")
    assert "remote at ssh://root@10.150.0.2 (DOCKER_HOST)" in doctor.stdout, doctor.stdout + doctor.stderr

    up = run(home, engine, "up", "--kubernetes-version", VERSION, "--num-nodes", "0")
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
    assert "is forwarded over ssh to the API server on 10.150.0.2" in up.stdout + up.stderr
    # The API server is published on the remote host's loopback only ...
    published = engine.docker("port", NAMES.master, "6443/tcp").stdout.split()
    assert published and published[0].startswith("127.0.0.1:"), published
    # ... and reached from here through the forward, with the written kubeconfig.
    assert server(home).startswith("https://127.0.0.1:")
    assert stat.S_IMODE(os.stat(NAMES.kubeconfig(home)).st_mode) == 0o600
    assert ready_nodes(home) == [NAMES.master]
    port = int(server(home).rsplit(":", 1)[1])

    # A conformance test: the run's test-image mirror is pushed to through a
    # forward of its own, which ends with the run.
    e2e = run(home, engine, "e2e", "--num-nodes", "0", "should provide DNS for the cluster")
    assert e2e.returncode == 0, e2e.stdout[-4000:] + e2e.stderr[-2000:]
    assert "forwarded over ssh to the test-image mirror on 10.150.0.2" in e2e.stdout + e2e.stderr
    assert "1 passed, 0 failed, 0 skipped" in e2e.stdout
    assert not (NAMES.state(home) / "forward-e2e-mirror.json").exists()

    down = run(home, engine, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not listening(port), "the forward outlived `down`"
    assert engine.docker("ps", "-aq", "--filter", f"name={NAMES.master}").stdout.strip() == ""

    again = run(home, engine, "up", "--kubernetes-version", VERSION, "--num-nodes", "0")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "restoring the snapshot taken" in again.stdout
    assert ready_nodes(home) == [NAMES.master]
    port = int(server(home).rsplit(":", 1)[1])

    clean = run(home, engine, "clean")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert not listening(port), "the forward outlived `clean`"
    label = f"label=io.kubeadm-local-cluster.cluster={NAME}"
    assert engine.docker("ps", "-aq", "--filter", label).stdout.strip() == ""
    assert engine.docker("volume", "ls", "-q", "--filter", label).stdout.strip() == ""
    assert host_objects() == ""
