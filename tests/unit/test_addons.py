"""Add-ons (tasks/addons/): the registry, the manifests we render, the
pinned dashboard manifest, and manifest URLs fetched before any node starts."""

import hashlib
import http.server
import os
import pwd
import threading
from pathlib import Path

import pytest
import yaml

from tasks import addons
from tasks.addons import built, dashboard, local_path, metrics_server
from tasks.container_io import ExecResult
from tasks.errors import UserError
from tasks.settings.parsers import KNOWN_ADDONS


def test_every_known_name_has_an_entry_and_no_more():
    assert sorted(addons._registry()) == sorted(KNOWN_ADDONS)
    assert [addons.get(name).name for name in KNOWN_ADDONS] == list(KNOWN_ADDONS)


def test_built_add_ons_are_hermetic_and_dashboard_is_not():
    assert addons.get("local-path-provisioner").hermetic and addons.get("metrics-server").hermetic
    assert not addons.get("dashboard").hermetic


def _documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _containers(docs: list[dict]) -> list[dict]:
    pods = [doc["spec"]["template"]["spec"] for doc in docs if doc["kind"] in ("Deployment", "DaemonSet")]
    return [container for pod in pods for container in pod["containers"]]


@pytest.mark.parametrize("program", [local_path.PROGRAM, metrics_server.PROGRAM], ids=lambda p: p.name)
def test_built_manifests_run_only_our_image_never_pulled(program):
    rendered = built.render(program, binary=program.binary_path)
    containers = _containers(_documents(rendered))
    assert containers
    for container in containers:
        assert container["image"] == program.image
        assert container["imagePullPolicy"] == "Never"
    deployments = [doc for doc in _documents(rendered) if doc["kind"] == "Deployment"]
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in deployments] == [
        (program.namespace, program.deployment)
    ]


def test_the_storage_class_is_the_default_one_and_its_helper_pods_use_our_image():
    docs = _documents(built.render(local_path.PROGRAM, binary=local_path.PROGRAM.binary_path))
    (storage_class,) = [doc for doc in docs if doc["kind"] == "StorageClass"]
    assert storage_class["metadata"]["name"] == local_path.STORAGE_CLASS
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    (config,) = [doc for doc in docs if doc["kind"] == "ConfigMap"]
    helper = yaml.safe_load(config["data"]["helperPod.yaml"])
    assert helper["spec"]["containers"][0]["image"] == local_path.PROGRAM.image
    assert helper["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    # The provisioner runs the helper's script with /bin/sh: the image has one.
    assert ("usr/bin/sh", "busybox") in local_path.PROGRAM.links and "busybox-static" in local_path.PROGRAM.packages
    (provisioner,) = _containers(docs)
    assert provisioner["command"][0] == "/" + local_path.PROGRAM.binary_path


def test_metrics_server_trusts_the_kubelets_self_signed_certificates():
    (container,) = _containers(_documents(built.render(metrics_server.PROGRAM)))
    assert "--kubelet-insecure-tls" in container["args"]


def test_a_manifest_naming_a_value_nothing_fills_in_is_one_line(tmp_path, monkeypatch):
    manifest = tmp_path / "images" / "addons" / "x" / "x.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("image: ${image}\nport: ${port}\n")
    monkeypatch.setattr(built, "IMAGES_DIR", tmp_path / "images")
    program = built.Program("x", "v1", "example.invalid/x", "example.invalid/x", "", "1", "x.yaml", "ns", "x")
    with pytest.raises(UserError, match=r"x\.yaml names \$port, which nothing fills in"):
        built.render(program)


def test_build_tasks_make_the_program_then_the_base_then_the_image():
    tasks = built.task_dicts(local_path.PROGRAM)
    assert [task["name"] for task in tasks] == ["program", "base", "image"]
    assert tasks[-1]["targets"] == [str(local_path.PROGRAM.archive())]
    assert [task["name"] for task in built.task_dicts(metrics_server.PROGRAM)] == ["program", "image"]


# ---------------------------------------------------------------- dashboard


FAKE_DASHBOARD = """\
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: kubernetes-dashboard
          image: kubernetesui/dashboard:v2.7.0
          imagePullPolicy: Always
"""


def test_dashboard_uses_images_loaded_into_the_nodes():
    assert "imagePullPolicy: IfNotPresent" in dashboard.render(FAKE_DASHBOARD)
    with pytest.raises(UserError, match="its pin is wrong"):
        dashboard.render(FAKE_DASHBOARD.replace("Always", "Never"))


def test_the_real_dashboard_manifest_matches_its_pin():
    # This machine's user's cache, read only (the tests' HOME is a temporary one).
    real = Path(pwd.getpwuid(os.getuid()).pw_dir) / dashboard.path().relative_to(Path.home())
    if not real.is_file():
        pytest.skip(f"{real} is not cached on this machine (it needs github.com)")
    assert hashlib.sha256(real.read_bytes()).hexdigest() == dashboard.SHA256
    images = sorted(c["image"] for c in _containers(_documents(dashboard.render(real.read_text()))))
    assert images == sorted(dashboard.IMAGES)


class FakeCluster:
    """Stands in for a running cluster: nodes holding no image, a pull that fails."""

    class Spec:
        name = "kube-master"

    def __init__(self):
        self.nodes, self.master, self.objects = [self.Spec()], "kube-master", self

    def image_ids(self, node):
        return {}

    def exec(self, node, argv, deadline):
        return ExecResult(1, 'msg="dial tcp: lookup registry-1.docker.io: no such host"')


def test_dashboard_whose_images_cannot_be_had_is_one_line():
    with pytest.raises(UserError) as caught:
        dashboard.install(FakeCluster())
    message = str(caught.value)
    assert message.startswith(f"dashboard {dashboard.VERSION} needs images the nodes do not have and cannot pull")
    assert "dial tcp: lookup registry-1.docker.io: no such host" in message
    assert "leave dashboard out of cluster.addons" in message


# ---------------------------------------------------------------- manifests of the user's


@pytest.fixture
def http_server():
    """A local HTTP server: /good.yaml answers a manifest, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/good.yaml":
                body = b"kind: List\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_manifest_url_is_kept_and_read_back(http_server, state):
    url = f"{http_server}/good.yaml"
    addons.fetch_url(url)
    assert addons.manifest_of(url) == ("good.yaml", b"kind: List\n")


def test_a_manifest_url_that_answers_404_is_one_line(http_server, state):
    with pytest.raises(UserError, match=r"cannot download the add-on manifest .*/missing\.yaml: it answers 404$"):
        addons.fetch_url(f"{http_server}/missing.yaml")
    assert not addons.url_path(f"{http_server}/missing.yaml").exists()


def test_urls_are_fetched_by_a_task_each_and_files_by_none(tmp_path):
    manifest = tmp_path / "mine.yaml"
    tasks = addons.task_dicts(("https://example.invalid/a.yaml", str(manifest), "metrics-server"))
    assert [task["basename"] for task in tasks] == ["metrics-server", "metrics-server", "addon-manifests"]
    assert tasks[-1]["targets"] == [str(addons.url_path("https://example.invalid/a.yaml"))]


def test_the_step_line_names_the_add_ons():
    assert addons.titles(("local-path-provisioner", "/x/a.yaml", "https://e.invalid/b.yaml")) == (
        "local-path-provisioner, 2 manifests"
    )
    assert addons.titles(()) == "none"
