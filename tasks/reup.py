"""reup: freshly built binaries and images put into the running nodes."""

from __future__ import annotations

from pathlib import Path

from tasks import parallel
from tasks.build import engine as engine_build
from tasks.build import oci
from tasks.build.artifacts import binary_source
from tasks.cluster import Cluster, NodeSpec
from tasks.console import log
from tasks.container_io import Blob
from tasks.errors import UserError
from tasks.node import image as node_image
from tasks.node.archives import LOAD_DIR, import_command


def import_archive(cluster, node: str, archive: Path | Blob, what: str) -> None:
    """An image archive (a file of this machine, or a Blob: one the engine
    saved) into NODE's containerd, through the engine's archive API (a remote
    engine too), leaving no copy behind, even when the import fails. What an
    interrupted run left in the directory goes first. (A file that several
    nodes get goes through tasks/node/archives.py: sent once.)"""
    cluster.run(node, ["sh", "-ec", f"rm -rf {LOAD_DIR}; mkdir -p {LOAD_DIR}"], "preparing")
    cluster.objects.put_paths(node, LOAD_DIR, {"images.tar": archive})
    script = f"trap 'rm -rf {LOAD_DIR}' EXIT; {import_command(f'{LOAD_DIR}/images.tar')}"
    cluster.run(node, ["sh", "-ec", script], what)


NODE_CLOCK = "node-clock"  # the line that says the node's time before kubelet stops


def node_clock(output: str) -> float:
    """The node's time (Unix seconds) from a script's NODE_CLOCK line."""
    for line in output.splitlines():
        if line.startswith(f"{NODE_CLOCK} "):
            return float(line.split()[1])
    raise UserError(f"the node did not say its time: {output.strip()[-200:] or 'no output'}")


# What `reup` puts into running nodes: binaries by path, images by role.
SWAPPED_BINARIES = ("kubeadm", "kubelet", "kubectl")
SWAP_DIR = "/var/lib/containerd/kubeadm-local-cluster-reup"  # on the volume, not the tmpfs


def swap_binaries(cluster: Cluster) -> None:
    """reup: the freshly built kubelet, kubeadm, kubectl and images into every
    node where they differ, then what runs them restarted: kubelet, and on a
    node whose images changed, its pods (kubelet makes them again from the new
    images, the control plane's static pods included)."""
    artifacts = cluster.artifacts
    # Built on the engine (source.buildIn engine): their receipts say what they are,
    # and a helper there copies them into the nodes' volumes.
    on_engine = {
        name: engine_build.Receipt.read(engine_build.receipt_path(artifacts, name))
        for name in SWAPPED_BINARIES
        if binary_source(cluster.settings, name).kind == "engine"
    }
    binaries = {
        name: on_engine[name].sha256 if name in on_engine else oci.sha256_file(artifacts.binary(name))
        for name in SWAPPED_BINARIES
    }
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
        from_engine = [on_engine[n] for n in new_binaries if n in on_engine]
        if from_engine:
            builder = engine_build.container_name(Path(cluster.settings.source.k8s_dir))
            volume = cluster.names.data_volume(spec.name)
            engine_build.copy_into_volume(cluster.objects, builder, from_engine, volume, SWAP_DIR.rsplit("/", 1)[1])
        cluster.objects.put_paths(
            spec.name,
            SWAP_DIR,
            {n: artifacts.binary(n) for n in new_binaries if n not in on_engine}
            | {f"{n}.tar": artifacts.image(n) for n in new_images},
            mode=0o755,
        )
        script = [f"mv -f {SWAP_DIR}/{n} /usr/bin/{n}" for n in new_binaries]
        script += [import_command(f"{SWAP_DIR}/{n}.tar") for n in new_images]
        script.append(f"rm -rf {SWAP_DIR}")
        restarted = "kubelet" in new_binaries or new_images
        if restarted:
            # The node's clock, not ours: readiness compares it with what the node reports.
            script[:0] = [f'echo "{NODE_CLOCK} $(date +%s)"', "systemctl stop kubelet"]
            if new_images:
                script.append("crictl rmp --all --force >/dev/null")
            script.append("systemctl start kubelet")
        output = cluster.run(spec.name, ["sh", "-ec", "\n".join(script)], "putting in the new binaries")
        if restarted:
            moment = node_clock(output)
            cluster.kubelet_restarted[spec.name] = moment
            if new_images:
                cluster.started[spec.name] = moment
        changes[spec.name] = new_binaries + [f"{n} image" for n in new_images]

    parallel.each(swap, cluster.nodes, doing="updating")
    if not changes:
        log.info("the nodes already run these binaries and images")
    for name in sorted(changes):
        log.info("%s: new %s", name, ", ".join(changes[name]))
