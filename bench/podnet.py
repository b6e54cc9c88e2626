"""`up` time and steady memory per pod network (issue #11), 1+2 nodes:

    python bench/podnet.py [--kubernetes-version v1.34.4] [--repeat 3] [--plugins bridge,flannel]

For each plugin: `up` after `clean` (the node image and the plugin's images
stay built; the median of --repeat), then `up` from the snapshot, and the
nodes' memory a minute after `up`. Uses your state directory (artifacts
cached: run `local-cluster up` once first) and a cluster of its own
(`bench-podnet`), removed at the end; your kubeconfig is left alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import node_memory, record

from tasks.settings.parsers import CNI_PLUGINS

REPO = Path(__file__).resolve().parent.parent
CLUSTER = "bench-podnet"


def tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}
    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)


def timed_up(version: str, plugin: str, expect: str) -> float:
    start = time.monotonic()
    result = tool("up", "--num-nodes", "2", "--kubernetes-version", version, "--cni-plugin", plugin, "--addons=")
    elapsed = time.monotonic() - start
    if result.returncode != 0 or expect not in result.stdout:
        sys.exit(f"up with {plugin} did not do what was expected ({expect!r}):\n{result.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.34.4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plugins", default=",".join(CNI_PLUGINS))
    args = parser.parse_args()
    rows = []
    for plugin in args.plugins.split(","):
        tool("clean")
        timed_up(args.kubernetes_version, plugin, "Cluster")  # builds what the plugin runs, once
        cold = []
        for _ in range(args.repeat):
            tool("clean")
            cold.append(timed_up(args.kubernetes_version, plugin, "✓ kubeadm init"))
        time.sleep(60)
        memory = node_memory(CLUSTER)
        restored = []
        for _ in range(args.repeat):
            tool("down")
            restored.append(timed_up(args.kubernetes_version, plugin, "restoring the snapshot"))
        tool("clean")
        rows += [
            (f"{plugin}: 1+2 after clean (median of {args.repeat})", f"{statistics.median(cold):.1f} s"),
            (f"{plugin}: up from the snapshot (median of {args.repeat})", f"{statistics.median(restored):.1f} s"),
            (f"{plugin}: steady memory 1+2, a minute after up", f"{memory:.0f} MiB"),
        ]
    record(
        "Pod networks (bench/podnet.py)",
        rows,
        "From the start of the command to every node Ready and a CoreDNS pod Ready; "
        "the plugin's images built before (not counted).",
    )


if __name__ == "__main__":
    main()
