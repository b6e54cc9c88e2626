"""At home for a kind or kubeadm user (#15), on one single-node cluster (the
node count is not the point): the cluster in the user's kubeconfig and out
again byte for byte, `kubeconfig`, `export-logs`, and a cluster customised with
a feature gate, a runtime-config group, component flags, kubeadm patches, a
port mapping and node labels. Then an `up` a feature gate breaks: one line
naming the component, within seconds, and the logs archive it leaves."""

import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.request

import pytest
import yaml

from tasks.naming import Names
from tests.integration.conftest import VERSION, Kubectl, local_cluster
from tests.integration.test_cluster import docker
from tests.unit.test_user_kubeconfig import KUBECTL_WRITTEN

pytestmark = pytest.mark.integration

CLUSTER = "it-custom"
NAMES = Names(CLUSTER)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


HOST_PORT = free_port()
CUSTOM = [
    "--feature-gates",
    "ContainerStopSignals=true",
    "--runtime-config",
    "admissionregistration.k8s.io/v1alpha1=true",
    "--apiserver-extra-args",
    "{event-ttl: 30m0s}",
    "--kube-proxy-extra-args",
    "v=3",
    "--kubeadm-config-patches",
    "kind: KubeletConfiguration\nmaxPods: 150\n",
    "--kubeadm-config-patches-json6902",
    "[{kind: ClusterConfiguration, patch: [{op: add, path: /controllerManager/extraArgs/-, "
    "value: {name: terminated-pod-gc-threshold, value: '99'}}]}]",
    "--extra-port-mappings",
    f"{HOST_PORT}:30080",
    "--node-labels",
    "tier=demo,node-role.kubernetes.io/worker=",
]


@pytest.fixture(scope="module")
def custom(shared_home, tmp_path_factory):
    """The cluster, up with KUBECONFIG naming a kubeconfig of the user's (two
    contexts, as kubectl wrote it) and a second file after it."""
    users = tmp_path_factory.mktemp("user") / "config"
    users.write_text(KUBECTL_WRITTEN)
    users.chmod(0o600)
    env = {"KUBECONFIG": f"{users}{os.pathsep}{users.parent / 'second'}"}
    args = ["up", "--kubernetes-version", VERSION, "--num-nodes", "0", *CUSTOM]
    result = local_cluster(shared_home, *args, cluster=CLUSTER, env=env)
    try:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        yield shared_home, users, env, result.stdout
    finally:
        local_cluster(shared_home, "clean", cluster=CLUSTER, env=env)


def plain_kubectl(home, *args, env=None):
    """kubectl as the user runs it: no --kubeconfig, their HOME and KUBECONFIG."""
    environ = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    environ.update(HOME=str(home), **(env or {}))
    return subprocess.run([str(NAMES.kubectl(home)), *args], capture_output=True, text=True, env=environ, timeout=60)


def test_up_merges_the_cluster_into_the_users_kubeconfig(custom):
    home, users, env, stdout = custom
    result = plain_kubectl(home, "get", "nodes", "-o", "name", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"node/{NAMES.master}"
    config = yaml.safe_load(users.read_text())
    assert config["current-context"] == "kubeadm-local-cluster-it-custom"
    assert [c["name"] for c in config["contexts"]] == ["one", "two", "kubeadm-local-cluster-it-custom"]
    assert not (users.parent / "second").exists()
    assert f"kubectl context kubeadm-local-cluster-it-custom in {users}" in stdout


def test_an_up_without_kubeconfig_set_merges_into_home_kube_config(custom):
    home, _, _, _ = custom
    result = local_cluster(home, "up", "--kubernetes-version", VERSION, "--num-nodes", "0", *CUSTOM, cluster=CLUSTER)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    result = plain_kubectl(home, "get", "nodes", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"node/{NAMES.master}"
    assert oct((home / ".kube" / "config").stat().st_mode & 0o777) in ("0o600", "0o640")


def test_output_json_is_one_event_per_line(custom):
    home = custom[0]
    args = ["up", "--kubernetes-version", VERSION, "--num-nodes", "0", *CUSTOM, "--output", "json"]
    result = local_cluster(home, *args, cluster=CLUSTER)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    states = {(e.get("step"), e["state"]) for e in events}
    assert ("ready", "started") in states and ("ready", "done") in states
    assert all("seconds" in e for e in events if e["state"] == "done")
    assert any(e["state"] == "output" and "Cluster it-custom is up" in e["message"] for e in events)


def test_kubeconfig_prints_it_for_the_host_and_for_the_cluster_network(custom):
    home = custom[0]
    outside = local_cluster(home, "kubeconfig", cluster=CLUSTER)
    assert outside.returncode == 0, outside.stderr
    assert "server: https://127.0.0.1:" in outside.stdout
    inside = local_cluster(home, "kubeconfig", "--internal", cluster=CLUSTER)
    assert inside.returncode == 0, inside.stderr
    assert f"server: https://{NAMES.master}:6443" in inside.stdout
    assert "client-key-data" in inside.stdout


def test_the_feature_gate_is_on(custom):
    kubectl = Kubectl(custom[0], CLUSTER)
    metrics = kubectl("get", "--raw", "/metrics")
    assert 'kubernetes_feature_enabled{name="ContainerStopSignals",stage="ALPHA"} 1' in metrics
    pod = kubectl.json("-n", "kube-system", "get", "pod", f"kube-apiserver-{NAMES.master}")
    command = pod["spec"]["containers"][0]["command"]
    assert "--feature-gates=ContainerStopSignals=true" in command
    assert "--event-ttl=30m0s" in command


def test_the_runtime_config_group_is_served(custom):
    assert "admissionregistration.k8s.io/v1alpha1" in Kubectl(custom[0], CLUSTER)("api-versions").split()


def test_kubeadm_patches_and_component_flags_are_in_the_node(custom):
    kubectl = Kubectl(custom[0], CLUSTER)
    node = kubectl.json("get", "node", NAMES.master)
    assert node["status"]["capacity"]["pods"] == "150"  # the merge patch of KubeletConfiguration
    manifest = docker("exec", NAMES.master, "cat", "/etc/kubernetes/manifests/kube-controller-manager.yaml").stdout
    assert "--terminated-pod-gc-threshold=99" in manifest  # the JSON 6902 patch
    proxy = kubectl.json("-n", "kube-system", "get", "daemonset", "kube-proxy")
    assert "--v=3" in proxy["spec"]["template"]["spec"]["containers"][0]["command"]


def test_node_labels(custom):
    labels = Kubectl(custom[0], CLUSTER).json("get", "node", NAMES.master)["metadata"]["labels"]
    assert labels["tier"] == "demo"
    assert labels["node-role.kubernetes.io/worker"] == ""


def test_a_node_port_is_reachable_from_the_host(custom):
    # CoreDNS's health endpoint behind a NodePort: through kube-proxy and the port mapping.
    Kubectl(custom[0], CLUSTER).apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "dns-health", "namespace": "kube-system"},
                "spec": {
                    "type": "NodePort",
                    "selector": {"k8s-app": "kube-dns"},
                    "ports": [{"port": 8080, "targetPort": 8080, "nodePort": 30080}],
                },
            }
        )
    )
    deadline, answer = time.monotonic() + 60, None
    while time.monotonic() < deadline and answer != "OK":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HOST_PORT}/health", timeout=5) as response:
                answer = response.read().decode().strip()
        except OSError:
            time.sleep(1)
    assert answer == "OK"
    ports = docker("port", NAMES.master).stdout
    assert f"30080/tcp -> 127.0.0.1:{HOST_PORT}" in ports


def test_export_logs_of_a_healthy_cluster(custom, tmp_path):
    archive = tmp_path / "logs.tar.gz"
    result = local_cluster(custom[0], "export-logs", str(archive), cluster=CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        node = f"logs/{NAMES.master}"
        for item in (
            "logs/settings.yaml",
            "logs/made-with.json",
            "logs/versions.txt",
            "logs/cluster-info-dump.txt",
            f"{node}/journal.log",
            f"{node}/kubelet.log",
            f"{node}/containerd.log",
            f"{node}/crictl-ps.txt",
            f"{node}/crictl-images.txt",
            f"{node}/docker-inspect.json",
            f"{node}/kubeadm/kubeadm.yaml",
            f"{node}/kubeadm/kubeadm-init.log",
            f"{node}/manifests/kube-apiserver.yaml",
        ):
            assert item in names, item
        assert any(n.startswith(f"{node}/var/log/pods/kube-system_kube-apiserver-") for n in names)
        assert any(n.startswith(f"{node}/var/log/containers/kube-apiserver-") for n in names)
        assert f"{node}/errors.txt" not in names
        config = tar.extractfile(f"{node}/kubeadm/kubeadm.yaml").read().decode()
        assert '"<redacted>"' in config and 'token: "' not in config.replace('token: "<redacted>"', "")
        made_with = json.loads(tar.extractfile("logs/made-with.json").read())
        assert made_with["kubernetes.featureGates"] == {"ContainerStopSignals": True}
        assert "Running" in tar.extractfile(f"{node}/crictl-ps.txt").read().decode()


def test_clean_gives_the_users_kubeconfig_back_byte_for_byte(custom):
    home, users, env, _ = custom
    result = local_cluster(home, "clean", cluster=CLUSTER, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert users.read_text() == KUBECTL_WRITTEN
    home_config = home / ".kube" / "config"
    assert not home_config.exists() or "kubeadm-local-cluster-it-custom" not in home_config.read_text()


def test_an_unknown_feature_gate_fails_fast_naming_the_component(shared_home):
    cluster = "it-badgate"
    args = ["up", "--kubernetes-version", VERSION, "--num-nodes", "0", "--feature-gates", "NoSuchGate=true"]
    try:
        result = local_cluster(shared_home, *args, cluster=cluster)
        assert result.returncode == 1
        failure = [line for line in result.stdout.splitlines() if line.startswith(("✗", "FAILED"))]
        assert len(failure) == 1, result.stdout[-3000:]
        assert f"kubeadm init on kube-master-{cluster} stopped: the kubelet fails:" in failure[0]
        assert "unrecognized feature gate: NoSuchGate" in failure[0]
        archive = failure[0].split("node logs: ")[1].split(";")[0]
        with tarfile.open(archive) as tar:
            top = tar.getnames()[0].split("/")[0]
            kubelet = tar.extractfile(f"{top}/kube-master-{cluster}/kubelet.log").read().decode()
            assert "NoSuchGate" in kubelet
            assert f"{top}/kube-master-{cluster}/kubeadm/kubeadm-init.log" in tar.getnames()
        assert docker("ps", "-aq", "--filter", f"name=^kube-master-{cluster}$").stdout.strip() == ""
    finally:
        local_cluster(shared_home, "clean", cluster=cluster)
