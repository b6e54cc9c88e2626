"""Container images written directly as `docker save` archives, with no engine
and no registry: a layer is a tar of files, an image is layers plus a config.

`docker load` and `ctr images import` (what the nodes' containerd uses) both
read this format. Layers are deterministic (sorted, owned by root, fixed
times), so the same inputs make the same image ID.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.paths import replacing

EPOCH = 0  # fixed file times: the same binary gives the same layer
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "amd64": "amd64", "arm64": "arm64"}


@dataclass(frozen=True)
class FileEntry:
    """One file of a layer: contents from a path on disk or from bytes."""

    path: str  # inside the image, without the leading slash
    source: Path | None = None
    data: bytes | None = None
    mode: int = 0o644
    link: str = ""  # a symbolic link to this target instead of a file


@dataclass(frozen=True)
class Layer:
    """A layer: a tar file on disk (e.g. a Debian root filesystem) or files and directories."""

    tar: Path | None = None
    files: tuple[FileEntry, ...] = ()
    directories: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",)
    labels: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    stop_signal: str = ""


def minimal_root() -> Layer:
    """What a program FROM scratch still expects: /tmp, users, resolver order."""
    passwd = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    group = b"root:x:0:\nnogroup:x:65534:\n"
    return Layer(
        files=(
            FileEntry("etc/passwd", data=passwd),
            FileEntry("etc/group", data=group),
            FileEntry("etc/nsswitch.conf", data=b"hosts: files dns\n"),
        ),
        directories=(("tmp", 0o1777), ("root", 0o700), ("etc", 0o755), ("var/run", 0o755)),
    )


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _write_layer(layer: Layer, out: io.BufferedWriter) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # Parent directories first, in order, so the layer unpacks anywhere.
        directories = dict(layer.directories)
        for entry in layer.files:
            parts = entry.path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.setdefault("/".join(parts[:depth]), 0o755)
        for name in sorted(directories):
            tar.addfile(_tar_info(name, tarfile.DIRTYPE, directories[name]))
        for entry in sorted(layer.files, key=lambda e: e.path):
            if entry.link:
                info = _tar_info(entry.path, tarfile.SYMTYPE, 0o777)
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.source is not None:
                size = entry.source.stat().st_size
                with open(entry.source, "rb") as data:
                    tar.addfile(_tar_info(entry.path, tarfile.REGTYPE, entry.mode, size), data)
            else:
                payload = entry.data or b""
                tar.addfile(_tar_info(entry.path, tarfile.REGTYPE, entry.mode, len(payload)), io.BytesIO(payload))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_image(
    archive: Path, tags: Iterable[str], layers: Iterable[Layer], config: ImageConfig, architecture: str = "amd64"
) -> str:
    """Write a `docker save` archive; return the image ID (sha256 of its config).

    Written to a temporary name and renamed, so an interrupted build never
    leaves a half archive that looks finished. A layer that is already a tar
    (a Debian root filesystem) goes in as it is, not copied first."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    workdir = archive.parent / f".{archive.name}.parts"
    workdir.mkdir(exist_ok=True)
    try:
        diff_ids, layer_files = [], []
        for number, layer in enumerate(layers):
            part = layer.tar or workdir / f"layer{number}.tar"
            if layer.tar is None:
                with open(part, "wb") as out:
                    _write_layer(layer, out)
            digest = sha256_file(part)
            diff_ids.append(f"sha256:{digest}")
            layer_files.append((f"{digest}/layer.tar", part))
        image_config = {
            "architecture": ARCHITECTURES.get(architecture, architecture),
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Entrypoint": list(config.entrypoint) or None,
                "Cmd": list(config.cmd) or None,
                "Env": list(config.env),
                "Labels": dict(config.labels) or None,
                "User": config.user,
                "WorkingDir": config.workdir,
                **({"StopSignal": config.stop_signal} if config.stop_signal else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kubeadm-local-cluster"} for _ in diff_ids],
        }
        config_bytes = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
        image_id = hashlib.sha256(config_bytes).hexdigest()
        manifest = [{"Config": f"{image_id}.json", "RepoTags": list(tags), "Layers": [n for n, _ in layer_files]}]
        with replacing(archive) as partial, tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for name, payload in ((f"{image_id}.json", config_bytes), ("manifest.json", json.dumps(manifest).encode())):
                tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(payload)), io.BytesIO(payload))
            for name, part in layer_files:
                tar.addfile(_tar_info(name.split("/")[0], tarfile.DIRTYPE, 0o755))
                with open(part, "rb") as data:
                    tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, part.stat().st_size), data)
        return f"sha256:{image_id}"
    finally:
        for leftover in workdir.glob("*"):
            leftover.unlink()
        workdir.rmdir()


def read_tags(archive: Path) -> list[str]:
    """The tags an archive carries (what the node's containerd will know it by)."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    return [tag for entry in manifest for tag in entry.get("RepoTags") or []]


def retag(source: Path, target: Path, tags: list[str]) -> None:
    """Copy a `docker save` archive with other tags (atomically)."""
    with (
        replacing(target) as partial,
        tarfile.open(source) as original,
        tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as copy,
    ):
        for member in original:
            if member.name == "manifest.json":
                manifest = json.load(original.extractfile(member))
                for entry in manifest:
                    entry["RepoTags"] = list(tags)
                payload = json.dumps(manifest).encode()
                copy.addfile(_tar_info("manifest.json", tarfile.REGTYPE, 0o644, len(payload)), io.BytesIO(payload))
            elif member.name == "repositories":
                continue  # the old names; docker load and ctr read manifest.json
            else:
                copy.addfile(member, original.extractfile(member) if member.isfile() else None)


def read_image_id(archive: Path) -> str:
    """The image ID of a `docker save` archive: the digest its config is named by."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    name = manifest[0]["Config"].rsplit("/", 1)[-1].removesuffix(".json")
    return f"sha256:{name}"
