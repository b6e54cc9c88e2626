"""The cluster in node terms: which nodes, at which addresses, made for which
settings, and whether they are all there.

State lives with the engine and on the nodes, never in a memory of ours:
node containers carry the hash of what they were made for, and the master
carries a marker once the cluster was complete. A cluster that is missing,
made for other settings, or left half-made (say by Ctrl-C) is made afresh.
The steps that make it live in tasks.node (containers, kubeadm, readiness)
and tasks.teardown.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
from collections import deque
from dataclasses import dataclass

import requests
from docker.errors import DockerException

from tasks.build.artifacts import ArtifactSet
from tasks.console import COMMAND, CONSOLE, log
from tasks.engine import LABEL, Engine, EngineError
from tasks.errors import SettingsError, UserError
from tasks.naming import Names
from tasks.node import image as node_image
from tasks.objects import Objects
from tasks.settings import POD_SUBNET, SERVICE_SUBNET, Settings
from tasks.versions import Version

KUBEADM_DIR = "/etc/kubeadm-local-cluster"
READY_MARKER = f"{KUBEADM_DIR}/ready"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
# What a node's config hash covers: a change to any of these makes the nodes
# (and the snapshot) afresh. The addons are in it because the snapshot holds them.
NODE_SETTINGS = (
    "dind.subnet",
    "cluster.name",
    "cluster.numNodes",
    "cluster.cniPlugin",
    "cluster.noDedicated",
    "cluster.apiServerAddress",
    "cluster.apiServerPort",
    "cluster.addons",
    "cluster.extraPortMappings",
    "cluster.nodeLabels",
    "kubernetes.featureGates",
    "kubernetes.runtimeConfig",
    "kubernetes.apiServerExtraArgs",
    "kubernetes.controllerManagerExtraArgs",
    "kubernetes.schedulerExtraArgs",
    "kubernetes.kubeletExtraArgs",
    "kubernetes.kubeProxyExtraArgs",
    "kubernetes.kubeadmConfigPatches",
    "kubernetes.kubeadmConfigPatchesJson6902",
)
# Where a subnet is picked when dind.subnet is auto: /16s from 10.192 up,
# clear of the pod and service ranges and of every network the engine has.
SUBNET_CANDIDATES = tuple(f"10.{second}.0.0/16" for second in range(192, 256))


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str  # "master" or "worker"
    address: str


def node_specs(settings: Settings) -> list[NodeSpec]:
    """The master, then the workers, at fixed addresses: .1 is the gateway, the master .2."""
    names = Names(settings.cluster.name)
    base = ipaddress.ip_network(settings.dind.subnet).network_address
    specs = [NodeSpec(names.master, "master", str(base + 2))]
    specs += [NodeSpec(names.worker(i), "worker", str(base + 2 + i)) for i in range(1, settings.cluster.num_nodes + 1)]
    return specs


def node_state(settings: Settings, artifacts: ArtifactSet) -> dict:
    """What the nodes are made for, readably: the snapshot keeps it, so `up` can
    say what changed since."""
    return {
        "kubernetes version": artifacts.version,
        "node image": node_image.expected_id(artifacts),
        **settings.slice(*NODE_SETTINGS),
    }


def config_hash(settings: Settings, artifacts: ArtifactSet) -> str:
    return _hash(node_state(settings, artifacts))


def base_hash(settings: Settings, artifacts: ArtifactSet) -> str:
    """What `reup` matches on: the same settings and minor version, whatever
    binaries the node image holds (reup puts in its own)."""
    state = node_state(settings, artifacts)
    del state["node image"]
    version = Version.parse(artifacts.version)
    state["kubernetes version"] = f"v{version.major}.{version.minor}"
    return _hash(state)


def _hash(state: dict) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def _overlaps(subnet: str, others) -> list[str]:
    network = ipaddress.ip_network(subnet)
    return [other for other in others if network.overlaps(ipaddress.ip_network(other))]


def pick_subnet(settings: Settings, objects: Objects) -> str:
    """The cluster's subnet: the one its network already has; else dind.subnet
    when it was set explicitly (checked against the engine's networks); else
    the first free candidate."""
    name = Names(settings.cluster.name).network
    current = objects.network_subnet(name)
    explicit = settings.dind.subnet != "auto"
    if current and (not explicit or current == settings.dind.subnet):
        return current
    taken = {subnet: net for subnet, net in objects.engine_subnets().items() if net != name}
    if explicit:
        clash = _overlaps(settings.dind.subnet, taken)
        if clash:
            raise SettingsError(
                f"dind.subnet {settings.dind.subnet} ({settings.origins['dind.subnet']}) overlaps the engine's "
                f"network {taken[clash[0]]} ({clash[0]}): choose another or set dind.subnet to auto to get a free one"
            )
        return settings.dind.subnet
    reserved = [*taken, POD_SUBNET, SERVICE_SUBNET]
    for candidate in SUBNET_CANDIDATES:
        if not _overlaps(candidate, reserved):
            return candidate
    raise UserError("no free /16 is left in 10.192.0.0-10.255.0.0 for the nodes: set dind.subnet to a free network")


class NodeCommands:
    """Commands on a cluster's nodes, by name. All it needs is the cluster's
    Objects: `load` uses it on whatever nodes a cluster has, made for any settings."""

    def __init__(self, objects: Objects):
        self.objects = objects

    def run(self, node: str, argv: list[str], what: str) -> str:
        """argv on the node; its output at verbosity 2; a UserError with the last lines on failure."""
        log.log(COMMAND, "[%s] $ %s", node, " ".join(argv))
        tail: deque[str] = deque(maxlen=30)

        def line(text: str) -> None:
            tail.append(text)
            if CONSOLE.verbosity >= 2:
                CONSOLE.emit(f"    [{node}] {text}")

        result = self.objects.exec(node, argv, on_line=line)
        if result.exit_code != 0:
            if CONSOLE.verbosity < 2:
                CONSOLE.emit(f"--- last lines of {what} on {node}:")
                for text in tail:
                    CONSOLE.emit(f"    {text}")
            if result.exit_code == 124:  # timeout(1): the deadline of Objects.exec passed
                raise UserError(f"{what} on {node} did not finish in time and was stopped")
            if result.exit_code < 0:
                raise UserError(f"{what} on {node} ended, but the engine cannot tell how (no exit code)")
            raise UserError(f"{what} failed on {node} (exit {result.exit_code})")
        return result.output

    def image_ids(self, node: str) -> dict[str, str]:
        """{tag: image ID} of what containerd on the node holds."""
        listed = json.loads(self.run(node, ["crictl", "images", "-o", "json"], "listing images"))["images"]
        return {tag: image["id"] for image in listed for tag in image.get("repoTags") or []}

    def has_file(self, node: str, path: str) -> bool:
        try:
            return self.objects.exec(node, ["test", "-e", path], deadline=30).exit_code == 0
        except (EngineError, DockerException, requests.RequestException):
            return False


class Cluster(NodeCommands):
    def __init__(
        self,
        settings: Settings,
        artifacts: ArtifactSet,
        engine: Engine | None = None,
        retain: bool = False,
        reup: bool = False,
    ):
        self.engine = engine or Engine.connect()
        self.objects = Objects(self.engine, settings.cluster.name)
        self.names = Names(settings.cluster.name)
        subnet = pick_subnet(settings, self.objects)
        # The subnet this cluster really has is what its hash and addresses use.
        self.settings = dataclasses.replace(settings, dind=dataclasses.replace(settings.dind, subnet=subnet))
        self.artifacts = artifacts
        self.nodes = node_specs(self.settings)
        self.retain = retain
        # Nodes this run (re)started, and when: Ready then means Ready since,
        # not a status left in etcd from before.
        self.started: dict[str, float] = {}
        # Nodes whose kubelet alone was restarted (reup): their pods run on.
        self.kubelet_restarted: dict[str, float] = {}
        self.made = False  # made with kubeadm in this run: then it is snapshotted
        self.fresh = False  # made or restored in this run: a failure may remove it
        self.reup = reup
        self._complete = False

    @property
    def master(self) -> str:
        return self.names.master

    @property
    def workers(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.role == "worker"]

    def kubectl(self, *args: str) -> str:
        return self.run(self.master, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args], f"kubectl {args[0]}")

    @functools.cached_property
    def config(self) -> str:
        return config_hash(self.settings, self.artifacts)

    @functools.cached_property
    def base(self) -> str:
        return base_hash(self.settings, self.artifacts)

    @property
    def match(self) -> tuple[str, str]:
        """The label nodes and snapshots must carry to count as this cluster's."""
        return ("base", self.base) if self.reup else ("config", self.config)

    def labels(self, spec: NodeSpec) -> dict[str, str]:
        return self.objects.labels(
            role=spec.role,
            node=spec.name,
            config=self.config,
            base=self.base,
            kubernetes_version=self.artifacts.version,
            # What the hash covers, readably: export-logs says what the nodes were made with.
            state=json.dumps(node_state(self.settings, self.artifacts), sort_keys=True),
        )

    @functools.cached_property
    def cgroup_v1(self) -> bool:
        return self.engine.facts().cgroup_version == "1"

    # -- is it there?
    def matching_nodes(self) -> dict | None:
        """{name: container} when exactly our nodes exist, made for these settings; else None."""
        key, wanted = self.match
        containers = {c.name: c for c in self.objects.nodes()}
        if sorted(containers) != sorted(spec.name for spec in self.nodes):
            return None
        if any(c.labels.get(f"{LABEL}.{key}") != wanted for c in containers.values()):
            return None
        return containers

    def complete(self) -> bool:
        """Every node runs, made for these settings, and the cluster was finished.

        Asked before every step; once it is true nothing in the run undoes it,
        so the answer is kept (a no-op `up` asks the nodes once)."""
        if self._complete:
            return True
        try:
            containers = self.matching_nodes()
            if containers is None or any(c.status != "running" for c in containers.values()):
                return False
            self._complete = self.has_file(self.master, READY_MARKER)
            return self._complete
        except (UserError, DockerException, requests.RequestException):  # asked from uptodate: redo the step
            return False
