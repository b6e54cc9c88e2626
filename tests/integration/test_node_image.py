"""A rebuilt node image replaces the one before it in the engine instead of
leaving it behind untagged (a gigabyte a build), unless something still uses it."""

import io
import subprocess
import tarfile

import pytest

from tasks.engine import Engine
from tasks.node import image as node_image

pytestmark = pytest.mark.integration

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


class Loads:
    """node_image.load of the test's own archives under TAG; what it made goes at the end."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp_path, self.monkeypatch = tmp_path, monkeypatch
        self.images: list[str] = []
        self.containers: list[str] = []

    def archive(self, content: str):
        archive, image_id = image_archive(self.tmp_path, content)
        self.images.append(image_id)
        return archive, image_id

    def load(self, archive) -> None:
        self.monkeypatch.setattr(node_image, "archive_path", lambda artifacts: archive)
        self.monkeypatch.setattr(node_image, "archive_tag", lambda settings, artifacts: TAG)
        node_image.load(None, None)

    def container(self) -> None:
        created = subprocess.run(["docker", "create", TAG], capture_output=True, text=True, check=True)
        self.containers.append(created.stdout.strip())

    def remove(self) -> None:
        for container in self.containers:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        for image in self.images:
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


@pytest.fixture
def loads(tmp_path, monkeypatch):
    made = Loads(tmp_path, monkeypatch)
    yield made
    made.remove()


def test_a_rebuilt_image_replaces_the_old_one(loads):
    first, first_id = loads.archive("first")
    second, second_id = loads.archive("second")
    loads.load(first)
    loads.load(second)
    engine = Engine.connect()
    assert engine.image_id(TAG) == second_id
    assert engine.image_id(first_id) is None


def test_an_old_image_a_container_uses_is_kept(loads):
    first, first_id = loads.archive("first")
    second, second_id = loads.archive("second")
    loads.load(first)
    loads.container()
    loads.load(second)
    engine = Engine.connect()
    assert engine.image_id(TAG) == second_id
    assert engine.image_id(first_id) == first_id  # its container still uses it
