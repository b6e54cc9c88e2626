"""The cluster's snapshot: its state right after setup, restored instead of
running kubeadm again.

A snapshot is, per node, an image of the node's root filesystem (certificates,
etcd's data, kubelet's state) and a copy of its containerd volume, all taken
while every node is paused, so the nodes agree with each other. Each object
carries the hash of what the cluster was made for and, readably, the state
behind that hash, so `up` can say what changed. One snapshot per cluster.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from tasks import parallel
from tasks.console import log
from tasks.engine import LABEL
from tasks.naming import Names

ROLE = "snapshot"
DATA_ROLE = "snapshot-data"
volume_name = Names.snapshot_volume
live_volume = Names.data_volume


@dataclass(frozen=True)
class Snapshot:
    config: str  # the hash of what it was made for
    base: str  # the same less the node image and patch version (what `reup` matches)
    state: dict  # the same, readable
    created: str
    images: dict[str, str]  # node -> image id
    volumes: frozenset[str]

    def problems(self, nodes: list[str]) -> list[str]:
        """What is missing for these nodes (deleted by hand, or never finished)."""
        missing = [f"image {n}" for n in nodes if n not in self.images]
        missing += [f"volume {volume_name(n)}" for n in nodes if volume_name(n) not in self.volumes]
        return missing


def find(objects) -> Snapshot | None:
    images = {}
    config, base, state, created = "", "", {}, ""
    for image in objects.images(role=ROLE):
        labels = image.labels or {}
        images[labels.get(f"{LABEL}.node", "?")] = image.id
        config = labels.get(f"{LABEL}.config", "")
        base = labels.get(f"{LABEL}.base", "")
        created = labels.get(f"{LABEL}.created", "")
        try:
            state = json.loads(labels.get(f"{LABEL}.state", "{}"))
        except ValueError:
            state = {}
    volumes = frozenset(volume.name for volume in objects.volumes(role=DATA_ROLE))
    if not images and not volumes:
        return None
    return Snapshot(config, base, state, created, images, volumes)


def changes(old: dict, new: dict) -> list[str]:
    """What differs between two states, as a user would say it."""
    said = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "node image":
            if old.get("kubernetes version") == new.get("kubernetes version"):
                said.append("the node image was rebuilt: its binaries or images changed")
            continue
        said.append(f"{key} {_show(before)} -> {_show(after)}")
    return said or ["its format (made by another release of this tool)"]


def _show(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def remove(objects) -> list[str]:
    removed = []
    for image in objects.images(role=ROLE):
        objects.remove_image(image.id)
        removed.append(f"image {(image.tags or [image.short_id])[0]}")
    for volume in objects.volumes(role=DATA_ROLE):
        objects.remove_volume(volume.name)
        removed.append(f"volume {volume.name}")
    return removed


def take(cluster, hashes: dict[str, str], state: dict, data_image: str) -> None:
    """Snapshot the running cluster, replacing any older snapshot.

    Every node is paused for the whole of it, so etcd on the master and the
    kubelets on the workers are saved at the same moment; a failure (or
    Ctrl-C) removes what was made and always unpauses, thawing a node whose
    unpause hangs (see Objects.resume). A node's image is committed only
    after its volume was copied to the end: a snapshot without an image for
    every node is never restored, so a half-copied volume is never used."""
    objects = cluster.objects
    names = [spec.name for spec in cluster.nodes]
    # IDs now: a wedged engine may not even say them later (see Objects.resume).
    ids = {container.name: container.id for container in objects.nodes()}
    remove(objects)
    created = datetime.datetime.now().isoformat(timespec="seconds")
    labels = objects.labels(**hashes, created=created, state=json.dumps(state, sort_keys=True))

    def save(name: str) -> None:
        objects.copy_volume(
            live_volume(name),
            volume_name(name),
            data_image,
            {**labels, f"{LABEL}.role": DATA_ROLE, f"{LABEL}.node": name},
        )
        objects.commit(
            name,
            cluster.names.snapshot_image(name),
            {**labels, f"{LABEL}.role": ROLE, f"{LABEL}.node": name},
        )

    try:
        for name in names:
            objects.pause(name)
        parallel.each(save, names, doing="saving")
    except BaseException:
        try:
            remove(objects)
        finally:
            _resume(objects, ids, data_image)
        raise
    _resume(objects, ids, data_image)


def restore_volumes(cluster, data_image: str) -> None:
    """Each node's containerd volume, as it was when the snapshot was taken."""
    fill_live_volumes(cluster, data_image, lambda spec: volume_name(spec.name), "copying the volumes of")
    log.debug("restored the containerd volumes of %s", ", ".join(s.name for s in cluster.nodes))


def fill_live_volumes(cluster, image: str, source_of, doing: str) -> None:
    """Each node's containerd volume made afresh as a copy of source_of(spec)
    (a snapshot's volume, or a seed), by helpers of IMAGE, all at once."""
    objects = cluster.objects

    def copy(spec) -> None:
        labels = {**cluster.labels(spec), f"{LABEL}.role": "node-data"}
        objects.copy_volume(source_of(spec), live_volume(spec.name), image, labels)

    parallel.each(copy, cluster.nodes, doing=doing)


def _resume(objects, ids: dict[str, str], helper_image: str) -> None:
    for name, container_id in ids.items():
        objects.resume(name, helper_image, container_id)
