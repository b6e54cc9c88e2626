"""Conformance-test artifacts: names, the wrapper module, recipes and reports
(no Go, no engine, no network)."""

import json
import os
import tarfile

import pytest

from tasks.build import gobuild, oci
from tasks.build.artifacts import ArtifactSet
from tasks.e2e import artifacts as e2e
from tasks.e2e import busybox, parts, recipes
from tasks.errors import UserError

# What `e2e.test --list-images` printed for v1.34.4 (a sample, in its map order).
LISTED_1_34 = """registry.k8s.io/sig-storage/csi-resizer:v1.13.1
registry.k8s.io/etcd:3.6.4-0
registry.k8s.io/e2e-test-images/nginx:1.15-4
registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.2
registry.k8s.io/e2e-test-images/busybox:1.36.1-1
registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2
gcr.io/k8s-authenticated-test/agnhost:2.6
registry.k8s.io/e2e-test-images/busybox:1.37.0-1
registry.k8s.io/e2e-test-images/httpd:2.4.39-4
registry.k8s.io/e2e-test-images/agnhost:2.56
registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7
registry.k8s.io/e2e-test-images/nginx:1.14-4
registry.k8s.io/e2e-test-images/httpd:2.4.38-4
registry.k8s.io/pause:3.10.1
invalid.registry.k8s.io/invalid/alpine:3.1
registry.k8s.io/e2e-test-images/nautilus:1.7
registry.k8s.io/e2e-test-images/nonewprivs:1.3
registry.k8s.io/e2e-test-images/volume/nfs:1.4
"""
# The images the [Conformance] tests of v1.34 use (read in their sources).
CONFORMANCE_1_34 = {
    "registry.k8s.io/e2e-test-images/agnhost:2.56",
    "registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
    "registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
    "registry.k8s.io/e2e-test-images/httpd:2.4.39-4",
    "registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7",
    "registry.k8s.io/e2e-test-images/nautilus:1.7",
    "registry.k8s.io/e2e-test-images/nginx:1.14-4",
    "registry.k8s.io/e2e-test-images/nonewprivs:1.3",
    "registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
    "registry.k8s.io/etcd:3.6.4-0",
}


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("registry.k8s.io/pause:3.10.1", ("registry.k8s.io/pause", "3.10.1")),
        ("registry.k8s.io/e2e-test-images/agnhost:2.56", ("registry.k8s.io/e2e-test-images/agnhost", "2.56")),
        ("localhost:5000/busybox", ("localhost:5000/busybox", "latest")),
        ("localhost:5000/busybox:1.0", ("localhost:5000/busybox", "1.0")),
    ],
)
def test_split_reference(reference, expected):
    assert recipes.split_reference(reference) == expected


def test_archive_names_are_flat_and_tell_the_image_and_tag(isolated_home):
    artifacts = ArtifactSet("v1.34.4")
    names = {
        "registry.k8s.io/e2e-test-images/agnhost:2.56": "agnhost-2.56.tar",
        "registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.2": "node-perf-npb-ep-1.2.tar",
        "registry.k8s.io/etcd:3.6.4-0": "etcd-3.6.4-0.tar",
        "registry.k8s.io/sig-storage/csi-attacher:v4.8.0": "sig-storage-csi-attacher-v4.8.0.tar",
    }
    for reference, name in names.items():
        path = recipes.archive_path(artifacts, reference)
        assert path == artifacts.root / f"e2e-images-r{parts.RECIPE}" / name
    # Never where the node image preloads the cluster's own images.
    assert recipes.archive_path(artifacts, "registry.k8s.io/pause:3.10.1").parent != artifacts.image("pause").parent


def test_the_listed_images_are_sorted_and_unique():
    listed = e2e.parse_image_list(LISTED_1_34 + "registry.k8s.io/pause:3.10.1\n\n")
    assert listed == sorted(set(LISTED_1_34.split()))


def test_the_e2e_module_builds_the_test_programs_not_the_cluster(tmp_path):
    upstream = (
        "module k8s.io/kubernetes\n\ngo 1.24.0\n\nreplace (\n"
        "\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver\n)\n"
    )
    values = e2e.e2e_module_values("v1.34.4", upstream)
    gobuild.write_module(tmp_path, "kubernetes.go.mod", values)
    text = (tmp_path / "go.mod").read_text()
    assert "require k8s.io/kubernetes v1.34.4" in text
    for package in parts.PROGRAMS.values():
        assert f"\t{package}\n" in text
    assert "\tgithub.com/onsi/ginkgo/v2/ginkgo\n" in text
    assert "k8s.io/kubernetes/cmd/" not in text
    assert "\tk8s.io/sample-apiserver => k8s.io/sample-apiserver v0.34.4\n" in text


def test_every_conformance_image_has_a_recipe():
    for reference in CONFORMANCE_1_34:
        recipe = recipes.recipe_for(reference)
        assert recipe is not None and recipe.conformance, reference


def test_images_without_a_recipe_say_why():
    for reference in e2e.parse_image_list(LISTED_1_34):
        if recipes.recipe_for(reference) is None and reference != "registry.k8s.io/pause:3.10.1":
            assert recipes.why_not_made(reference) != "no recipe for this image", reference
    assert recipes.why_not_made("example.com/something:1") == "no recipe for this image"


def test_recipes_name_what_exists():
    for repository, recipe in recipes.RECIPES.items():
        assert not recipe.base or recipe.base in parts.BASES, repository
        assert set(recipe.programs) <= set(parts.PROGRAMS), repository
        for name in recipe.files:
            assert (parts.IMAGE_FILES / name).is_file(), name
    for name, base in parts.BASES.items():
        if base.hook:
            hook = parts.IMAGE_FILES / base.hook
            assert hook.is_file() and os.access(hook, os.X_OK), name


def _cluster_list(artifacts):
    artifacts.root.mkdir(parents=True, exist_ok=True)
    artifacts.image_list.write_text(
        json.dumps({"images": ["registry.k8s.io/etcd:3.6.5-0", "registry.k8s.io/pause:3.10.1"]})
    )


def test_plan_skips_what_the_cluster_preloads_and_names_every_input(isolated_home):
    artifacts = ArtifactSet("v1.34.4")
    _cluster_list(artifacts)
    plans = {plan.reference: plan for plan in e2e.image_plan(artifacts, e2e.parse_image_list(LISTED_1_34))}
    assert "registry.k8s.io/pause:3.10.1" not in plans
    assert set(plans) >= CONFORMANCE_1_34
    agnhost = plans["registry.k8s.io/e2e-test-images/agnhost:2.56"]
    assert agnhost.file_deps == [parts.base_path("agnhost"), parts.program_path(artifacts, "agnhost")]
    etcd = plans["registry.k8s.io/etcd:3.6.4-0"]  # not the cluster's 3.6.5-0: built at 3.6.4
    assert [p.name for p in etcd.programs] == ["etcd-v3.6.4", "etcdctl-v3.6.4"]
    httpd = plans["registry.k8s.io/e2e-test-images/httpd:2.4.38-4"]
    assert parts.IMAGE_FILES / "httpd" / "httpd.conf" in httpd.file_deps


def test_report_lists_archives_made_and_what_is_missing(isolated_home):
    artifacts = ArtifactSet("v1.34.4")
    _cluster_list(artifacts)
    e2e.image_list_path(artifacts).write_text(json.dumps({"images": e2e.parse_image_list(LISTED_1_34)}))
    made = ["registry.k8s.io/e2e-test-images/agnhost:2.56", "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"]
    for reference in made:
        recipes.archive_path(artifacts, reference).parent.mkdir(parents=True, exist_ok=True)
        recipes.archive_path(artifacts, reference).write_bytes(b"")
    archives, missing = e2e.e2e_images(artifacts)
    assert archives == [recipes.archive_path(artifacts, reference) for reference in made]
    assert "registry.k8s.io/pause:3.10.1" not in missing  # the node image has it
    assert "registry.k8s.io/e2e-test-images/nginx:1.14-4" in missing
    assert "gcr.io/k8s-authenticated-test/agnhost:2.6" in missing
    lines = e2e.missing_report(missing)
    conformance = [line for line in lines if "needed by Conformance" in line]
    assert lines[: len(conformance)] == conformance  # those first
    assert any(line.startswith("registry.k8s.io/e2e-test-images/nginx:1.14-4: needed") for line in conformance)
    assert any(line.startswith("invalid.registry.k8s.io/invalid/alpine:3.1: must not exist") for line in lines)


def _fake_inputs(artifacts, tmp_path, bases, programs):
    for name in bases:
        path = parts.base_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo("etc/os-release")
            tar.addfile(info)
    for name in programs:
        path = parts.program_path(artifacts, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"#!/bin/sh\n")


def _image(archive):
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))
        layer_names = manifest["Layers"]
        members = {}
        for name in layer_names[1:]:
            with tarfile.open(fileobj=tar.extractfile(name)) as layer:
                members.update({m.name: m for m in layer.getmembers()})
    return manifest, config, members


def test_two_tags_of_one_recipe_are_two_images(isolated_home, tmp_path):
    """The rolling-update tests switch httpd 2.4.38-4 to 2.4.39-4 and watch the image change."""
    artifacts = ArtifactSet("v1.34.4")
    _fake_inputs(artifacts, tmp_path, ["httpd"], [])
    old = e2e.build_test_image(artifacts, "registry.k8s.io/e2e-test-images/httpd:2.4.38-4")
    new = e2e.build_test_image(artifacts, "registry.k8s.io/e2e-test-images/httpd:2.4.39-4")
    assert old != new
    old_archive = recipes.archive_path(artifacts, "registry.k8s.io/e2e-test-images/httpd:2.4.38-4")
    manifest, config, members = _image(old_archive)
    assert manifest["RepoTags"] == ["registry.k8s.io/e2e-test-images/httpd:2.4.38-4"]
    assert config["config"]["Cmd"] == ["httpd-foreground"] and config["config"]["StopSignal"] == "SIGWINCH"
    assert "usr/local/apache2/htdocs/index.html" in members
    assert members["usr/local/bin/httpd-foreground"].mode == 0o755


def test_nonewprivs_carries_a_setuid_program(isolated_home, tmp_path):
    artifacts = ArtifactSet("v1.34.4")
    _fake_inputs(artifacts, tmp_path, [], ["nnp"])
    e2e.build_test_image(artifacts, "registry.k8s.io/e2e-test-images/nonewprivs:1.3")
    _, config, members = _image(recipes.archive_path(artifacts, "registry.k8s.io/e2e-test-images/nonewprivs:1.3"))
    assert members["usr/local/bin/nnp"].mode == 0o4755
    assert config["config"]["Cmd"] == ["nnp"]
    assert config["config"]["Labels"]["io.kubeadm-local-cluster.recipe"] == parts.RECIPE


def test_an_image_without_recipe_is_a_clear_error(isolated_home):
    with pytest.raises(UserError, match="nfsd"):
        e2e.build_test_image(ArtifactSet("v1.34.4"), "registry.k8s.io/e2e-test-images/volume/nfs:1.4")


def _fake_busybox(applets=("busybox", "env", "sh", "sysctl", "wget")):
    busybox.binary().parent.mkdir(parents=True, exist_ok=True)
    busybox.binary().write_bytes(b"\x7fELF")
    busybox.applets_path().write_text("\n".join(applets) + "\n")


def test_read_tags_of_a_test_image(isolated_home, tmp_path):
    artifacts = ArtifactSet("v1.34.4")
    _fake_busybox()
    e2e.build_test_image(artifacts, "registry.k8s.io/e2e-test-images/busybox:1.36.1-1")
    archive = recipes.archive_path(artifacts, "registry.k8s.io/e2e-test-images/busybox:1.36.1-1")
    assert oci.read_tags(archive) == ["registry.k8s.io/e2e-test-images/busybox:1.36.1-1"]


def test_busybox_image_is_upstreams_layout(isolated_home, tmp_path):
    """Like docker-library's image: one busybox, every applet in /bin (tests exec
    /bin/sh and /bin/sysctl), /usr/bin/env; no Debian base, no bash."""
    artifacts = ArtifactSet("v1.34.4")
    _fake_busybox()
    reference = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
    e2e.build_test_image(artifacts, reference)
    manifest, config, _ = _image(recipes.archive_path(artifacts, reference))
    assert len(manifest["Layers"]) == 1 and config["config"]["Cmd"] == ["sh"]
    with (
        tarfile.open(recipes.archive_path(artifacts, reference)) as tar,
        tarfile.open(fileobj=tar.extractfile(manifest["Layers"][0])) as layer,
    ):
        members = {m.name: m for m in layer.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "env", "sysctl", "wget"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert members["usr/bin/env"].linkname == "../../bin/env"
    assert members["tmp"].mode == 0o1777 and members["root"].mode == 0o700
    assert {"etc/passwd", "etc/group", "etc/nsswitch.conf"} <= set(members)
    assert not any("bash" in name for name in members)


def test_the_busybox_image_is_made_again_when_busybox_is(isolated_home):
    artifacts = ArtifactSet("v1.34.4")
    _cluster_list(artifacts)
    _fake_busybox()
    [plan] = e2e.image_plan(artifacts, ["registry.k8s.io/e2e-test-images/busybox:1.37.0-1"])
    assert busybox.binary() in plan.file_deps and busybox.applets_path() in plan.file_deps
    assert plan.bases == ()
    assert plan.outdated()
    e2e.build_test_image(artifacts, plan.reference)
    assert not plan.outdated()
    later = plan.archive.stat().st_mtime + 10
    os.utime(busybox.binary(), (later, later))
    assert plan.outdated()


def test_combined_archive_holds_every_image_and_each_layer_once(isolated_home, tmp_path):
    artifacts = ArtifactSet("v1.34.4")
    _fake_inputs(artifacts, tmp_path, ["nginx"], ["nnp"])
    references = [
        "registry.k8s.io/e2e-test-images/nginx:1.14-4",
        "registry.k8s.io/e2e-test-images/nginx:1.15-4",
        "registry.k8s.io/e2e-test-images/nonewprivs:1.3",
    ]
    for reference in references:
        e2e.build_test_image(artifacts, reference)
    combined = tmp_path / "all.tar"
    e2e.combine_archives([recipes.archive_path(artifacts, r) for r in references], combined)
    assert oci.read_tags(combined) == references
    with tarfile.open(combined) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json" and len(names) == len(set(names))
    layers = {layer for entry in manifest for layer in entry["Layers"]}
    assert layers <= set(names)
    # Both nginx tags share their two layers; nonewprivs has two of its own.
    assert len(layers) == 4


def test_the_test_etcd_is_made_even_when_the_cluster_runs_the_same_tag(isolated_home):
    """1.37: the sample API server's etcd is 3.7.0-0, the cluster's own; but only
    the master holds the cluster's, and the test's pods run on the workers."""
    artifacts = ArtifactSet("v1.37.2")
    artifacts.root.mkdir(parents=True, exist_ok=True)
    artifacts.image_list.write_text(
        json.dumps({"images": ["registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/pause:3.10.1"]})
    )
    listed = ["registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/pause:3.10.1"]
    plans = {plan.reference for plan in e2e.image_plan(artifacts, listed)}
    assert plans == {"registry.k8s.io/etcd:3.7.0-0"}


def _e2e_tasks(*flags: str) -> dict:
    from tasks import context
    from tasks.cli import parse_flags
    from tasks.e2e import steps as e2e_steps
    from tasks.settings import load_settings

    values, _, _ = parse_flags(["--kubernetes-version", "v1.37.2", *flags])
    context.set_run(context.Run(load_settings(flags=values, environ={})))
    try:
        return {task["name"]: task for task in e2e_steps.task_e2e_binaries()}
    finally:
        context.set_run(None)


def test_e2e_test_comes_from_the_tree_the_cluster_is_built_in(tmp_path):
    """A Kubernetes developer checking a change runs the tree's own tests."""
    tree = tmp_path / "kubernetes"  # the shape settings check, and the tests' package
    (tree / "cmd" / "kubeadm").mkdir(parents=True)
    (tree / "test" / "e2e").mkdir(parents=True)
    (tree / "test" / "e2e" / "e2e_test.go").write_text("package e2e\n")
    tasks = _e2e_tasks("--k8s-dir", str(tree), "--build-kubelet")
    assert tasks["e2e.test"]["meta"]["title"] == f"e2e.test v1.37.2 from the tree {tree}"
    _, arguments = tasks["e2e.test"]["actions"][0]
    assert arguments[1:] == ["e2e.test", tree, "test/e2e/e2e.test"]
    assert tasks["ginkgo"]["meta"]["title"] == "ginkgo v1.37.2 from Go modules"  # the same version either way


def test_e2e_test_comes_from_modules_otherwise():
    tasks = _e2e_tasks()
    assert tasks["e2e.test"]["meta"]["title"] == "e2e.test v1.37.2 from Go modules"
