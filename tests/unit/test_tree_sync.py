"""The tree's sync to the engine (#13): what a second sync sends is what
changed. The container's side runs here with the same tools a Debian
container has (sh, find, gzip, tar): the listing command, the archive
unpacked as the engine unpacks it, and the removal of what went."""

import os
import shlex
import subprocess
import tarfile
from pathlib import Path

from tasks.build import tree_sync


def there(root: Path) -> dict:
    """The listing the container would make of ROOT."""
    argv = tree_sync.listing_command(str(root))
    subprocess.run(argv, check=True)
    listing = Path(tree_sync.LISTING)
    try:
        return tree_sync.parse_listing(listing.read_bytes())
    finally:
        listing.unlink()


def apply(tree: Path, root: Path) -> tree_sync.Changes:
    """One sync of TREE into ROOT, as tree_sync.sync does it through the engine."""
    here = tree_sync.walk(tree)
    todo = tree_sync.changes(here, there(root))
    if todo.delete:
        listed = " ".join(shlex.quote(p) for p in todo.delete)
        subprocess.run(["sh", "-c", f"cd {shlex.quote(str(root))} && rm -rf -- {listed}"], check=True)
    if todo.send:
        archive = root.parent / "changes.tar"
        with open(archive, "wb") as out:
            tree_sync.archive(tree, todo.send, here, out)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="tar")
    return todo


def make_tree(tree: Path) -> None:
    (tree / "cmd/kubelet/app").mkdir(parents=True)
    (tree / "cmd/kubelet/app/server.go").write_text("package app\n")
    (tree / "hack").mkdir()
    (tree / "hack/build.sh").write_text("#!/bin/sh\n")
    (tree / "hack/build.sh").chmod(0o755)
    (tree / "build/root").mkdir(parents=True)
    (tree / "build/root/Makefile").write_text("all:\n")
    (tree / "Makefile").symlink_to("build/root/Makefile")
    (tree / "a name with spaces.txt").write_text("x")
    for excluded in (".git", "_output/bin", "_tmp"):
        (tree / excluded).mkdir(parents=True)
        (tree / excluded / "big").write_bytes(b"0" * 1000)


def test_a_first_sync_sends_all_but_the_excluded_and_a_second_nothing(tmp_path):
    tree, root = tmp_path / "tree", tmp_path / "engine" / "kubernetes"
    make_tree(tree)
    first = apply(tree, root)
    assert "cmd/kubelet/app/server.go" in first.send and first.delete == []
    assert not any(p.startswith((".git", "_output", "_tmp")) for p in first.send)
    assert (root / "cmd/kubelet/app/server.go").read_text() == "package app\n"
    assert os.readlink(root / "Makefile") == "build/root/Makefile"
    assert (root / "hack/build.sh").stat().st_mode & 0o777 == 0o755
    assert not (root / ".git").exists()
    assert tree_sync.changes(tree_sync.walk(tree), there(root)) == tree_sync.Changes([], [])


def test_a_one_line_change_a_new_file_and_what_went_are_all_that_moves(tmp_path):
    tree, root = tmp_path / "tree", tmp_path / "engine" / "kubernetes"
    make_tree(tree)
    apply(tree, root)
    server = tree / "cmd/kubelet/app/server.go"
    server.write_text("package app\n// changed\n")
    os.utime(server, (server.stat().st_atime, server.stat().st_mtime + 5))
    (tree / "cmd/kubelet/app/new.go").write_text("package app\n")
    (tree / "a name with spaces.txt").unlink()
    (tree / "build/root/Makefile").unlink()
    (tree / "build/root").rmdir()
    (tree / "build/root").write_text("now a file\n")  # another kind: removed first, then sent
    second = apply(tree, root)
    assert sorted(second.send) == ["build/root", "cmd/kubelet/app/new.go", "cmd/kubelet/app/server.go"]
    assert second.delete == ["a name with spaces.txt", "build/root"]
    assert (root / "cmd/kubelet/app/server.go").read_text().endswith("// changed\n")
    assert (root / "build/root").read_text() == "now a file\n"
    assert not (root / "a name with spaces.txt").exists()
    assert tree_sync.changes(tree_sync.walk(tree), there(root)) == tree_sync.Changes([], [])


def test_a_mode_change_alone_is_sent(tmp_path):
    tree, root = tmp_path / "tree", tmp_path / "engine" / "kubernetes"
    make_tree(tree)
    apply(tree, root)
    (tree / "hack/build.sh").chmod(0o644)
    assert apply(tree, root).send == ["hack/build.sh"]
    assert (root / "hack/build.sh").stat().st_mode & 0o777 == 0o644


def test_large_changes_go_gzipped(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    make_tree(tree)
    monkeypatch.setattr(tree_sync, "GZIP_FROM", 10)
    here = tree_sync.walk(tree)
    with open(tmp_path / "out", "wb") as out:
        tree_sync.archive(tree, list(here), here, out)
    assert (tmp_path / "out").read_bytes()[:2] == b"\x1f\x8b"
