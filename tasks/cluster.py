"""The cluster in node terms: nodes, kubeadm init and join, the pod network,
the kubeconfig, and waiting until everything is Ready.

State lives with the engine and on the nodes, never in a memory of ours:
node containers carry the hash of what they were made for, and the master
carries a marker once the cluster was complete. A cluster that is missing,
made for other settings, or left half-made (say by Ctrl-C) is made afresh.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from string import Template

import requests
from docker.errors import DockerException

from tasks import node_image, oci, snapshot
from tasks.artifacts import ArtifactSet
from tasks.console import COMMAND, CONSOLE, log
from tasks.engine import LABEL, Engine, EngineError, Objects
from tasks.errors import UserError
from tasks.paths import CONFIG_DIR, logs_dir, replacing, state_dir
from tasks.settings import Settings
from tasks.versions import Version

MASTER = "kube-master"
POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/12"
KUBEADM_DIR = "/etc/kubeadm-local-cluster"
READY_MARKER = f"{KUBEADM_DIR}/ready"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
BOOT_TIMEOUT = 180
READY_TIMEOUT = 300
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
)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str  # "master" or "worker"
    address: str


def node_specs(settings: Settings) -> list[NodeSpec]:
    """kube-master, kube-node-1, ... at fixed addresses: .1 is the gateway, the master .2."""
    base = ipaddress.ip_network(settings.dind.subnet).network_address
    specs = [NodeSpec(MASTER, "master", str(base + 2))]
    specs += [NodeSpec(f"kube-node-{i}", "worker", str(base + 2 + i)) for i in range(1, settings.cluster.num_nodes + 1)]
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


class Cluster:
    def __init__(
        self,
        settings: Settings,
        artifacts: ArtifactSet,
        engine: Engine | None = None,
        retain: bool = False,
        reup: bool = False,
    ):
        self.settings = settings
        self.artifacts = artifacts
        self.engine = engine or Engine.connect()
        self.objects = Objects(self.engine, settings.cluster.name)
        self.nodes = node_specs(settings)
        self.retain = retain
        # Nodes this run (re)started, and when: Ready then means Ready since,
        # not a status left in etcd from before.
        self.started: dict[str, float] = {}
        # Nodes whose kubelet alone was restarted (reup): their pods run on.
        self.kubelet_restarted: dict[str, float] = {}
        self.made = False  # made with kubeadm in this run: then it is snapshotted
        self.fresh = False  # made or restored in this run: a failure may remove it
        self.reup = reup

    @property
    def workers(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.role == "worker"]

    # -- commands on nodes
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
            raise UserError(f"{what} failed on {node} (exit {result.exit_code})")
        return result.output

    def kubectl(self, *args: str) -> str:
        return self.run(MASTER, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args], f"kubectl {args[0]}")

    def image_ids(self, node: str) -> dict[str, str]:
        """{tag: image ID} of what containerd on the node holds."""
        listed = json.loads(self.run(node, ["crictl", "images", "-o", "json"], "listing images"))["images"]
        return {tag: image["id"] for image in listed for tag in image.get("repoTags") or []}

    def has_file(self, node: str, path: str) -> bool:
        try:
            return self.objects.exec(node, ["test", "-e", path]).exit_code == 0
        except DockerException:
            return False

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
        )

    @functools.cached_property
    def cgroup_v1(self) -> bool:
        return self.engine.facts().cgroup_version == "1"

    # -- is it there?
    def matching_nodes(self) -> dict | None:
        """{name: container} when exactly our nodes exist, made for these settings; else None."""
        key, wanted = self.match
        containers = {c.name: c for c in self.objects.containers()}
        if sorted(containers) != sorted(spec.name for spec in self.nodes):
            return None
        if any(c.labels.get(f"{LABEL}.{key}") != wanted for c in containers.values()):
            return None
        return containers

    def complete(self) -> bool:
        """Every node runs, made for these settings, and the cluster was finished."""
        try:
            containers = self.matching_nodes()
            if containers is None or any(c.status != "running" for c in containers.values()):
                return False
            return self.has_file(MASTER, READY_MARKER)
        except (UserError, DockerException):  # asked from uptodate: never abort the run, redo the step
            return False


# ---------------------------------------------------------------- steps


def ensure_network(cluster: Cluster) -> None:
    cluster.objects.ensure_network(cluster.settings.network_name, cluster.settings.dind.subnet)


def create_nodes(cluster: Cluster) -> None:
    if cluster.settings.cluster.cni_plugin != "bridge":
        raise UserError(f"cluster.cniPlugin {cluster.settings.cluster.cni_plugin} is not built yet: only bridge works")
    if cluster.complete():
        return
    if restart_stopped(cluster):
        return
    remove_nodes(cluster.objects)
    if Version.parse(cluster.artifacts.version) >= Version(1, 36, 0):
        # containerd's own support table: Kubernetes 1.36 wants 2.2+; Debian has 2.1.
        log.warning(
            "Kubernetes %s is newer than the nodes' containerd 2.1 is supported for (2.2+ wanted); "
            "it came up in our tests, but use v1.35 or older for a supported pair",
            cluster.artifacts.version,
        )
    start_nodes(cluster, lambda spec: node_image.tag(cluster.artifacts))
    cluster.made = True


def start_nodes(cluster: Cluster, image_of) -> None:
    """A container per node from image_of(spec), booted."""
    mode = cluster.objects.node_mode()
    if mode != "privileged":
        log.info("--privileged is refused here: nodes run in %s mode", mode)
    address = cluster.settings.cluster.api_server_address
    port = cluster.settings.cluster.api_server_port
    cluster.fresh = True

    def start(spec: NodeSpec) -> None:
        publish = (address, port or None) if spec.role == "master" else None
        cluster.started[spec.name] = time.time()
        cluster.objects.create_node(
            spec.name, image_of(spec), cluster.settings.network_name, spec.address, cluster.labels(spec), mode, publish
        )
        wait_for_boot(cluster, spec.name)

    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        for future in [pool.submit(start, spec) for spec in cluster.nodes]:
            future.result()


def restore_snapshot(cluster: Cluster) -> None:
    """The snapshot made for these settings, restored instead of running kubeadm;
    one made for other settings is said to be replaced, and why."""
    if cluster.matching_nodes() is not None:
        return  # the nodes exist, running or stopped: the next step starts them
    found = snapshot.find(cluster.objects)
    if found is None:
        log.info("no snapshot yet: the cluster is made with kubeadm and snapshotted once Ready")
        return
    key, wanted = cluster.match
    if getattr(found, key) != wanted:
        said = "; ".join(snapshot.changes(found.state, node_state(cluster.settings, cluster.artifacts)))
        log.info("the snapshot is for other settings (%s): the cluster is made afresh and snapshotted again", said)
        return
    problems = found.problems([spec.name for spec in cluster.nodes])
    if problems:
        log.warning(
            "the snapshot lacks %s (removed by hand?): it is dropped and the cluster made afresh", ", ".join(problems)
        )
        snapshot.remove(cluster.objects)
        return
    log.info("restoring the snapshot taken %s", found.created.replace("T", " "))
    remove_nodes(cluster.objects)
    snapshot.restore_volumes(cluster, node_image.tag(cluster.artifacts))
    start_nodes(cluster, lambda spec: snapshot.image_ref(cluster.settings.cluster.name, spec.name))


def take_snapshot(cluster: Cluster) -> None:
    """The cluster as kubeadm left it, Ready, saved for the next `up`."""
    state = node_state(cluster.settings, cluster.artifacts)
    snapshot.take(cluster, {"config": cluster.config, "base": cluster.base}, state, node_image.tag(cluster.artifacts))


def import_command(archive: str) -> str:
    """The shell command that imports an image archive on a node into kubelet's
    containerd namespace; unpacked layers leave the content store (as at boot)."""
    return f"ctr -n k8s.io images import --local --discard-unpacked-layers {archive} >/dev/null"


# What `reup` puts into running nodes: binaries by path, images by role.
SWAPPED_BINARIES = ("kubeadm", "kubelet", "kubectl")
SWAP_DIR = "/var/lib/containerd/kubeadm-local-cluster-reup"  # on the volume, not the tmpfs


def swap_binaries(cluster: Cluster) -> None:
    """reup: the freshly built kubelet, kubeadm, kubectl and images into every
    node where they differ, then what runs them restarted: kubelet, and on a
    node whose images changed, its pods (kubelet makes them again from the new
    images, the control plane's static pods included)."""
    artifacts = cluster.artifacts
    binaries = {name: oci.sha256_file(artifacts.binary(name)) for name in SWAPPED_BINARIES}
    refs = artifacts.images()
    images = {name: oci.read_image_id(artifacts.image(name)) for name in refs}
    changes: dict[str, list[str]] = {}

    def swap(spec: NodeSpec) -> None:
        sums = cluster.run(spec.name, ["sha256sum", *(f"/usr/bin/{n}" for n in binaries)], "reading the binaries")
        have = {line.split()[1].rsplit("/", 1)[-1]: line.split()[0] for line in sums.splitlines() if line.strip()}
        new_binaries = [name for name, digest in binaries.items() if have.get(name) != digest]
        ids = cluster.image_ids(spec.name)
        wanted = [n for n in images if spec.role == "master" or n not in node_image.MASTER_ONLY_IMAGES]
        new_images = [n for n in wanted if ids.get(refs[n]) != images[n]]
        if not new_binaries and not new_images:
            return
        cluster.run(spec.name, ["mkdir", "-p", SWAP_DIR], "preparing")
        cluster.objects.put_paths(
            spec.name,
            SWAP_DIR,
            {n: artifacts.binary(n) for n in new_binaries} | {f"{n}.tar": artifacts.image(n) for n in new_images},
            mode=0o755,
        )
        script = [f"mv -f {SWAP_DIR}/{n} /usr/bin/{n}" for n in new_binaries]
        script += [import_command(f"{SWAP_DIR}/{n}.tar") for n in new_images]
        script.append(f"rm -rf {SWAP_DIR}")
        if "kubelet" in new_binaries or new_images:
            script.insert(0, "systemctl stop kubelet")
            if new_images:
                script.append("crictl rmp --all --force >/dev/null")
                cluster.started[spec.name] = time.time()
            script.append("systemctl start kubelet")
            cluster.kubelet_restarted[spec.name] = time.time()
        cluster.run(spec.name, ["sh", "-ec", "\n".join(script)], "putting in the new binaries")
        changes[spec.name] = new_binaries + [f"{n} image" for n in new_images]

    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        for future in [pool.submit(swap, spec) for spec in cluster.nodes]:
            future.result()
    if not changes:
        log.info("the nodes already run these binaries and images")
    for name in sorted(changes):
        log.info("%s: new %s", name, ", ".join(changes[name]))


def restart_stopped(cluster: Cluster) -> bool:
    """Nodes that exist, made for these settings, but stopped (the engine or the
    host restarted): start them again with their state, rather than make them afresh."""
    containers = cluster.matching_nodes() or {}
    stopped = sorted(name for name, c in containers.items() if c.status != "running")
    if not stopped:
        return False
    log.info("starting the stopped nodes %s", ", ".join(stopped))
    for name in stopped:
        cluster.started[name] = time.time()
        cluster.objects.start_container(name)
    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        list(pool.map(lambda spec: wait_for_boot(cluster, spec.name), cluster.nodes))
    if cluster.has_file(MASTER, READY_MARKER):
        return True
    log.info("the stopped cluster was never finished: making it afresh")
    return False


def wait_for_boot(cluster: Cluster, node: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        result = cluster.objects.exec(node, ["systemctl", "is-system-running"])
        state = result.output.strip()
        if state in ("running", "degraded"):
            if state == "degraded":
                failed = cluster.objects.exec(node, ["systemctl", "--failed", "--no-legend", "--plain"]).output
                log.log(COMMAND, "%s booted degraded: %s", node, " ".join(failed.split()))
            return
        time.sleep(0.5)
    raise UserError(f"{node} did not finish booting within {BOOT_TIMEOUT}s (systemd says {state or 'nothing'})")


def _ignored_preflight(cluster: Cluster) -> str:
    # cgroup v1 hosts: kubeadm 1.35+ fails SystemVerification on them; only there is it ignored.
    return '["SystemVerification"]' if cluster.cgroup_v1 else "[]"


def kubeadm_init(cluster: Cluster) -> None:
    settings = cluster.settings
    master = cluster.nodes[0]
    token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    untainted = settings.cluster.num_nodes == 0 or settings.cluster.no_dedicated
    sans = ["127.0.0.1", "localhost", MASTER, master.address]
    if settings.cluster.api_server_address not in (*sans, "0.0.0.0"):
        sans.append(settings.cluster.api_server_address)
    text = Template((CONFIG_DIR / "kubeadm-init.yaml").read_text()).substitute(
        token=token,
        master_address=master.address,
        master_taints="[]" if untainted else "null",
        ignore_preflight_errors=_ignored_preflight(cluster),
        version=cluster.artifacts.version,
        cluster_name=settings.cluster.name,
        pod_subnet=POD_SUBNET,
        service_subnet=SERVICE_SUBNET,
        cert_sans=json.dumps(sans),
        fail_cgroup_v1="false" if cluster.cgroup_v1 else "true",
    )
    # The token lives only on the master (0600), never in logs or our state.
    cluster.objects.put_files(MASTER, KUBEADM_DIR, {"kubeadm.yaml": text.encode(), "token": token.encode()}, mode=0o600)
    verbosity = ["--v=2"] if CONSOLE.verbosity >= 3 else []
    cluster.run(
        MASTER,
        ["kubeadm", "init", f"--config={KUBEADM_DIR}/kubeadm.yaml", "--skip-token-print", *verbosity],
        "kubeadm init",
    )


def kubeadm_join(cluster: Cluster) -> None:
    if not cluster.workers:
        return
    token = cluster.objects.get_file(MASTER, f"{KUBEADM_DIR}/token").decode().strip()
    template = Template((CONFIG_DIR / "kubeadm-join.yaml").read_text())
    ignored = _ignored_preflight(cluster)

    def join(spec: NodeSpec) -> None:
        text = template.substitute(
            token=token, node_name=spec.name, node_address=spec.address, ignore_preflight_errors=ignored
        )
        cluster.objects.put_files(spec.name, KUBEADM_DIR, {"kubeadm-join.yaml": text.encode()}, mode=0o600)
        cluster.run(spec.name, ["kubeadm", "join", f"--config={KUBEADM_DIR}/kubeadm-join.yaml"], "kubeadm join")

    with ThreadPoolExecutor(max_workers=len(cluster.workers)) as pool:
        for future in [pool.submit(join, spec) for spec in cluster.workers]:
            future.result()


def pod_network(cluster: Cluster) -> None:
    """Bridge CNI: each node's pods on a bridge in its podCIDR, routes to the
    other nodes' podCIDRs through their addresses, masquerade when leaving."""
    cidrs = pod_cidrs(cluster)
    for spec in cluster.nodes:
        routes = " ".join(f"{cidrs[o.name]}@{o.address}" for o in cluster.nodes if o.name != spec.name)
        env = (
            f"POD_CIDR={cidrs[spec.name]}\nCLUSTER_CIDR={POD_SUBNET}\nSERVICE_CIDR={SERVICE_SUBNET}\n"
            f"ROUTES='{routes}'\n"
        )
        cluster.objects.put_files(spec.name, KUBEADM_DIR, {"cni.env": env.encode()})
        cluster.run(spec.name, ["systemctl", "restart", "cni-setup.service"], "setting up the pod network")


def pod_cidrs(cluster: Cluster) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while True:
        nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
        cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in nodes}
        if all(cidrs.get(spec.name) for spec in cluster.nodes):
            return cidrs
        if time.monotonic() > deadline:
            missing = [s.name for s in cluster.nodes if not cidrs.get(s.name)]
            raise UserError(f"no pod network range was given to {', '.join(missing)} within 120s")
        time.sleep(1)


def _try_json(cluster: Cluster, *args: str) -> dict | None:
    """kubectl ... -o json, or None while the API server does not answer (yet)."""
    result = cluster.objects.exec(MASTER, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args, "-o", "json"])
    if result.exit_code != 0:
        return None
    try:
        return json.loads(result.output)
    except ValueError:
        return None


def apply_addons(cluster: Cluster) -> None:
    """cluster.addons: manifest files and URLs are applied with kubectl; named
    add-ons need images this project does not build yet, and say so."""
    for entry in cluster.settings.cluster.addons:
        if "://" in entry:
            try:
                response = requests.get(entry, timeout=(10, 60))
                response.raise_for_status()
            except requests.RequestException as err:
                raise UserError(f"cannot download the addon {entry}: {err}") from None
            manifest, name = response.content, entry.rsplit("/", 1)[-1] or "addon.yaml"
        elif "/" in entry:
            manifest, name = Path(entry).read_bytes(), Path(entry).name
        else:
            log.warning("addon %s is not built yet (its images cannot be had without a registry): skipped", entry)
            continue
        cluster.objects.put_files(MASTER, KUBEADM_DIR, {f"addon-{name}": manifest})
        cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/addon-{name}")
        log.info("addon %s applied", entry)


def _fresh(timestamp: str | None, since: float | None) -> bool:
    """Was this API timestamp (RFC 3339, whole seconds) written at or after since?"""
    if since is None:
        return True
    if not timestamp:
        return False
    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    return moment >= int(since)


def _node_ready(node: dict, heartbeats: dict[str, float]) -> bool:
    since = heartbeats.get(node["metadata"]["name"])
    return any(
        c["type"] == "Ready" and c["status"] == "True" and _fresh(c.get("lastHeartbeatTime"), since)
        for c in node["status"]["conditions"]
    )


def _pod_ready(pod: dict, started: dict[str, float]) -> bool:
    since = started.get(pod.get("spec", {}).get("nodeName", ""))
    status = pod.get("status", {})
    moments = [c.get("state", {}).get("running", {}).get("startedAt") for c in status.get("containerStatuses", [])]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])) and all(
        _fresh(moment, since) for moment in moments or [None]
    )


def wait_ready(cluster: Cluster) -> None:
    """Every node Ready and CoreDNS Ready. After the nodes were (re)started in
    this run, only a status reported since counts: etcd still holds the old one."""
    started, heartbeats = cluster.started, {**cluster.kubelet_restarted, **cluster.started}
    deadline = time.monotonic() + READY_TIMEOUT
    not_ready: list[str] = [spec.name for spec in cluster.nodes]
    while time.monotonic() < deadline:
        listed = _try_json(cluster, "get", "nodes")
        if listed is not None:
            ready = {n["metadata"]["name"] for n in listed["items"] if _node_ready(n, heartbeats)}
            not_ready = [spec.name for spec in cluster.nodes if spec.name not in ready]
            if not not_ready:
                break
        time.sleep(1)
    else:
        journal = cluster.objects.exec(not_ready[0], ["journalctl", "-u", "kubelet", "-n", "15", "--no-pager"])
        for text in journal.output.splitlines():
            CONSOLE.emit(f"    [{not_ready[0]}] {text}")
        raise UserError(f"{', '.join(not_ready)} not Ready within {READY_TIMEOUT}s (kubelet's last lines above)")
    # CoreDNS: its pods may not even exist yet right after the nodes turn Ready.
    while True:
        listed = _try_json(cluster, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns")
        pods = (listed or {}).get("items", [])
        # One Ready replica answers the cluster's DNS; the other's readiness
        # probe may not come round for another 10 s.
        if any(_pod_ready(p, started) for p in pods):
            break
        if time.monotonic() > deadline:
            states = ", ".join(f"{p['metadata']['name']} {p.get('status', {}).get('phase', '?')}" for p in pods)
            raise UserError(f"CoreDNS not Ready within {READY_TIMEOUT}s ({states or 'no pods'})")
        time.sleep(1)
    cluster.objects.put_files(MASTER, KUBEADM_DIR, {"ready": datetime.datetime.now().isoformat().encode()})


def write_kubeconfig(cluster: Cluster) -> None:
    """admin.conf (0600) pointing at the published API server, and kubectl of the cluster's version."""
    address, port = cluster.objects.published_port(MASTER)
    client_address = "127.0.0.1" if address in ("", "0.0.0.0") else address
    text = cluster.objects.get_file(MASTER, ADMIN_CONF).decode()
    text = text.replace("server: https://kube-master:6443", f"server: https://{client_address}:{port}")
    with replacing(state_dir() / "admin.conf") as partial:
        # Created 0600: the credentials are never readable by others, not even briefly.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
        os.chmod(partial, 0o600)
    with replacing(state_dir() / "kubectl") as partial:
        shutil.copyfile(cluster.artifacts.binary("kubectl"), partial)
        partial.chmod(0o755)


# ---------------------------------------------------------------- failure, down, clean


def save_logs(cluster: Cluster) -> Path:
    """Each node's journal (kubelet, containerd) and boot output, for a failed `up`."""
    directory = logs_dir() / f"up-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    directory.mkdir(parents=True, exist_ok=True)
    for container in cluster.objects.containers():
        parts = []
        try:
            parts.append(container.logs(tail=200).decode(errors="replace"))
            if container.status == "running":
                journal = cluster.objects.exec(
                    container.name,
                    [
                        "journalctl",
                        "--no-pager",
                        "-n",
                        "2000",
                        "-u",
                        "kubelet",
                        "-u",
                        "containerd",
                        "-u",
                        "import-images",
                        "-u",
                        "cni-setup",
                    ],
                )
                parts.append(journal.output)
        except Exception as err:  # logs are best effort: the failure itself matters more
            parts.append(f"(could not read logs: {err})")
        (directory / f"{container.name}.log").write_text("\n".join(parts))
    return directory


def remove_nodes(objects: Objects) -> list[str]:
    removed = []
    for container in objects.containers():
        if container.labels.get(f"{LABEL}.role") in ("master", "worker"):
            objects.remove_container(container.name)
            objects.remove_volume(f"{container.name}-containerd")
            removed.append(container.name)
    return removed


def down(settings: Settings) -> list[str]:
    objects = Objects(Engine.connect(), settings.cluster.name)
    removed = remove_nodes(objects)
    (state_dir() / "admin.conf").unlink(missing_ok=True)
    return removed


def clean(settings: Settings) -> list[str]:
    """Everything the tool made in the engine for this cluster, found by label."""
    engine = Engine.connect()
    objects = Objects(engine, settings.cluster.name)
    removed = [f"container {name}" for name in remove_nodes(objects)]
    for container in objects.containers():
        objects.remove_container(container.name)
        removed.append(f"container {container.name}")
    for volume in objects.volumes():
        objects.remove_volume(volume.name)
        removed.append(f"volume {volume.name}")
    for network in objects.networks():
        try:
            network.remove()
            removed.append(f"network {network.name}")
        except Exception as err:
            raise EngineError(f"cannot remove network {network.name}: {err}") from None
    for image in engine.client.images.list(filters={"label": f"{LABEL}.role"}):
        engine.client.images.remove(image.id, force=True)
        removed.append(f"image {(image.tags or [image.short_id])[0]}")
    (state_dir() / "admin.conf").unlink(missing_ok=True)
    return removed
