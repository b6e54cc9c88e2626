"""A rebuilt node image replaces the one before it in the engine instead of
leaving it behind untagged (a gigabyte a build), unless something still uses it."""

import io
import subprocess
import tarfile

import pytest

from tasks import node_image
from tasks.engine import Engine

TAG = "kubeadm-local-cluster-test/leak:1"  # the test's own images, nobody else's


def image_archive(tmp_path, content: str):
    """A `docker save` archive of a one-file image tagged TAG, made by the engine."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = content.encode()
        info = tarfile.TarInfo("which")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    subprocess.run(
        ["docker", "import", "--change", 'CMD ["/which"]', "-", TAG],
        input=layer.getvalue(),
        check=True,
        capture_output=True,
    )
    archive = tmp_path / f"{content}.tar"
    subprocess.run(["docker", "save", "-o", str(archive), TAG], check=True)
    image_id = Engine.connect().image_id(TAG)
    subprocess.run(["docker", "rmi", TAG], check=True, capture_output=True)
    return archive, image_id


@pytest.fixture
def loads(monkeypatch):
    """node_image.load of an archive of the test's, under TAG."""
    made = []

    def load(archive):
        monkeypatch.setattr(node_image, "archive_path", lambda artifacts: archive)
        monkeypatch.setattr(node_image, "tag", lambda settings, artifacts: TAG)
        node_image.load(None, None)

    yield load, made
    for container in made:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    for image in subprocess.run(
        ["docker", "images", "-q", "kubeadm-local-cluster-test/leak"], capture_output=True, text=True
    ).stdout.split():
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


def test_a_rebuilt_image_replaces_the_old_one(tmp_path, loads):
    load, _ = loads
    first, first_id = image_archive(tmp_path, "first")
    second, second_id = image_archive(tmp_path, "second")
    try:
        load(first)
        load(second)
        engine = Engine.connect()
        assert engine.image_id(TAG) == second_id
        assert engine.image_id(first_id) is None
    finally:
        for image in (first_id, second_id):
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


def test_an_old_image_a_container_uses_is_kept(tmp_path, loads):
    load, made = loads
    first, first_id = image_archive(tmp_path, "first")
    second, second_id = image_archive(tmp_path, "second")
    try:
        load(first)
        container = subprocess.run(["docker", "create", TAG], capture_output=True, text=True, check=True).stdout.strip()
        made.append(container)
        load(second)
        engine = Engine.connect()
        assert engine.image_id(TAG) == second_id
        assert engine.image_id(first_id) == first_id  # its container still runs from it
    finally:
        for container in made:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        for image in (first_id, second_id):
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
