"""The engine reached over TCP, as DOCKER_HOST=tcp://... does for a remote one.

A second engine cannot be started safely beside the first on every machine
(it would fight over the host's firewall chains), so a byte-for-byte TCP
proxy to the local engine's socket stands in for the remote host: the tool
then has only the API over TCP, no socket and no shared paths.
"""

import contextlib
import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tasks.naming import Names
from tests.integration.conftest import VERSION, local_cluster

pytestmark = pytest.mark.integration
ENGINE_SOCKET = "/var/run/docker.sock"
NAME = "it-remote"
NAMES = Names(NAME)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def tcp_engine():
    if not Path(ENGINE_SOCKET).exists():
        pytest.skip(f"no engine socket at {ENGINE_SOCKET} to stand behind the TCP endpoint")
    server = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(ENGINE_SOCKET)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stopping.set()
    server.close()


def test_up_and_clean_through_a_tcp_engine(shared_home, tcp_engine):
    try:
        up_and_clean(shared_home, tcp_engine)
    finally:
        # A failed run leaves nothing of its own behind (clean of nothing is a no-op).
        local_cluster(shared_home, "clean", cluster=NAME)


def up_and_clean(shared_home, tcp_engine):
    env = {"DOCKER_HOST": tcp_engine}
    doctor = local_cluster(shared_home, "doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"remote at {tcp_engine}" in doctor.stdout
    result = local_cluster(
        shared_home, "up", "--kubernetes-version", VERSION, "--num-nodes", "1", env=env, cluster=NAME
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    nodes = json.loads(
        subprocess.run(
            [
                str(NAMES.kubectl(shared_home)),
                f"--kubeconfig={NAMES.kubeconfig(shared_home)}",
                "get",
                "nodes",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    ready = [
        n["metadata"]["name"]
        for n in nodes["items"]
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert sorted(ready) == [NAMES.master, NAMES.worker(1)]
    # Nothing of the machine running the tool is mounted into the nodes.
    for node in (NAMES.master, NAMES.worker(1)):
        mounts = json.loads(
            subprocess.run(["docker", "inspect", node], capture_output=True, text=True, check=True).stdout
        )[0]["Mounts"]
        binds = [m["Source"] for m in mounts if m["Type"] == "bind"]
        assert binds == ["/lib/modules"], binds
    clean = local_cluster(shared_home, "clean", env=env, cluster=NAME)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert (
        subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=io.kubeadm-local-cluster.cluster={NAME}"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        == ""
    )


@pytest.mark.parametrize("chosen_by", ["DOCKER_CONTEXT", "currentContext"])
def test_a_docker_context_chooses_the_engine(shared_home, tcp_engine, tmp_path, chosen_by):
    """A context the docker CLI itself made, named by DOCKER_CONTEXT or made
    the current one with `docker context use`."""
    config = tmp_path / "docker-config"
    made = subprocess.run(
        ["docker", "--config", str(config), "context", "create", "it-far", "--docker", f"host={tcp_engine}"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": ""}
    if chosen_by == "DOCKER_CONTEXT":
        env["DOCKER_CONTEXT"] = "it-far"
        source = "context it-far, from DOCKER_CONTEXT"
    else:
        used = subprocess.run(["docker", "--config", str(config), "context", "use", "it-far"], capture_output=True)
        assert used.returncode == 0
        source = "context it-far, from the docker CLI's current context"
    doctor = local_cluster(shared_home, "doctor", env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"remote at {tcp_engine} ({source})" in doctor.stdout
    clusters = local_cluster(shared_home, "clusters", env=env)
    assert clusters.returncode == 0, clusters.stdout + clusters.stderr
    assert f"{tcp_engine} (remote; {source})" in clusters.stdout
