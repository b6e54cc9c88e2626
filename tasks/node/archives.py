"""Image archives into nodes' containerd, sent from this machine once.

An archive (an add-on's image, flannel's, the test images) goes into a
volume on the engine (the node image repository's: `kubeadm-local-cluster-
node-archives` by default; the test suite, with a repository of its own,
never writes into the user's), as a file named by its digest,
unless it is there already; a helper container there copies it into each
node's containerd volume, where the node imports it. So a remote engine
receives an add-on's 58 MB once, not once per node, and not again at the
next `up` (a tree edit does not change it). The helper checks the digest
of what arrived before it keeps it, touches what it uses and removes what
no import used for KEEP_DAYS. The volume is shared by every cluster, like
the seeds: `clean --all` removes it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from docker.errors import APIError, NotFound

from tasks import parallel
from tasks.build import oci
from tasks.engine import LABEL_ROLE, EngineError, _short

ROLE = "archive-store"
KEEP_DAYS = 7
MISSING = 3  # the helper's answer: the store has no such archive (yet)
# On the node's containerd volume: the engine's archive API cannot write into a tmpfs.
LOAD_DIR = "/var/lib/containerd/kubeadm-local-cluster-load"
LOAD_NAME = "kubeadm-local-cluster-load"  # LOAD_DIR, as the helper sees the node's volume


def import_command(archive: str) -> str:
    """The shell command that imports an image archive on a node into kubelet's
    containerd namespace; unpacked layers leave the content store (as at boot)."""
    return f"ctr -n k8s.io images import --local --discard-unpacked-layers {archive} >/dev/null"


def store_name(repository: str) -> str:
    return f"{repository.replace('/', '-')}-archives"


def copy_script(digest: str, volumes: int, root: str = "") -> str:
    """The helper's script: keep an arrived upload whose digest is right, then
    the archive into each node's volume (/n0, /n1, ...); MISSING when the store
    has none. ROOT: where /store and /n* are (the helper's /)."""
    name, partial = f"{root}/store/{digest}.tar", f"{root}/store/.{digest}.tar.partial"
    lines = [
        "set -e",
        f'if [ -f {partial} ]; then if echo "{digest}  {partial}" | sha256sum -c --status; '
        f"then mv {partial} {name}; else rm -f {partial}; fi; fi",
        f"[ -f {name} ] || exit {MISSING}",
        f"touch {name}",
    ]
    for number in range(volumes):
        target = f"{root}/n{number}/{LOAD_NAME}"
        lines.append(f"rm -rf {target} && mkdir -p {target} && cp {name} {target}/images.tar")
    lines.append(f"find {root}/store -name '*.tar' -mtime +{KEEP_DAYS} -delete")
    return "\n".join(lines)


def import_into(cluster, nodes: list[str], archive: Path, what: str) -> None:
    """ARCHIVE (a file here) into the containerd of each of NODES."""
    if not nodes:
        return
    objects, api = cluster.objects, cluster.objects.client.api
    digest = archive_digest(archive)
    store = store_name(cluster.settings.node.image_repository)
    _ensure_store(api, store)
    image = api.inspect_container(nodes[0])["Image"]  # a node's own image: always on the engine
    binds = {store: {"bind": "/store", "mode": "rw"}}
    binds.update({f"{node}-containerd": {"bind": f"/n{number}", "mode": "rw"} for number, node in enumerate(nodes)})
    host_config = objects.engine.host_config(binds=binds, network_mode="none")
    argv = ["sh", "-c", copy_script(digest, len(nodes))]
    doing = f"copy {archive.name} into the nodes' volumes"
    if objects.run_helper(image, argv, host_config, doing, answers=(MISSING,)) == MISSING:
        _upload(objects, store, image, archive, digest)
        if objects.run_helper(image, argv, host_config, doing, answers=(MISSING,)) == MISSING:
            raise EngineError(f"{archive.name} did not arrive whole in {store} on the engine: run again")
    script = f"trap 'rm -rf {LOAD_DIR}' EXIT; {import_command(f'{LOAD_DIR}/images.tar')}"
    parallel.each(lambda node: cluster.run(node, ["sh", "-ec", script], what), nodes, doing="importing into")


def archive_digest(archive: Path) -> str:
    """ARCHIVE's sha256, remembered beside it while its size and time stay
    (the test images' archive is 300 MB: a second of hashing at every run)."""
    stat = archive.stat()
    key = f"{stat.st_size} {stat.st_mtime_ns}"
    memo = archive.with_name(f".{archive.name}.sha256")
    with contextlib.suppress(OSError):
        said_key, _, digest = memo.read_text().strip().rpartition(" ")
        if said_key == key and len(digest) == 64:
            return digest
    digest = oci.sha256_file(archive)
    with contextlib.suppress(OSError):  # only a memo: without it, hashed again next time
        memo.write_text(f"{key} {digest}\n")
    return digest


def _ensure_store(api, store: str) -> None:
    try:
        labels = api.inspect_volume(store).get("Labels") or {}
    except NotFound:
        api.create_volume(store, labels={LABEL_ROLE: ROLE})
        return
    if labels.get(LABEL_ROLE) != ROLE:
        raise EngineError(f"a volume named {store} exists that is not ours ({LABEL_ROLE}={ROLE}): left as it is")


def remove_all(engine) -> list[str]:
    """`clean --all`: every store (nothing holds one after the clusters are gone)."""
    api, removed = engine.client.api, []
    for volume in api.volumes(filters={"label": f"{LABEL_ROLE}={ROLE}"}).get("Volumes") or []:
        api.remove_volume(volume["Name"])
        removed.append(f"volume {volume['Name']}")
    return removed


def _upload(objects, store: str, image: str, archive: Path, digest: str) -> None:
    """ARCHIVE into the store under a partial name, through a container that
    never starts (the archive API writes into its volume all the same)."""
    api = objects.client.api
    host_config = objects.engine.host_config(binds={store: {"bind": "/store", "mode": "rw"}}, network_mode="none")
    labels = objects.labels(role="copy")
    try:
        container = api.create_container(image, command=["true"], host_config=host_config, labels=labels)
    except APIError as err:
        raise EngineError(f"cannot send {archive.name} to the engine: {_short(str(err))}") from None
    try:
        objects.put_paths(container["Id"], "/store", {f".{digest}.tar.partial": archive})
    finally:
        api.remove_container(container["Id"], force=True)
