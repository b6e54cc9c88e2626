"""How the machine running the tool reaches the API server the engine host
publishes (#13).

- A local engine (or a tcp:// one on this machine's loopback): the published
  address itself, 127.0.0.1 for 0.0.0.0.
- A remote engine and an address of its host the user named
  (`cluster.apiServerAddress`, which kubeadm puts in the certificate): that
  address; 0.0.0.0 means the engine's host name as DOCKER_HOST gives it.
- A remote engine over ssh:// and a loopback address (the default: nothing is
  exposed beyond that host): a local port forwarded over ssh to it, started
  by `up` and stopped by `down` and `clean` (tasks/access/forwards.py).
- A remote engine over tcp:// and a loopback address: nothing on this machine
  reaches it; `up` says what to set.

The test-image mirror `e2e` pushes to is reached the same way; on a tcp://
engine it is published on the address named for the API server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from tasks.access import forwards
from tasks.console import log
from tasks.errors import UserError
from tasks.naming import Names


@dataclass(frozen=True)
class Reach:
    how: str  # "direct", "tunnel" or "unreachable"
    address: str = ""  # for direct: where the client connects
    ssh: tuple[str, str, str] = ("", "", "")  # for tunnel: user, host, port of the ssh:// engine
    why: str = ""  # for unreachable: what to do


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def engine_is_here(engine_host: str) -> bool:
    """The engine runs on this machine: a socket, or tcp:// to a loopback address."""
    parts = urlsplit(engine_host)
    if parts.scheme in ("unix", "npipe", ""):
        return True
    return parts.scheme in ("tcp", "http", "https") and _loopback(parts.hostname or "")


def plan(engine_host: str, published: str, what: str = "the API server") -> Reach:
    """How the client reaches WHAT, published on PUBLISHED of the engine's host,
    when the engine is ENGINE_HOST (DOCKER_HOST's form)."""
    published = published or "0.0.0.0"
    if engine_is_here(engine_host):
        return Reach("direct", "127.0.0.1" if published == "0.0.0.0" else published)
    parts = urlsplit(engine_host)
    if published == "0.0.0.0":
        return Reach("direct", parts.hostname or "")
    if not _loopback(published):
        return Reach("direct", published)
    if parts.scheme == "ssh":
        return Reach("tunnel", ssh=(parts.username or "", parts.hostname or "", str(parts.port or "")))
    return Reach(
        "unreachable",
        why=(
            f"{what} is published on {published} of the engine's host ({engine_host}), which this "
            "machine cannot reach: name an address of that host with --api-server-address "
            "(cluster.apiServerAddress; it goes into the API server's certificate), or reach the engine "
            "over ssh:// (`up` then forwards a local port to it)"
        ),
    )


def certificate_names(engine_host: str, published: str) -> list[str]:
    """Names the API server's certificate needs beyond the node's own for this
    client: the named address, or the engine's host name for 0.0.0.0."""
    if published == "0.0.0.0":
        if engine_is_here(engine_host):
            return []
        host = urlsplit(engine_host).hostname
        return [host] if host else []
    return [published] if not _loopback(published) else []


def reachable(objects, key: str, published: tuple[str, int], required: bool = False) -> tuple[str, int]:
    """Where this machine connects to PUBLISHED (address, port on the engine's
    host) of the cluster of OBJECTS: itself, or a local port forwarded over
    ssh (KEY names the forward, tasks/access/forwards.py). Unreachable: an
    error when REQUIRED, else a warning and the address as it is."""
    address, port = published
    reach = plan(objects.engine.host, address, forwards.WHAT[key])
    if reach.how == "tunnel":
        return "127.0.0.1", forwards.ensure(Names(objects.cluster), key, reach.ssh, port)
    if reach.how == "unreachable":
        if required:
            raise UserError(reach.why)
        log.warning("%s", reach.why)
        return address, port
    return reach.address, port


def publish_address(engine_host: str, api_server_address: str) -> str:
    """Where a service of the tool's own (the test-image mirror) is published on
    the engine's host: its loopback, unless this machine reaches that only
    through the address named for the API server (a tcp:// engine elsewhere)."""
    if plan(engine_host, "127.0.0.1").how == "unreachable" and not _loopback(api_server_address):
        return api_server_address
    return "127.0.0.1"
