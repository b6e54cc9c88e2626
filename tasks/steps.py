"""The steps of `up` (node image, network, registry, nodes, registries on the
nodes, kubeadm, pod network, add-ons, Ready, snapshot, kubeconfig) and the
commands that run them: up and reup. The other commands on clusters (down,
clean, clusters, ...) are in tasks.cluster_commands."""

from __future__ import annotations

import requests
from docker.errors import DockerException
from doit.tools import config_changed

from tasks import addons, context, podnet, registry, reup
from tasks.access import kubeconfig, user_kubeconfig
from tasks.build import artifacts as art
from tasks.build import containerd, helm
from tasks.console import CONSOLE, log
from tasks.errors import UserError
from tasks.naming import Names
from tasks.node import containers as nodes
from tasks.node import image as node_image
from tasks.node import image_engine, kubeadm, readiness
from tasks.taskkit import (
    artifact_set,
    cluster_step,
    command,
    complete,
    needed_by_artifacts,
    recipe,
    run_cluster,
    step,
)


@needed_by_artifacts
def task_node_base(artifacts: art.ArtifactSet):
    """the Debian base of the node image: systemd, containerd, runc, CNI plugins"""
    settings = context.settings()
    suite = node_image.base_suite(settings)
    yield {
        "basename": "node-base",
        "actions": [(step(node_image.build_base), [settings])],
        "file_dep": [str(p) for p in node_image.base_inputs()],
        "targets": [str(node_image.base_path(suite))],
        "uptodate": [
            config_changed(
                recipe(
                    suite=suite,
                    packages=node_image.base_packages(suite),
                    mirror=settings.node.debian_mirror,
                    node=node_image.RECIPE,
                )
            )
        ],
        "meta": {"title": f"node base (Debian {suite})"},
    }


@needed_by_artifacts
def task_node_image(artifacts: art.ArtifactSet):
    """the node image: the base plus this version's binaries and preloaded images"""
    settings = context.settings()
    runtime = containerd.for_kubernetes(artifacts.version)
    on_engine = node_image.engine_binaries(settings)
    described = node_image.described_path(artifacts, partial=bool(on_engine))
    yield {
        "basename": "node-image",
        "actions": [(step(_build_node_image), [settings, artifacts])],
        "task_dep": ["artifacts"],
        "file_dep": [
            str(node_image.base_path(node_image.base_suite(settings))),
            str(node_image.NODE_DIR / "containerd.toml"),
            *(str(path) for path in node_image.runtime_inputs(artifacts)),
            *(str(artifacts.binary(name)) for name in node_image.NODE_BINARIES if name not in on_engine),
            *(str(artifacts.image(name)) for name in art.IMAGE_BINARIES),
        ],
        # Not the archive: it goes once the engine has the image (below).
        "targets": [str(described)],
        "uptodate": [
            # on_engine only when there are some: the state of every other node image stays as it was
            config_changed(
                recipe(
                    node=node_image.RECIPE,
                    tag=node_image.tag(settings, artifacts),
                    **({"on_engine": on_engine} if on_engine else {}),
                )
            )
        ],
        "meta": {
            "title": f"node image for Kubernetes {artifacts.version}"
            + (f" (containerd {runtime.containerd_version})" if runtime.built else "")
            + (f" (without {', '.join(on_engine)}: the engine adds them)" if on_engine else "")
        },
    }
    yield {
        "basename": "node-image-load",
        "doc": "the node image in the engine",
        "actions": [(step(_load_node_image), [settings, artifacts])],
        "task_dep": ["node-image"],
        "uptodate": [lambda: node_image.loaded(settings, artifacts, partial=bool(on_engine))],
        "meta": {"title": "node image into the engine"},
    }
    # source.buildIn engine: the engine puts its binaries into the image (always
    # yielded, so the steps after it have one name to wait for).
    yield {
        "basename": "node-image-engine",
        "doc": "the node image finished on the engine with the binaries built there",
        "actions": [(step(_finish_node_image), [settings, artifacts])] if on_engine else None,
        "task_dep": ["node-image-load"],
        # No file_dep: a reup whose node image waits removes the partial image's description.
        "targets": [str(node_image.described_path(artifacts))] if on_engine else [],
        "uptodate": [lambda: image_engine.finished(settings, artifacts)] if on_engine else [],
        "meta": {"title": f"node image finished on the engine ({', '.join(on_engine)} from its build)"}
        if on_engine
        else {},
    }


def node_image_waits() -> bool:
    run = context.current()
    if "node image waits" not in run.cache:
        try:
            run.cache["node image waits"] = run.reup and nodes.node_image_can_wait(run_cluster())
        except (UserError, DockerException, requests.RequestException):  # made as usual; the step says why
            run.cache["node image waits"] = False
    return run.cache["node image waits"]


def _build_node_image(settings, artifacts: art.ArtifactSet) -> None:
    if node_image_waits():
        # Stale now: gone, so the next `up` makes it (doit runs a step whose target is missing).
        for target in (
            node_image.archive_path(artifacts),
            node_image.described_path(artifacts),
            node_image.described_path(artifacts, partial=True),
        ):
            target.unlink(missing_ok=True)
        log.info("the node image is made at the next `up`: reup puts the new binaries into the nodes")
        return
    node_image.build_archive(settings, artifacts)


def _load_node_image(settings, artifacts: art.ArtifactSet) -> None:
    if node_image_waits():
        return
    archive = node_image.archive_path(artifacts)
    if not archive.exists():
        # Removed after an earlier load; this engine lacks the image (another
        # engine, or it was removed): the same parts make the same archive.
        node_image.build_archive(settings, artifacts)
    node_image.load(settings, artifacts)
    # The engine holds the image now: a second copy here would be a GB a version.
    archive.unlink(missing_ok=True)


def _finish_node_image(settings, artifacts: art.ArtifactSet) -> None:
    if not node_image_waits():
        image_engine.finish(settings, artifacts)


def _cluster_task(basename: str, title: str, function, after: str, always: bool = False) -> dict:
    """A step of `up`; its doc is the creator's docstring. Skipped while the
    cluster is complete, unless `always` (cheap steps whose answer can change)."""
    return {
        "basename": basename,
        "actions": [cluster_step(function)],
        "task_dep": [after],
        "uptodate": [False] if always else [complete],
        "meta": {"title": title},
    }


def task_pod_network_images():
    """what the pod network runs, built here (flannel: flanneld, its CNI plugin, its image)"""
    built = podnet.get(context.settings().cluster.cni_plugin).tasks()
    basenames = list(dict.fromkeys(task["basename"] for task in built))  # before doit takes the dicts apart
    yield from built
    yield {"basename": "pod-network-images", "actions": None, "task_dep": basenames}


def task_addon_images():
    """what cluster.addons run, built here or fetched (named add-ons' images, manifest URLs)"""
    made = addons.task_dicts(context.settings().cluster.addons)
    basenames = list(dict.fromkeys(task["basename"] for task in made))  # before doit takes the dicts apart
    yield from made
    yield {"basename": "addon-images", "actions": None, "task_dep": basenames}


def task_registry_images():
    """with cluster.registry: the registry, its image, loaded into the engine"""
    built = registry.task_dicts()
    # Always defined (e2e's test-image mirror runs the same image); made for
    # `up` only with cluster.registry.
    basenames = list(dict.fromkeys(task["basename"] for task in built))
    yield from built
    wanted = basenames if context.settings().cluster.registry else []
    yield {"basename": "registry-images", "actions": None, "task_dep": wanted}


def task_network():
    """the nodes' Docker network on dind.subnet"""
    title = f"network {Names(context.settings().cluster.name).network}"
    task = _cluster_task("network", title, nodes.ensure_network, "node-image-engine")
    # Built or fetched before any node starts: a failure leaves nothing half-made.
    task["task_dep"] += ["pod-network-images", "addon-images", "registry-images"]
    return task


def task_registry():
    """cluster.registry: the registry container on the cluster's network (started again at each `up`)"""
    settings = context.settings().cluster
    title = (
        f"registry on {registry.ADDRESS}:{settings.registry_port or 'a free port'}"
        if settings.registry
        else "no registry"
    )
    # Always asked: it stops with the engine, and `down` removes it. Before
    # the nodes, so that a port in use fails before anything else is made.
    task = _cluster_task("registry", title, registry.ensure, "network", always=True)
    # Without a registry there is nothing to say (removing one left from
    # before is logged), so no status line; a failure still shows.
    task["meta"]["status"] = settings.registry
    return task


def task_restore():
    """the cluster from its snapshot, when one was made for these settings"""
    return _cluster_task("restore", "snapshot lookup", nodes.restore_snapshot, "registry")


def task_nodes():
    """the node containers, booted (made afresh when missing, changed or half-made)"""
    count = context.settings().cluster.num_nodes
    return _cluster_task("nodes", f"start {count + 1} node{'s' if count else ''}", nodes.create_nodes, "restore")


def task_node_registries():
    """containerd's hosts files on every node: the local registry and cluster.registryMirrors"""
    # Always written (cheap): the settings are not in the nodes' hash, and a
    # restored snapshot holds the files of the settings it was taken with.
    settings = context.settings().cluster
    title = "registries on the nodes"
    task = _cluster_task("node-registries", title, registry.configure_nodes, "nodes", always=True)
    # Housekeeping without anything configured: no status line (a failure still shows).
    task["meta"]["status"] = bool(settings.registry or settings.registry_mirrors)
    return task


def task_kubeadm_init():
    """kubeadm init on kube-master"""
    return _cluster_task("kubeadm-init", "kubeadm init", kubeadm.kubeadm_init, "node-registries")


def task_kubeadm_join():
    """kubeadm join on the workers, in parallel"""
    count = context.settings().cluster.num_nodes
    title = f"kubeadm join ({count} worker{'s' if count != 1 else ''})"
    return _cluster_task("kubeadm-join", title, kubeadm.kubeadm_join, "kubeadm-init")


def task_pod_network():
    """the pod network of cluster.cniPlugin (tasks/podnet/)"""
    name = context.settings().cluster.cni_plugin
    return _cluster_task("pod-network", f"pod network ({name})", podnet.set_up, "kubeadm-join")


def task_addons():
    """cluster.addons: named add-ons (tasks/addons/) installed, manifests (files, URLs) applied"""
    title = f"add-ons ({addons.titles(context.settings().cluster.addons)})"
    return _cluster_task("addons", title, addons.install, "pod-network")


def task_swap():
    """reup: the new kubelet, kubeadm, kubectl and images into the nodes"""
    if context.current().reup:  # `up` has no such step
        yield _cluster_task("swap", "new binaries into the nodes", reup.swap_binaries, "addons", always=True)


def task_ready():
    """wait until every node is Ready and CoreDNS answers"""
    # Always asked: a cluster whose nodes were just restarted is complete but
    # not yet Ready, and asking a Ready one costs a second.
    after = "swap" if context.current().reup else "addons"
    return _cluster_task("ready", "nodes Ready, CoreDNS Ready", readiness.wait_ready, after, always=True)


def _made_before() -> bool:
    try:
        return not run_cluster().made
    except UserError:
        return False


def task_snapshot():
    """the cluster as kubeadm made it, saved so the next `up` restores it"""
    task = _cluster_task("snapshot", "snapshot", nodes.take_snapshot, "ready")
    # Only a cluster made in this run: a snapshot is the state after setup,
    # never a cluster with the user's workloads in it.
    task["uptodate"] = [_made_before]
    return task


def task_kubeconfig_files():
    """~/.kubeadm-local-cluster/admin.conf, kubectl and helm; the cluster in your kubeconfig"""
    # Always written: cheap, and the published port changes when the engine restarts.
    title = "kubeconfig, kubectl and helm"
    return _cluster_task("kubeconfig-files", title, kubeconfig.write_kubeconfig, "snapshot", always=True)


@step
def report_up():
    settings = context.settings()
    version = artifact_set().version
    count = settings.cluster.num_nodes + 1
    names = Names(settings.cluster.name)
    counted = f"{count} node{'s' if count > 1 else ''}"
    CONSOLE.emit(f"Cluster {settings.cluster.name} is up: {counted}, Kubernetes {version}.")
    merged = user_kubeconfig.target()
    if settings.kubeconfig.merge and not user_kubeconfig.is_ours(merged):
        current = ", the current one" if settings.kubeconfig.switch_context else ""
        CONSOLE.emit(f"  kubectl context {names.context} in {names.shown(merged)}{current}; or:")
    CONSOLE.emit(f"  export KUBECONFIG={names.shown(names.kubeconfig())}")
    if names.kubectl().exists():  # none when this machine cannot run the kubectl of a tree or URL
        CONSOLE.emit(f"  alias kubectl={names.shown(names.kubectl())}")
    CONSOLE.emit(f"  alias helm={names.shown(names.helm())}   # helm {helm.VERSION}, reads KUBECONFIG too")
    if settings.cluster.registry:
        where = registry.address(run_cluster().objects, names)
        CONSOLE.emit(f"  registry {where}: docker push {where}/IMAGE, and pods use image {where}/IMAGE")


def task_preflight():
    """the cluster's names and subnet are free or its own (asked before anything is built)"""
    return {
        "basename": "preflight",
        "actions": [cluster_step(nodes.preflight)],
        "uptodate": [False],
        "meta": {"title": "names and subnet free"},
    }


def task_up():
    return command("up", [report_up], task_dep=["preflight", "kubeconfig-files"], meta={"status": False})


def task_reup():
    """`up` after rebuilding what comes from source, with the new binaries put
    into the (restored) cluster instead of a kubeadm run"""
    return command("reup", [report_up], task_dep=["preflight", "kubeconfig-files"], meta={"status": False})
