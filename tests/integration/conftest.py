"""Integration tests share one state directory for the session: artifacts are
built once, clusters are made from them. Go's caches are the real ones, so a
warm machine stays warm."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tasks.paths import REPO_DIR
from tests.conftest import GO_CACHES

__all__ = ["GO_CACHES", "VERSION", "kubernetes_tree", "local_cluster"]

VERSION = "v1.34.4"  # the release the cluster tests use


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def local_cluster(home, *args, env=None, timeout=3600):
    environ = {**os.environ, **GO_CACHES, "HOME": str(home), "PYTHONPATH": str(REPO_DIR)}
    environ = {k: v for k, v in environ.items() if not k.startswith("K8S_DIND_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args], capture_output=True, text=True, env=environ, timeout=timeout
    )


@pytest.fixture(scope="session")
def kubernetes_tree(tmp_path_factory):
    """A real Kubernetes tree, assembled from the module cache: k8s.io/kubernetes'
    source with each staging module under staging/src/k8s.io/<name>. Module
    zips keep no symlinks, executable bits or vendor/, so those are restored;
    there is no .git, so the version comes from KUBE_GIT_VERSION."""

    def download(module: str) -> dict:
        out = subprocess.run(
            ["go", "mod", "download", "-json", module],
            capture_output=True,
            text=True,
            env={**os.environ, **GO_CACHES},
            cwd=tmp_path_factory.getbasetemp(),
        ).stdout
        return json.loads(out)

    tree = tmp_path_factory.mktemp("tree") / "kubernetes"
    shutil.copytree(download(f"k8s.io/kubernetes@{VERSION}")["Dir"], tree)
    subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)
    shutil.rmtree(tree / "vendor")
    (tree / "Makefile").symlink_to("build/root/Makefile")
    for script in tree.rglob("*.sh"):
        script.chmod(0o755)
    staging_version = "v0." + VERSION.removeprefix("v").split(".", 1)[1]
    for name in re.findall(r"^\s*k8s\.io/([a-z0-9-]+) => \./staging/", (tree / "go.mod").read_text(), re.M):
        target = tree / "staging" / "src" / "k8s.io" / name
        facts = download(f"k8s.io/{name}@{staging_version}")
        if facts.get("Dir"):
            shutil.copytree(facts["Dir"], target)
        else:  # a few sample modules are not published for every release; nothing we build uses them
            target.mkdir(parents=True)
            (target / "go.mod").write_text(f"module k8s.io/{name}\n\ngo 1.24.0\n")
    subprocess.run(["chmod", "-R", "u+w", str(tree / "staging")], check=True)
    return tree
