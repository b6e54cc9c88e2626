"""A Kubernetes tree (source.k8sDir) kept in a container on the engine, as
upstream's build/run.sh keeps it in its data container with rsync: only what
changed crosses, and through the engine's API alone (a listing the container
makes, one archive in, one command for what went), so an ssh:// or tcp://
engine needs no rsync daemon, port or password (#13, docs/design-build-in-engine.md).

A file is the same when its kind, size, whole-second mtime and mode are, as
rsync's default check; a symbolic link when its target is."""

from __future__ import annotations

import gzip
import os
import shlex
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Upstream's filters (_output, _tmp) and its version file, plus .git: the
# build's version stamps come from this machine (tasks/build/artifacts.py).
EXCLUDED = (".git", "_output", "_tmp", ".dockerized-kube-version-defs")
GZIP_FROM = 8 << 20  # larger changes go gzipped: the archive API unpacks gzip itself
LISTING = "/tmp/kubeadm-local-cluster-listing.gz"
DELETIONS = "kubeadm-local-cluster-deleted"


@dataclass(frozen=True)
class Entry:
    kind: str  # "f" file, "d" directory, "l" symbolic link
    mode: int
    size: int = 0
    mtime: int = 0
    link: str = ""

    def same(self, other: Entry | None) -> bool:
        if other is None or other.kind != self.kind:
            return False
        if self.kind == "l":
            return self.link == other.link
        if self.kind == "d":
            return self.mode == other.mode
        return (self.size, self.mtime, self.mode) == (other.size, other.mtime, other.mode)


@dataclass(frozen=True)
class Changes:
    send: list[str]  # paths to put, in walk order (a directory before what it holds)
    delete: list[str]  # paths to remove first (gone here, or of another kind)


@dataclass(frozen=True)
class Synced:
    sent: int  # bytes of the archive sent
    listed: int  # bytes of the listing received
    changed: int
    deleted: int


def walk(tree: Path) -> dict[str, Entry]:
    """Every entry under TREE but the excluded ones, by path relative to it."""
    found: dict[str, Entry] = {}
    for top, dirs, files in os.walk(tree):
        relative = os.path.relpath(top, tree)
        if relative == ".":
            dirs[:] = [d for d in dirs if d not in EXCLUDED]
            files = [f for f in files if f not in EXCLUDED]
        dirs.sort()  # os.walk lists links to directories among dirs, and does not follow them
        for name in dirs + sorted(files):
            path = name if relative == "." else f"{relative}/{name}"
            entry = _entry(tree / path)
            if entry is not None:
                found[path] = entry
    return found


def _entry(path: Path) -> Entry | None:
    stat = path.lstat()
    mode = stat.st_mode & 0o7777
    if path.is_symlink():
        return Entry("l", 0o777, link=os.readlink(path))
    if path.is_dir():
        return Entry("d", mode)
    if path.is_file():
        return Entry("f", mode, stat.st_size, int(stat.st_mtime))
    return None  # sockets and pipes are not the tree's


def listing_command(root: str) -> list[str]:
    """What the container runs to list ROOT as walk() does, gzipped into LISTING:
    kind, mode, size, mtime, path and link target, each ended by a NUL."""
    prune = " -o ".join(f"-path ./{shlex.quote(name)}" for name in EXCLUDED)
    script = (
        f"mkdir -p {shlex.quote(root)} && cd {shlex.quote(root)} && "
        f"find . -mindepth 1 \\( {prune} \\) -prune -o -printf '%y\\0%m\\0%s\\0%T@\\0%P\\0%l\\0' "
        f"| gzip -1 > {LISTING}"
    )
    return ["sh", "-c", script]


def parse_listing(data: bytes) -> dict[str, Entry]:
    fields = gzip.decompress(data).decode("utf-8", errors="surrogateescape").split("\0")
    found = {}
    for i in range(0, len(fields) - 5, 6):
        kind, mode, size, mtime, path, link = fields[i : i + 6]
        if kind == "f":
            found[path] = Entry("f", int(mode, 8), int(size), int(float(mtime)))
        elif kind in ("d", "l"):
            found[path] = Entry(kind, 0o777 if kind == "l" else int(mode, 8), link=link)
    return found


def changes(here: dict[str, Entry], there: dict[str, Entry]) -> Changes:
    send = [path for path, entry in here.items() if not entry.same(there.get(path))]
    gone = {path for path, entry in there.items() if path not in here or here[path].kind != entry.kind}
    # Only the top of what goes: `rm -rf` of a directory takes what it holds.
    delete = sorted(p for p in gone if not any(parent in gone for parent in _parents(p)))
    return Changes(send, delete)


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def archive(tree: Path, paths: list[str], here: dict[str, Entry], out) -> None:
    """PATHS of TREE as a tar into the file OUT, owned by root, with whole-second
    mtimes (what the listing compares); gzipped when large."""
    total = sum(here[p].size for p in paths)

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)
        return info

    options = {"mode": "w:gz", "compresslevel": 1} if total > GZIP_FROM else {"mode": "w"}
    with tarfile.open(fileobj=out, **options) as tar:
        for path in paths:
            tar.add(tree / path, arcname=path, recursive=False, filter=owned)


def sync(objects, container: str, tree: Path, root: str) -> Synced:
    """TREE into ROOT of CONTAINER (OBJECTS: tasks.objects.Objects), sending what changed."""
    from tasks.engine import EngineError

    result = objects.exec(container, listing_command(root))
    if result.exit_code != 0:
        raise EngineError(f"cannot list {root} in {container}: {result.output.strip()[-300:]}")
    listing = objects.get_file(container, LISTING)
    here = walk(tree)
    todo = changes(here, parse_listing(listing))
    if todo.delete:
        objects.put_files(container, "/tmp", {DELETIONS: "\0".join(todo.delete).encode()})
        remove = f"cd {shlex.quote(root)} && xargs -0 -r rm -rf -- < /tmp/{DELETIONS}"
        result = objects.exec(container, ["sh", "-c", remove])
        if result.exit_code != 0:
            raise EngineError(f"cannot remove what went from {root} in {container}: {result.output.strip()[-300:]}")
    sent = 0
    if todo.send:
        with tempfile.TemporaryFile() as out:
            archive(tree, todo.send, here, out)
            sent = out.tell()
            out.seek(0)
            objects.put_archive(container, root, out)
    return Synced(sent, len(listing), len(todo.send), len(todo.delete))
