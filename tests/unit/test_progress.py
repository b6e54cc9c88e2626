"""What long steps say while they run: bytes sent, nodes under way, what
Ready waits for (no engine: its API is faked)."""

import io

import pytest
import requests

from tasks import parallel
from tasks.console import CONSOLE, Tally, byte_progress
from tasks.engine import Counted, Engine
from tasks.node import image as node_image
from tasks.node import readiness


def said(monkeypatch) -> list[str]:
    texts: list[str] = []
    monkeypatch.setattr(CONSOLE, "progress", texts.append)
    return texts


def test_bytes_are_megabytes_of_a_total():
    assert byte_progress(310_400_000, 1_030_000_000) == "310 of 1030 MB"
    assert byte_progress(0, 1_030_000_000) == "0 of 1030 MB"
    assert byte_progress(1_250_000, 4_800_000) == "1.2 of 4.8 MB"  # small files get a decimal


class FakeAPI:
    """The engine's /images/load as docker-py drives it: reads the body in blocks."""

    def __init__(self):
        self.received = 0

    def load_image(self, data):
        while block := data.read(16384):
            self.received += len(block)
        return iter([{"stream": "Loaded image: kubeadm-local-cluster/node:v1.34.4\n"}])


class FakeClient:
    def __init__(self):
        self.api = FakeAPI()


def test_an_image_load_reports_the_bytes_sent_a_megabyte_at_a_time(tmp_path):
    archive = tmp_path / "node-image.tar"
    archive.write_bytes(b"\0" * (3 * (1 << 20) + 5000))
    heard: list[tuple[int, int]] = []
    client = FakeClient()
    Engine(client).load_image(archive, lambda sent, total: heard.append((sent, total)))
    total = archive.stat().st_size
    assert client.api.received == total
    assert heard[-1] == (total, total) and len(heard) <= 5
    assert [sent for sent, _ in heard] == sorted({sent for sent, _ in heard})


def test_a_counted_body_keeps_its_content_length():
    body = Counted(io.BytesIO(b"x" * 1000), 1000, lambda sent, total: None)
    prepared = requests.Request("POST", "http://engine.invalid/images/load", data=body).prepare()
    assert prepared.headers["Content-Length"] == "1000"  # not sent chunked
    assert prepared.body is body


def test_the_node_image_load_says_when_the_engine_has_it_all(monkeypatch):
    texts = said(monkeypatch)
    node_image.load_progress(310_000_000, 1_030_000_000)
    node_image.load_progress(1_030_000_000, 1_030_000_000)
    assert texts == ["310 of 1030 MB", "1030 MB sent, the engine is loading it"]


def test_work_on_several_nodes_says_which_are_under_way(monkeypatch):
    texts = said(monkeypatch)
    tally = Tally("copying the volumes of", ["kube-master", "kube-node-1", "kube-node-2"])
    with tally.each("kube-master"), tally.each("kube-node-1"):
        pass
    assert texts == [
        "copying the volumes of kube-master (0 of 3 done)",
        "copying the volumes of kube-master, kube-node-1 (0 of 3 done)",
        "copying the volumes of kube-master (1 of 3 done)",
        "2 of 3 done",
    ]


def test_a_long_list_of_nodes_is_cut_short():
    tally = Tally("booting", [f"kube-node-{n}" for n in range(6)])
    tally.running = [f"kube-node-{n}" for n in range(5)]
    assert tally.text() == "booting kube-node-0, kube-node-1, kube-node-2, 2 more (0 of 6 done)"


def test_a_failed_item_is_not_counted_done(monkeypatch):
    texts = said(monkeypatch)

    def boot(name):
        if name == "kube-node-1":
            raise RuntimeError("did not boot")

    with pytest.raises(RuntimeError):
        parallel.each(boot, ["kube-master", "kube-node-1"], doing="booting")
    assert texts[-1] == "1 of 2 done"


def test_ready_says_what_it_still_waits_for():
    assert readiness.waiting(["kube-node-1", "kube-node-2"], dns_ready=False) == (
        "waiting for kube-node-1, kube-node-2, CoreDNS"
    )
    assert readiness.waiting([], dns_ready=False) == "waiting for CoreDNS"
    assert readiness.waiting(["kube-master"], dns_ready=True) == "waiting for kube-master"
