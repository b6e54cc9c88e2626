"""URL + checksum downloads against a local HTTP server this test starts."""

import hashlib
import http.server
import io
import threading
import typing
from pathlib import Path

import pytest

from tasks.download import fetch
from tasks.errors import UserError

PAYLOAD = b"#!/bin/sh\necho kubeadm\n" * 1000


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the test's directory; honours Range like a release site."""

    requests_seen: typing.ClassVar[list] = []

    def log_message(self, *args):
        pass

    def send_head(self):
        self.requests_seen.append((self.path, self.headers.get("Range")))
        if self.path == "/flaky" and len([p for p, _ in self.requests_seen if p == "/flaky"]) == 1:
            self.send_error(503, "try later")
            return None
        range_header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if range_header and path.is_file():
            start = int(range_header.split("=")[1].rstrip("-"))
            data = path.read_bytes()[start:]
            self.send_response(206)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return io.BytesIO(data)
        return super().send_head()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "kubeadm").write_bytes(PAYLOAD)
    (root / "flaky").write_bytes(PAYLOAD)
    Handler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("name", ["sha1", "sha256", "sha512"])
def test_good_checksum_keeps_the_file(server, tmp_path, name):
    digest = hashlib.new(name, PAYLOAD).hexdigest()
    target = fetch(f"{server}/kubeadm", digest, tmp_path / "out" / "kubeadm")
    assert target.read_bytes() == PAYLOAD


def test_bad_checksum_names_url_and_digests_and_leaves_nothing(server, tmp_path):
    wrong = "0" * 64
    actual = hashlib.sha256(PAYLOAD).hexdigest()
    out = tmp_path / "out"
    with pytest.raises(UserError) as caught:
        fetch(f"{server}/kubeadm", wrong, out / "kubeadm")
    assert str(caught.value) == (
        f"checksum mismatch for {server}/kubeadm: expected sha256 {wrong}, got {actual}; the file was removed"
    )
    assert list(out.iterdir()) == []


def test_missing_file_is_a_clear_error(server, tmp_path):
    with pytest.raises(UserError, match=r"cannot download .*/nope: HTTP 404"):
        fetch(f"{server}/nope", "a" * 40, tmp_path / "nope")


def test_server_error_is_retried(server, tmp_path, monkeypatch):
    monkeypatch.setattr("tasks.download.time.sleep", lambda s: None)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert fetch(f"{server}/flaky", digest, tmp_path / "flaky").read_bytes() == PAYLOAD


def test_interrupted_download_resumes_from_its_part(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    target = tmp_path / "kubeadm"
    target.with_name("kubeadm.part").write_bytes(PAYLOAD[:5000])
    assert fetch(f"{server}/kubeadm", digest, target).read_bytes() == PAYLOAD
    assert ("/kubeadm", "bytes=5000-") in Handler.requests_seen


def test_a_verified_file_is_not_fetched_again(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    fetch(f"{server}/kubeadm", digest, tmp_path / "kubeadm")
    Handler.requests_seen.clear()
    fetch(f"{server}/kubeadm", digest, tmp_path / "kubeadm")
    assert Handler.requests_seen == []
