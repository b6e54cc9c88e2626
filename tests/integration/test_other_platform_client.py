"""A client of another platform than the nodes' (a Mac on arm64 driving an
amd64 engine) gets a kubectl it can run: built from the same Kubernetes
modules as the nodes', for darwin/arm64. This machine's platform is a fake
(it is Linux); the Go module proxy, go and the engine's answer are real."""

import os
import subprocess
import sys

import pytest

from tasks.build import client
from tasks.paths import REPO_DIR
from tasks.versions import resolve

pytestmark = pytest.mark.integration

BUILD = """
import sys
from tasks.build import artifacts, client, platforms
from tasks.settings import load_settings

platforms.this_machine = lambda: ("darwin", "arm64")  # the fake: a Mac
version = artifacts.ArtifactSet(sys.argv[1])
artifacts.prepare_kubernetes_module(version)
client.build_kubectl(version, client.kubectl_source(version, load_settings()))
print(platforms.nodes_platform())
print(client.kubectl_binary(version))
"""


def test_a_mac_gets_a_kubectl_built_for_it_from_the_nodes_kubernetes_modules():
    version = resolve("stable")
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    made = subprocess.run([sys.executable, "-c", BUILD, version], capture_output=True, text=True, env=env, timeout=1800)
    assert made.returncode == 0, made.stdout + made.stderr
    nodes, path = made.stdout.splitlines()[-2:]
    assert nodes == "('linux', 'amd64')"  # the engine's: the nodes' own programs stay Linux ones
    with open(path, "rb") as program:
        data = program.read()
    # A 64-bit Mach-O for arm64, as a Mac runs it, built from the cluster's Kubernetes, as Go's build information says.
    assert data[:4] == client.MACHO_64 and int.from_bytes(data[4:8], "little") == client.MACHO_CPU_TYPES["arm64"]
    assert b"\nbuild\tGOOS=darwin\n" in data and b"\nbuild\tGOARCH=arm64\n" in data
    assert f"\nmod\tk8s.io/kubernetes\t{version}\t".encode() in data
    assert version.encode() in data  # the version stamp (-X), among other strings
