"""The helper's script of tasks/node/archives.py, run by the real sh and
sha256sum here on directories standing in for the store and two nodes'
volumes. The engine side is every cluster test's (add-ons, flannel, e2e)."""

import hashlib
import os
import subprocess
import time

from tasks.node import archives

DATA = b"an image archive"
DIGEST = hashlib.sha256(DATA).hexdigest()


def run(root) -> int:
    return subprocess.run(["sh", "-c", archives.copy_script(DIGEST, 2, str(root))], capture_output=True).returncode


def test_the_store_is_named_after_the_node_image_repository():
    assert archives.store_name("kubeadm-local-cluster/node") == "kubeadm-local-cluster-node-archives"


def test_nothing_in_the_store_is_an_answer_and_a_damaged_upload_is_not_kept(tmp_path):
    (tmp_path / "store").mkdir()
    assert run(tmp_path) == archives.MISSING
    (tmp_path / "store" / f".{DIGEST}.tar.partial").write_bytes(DATA[:-1])  # cut short
    assert run(tmp_path) == archives.MISSING
    assert list((tmp_path / "store").iterdir()) == []


def test_an_upload_is_kept_copied_into_every_node_and_old_ones_go(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / f".{DIGEST}.tar.partial").write_bytes(DATA)
    old = store / ("0" * 64 + ".tar")
    old.write_bytes(b"unused for weeks")
    weeks_ago = time.time() - (archives.KEEP_DAYS + 2) * 86400
    os.utime(old, (weeks_ago, weeks_ago))
    (tmp_path / "n1" / archives.LOAD_NAME).mkdir(parents=True)
    (tmp_path / "n1" / archives.LOAD_NAME / "stale.tar").write_bytes(b"left by a cut-short run")
    assert run(tmp_path) == 0
    assert sorted(p.name for p in store.iterdir()) == [f"{DIGEST}.tar"]
    for node in ("n0", "n1"):
        assert [p.name for p in (tmp_path / node / archives.LOAD_NAME).iterdir()] == ["images.tar"]
        assert (tmp_path / node / archives.LOAD_NAME / "images.tar").read_bytes() == DATA
    assert run(tmp_path) == 0  # the next import finds it there: nothing to send


def test_an_archives_digest_is_remembered_until_it_changes(tmp_path, monkeypatch):
    archive = tmp_path / "e2e-images.tar"
    archive.write_bytes(b"first")
    assert archives.archive_digest(archive) == hashlib.sha256(b"first").hexdigest()
    hashed = []
    real = archives.oci.sha256_file
    monkeypatch.setattr(archives.oci, "sha256_file", lambda path: hashed.append(path) or real(path))
    assert archives.archive_digest(archive) == hashlib.sha256(b"first").hexdigest() and hashed == []
    archive.write_bytes(b"second, rebuilt")
    assert archives.archive_digest(archive) == hashlib.sha256(b"second, rebuilt").hexdigest() and hashed == [archive]
