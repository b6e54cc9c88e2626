"""Cold and warm times of the source build of the artifacts.

Cold: empty artifact cache and empty Go caches (a private GOCACHE and
GOMODCACHE, so yours are untouched), everything downloaded from the Go module
proxy and Debian. Warm: the same command again, with nothing changed.

    python bench/artifacts.py [--kubernetes-version v1.34.4] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

REPO = Path(__file__).resolve().parent.parent


def run(env: dict, version: str) -> tuple[float, int, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tasks", "artifacts", "--kubernetes-version", version],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"artifacts failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.returncode, result.stdout


def du(path: Path) -> str:
    out = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()
    return out[0] if out else "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.34.4")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_DIND_")}
    env.update(
        HOME=str(scratch / "home"),
        GOCACHE=str(scratch / "gocache"),
        GOMODCACHE=str(scratch / "gomod"),
        PYTHONPATH=str(REPO),
    )
    try:
        cold, _, cold_out = run(env, args.kubernetes_version)
        warm, _, _ = run(env, args.kubernetes_version)
        steps = [line for line in cold_out.splitlines() if line.startswith("✓")]
        rows = [
            (f"cold build of every artifact, Kubernetes {args.kubernetes_version}", f"{cold / 60:.1f} min"),
            ("warm run, nothing changed (no-op)", f"{warm:.2f} s"),
            ("Go module cache after the cold build", du(scratch / "gomod")),
            ("Go build cache after the cold build", du(scratch / "gocache")),
            ("artifact cache", du(scratch / "home" / ".kubeadm-local-cluster" / "cache")),
        ]
        record(
            "Artifacts from source (bench/artifacts.py)",
            rows,
            "Steps of the cold run:\n\n" + "\n".join(f"    {line}" for line in steps),
        )
    finally:
        if not args.keep:
            subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
