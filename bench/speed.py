"""Where the seconds of `up` go, and the speed targets of issue #16, in one run:

    python bench/speed.py [--kubernetes-version v1.37.2] [--repeat 3]

Each figure is from the start of the command to every node Ready and a
CoreDNS pod Ready (what `up` waits for), the median of --repeat runs:
1+2 nodes and 1 node after `clean` (the node image stays loaded), `up` from
the snapshot, `up` on stopped nodes (as after an engine restart), a no-op
`up`, and the steady memory of 1+2 nodes. For the first run of each kind it
prints a per-node timeline from the engine's and the nodes' own clocks.

Uses your state directory (artifacts cached: run `local-cluster up` once
first) and a cluster of its own (`bench-speed`), removed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import node_memory, record

from tasks.naming import Names

REPO = Path(__file__).resolve().parent.parent
CLUSTER = "bench-speed"
NAMES = Names(CLUSTER)
STEP = re.compile(r"^✓ (.+) \((\d+\.\d+)s\)$", re.M)
READY_LINE = "✓ nodes Ready, CoreDNS Ready"
# Issue #16's targets (to Ready) and kind v0.33.0's figures, measured on a machine of
# this kind with the same Kubernetes build (kind cannot run here unpatched).
TARGETS = {
    "1+2 after clean": (33, "52.0-58.4 s"),
    "1 node after clean": (23, "44.3-46.5 s"),
    "up from the snapshot, 1+2": (8, "-"),
    "stopped nodes started again, 1+2": (8, "-"),
    "no-op up, 1+2": (1, "-"),
}


def tool(*args: str) -> subprocess.CompletedProcess:
    # Your kubeconfig is left alone: merging is a file write or two, not what is measured.
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}
    return subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)


def nodes(workers: int) -> list[str]:
    return [NAMES.master, *(NAMES.worker(i) for i in range(1, workers + 1))]


def timed_up(version: str, workers: int, expect: str = "") -> tuple[float, float, float, str]:
    """(wall-clock start, seconds to the end, seconds to Ready, output) of one `up`.
    Ready: when `up` said every node and CoreDNS are Ready (the issue's measure;
    the snapshot and the kubeconfig come after it)."""
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}
    argv = [sys.executable, "-m", "tasks", "up", "--num-nodes", str(workers), "--kubernetes-version", version]
    start = time.time()
    ready = None
    lines = []
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as up:
        for line in up.stdout:
            lines.append(line)
            if line.startswith(READY_LINE) and ready is None:
                ready = time.time() - start
    elapsed = time.time() - start
    output = "".join(lines)
    if up.returncode != 0 or expect not in output or ready is None:
        sys.exit(f"up did not do what was expected ({expect!r}):\n{output[-4000:]}")
    return start, elapsed, ready, output


def _moment(text: str) -> float | None:
    """A systemd or RFC 3339 timestamp as seconds since the epoch."""
    text = text.strip()
    if not text or text == "n/a":
        return None
    if re.match(r"\d{4}-", text):  # RFC 3339 from the engine or the API
        text = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
        return datetime.datetime.fromisoformat(text).timestamp()
    # systemd: "Tue 2026-12-01 12:38:21 UTC" (with --timestamp=us: "...21.625750 UTC")
    fields = text.split()
    stamp = " ".join(fields[1:3])
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in fields[2] else "%Y-%m-%d %H:%M:%S"
    moment = datetime.datetime.strptime(stamp, fmt).replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def timeline(start: float, names: list[str]) -> list[str]:
    """Per node: the container started, systemd done booting, images imported,
    kubelet started, the node Ready; then CoreDNS Ready; seconds after start."""
    rows = []

    def show(moment: float | None) -> str:
        return f"{moment - start:6.1f}" if moment else "     -"

    api = subprocess.run(
        ["docker", "exec", NAMES.master, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "nodes,pods",
         "-A", "-o", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    items = json.loads(api.stdout)["items"] if api.returncode == 0 else []
    ready = {}
    for item in items:
        for condition in item.get("status", {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                # A node's status since the last (re)start: its heartbeat; a pod's: its transition.
                moment = condition.get("lastHeartbeatTime") or condition["lastTransitionTime"]
                ready[item["metadata"]["name"]] = _moment(moment)
    rows.append("    node                    started  booted  images  kubelet  Ready (last reported)")
    for name in names:
        started = _moment(
            subprocess.run(["docker", "inspect", "--format", "{{.State.StartedAt}}", name], capture_output=True,
                           text=True).stdout
        )  # fmt: skip
        shown = subprocess.run(
            ["docker", "exec", name, "sh", "-c",
             "systemctl show --timestamp=us -p FinishTimestamp --value; "
             "systemctl show --timestamp=us -p ActiveEnterTimestamp --value import-images kubelet"],
            capture_output=True, text=True,
        ).stdout.splitlines()  # fmt: skip
        values = [line for line in shown if line.strip()]  # systemctl puts a blank line between units
        booted, images, kubelet = (_moment(line) for line in [*values, "", "", ""][:3])
        rows.append(
            f"    {name:22}  {show(started)}  {show(booted)}  {show(images)}  {show(kubelet)}  {show(ready.get(name))}"
        )
    coredns = [moment for name, moment in ready.items() if name.startswith("coredns-")]
    rows.append(f"    first CoreDNS pod Ready: {show(min(coredns) if coredns else None)} s")
    return rows


def steps(output: str) -> str:
    return ", ".join(f"{name} {seconds}" for name, seconds in STEP.findall(output))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.37.2")  # the build issue #16 compared with kind
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    version, repeat = args.kubernetes_version, args.repeat
    median = statistics.median
    figures: dict[str, list[tuple[float, float]]] = {}
    shown: list[str] = []

    def measure(what: str, workers: int, prepare, expect: str = "") -> None:
        for run in range(repeat):
            prepare()
            start, elapsed, ready, output = timed_up(version, workers, expect)
            figures.setdefault(what, []).append((ready, elapsed))
            if run == 0:
                head = f"{what}: Ready at {ready:.1f} s, done at {elapsed:.1f} s ({steps(output)})"
                shown.extend([head, *timeline(start, nodes(workers))])

    tool("clean")
    measure("1+2 after clean", 2, lambda: tool("clean"), "✓ kubeadm init")
    measure("1 node after clean", 0, lambda: tool("clean"), "✓ kubeadm init")
    tool("clean")
    timed_up(version, 2, "✓ snapshot")
    measure("up from the snapshot, 1+2", 2, lambda: tool("down"), "restoring the snapshot")
    measure(
        "stopped nodes started again, 1+2",
        2,
        lambda: subprocess.run(["docker", "stop", *nodes(2)], capture_output=True, check=True),
        "starting the stopped nodes",
    )
    measure("no-op up, 1+2", 2, lambda: None)
    time.sleep(60)
    memory = node_memory(CLUSTER)
    tool("clean")

    rows = []
    for what, runs in figures.items():
        ready, done = median(r for r, _ in runs), median(d for _, d in runs)
        target, kind = TARGETS[what]
        verdict = "met" if ready <= target else "NOT met"
        rows.append(
            (
                f"{what}, {version} (median of {repeat})",
                f"Ready {ready:.1f} s, command done {done:.1f} s (target <= {target:g} s: {verdict}; kind {kind})",
            )
        )
    cold = median(d for _, d in figures["1+2 after clean"])
    restored = median(d for _, d in figures["up from the snapshot, 1+2"])
    rows.append(("cold / from the snapshot (command done)", f"{cold / restored:.1f}x"))
    rows.append(("steady memory 1+2, a minute after up", f"{memory:.0f} MiB"))
    record(
        "Speed (bench/speed.py)",
        rows,
        "Ready: when `up` said every node Ready and a CoreDNS pod Ready (the issue's measure); done: the "
        "command's end (a cold `up` snapshots and writes the kubeconfig after Ready). Whole runs include "
        "loading the tasks (~0.5 s). Timelines of the first run of each kind, seconds after the command "
        "started (engine and node clocks; the API's Ready times are whole seconds):\n\n"
        + "\n".join(f"    {line}" for line in shown),
    )


if __name__ == "__main__":
    main()
