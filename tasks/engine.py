"""The one module that talks to the Docker engine (through docker-py's API, so
a remote engine behind DOCKER_HOST works the same as a local one)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

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
    is_local: bool
    architecture: str
    cgroup_version: str
    cgroup_driver: str
    root_dir: str
    operating_system: str


def engine_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class Engine:
    def __init__(self, client: docker.DockerClient):
        self.client = client
        self._info: dict | None = None
        self._facts: EngineFacts | None = None

    @classmethod
    def connect(cls, timeout: int = 60) -> Engine:
        host = engine_host()
        try:
            client = docker.from_env(timeout=timeout)
            client.ping()
        except DockerException as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise EngineError(
                f"cannot reach the Docker engine at {host} ({_short(reason)}): start it "
                "(`dockerd` or `systemctl start docker`) or point DOCKER_HOST at one"
            ) from None
        return cls(client)

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
        host = engine_host()
        self._facts = EngineFacts(
            version=version.get("Version", "?"),
            api_version=version.get("ApiVersion", "?"),
            host=host,
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


def _short(message: str) -> str:
    # Engine errors repeat the OCI runtime's whole chain; the end says why.
    message = " ".join(str(message).split())
    if "unable to apply caps" in message:
        return "runc: unable to apply caps: operation not permitted"
    return message if len(message) <= 200 else message[:197] + "..."
