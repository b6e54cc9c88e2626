"""One cluster's objects on the engine: its network (tasks.object_networks),
containers, volumes and images, found by its label and their exact names. An
object of the same name that is not the cluster's is a clash: named, and
never touched."""

from __future__ import annotations

import contextlib
import datetime
import json
import re

from docker.errors import APIError, NotFound

from tasks.console import log
from tasks.container_io import ContainerIO, ExecResult
from tasks.engine import (
    LABEL,
    LABEL_CLUSTER,
    LABEL_ROLE,
    NODE_MODES,
    NODE_ROLES,
    Engine,
    EngineError,
    _short,
)
from tasks.object_networks import NetworkOps
from tasks.object_snapshots import SnapshotOps
from tasks.paths import cache_dir, replacing

__all__ = ["ExecResult", "Objects"]


# Everything the project makes carries LABEL_CLUSTER, so `down` and `clean`
# find it by asking the engine, never a memory of our own.


class Objects(ContainerIO, NetworkOps, SnapshotOps):
    """Networks, volumes, containers and images of one cluster, by label."""

    def __init__(self, engine: Engine, cluster: str):
        self.engine = engine
        self.client = engine.client
        self.cluster = cluster

    def labels(self, **extra: str) -> dict[str, str]:
        return {LABEL_CLUSTER: self.cluster, **{f"{LABEL}.{k.replace('_', '-')}": v for k, v in extra.items()}}

    # -- ownership
    def owns(self, labels: dict | None) -> bool:
        """Is an object with these labels this cluster's? Nothing else is ever
        adopted, changed or removed."""
        return (labels or {}).get(LABEL_CLUSTER) == self.cluster

    def _clash(self, kind: str, name: str, what_to_do: str) -> EngineError:
        return EngineError(
            f"a {kind} named {name} exists that is not cluster {self.cluster}'s (it has no {LABEL_CLUSTER}="
            f"{self.cluster} label): {what_to_do}; it was left as it is"
        )

    def foreign_container(self, name: str) -> bool:
        """A container of exactly this name that is not ours."""
        try:
            attrs = self.client.api.inspect_container(name)
        except NotFound:
            return False
        return attrs.get("Name", "").lstrip("/") == name and not self.owns(attrs.get("Config", {}).get("Labels"))

    def check_container_names(self, names: list[str]) -> None:
        for name in names:
            if self.foreign_container(name):
                raise self._clash(
                    "container", name, "rename or remove it, or choose another cluster name with --cluster-name"
                )

    def check_volume_names(self, names: list[str]) -> None:
        for name in names:
            labels = self._volume_labels(name)
            if labels is not None and not self.owns(labels):
                raise self._clash("volume", name, "remove it, or choose another cluster name with --cluster-name")

    # -- containers
    def _label_filter(self, **labels: str) -> dict:
        """The engine's filter for this cluster's objects with these labels too."""
        return {"label": [f"{key}={value}" for key, value in self.labels(**labels).items()]}

    def containers(self, **labels: str) -> list:
        return self.client.containers.list(all=True, filters=self._label_filter(**labels))

    def nodes(self) -> list:
        """The cluster's node containers (helpers such as the e2e runner or a
        volume copier are never nodes)."""
        return [c for c in self.containers() if c.labels.get(LABEL_ROLE) in NODE_ROLES]

    def start_container(self, name: str) -> None:
        try:
            self.client.api.start(name)
        except APIError as err:
            raise EngineError(f"cannot start {name}: {_short(str(err))}") from None

    def started_at(self, name: str) -> float:
        """When the container last started (Unix seconds), by the engine host's
        clock, which is its nodes' clock too: what readiness compares the
        nodes' reports with, whatever the clock of the machine we run on."""
        try:
            moment = self.client.api.inspect_container(name)["State"]["StartedAt"]
        except APIError as err:
            raise EngineError(f"cannot inspect {name}: {_short(str(err))}") from None
        return rfc3339_seconds(moment)

    def remove_container(self, name: str) -> None:
        """Our container of this name, if any; one that is not ours is a clash."""
        if self.foreign_container(name):
            raise self._clash("container", name, "rename or remove it, or choose another cluster name")
        for attempt in range(2):
            try:
                self.client.api.remove_container(name, force=True, v=False)
                return
            except NotFound:
                return
            except APIError as err:
                if "already in progress" in str(err):
                    return
                if attempt == 0 and "Could not kill" in str(err):
                    # A process frozen inside the node (a pod's freezer cgroup left
                    # FROZEN by a `runc init` cut short, cgroup v1) cannot die:
                    # thaw every freezer of the node, then kill it again.
                    attrs = self.client.api.inspect_container(name)
                    log.info("%s cannot be killed while a process in it is frozen: thawing it", name)
                    self._thaw(attrs["Id"], attrs["Config"]["Image"])
                    continue
                raise EngineError(f"cannot remove container {name}: {_short(str(err))}") from None

    def volumes(self, **labels: str) -> list:
        return self.client.volumes.list(filters=self._label_filter(**labels))

    # -- inside a container
    def node_mode(self) -> str:
        """privileged where the engine allows it, else explicit-capabilities.

        Probing costs two short-lived containers (~0.6 s), so the answer is kept
        per engine (its ID, version and kernel) in the state directory."""
        info = self.engine.info()
        key = "/".join(str(info.get(k, "")) for k in ("ID", "ServerVersion", "KernelVersion"))
        remembered = cache_dir() / "node-modes.json"
        try:
            modes = json.loads(remembered.read_text())
        except (OSError, ValueError):
            modes = {}
        if modes.get(key) in NODE_MODES:
            return modes[key]
        image = self.engine.ensure_probe_image()
        for mode, options in NODE_MODES.items():
            host_config = self.engine.host_config(unmask_paths=True, cgroupns="private", **options)
            if self.engine.try_container(image, host_config) is None:
                with contextlib.suppress(OSError), replacing(remembered) as partial:
                    partial.write_text(json.dumps({**modes, key: mode}))
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
        extra_ports: list[tuple[str, int, int, str]] = (),
        files: dict[str, dict[str, bytes]] | None = None,
    ) -> None:
        """A node container: systemd as PID 1, containerd's data on a volume of its own.
        PUBLISH: the API server's (address, port); EXTRA_PORTS: (address, host
        port, node port, protocol) of cluster.extraPortMappings; FILES:
        {directory: {name: contents}} put in before it starts."""
        api = self.client.api
        volume = f"{name}-containerd"
        bindings: dict[str, list] = {"6443/tcp": [publish]} if publish else {}
        for host_address, host_port, node_port, protocol in extra_ports:
            bindings.setdefault(f"{node_port}/{protocol}", []).append((host_address, host_port))
        self.create_volume(volume, {**labels, f"{LABEL}.role": "node-data"})
        host_config = self.engine.host_config(
            unmask_paths=True,
            cgroupns="private",
            tmpfs={"/run": "", "/tmp": ""},
            binds={"/lib/modules": {"bind": "/lib/modules", "mode": "ro"}, volume: {"bind": "/var/lib/containerd"}},
            # cgroup v1: privileged pods (kube-proxy) ask their devices cgroup for
            # everything, which only a parent that allows everything can grant.
            device_cgroup_rules=["a *:* rwm"],
            port_bindings=bindings or None,
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
                ports=[(int(port), protocol) for port, _, protocol in (k.partition("/") for k in bindings)] or None,
                environment={"KUBEADM_LOCAL_CLUSTER_ROLE": labels.get(LABEL_ROLE, "master")},
                tty=True,
                detach=True,
            )
            for directory, contents in (files or {}).items():
                self.put_files(name, directory, contents)
            api.start(name)
        except APIError as err:
            full = str(getattr(err, "explanation", None) or err)
            text = _short(full)
            if "port is already allocated" in full or "address already in use" in full:
                where = re.search(r"(?:Bind for |listen \w+ )(\S+?):? ", full)
                bound = where[1] if where else ""
                if publish and publish[1] and (not bound or bound == f"{publish[0]}:{publish[1]}"):
                    raise EngineError(
                        f"cannot publish the API server on {publish[0]}:{publish[1]}: the port is in "
                        "use; choose another with --api-server-port (0 picks a free one)"
                    ) from None
                raise EngineError(
                    f"cannot publish {bound or 'a port'} for node {name}: the port is in use; choose another "
                    "in cluster.extraPortMappings"
                ) from None
            raise EngineError(f"cannot start node {name}: {text}") from None

    def our_container(self, name: str) -> dict | None:
        """The engine's view (inspect) of our container of exactly this name;
        None when there is none; one that is not ours is a clash."""
        try:
            attrs = self.client.api.inspect_container(name)
        except NotFound:
            return None
        if attrs.get("Name", "").lstrip("/") != name:
            return None
        if not self.owns(attrs.get("Config", {}).get("Labels")):
            raise self._clash("container", name, "rename or remove it, or choose another cluster name")
        return attrs

    def create_service(
        self,
        name: str,
        image: str,
        network: str,
        labels: dict[str, str],
        address: str,
        volumes: dict[str, str],
        publish: tuple[str, int, int],
        port_hint: str,
    ) -> None:
        """A long-running container of the cluster's (not a node: no extra
        powers) on its network at ADDRESS (a fixed one: the engine would hand
        out the first free address, which a node made later is to have),
        with volumes {name: mount point} and PUBLISH (host address, host port
        or 0 for a free one, container port); started. A start that fails
        leaves nothing behind; a port in use is one line ending with PORT_HINT."""
        api = self.client.api
        host_address, host_port, port = publish
        host_config = self.engine.host_config(
            binds={volume: {"bind": target, "mode": "rw"} for volume, target in volumes.items()},
            port_bindings={f"{port}/tcp": [(host_address, host_port or None)]},
            network_mode=network,
        )
        networking = api.create_networking_config({network: api.create_endpoint_config(ipv4_address=address)})
        try:
            api.create_container(
                image,
                name=name,
                labels=labels,
                host_config=host_config,
                networking_config=networking,
                ports=[(port, "tcp")],
            )
        except APIError as err:
            raise EngineError(f"cannot create {name}: {_short(str(err))}") from None
        try:
            api.start(name)
        except APIError as err:
            full = str(getattr(err, "explanation", None) or err)
            with contextlib.suppress(NotFound, APIError):
                api.remove_container(name, force=True)
            if "port is already allocated" in full or "address already in use" in full:
                raise EngineError(
                    f"cannot publish {name} on {host_address}:{host_port}: the port is in use; {port_hint}"
                ) from None
            raise EngineError(f"cannot start {name}: {_short(full)}") from None

    def container_logs(self, name: str, tail: int = 20) -> str:
        """The last lines a container printed (stdout and stderr)."""
        try:
            return self.client.api.logs(name, tail=tail).decode(errors="replace")
        except APIError as err:
            raise EngineError(f"cannot read the logs of {name}: {_short(str(err))}") from None

    def published_port(self, name: str) -> tuple[str, int]:
        attrs = self.client.api.inspect_container(name)
        binding = (attrs["NetworkSettings"]["Ports"].get("6443/tcp") or [{}])[0]
        return binding.get("HostIp", "127.0.0.1"), int(binding.get("HostPort", 0))

    def _volume_labels(self, name: str) -> dict | None:
        """The labels of the volume of this name, or None when there is none."""
        try:
            return self.client.api.inspect_volume(name).get("Labels") or {}
        except NotFound:
            return None

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        """A new volume of ours; the engine would hand back a same-named one of
        someone else's as if it were new."""
        existing = self._volume_labels(name)
        if existing is not None and not self.owns(existing):
            raise self._clash("volume", name, "remove it, or choose another cluster name with --cluster-name")
        try:
            self.client.api.create_volume(name, labels=labels)
        except APIError as err:
            raise EngineError(f"cannot create volume {name}: {_short(str(err))}") from None

    def ensure_volume(self, name: str, labels: dict[str, str]) -> bool:
        """Our volume of this name, made when missing (kept, with its data,
        when there); whether it was made now."""
        existing = self._volume_labels(name)
        if existing is None:
            self.create_volume(name, labels)
            return True
        if not self.owns(existing):
            raise self._clash("volume", name, "remove it, or choose another cluster name with --cluster-name")
        return False

    def remove_volume(self, name: str) -> None:
        existing = self._volume_labels(name)
        if existing is None:
            return
        if not self.owns(existing):
            raise self._clash("volume", name, "remove it, or choose another cluster name with --cluster-name")
        try:
            self.client.api.remove_volume(name, force=True)
        except NotFound:
            pass
        except APIError as err:
            raise EngineError(f"cannot remove volume {name}: {_short(str(err))}") from None

    def images(self, **labels: str) -> list:
        return self.client.images.list(filters=self._label_filter(**labels))

    def remove_image(self, ref: str) -> None:
        try:
            self.client.api.remove_image(ref, force=True)
        except NotFound:
            pass
        except APIError as err:
            raise EngineError(f"cannot remove image {ref}: {_short(str(err))}") from None


def rfc3339_seconds(moment: str) -> float:
    """2026-12-01T22:45:28.123456789Z (the engine's nanoseconds) as Unix seconds."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", moment)
    if match is None:
        raise EngineError(f"the engine gave a time this tool cannot read: {moment!r}")
    whole, fraction, zone = match.groups()
    stamp = datetime.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return stamp + float(f"0.{fraction}" if fraction else 0)
