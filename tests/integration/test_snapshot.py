"""The snapshot: `up` restores the cluster as kubeadm made it, without kubeadm;
`reup` puts a kubelet built from a changed Kubernetes tree into it.

One cluster (master + 1 worker) goes through the steps in order, as a user
would take it. Workloads run the pause image, which every node holds, so
they need nothing loaded after the snapshot."""

import hashlib
import json
import shutil

import pytest

from tasks.build import engine as engine_build
from tasks.naming import Names
from tests.integration.conftest import VERSION, Kubectl, local_cluster
from tests.integration.test_cluster import docker

pytestmark = pytest.mark.integration

NAME = "it-snapshot"
NAMES = Names(NAME)
MASTER, NODE1, NODE2 = NAMES.master, NAMES.worker(1), NAMES.worker(2)
LABEL = f"io.kubeadm-local-cluster.cluster={NAME}"


def pause_image(home) -> str:
    """The pause image kubeadm lists for VERSION (every node holds it), once the artifacts are built."""
    result = local_cluster(home, "artifacts", "--kubernetes-version", VERSION)
    assert result.returncode == 0, result.stdout[-3000:]
    listed = home / ".kubeadm-local-cluster" / "cache" / "kubernetes" / VERSION / "images.json"
    return next(ref for ref in json.loads(listed.read_text())["images"] if "/pause:" in ref)


def deployment(name: str, image: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: main, image: "{image}", imagePullPolicy: Never}}]
"""


class Flow:
    """What the steps share: the state directory, the addon that is in the
    snapshot, and kubectl."""

    def __init__(self, home, addon, pause: str):
        self.home = home
        self.addon = addon
        self.pause = pause
        self.kubectl = Kubectl(home, NAME)

    def up(self, *args, command="up", env=None):
        result = local_cluster(
            self.home,
            command,
            "--kubernetes-version",
            VERSION,
            "--num-nodes",
            "1",
            "--addons",
            str(self.addon),
            *args,
            env=env,
            cluster=NAME,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result.stdout + result.stderr  # warnings go to stderr

    def running(self, name: str) -> list[str]:
        """The names of the deployment's pods, once all of them run Ready."""
        self.kubectl("rollout", "status", f"deployment/{name}", "--timeout=180s")
        pods = self.kubectl.json("get", "pods", "-l", f"app={name}")["items"]
        assert all(p["status"]["phase"] == "Running" for p in pods)
        return sorted(p["metadata"]["name"] for p in pods)

    def nodes_ready(self) -> list[str]:
        nodes = self.kubectl.json("get", "nodes")["items"]
        ready = [
            n["metadata"]["name"]
            for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        ]
        return sorted(ready)


@pytest.fixture(scope="module")
def flow(shared_home, tmp_path_factory):
    assert local_cluster(shared_home, "clean", cluster=NAME).returncode == 0
    addon = tmp_path_factory.mktemp("addon") / "before-snapshot.yaml"
    pause = pause_image(shared_home)
    addon.write_text(deployment("before-snapshot", pause))
    yield Flow(shared_home, addon, pause)
    local_cluster(shared_home, "clean", cluster=NAME)


def kubeadm_ran(out: str) -> bool:
    return "✓ kubeadm init" in out or "✓ kubeadm join" in out


def test_first_up_makes_the_cluster_and_snapshots_it(flow):
    out = flow.up()
    assert "no snapshot yet" in out
    assert kubeadm_ran(out)
    assert "✓ snapshot" in out
    images = docker("image", "ls", "--filter", f"label={LABEL}", "-q").stdout.split()
    assert len(images) == 2
    flow.running("before-snapshot")


def test_up_after_down_restores_the_snapshot_without_kubeadm(flow):
    apply(flow, deployment("after-snapshot", flow.pause))
    flow.running("after-snapshot")
    down = local_cluster(flow.home, "down", cluster=NAME)
    assert down.returncode == 0 and "the snapshot and the registry's data, if any, are kept" in down.stdout
    assert docker("ps", "-a", "--filter", f"label={LABEL}", "-q").stdout.strip() == ""

    out = flow.up()
    assert "restoring the snapshot taken" in out
    assert not kubeadm_ran(out)
    assert "- kubeadm init: up to date" in out
    assert flow.nodes_ready() == [MASTER, NODE1]
    # The state after setup: the addon's Deployment runs, the later one is gone.
    flow.running("before-snapshot")
    assert flow.kubectl("get", "deployment", "after-snapshot", check=False) == ""


def apply(flow: Flow, manifest: str) -> None:
    path = flow.home / "manifest.yaml"
    path.write_text(manifest)
    flow.kubectl("apply", "-f", str(path))


def test_reup_puts_a_changed_kubelet_into_the_restored_cluster(flow, kubernetes_tree):
    """A Kubernetes developer's loop: change kubelet, `reup`, see the change run."""
    assert local_cluster(flow.home, "down", cluster=NAME).returncode == 0
    server = kubernetes_tree / "cmd" / "kubelet" / "app" / "server.go"
    source = server.read_text()
    start = "func run(ctx context.Context, s *options.KubeletServer"
    assert start in source
    head, tail = source.split(start, 1)
    signature, body = tail.split("{\n", 1)
    server.write_text(f'{head}{start}{signature}{{\n\tklog.InfoS("reup test: kubelet from the tree")\n{body}')

    out = _reup(flow, kubernetes_tree)
    assert f"✓ kubelet {VERSION} from the tree {kubernetes_tree}" in out
    assert "restoring the snapshot taken" in out
    assert not kubeadm_ran(out)
    # The new node image is for nodes made afresh: the next `up` makes it.
    assert "the node image is made at the next `up`" in out
    assert f"{MASTER}: new kubelet" in out and f"{NODE1}: new kubelet" in out
    for node in (MASTER, NODE1):
        journal = docker("exec", node, "journalctl", "-u", "kubelet", "--no-pager").stdout
        assert "reup test: kubelet from the tree" in journal, node
    assert flow.nodes_ready() == [MASTER, NODE1]
    flow.running("before-snapshot")


def _reup(flow: Flow, tree) -> str:
    # FORCE_HOST_GO: the machine's Go (and its build cache), not the one the tree pins.
    return flow.up("--build-kubelet", "--k8s-dir", str(tree), command="reup", env={"FORCE_HOST_GO": "y"})


@pytest.fixture(scope="module")
def stub_tree(tmp_path_factory, kubernetes_tree, shared_home):
    """A tree whose `make` stands in for Go's (no compile in CI; the real one is
    bench/remote_build.py): it writes a kubelet of VERSION with the tree's mark
    appended (an ELF runs with bytes after it) where upstream's build puts it.
    What the engine build makes and this test does not share with the user
    (the build container and its tree's volume; the build image and cache
    volume when they were not there before) is removed afterwards."""
    tree = tmp_path_factory.mktemp("stub") / "kubernetes"
    for path in ("cmd/kubeadm", "cmd/kubelet", "prebuilt"):
        (tree / path).mkdir(parents=True)
    shutil.copy(kubernetes_tree / ".go-version", tree / ".go-version")
    shutil.copy(shared_home / ".kubeadm-local-cluster/cache/kubernetes" / VERSION / "bin/kubelet", tree / "prebuilt")
    (tree / "cmd/kubelet/mark.go").write_text("// built on the engine by the snapshot test\n")
    out = "_output/local/go/bin"
    (tree / "Makefile").write_text(
        f"all:\n\tmkdir -p {out}\n\tcat prebuilt/kubelet cmd/kubelet/mark.go > {out}/kubelet\n"
        f"\tchmod 755 {out}/kubelet\n"
    )
    shared = {
        ("image", engine_build.IMAGE): docker("image", "inspect", engine_build.IMAGE).returncode == 0,
        ("volume", engine_build.CACHE_VOLUME): docker("volume", "inspect", engine_build.CACHE_VOLUME).returncode == 0,
    }
    yield tree
    container = engine_build.container_name(tree)
    docker("rm", "-f", "-v", container)
    docker("volume", "rm", f"{container}-source")
    for (kind, name), existed in shared.items():
        if not existed:
            docker(kind, "rm", name)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def engine_build_flags(tree) -> list[str]:
    return ["--build-kubelet", "--k8s-dir", str(tree), "--build-in", "engine"]


def test_reup_built_on_the_engine_puts_its_kubelet_into_the_nodes(flow, stub_tree):
    """source.buildIn engine: the tree is synced to the engine, made there, and
    the kubelet goes from there into the nodes, never through this machine."""
    bin_dir = flow.home / ".kubeadm-local-cluster/cache/kubernetes" / VERSION / "bin"
    here_before = sha256(bin_dir / "kubelet")
    out = flow.up(*engine_build_flags(stub_tree), command="reup")
    assert f"✓ kubelet {VERSION} from the tree {stub_tree}, built on the engine" in out
    assert "kubelet stays on the engine: the nodes and the node image get it from there" in out
    receipt = json.loads((bin_dir / "kubelet.engine.json").read_text())
    made = (stub_tree / "prebuilt/kubelet").read_bytes() + (stub_tree / "cmd/kubelet/mark.go").read_bytes()
    assert receipt["sha256"] == hashlib.sha256(made).hexdigest()
    assert f"{MASTER}: new kubelet" in out and f"{NODE1}: new kubelet" in out
    for node in (MASTER, NODE1):
        assert docker("exec", node, "sha256sum", "/usr/bin/kubelet").stdout.split()[0] == receipt["sha256"]
    assert sha256(bin_dir / "kubelet") == here_before  # the binary did not come back here
    assert flow.nodes_ready() == [MASTER, NODE1]


def test_other_settings_replace_the_snapshot_and_say_why(flow, stub_tree):
    """Also the node image the reup before left for this `up`, finished on the
    engine: its kubelet comes from the build there, not through this machine."""
    bin_dir = flow.home / ".kubeadm-local-cluster/cache/kubernetes" / VERSION / "bin"
    here_before = sha256(bin_dir / "kubelet")
    out = flow.up("--num-nodes", "2", *engine_build_flags(stub_tree))
    assert "the snapshot is for other settings (cluster.numNodes 1 -> 2; the node image was rebuilt" in out
    assert kubeadm_ran(out) and "✓ snapshot" in out
    assert f"✓ node image for Kubernetes {VERSION}" in out and "(without kubelet: the engine adds them)" in out
    assert "✓ node image finished on the engine (kubelet from its build)" in out
    nodes = docker("image", "ls", "--filter", f"label={LABEL}", "--format", "{{.Tag}}")
    assert sorted(nodes.stdout.split()) == [f"{NAME}-{MASTER}", f"{NAME}-{NODE1}", f"{NAME}-{NODE2}"]
    receipt = json.loads((bin_dir / "kubelet.engine.json").read_text())
    for node in (MASTER, NODE1, NODE2):  # all made afresh from the image the engine finished
        assert docker("exec", node, "sha256sum", "/usr/bin/kubelet").stdout.split()[0] == receipt["sha256"]
    assert sha256(bin_dir / "kubelet") == here_before
    assert flow.nodes_ready() == [MASTER, NODE1, NODE2]


def test_a_snapshot_missing_a_volume_is_dropped_with_a_warning(flow, stub_tree):
    assert local_cluster(flow.home, "down", cluster=NAME).returncode == 0
    docker("volume", "rm", f"{NODE2}-containerd-snapshot", check=True)
    out = flow.up("--num-nodes", "2", *engine_build_flags(stub_tree))
    assert f"the snapshot lacks volume {NODE2}-containerd-snapshot" in out
    assert kubeadm_ran(out) and "✓ snapshot" in out
    assert "no snapshot was taken" not in out, out[-3000:]  # the step warns and goes on


def test_clean_removes_the_snapshot(flow):
    result = local_cluster(flow.home, "clean", cluster=NAME)
    assert result.returncode == 0
    assert "kubeadm-local-cluster/snapshot" in result.stdout
    for kind in ("image", "volume"):
        listed = docker(kind, "ls", "--filter", f"label={LABEL}", "-q").stdout
        assert listed.strip() == "", kind
