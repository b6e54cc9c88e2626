"""Every test runs with its own HOME, no K8S_DIND_* variables and no
LOCAL_CLUSTER_CONF, so no test reads or touches the user's cluster or settings."""

import os

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in list(os.environ):
        if var.startswith("K8S_DIND_") or var == "LOCAL_CLUSTER_CONF":
            monkeypatch.delenv(var)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def state(isolated_home):
    path = isolated_home / ".kubeadm-local-cluster"
    path.mkdir()
    return path


def pytest_collection_modifyitems(items):
    # Unit tests first: they need no engine and fail fast.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)
