"""helm beside kubectl (#12): `up` puts the helm it built into the cluster's
state directory, and it installs, lists and uninstalls a local chart
(tests/charts/demo: one ConfigMap, nothing to pull) on a single-node cluster
of its own (the node count is not the point)."""

import json
import subprocess

import pytest

from tasks.build import helm, platforms
from tasks.naming import Names
from tasks.paths import REPO_DIR, cache_dir
from tests.integration.conftest import VERSION, Kubectl, local_cluster, tool_environ

pytestmark = pytest.mark.integration

CLUSTER = "it-helm"
NAMES = Names(CLUSTER)
CHART = REPO_DIR / "tests" / "charts" / "demo"
RELEASE = "demo"


@pytest.fixture(scope="module")
def cluster(shared_home):
    result = local_cluster(shared_home, "up", "--kubernetes-version", VERSION, "--num-nodes", "0", cluster=CLUSTER)
    try:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        yield shared_home, result.stdout
    finally:
        cleaned = local_cluster(shared_home, "clean", cluster=CLUSTER)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr


def run_helm(home, *args) -> str:
    """helm as the README says to run it: KUBECONFIG naming the cluster's admin.conf."""
    environ = tool_environ(home, CLUSTER, {"KUBECONFIG": str(NAMES.kubeconfig(home))})
    for name in ("CONFIG", "CACHE", "DATA"):  # helm's own state: the test's, whatever XDG_* the caller has
        environ[f"HELM_{name}_HOME"] = str(home / "helm" / name.lower())
    result = subprocess.run([str(NAMES.helm(home)), *args], capture_output=True, text=True, env=environ, timeout=120)
    assert result.returncode == 0, f"helm {' '.join(args)}: {result.stdout} {result.stderr}"
    return result.stdout


def test_helm_of_the_readme_s_version_is_beside_kubectl(cluster):
    home, out = cluster
    assert NAMES.helm(home) == NAMES.kubectl(home).with_name("helm")
    assert f"alias helm=~/.kubeadm-local-cluster/clusters/{CLUSTER}/helm" in out
    assert run_helm(home, "version", "--template", "{{.Version}}") == helm.VERSION
    goos, goarch = platforms.this_machine()  # helm runs only here: built for this machine
    built = cache_dir(home) / "helm" / helm.VERSION / f"{goos}-{goarch}" / "helm"
    assert NAMES.helm(home).read_bytes() == built.read_bytes()


def test_helm_installs_lists_and_uninstalls_a_local_chart(cluster):
    home, _ = cluster
    kubectl = Kubectl(home, CLUSTER)
    run_helm(home, "install", RELEASE, str(CHART), "--namespace", "default", "--set", "greeting=hi")
    releases = json.loads(run_helm(home, "list", "--namespace", "default", "--output", "json"))
    assert [(r["name"], r["status"], r["chart"]) for r in releases] == [(RELEASE, "deployed", "demo-0.1.0")]
    config_map = kubectl.json("get", "configmap", f"{RELEASE}-demo", "--namespace", "default")
    # Rendered by helm with the value given and what it learnt of the cluster.
    assert config_map["data"] == {"greeting": "hi", "kubernetes": VERSION}
    assert config_map["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"

    run_helm(home, "uninstall", RELEASE, "--namespace", "default")
    assert json.loads(run_helm(home, "list", "--namespace", "default", "--output", "json")) == []
    gone = kubectl("get", "configmap", f"{RELEASE}-demo", "--namespace", "default", "--ignore-not-found")
    assert gone.strip() == ""
