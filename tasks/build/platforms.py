"""Two platforms: the nodes' (Linux, of the engine's architecture) and this
machine's (where the kubectl and helm beside admin.conf run).

They differ for a Mac driving an amd64 cloud box, or an x86 laptop driving
an arm64 one. Then the nodes' Go programs are cross-compiled here (our
builds are CGO_ENABLED=0, so Go needs nothing more). The C builds (runc,
busybox) and the Debian bases are made on the engine, where they are
native: cross C compilers and qemu are not assumed here. kubectl and helm
are built a second time, for this machine (tasks/build/client.py)."""

from __future__ import annotations

import platform
import sys

from tasks.build.oci import ARCHITECTURES

# sys.platform -> GOOS, for the clients the tool runs on.
SYSTEMS = {"linux": "linux", "darwin": "darwin"}
CACHE_KEY = "nodes' architecture"


def architecture(machine: str) -> str:
    """GOARCH of a machine name as uname or the engine says it (x86_64, aarch64, arm64)."""
    return ARCHITECTURES.get(machine, machine)


def this_machine() -> tuple[str, str]:
    """(GOOS, GOARCH) of the machine this runs on."""
    return SYSTEMS.get(sys.platform, sys.platform), architecture(platform.machine())


def engine_machine() -> str | None:
    """The engine's architecture as it says it, or None when no engine answers
    (the commands that need one say so themselves)."""
    import requests
    from docker.errors import DockerException

    from tasks.engine import Engine
    from tasks.errors import UserError

    try:
        machine = Engine.connect(timeout=30).facts().architecture
    except (UserError, DockerException, requests.RequestException, OSError):
        return None
    return machine


def nodes_architecture() -> str:
    """GOARCH of the nodes: the engine's, asked once per run; this machine's
    when no engine answers."""
    cache = _run_cache()
    if CACHE_KEY not in cache:
        remember(engine_machine())
    return cache[CACHE_KEY]


def remember(machine: str | None) -> None:
    """The engine's architecture as it said it, for a caller that asked it already (doctor)."""
    usable = machine and machine != "?"
    _run_cache()[CACHE_KEY] = architecture(machine) if usable else this_machine()[1]


def _run_cache() -> dict:
    from tasks import context

    return context.current().cache


def nodes_platform() -> tuple[str, str]:
    return "linux", nodes_architecture()


def foreign() -> str | None:
    """Why what runs on the nodes cannot be made natively here ("this machine
    is darwin/arm64, the nodes linux/amd64"), or None when it is their platform."""
    here, nodes = this_machine(), nodes_platform()
    if here == nodes:
        return None
    return f"this machine is {'/'.join(here)}, the nodes {'/'.join(nodes)}"


def cache_key() -> dict[str, str]:
    """What a cached build for the nodes records of their architecture: nothing
    for amd64 (every cache made before this was recorded is amd64), else the
    architecture, so a cache made for another engine is rebuilt, not used."""
    arch = nodes_architecture()
    return {} if arch == "amd64" else {"arch": arch}
