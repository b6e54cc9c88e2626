"""go commands on the engine when this machine has no go (tasks/build/go_engine.py):
the argv rewritten for the container, and gobuild's choice of where to run.
The real container is tests/integration/test_python_only_client.py's."""

import io
import os
import tarfile
from pathlib import Path

from tasks.build import go_engine, gobuild
from tasks.container_io import tar_of_directories


def test_outputs_are_written_in_the_container_and_named_for_the_way_back():
    argv, wanted = go_engine._outputs(["go", "build", "-v", "-o", "/cache/bin/.kubelet.partial", "./cmd/kubelet"])
    assert argv == ["go", "build", "-v", "-o", "/out/.kubelet.partial", "./cmd/kubelet"]
    assert wanted == {"/out/.kubelet.partial": Path("/cache/bin/.kubelet.partial")}


def test_without_go_here_gobuild_runs_go_on_the_engine_and_reads_the_proxy_with_python(tmp_path, monkeypatch):
    ran, asked = [], []

    def fake_run(argv, log_file, what, env, cwd, on_line=None):  # a fake: the engine is the integration test's
        ran.append((argv, what, env["CGO_ENABLED"], cwd))
        if "-o" in argv:
            Path(argv[argv.index("-o") + 1]).write_bytes(b"built")
        return 1.0

    class FakeProxy:  # a fake: the module proxy is the integration test's
        def facts(self, module, version):
            asked.append((module, version))
            return {"GoMod": "go.mod"}

    monkeypatch.setattr(gobuild.shutil, "which", lambda name: None)
    monkeypatch.setattr(go_engine, "run", fake_run)
    monkeypatch.setattr(gobuild.goproxy, "Proxy", FakeProxy)
    monkeypatch.setattr(gobuild, "package_total", lambda *args: None)
    gobuild.build(tmp_path, ".", tmp_path / "pause", tmp_path / "log", "pause")
    gobuild.tidy(tmp_path, tmp_path / "log", "pause")
    assert (tmp_path / "pause").read_bytes() == b"built"
    assert [(argv[:2], what) for argv, what, _, _ in ran] == [
        (["go", "build"], "building pause"),
        (["go", "mod"], "resolving the modules of pause"),
    ]
    assert {cgo for _, _, cgo, _ in ran} == {"0"} and {cwd for *_, cwd in ran} == {tmp_path}
    assert gobuild.module_facts("k8s.io/kubernetes", "v1.37.2", tmp_path) == {"GoMod": "go.mod"}
    assert asked == [("k8s.io/kubernetes", "v1.37.2")]


def test_a_directory_goes_in_under_its_name_and_hooks_as_root_s(tmp_path):

    module = tmp_path / "module"
    module.mkdir()
    (module / "go.mod").write_text("module example.invalid/m\n")
    with tarfile.open(fileobj=io.BytesIO(tar_of_directories({"module": module}))) as tar:
        assert sorted(tar.getnames()) == ["module", "module/go.mod"]
        assert tar.getmember("module/go.mod").uid == os.getuid()
    with tarfile.open(fileobj=io.BytesIO(tar_of_directories({"0": module}, root_owned=True))) as tar:
        assert sorted(tar.getnames()) == ["0", "0/go.mod"]
        assert {(m.uid, m.gid, m.uname) for m in tar} == {(0, 0, "root")}


class FakeObjects:
    """The engine's side of sending a directory (a fake): what was put, and exec answers."""

    def __init__(self):
        self.put = []

    def exec(self, container, argv):
        return type("Done", (), {"exit_code": 0, "output": ""})()

    def put_archive(self, container, path, data):
        self.put.append(path)


def test_a_module_unchanged_since_a_command_that_ended_well_is_not_sent_again(tmp_path, monkeypatch):
    ready = type("Ready", (), {})()
    ready.objects, ready.sent = FakeObjects(), {}
    module = tmp_path / "module"
    module.mkdir()
    (module / "go.mod").write_text("module example.invalid/m\n")
    go_engine._put_module(ready, module)
    go_engine._put_module(ready, module)
    assert len(ready.objects.put) == 1
    (module / "go.sum").write_text("changed here\n")
    go_engine._put_module(ready, module)
    assert len(ready.objects.put) == 2
    try:
        with go_engine._resent_after_a_failure(ready, module):
            raise RuntimeError("the command failed")
    except RuntimeError:
        pass
    go_engine._put_module(ready, module)  # a failed command may have changed the copy there
    assert len(ready.objects.put) == 3
