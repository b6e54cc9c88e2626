"""The node containers: the preflight check, the network, making, restoring,
restarting and booting the nodes, and the snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import requests
from docker.errors import DockerException

from tasks import parallel, registry
from tasks.cluster import READY_MARKER, Cluster, NodeSpec, node_state
from tasks.console import COMMAND, log
from tasks.engine import LABEL_CLUSTER, LABEL_ROLE, NODE_ROLES
from tasks.errors import UserError
from tasks.naming import Names
from tasks.node import image as node_image
from tasks.node import seed as node_seed
from tasks.node import snapshot
from tasks.objects import Objects
from tasks.settings.custom import ports_of

BOOT_TIMEOUT = 180
# Short-lived containers of ours that an interrupted run may leave behind.
HELPER_ROLES = ("copy", "job")


def preflight(cluster: Cluster) -> None:
    """Before anything is built: the names this cluster needs are free or ours,
    and helpers an interrupted run left behind are gone."""
    objects = cluster.objects
    names = [spec.name for spec in cluster.nodes] + [cluster.names.e2e_runner]
    if cluster.settings.cluster.registry:
        names.append(cluster.names.registry)
        objects.check_volume_names([cluster.names.registry_volume])
    objects.check_container_names(names)
    objects.check_network(cluster.names.network)
    for container in objects.containers():
        if container.labels.get(LABEL_ROLE) in HELPER_ROLES:
            objects.remove_container(container.name)
    _warn_of_inotify(cluster)
    if objects.network_subnet(cluster.names.network) is None:
        subnet = cluster.settings.dind.subnet
        log.info("cluster %s: network %s on %s", cluster.settings.cluster.name, cluster.names.network, subnet)


# Inotify instances a node uses (kubelet, containerd, systemd, ...), measured:
# 135 for 7 nodes. The kernel's limit is per user, for the whole host.
INOTIFY_PER_NODE = 20
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")


def _warn_of_inotify(cluster: Cluster) -> None:
    """Many nodes on one host outgrow the kernel's inotify limit, and then
    kube-proxy and kubelet fail with "too many open files", long after `up`."""
    if not cluster.engine.facts().is_local:
        return  # the limit that matters is the engine host's
    try:
        limit = int(INOTIFY_LIMIT.read_text())
    except (OSError, ValueError):
        return
    running = cluster.engine.client.api.containers(filters={"label": LABEL_ROLE, "status": "running"})
    others = [
        c
        for c in running
        if (c.get("Labels") or {}).get(LABEL_ROLE) in NODE_ROLES
        and (c.get("Labels") or {}).get(LABEL_CLUSTER) != cluster.settings.cluster.name
    ]
    nodes = len({c["Id"] for c in others}) + len(cluster.nodes)
    if nodes * INOTIFY_PER_NODE > limit:
        log.warning(
            "%d nodes on this host want about %d inotify instances but fs.inotify.max_user_instances is %d: "
            "kube-proxy and kubelet may fail with 'too many open files'; raise it "
            "(sysctl -w fs.inotify.max_user_instances=512)",
            nodes,
            nodes * INOTIFY_PER_NODE,
            limit,
        )


def ensure_network(cluster: Cluster) -> None:
    cluster.objects.ensure_network(cluster.names.network, cluster.settings.dind.subnet)


def create_nodes(cluster: Cluster) -> None:
    if cluster.complete():
        return
    if restart_stopped(cluster):
        return
    remove_nodes(cluster.objects)
    image = node_image.tag(cluster.settings, cluster.artifacts)
    seed_volumes(cluster, image)
    start_nodes(cluster, lambda spec: image)
    cluster.made = True


def seed_volumes(cluster: Cluster, image: str) -> None:
    """Each node's containerd volume, a copy of its role's seed (tasks/node/seed.py)."""
    seeds = node_seed.ensure(cluster.objects, image, node_seed.roles(cluster.nodes))
    snapshot.fill_live_volumes(cluster, image, lambda spec: seeds[spec.role], "copying containerd's content to")


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
        extra = ports_of(cluster.settings.cluster.extra_port_mappings, cluster.nodes.index(spec))
        cluster.objects.create_node(
            spec.name,
            image_of(spec),
            cluster.names.network,
            spec.address,
            cluster.labels(spec),
            mode,
            publish,
            extra,
            files=registry.drop_in(),
        )
        cluster.started[spec.name] = cluster.objects.started_at(spec.name)
        wait_for_boot(cluster, spec.name)

    parallel.each(start, cluster.nodes, doing="starting")


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
            "the snapshot lacks %s (removed by hand, or never finished): it is dropped and the cluster made afresh",
            ", ".join(problems),
        )
        snapshot.remove(cluster.objects)
        return
    log.info("restoring the snapshot taken %s", found.created.replace("T", " "))
    remove_nodes(cluster.objects)
    snapshot.restore_volumes(cluster, node_image.tag(cluster.settings, cluster.artifacts))
    start_nodes(cluster, lambda spec: cluster.names.snapshot_image(spec.name))


def node_image_can_wait(cluster: Cluster) -> bool:
    """reup into nodes (or a snapshot of them) that exist: the new node image is
    only for nodes made afresh, so it waits for the next `up` (writing and
    loading it were two thirds of a reup after the build). Never when the
    engine lacks the node image altogether (the helpers run it)."""
    if not cluster.reup or not cluster.engine.has_image(node_image.tag(cluster.settings, cluster.artifacts)):
        return False
    if cluster.matching_nodes() is not None:
        return True
    found = snapshot.find(cluster.objects)
    key, wanted = cluster.match
    return found is not None and getattr(found, key) == wanted and not found.problems([s.name for s in cluster.nodes])


def take_snapshot(cluster: Cluster) -> None:
    """The cluster as kubeadm left it, Ready, saved for the next `up`. The
    cluster is complete either way: a snapshot that fails is a warning."""
    state = node_state(cluster.settings, cluster.artifacts)
    hashes = {"config": cluster.config, "base": cluster.base}
    try:
        snapshot.take(cluster, hashes, state, node_image.tag(cluster.settings, cluster.artifacts))
    except (UserError, DockerException, requests.RequestException) as err:
        log.warning("no snapshot was taken (%s): the next `up` after `down` runs kubeadm again", err)


def restart_stopped(cluster: Cluster) -> bool:
    """Nodes that exist, made for these settings, but stopped (the engine or the
    host restarted): start them again with their state, rather than make them afresh."""
    containers = cluster.matching_nodes() or {}
    if any(c.status == "paused" for c in containers.values()):
        # Left paused by a snapshot that never ended: thaw, then go on as usual.
        for name, container in containers.items():
            if container.status == "paused":
                cluster.objects.resume(name, node_image.tag(cluster.settings, cluster.artifacts), container.id)
        containers = cluster.matching_nodes() or {}
    stopped = sorted(name for name, c in containers.items() if c.status != "running")
    if not stopped:
        return False
    log.info("starting the stopped nodes %s", ", ".join(stopped))

    def start(name: str) -> None:
        cluster.objects.start_container(name)
        cluster.started[name] = cluster.objects.started_at(name)

    parallel.each(start, stopped, doing="starting")
    parallel.each(lambda spec: wait_for_boot(cluster, spec.name), cluster.nodes, doing="booting")
    if cluster.has_file(cluster.master, READY_MARKER):
        return True
    log.info("the stopped cluster was never finished: making it afresh")
    return False


def wait_for_boot(cluster: Cluster, node: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        result = cluster.objects.exec(node, ["systemctl", "is-system-running"], deadline=30)
        state = result.output.strip()
        if state in ("running", "degraded"):
            if state == "degraded":
                failed = cluster.objects.exec(node, ["systemctl", "--failed", "--no-legend", "--plain"]).output
                log.log(COMMAND, "%s booted degraded: %s", node, " ".join(failed.split()))
            return
        time.sleep(0.5)
    raise UserError(f"{node} did not finish booting within {BOOT_TIMEOUT}s (systemd says {state or 'nothing'})")


def remove_nodes(objects: Objects) -> list[str]:
    """The cluster's node containers and their containerd volumes (never the snapshot)."""
    removed = []
    for container in objects.nodes():
        objects.remove_container(container.name)
        objects.remove_volume(Names.data_volume(container.name))
        removed.append(container.name)
    return removed
