"""Local ports forwarded over ssh to what a cluster on an ssh:// engine
publishes on that host's loopback (tasks/access/api.py): the API server
(`api`, for the kubeconfig) and, during `e2e`, the test-image mirror.

A forward is the system's `ssh -N -L` (the user's config, agent and
known_hosts, as the engine connection itself), started in a session of its
own so that it outlives `up`; what it is (pid, ports, host) is kept beside the
cluster's admin.conf, the client's side of things, and `down` and `clean` stop
it. A later `up` finds it alive and keeps it, or starts it again (after this
machine restarted, or the engine did and published another port)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tasks.console import log
from tasks.errors import UserError
from tasks.naming import Names

WAIT = 30  # seconds for ssh to log in and listen
WHAT = {"api": "the API server", "e2e-mirror": "the test-image mirror"}


def _state_file(names: Names, key: str) -> Path:
    return names.state() / f"forward-{key}.json"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _forward(local: int, remote: int) -> str:
    return f"127.0.0.1:{local}:127.0.0.1:{remote}"


def _ours(state: dict) -> bool:
    """The process of STATE is alive and is our ssh (a pid can be reused)."""
    pid = state.get("pid", 0)
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no /proc (a Mac): the pid is all there is
        return True
    with contextlib.suppress(OSError):
        return _forward(state["local"], state["remote"]) in cmdline.read_bytes().decode(errors="replace")
    return False


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def _free_port(wanted: int) -> int:
    """WANTED (the remote port, easy to recognise) when it is free here, else any."""
    for port in (wanted, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise UserError("no free local port for the ssh forward to the API server")


def _argv(ssh: tuple[str, str, str], forward: str) -> list[str]:
    user, host, port = ssh
    return [
        "ssh", "-N",
        "-o", "ExitOnForwardFailure=yes",  # a port taken meanwhile is an error, not a silent no-op
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
        "-o", "BatchMode=yes",  # in the background nobody can answer a prompt
        "-L", forward,
        *(["-l", user] if user else []), *(["-p", port] if port else []),
        "--", host,
    ]  # fmt: skip


def ensure(names: Names, key: str, ssh: tuple[str, str, str], remote: int) -> int:
    """The local port forwarded to REMOTE on the ssh:// engine's host for KEY
    (one of WHAT), started when needed."""
    state = _read(_state_file(names, key))
    same = state and state.get("remote") == remote and state.get("ssh") == list(ssh)
    if same and _ours(state) and _listening(state["local"]):
        return state["local"]
    stop(names, key)
    local = _free_port(remote)
    forward = _forward(local, remote)
    names.state().mkdir(parents=True, exist_ok=True)
    log_path = names.state() / f"forward-{key}.log"
    with open(log_path, "wb") as out:
        try:
            process = subprocess.Popen(
                _argv(ssh, forward), stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        except OSError as err:
            raise UserError(f"cannot start ssh for the forward to {WHAT[key]}: {err.strerror}") from None
    deadline = time.monotonic() + WAIT
    while not _listening(local):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            said = log_path.read_text(errors="replace").strip().splitlines()
            reason = said[-1] if said else f"no answer within {WAIT} s"
            raise UserError(f"the ssh forward of 127.0.0.1:{local} to {WHAT[key]} on {ssh[1]} failed: {reason}")
        time.sleep(0.2)
    record = {"pid": process.pid, "local": local, "remote": remote, "ssh": list(ssh)}
    _state_file(names, key).write_text(json.dumps(record) + "\n")
    log.info("127.0.0.1:%d is forwarded over ssh to %s on %s", local, WHAT[key], ssh[1])
    return local


def stop(names: Names, key: str = "*") -> int:
    """Stop the cluster's forward for KEY (every one for *); how many ran."""
    stopped = 0
    for path in names.state().glob(_state_file(names, key).name):
        state = _read(path)
        path.unlink(missing_ok=True)
        if state and _ours(state):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signal.SIGTERM)
            stopped += 1
    return stopped
