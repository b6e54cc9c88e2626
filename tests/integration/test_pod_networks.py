"""Pod networks other than bridge (#11; bridge: test_cluster.py and
test_snapshot.py). flannel, built here: a 1+2 cluster where a pod on each
worker reaches the other by pod IP and a Service by DNS name, after `up`,
after the nodes were stopped and started, and after a restore from the
snapshot; nothing pulled; its VXLAN interface on every node. calico and
weave (pulled, not hermetic): the one line on a machine without internet."""

import json
import socket
import subprocess
import time

import pytest

from tasks.naming import Names
from tasks.podnet import calico, weave
from tests.integration.conftest import VERSION, Kubectl, local_cluster
from tests.integration.test_cluster import _pod, docker, load_busybox

pytestmark = pytest.mark.integration

CLUSTER = "it-flannel"
NAMES = Names(CLUSTER)
NODES = [NAMES.master, NAMES.worker(1), NAMES.worker(2)]


def up(home):
    args = ["up", "--kubernetes-version", VERSION, "--num-nodes", "2", "--cni-plugin", "flannel"]
    return local_cluster(home, *args, cluster=CLUSTER)


@pytest.fixture(scope="module")
def flannel(shared_home, busybox_archive):
    result = up(shared_home)
    try:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        load_busybox(busybox_archive, NODES)
        yield Kubectl(shared_home, CLUSTER), shared_home, busybox_archive
    finally:
        local_cluster(shared_home, "clean", cluster=CLUSTER)


def wget(kubectl: Kubectl, url: str, deadline: float = 60) -> subprocess.CompletedProcess:
    argv = [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", "exec", "client", "--"]
    end = time.monotonic() + deadline
    while True:
        result = subprocess.run([*argv, "wget", "-q", "-O", "-", "-T", "5", url], capture_output=True, text=True)
        if result.returncode == 0 or time.monotonic() > end:
            return result
        time.sleep(2)


WEB = "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


def start_web_and_client(kubectl: Kubectl) -> None:
    kubectl.apply(_pod("web", NAMES.worker(1), WEB))
    kubectl.apply(_pod("client", NAMES.worker(2), "sleep 3600"))
    kubectl.apply(json.dumps(SERVICE))


def traffic_flows(kubectl: Kubectl) -> None:
    """web on worker 1, client on worker 2: by pod IP across nodes, then by Service name."""
    kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=180s")
    web_ip = kubectl.json("get", "pod", "web")["status"]["podIP"]
    assert web_ip.startswith("10.244.1."), web_ip  # worker 1's podCIDR, as `up` gave it
    by_ip = wget(kubectl, f"http://{web_ip}:8080/")
    assert by_ip.stdout.strip() == "web", by_ip.stderr
    by_name = wget(kubectl, "http://web.default.svc.cluster.local/")
    assert by_name.stdout.strip() == "web", by_name.stderr


def test_flannel_pods_run_what_was_built_here(flannel):
    kubectl = flannel[0]
    pods = kubectl.json("-n", "kube-flannel", "get", "pods")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(NODES)
    for pod in pods:
        for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            assert container["image"].startswith("kubeadm-local-cluster/flannel:"), container["image"]
            assert container["imagePullPolicy"] == "Never"
    for node in NODES:
        deadline = time.monotonic() + 30  # flanneld makes it a moment after it starts
        while "vxlan id 1" not in (link := docker("exec", node, "ip", "-d", "link", "show", "flannel.1").stdout):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        assert "vxlan id 1" in link, (node, link)
        assert docker("exec", node, "test", "!", "-e", "/etc/cni/net.d/10-bridge.conflist").returncode == 0


def test_pods_reach_each_other_across_nodes_and_services_by_dns(flannel):
    kubectl = flannel[0]
    start_web_and_client(kubectl)
    traffic_flows(kubectl)


def test_traffic_flows_after_the_nodes_were_stopped_and_started(flannel):
    kubectl, home, _ = flannel
    docker("stop", *NODES, check=True)
    result = up(home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "starting the stopped nodes" in result.stdout
    traffic_flows(kubectl)


def test_traffic_flows_after_a_restore_from_the_snapshot(flannel):
    kubectl, home, busybox = flannel
    assert local_cluster(home, "down", cluster=CLUSTER).returncode == 0
    result = up(home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "restoring the snapshot taken" in result.stdout
    load_busybox(busybox, NODES)  # the snapshot holds the cluster as made, not what was loaded since
    start_web_and_client(kubectl)
    traffic_flows(kubectl)


def github_resolves() -> bool:
    try:
        socket.getaddrinfo("raw.githubusercontent.com", 443)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("plugin", ["calico", "weave"])
def test_a_pulled_network_without_internet_is_one_line_before_any_node_starts(shared_home, plugin):
    """calico and weave come from their upstream manifests and pull their
    images: a machine that reaches neither (such as these) is told so, in one
    line naming the images, before a node is made."""
    if github_resolves():
        pytest.skip("this machine reaches github.com: the manifest would be fetched")
    cluster = f"it-{plugin}"
    result = local_cluster(shared_home, "up", "--kubernetes-version", VERSION, "--cni-plugin", plugin, cluster=cluster)
    assert result.returncode != 0
    [line] = [line for line in result.stdout.splitlines() if line.startswith(f"✗ {plugin} ")]
    upstream = {"calico": calico, "weave": weave}[plugin].UPSTREAM
    assert f"({', '.join(upstream.images)})" in line
    assert "does not resolve" in line and "use --cni-plugin bridge or flannel" in line
    assert "Traceback" not in result.stdout + result.stderr
    names = Names(cluster)
    assert not docker("ps", "-a", "-q", "--filter", f"name={names.master}").stdout.strip()
