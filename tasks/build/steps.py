"""The task creators of the artifacts (tasks.pipeline gathers them for doit):
Kubernetes' modules, binaries and image list, etcd, CoreDNS, pause, crictl,
containerd and runc, kube-proxy's base, the control-plane images, helm, and
`artifacts`, which asks for all of them."""

from __future__ import annotations

import dataclasses

from doit.tools import config_changed

from tasks import context
from tasks.build import artifacts as art
from tasks.build import client, containerd, helm
from tasks.build import engine as engine_build
from tasks.build.gobuild import KUBERNETES_COMMANDS
from tasks.node import image as node_image
from tasks.paths import IMAGES_DIR
from tasks.taskkit import flag_params, needed_by_artifacts, recipe, step


@needed_by_artifacts
def task_kubernetes_module(artifacts: art.ArtifactSet):
    """resolve the Go modules of the chosen Kubernetes version"""
    settings = context.settings()
    if all(art.binary_source(settings, name).kind != "modules" for name in KUBERNETES_COMMANDS):
        return
    yield {
        "basename": "kubernetes-module",
        "actions": [(step(art.prepare_kubernetes_module), [artifacts])],
        "file_dep": [str(art.gobuild.TEMPLATES / "kubernetes.go.mod")],
        "targets": [str(artifacts.module_dir / "go.sum"), str(artifacts.module_dir / "build-date")],
        "uptodate": [config_changed(recipe(version=artifacts.version))],
        "meta": {"title": f"Kubernetes {artifacts.version} modules"},
    }


@needed_by_artifacts
def task_kubernetes(artifacts: art.ArtifactSet):
    """kubeadm, kubelet, kubectl and the control-plane binaries"""
    settings = context.settings()
    for name in KUBERNETES_COMMANDS:
        source = art.binary_source(settings, name)
        task = {
            "name": name,
            "doc": f"{name} {artifacts.version}",
            "targets": [str(artifacts.binary(name))],
            "meta": {"title": f"{name} {artifacts.version} from {source.describe()}"},
        }
        state = recipe(version=artifacts.version, source=dataclasses.asdict(source))
        if source.kind == "modules":
            task["actions"] = [(step(art.build_kubernetes_binary), [artifacts, name])]
            task["file_dep"] = [str(artifacts.module_dir / "go.sum")]
        elif source.kind == "url":
            task["actions"] = [(step(art.download_binary), [artifacts, name, source])]
        elif source.kind == "release":
            task["actions"] = [(step(art.download_released_binary), [artifacts, name, source])]
        elif source.kind == "engine":
            task["actions"] = [(step(engine_build.build_binary), [artifacts, name, art.Path(source.detail)])]
            state["tree"] = art.tree_fingerprint(art.Path(source.detail))
            # What stays on the engine has its receipt here, not the binary.
            receipt = str(engine_build.receipt_path(artifacts, name))
            task["targets"] = [receipt] if engine_build.stays_on_engine(name) else [*task["targets"], receipt]
        else:
            task["actions"] = [(step(art.build_in_tree), [artifacts, name, art.Path(source.detail)])]
            state["tree"] = art.tree_fingerprint(art.Path(source.detail))
        task["uptodate"] = [config_changed(state)]
        yield task


@needed_by_artifacts
def task_image_list(artifacts: art.ArtifactSet):
    """the images the chosen kubeadm asks for"""
    source = art.binary_source(context.settings(), "kubeadm")
    on_engine = source.kind == "engine" and engine_build.stays_on_engine("kubeadm")
    kubeadm = engine_build.receipt_path(artifacts, "kubeadm") if on_engine else artifacts.binary("kubeadm")
    yield {
        "basename": "image-list",
        "actions": [
            (step(engine_build.list_images), [artifacts, art.Path(source.detail)])
            if on_engine
            else (step(art.list_images), [artifacts])
        ],
        "file_dep": [str(kubeadm)],
        "targets": [str(artifacts.image_list)],
        "meta": {"title": f"images kubeadm {artifacts.version} asks for"},
    }


def _component(basename: str, title: str, action, artifacts: art.ArtifactSet, binaries: list[str], sources=()):
    return {
        "basename": basename,
        "actions": [(step(action), [artifacts])],
        "file_dep": [str(artifacts.image_list), *map(str, sources)],
        "targets": [str(artifacts.binary(name)) for name in binaries],
        "uptodate": [config_changed(recipe())],
        "meta": {"title": f"{title} for Kubernetes {artifacts.version}"},
    }


@needed_by_artifacts
def task_etcd(artifacts: art.ArtifactSet):
    """etcd at the version kubeadm asks for, from its Go modules"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component(
        "etcd", "etcd", art.build_etcd, artifacts, ["etcd", "etcdctl"], [art.gobuild.TEMPLATES / "etcd.go.mod"]
    )


@needed_by_artifacts
def task_coredns(artifacts: art.ArtifactSet):
    """CoreDNS at the version kubeadm asks for, with the plugins a cluster uses"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component(
        "coredns",
        "CoreDNS",
        art.build_coredns,
        artifacts,
        ["coredns"],
        [art.gobuild.TEMPLATES / "coredns.go.mod", IMAGES_DIR / "coredns" / "main.go"],
    )


@needed_by_artifacts
def task_pause(artifacts: art.ArtifactSet):
    """the pause program (our own, images/pause)"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component("pause", "pause", art.build_pause, artifacts, ["pause"], [IMAGES_DIR / "pause" / "main.go"])


@needed_by_artifacts
def task_crictl(artifacts: art.ArtifactSet):
    """crictl for the nodes (kubeadm's preflight wants it), from cri-tools' Go modules"""
    task = _component(
        "crictl", "crictl", art.build_crictl, artifacts, ["crictl"], [art.gobuild.TEMPLATES / "cri-tools.go.mod"]
    )
    task["file_dep"] = task["file_dep"][1:]  # needs no image list
    task["uptodate"] = [config_changed(recipe(version=artifacts.version))]
    yield task


@needed_by_artifacts
def task_containerd(artifacts: art.ArtifactSet):
    """containerd and runc for the nodes, built where Debian's are too old for this Kubernetes (tasks/build/containerd.py)"""  # noqa: E501
    yield from containerd.task_dicts(containerd.for_kubernetes(artifacts.version))


def task_kube_proxy_base():
    """a small Debian root filesystem with iptables and conntrack for kube-proxy's image"""
    suite = node_image.base_suite(context.settings())
    return {
        "basename": "kube-proxy-base",
        "actions": [(step(art.build_kube_proxy_base), [suite])],
        "file_dep": [str(art.KUBE_PROXY_HOOK)],
        "targets": [str(art.kube_proxy_base(suite))],
        "uptodate": [config_changed(recipe(suite=suite, packages=art.KUBE_PROXY_PACKAGES))],
        "meta": {"title": f"kube-proxy base (Debian {suite})"},
    }


@needed_by_artifacts
def task_images(artifacts: art.ArtifactSet):
    """control-plane images, tagged as kubeadm expects"""
    settings = context.settings()
    suite = node_image.base_suite(settings)
    for component, binaries in art.IMAGE_BINARIES.items():
        base = art.kube_proxy_base(suite) if component == "kube-proxy" else None
        source = art.binary_source(settings, component) if component in art.SERVER_BINARIES else None
        task = {
            "name": component,
            "doc": f"the {component} image",
            "targets": [str(artifacts.image(component))],
            "uptodate": [
                config_changed(
                    recipe(source=dataclasses.asdict(source) if source else None, release=settings.source.release_site)
                )
            ],
        }
        if source is not None and source.kind == "release":
            task["actions"] = [(step(art.download_released_image), [artifacts, component, source.detail])]
            task["file_dep"] = [str(artifacts.image_list)]
            task["meta"] = {"title": f"{component} image {artifacts.version} from {source.describe()}"}
        elif source is None and settings.source.release_site:
            task["actions"] = [(step(art.save_engine_image), [artifacts, component])]
            task["file_dep"] = [str(artifacts.image_list)]
            task["meta"] = {"title": f"{component} image from the engine (pre-loaded or pulled)"}
        else:
            task["actions"] = [(step(art.build_image), [artifacts, component, base])]
            task["file_dep"] = [
                str(artifacts.image_list),
                *(str(artifacts.binary(b)) for b in binaries),
                *([str(base)] if base else []),
            ]
            task["meta"] = {"title": f"{component} image for Kubernetes {artifacts.version}"}
        yield task


def task_helm():
    """helm from its Go module (tasks/build/helm.py), which `up` puts beside kubectl"""
    return helm.task_dict()


@needed_by_artifacts
def task_client_kubectl(artifacts: art.ArtifactSet):
    """kubectl for this machine, when it cannot run the nodes' (tasks/build/client.py)"""
    yield client.task_dict(artifacts, context.settings())


def task_artifacts():
    """build or fetch every binary and image a cluster needs (and helm, for its state directory)"""
    return {
        "basename": "artifacts",
        "actions": None,
        "task_dep": ["kubernetes", "images", "crictl", "containerd", helm.TASK, "client-kubectl"],
        "params": flag_params(),
    }
