"""`load`: names as the kubelet asks for them, which nodes, what is skipped,
and the arguments as a user types them; an engine and nodes that are fakes."""

import contextlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field

import pytest

from tasks import cli, cluster_commands, load
from tasks.build.oci import FileEntry, ImageConfig, Layer, write_image
from tasks.container_io import Blob, ExecResult, TarStream
from tasks.errors import UserError
from tasks.settings import parse_flags

# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("app:1", "docker.io/library/app:1"),
        ("app", "docker.io/library/app:latest"),
        ("user/app:2", "docker.io/user/app:2"),
        ("docker.io/app", "docker.io/library/app:latest"),
        ("index.docker.io/library/app:1", "docker.io/library/app:1"),
        ("localhost/app:1", "localhost/app:1"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10.1"),
        ("kubeadm-local-cluster.invalid/load-test:1", "kubeadm-local-cluster.invalid/load-test:1"),
        ("host:5000/a/b/c", "host:5000/a/b/c:latest"),
    ],
)
def test_names_are_made_whole_as_docker_and_containerd_do(ref, name):
    assert load.containerd_name(ref) == name


# ---------------------------------------------------------------- what is skipped

APP = load.Image("docker.io/library/app:1", "sha256:" + "a" * 64)
TOOL = load.Image("docker.io/library/tool:2", "sha256:" + "b" * 64)


def test_a_node_with_the_same_id_under_the_name_lacks_nothing():
    assert load.missing([APP, TOOL], {APP.name: APP.image_id, TOOL.name: TOOL.image_id, "other:1": "x"}) == []


def test_another_id_under_the_name_or_no_name_is_missing():
    held = {APP.name: "sha256:" + "c" * 64}  # an older build of app:1
    assert load.missing([APP, TOOL], held) == [APP, TOOL]
    # The same ID under another name is not the name a pod asks for.
    assert load.missing([APP], {"docker.io/library/other:1": APP.image_id}) == [APP]


# ---------------------------------------------------------------- which nodes

FOUND = {
    "kube-node-10-demo": "running",
    "kube-node-2-demo": "running",
    "kube-master-demo": "running",
    "kube-node-1-demo": "running",
}


def test_every_node_master_first_in_node_order():
    assert load.choose_nodes("demo", FOUND, "") == [
        "kube-master-demo",
        "kube-node-1-demo",
        "kube-node-2-demo",
        "kube-node-10-demo",
    ]


def test_nodes_by_container_name_or_short_name():
    chosen = load.choose_nodes("demo", FOUND, "kube-node-2, kube-master-demo")
    assert chosen == ["kube-master-demo", "kube-node-2-demo"]
    default = {"kube-master": "running", "kube-node-1": "running"}
    assert load.choose_nodes("kubeadm-local-cluster", default, "kube-node-1") == ["kube-node-1"]


def test_a_node_that_does_not_exist_is_named_with_the_nodes_there_are():
    with pytest.raises(UserError, match=r"no node kube-node-7 in cluster demo: its nodes are kube-master-demo, "):
        load.choose_nodes("demo", FOUND, "kube-node-1,kube-node-7")
    with pytest.raises(UserError, match="--nodes names no node"):
        load.choose_nodes("demo", FOUND, " , ")


def test_no_cluster_or_a_stopped_node_is_one_line_saying_up():
    with pytest.raises(UserError, match=r"cluster demo has no nodes on this engine: `local-cluster up` makes it"):
        load.choose_nodes("demo", {}, "")
    stopped = {**FOUND, "kube-node-1-demo": "exited"}
    with pytest.raises(UserError, match=r"the cluster is not up \(kube-node-1-demo is exited\): `local-cluster up`"):
        load.choose_nodes("demo", stopped, "")
    assert load.choose_nodes("demo", stopped, "kube-node-2") == ["kube-node-2-demo"]


# ---------------------------------------------------------------- archives


def _archive(path, tags, payload=b"app"):
    layer = Layer(files=(FileEntry("app", data=payload, mode=0o755),))
    image_id = write_image(path, tags, [layer], ImageConfig(cmd=("/app",)))
    return path, image_id


def test_an_archives_images_by_containerd_name_and_config_digest(tmp_path):
    path, image_id = _archive(tmp_path / "app.tar", ["app:1", "example.com/app:1"])
    with open(path, "rb") as file:
        images = load.archive_images(file, str(path))
    assert images == (
        load.Image("docker.io/library/app:1", image_id),
        load.Image("example.com/app:1", image_id),
    )


def test_what_docker_save_did_not_make_is_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with open(text, "rb") as file, pytest.raises(UserError, match=r"notes.txt is not an archive made by `docker save`"):
        load.archive_images(file, str(text))
    path, _ = _archive(tmp_path / "unnamed.tar", [])
    with open(path, "rb") as file, pytest.raises(UserError, match=r"holds an image without a name"):
        load.archive_images(file, str(path))


def test_a_missing_archive_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"archive .*/no.tar does not exist"), load.open_archive(tmp_path / "no.tar"):
        pass
    with pytest.raises(UserError, match=r"is not a file"), load.open_archive(tmp_path):
        pass


# ---------------------------------------------------------------- the tar stream sent to the engine


@pytest.mark.parametrize("sizes", [[0], [1], [512], [513, 1024], [3 * 1024 * 1024 + 7]])
def test_the_tar_made_on_the_fly_is_a_tar_of_exactly_its_length(tmp_path, sizes):
    members, contents = [], {}
    with contextlib.ExitStack() as files:
        for index, size in enumerate(sizes):
            data = bytes(range(256)) * (size // 256) + bytes(size % 256)
            path = tmp_path / f"f{index}"
            path.write_bytes(data)
            contents[f"f{index}"] = data
            members.append((f"f{index}", size, files.enter_context(Blob.of_file(path)).reader()))
        stream = TarStream(members, mode=0o600)
        produced = b""
        while chunk := stream.read(8192):  # as HTTP clients read a body
            produced += chunk
    assert len(produced) == len(stream)
    with tarfile.open(fileobj=io.BytesIO(produced)) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == contents
        assert {(m.mode, m.uid) for m in tar.getmembers()} == {(0o600, 0)}


def test_readers_of_one_blob_each_read_from_the_start(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"0123456789")
    with Blob.of_file(path) as blob:
        first, second = blob.reader(), blob.reader()
        assert first.read(4) == b"0123"
        assert second.read() == b"0123456789"
        assert first.read() == b"456789"


# ---------------------------------------------------------------- loading, on fakes


@dataclass
class FakeContainer:
    name: str
    status: str = "running"


@dataclass
class FakeEngine:
    """Images by reference: (ID, `docker save` archive bytes); counts the saves."""

    images: dict
    saves: list = field(default_factory=list)

    def image_summary(self, ref):
        return (self.images[ref][0], len(self.images[ref][1])) if ref in self.images else None

    def save_stream(self, ref):
        self.saves.append(ref)
        return iter([self.images[ref][1]])

    def facts(self):
        return type("Facts", (), {"host": "unix:///fake.sock"})


class FakeObjects:
    """Nodes whose containerd is a {name: ID} dict: `crictl images` lists it,
    `ctr images import` adds what the archive put into the node names."""

    def __init__(self, engine, held: dict[str, dict[str, str]], cluster="demo"):
        self.engine, self.cluster, self.held = engine, cluster, held
        self.sent: dict[str, list[bytes]] = {name: [] for name in held}
        self._put: dict[str, bytes] = {}

    def nodes(self):
        return [FakeContainer(name) for name in self.held]

    def put_paths(self, node, directory, files):
        (blob,) = files.values()
        self._put[node] = blob.reader().read()
        self.sent[node].append(self._put[node])

    def exec(self, node, argv, on_line=None, deadline=600):
        if argv[:2] == ["crictl", "images"]:
            listed = [{"id": image_id, "repoTags": [name]} for name, image_id in self.held[node].items()]
            return ExecResult(0, json.dumps({"images": listed}))
        if "ctr -n k8s.io images import" in " ".join(argv):
            with tarfile.open(fileobj=io.BytesIO(self._put.pop(node))) as tar:
                manifest = json.load(tar.extractfile("manifest.json"))
            for entry in manifest:
                image_id = "sha256:" + entry["Config"].rsplit("/", 1)[-1].removesuffix(".json")
                self.held[node].update({load.containerd_name(tag): image_id for tag in entry["RepoTags"]})
        return ExecResult(0, "")


@pytest.fixture
def app_image(tmp_path):
    path, image_id = _archive(tmp_path / "app.tar", ["app:1"])
    return image_id, path.read_bytes()


def test_only_the_nodes_that_lack_the_image_get_it_and_it_is_saved_once(app_image):
    image_id, archive = app_image
    engine = FakeEngine({"app:1": app_image})
    objects = FakeObjects(
        engine,
        {
            "kube-master-demo": {"docker.io/library/app:1": image_id},
            "kube-node-1-demo": {},
            "kube-node-2-demo": {"docker.io/library/app:1": "sha256:" + "0" * 64},
        },
    )
    lines = load.load(objects, ["app:1"], "", "")
    assert engine.saves == ["app:1"]
    assert objects.sent == {"kube-master-demo": [], "kube-node-1-demo": [archive], "kube-node-2-demo": [archive]}
    assert lines == [
        f"app:1: loaded into kube-node-1-demo, kube-node-2-demo; already in kube-master-demo "
        f"(docker.io/library/app:1, image {image_id[7:19]})"
    ]
    # Again: every node has it, and nothing is saved or sent.
    lines = load.load(objects, ["app:1"], "", "")
    assert engine.saves == ["app:1"]
    assert re.match(r"app:1: already in kube-master-demo, kube-node-1-demo, kube-node-2-demo \(", lines[0])


def test_nodes_chosen_and_an_archive_besides_an_image(app_image, tmp_path):
    path, tool_id = _archive(tmp_path / "tool.tar", ["tool:2"], payload=b"tool")
    engine = FakeEngine({"app:1": app_image})
    objects = FakeObjects(engine, {"kube-master-demo": {}, "kube-node-1-demo": {}})
    lines = load.load(objects, ["app:1", "app:1"], str(path), "kube-node-1")
    assert objects.held == {
        "kube-master-demo": {},
        "kube-node-1-demo": {"docker.io/library/tool:2": tool_id, "docker.io/library/app:1": app_image[0]},
    }
    assert [line.split(":", 1)[0] for line in lines] == [str(path).split(":", 1)[0], "app"]
    assert engine.saves == ["app:1"]  # named twice, saved once


def test_missing_images_are_one_line_before_any_node_is_touched(app_image):
    engine = FakeEngine({"app:1": app_image})
    objects = FakeObjects(engine, {"kube-master-demo": {}})
    with pytest.raises(UserError) as raised:
        load.load(objects, ["app:1", "nope:1", "gone"], "", "")
    assert str(raised.value) == (
        "images nope:1, gone are not in the Docker engine at unix:///fake.sock: "
        "build them or pull them first (`docker images` lists what it has)"
    )
    assert objects.sent == {"kube-master-demo": []} and engine.saves == []


def test_names_that_are_no_names(app_image):
    engine = FakeEngine({"app:1": app_image, app_image[0][7:19]: app_image})
    objects = FakeObjects(engine, {"kube-master-demo": {}})
    with pytest.raises(UserError, match=r"is an image ID: load images by name"):
        load.load(objects, [app_image[0][7:19]], "", "")
    with pytest.raises(UserError, match=r"app@sha256:0+: load images by name"):
        load.load(objects, ["app@sha256:" + "0" * 64], "", "")
    with pytest.raises(UserError, match=r"load needs IMAGE\.\.\. or --archive FILE.tar"):
        load.load(objects, [], "", "")


# ---------------------------------------------------------------- the command line


def test_archive_and_nodes_are_options_of_load_with_values():
    flags, invocation, rest = parse_flags(["load", "app:1", "--nodes", "kube-node-1", "--archive=a.tar", "b:2"])
    assert (flags, invocation, rest) == ({}, {"nodes": "kube-node-1", "archive": "a.tar"}, ["load", "app:1", "b:2"])


def test_load_gets_its_images_and_options_in_any_order(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(cluster_commands.Engine, "connect", staticmethod(lambda: None))
    monkeypatch.setattr(cluster_commands, "Objects", lambda engine, cluster: cluster)
    monkeypatch.setattr(load, "load", lambda *args: seen.append(args) or ["said"])
    monkeypatch.setattr(cli, "_lock_engine", lambda what: None)
    args = ["load", "--archive", "x.tar", "app:1", "--nodes", "kube-node-1", "b:2", "--cluster-name", "c"]
    assert cli.main(args) == 0
    assert seen == [("c", ["app:1", "b:2"], "x.tar", "kube-node-1")]
    assert "said" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["up", "--nodes", "kube-node-1"], "error: --nodes goes with `load` only\n"),
        (["clean", "--archive", "a.tar"], "error: --archive goes with `load` only\n"),
        (["load", "app:1", "--nodes"], "error: flag --nodes needs a value\n"),
    ],
)
def test_misused_options_are_one_line_and_exit_2(args, error, capsys):
    assert cli.main(args) == 2
    assert capsys.readouterr().err == error


def test_load_without_an_engine_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert cli.main(["load", "app:1"]) == 1
    out = capsys.readouterr().out
    assert "✗ images into the nodes: cannot reach the Docker engine at unix:///nonexistent/docker.sock" in out
    assert "Traceback" not in out
