"""The one module that talks to the Docker engine (through docker-py's API, so
a remote engine behind DOCKER_HOST works the same as a local one)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.tls
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.transport import sshconn

from tasks.errors import UserError
from tasks.paths import replacing
from tasks.probe import PROBE_IMAGE, probe_rootfs

LABEL = "io.kubeadm-local-cluster"
LABEL_CLUSTER = f"{LABEL}.cluster"
LABEL_ROLE = f"{LABEL}.role"
NODE_ROLES = ("master", "worker")

# Node containers run systemd and containerd, which want a privileged container.
# Some hosts refuse --privileged (a bounding set without CAP_SYS_RESOURCE, as in
# some CI sandboxes: "unable to apply caps"); there the same powers, less that
# one capability, are spelled out ("explicit-capabilities mode").
# `systempaths=unconfined` is the CLI's name for empty MaskedPaths and
# ReadonlyPaths in the API, which is what kubelet's sysctls need.
_COMMON_SECURITY = ["seccomp=unconfined", "apparmor=unconfined"]
PRIVILEGED_MODE = {"privileged": True, "security_opt": _COMMON_SECURITY}
EXPLICIT_MODE = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": _COMMON_SECURITY,
    "devices": ["/dev/kmsg:/dev/kmsg:rwm"],
}
NODE_MODES = {"privileged": PRIVILEGED_MODE, "explicit-capabilities": EXPLICIT_MODE}
UNMASKED_PATHS = {"MaskedPaths": [], "ReadonlyPaths": []}


class EngineError(UserError):
    pass


@dataclass(frozen=True)
class EngineFacts:
    version: str
    api_version: str
    host: str
    source: str  # how the engine was chosen (DOCKER_HOST, a docker context, the default socket)
    is_local: bool
    architecture: str
    cgroup_version: str
    cgroup_driver: str
    root_dir: str
    operating_system: str


DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Target:
    """Which engine, chosen as the docker CLI chooses: DOCKER_HOST (with
    DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else the context DOCKER_CONTEXT
    names, else the current context of the docker CLI's config.json, else the
    local socket."""

    host: str
    source: str  # how it was chosen, for doctor and clusters
    context: str = ""  # the docker context's name, when one chose it

    def describe(self) -> str:
        where = "local" if self.host.startswith(("unix://", "npipe://")) else "remote"
        return f"{self.host} ({where}; {self.source})"


def engine_target(environ: Mapping[str, str] | None = None) -> Target:
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_HOST"):
        return Target(environ["DOCKER_HOST"], "DOCKER_HOST")
    name, source = environ.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT"
    if not name:
        name, source = _current_context(environ), "the docker CLI's current context"
    if not name or name == "default":
        return Target(DEFAULT_HOST, "the default socket")
    endpoint = _context_endpoint(name, environ)
    if endpoint is None or not endpoint.get("Host"):
        raise EngineError(f"the docker context {name} ({source}) does not exist: `docker context ls` lists them")
    return Target(endpoint["Host"], f"context {name}, from {source}", name)


def _docker_config_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _current_context(environ: Mapping[str, str]) -> str:
    """currentContext of the docker CLI's config.json ('' when none; an
    unreadable file counts as none, as for the CLI's default)."""
    try:
        return json.loads((_docker_config_dir(environ) / "config.json").read_text()).get("currentContext") or ""
    except (OSError, ValueError, AttributeError):
        return ""


def _context_dir(name: str, environ: Mapping[str, str], kind: str) -> Path:
    """The docker CLI's store: contexts/meta|tls/<sha256 of the name>/."""
    return _docker_config_dir(environ) / "contexts" / kind / hashlib.sha256(name.encode()).hexdigest()


def _context_endpoint(name: str, environ: Mapping[str, str]) -> dict | None:
    path = _context_dir(name, environ, "meta") / "meta.json"
    try:
        return json.loads(path.read_text())["Endpoints"]["docker"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EngineError(f"cannot read the docker context {name} ({path}): {_short(str(err))}") from None


def _context_tls(name: str, environ: Mapping[str, str]) -> docker.tls.TLSConfig | bool:
    """The context's TLS material (ca.pem, cert.pem, key.pem), as the CLI stores it; False without."""
    files = _context_dir(name, environ, "tls") / "docker"
    if not files.is_dir():
        return False
    endpoint = _context_endpoint(name, environ) or {}
    cert, key, ca = (files / f"{part}.pem" for part in ("cert", "key", "ca"))
    return docker.tls.TLSConfig(
        client_cert=(str(cert), str(key)) if cert.exists() and key.exists() else None,
        ca_cert=str(ca) if ca.exists() else None,
        verify=not endpoint.get("SkipTLSVerify", False),
    )


def engine_host() -> str:
    try:
        return engine_target().host
    except EngineError:
        return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def new_client(timeout: int) -> docker.DockerClient:
    """A client of the engine engine_target() chooses, not yet asked anything."""
    return _client(engine_target(), timeout)


def _close_ssh_quietly(close):
    """docker's ssh:// connection, closed without an error when ssh is gone:
    its close() writes to ssh's input, and ssh exits by itself as soon as the
    engine ends a stream (an exec's output, an attach), so that write can meet
    a closed pipe after everything was read."""

    def quietly(sock):
        try:
            close(sock)
        except OSError:
            if sock.proc is not None:
                sock.proc.kill()
                sock.proc.wait()

    return quietly


sshconn.SSHSocket.close = _close_ssh_quietly(sshconn.SSHSocket.close)


def _client(target: Target, timeout: int) -> docker.DockerClient:
    """A client of TARGET; ssh:// through the system's ssh (the user's config,
    agent and known_hosts), never a Python ssh library."""
    if not target.context:
        return docker.from_env(timeout=timeout, use_ssh_client=True)
    tls = _context_tls(target.context, os.environ)
    return docker.DockerClient(base_url=target.host, tls=tls, timeout=timeout, use_ssh_client=True)


class Engine:
    def __init__(self, client: docker.DockerClient, target: Target | None = None):
        self.client = client
        self.target = target  # how connect() chose the engine (None: a client made elsewhere)
        self._info: dict | None = None
        self._facts: EngineFacts | None = None

    @property
    def host(self) -> str:
        """The engine's address as DOCKER_HOST would give it."""
        return self.target.host if self.target else engine_host()

    @classmethod
    def connect(cls, timeout: int = 60) -> Engine:
        target = engine_target()
        host = target.host
        try:
            client = _client(target, timeout)
            client.ping()
        except DockerException as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise EngineError(
                f"cannot reach the Docker engine at {host} ({_short(reason)}): start it "
                "(`dockerd` or `systemctl start docker`) or point DOCKER_HOST at one"
            ) from None
        return cls(client, target)

    def info(self) -> dict:
        """The engine's `docker info`, asked once per connection (preflight, the
        node mode, cgroup and locality checks all read it)."""
        if self._info is None:
            self._info = self.client.info()
        return self._info

    def facts(self) -> EngineFacts:
        """What the checks need to know of the engine, asked once per connection."""
        if self._facts is not None:
            return self._facts
        info = self.info()
        version = self.client.version()
        target = self.target or engine_target()
        host = target.host
        self._facts = EngineFacts(
            version=version.get("Version", "?"),
            api_version=version.get("ApiVersion", "?"),
            host=host,
            source=target.source,
            is_local=host.startswith(("unix://", "npipe://")),
            architecture=info.get("Architecture", "?"),
            cgroup_version=str(info.get("CgroupVersion", "1")),
            cgroup_driver=info.get("CgroupDriver", "?"),
            root_dir=info.get("DockerRootDir", "?"),
            operating_system=info.get("OperatingSystem", "?"),
        )
        return self._facts

    # -- images
    def has_image(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except ImageNotFound:
            return False

    def load_image(self, archive, progress: Callable[[int, int], None] | None = None) -> None:
        """A `docker save` archive into the engine; the engine's answer is read to
        the end, since it reports a failed load there, not in its status code.
        progress(sent, total) hears of the bytes sent, a megabyte at a time."""
        with open(archive, "rb") as file:
            data = Counted(file, os.fstat(file.fileno()).st_size, progress) if progress else file
            try:
                for message in self.client.api.load_image(data) or ():
                    error = message.get("error") or (message.get("errorDetail") or {}).get("message")
                    if error:
                        raise EngineError(f"the engine could not load {Path(archive).name}: {_short(error)}")
            except APIError as err:
                raise EngineError(f"the engine could not load {Path(archive).name}: {_short(str(err))}") from None

    def image_id(self, ref: str) -> str | None:
        try:
            return self.client.images.get(ref).id
        except ImageNotFound:
            return None

    def drop_if_unused(self, image_id: str) -> bool:
        """Removes image_id when no tag, container or child image holds it any more
        (the engine refuses otherwise, and that refusal is the answer: kept)."""
        try:
            self.client.api.remove_image(image_id, force=False, noprune=False)
            return True
        except NotFound:
            return False
        except APIError:  # 409: still tagged, used by a container, or a parent
            return False

    def image_summary(self, ref: str) -> tuple[str, int] | None:
        """(ID, size in bytes) of ref in the engine; None when it has no such image."""
        try:
            attrs = self.client.api.inspect_image(ref)
        except NotFound:  # ImageNotFound, and a name the engine cannot parse
            return None
        except APIError as err:
            raise EngineError(f"cannot look up image {ref}: {_short(err.explanation or str(err))}") from None
        return attrs["Id"], int(attrs.get("Size") or 0)

    def save_stream(self, ref: str) -> Iterator[bytes]:
        """ref as a `docker save` archive, as the engine sends it (a megabyte at a time)."""
        try:
            return self.client.api.get_image(ref, chunk_size=1 << 20)
        except APIError as err:
            raise EngineError(f"the engine cannot save {ref}: {_short(err.explanation or str(err))}") from None

    def save_image(self, ref: str, archive) -> None:
        """ref as a `docker save` archive; pulled first when the engine lacks it."""
        try:
            image = self.client.images.get(ref)
        except ImageNotFound:
            try:
                image = self.client.images.pull(ref)
            except APIError as err:
                raise EngineError(f"{ref} is neither in the engine nor can it be pulled: {_short(str(err))}") from None
        with replacing(archive) as partial, open(partial, "wb") as out:
            for chunk in image.save(named=ref):
                out.write(chunk)

    def import_rootfs(self, data: bytes, ref: str, labels: dict[str, str], command: list[str]) -> None:
        repository, _, tag = ref.partition(":")
        changes = [f"LABEL {k}={v}" for k, v in labels.items()]
        changes.append("CMD [" + ", ".join(f'"{part}"' for part in command) + "]")
        self.client.api.import_image_from_data(data, repository=repository, tag=tag or "latest", changes=changes)

    def ensure_probe_image(self) -> str:
        if not self.has_image(PROBE_IMAGE):
            arch = self.client.info().get("Architecture", "x86_64")
            try:
                rootfs = probe_rootfs(arch)
            except ValueError as err:
                raise EngineError(str(err)) from None
            self.import_rootfs(rootfs, PROBE_IMAGE, {LABEL_ROLE: "probe"}, ["/true"])
        return PROBE_IMAGE

    # -- containers
    def remove_containers(self, role: str) -> list[str]:
        """Every container with our role label ROLE (none of a cluster's: those
        have roles of their own), removed; their names, as `clean` says them."""
        api, removed = self.client.api, []
        for container in api.containers(all=True, filters={"label": f"{LABEL_ROLE}={role}"}):
            name = container["Names"][0].lstrip("/")
            api.remove_container(name, force=True)
            removed.append(f"container {name}")
        return removed

    def host_config(self, unmask_paths: bool = False, **options) -> dict:
        config = self.client.api.create_host_config(**options)
        if unmask_paths:
            config.update(UNMASKED_PATHS)
        return config

    def try_container(self, image: str, host_config: dict) -> str | None:
        """Start a container to completion; None when it ran and exited 0, else why not.

        The container is removed either way (a failed start leaves a created
        container behind)."""
        api = self.client.api
        container_id = None
        try:
            container_id = api.create_container(image, host_config=host_config, labels={LABEL_ROLE: "probe"})["Id"]
            api.start(container_id)
            code = api.wait(container_id, timeout=60).get("StatusCode")
            return None if code == 0 else f"exited with code {code}"
        except (APIError, DockerException) as err:
            return _short(getattr(err, "explanation", None) or str(err))
        finally:
            if container_id is not None:
                with contextlib.suppress(NotFound, APIError):
                    api.remove_container(container_id, force=True)


class Counted:
    """A file as an HTTP body that counts what is read of it. Its length keeps
    the request's Content-Length (requests would send it chunked otherwise)."""

    STEP = 1 << 20

    def __init__(self, file, total: int, progress: Callable[[int, int], None]):
        self.file = file
        self.total = total
        self.sent = 0
        self._said = -self.STEP
        self._progress = progress

    def __len__(self) -> int:
        return self.total

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.sent += len(chunk)
        if self.sent - self._said >= self.STEP or (self.sent == self.total and self._said != self.sent):
            self._said = self.sent
            self._progress(self.sent, self.total)
        return chunk


NO_SPACE = "the engine's disk is full (docker system df shows what holds it; `local-cluster clean --all` frees ours)"


def _short(message: str) -> str:
    # Engine errors repeat the OCI runtime's whole chain; the end says why.
    message = " ".join(str(message).split())
    if "unable to apply caps" in message:
        return "runc: unable to apply caps: operation not permitted"
    if "no space left on device" in message.lower():
        return f"no space left on device: {NO_SPACE}; the engine said: {message[:100]}..."
    # The start names the object, the end the cause (cp's "No such file...").
    return message if len(message) <= 200 else f"{message[:120]} ... {message[-75:]}"
