"""doctor against the real engine."""

import os
import subprocess
import sys

import pytest

from tasks.paths import REPO_DIR
from tasks.probe import PROBE_IMAGE

pytestmark = pytest.mark.integration


def docker(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


def local_cluster(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    return subprocess.run([sys.executable, "-m", "tasks", *args], capture_output=True, text=True, env=env, timeout=300)


def test_doctor_says_a_cluster_can_be_made_here():
    result = local_cluster("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    server = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    engine = next(line for line in lines if " engine " in line)
    assert f"Docker {server}" in engine
    # What doctor says about --privileged must be what the engine does.
    privileged = docker("run", "--rm", "--privileged", PROBE_IMAGE)
    node_line = next(line for line in lines if "node containers" in line)
    if privileged.returncode == 0:
        assert "--privileged containers start" in node_line
    else:
        assert "nodes will run in explicit-capabilities mode" in node_line
    cgroup = docker("info", "--format", "{{.CgroupVersion}}").stdout.strip()
    assert f"cgroup v{cgroup}" in next(line for line in lines if " cgroup " in line)
    # The engine is on this machine: one platform, its architecture as the engine says it.
    machine = docker("info", "--format", "{{.Architecture}}").stdout.strip()
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}[machine]
    platforms = next(line for line in lines if " platforms " in line)
    assert f"this machine and the nodes (the engine's) are linux/{architecture}" in platforms


def test_doctor_leaves_no_container_behind():
    assert local_cluster("doctor").returncode == 0
    left = docker("ps", "-a", "--filter", "label=io.kubeadm-local-cluster.role=probe", "--format", "{{.ID}}")
    assert left.stdout.strip() == ""
