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


# ---------------------------------------------------------------- load (#12)

# Images of this module's own, made from the busybox archive and removed at the
# end (by tag: the same ID may be someone else's under another name). The
# short name is the one a pod spec says and the kubelet makes whole
# (docker.io/library/...); the archive's name is never in the engine.
LOAD_TEST = "kubeadm-local-cluster.invalid/load-test:1"
LOAD_SHORT = "kubeadm-local-cluster-load-test:1"
LOAD_ARCHIVE_ONLY = "kubeadm-local-cluster.invalid/load-test-archive:1"
UP_AGAIN = ["up", "--kubernetes-version", VERSION, "--num-nodes", "0", *CUSTOM]


@pytest.fixture(scope="module")
def load_test_images(busybox_archive, tmp_path_factory):
    from tasks.build.oci import read_image_id, retag

    work = tmp_path_factory.mktemp("load")
    ours, archive_only = work / "ours.tar", work / "archive-only.tar"
    retag(busybox_archive, ours, [LOAD_TEST, LOAD_SHORT])
    retag(busybox_archive, archive_only, [LOAD_ARCHIVE_ONLY])
    docker("load", "-i", str(ours), check=True)
    try:
        yield read_image_id(ours), archive_only
    finally:
        docker("rmi", LOAD_TEST, LOAD_SHORT)


def _one_failure(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    failures = [line for line in result.stdout.splitlines() if line.startswith(("✗", "FAILED"))]
    assert len(failures) == 1, result.stdout
    return failures[0]


def _sleeper(name: str, image: str, policy: str) -> str:
    container = {"name": "main", "image": image, "imagePullPolicy": policy, "command": ["sleep", "3600"]}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
        }
    )


def test_load_puts_images_of_the_engine_into_the_node_and_pods_run_them(custom, load_test_images):
    home, image_id = custom[0], load_test_images[0]
    result = local_cluster(home, "load", LOAD_TEST, LOAD_SHORT, cluster=CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{LOAD_TEST}: loaded into {NAMES.master} ({LOAD_TEST}, image {image_id[7:19]})" in result.stdout
    assert f"{LOAD_SHORT}: loaded into {NAMES.master} (docker.io/library/{LOAD_SHORT}" in result.stdout
    kubectl = Kubectl(home, CLUSTER)
    kubectl.apply(_sleeper("loaded-never", LOAD_TEST, "Never"))
    kubectl.apply(_sleeper("loaded-if-not-present", LOAD_SHORT, "IfNotPresent"))  # nothing to pull from
    kubectl("wait", "--for=condition=Ready", "pod/loaded-never", "pod/loaded-if-not-present", "--timeout=120s")
    for pod in ("loaded-never", "loaded-if-not-present"):
        assert kubectl.json("get", "pod", pod)["status"]["containerStatuses"][0]["imageID"] == image_id


def test_a_second_load_says_the_node_has_it(custom, load_test_images):
    result = local_cluster(custom[0], "load", LOAD_SHORT, cluster=CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{LOAD_SHORT}: already in {NAMES.master} (" in result.stdout


def test_load_of_an_archive_into_the_nodes_named(custom, load_test_images):
    archive = load_test_images[1]
    result = local_cluster(custom[0], "load", "--archive", str(archive), "--nodes", "kube-master", cluster=CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{archive}: loaded into {NAMES.master} ({LOAD_ARCHIVE_ONLY}, image" in result.stdout
    images = docker("exec", NAMES.master, "crictl", "images").stdout
    assert LOAD_ARCHIVE_ONLY.split(":")[0] in images
    # No copy is left in the node (nor on this machine: the engine's image went through an anonymous file).
    leftovers = docker("exec", NAMES.master, "ls", "/var/lib/containerd").stdout.split()
    assert not [name for name in leftovers if name.startswith("kubeadm-local-cluster-load")]


def test_a_missing_image_or_node_is_one_line(custom, load_test_images):
    home = custom[0]
    failure = _one_failure(local_cluster(home, "load", "kubeadm-local-cluster.invalid/no-such:1", cluster=CLUSTER))
    assert "image kubeadm-local-cluster.invalid/no-such:1 is not in the Docker engine" in failure
    failure = _one_failure(local_cluster(home, "load", LOAD_TEST, "--nodes", "kube-node-9", cluster=CLUSTER))
    assert f"no node kube-node-9 in cluster {CLUSTER}: its nodes are {NAMES.master}" in failure
    failure = _one_failure(local_cluster(home, "load", LOAD_TEST, cluster="it-load-none"))
    assert "cluster it-load-none has no nodes on this engine: `local-cluster up` makes it" in failure


def test_loaded_images_outlive_a_restart_of_the_nodes(custom, load_test_images):
    home = custom[0]
    docker("stop", NAMES.master, check=True)
    failure = _one_failure(local_cluster(home, "load", LOAD_TEST, cluster=CLUSTER))
    assert f"the cluster is not up ({NAMES.master} is exited): `local-cluster up` starts it" in failure
    result = local_cluster(home, *UP_AGAIN, cluster=CLUSTER)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "starting the stopped nodes" in result.stdout
    again = local_cluster(home, "load", LOAD_TEST, LOAD_SHORT, "--archive", str(load_test_images[1]), cluster=CLUSTER)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count(f"already in {NAMES.master}") == 3, again.stdout
    kubectl = Kubectl(home, CLUSTER)
    kubectl("wait", "--for=condition=Ready", "pod/loaded-never", "pod/loaded-if-not-present", "--timeout=180s")


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
