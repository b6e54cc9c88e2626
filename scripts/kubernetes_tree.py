"""A real Kubernetes tree without git or GitHub, assembled from the Go module
cache: k8s.io/kubernetes' source with each staging module under
staging/src/k8s.io/<name>. Module zips keep no symlinks, executable bits or
vendor/, so those are restored; there is no .git, so a build takes its version
from KUBE_GIT_VERSION. With vendor, vendor/ is made as a clone of the
repository has it (`go work vendor`): upstream's build runs `go install` with
GOPROXY=off, so a build with an empty module cache (on the engine) needs it.

    python scripts/kubernetes_tree.py [--vendor] v1.37.2 DIRECTORY

Used by the tests (a Kubernetes developer's tree for `reup`) and bench/reup.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def _download(module: str, env: dict[str, str], cwd: Path) -> dict:
    out = subprocess.run(
        ["go", "mod", "download", "-json", module], capture_output=True, text=True, env=env, cwd=cwd
    ).stdout
    return json.loads(out)


def assemble(tree: Path, version: str, env: dict[str, str] | None = None, vendor: bool = False) -> Path:
    """The tree of Kubernetes VERSION at TREE (which must not exist yet)."""
    env = {**os.environ, **(env or {})}
    work = tree.parent
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_download(f"k8s.io/kubernetes@{version}", env, work)["Dir"], tree)
    subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)
    shutil.rmtree(tree / "vendor")
    (tree / "Makefile").symlink_to("build/root/Makefile")
    for script in tree.rglob("*.sh"):
        script.chmod(0o755)
    staging_version = "v0." + version.removeprefix("v").split(".", 1)[1]
    for name in re.findall(r"^\s*k8s\.io/([a-z0-9-]+) => \./staging/", (tree / "go.mod").read_text(), re.M):
        target = tree / "staging" / "src" / "k8s.io" / name
        facts = _download(f"k8s.io/{name}@{staging_version}", env, work)
        if facts.get("Dir"):
            shutil.copytree(facts["Dir"], target)
        else:  # a few sample modules are not published for every release; nothing we build uses them
            target.mkdir(parents=True)
            (target / "go.mod").write_text(f"module k8s.io/{name}\n\ngo 1.24.0\n")
    subprocess.run(["chmod", "-R", "u+w", str(tree / "staging")], check=True)
    if vendor:
        subprocess.run(
            ["go", "work", "vendor"], cwd=tree, env={**env, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}, check=True
        )
    return tree


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--vendor"]
    if len(arguments) != 2:
        sys.exit("usage: kubernetes_tree.py [--vendor] VERSION DIRECTORY")
    print(assemble(Path(arguments[1]).resolve(), arguments[0], vendor="--vendor" in sys.argv))
