"""helm: its version stamp, where it is built and where `up` puts it (nothing is built)."""

import re
from pathlib import Path

from tasks.build import gobuild, helm, platforms
from tasks.naming import Names
from tasks.paths import REPO_DIR, cache_dir, state_dir


def test_the_ldflags_stamp_the_release_as_upstream_s_makefile_does():
    flags = helm.ldflags("v4.3.2").split()
    assert flags[:2] == ["-w", "-s"]
    stamps = dict(flags[i + 1].split("=", 1) for i, flag in enumerate(flags) if flag == "-X")
    assert stamps == {
        "helm.sh/helm/v4/internal/version.version": "v4.3.2",
        "helm.sh/helm/v4/internal/version.metadata": "",  # a release: no "+unreleased"
        "helm.sh/helm/v4/internal/version.gitTreeState": "clean",
    }
    assert helm.ldflags() == helm.ldflags(helm.VERSION)


def test_the_version_is_one_helm_4_release():
    assert re.fullmatch(r"v4\.\d+\.\d+", helm.VERSION)
    assert helm.MODULE == "helm.sh/helm/v4" and helm.PACKAGE == "helm.sh/helm/v4/cmd/helm"


def test_helm_is_cached_by_its_own_version_not_kubernetes():
    goos, goarch = platforms.this_machine()  # helm runs only here: built for this machine
    assert helm.binary() == cache_dir() / "helm" / helm.VERSION / f"{goos}-{goarch}" / "helm"


def test_the_task_builds_the_binary_from_the_template():
    task = helm.task_dict()
    assert task["basename"] == helm.TASK == "helm"
    assert task["targets"] == [str(helm.binary())]
    assert all(Path(dep).is_file() for dep in task["file_dep"])
    assert task["meta"]["title"] == f"helm {helm.VERSION} from Go modules"
    assert len(task["actions"]) == 1 and callable(task["actions"][0])
    assert task["uptodate"] and all(callable(check) for check in task["uptodate"])


def test_artifacts_and_so_up_build_helm():
    from tasks.build import steps as build_steps

    assert helm.TASK in build_steps.task_artifacts()["task_dep"]
    assert build_steps.task_helm()["targets"] == [str(helm.binary())]


def test_the_wrapper_module_renders(tmp_path):
    gobuild.write_module(tmp_path, helm.TEMPLATE, {"version": "v4.3.2", "go": "1.26.0"})
    text = (tmp_path / "go.mod").read_text()
    assert "\ngo 1.26.0\n" in text
    assert "require helm.sh/helm/v4 v4.3.2\n" in text
    assert "tool helm.sh/helm/v4/cmd/helm\n" in text
    assert "\nreplace " not in text  # helm's go.mod has none to copy


def test_the_wrapper_s_go_line_is_at_least_1_24():
    assert helm.wrapper_go("1.26.0") == "1.26.0"
    assert helm.wrapper_go("1.22") == "1.24"


def test_helm_lands_beside_kubectl():
    assert Names("kubeadm-local-cluster").helm() == state_dir() / "helm"
    names = Names("b")
    assert names.helm() == names.kubectl().with_name("helm") == state_dir() / "clusters" / "b" / "helm"


def test_the_readme_names_the_version_and_where_helm_lands():
    readme = (REPO_DIR / "README.md").read_text()
    assert f"helm {helm.VERSION}" in readme
    assert "~/.kubeadm-local-cluster/helm" in readme
