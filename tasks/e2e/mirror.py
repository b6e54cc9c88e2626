"""registry.k8s.io's test images served to the nodes during a conformance
run, by a registry of the run's own: some conformance tests pull with
`imagePullPolicy: Always` (1.37: Projected PodCertificate's agnhost,
ImageVolume's image volume), and then the kubelet asks containerd to resolve
the image at its registry even though the node holds it. Nothing can be
pulled here, so for the run the nodes' containerd reaches registry.k8s.io
through a mirror: our registry (tasks/registry.py's image) on the cluster's
network, holding the test images the nodes were given, pushed from their
archive without the engine (tasks/registry_push.py). The same image IDs as
the nodes hold: a pull finds its layers already unpacked.

The mirror's data is on a labelled volume (`clean` removes it), so the next
run pushes only what changed; the container goes after the run, and the
nodes' hosts files are put back to what the settings ask
(registry.configure_nodes). A user's own cluster.registryMirrors entry for
registry.k8s.io wins: the run then uses theirs."""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

from tasks import registry, registry_push
from tasks.access import api as api_access
from tasks.access import forwards
from tasks.console import CONSOLE, log
from tasks.errors import UserError

HOST = "registry.k8s.io"
ROLE, DATA_ROLE = "job", "e2e-mirror-data"  # `job`: a helper, removed by the next `up` if a run was killed
READY_DEADLINE = 10.0  # seconds for the registry to answer after it starts


def address(cluster) -> str:
    """Its address on the cluster's network: the one below the local registry's."""
    chosen = str(ipaddress.ip_address(registry.network_address(cluster)) - 1)
    if chosen in {spec.address for spec in cluster.nodes}:
        raise UserError(
            f"dind.subnet {cluster.settings.dind.subnet} has no address left for the test-image mirror: "
            "choose a larger one (or auto)"
        )
    return chosen


@contextlib.contextmanager
def serving(cluster, archive: Path) -> Iterator[None]:
    """During the block, every node pulls registry.k8s.io's images from a
    mirror holding ARCHIVE's images of registry.k8s.io."""
    mirrors = cluster.settings.cluster.registry_mirrors
    if HOST in mirrors:
        log.info("the nodes pull %s's images from %s (cluster.registryMirrors)", HOST, mirrors[HOST])
        yield
        return
    objects, names = cluster.objects, cluster.names
    with contextlib.suppress(UserError):
        objects.remove_container(names.e2e_mirror)  # one a killed run left
    objects.ensure_volume(names.e2e_mirror_volume, objects.labels(role=DATA_ROLE))
    publish = api_access.publish_address(objects.engine.host, cluster.settings.cluster.api_server_address)
    objects.create_service(
        names.e2e_mirror,
        registry.IMAGE,
        names.network,
        objects.labels(role=ROLE),
        address(cluster),
        {names.e2e_mirror_volume: registry.DATA_DIR},
        (publish, 0, registry.PORT),
        "",
    )
    try:
        published = _published(objects, names.e2e_mirror)
        host, port = api_access.reachable(objects, "e2e-mirror", published, required=True)
        base = f"http://{host}:{port}"
        _wait_until_answering(base)
        CONSOLE.progress(f"test images into the {HOST} mirror")
        pushed = registry_push.push_archive(base, archive, lambda tag: tag.startswith(f"{HOST}/"))
        log.info("%d test images served as %s/... to the nodes by %s", len(pushed), HOST, names.e2e_mirror)
        registry.configure_nodes(cluster, {**mirrors, HOST: f"http://{address(cluster)}:{registry.PORT}"})
        yield
    finally:
        with contextlib.suppress(UserError):
            registry.configure_nodes(cluster)  # what the settings ask, again
        forwards.stop(names, "e2e-mirror")
        objects.remove_container(names.e2e_mirror)


def _published(objects, name: str) -> tuple[str, int]:
    attrs = objects.our_container(name) or {}
    bindings = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{registry.PORT}/tcp") or []
    port = registry.host_port(attrs)
    if port is None:
        raise UserError(f"{name} is not published: the engine gave it no port")
    return bindings[0].get("HostIp") or registry.ADDRESS, port


def _wait_until_answering(base: str) -> None:
    import requests

    deadline = time.monotonic() + READY_DEADLINE
    while True:
        try:
            if requests.get(f"{base}/v2/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise UserError(f"the test-image mirror at {base} does not answer within {READY_DEADLINE:.0f}s")
        time.sleep(0.2)
