"""The task creators of what conformance runs need besides the cluster
(tasks.pipeline gathers them for doit): the tests' Go modules, e2e.test and
ginkgo, busybox, the test images, and `e2e-artifacts`, which asks for all of
them."""

from __future__ import annotations

import functools

from doit.tools import config_changed

from tasks import context
from tasks.build import artifacts as art
from tasks.build.gobuild import KUBERNETES_COMMANDS
from tasks.e2e import alpine, busybox, parts
from tasks.e2e import artifacts as e2e_artifacts
from tasks.e2e import run as e2e
from tasks.taskkit import flag_params, needed_by_artifacts, recipe, step


@needed_by_artifacts
def task_e2e_module(artifacts: art.ArtifactSet):
    """resolve the Go modules of the conformance tests and their images' programs"""
    module = e2e_artifacts.e2e_module_dir(artifacts)
    yield {
        "basename": "e2e-module",
        "actions": [(step(e2e_artifacts.prepare_e2e_module), [artifacts])],
        "file_dep": [str(art.gobuild.TEMPLATES / "kubernetes.go.mod")],
        "targets": [str(module / "go.sum"), str(module / "build-date")],
        "uptodate": [config_changed(recipe(version=artifacts.version, e2e=parts.RECIPE))],
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
            "uptodate": [config_changed(recipe(e2e=parts.RECIPE))],
            "meta": {"title": f"{name} {artifacts.version} from Go modules"},
        }
        if name == "e2e.test" and tree is not None:
            # A Kubernetes developer checking a change runs the tests of the same tree.
            fingerprint = art.tree_fingerprint(tree, (*art.TREE_SOURCES, "test"))
            built = recipe(e2e=parts.RECIPE, tree=str(tree), fingerprint=fingerprint)
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
            *(str(p) for p in sorted(parts.IMAGE_FILES.rglob("*")) if p.is_file()),
        ],
        "targets": [str(e2e.combined_archive(artifacts))],
        "uptodate": [
            config_changed(recipe(e2e=parts.RECIPE, listing=e2e_artifacts.LISTING, alpine=alpine.path().name))
        ],
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
