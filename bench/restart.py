"""Cold `up` against `up` from the snapshot against `up` on stopped nodes,
1 master + 2 workers, in one run, and what the snapshot takes on disk.

    python bench/restart.py [--kubernetes-version v1.34.4] [--repeat 3]

Uses your state directory (~/.kubeadm-local-cluster) so the artifacts are
cached: run `local-cluster up` once first. Removes its cluster with `clean`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record

from tasks.naming import Names

REPO = Path(__file__).resolve().parent.parent
STEP = re.compile(r"^✓ (.+) \((\d+\.\d+)s\)$", re.M)


# A cluster of the benchmark's own: never the default one, never the user's.
CLUSTER = "bench-restart"


def tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}  # yours is left alone
    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)


def timed_up(version: str, expect: str) -> tuple[float, dict[str, float]]:
    """Seconds for the whole command, and each step's own seconds."""
    started = time.monotonic()
    result = tool("up", "--num-nodes", "2", "--kubernetes-version", version)
    elapsed = time.monotonic() - started
    if result.returncode != 0 or expect not in result.stdout:
        sys.exit(f"up did not do what was expected ({expect!r}):\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed, {name: float(seconds) for name, seconds in STEP.findall(result.stdout)}


def snapshot_disk() -> str:
    """From `docker system df -v`: the snapshot images' unique sizes (the
    column before CONTAINERS) and the snapshot volumes' sizes."""
    out = subprocess.run(["docker", "system", "df", "-v"], capture_output=True, text=True).stdout
    unique = volumes = 0.0
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0] == "kubeadm-local-cluster/snapshot" and fields[1].startswith(f"{CLUSTER}-"):
            unique += _megabytes(fields[-2])
        elif fields and fields[0].endswith(f"-{CLUSTER}-containerd-snapshot"):
            volumes += _megabytes(fields[-1])
    return f"{unique:.0f} MB of image layers of its own + {volumes:.0f} MB of containerd volumes"


def _megabytes(text: str) -> float:
    number = float(re.sub(r"[A-Za-z]+$", "", text) or 0)
    unit = re.sub(r"^[0-9.]+", "", text)
    return number * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1000}.get(unit, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.34.4")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    version = args.kubernetes_version

    tool("clean")
    cold, cold_steps = timed_up(version, "✓ kubeadm init")
    disk = snapshot_disk()
    from_snapshot, snapshot_steps, stopped, stopped_steps = [], [], [], []
    for _ in range(args.repeat):
        tool("down")
        elapsed, steps = timed_up(version, "restoring the snapshot")
        from_snapshot.append(elapsed)
        snapshot_steps.append(steps.get("snapshot lookup", 0) + steps.get("nodes Ready, CoreDNS Ready", 0))
        nodes = [Names(CLUSTER).master, Names(CLUSTER).worker(1), Names(CLUSTER).worker(2)]
        subprocess.run(["docker", "stop", *nodes], capture_output=True, check=True)
        elapsed, steps = timed_up(version, "starting the stopped nodes")
        stopped.append(elapsed)
        stopped_steps.append(sum(steps.get(name, 0) for name in ("start 3 nodes", "nodes Ready, CoreDNS Ready")))
    tool("clean")

    median = statistics.median
    rows = [
        ("cold `up`, 1+2 nodes, artifacts cached (kubeadm init, join, snapshot)", f"{cold:.1f} s"),
        ("  of which: taking the snapshot", f"{cold_steps.get('snapshot', 0):.1f} s"),
        (f"`up` from the snapshot (median of {args.repeat})", f"{median(from_snapshot):.1f} s"),
        ("  of which: restore + all nodes and CoreDNS Ready", f"{median(snapshot_steps):.1f} s"),
        (f"`up` on stopped nodes (median of {args.repeat})", f"{median(stopped):.1f} s"),
        ("  of which: start + all nodes and CoreDNS Ready", f"{median(stopped_steps):.1f} s"),
        ("cold / from snapshot", f"{cold / median(from_snapshot):.1f}x"),
        ("the snapshot on disk", disk),
    ]
    record(
        "Restart (bench/restart.py)",
        rows,
        "Whole-command times include loading the tasks (~1 s). Ready after a restart counts only "
        "status reported since the restart, not what etcd kept from before.",
    )


if __name__ == "__main__":
    main()
