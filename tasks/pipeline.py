"""The tasks, one per step: `doit list` reads like the pipeline.

Commands (up, down, clean, ...) are tasks too, so `doit up` and
`local-cluster up` run the same thing. Here: the artifacts, the conformance
tests, config and doctor; the cluster's steps are in tasks.steps."""

from __future__ import annotations

import dataclasses
import functools

from doit.tools import config_changed

from tasks import context, doctor, node_image
from tasks.build import artifacts as art
from tasks.build import containerd, helm
from tasks.build import engine as engine_build
from tasks.build.gobuild import KUBERNETES_COMMANDS
from tasks.console import CONSOLE
from tasks.e2e import artifacts as e2e_artifacts
from tasks.e2e import busybox
from tasks.e2e import recipes as e2e_recipes
from tasks.e2e import run as e2e
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR
from tasks.settings import parse_flags, render_effective
from tasks.steps import *  # noqa: F403  (doit finds task creators by name in this module)
from tasks.taskkit import (  # noqa: F401  (COMMANDS, DOIT_CONFIG: read by cli and doit)
    COMMANDS,
    DOIT_CONFIG,
    artifact_set,
    command,
    doit_config,
    flag_params,
    needed_by_artifacts,
    recipe,
    run_cluster,
    step,
)

# ---------------------------------------------------------------- commands


def run_conformance(serial: bool):
    @step
    def action(substring):
        # doit hands over everything after the first word, flags too (`e2e DNS
        # --report-dir D`); the loader has read the flags already.
        _, _, words = parse_flags(substring or [])
        selection = e2e.Selection(serial=serial, substring=" ".join(words).strip())
        summary = e2e.run(run_cluster(), selection)
        if summary.ran == 0:
            raise UserError(
                f"no {selection.describe()}: nothing ran (see {summary.report_dir}); "
                "`e2e.test --list-conformance-tests` lists their names"
            )
        CONSOLE.emit(summary.line())
        for name in summary.failed:
            CONSOLE.emit(f"  failed: {name}")
        CONSOLE.emit(f"JUnit and the log: {summary.report_dir}")
        if summary.failed or summary.exit_code != 0:
            raise UserError(f"{len(summary.failed) or 'some'} conformance test(s) failed: see {summary.report_dir}")

    return action


@step
def check_cluster():
    if not run_cluster().complete():
        raise UserError("no cluster made for these settings is running: run `local-cluster up` first (same settings)")


def task_e2e_cluster():
    """is there a cluster to test? (asked before anything is built for the tests)"""
    return {"basename": "e2e-cluster", "actions": [check_cluster], "meta": {"title": "the cluster to test"}}


def task_e2e():
    # The cluster is checked first: no half-hour build for nothing.
    return command(
        "e2e",
        [run_conformance(serial=False)],
        pos_arg="substring",
        task_dep=["e2e-cluster", "e2e-artifacts", "registry-image-load"],
    )


def task_e2e_serial():
    return command(
        "e2e-serial",
        [run_conformance(serial=True)],
        pos_arg="substring",
        task_dep=["e2e-cluster", "e2e-artifacts", "registry-image-load"],
    )


@step
def print_config():
    CONSOLE.emit(render_effective(context.settings()))


def task_config():
    return command("config", [print_config], meta={"status": False})


@step
def run_doctor():
    checks = doctor.run_checks()
    good, bad, _ = CONSOLE.marks()
    symbols = {doctor.OK: good, doctor.WARN: "!", doctor.FAIL: bad, doctor.SKIP: "-"}
    for line in doctor.render(checks, symbols):
        CONSOLE.emit(line)
    failed = [c.name for c in checks if c.status == doctor.FAIL]
    if failed:
        raise UserError(f"this machine cannot run a cluster yet: fix {', '.join(failed)}")


def task_doctor():
    return command("doctor", [run_doctor], meta={"status": False})


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
            # Left on the engine by a reup, the binary is fetched by the next `up`.
            state["fetched"] = not engine_build.stays_on_engine(name)
        else:
            task["actions"] = [(step(art.build_in_tree), [artifacts, name, art.Path(source.detail)])]
            state["tree"] = art.tree_fingerprint(art.Path(source.detail))
        task["uptodate"] = [config_changed(state)]
        yield task


@needed_by_artifacts
def task_image_list(artifacts: art.ArtifactSet):
    """the images the chosen kubeadm asks for"""
    yield {
        "basename": "image-list",
        "actions": [(step(art.list_images), [artifacts])],
        "file_dep": [str(artifacts.binary("kubeadm"))],
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


def task_artifacts():
    """build or fetch every binary and image a cluster needs (and helm, for its state directory)"""
    return {
        "basename": "artifacts",
        "actions": None,
        "task_dep": ["kubernetes", "images", "crictl", "containerd", helm.TASK],
        "params": flag_params(),
    }


# ---------------------------------------------------------------- conformance tests


@needed_by_artifacts
def task_e2e_module(artifacts: art.ArtifactSet):
    """resolve the Go modules of the conformance tests and their images' programs"""
    module = e2e_artifacts.e2e_module_dir(artifacts)
    yield {
        "basename": "e2e-module",
        "actions": [(step(e2e_artifacts.prepare_e2e_module), [artifacts])],
        "file_dep": [str(art.gobuild.TEMPLATES / "kubernetes.go.mod")],
        "targets": [str(module / "go.sum"), str(module / "build-date")],
        "uptodate": [config_changed(recipe(version=artifacts.version, e2e=e2e_recipes.RECIPE))],
        "meta": {"title": f"conformance test modules of Kubernetes {artifacts.version}"},
    }


def _timed(function):
    # The builders return how long they took; doit wants no float back.
    def action(*args):
        function(*args)

    return functools.wraps(function)(action)


def tree_of(settings) -> art.Path | None:
    """The Kubernetes tree the cluster's binaries are built in, if any is."""
    for name in KUBERNETES_COMMANDS:
        source = art.binary_source(settings, name)
        if source.kind in ("tree", "engine"):  # e2e.test is built here in both
            return art.Path(source.detail)
    return None


@needed_by_artifacts
def task_e2e_binaries(artifacts: art.ArtifactSet):
    """e2e.test and ginkgo, from the same Go modules as the cluster's binaries
    (e2e.test from the tree when the cluster runs binaries built there)"""
    go_sum = str(e2e_artifacts.e2e_module_dir(artifacts) / "go.sum")
    tree = tree_of(context.settings())
    for name, builder in (("e2e.test", e2e_artifacts.build_e2e_test), ("ginkgo", e2e_artifacts.build_ginkgo)):
        task = {
            "basename": "e2e-binaries",
            "name": name,
            "doc": f"{name} for Kubernetes {artifacts.version}",
            "actions": [(step(_timed(builder)), [artifacts])],
            "file_dep": [go_sum],
            "targets": [str(artifacts.binary(name))],
            "uptodate": [config_changed(recipe(e2e=e2e_recipes.RECIPE))],
            "meta": {"title": f"{name} {artifacts.version} from Go modules"},
        }
        if name == "e2e.test" and tree is not None:
            # A Kubernetes developer checking a change runs the tests of the same tree.
            fingerprint = art.tree_fingerprint(tree, (*art.TREE_SOURCES, "test"))
            built = recipe(e2e=e2e_recipes.RECIPE, tree=str(tree), fingerprint=fingerprint)
            task["actions"] = [(step(art.build_in_tree), [artifacts, name, tree, "test/e2e/e2e.test"])]
            task["file_dep"] = []
            task["uptodate"] = [config_changed(built)]
            task["meta"] = {"title": f"{name} {artifacts.version} from the tree {tree}"}
        yield task


def task_busybox():
    """busybox from upstream's source with upstream's configuration, for the busybox test image"""
    return {
        "basename": busybox.TASK,
        "actions": [step(_timed(busybox.build))],
        "targets": [str(busybox.binary()), str(busybox.applets_path())],
        "uptodate": [
            config_changed(
                {
                    "recipe": busybox.RECIPE,
                    "version": busybox.VERSION,
                    "sha256": busybox.SHA256,
                    "config": busybox.CONFIG,
                }
            )
        ],
        "meta": {"title": f"busybox {busybox.VERSION} from source"},
    }


def build_conformance_images(artifacts: art.ArtifactSet) -> None:
    e2e_artifacts.list_test_images(artifacts)
    made = e2e_artifacts.build_test_images(artifacts, conformance_only=True)
    e2e_artifacts.combine_archives(made.archives, e2e.combined_archive(artifacts))


@needed_by_artifacts
def task_test_images(artifacts: art.ArtifactSet):
    """the images conformance tests run, made from Go modules and Debian packages"""
    yield {
        "basename": "test-images",
        "actions": [(step(build_conformance_images), [artifacts])],
        "file_dep": [
            str(artifacts.binary("e2e.test")),
            str(busybox.binary()),  # the busybox task's
            *(str(p) for p in sorted(e2e_recipes.IMAGE_FILES.rglob("*")) if p.is_file()),
        ],
        "targets": [str(e2e.combined_archive(artifacts))],
        "uptodate": [config_changed(recipe(e2e=e2e_recipes.RECIPE, listing=e2e_artifacts.LISTING))],
        "meta": {"title": f"conformance test images for Kubernetes {artifacts.version}"},
    }


def task_e2e_artifacts():
    """everything a conformance run needs besides the cluster"""
    # The settings' flags too: `e2e-artifacts --kubernetes-version v1.35.4`, as `artifacts` takes them.
    return {
        "basename": "e2e-artifacts",
        "actions": None,
        "task_dep": ["e2e-binaries", "test-images"],
        "params": flag_params(),
    }
