"""`local-cluster load` of a ~100 MB image into 1 master + 2 workers: the
first load (every node lacks it) and a second one (every node holds it:
nothing sent), median of --repeat runs.

    python bench/load.py [--kubernetes-version v1.37.2] [--repeat 3] [--size-mb 100]

Uses your state directory (~/.kubeadm-local-cluster) so the artifacts are
cached: run `local-cluster up` once first. Makes its own cluster and its own
image (random bytes, so no layer is shared with anything), and removes both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record

REPO = Path(__file__).resolve().parent.parent
CLUSTER = "bench-load"  # the benchmark's own cluster: never the default one, never the user's
IMAGE = "kubeadm-local-cluster-bench/load"  # its own repository: tags made and removed here


def tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}  # yours is left alone
    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)


def checked(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        sys.exit(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return result


def make_image(tag: str, size_mb: int) -> None:
    """FROM scratch with SIZE_MB of random bytes: nothing pulled, nothing shared."""
    with tempfile.TemporaryDirectory() as context:
        with open(Path(context) / "blob", "wb") as blob:
            for _ in range(size_mb):
                blob.write(os.urandom(1024 * 1024))
        (Path(context) / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
        checked(subprocess.run(["docker", "build", "-q", "-t", tag, context], capture_output=True, text=True), tag)


def timed(*args: str) -> float:
    start = time.monotonic()
    checked(tool(*args), " ".join(args))
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", default="v1.37.2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=100)
    options = parser.parse_args()
    checked(tool("up", "--kubernetes-version", options.kubernetes_version, "--num-nodes", "2"), "up")
    first, again = [], []
    try:
        for run in range(options.repeat):
            tag = f"{IMAGE}:{run}"
            make_image(tag, options.size_mb)
            try:
                first.append(timed("load", tag))
                again.append(timed("load", tag))
                print(f"run {run + 1}: first {first[-1]:.1f} s, again {again[-1]:.1f} s", flush=True)
            finally:
                subprocess.run(["docker", "rmi", tag], capture_output=True)
    finally:
        tool("clean")
    n = options.repeat
    record(
        f"load of a {options.size_mb} MB image into 1+2 nodes (Kubernetes {options.kubernetes_version})",
        [
            (f"`load IMAGE`, no node holds it (median of {n})", f"{statistics.median(first):.1f} s"),
            (f"`load IMAGE` again, every node holds it (median of {n})", f"{statistics.median(again):.1f} s"),
        ],
        "Whole-command times (loading the tasks included, ~1 s): the image saved by the engine once, "
        "streamed into the three nodes' containerd in parallel. Goal (#12): under 5 s.",
    )


if __name__ == "__main__":
    main()
