"""Taking clusters apart: the logs of a failed `up`, `down` and `clean`.
Everything is found by the cluster's label; nothing else is touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from tasks import export_logs, registry
from tasks.access import forwards, user_kubeconfig
from tasks.build import debian_engine, go_engine
from tasks.build import engine as engine_build
from tasks.cluster import Cluster
from tasks.console import log
from tasks.engine import LABEL_CLUSTER, LABEL_ROLE, Engine
from tasks.errors import UserError
from tasks.naming import DEFAULT_CLUSTER, Names
from tasks.node import archives as node_archives
from tasks.node import seed as node_seed
from tasks.node.containers import remove_nodes
from tasks.objects import Objects
from tasks.settings import Settings


def save_logs(cluster: Cluster) -> Path:
    """What export-logs gathers, for a failed `up`: an archive in ~/.kubeadm-local-cluster/logs/."""
    path = export_logs.default_path(cluster.settings, prefix="up-")
    return export_logs.export(cluster.objects, cluster.settings, path, deadline=60)


def _forget_kubeconfig(cluster_name: str) -> None:
    names = Names(cluster_name)
    _out_of_users_kubeconfig(cluster_name)
    forwards.stop(names)
    names.kubeconfig().unlink(missing_ok=True)
    if cluster_name != DEFAULT_CLUSTER:
        shutil.rmtree(names.state(), ignore_errors=True)


def _out_of_users_kubeconfig(cluster_name: str) -> None:
    try:
        changed = user_kubeconfig.remove(cluster_name)
    except UserError as err:  # the user's file is theirs to fix; taking the cluster apart goes on
        log.warning("%s", err)
        return
    names = Names(cluster_name)
    for path in changed:
        log.info("context %s taken out of %s", names.context, names.shown(path))


def down(settings: Settings) -> list[str]:
    """The nodes and the registry container; the snapshot and the registry's data volume stay."""
    objects = Objects(Engine.connect(), settings.cluster.name)
    removed = remove_nodes(objects)
    for container in objects.containers(role=registry.ROLE):
        objects.remove_container(container.name)
        removed.append(container.name)
    _out_of_users_kubeconfig(settings.cluster.name)
    forwards.stop(Names(settings.cluster.name))
    Names(settings.cluster.name).kubeconfig().unlink(missing_ok=True)
    return removed


def clean_cluster(objects: Objects) -> list[str]:
    """One cluster: its containers, volumes, network and snapshot, found by its label."""
    removed = [f"container {name}" for name in remove_nodes(objects)]
    for container in objects.containers():
        objects.remove_container(container.name)
        removed.append(f"container {container.name}")
    for volume in objects.volumes():
        objects.remove_volume(volume.name)
        removed.append(f"volume {volume.name}")
    for network in objects.networks():
        if objects.remove_network(network.name):
            removed.append(f"network {network.name}")
    for image in objects.images():
        objects.remove_image(image.id)
        removed.append(f"image {(image.tags or [image.short_id])[0]}")
    _forget_kubeconfig(objects.cluster)
    return removed


def clean(settings: Settings, everything: bool = False) -> list[str]:
    """This cluster; with `everything`, every cluster on the engine and the
    images every cluster shares (node images, the probe)."""
    engine = Engine.connect()
    if not everything:
        return clean_cluster(Objects(engine, settings.cluster.name))
    removed = []
    for name in cluster_names(engine):
        removed += clean_cluster(Objects(engine, name))
    removed += node_seed.remove_all(Objects(engine, ""))
    removed += node_archives.remove_all(engine)
    removed += go_engine.remove_all(engine)  # first: it holds the build cache volume
    removed += engine_build.remove_all(engine)
    removed += debian_engine.remove_all(engine)
    # Newest first: a node image the engine finished (source.buildIn engine) is
    # a child of its partial image, which the engine keeps while the child exists.
    shared = engine.client.images.list(filters={"label": LABEL_ROLE})
    for image in sorted(shared, key=lambda image: image.attrs.get("Created", ""), reverse=True):
        if LABEL_CLUSTER not in (image.labels or {}):
            Objects(engine, "").remove_image(image.id)
            removed.append(f"image {(image.tags or [image.short_id])[0]}")
    return removed


def cluster_names(engine: Engine) -> list[str]:
    """Every cluster that has an object on the engine, by label."""
    client = engine.client
    labelled = [
        *client.containers.list(all=True, filters={"label": LABEL_CLUSTER}),
        *client.volumes.list(filters={"label": LABEL_CLUSTER}),
        *client.networks.list(filters={"label": LABEL_CLUSTER}),
        *client.images.list(filters={"label": LABEL_CLUSTER}),
    ]
    names = {(getattr(obj, "labels", None) or obj.attrs.get("Labels") or {}).get(LABEL_CLUSTER) for obj in labelled}
    return sorted(name for name in names if name)
