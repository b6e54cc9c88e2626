"""Each fresh node's containerd volume starts as a copy of a seed instead of
being filled at the node's first boot.

The node image carries its Kubernetes images as archives; importing them into
containerd (import-images) took 3-6 s of every fresh node's boot, three nodes
at once on two cores. A seed is that import done once per node image and role
(the master's holds the control plane's images too), on a volume of its own;
a fresh node's volume is a copy of it (cp -a, as a snapshot's restore does),
and import-images finds its marker and does nothing.

Seeds belong with their node image, not with a cluster: named after the image's
repository and version, labelled with its ID (a rebuilt image makes them
again), kept by `clean`, removed by `clean --all`. A seed whose making was
cut short lacks the marker, so a node copied from it imports what is missing
at boot: slower, never wrong."""

from __future__ import annotations

import contextlib

from docker.errors import APIError, NotFound

from tasks import parallel
from tasks.console import log
from tasks.engine import LABEL, LABEL_ROLE, NODE_MODES
from tasks.errors import UserError
from tasks.objects import Objects

ROLE = "node-seed"
IMAGE_LABEL = f"{LABEL}.image"
# The node's own import, with a containerd started for it (no systemd here).
MAKE = """
mkdir -p /etc/kubeadm-local-cluster && echo {role} > /etc/kubeadm-local-cluster/role
containerd >/tmp/containerd.log 2>&1 &
/usr/local/bin/import-images || {{ tail -5 /tmp/containerd.log; exit 1; }}
kill $! && wait $! || true
"""


def volume_name(image: str, role: str) -> str:
    """kubeadm-local-cluster/node:v1.37.2 -> kubeadm-local-cluster-node-v1.37.2-seed-master."""
    repository, _, version = image.rpartition(":")
    return f"{repository.replace('/', '-')}-{version}-seed-{role}"


def roles(nodes) -> list[str]:
    return sorted({spec.role for spec in nodes})


def ensure(objects: Objects, image: str, wanted: list[str]) -> dict[str, str]:
    """{role: seed volume} for image's ID, made where missing or stale."""
    image_id = objects.engine.image_id(image)
    seeds = {role: volume_name(image, role) for role in wanted}
    stale = [role for role, name in seeds.items() if (_labels(objects, name) or {}).get(IMAGE_LABEL) != image_id]
    if stale:
        log.info("preparing containerd's content for new nodes (%s), once per node image", ", ".join(stale))
        parallel.each(lambda role: _make(objects, image, image_id, role, seeds[role]), stale, doing="seeding")
    return seeds


def _labels(objects: Objects, name: str) -> dict | None:
    """The seed's labels; None when there is none; someone else's volume of that name is a clash."""
    try:
        labels = objects.client.api.inspect_volume(name).get("Labels") or {}
    except NotFound:
        return None
    if labels.get(LABEL_ROLE) != ROLE:
        raise UserError(f"a volume named {name} exists and is not a seed of this tool: remove or rename it")
    return labels


def _make(objects: Objects, image: str, image_id: str | None, role: str, name: str) -> None:
    api = objects.client.api
    with contextlib.suppress(NotFound):
        api.remove_volume(name, force=True)
    api.create_volume(name, labels={LABEL_ROLE: ROLE, IMAGE_LABEL: image_id or "", f"{LABEL}.node-role": role})
    host_config = objects.engine.host_config(
        unmask_paths=True,
        binds={name: {"bind": "/var/lib/containerd"}},
        tmpfs={"/run": ""},
        network_mode="none",
        **NODE_MODES[objects.node_mode()],
    )
    try:
        objects.run_helper(image, ["sh", "-ec", MAKE.format(role=role)], host_config, f"prepare the {role} seed")
    except BaseException:
        with contextlib.suppress(APIError):  # half made: never used
            api.remove_volume(name, force=True)
        raise


def remove_all(objects: Objects) -> list[str]:
    """`clean --all`: every seed on the engine."""
    removed = []
    for volume in objects.client.volumes.list(filters={"label": f"{LABEL_ROLE}={ROLE}"}):
        with contextlib.suppress(APIError):  # in use by a helper right now: the next clean
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
    return removed
