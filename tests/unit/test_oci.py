"""Image archives written by our own code."""

import json
import tarfile

from tasks.build.oci import FileEntry, ImageConfig, Layer, minimal_root, read_tags, write_image


def _image(tmp_path, name, payload=b"binary"):
    return write_image(
        tmp_path / name,
        ["registry.k8s.io/pause:3.10.1"],
        [minimal_root(), Layer(files=(FileEntry("usr/local/bin/pause", data=payload, mode=0o755),))],
        ImageConfig(entrypoint=("/usr/local/bin/pause",)),
    )


def test_same_inputs_make_the_same_image(tmp_path):
    assert _image(tmp_path, "a.tar") == _image(tmp_path, "b.tar")
    assert _image(tmp_path, "c.tar", b"other") != _image(tmp_path, "a.tar")


def test_archive_is_tagged_and_holds_the_program(tmp_path):
    _image(tmp_path, "pause.tar")
    assert read_tags(tmp_path / "pause.tar") == ["registry.k8s.io/pause:3.10.1"]
    with tarfile.open(tmp_path / "pause.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        config = json.load(archive.extractfile(manifest["Config"]))
        with tarfile.open(fileobj=archive.extractfile(manifest["Layers"][-1])) as top:
            program = top.getmember("usr/local/bin/pause")
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/pause"]
    assert program.mode == 0o755 and program.uid == 0
    assert len(config["rootfs"]["diff_ids"]) == 2


def test_no_partial_archive_is_left_behind(tmp_path):
    _image(tmp_path / "images", "pause.tar")
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["pause.tar"]


def test_retag_keeps_the_image_and_changes_only_the_tags(tmp_path):
    from tasks.build.oci import retag

    _image(tmp_path / "a", "pause.tar")
    retag(tmp_path / "a" / "pause.tar", tmp_path / "b" / "pause.tar", ["registry.k8s.io/pause:other"])
    assert read_tags(tmp_path / "b" / "pause.tar") == ["registry.k8s.io/pause:other"]
    with tarfile.open(tmp_path / "a" / "pause.tar") as a, tarfile.open(tmp_path / "b" / "pause.tar") as b:
        assert sorted(a.getnames()) == sorted(b.getnames())
