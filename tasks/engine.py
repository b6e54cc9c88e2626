"""The one module that talks to the Docker engine (through docker-py's API, so
a remote engine behind DOCKER_HOST works the same as a local one)."""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import tarfile
import tempfile
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

    def facts(self) -> EngineFacts:
        info = self.client.info()
        version = self.client.version()
        host = engine_host()
        return EngineFacts(
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

    # -- images
    def has_image(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except ImageNotFound:
            return False

    def load_image(self, archive) -> None:
        with open(archive, "rb") as data:
            self.client.api.load_image(data)

    def image_id(self, ref: str) -> str | None:
        try:
            return self.client.images.get(ref).id
        except ImageNotFound:
            return None

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


def _short(message: str) -> str:
    # Engine errors repeat the OCI runtime's whole chain; the end says why.
    message = " ".join(str(message).split())
    if "unable to apply caps" in message:
        return "runc: unable to apply caps: operation not permitted"
    return message if len(message) <= 200 else message[:197] + "..."


# ---------------------------------------------------------------- cluster objects
# Everything the project makes carries LABEL_CLUSTER, so `down` and `clean`
# find it by asking the engine, never a memory of our own.


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


class Objects:
    """Networks, volumes, containers and images of one cluster, by label."""

    def __init__(self, engine: Engine, cluster: str):
        self.engine = engine
        self.client = engine.client
        self.cluster = cluster

    def labels(self, **extra: str) -> dict[str, str]:
        return {LABEL_CLUSTER: self.cluster, **{f"{LABEL}.{k.replace('_', '-')}": v for k, v in extra.items()}}

    # -- network
    def ensure_network(self, name: str, subnet: str) -> None:
        """The cluster's network on exactly this subnet; an old one on another subnet is replaced."""
        for network in self.client.networks.list(names=[name]):
            network.reload()
            configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
            if configs[0].get("Subnet") == subnet:
                return
            if network.attrs.get("Containers"):
                raise EngineError(
                    f"network {name} is on {configs[0].get('Subnet')} and has containers: "
                    "run `local-cluster down` first to change dind.subnet"
                )
            network.remove()
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            self.client.networks.create(name, driver="bridge", ipam=ipam, labels=self.labels(role="network"))
        except APIError as err:
            text = str(getattr(err, "explanation", "") or err)
            if "overlap" in text.lower():
                raise EngineError(
                    f"dind.subnet {subnet} overlaps a network the engine already has ({text}): "
                    "choose another with --dind-subnet"
                ) from None
            raise EngineError(f"cannot create network {name}: {_short(text)}") from None

    # -- containers
    def _label_filter(self, **labels: str) -> dict:
        """The engine's filter for this cluster's objects with these labels too."""
        return {"label": [f"{key}={value}" for key, value in self.labels(**labels).items()]}

    def containers(self, **labels: str) -> list:
        return self.client.containers.list(all=True, filters=self._label_filter(**labels))

    def start_container(self, name: str) -> None:
        try:
            self.client.api.start(name)
        except APIError as err:
            raise EngineError(f"cannot start {name}: {_short(str(err))}") from None

    def remove_container(self, name: str) -> None:
        try:
            self.client.api.remove_container(name, force=True, v=False)
        except NotFound:
            pass
        except APIError as err:
            if "already in progress" not in str(err):
                raise EngineError(f"cannot remove container {name}: {_short(str(err))}") from None

    def volumes(self, **labels: str) -> list:
        return self.client.volumes.list(filters=self._label_filter(**labels))

    def networks(self) -> list:
        return self.client.networks.list(filters=self._label_filter())

    # -- inside a container
    def exec(self, name: str, argv: list[str], on_line=None, environment: dict | None = None) -> ExecResult:
        """Run argv in the container; stream its output lines to on_line; exit code and output.

        docker-py's exec_run(stream=True) loses the exit code, so this uses the
        low-level calls."""
        api = self.client.api
        exec_id = api.exec_create(name, argv, environment=environment)["Id"]
        chunks: list[str] = []
        pending = ""
        for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
            text = ((stdout or b"") + (stderr or b"")).decode(errors="replace")
            chunks.append(text)
            if on_line:
                pending += text
                *lines, pending = pending.split("\n")
                for line in lines:
                    on_line(line)
        if on_line and pending:
            on_line(pending)
        return ExecResult(api.exec_inspect(exec_id)["ExitCode"] or 0, "".join(chunks))

    def put_files(self, name: str, directory: str, files: dict[str, bytes], mode: int = 0o644) -> None:
        """Files into a container through the engine's archive API (works for remote engines)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        try:
            self.client.api.put_archive(name, directory, buffer.getvalue())
        except APIError as err:
            raise EngineError(f"cannot put {', '.join(files)} into {name}:{directory}: {_short(str(err))}") from None

    def put_paths(self, name: str, directory: str, files: dict[str, Path], mode: int = 0o644) -> None:
        """Large files into a container, streamed from a temporary tar on disk."""
        with tempfile.TemporaryFile() as buffer:
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for path, source in files.items():
                    info = tar.gettarinfo(str(source), arcname=path)
                    info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
                    with open(source, "rb") as data:
                        tar.addfile(info, data)
            buffer.seek(0)
            try:
                self.client.api.put_archive(name, directory, buffer)
            except APIError as err:
                raise EngineError(
                    f"cannot put {', '.join(files)} into {name}:{directory}: {_short(str(err))}"
                ) from None

    def create_job(self, name: str, image: str, argv: list[str], network: str, labels: dict[str, str]) -> None:
        """A container that runs argv once, on the cluster's network (started by start_container)."""
        self.remove_container(name)
        try:
            self.client.api.create_container(
                image,
                name=name,
                entrypoint=argv[:1],
                command=argv[1:],
                labels={**self.labels(role="job"), **labels},
                host_config=self.engine.host_config(network_mode=network, tmpfs={"/tmp": ""}),
                working_dir="/",
            )
        except APIError as err:
            raise EngineError(f"cannot create {name}: {_short(str(err))}") from None

    def run_attached(self, name: str, on_text) -> int:
        """Start the container and pass on its output as it comes, until it
        exits; its exit code.

        Attached rather than reading its logs: the engine logs whole lines only,
        and ginkgo's progress dots come without one."""
        stream = self.client.api.attach(name, stdout=True, stderr=True, stream=True, logs=True)
        self.start_container(name)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a "•" may span two chunks
        for chunk in stream:
            on_text(decoder.decode(chunk))
        return int(self.client.api.wait(name).get("StatusCode", 1))

    def get_tree(self, name: str, path: str, target: Path) -> None:
        """What a directory of the container holds, into target (made if missing)."""
        stream, _ = self.client.api.get_archive(name, path)
        with tempfile.TemporaryFile() as buffer:
            for chunk in stream:
                buffer.write(chunk)
            buffer.seek(0)
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=buffer) as tar:
                members = []
                for member in tar.getmembers():
                    # The archive names the directory itself first: drop that part.
                    _, _, member.name = member.name.partition("/")
                    if member.name:
                        members.append(member)
                tar.extractall(target, members=members, filter="data")

    def get_file(self, name: str, path: str) -> bytes:
        stream, _ = self.client.api.get_archive(name, path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member else None
            if extracted is None:
                raise EngineError(f"{path} in {name} is not a file")
            return extracted.read()

    # -- nodes
    def node_mode(self) -> str:
        """privileged where the engine allows it, else explicit-capabilities."""
        image = self.engine.ensure_probe_image()
        for mode, options in NODE_MODES.items():
            host_config = self.engine.host_config(unmask_paths=True, cgroupns="private", **options)
            if self.engine.try_container(image, host_config) is None:
                return mode
        raise EngineError("the engine refuses privileged and near-privileged containers: run `local-cluster doctor`")

    def create_node(
        self,
        name: str,
        image: str,
        network: str,
        address: str,
        labels: dict[str, str],
        mode: str,
        publish: tuple[str, int] | None = None,
    ) -> None:
        """A node container: systemd as PID 1, containerd's data on a volume of its own."""
        api = self.client.api
        volume = f"{name}-containerd"
        self.client.volumes.create(volume, labels={**labels, f"{LABEL}.role": "node-data"})
        host_config = self.engine.host_config(
            unmask_paths=True,
            cgroupns="private",
            tmpfs={"/run": "", "/tmp": ""},
            binds={"/lib/modules": {"bind": "/lib/modules", "mode": "ro"}, volume: {"bind": "/var/lib/containerd"}},
            # cgroup v1: privileged pods (kube-proxy) ask their devices cgroup for
            # everything, which only a parent that allows everything can grant.
            device_cgroup_rules=["a *:* rwm"],
            port_bindings={6443: publish} if publish else None,
            init=False,
            **NODE_MODES[mode],
        )
        networking = api.create_networking_config({network: api.create_endpoint_config(ipv4_address=address)})
        try:
            api.create_container(
                image,
                name=name,
                hostname=name,
                host_config=host_config,
                labels=labels,
                networking_config=networking,
                ports=[6443] if publish else None,
                environment={"KUBEADM_LOCAL_CLUSTER_ROLE": labels.get(LABEL_ROLE, "master")},
                tty=True,
                detach=True,
            )
            api.start(name)
        except APIError as err:
            full = str(getattr(err, "explanation", None) or err)
            text = _short(full)
            if "port is already allocated" in full or "address already in use" in full:
                raise EngineError(
                    f"cannot publish the API server on {publish[0]}:{publish[1]}: the port is in "
                    "use; choose another with --api-server-port (0 picks a free one)"
                ) from None
            raise EngineError(f"cannot start node {name}: {text}") from None

    def published_port(self, name: str) -> tuple[str, int]:
        attrs = self.client.api.inspect_container(name)
        binding = (attrs["NetworkSettings"]["Ports"].get("6443/tcp") or [{}])[0]
        return binding.get("HostIp", "127.0.0.1"), int(binding.get("HostPort", 0))

    def remove_volume(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.api.remove_volume(name, force=True)

    def has_volume(self, name: str) -> bool:
        try:
            self.client.api.inspect_volume(name)
            return True
        except NotFound:
            return False

    # -- snapshots
    def pause(self, name: str) -> None:
        try:
            self.client.api.pause(name)
        except APIError as err:
            raise EngineError(f"cannot pause {name}: {_short(str(err))}") from None

    def unpause(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            attrs = self.client.api.inspect_container(name)
            if attrs["State"].get("Paused"):
                self.client.api.unpause(name)

    def commit(self, name: str, ref: str, labels: dict[str, str]) -> str:
        """The container's root filesystem (not its volumes or tmpfs) as an image; its id."""
        repository, _, tag = ref.rpartition(":")
        try:
            # Labels given as config take precedence over the container's own.
            reply = self.client.api.commit(name, repository=repository, tag=tag, conf={"Labels": labels}, pause=False)
            return reply["Id"]
        except APIError as err:
            raise EngineError(f"cannot save {name} as {ref}: {_short(str(err))}") from None

    def copy_volume(self, source: str, target: str, image: str, labels: dict[str, str]) -> None:
        """target (made afresh) holds exactly what source holds, copied by a
        short-lived container on the engine (so it works for remote engines too).

        SYS_ADMIN: containerd's overlay snapshots keep whiteouts and opaque
        directories in trusted.* attributes, which only it may copy."""
        self.remove_volume(target)
        self.client.volumes.create(target, labels=labels)
        host_config = self.engine.host_config(
            binds={source: {"bind": "/from", "mode": "ro"}, target: {"bind": "/to", "mode": "rw"}},
            cap_add=["SYS_ADMIN"],
            security_opt=_COMMON_SECURITY,
            network_mode="none",
        )
        api = self.client.api
        container_id = None
        try:
            container_id = api.create_container(
                image,
                entrypoint=["cp", "-a", "/from/.", "/to/"],
                host_config=host_config,
                labels={LABEL_CLUSTER: self.cluster, LABEL_ROLE: "copy"},
            )["Id"]
            api.start(container_id)
            result = api.wait(container_id, timeout=600)
            if result.get("StatusCode") != 0:
                output = api.logs(container_id).decode(errors="replace")
                raise EngineError(f"cannot copy volume {source} to {target}: {_short(output)}")
        except APIError as err:
            raise EngineError(f"cannot copy volume {source} to {target}: {_short(str(err))}") from None
        finally:
            if container_id is not None:
                with contextlib.suppress(NotFound, APIError):
                    api.remove_container(container_id, force=True)

    def images(self, **labels: str) -> list:
        return self.client.images.list(filters=self._label_filter(**labels))

    def remove_image(self, ref: str) -> None:
        try:
            self.client.api.remove_image(ref, force=True)
        except NotFound:
            pass
        except APIError as err:
            raise EngineError(f"cannot remove image {ref}: {_short(str(err))}") from None
