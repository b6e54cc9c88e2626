"""The local registry (#12): `docker push localhost:<port>/...`, then a
Deployment on two workers pulls it from the registry, nothing from outside.

One cluster for the module (1 master, 2 workers, the registry on a free
port); the image pushed is made here (Debian's busybox-static under a tag of
the module's own), and every image and tag the module makes is removed.
"""

import json
import socket
import subprocess
import urllib.request

import pytest

from tasks.build import oci
from tasks.naming import Names
from tasks.registry import IMAGE
from tests.integration.conftest import VERSION, Kubectl, local_cluster

pytestmark = pytest.mark.integration

NAME = "it-registry"
NAMES = Names(NAME)
MASTER, NODE1, NODE2 = NAMES.master, NAMES.worker(1), NAMES.worker(2)
LABEL = f"io.kubeadm-local-cluster.cluster={NAME}"


def docker(*args, check=False, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def up(home, *args):
    return local_cluster(home, "up", "--kubernetes-version", VERSION, "--registry", *args, cluster=NAME)


def labelled(kind: str) -> str:
    """The names (images: IDs) of the module's cluster's objects of a kind."""
    listing = ("ps", "-a") if kind == "container" else (kind, "ls")
    field = {"container": "{{.Names}}", "image": "{{.ID}}"}.get(kind, "{{.Name}}")
    return docker(*listing, "--filter", f"label={LABEL}", "--format", field).stdout.strip()


def tags(port: int, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/{repository}/tags/list", timeout=10) as answer:
        return json.load(answer).get("tags") or []


def deployment(image: str) -> str:
    """Two replicas, one per worker (the master is tainted), always pulled."""
    labels = {"app": "demo"}
    spread = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor",  # the master's taint keeps it out of the count
    }
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "demo"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "topologySpreadConstraints": [{**spread, "labelSelector": {"matchLabels": labels}}],
                        "containers": [
                            {
                                "name": "main",
                                "image": image,
                                "imagePullPolicy": "Always",
                                "command": ["sleep", "3600"],
                            }
                        ],
                    },
                },
            },
        }
    )


def assert_available_on_both_workers(kubectl: Kubectl, image: str) -> None:
    kubectl("wait", "--for=condition=Available", "deployment/demo", "--timeout=180s")
    pods = kubectl.json("get", "pods", "-l", "app=demo")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert sorted(p["spec"]["nodeName"] for p in running) == [NODE1, NODE2]
    for pod in running:
        (status,) = pod["status"]["containerStatuses"]
        # Pulled by digest from the local registry, under the name pushed.
        assert status["imageID"].startswith(image.rpartition(":")[0] + "@sha256:"), status


@pytest.fixture(scope="module")
def registry_cluster(shared_home, busybox_archive, tmp_path_factory):
    """The cluster with the registry on, and an image of our own in the engine under localhost:<port>/..."""
    port = free_port()
    image = f"localhost:{port}/it-registry-demo:1"
    had_registry_image = docker("image", "inspect", IMAGE).returncode == 0
    archive = tmp_path_factory.mktemp("registry") / "demo.tar"
    rootfs = oci.Layer(tar=busybox_archive.parent / "rootfs.tar")
    sleep = oci.Layer(files=(oci.FileEntry("bin/sleep", link="/usr/bin/busybox"),))
    oci.write_image(archive, [image], [rootfs, sleep], oci.ImageConfig(cmd=("sleep", "3600")))
    try:
        docker("load", "-i", str(archive), check=True)
        result = up(shared_home, "--registry-port", str(port))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        yield Kubectl(shared_home, NAME), shared_home, port, image, result.stdout
    finally:
        local_cluster(shared_home, "clean", cluster=NAME)
        docker("rmi", image)
        if not had_registry_image:
            docker("rmi", IMAGE)


def test_up_says_where_the_registry_is(registry_cluster):
    _, _, port, _, out = registry_cluster
    assert f"registry localhost:{port}: docker push localhost:{port}/IMAGE" in out
    assert docker("port", NAMES.registry, "5000").stdout.strip() == f"127.0.0.1:{port}"


def test_pushed_image_runs_on_both_workers_pulled_from_the_registry(registry_cluster):
    kubectl, _, port, image, _ = registry_cluster
    pushed = docker("push", image)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert tags(port, "it-registry-demo") == ["1"]
    kubectl.apply(deployment(image))
    assert_available_on_both_workers(kubectl, image)
    # Each worker's containerd asked the registry itself, on the cluster's network.
    workers = {
        json.loads(docker("inspect", node, "--format", "{{json .NetworkSettings.Networks}}").stdout)[NAMES.network][
            "IPAddress"
        ]
        for node in (NODE1, NODE2)
    }
    logs = docker("logs", NAMES.registry)
    asked = {
        line.split()[0]
        for line in (logs.stdout + logs.stderr).splitlines()
        # containerd resolves the tag (HEAD), then fetches by digest (GET).
        if "/v2/it-registry-demo/manifests/" in line and '"containerd/' in line
    }
    assert asked == workers, (asked, workers)


def test_up_starts_a_stopped_registry_again_with_its_data(registry_cluster):
    _, home, port, _, _ = registry_cluster
    docker("stop", NAMES.registry, check=True)  # as an engine restart leaves it
    result = up(home, "--registry-port", str(port))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "✓ kubeadm init" not in result.stdout
    assert tags(port, "it-registry-demo") == ["1"]


def test_down_keeps_the_data_up_restores_and_clean_removes_everything(registry_cluster):
    kubectl, home, port, image, _ = registry_cluster
    down = local_cluster(home, "down", cluster=NAME)
    assert down.returncode == 0, down.stdout + down.stderr
    assert NAMES.registry in down.stdout
    assert labelled("container") == ""
    assert NAMES.registry_volume in labelled("volume").split()
    # From the snapshot: restored nodes pull from the registry too, whose data stayed.
    result = up(home, "--registry-port", str(port))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "restoring the snapshot" in result.stdout
    assert tags(port, "it-registry-demo") == ["1"]
    kubectl.apply(deployment(image))
    assert_available_on_both_workers(kubectl, image)
    clean = local_cluster(home, "clean", cluster=NAME)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"volume {NAMES.registry_volume}" in clean.stdout
    for kind in ("container", "volume", "network", "image"):
        assert labelled(kind) == "", kind


def test_registry_port_in_use_is_one_line_and_nothing_is_made(registry_cluster):
    _, home, _, _, _ = registry_cluster  # after clean: the artifacts are there, the cluster is not
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = up(home, "--registry-port", str(port))
    assert result.returncode == 1
    assert f"cannot publish {NAMES.registry} on 127.0.0.1:{port}: the port is in use" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert labelled("container") == ""
    assert NAMES.registry_volume not in labelled("volume").split()
