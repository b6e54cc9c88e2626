"""Pushing a `docker save` archive through the distribution API, against a
fake registry (an in-memory HTTP server that checks digests as the real one
does); the real registry is pushed to in the e2e integration test."""

import hashlib
import http.server
import json
import threading
import uuid

import pytest

from tasks import registry_push
from tasks.build import oci
from tasks.errors import UserError


class FakeRegistry(http.server.ThreadingHTTPServer):
    """Blobs by digest (checked), manifests by repository and tag; counts uploads."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], dict] = {}
        self.uploads = 0
        super().__init__(("127.0.0.1", 0), FakeHandler)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    server: FakeRegistry

    def log_message(self, *args):
        pass

    def _reply(self, code: int, headers: dict | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        digest = self.path.rsplit("/", 1)[-1]
        self._reply(200 if digest in self.server.blobs else 404)

    def do_POST(self):
        assert self.path.endswith("/blobs/uploads/")
        self._reply(202, {"Location": f"{self.path}{uuid.uuid4()}?state=x"})

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if "/manifests/" in self.path:
            repository, tag = self.path.removeprefix("/v2/").split("/manifests/")
            manifest = json.loads(body)
            blobs = [manifest["config"], *manifest["layers"]]
            if any(blob["digest"] not in self.server.blobs for blob in blobs):
                self._reply(400)
                return
            self.server.manifests[(repository, tag)] = manifest
            self._reply(201)
            return
        digest = self.path.split("digest=")[1]
        if f"sha256:{hashlib.sha256(body).hexdigest()}" != digest:
            self._reply(400)
            return
        self.server.blobs[digest] = body
        self.server.uploads += 1
        self._reply(201)


@pytest.fixture
def registry():
    server = FakeRegistry()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "images.tar"
    layers = [oci.Layer(files=(oci.FileEntry("hello", data=b"hi\n"),)), oci.Layer(directories=(("tmp", 0o1777),))]
    tags = ["registry.k8s.io/e2e-test-images/agnhost:2.55", "example.invalid/other:1"]
    oci.write_image(path, tags, layers, oci.ImageConfig(cmd=("sh",)))
    return path


def test_an_archive_s_image_lands_under_its_repository_and_tag(registry, archive):
    url = f"http://127.0.0.1:{registry.server_address[1]}"
    pushed = registry_push.push_archive(url, archive, lambda tag: tag.startswith("registry.k8s.io/"))
    assert pushed == ["registry.k8s.io/e2e-test-images/agnhost:2.55"]
    manifest = registry.manifests[("e2e-test-images/agnhost", "2.55")]
    assert manifest["mediaType"] == registry_push.OCI_MANIFEST
    # The config is the archive's, so the image ID is the one the nodes know.
    assert manifest["config"]["digest"] == oci.read_image_id(archive)
    assert [layer["mediaType"] for layer in manifest["layers"]] == [registry_push.OCI_LAYER] * 2
    assert registry.uploads == 3


def test_a_second_push_sends_no_blob_again(registry, archive):
    url = f"http://127.0.0.1:{registry.server_address[1]}"
    registry_push.push_archive(url, archive)
    uploads = registry.uploads
    registry_push.push_archive(url, archive)
    assert registry.uploads == uploads


def test_no_registry_is_one_line(archive):
    with pytest.raises(UserError, match=r"^cannot push to the registry at http://127\.0\.0\.1:9: "):
        registry_push.push_archive("http://127.0.0.1:9", archive)


@pytest.mark.parametrize(
    "reference, parts",
    [
        ("registry.k8s.io/e2e-test-images/agnhost:2.55", ("registry.k8s.io", "e2e-test-images/agnhost", "2.55")),
        ("localhost:5001/app:1", ("localhost:5001", "app", "1")),
        ("busybox", ("docker.io", "library/busybox", "latest")),
        ("calico/cni:v3", ("docker.io", "calico/cni", "v3")),
    ],
)
def test_references_split_as_the_engine_splits_them(reference, parts):
    assert registry_push.split_reference(reference) == parts
