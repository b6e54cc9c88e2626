"""Integration tests share one state directory for the session: artifacts are
built once, clusters are made from them. Go's caches are the real ones, so a
warm machine stays warm."""

import os
import subprocess
import sys

import pytest

from tasks.paths import REPO_DIR
from tests.conftest import GO_CACHES

__all__ = ["GO_CACHES", "VERSION", "local_cluster"]

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
