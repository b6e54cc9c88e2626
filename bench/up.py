"""Time of `up` with the artifacts cached, for 0 and 2 workers, and the nodes'
memory (peak while coming up, steady a minute later).

    python bench/up.py [--kubernetes-version v1.34.4]

Uses your state directory (~/.kubeadm-local-cluster) so the artifacts are
cached: run `local-cluster artifacts` first. Removes its clusters with `clean`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

REPO = Path(__file__).resolve().parent.parent
LABEL = "io.kubeadm-local-cluster.cluster"


# A cluster of the benchmark's own: never the default one, never the user's.
CLUSTER = "bench-up"


def tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}  # yours is left alone
    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)


def node_memory() -> dict[str, float]:
    """MiB per node container, as `docker stats` reports it."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "--no-trunc"],
        capture_output=True,
        text=True,
    ).stdout
    usage = {}
    for line in out.splitlines():
        name, amount = line.split()[0], line.split()[1]
        if name.startswith("kube-") and name.endswith(f"-{CLUSTER}"):
            number = float(amount.rstrip("KMGiB"))
            usage[name] = number * {"K": 1 / 1024, "M": 1, "G": 1024}[amount.rstrip("iB")[-1]]
    return usage


def measure(workers: int, version: str) -> list[tuple[str, str]]:
    tool("clean")
    peak: dict[str, float] = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
            for name, mib in node_memory().items():
                peak[name] = max(peak.get(name, 0.0), mib)
            time.sleep(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    result = tool("up", "--num-nodes", str(workers), "--kubernetes-version", version)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"up failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    time.sleep(60)
    done.set()
    steady = node_memory()
    tool("clean")
    nodes = f"1+{workers} nodes"
    return [
        (f"`up`, {nodes}, artifacts cached, after `clean` (the node image stays loaded)", f"{elapsed:.1f} s"),
        (f"peak memory while coming up, {nodes}", f"{sum(peak.values()):.0f} MiB"),
        (
            f"steady memory a minute later, {nodes}",
            f"{sum(steady.values()):.0f} MiB (" + ", ".join(f"{k} {v:.0f}" for k, v in sorted(steady.items())) + ")",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.34.4")
    args = parser.parse_args()
    rows = measure(0, args.kubernetes_version) + measure(2, args.kubernetes_version)
    record("Cold `up` (bench/up.py)", rows, "Memory: docker stats (RSS plus the page cache the nodes' files occupy).")


if __name__ == "__main__":
    main()
