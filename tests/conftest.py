"""Every test runs with its own HOME, no K8S_DIND_* variables and no
LOCAL_CLUSTER_CONF, so no test reads or touches the user's cluster or settings."""

import os
import shutil
import subprocess

import pytest


def _go_caches() -> dict[str, str]:
    """The real Go caches: tests change HOME, builds should still find them warm."""
    if not shutil.which("go"):
        return {}
    out = subprocess.run(["go", "env", "GOMODCACHE", "GOCACHE", "GOPATH"], capture_output=True, text=True).stdout
    return dict(zip(("GOMODCACHE", "GOCACHE", "GOPATH"), out.split(), strict=False))


GO_CACHES = _go_caches()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name, value in GO_CACHES.items():
        monkeypatch.setenv(name, value)
    for var in list(os.environ):
        if var.startswith("K8S_DIND_") or var in ("LOCAL_CLUSTER_CONF", "KUBECONFIG"):
            monkeypatch.delenv(var)
    # "stable" was resolved a moment ago: tests that do not build need no
    # network (tests of resolving itself remove this).
    cache = home / ".kubeadm-local-cluster" / "cache"
    cache.mkdir(parents=True)
    (cache / "stable-version.txt").write_text("v1.34.4\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def state(isolated_home):
    path = isolated_home / ".kubeadm-local-cluster"
    path.mkdir(exist_ok=True)
    return path


def pytest_collection_modifyitems(items):
    # Unit tests first: they need no engine and fail fast.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)
