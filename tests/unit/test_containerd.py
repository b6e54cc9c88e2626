"""Which containerd and runc each Kubernetes minor's nodes run, their doit
tasks and the node image's layer of them (no Go, no engine, no network)."""

import json
from pathlib import Path

import pytest

from tasks.build import containerd, gobuild
from tasks.build.containerd import DEBIAN, RUNTIMES, Runtime
from tasks.errors import UserError
from tasks.paths import cache_dir
from tasks.settings.parsers import NEWEST_TESTED_MINOR, OLDEST_MINOR
from tasks.versions import Version


def test_the_table_covers_exactly_the_supported_kubernetes_minors():
    minors = sorted(RUNTIMES)
    assert minors[0] == OLDEST_MINOR and minors[-1] == NEWEST_TESTED_MINOR
    assert minors == [(1, m) for m in range(OLDEST_MINOR[1], NEWEST_TESTED_MINOR[1] + 1)]
    assert sorted(containerd.SUPPORT_TABLE) == minors


@pytest.mark.parametrize("minor", sorted(RUNTIMES))
def test_each_minor_runs_a_containerd_its_support_table_recommends(minor):
    assert containerd.supported(RUNTIMES[minor], minor), (minor, RUNTIMES[minor].describe())


@pytest.mark.parametrize("minor", sorted(RUNTIMES))
def test_each_runc_is_the_one_its_containerd_is_tested_with_or_newer(minor):
    assert containerd.runc_suits(RUNTIMES[minor])


@pytest.mark.parametrize("minor", sorted(RUNTIMES))
def test_debian_s_containerd_where_the_table_lists_2_1_and_a_built_one_where_it_does_not(minor):
    lists_2_1 = any(v.startswith("2.1.") for v in containerd.SUPPORT_TABLE[minor])
    assert (RUNTIMES[minor] == DEBIAN) == lists_2_1
    if not lists_2_1:
        assert RUNTIMES[minor].built and Version.parse(RUNTIMES[minor].containerd_version) >= Version(2, 2, 0)


def test_the_support_check_wants_the_listed_patch_and_line():
    assert containerd.supported(DEBIAN, (1, 35))  # 2.1.9 >= 2.1.5
    assert not containerd.supported(Runtime("v2.1.4"), (1, 35))
    assert not containerd.supported(DEBIAN, (1, 36))  # 2.1 is not listed for 1.36
    assert not containerd.supported(Runtime("v2.4.2", "v1.5.2"), (1, 36))  # nor 2.4
    assert containerd.supported(Runtime("v2.2.9"), (1, 36))


def test_debian_s_runc_suits_containerd_2_1_and_2_2_but_not_2_3():
    assert containerd.runc_suits(DEBIAN)
    assert containerd.runc_suits(Runtime("v2.2.9"))  # Debian's runc 1.3.6 is what 2.2 tests
    assert not containerd.runc_suits(Runtime("v2.3.7"))
    assert containerd.runc_suits(Runtime("v2.3.7", "v1.5.2"))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v1.31.0", DEBIAN),
        ("v1.35.4", DEBIAN),
        ("v1.36.1", containerd.CONTAINERD_2_3),
        ("v1.37.2", containerd.CONTAINERD_2_3),
        ("v1.37.0-rc.1", containerd.CONTAINERD_2_3),
        ("v1.38.0-alpha.1", containerd.CONTAINERD_2_3),  # newer than the table: the newest's
        ("v1.39.0", RUNTIMES[max(RUNTIMES)]),
    ],
)
def test_a_kubernetes_version_gets_its_minor_s_containerd(version, expected):
    assert containerd.for_kubernetes(version) == expected


def test_doctor_says_which_minors_build_runc():
    assert containerd.runc_built_from() == "1.36+"


def test_descriptions_say_where_each_comes_from():
    assert DEBIAN.describe() == "containerd 2.1.9 and runc 1.3.6 from Debian forky"
    assert containerd.CONTAINERD_2_3.describe() == "containerd 2.3.7 and runc 1.5.2 from Go modules"
    assert Runtime("v2.2.9").describe() == "containerd 2.2.9 from Go modules, runc 1.3.6 from Debian forky"


def test_containerd_is_stamped_with_upstream_s_version():
    flags = containerd.containerd_ldflags("v2.3.7")
    assert "-X github.com/containerd/containerd/v2/version.Version=v2.3.7" in flags
    assert "-X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2" in flags


def test_the_shim_is_built_as_upstream_builds_it_and_nothing_needs_btrfs():
    assert "no_grpc" in containerd.SHIM_TAGS and "no_grpc" not in containerd.CONTAINERD_TAGS
    assert {"no_btrfs", "no_devmapper", "no_zfs"} <= set(containerd.CONTAINERD_TAGS)
    assert "seccomp" in containerd.RUNC_TAGS and "libpathrs" not in containerd.RUNC_TAGS


def test_a_containerd_tested_with_a_newer_runc_than_chosen_is_refused(tmp_path):
    tested = tmp_path / "runc-version"
    tested.write_text("v1.6.0\n")
    with pytest.raises(UserError, match=r"tested with runc v1\.6\.0, newer than runc 1\.5\.2"):
        containerd._check_runc(containerd.CONTAINERD_2_3, tested)
    tested.write_text("v1.5.2\n")
    containerd._check_runc(containerd.CONTAINERD_2_3, tested)
    tested.write_text("0123456789abcdef\n")  # a pre-release's commit: nothing to compare
    containerd._check_runc(containerd.CONTAINERD_2_3, tested)


def test_the_wrapper_modules_render(tmp_path):
    gobuild.write_module(tmp_path / "c", "containerd.go.mod", {"version": "v2.3.7", "go": "1.26.8"})
    text = (tmp_path / "c" / "go.mod").read_text()
    assert "require github.com/containerd/containerd/v2 v2.3.7" in text and "\ngo 1.26.8\n" in text
    for name in containerd.CONTAINERD_BINARIES:
        assert f"\tgithub.com/containerd/containerd/v2/cmd/{name}\n" in text
    gobuild.write_module(tmp_path / "r", "runc.go.mod", {"version": "v1.5.2", "go": "1.25.0"})
    text = (tmp_path / "r" / "go.mod").read_text()
    assert "require github.com/opencontainers/runc v1.5.2" in text and "tool github.com/opencontainers/runc" in text


# ---------------------------------------------------------------- doit and the node image


def test_debian_s_containerd_makes_no_task_and_no_layer():
    assert containerd.task_dicts(DEBIAN) == []
    assert containerd.node_files(DEBIAN) == ()


def test_task_dicts_build_containerd_then_runc_into_version_directories(isolated_home):
    tasks = containerd.task_dicts(containerd.CONTAINERD_2_3)
    assert [t["name"] for t in tasks] == ["containerd-v2.3.7", "runc-v1.5.2"]
    for task in tasks:
        assert task["basename"] == containerd.TASK
        assert task["doc"] and task["meta"]["title"].endswith("from Go modules")
        assert len(task["actions"]) == 1
        for dep in task["file_dep"]:
            assert Path(dep).is_file(), dep
        for target in task["targets"]:
            # Not under a Kubernetes version: every version with this containerd shares it.
            assert Path(target).is_relative_to(cache_dir()) and "kubernetes" not in Path(target).parts
        (check,) = task["uptodate"]
        json.dumps(check.config)  # config_changed hashes JSON values only
    assert tasks[0]["targets"] == [
        str(cache_dir() / "containerd" / "v2.3.7" / name) for name in ("containerd", "containerd-shim-runc-v2", "ctr")
    ]
    assert tasks[1]["targets"] == [str(cache_dir() / "runc" / "v1.5.2" / "runc")]
    assert tasks[0]["meta"]["title"] == "containerd v2.3.7 from Go modules"


def test_a_built_containerd_with_debian_s_runc_builds_no_runc(isolated_home):
    runtime = Runtime("v2.2.9")
    assert [t["name"] for t in containerd.task_dicts(runtime)] == ["containerd-v2.2.9"]
    assert [f.path for f in containerd.node_files(runtime)] == [
        "usr/bin/containerd",
        "usr/bin/containerd-shim-runc-v2",
        "usr/bin/ctr",
    ]


def test_the_node_layer_puts_the_binaries_where_debian_s_unit_and_runc_link_look(isolated_home):
    files = containerd.node_files(containerd.CONTAINERD_2_3)
    assert {f.path: f.source for f in files} == {
        "usr/bin/containerd": cache_dir() / "containerd" / "v2.3.7" / "containerd",
        "usr/bin/containerd-shim-runc-v2": cache_dir() / "containerd" / "v2.3.7" / "containerd-shim-runc-v2",
        "usr/bin/ctr": cache_dir() / "containerd" / "v2.3.7" / "ctr",
        "usr/sbin/runc": cache_dir() / "runc" / "v1.5.2" / "runc",
    }
    assert all(f.mode == 0o755 for f in files)


def test_the_node_image_task_depends_on_the_built_binaries_only_where_they_are_used(isolated_home):
    from tasks.build.artifacts import ArtifactSet
    from tasks.node import image as node_image

    assert node_image.runtime_inputs(ArtifactSet("v1.35.4")) == []
    assert node_image.runtime_labels(DEBIAN) == {}
    inputs = node_image.runtime_inputs(ArtifactSet("v1.37.2"))
    assert inputs == [f.source for f in containerd.node_files(containerd.CONTAINERD_2_3)]
    assert node_image.runtime_labels(containerd.CONTAINERD_2_3) == {
        "io.kubeadm-local-cluster.containerd-version": "v2.3.7",
        "io.kubeadm-local-cluster.runc-version": "v1.5.2",
    }


def test_the_readme_table_says_what_the_nodes_run():
    from tasks.paths import REPO_DIR

    readme = (REPO_DIR / "README.md").read_text()
    debian = containerd.DEBIAN
    assert f"Debian forky's containerd {debian.containerd_version}, runc {debian.runc_version}" in readme
    built = {runtime for runtime in RUNTIMES.values() if runtime.built}
    for runtime in built:
        assert f"containerd {runtime.containerd_version}, runc {runtime.runc_version}, built here" in readme


def _fake_node_inputs(version: str) -> None:
    """Small stand-ins for what a node image is made of: the base, this
    version's binaries and images, and the built containerd and runc."""
    import tarfile

    from tasks.build.artifacts import ArtifactSet
    from tasks.node import image as node_image
    from tasks.settings import load_settings

    artifacts = ArtifactSet(version)
    base = node_image.base_path(node_image.base_suite(load_settings()))
    base.parent.mkdir(parents=True, exist_ok=True)
    if not base.exists():
        with tarfile.open(base, "w"):
            pass
    (artifacts.root / "images").mkdir(parents=True, exist_ok=True)
    artifacts.image_list.write_text(json.dumps({"images": ["registry.k8s.io/pause:3.10.2"]}))
    (artifacts.root / "images" / "pause.tar").write_bytes(b"pause image")
    for name in node_image.NODE_BINARIES:
        artifacts.binary(name).parent.mkdir(parents=True, exist_ok=True)
        artifacts.binary(name).write_bytes(f"{name} {version}".encode())
    for entry in containerd.node_files(containerd.for_kubernetes(version)):
        entry.source.parent.mkdir(parents=True, exist_ok=True)
        entry.source.write_bytes(f"built {entry.path}".encode())


def _layers(archive: Path) -> tuple[list[str], dict]:
    import tarfile

    with tarfile.open(archive) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest["Config"]))
        members = {}
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(layer)) as inner:
                members[layer] = sorted(m.name for m in inner if m.isfile())
    return manifest["Layers"], {"labels": config["config"]["Labels"], "members": members}


def test_node_images_of_1_36_and_1_37_share_one_layer_of_built_binaries_and_1_35_has_none(isolated_home):
    from tasks.build.artifacts import ArtifactSet
    from tasks.node import image as node_image
    from tasks.settings import load_settings

    settings = load_settings()
    made = {}
    for version in ("v1.35.4", "v1.36.3", "v1.37.2"):
        _fake_node_inputs(version)
        artifacts = ArtifactSet(version)
        node_image.build_archive(settings, artifacts)
        made[version] = _layers(node_image.archive_path(artifacts))
    old_layers, old = made["v1.35.4"]
    assert len(old_layers) == 3  # the base, the binaries, the images: as before
    assert "io.kubeadm-local-cluster.containerd-version" not in old["labels"]
    layers_36, new = made["v1.36.3"]
    layers_37, _ = made["v1.37.2"]
    assert len(layers_36) == 4 and layers_36[0] == old_layers[0]
    assert layers_36[1] == layers_37[1]  # the same bytes: the engine keeps it once
    assert new["members"][layers_36[1]] == [
        "usr/bin/containerd",
        "usr/bin/containerd-shim-runc-v2",
        "usr/bin/ctr",
        "usr/sbin/runc",
    ]
    assert new["labels"]["io.kubeadm-local-cluster.containerd-version"] == "v2.3.7"
    assert new["labels"]["io.kubeadm-local-cluster.runc-version"] == "v1.5.2"


def test_config_version_3_suits_every_containerd_chosen():
    """2.3 reads version 3 and migrates it (one warning line at start): what
    version 4 moved (the grpc, ttrpc, debug and metrics sections) is not in ours."""
    from tasks.node import image as node_image

    text = (node_image.NODE_DIR / "containerd.toml").read_text()
    assert "\nversion = 3\n" in text
    for section in ("[grpc]", "[ttrpc]", "[debug]", "[metrics]"):
        assert section not in text


def test_without_a_c_compiler_here_runc_is_built_on_the_engine(monkeypatch, tmp_path):
    from tasks import doctor
    from tasks.build import gobuild
    from tasks.engine import EngineFacts

    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert containerd.runc_build_problem() == "no C compiler (/nonexistent/cc) here"
    check = doctor.check_runc_build(None)
    assert check.status == doctor.WARN and "Kubernetes 1.36+" in check.detail
    assert "libseccomp-dev" in check.fix
    engine = EngineFacts("27.0", "1.47", "unix:///run/docker.sock", "default", True, "amd64", "2", "systemd", "/", "D")
    assert doctor.check_runc_build(engine).status == doctor.OK
    built = []

    def fake_build(module_dir, package, output, log_file, what, **options):  # a fake: the engine is elsewhere
        built.append((package, options["env"], options["on_engine"]))
        raise UserError("stop here")

    monkeypatch.setattr(gobuild, "module_facts", lambda *args: {"GoMod": str(tmp_path / "go.mod")})
    (tmp_path / "go.mod").write_text("module github.com/opencontainers/runc\n\ngo 1.24\n")
    monkeypatch.setattr(gobuild, "tidy", lambda *args: 0.0)
    monkeypatch.setattr(gobuild, "build", fake_build)
    monkeypatch.setattr(containerd, "cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(UserError, match="stop here"):
        containerd.build_runc(containerd.CONTAINERD_2_3)
    assert built == [(containerd.RUNC_MODULE, {"CGO_ENABLED": "1"}, True)]
