"""A real cluster: the real engine, real kubeadm, real kubectl against it.

The workloads use a busybox image made here from Debian's busybox-static
package (no registry), loaded into the nodes' containerd.
"""

import http.server
import json
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from tasks.addons import dashboard
from tasks.naming import Names
from tests.integration.conftest import BUSYBOX, VERSION, Kubectl, local_cluster, tool_environ

pytestmark = pytest.mark.integration

NAME = "it-cluster"  # this module's cluster: never the default one
NAMES = Names(NAME)
MASTER, NODE1, NODE2 = NAMES.master, NAMES.worker(1), NAMES.worker(2)
LABEL = f"io.kubeadm-local-cluster.cluster={NAME}"


def docker(*args, check=False) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, check=check)


def load_busybox(archive: Path, nodes: list[str]) -> None:
    for node in nodes:
        docker("cp", str(archive), f"{node}:/root/busybox.tar", check=True)
        docker("exec", node, "ctr", "-n", "k8s.io", "images", "import", "/root/busybox.tar", check=True)


def up(home, *args, env=None, cluster=NAME):
    return local_cluster(home, "up", "--kubernetes-version", VERSION, *args, env=env, cluster=cluster)


@pytest.fixture(scope="module")
def cluster(shared_home, busybox_archive):
    result = up(shared_home)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    load_busybox(busybox_archive, [MASTER, NODE1, NODE2])
    return Kubectl(shared_home, NAME), result.stdout


def test_up_reports_the_cluster_and_how_to_use_it(cluster):
    _, out = cluster
    assert f"Cluster {NAME} is up: 3 nodes, Kubernetes {VERSION}." in out
    assert f"export KUBECONFIG=~/.kubeadm-local-cluster/clusters/{NAME}/admin.conf" in out
    assert f"alias kubectl=~/.kubeadm-local-cluster/clusters/{NAME}/kubectl" in out


def test_three_nodes_ready_at_the_version(cluster):
    kubectl, _ = cluster
    nodes = kubectl.json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [MASTER, NODE1, NODE2]
    for node in nodes:
        assert node["status"]["nodeInfo"]["kubeletVersion"] == VERSION
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
    assert VERSION in kubectl("version")


def test_fresh_nodes_start_from_the_seeds_and_import_nothing_at_boot(cluster):
    """containerd's content comes copied from the node image's seeds (one per
    role, kept for the next cluster): import-images found its marker at boot."""
    from tests.integration.conftest import NODE_REPOSITORY

    seeds = docker("volume", "ls", "-q", "--filter", "label=io.kubeadm-local-cluster.role=node-seed").stdout.split()
    prefix = f"{NODE_REPOSITORY.replace('/', '-')}-{VERSION}-seed-"
    assert {f"{prefix}master", f"{prefix}worker"} <= set(seeds)
    for node in (MASTER, NODE1):
        boot = docker("exec", node, "journalctl", "-b", "-u", "import-images", "--no-pager", "-o", "cat").stdout
        assert "unpacking" not in boot and "Importing" not in boot, boot
    images = docker("exec", NODE1, "crictl", "images", "-o", "json").stdout
    assert "kube-proxy" in images and "kube-apiserver" not in images  # the worker's seed


def test_kubeconfig_is_private_and_the_api_is_on_loopback(cluster, shared_home):
    admin = NAMES.kubeconfig(shared_home)
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    assert "server: https://127.0.0.1:" in admin.read_text()
    ports = docker("port", MASTER, "6443").stdout
    assert ports.startswith("127.0.0.1:"), ports


def _pod(name: str, node: str, command: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "main", "image": BUSYBOX, "imagePullPolicy": "Never", "command": ["sh", "-c", command]}
                ],
            },
        }
    )


def apply(kubectl: Kubectl, manifest: str) -> None:
    kubectl.apply(manifest)


def test_pods_reach_each_other_across_nodes_and_services_by_dns(cluster):
    kubectl, _ = cluster
    apply(kubectl, _pod("web", NODE1, "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"))
    apply(kubectl, _pod("client", NODE2, "sleep 3600"))
    kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=120s")
    web_ip = kubectl.json("get", "pod", "web")["status"]["podIP"]
    by_ip = kubectl("exec", "client", "--", "wget", "-q", "-O", "-", "-T", "5", f"http://{web_ip}:8080/")
    assert by_ip.strip() == "web"
    apply(
        kubectl,
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        ),
    )
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            [
                str(kubectl.binary),
                f"--kubeconfig={kubectl.kubeconfig}",
                "exec",
                "client",
                "--",
                "wget",
                "-q",
                "-O",
                "-",
                "-T",
                "5",
                "http://web.default.svc.cluster.local/",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.stdout.strip() == "web", result.stderr


def _claim_pod(name: str, node: str, command: str, restart: str = "Always") -> str:
    """A pod on NODE (by the scheduler: a claim waits for its first consumer
    to be scheduled) with the claim `data` at /data."""
    pod = json.loads(_pod(name, node, command))
    spec = pod["spec"]
    spec["nodeSelector"] = {"kubernetes.io/hostname": spec.pop("nodeName")}
    spec["restartPolicy"] = restart
    spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return json.dumps(pod)


def test_a_claim_of_the_default_class_binds_and_its_data_outlives_the_pod(cluster):
    kubectl, _ = cluster
    # No storageClassName: the default class (local-path-provisioner, on by default).
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    apply(kubectl, json.dumps(claim))
    apply(kubectl, _claim_pod("writer", NODE1, "echo kept > /data/file", restart="Never"))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/writer", "--timeout=180s")
    bound = kubectl.json("get", "pvc", "data")
    assert bound["status"]["phase"] == "Bound"
    assert bound["spec"]["storageClassName"] == "standard"
    kubectl("delete", "pod", "writer", "--wait=true")
    apply(kubectl, _claim_pod("reader", NODE1, "sleep 3600"))
    kubectl("wait", "--for=condition=Ready", "pod/reader", "--timeout=120s")
    assert kubectl("exec", "reader", "--", "cat", "/data/file").strip() == "kept"


def test_second_up_does_no_work(cluster, shared_home):
    result = up(shared_home)
    assert result.returncode == 0, result.stdout + result.stderr
    redone = [line for line in result.stdout.splitlines() if line.startswith("✓")]
    assert [line.split(" (")[0] for line in redone] == [
        "✓ names and subnet free",
        "✓ nodes Ready, CoreDNS Ready",
        "✓ kubeconfig, kubectl and helm",
    ]


def test_the_node_image_is_kept_once_in_the_engine_not_also_here(cluster, shared_home):
    made = shared_home / ".kubeadm-local-cluster" / "cache" / "kubernetes" / VERSION
    assert (made / "node-image.json").exists()
    assert not (made / "node-image.tar").exists(), "a GB here that the engine holds too"


def test_up_starts_stopped_nodes_again_with_their_workloads(cluster, shared_home):
    kubectl, _ = cluster
    before = kubectl.json("get", "pod", "web")["metadata"]["uid"]
    docker("stop", MASTER, NODE1, NODE2, check=True)
    result = up(shared_home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"starting the stopped nodes {MASTER}, {NODE1}, {NODE2}" in result.stdout
    assert "✓ kubeadm init" not in result.stdout
    kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "pod/reader", "--timeout=180s")
    assert kubectl.json("get", "pod", "web")["metadata"]["uid"] == before
    # The claim's data is in the node's filesystem, which a restart keeps.
    assert kubectl("exec", "reader", "--", "cat", "/data/file").strip() == "kept"
    # The API server's Service went straight to the master until kube-proxy ran;
    # kube-proxy's chains come first once it has written them, as on any node
    # (cni-setup). Pods Ready do not mean kube-proxy has synced yet: a minute for it.
    for node in (MASTER, NODE1):
        deadline = time.monotonic() + 60
        while True:
            rules = docker("exec", node, "iptables", "-t", "nat", "-S", "OUTPUT", check=True).stdout.splitlines()
            ours = [i for i, rule in enumerate(rules) if "DNAT" in rule and "10.96.0.1/32" in rule]
            theirs = [i for i, rule in enumerate(rules) if "-j KUBE-SERVICES" in rule]
            if theirs or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert ours and theirs and theirs[0] < ours[0], rules


FREEZE = (
    "mkdir -p /sys/fs/cgroup/freezer/frozen-by-test && "
    '(sh -c "echo \\$\\$ > /sys/fs/cgroup/freezer/frozen-by-test/cgroup.procs; exec sleep 1000" &); '
    "sleep 0.5; echo FROZEN > /sys/fs/cgroup/freezer/frozen-by-test/freezer.state"
)


def test_down_then_clean_leave_nothing_labelled(cluster, shared_home):
    # A process frozen inside a node (as a pod's `runc init` left in a FROZEN
    # freezer cgroup, seen after a reup) keeps the engine from killing it: down thaws it.
    frozen = docker("exec", NODE2, "sh", "-c", FREEZE).returncode == 0  # cgroup v1 hosts only
    down = local_cluster(shared_home, "down", cluster=NAME)
    assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
    if frozen:
        assert f"{NODE2} cannot be killed while a process in it is frozen: thawing it" in down.stdout + down.stderr
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""
    assert not NAMES.kubeconfig(shared_home).exists()
    assert local_cluster(shared_home, "clean", cluster=NAME).returncode == 0
    for kind in ("volume", "network", "image"):
        assert docker(kind, "ls", "--filter", f"label={LABEL}", "-q").stdout.strip() == "", kind
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""
    # What every cluster of the version shares stays: the node image and its seeds.
    assert docker("volume", "ls", "-q", "--filter", "label=io.kubeadm-local-cluster.role=node-seed").stdout.strip()


def test_master_only_cluster_is_untainted_and_runs_pods(shared_home, busybox_archive, tmp_path):
    addon = tmp_path / "greeting.yaml"
    addon.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: greeting, namespace: default}\ndata: {hello: world}\n"
    )
    result = up(shared_home, "--num-nodes", "0", "--addons", f"metrics-server,{addon}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    kubectl = Kubectl(shared_home, NAME)
    nodes = kubectl.json("get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == [MASTER]
    assert not nodes[0]["spec"].get("taints")
    load_busybox(busybox_archive, [MASTER])
    apply(
        kubectl,
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "solo"},
                "spec": {
                    "containers": [
                        {"name": "main", "image": BUSYBOX, "imagePullPolicy": "Never", "command": ["sleep", "3600"]}
                    ]
                },
            }
        ),
    )
    kubectl("wait", "--for=condition=Ready", "pod/solo", "--timeout=120s")
    # Add-ons: the manifest is applied; metrics-server answers `kubectl top`
    # (its first scrape of the kubelet may still be under way).
    assert kubectl.json("get", "configmap", "greeting")["data"] == {"hello": "world"}
    deadline, top = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        top = subprocess.run(
            [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", "top", "nodes", "--no-headers"],
            capture_output=True,
            text=True,
        )
        if top.returncode == 0:
            break
        time.sleep(3)
    assert top.returncode == 0, top.stderr
    assert top.stdout.split()[0] == MASTER and top.stdout.split()[1].endswith("m")  # CPU in millicores
    assert local_cluster(shared_home, "clean", cluster=NAME).returncode == 0


# ---------------------------------------------------------------- bad cases


def test_engine_not_running_is_a_clear_error(shared_home):
    result = up(shared_home, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_add_on_that_cannot_be_had_is_one_line_before_any_node(shared_home):
    # dashboard's pinned manifest is on raw.githubusercontent.com, which these
    # machines cannot reach (one that can gets it, and stops later, at the pull).
    result = up(shared_home, "--num-nodes", "0", "--addons", "dashboard")
    assert result.returncode == 1
    assert f"dashboard {dashboard.VERSION} is installed from its upstream manifest" in result.stdout
    assert "leave dashboard out of cluster.addons" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""


def test_a_manifest_url_that_answers_404_is_one_line_before_any_node(shared_home):
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/app.yaml"
    try:
        result = up(shared_home, "--num-nodes", "0", "--addons", url)
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert f"cannot download the add-on manifest {url}: it answers 404" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""


def test_subnet_overlapping_another_network(shared_home):
    docker("network", "create", "--subnet", "10.211.0.0/16", "overlap-test", check=True)
    try:
        result = up(shared_home, "--dind-subnet", "10.211.0.0/16")
    finally:
        docker("network", "rm", "overlap-test")
    assert result.returncode == 1
    assert (
        "dind.subnet 10.211.0.0/16 (flag --dind-subnet) overlaps the engine's network overlap-test (10.211.0.0/16)"
        in result.stdout
    )
    assert "• node image" not in result.stdout  # said before anything was built or loaded
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""


def test_port_in_use(shared_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = up(shared_home, "--api-server-port", str(port))
    assert result.returncode == 1
    assert f"cannot publish the API server on 127.0.0.1:{port}: the port is in use" in result.stdout
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""


def test_extra_port_in_use(shared_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = up(shared_home, "--num-nodes", "0", "--extra-port-mappings", f"{port}:30080")
    assert result.returncode == 1
    assert f"cannot publish 127.0.0.1:{port} for node {MASTER}: the port is in use" in result.stdout
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""


def test_up_interrupted_while_the_nodes_boot_stops_at_once_and_up_repairs(shared_home):
    environ = tool_environ(shared_home, NAME)
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks", "up", "--kubernetes-version", VERSION, "--cluster-name", NAME],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        # As from a terminal: a shell starts background jobs with SIGINT ignored,
        # and a CI runner may have started these tests as one.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    for line in process.stdout:
        seen += line
        if line.startswith("• start 3 nodes"):
            time.sleep(1)  # the nodes are being created and booted, in parallel
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            break
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, seen + err
    assert time.monotonic() - interrupted < 10, "Ctrl-C took more than a few seconds"
    assert "Traceback" not in err
    result = up(shared_home)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    nodes = Kubectl(shared_home, NAME).json("get", "nodes")["items"]
    assert len(nodes) == 3
    assert local_cluster(shared_home, "clean", cluster=NAME).returncode == 0


def test_a_node_killed_during_join_is_one_line_with_logs_and_up_repairs(shared_home):
    environ = tool_environ(shared_home, NAME)
    argv = [sys.executable, "-m", "tasks", "up", "--kubernetes-version", VERSION, "--cluster-name", NAME]
    process = subprocess.Popen(
        [*argv, "--num-nodes", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ
    )
    seen = ""
    for line in process.stdout:
        seen += line
        if line.startswith("• kubeadm join"):
            time.sleep(2)
            docker("kill", NODE1, check=True)
            break
    out, err = process.communicate(timeout=600)
    seen += out
    assert process.returncode == 1, seen[-3000:] + err[-2000:]
    assert "Traceback" not in seen + err
    failures = [line for line in seen.splitlines() if line.startswith("✗")]
    assert len(failures) == 1 and "kubeadm join" in failures[0], seen[-3000:]
    assert "node logs: " in failures[0] and "the node containers were removed" in failures[0]
    archive = Path(failures[0].split("node logs: ")[1].split(";")[0])
    with tarfile.open(archive) as logs:  # what export-logs gathers
        top = logs.getnames()[0].split("/")[0]
        assert logs.getmember(f"{top}/{MASTER}/journal.log").size > 0
        assert f"{top}/{MASTER}/kubeadm/kubeadm-init.log" in logs.getnames()
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""
    result = up(shared_home, "--num-nodes", "1")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert [n["metadata"]["name"] for n in Kubectl(shared_home, NAME).json("get", "nodes")["items"]] == [MASTER, NODE1]
    assert local_cluster(shared_home, "clean", cluster=NAME).returncode == 0
