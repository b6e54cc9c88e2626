"""A second Docker engine that the suite starts, stops and restarts itself,
never the host's: dockerd with its own data-root, exec-root, pidfile and
bridge, in a network namespace of its own reached over a veth pair, as a
remote engine would be (DOCKER_HOST=tcp://ADDRESS:2375).

`nsenter --net` and not `ip netns exec`: the latter remounts /sys and hides
the cgroup mounts dockerd needs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

NAMESPACE = "klc-it-engine"
HOST_VETH, ENGINE_VETH = "klc-it-h", "klc-it-e"
# The suite's own test hosts: a /30 for the veth pair and a bridge range of the
# engine's own, both clear of what clusters pick (10.192.0.0/16 and up).
HOST_ADDRESS, ENGINE_ADDRESS = "10.150.0.1", "10.150.0.2"
BRIDGE = "10.151.0.1/24"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be started by its absolute path


def can_start() -> str | None:
    """Why a second engine cannot be started here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("dockerd", "ip", "nsenter"):
        if not shutil.which(tool):
            return f"needs {tool}"
    return None


def can_serve_ssh() -> str | None:
    """Why the second engine cannot be reached over ssh:// here, or None."""
    if not Path(SSHD).exists():
        return f"needs OpenSSH's server at {SSHD} (apt-get install openssh-server; .ci/run installs it)"
    for tool in ("ssh", "ssh-keygen", "docker"):
        if not shutil.which(tool):
            return f"needs {tool}"
    return None


class SecondEngine:
    def __init__(self, root: Path):
        self.root = root
        self.host = f"tcp://{ENGINE_ADDRESS}:2375"
        self.process: subprocess.Popen | None = None
        self.sshd: subprocess.Popen | None = None
        self.made_privsep_dir = False

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = False, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, text=True, check=check, timeout=timeout
        )

    # -- the namespace
    def create_namespace(self) -> None:
        self.remove_namespace()
        _run("ip", "netns", "add", NAMESPACE)
        _run("ip", "link", "add", HOST_VETH, "type", "veth", "peer", "name", ENGINE_VETH)
        _run("ip", "link", "set", ENGINE_VETH, "netns", NAMESPACE)
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_VETH)
        _run("ip", "link", "set", HOST_VETH, "up")
        inside = ["nsenter", f"--net=/run/netns/{NAMESPACE}"]
        _run(*inside, "ip", "addr", "add", f"{ENGINE_ADDRESS}/30", "dev", ENGINE_VETH)
        _run(*inside, "ip", "link", "set", ENGINE_VETH, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "route", "add", "default", "via", HOST_ADDRESS)

    def remove_namespace(self) -> None:
        _run("ip", "link", "del", HOST_VETH, check=False)
        _run("ip", "netns", "del", NAMESPACE, check=False)

    # -- ssh:// to it, as to a cloud box: an sshd of the test's own in the
    # engine's namespace, with host and client keys of its own. A session's
    # `docker` (docker system dial-stdio, which the docker CLI and docker-py run
    # over ssh) talks to this engine: sshd sets DOCKER_HOST for it. The client's
    # `ssh` is the system's, given the test's config by a wrapper first in PATH
    # (OpenSSH reads ~/.ssh from the password database, not HOME, so this is the
    # way to keep the user's ~/.ssh out of it).
    def start_sshd(self) -> None:
        keys = self.root / "ssh"
        keys.mkdir(mode=0o700, exist_ok=True)
        for key in ("host_key", "client_key"):
            if not (keys / key).exists():
                _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"klc-it {key}", "-f", str(keys / key))
        (keys / "authorized_keys").write_text((keys / "client_key.pub").read_text())
        host_key = (keys / "host_key.pub").read_text().split()
        (keys / "known_hosts").write_text(f"{ENGINE_ADDRESS} {host_key[0]} {host_key[1]}\n")
        (keys / "sshd_config").write_text(
            f"ListenAddress {ENGINE_ADDRESS}:22\n"
            f"HostKey {keys / 'host_key'}\n"
            f"AuthorizedKeysFile {keys / 'authorized_keys'}\n"
            f"PidFile {keys / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\n"
            f"SetEnv DOCKER_HOST=unix://{self.root / 'docker.sock'}\n"
        )
        (keys / "ssh_config").write_text(
            f"Host {ENGINE_ADDRESS}\n"
            f"  IdentityFile {keys / 'client_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {keys / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
        )
        wrapper = self.root / "bin" / "ssh"
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {keys / "ssh_config"} "$@"\n')
        wrapper.chmod(0o755)
        privsep = Path("/run/sshd")  # sshd's own, on Debian made by its service
        if not privsep.exists():
            privsep.mkdir(mode=0o755)
            self.made_privsep_dir = True
        self.sshd = self._run_inside([SSHD, "-D", "-e", "-f", str(keys / "sshd_config")], "sshd.log")
        self._wait(
            lambda: self.ssh("true").returncode == 0,
            self.sshd,
            "sshd.log",
            30,
            "the test's sshd did not let the test in",
        )

    def ssh(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.root / "bin" / "ssh"), f"root@{ENGINE_ADDRESS}", *command], capture_output=True, text=True
        )

    def ssh_env(self) -> dict[str, str]:
        """DOCKER_HOST=ssh://... and the test's ssh first in PATH."""
        return {"DOCKER_HOST": f"ssh://root@{ENGINE_ADDRESS}", "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}"}

    def stop_sshd(self) -> None:
        if self.sshd is not None:
            self.sshd.terminate()
            self.sshd.wait(timeout=30)
            self.sshd = None
        if self.made_privsep_dir:
            shutil.rmtree("/run/sshd", ignore_errors=True)
            self.made_privsep_dir = False

    # -- the engine
    def start(self) -> None:
        for name in ("data", "exec"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        # An ID of its own, as another host's engine has: dockerd 20.10 reads it
        # from /etc/docker/key.json unless told otherwise, so two engines on one
        # machine would be one to the tool's engine lock (and wait for each other).
        (self.root / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(self.root / "key.json")}))
        self.process = self._run_inside(
            [
                "dockerd",
                "--config-file",
                str(self.root / "daemon.json"),
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "dockerd.pid"),
                "-H",
                f"unix://{self.root / 'docker.sock'}",
                "-H",
                f"tcp://{ENGINE_ADDRESS}:2375",
                "--bip",
                BRIDGE,
            ],
            "dockerd.log",
        )
        self._wait(
            lambda: self.docker("info").returncode == 0,
            self.process,
            "dockerd.log",
            60,
            "the second dockerd did not start",
        )

    def _run_inside(self, argv: list[str], log: str) -> subprocess.Popen:
        """ARGV in the namespace, in a session of its own, writing LOG while it runs."""
        out = open(self.root / log, "ab")  # noqa: SIM115  (the process writes it while it runs)
        inside = ["nsenter", f"--net=/run/netns/{NAMESPACE}", *argv]
        return subprocess.Popen(inside, stdout=out, stderr=out, start_new_session=True)

    def _wait(self, ready, process: subprocess.Popen, log: str, seconds: int, failure: str) -> None:
        """Until READY, or PROCESS exits or SECONDS pass: then FAILURE and the end of its LOG."""
        deadline = time.monotonic() + seconds
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / log).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{failure}: {tail}")
            time.sleep(0.3)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the engine as a host shutdown would (its containers stop with it)."""
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        """Everything the engine held, then the engine and its namespace."""
        if self.process is not None:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", "-v", *ids)
            self.docker("system", "prune", "-af", "--volumes")
        self.stop()
        self.stop_sshd()
        self.remove_namespace()
        # Leftover mounts of the engine's containers would keep the data-root busy.
        _run("sh", "-c", f"grep -o ' {self.root}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
