"""`reup` of a kubelet changed in a Kubernetes tree (issue #16: <= 15 s after its build):

    python bench/reup.py [--kubernetes-version v1.37.2] [--repeat 3]

A tree of that version assembled from the Go module cache
(scripts/kubernetes_tree.py), a 1+2 cluster of its own (`bench-reup`), and one
`reup --build-kubelet` that builds the tree's kubelet once. Then, --repeat
times: a one-line change to kubelet's source, `reup --build-kubelet`, timed;
the build step's own seconds are told apart from the rest (the new kubelet
into every node, kubelet restarted, every node Ready and CoreDNS Ready). Each
run checks the nodes' kubelet logs the changed line. The cluster and the tree
are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from common import record
from kubernetes_tree import assemble

from tasks.naming import Names

REPO = Path(__file__).resolve().parent.parent
CLUSTER = "bench-reup"
STEP = re.compile(r"^✓ (.+) \((\d+\.\d+)s\)$", re.M)
START = "func run(ctx context.Context, s *options.KubeletServer"


def tool(*args: str) -> tuple[float, str]:
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_MERGE_KUBECONFIG": "false"}
    env["FORCE_HOST_GO"] = "y"  # the machine's Go and its build cache, not the toolchain the tree pins
    start = time.time()
    result = subprocess.run([sys.executable, "-m", "tasks", *args], cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.time() - start
    if result.returncode != 0:
        sys.exit(f"local-cluster {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def change_kubelet(tree: Path, mark: str) -> None:
    """One line logged at kubelet's start, different every run."""
    server = tree / "cmd" / "kubelet" / "app" / "server.go"
    source = re.sub(r'\n\tklog\.InfoS\("bench reup [^"]*"\)', "", server.read_text())
    head, tail = source.split(START, 1)
    signature, body = tail.split("{\n", 1)
    server.write_text(f'{head}{START}{signature}{{\n\tklog.InfoS("bench reup {mark}")\n{body}')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.37.2")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    version = args.kubernetes_version
    flags = ["--num-nodes", "2", "--kubernetes-version", version]
    names = Names(CLUSTER)
    work = Path(tempfile.mkdtemp(prefix="bench-reup-"))
    try:
        tree = assemble(work / "kubernetes", version)
        tool("up", *flags)
        change_kubelet(tree, "first build")
        first, _ = tool("reup", "--build-kubelet", "--k8s-dir", str(tree), *flags)
        runs = []
        for run in range(args.repeat):
            mark = f"run {run} {time.time():.0f}"
            change_kubelet(tree, mark)
            elapsed, out = tool("reup", "--build-kubelet", "--k8s-dir", str(tree), *flags)
            steps = dict((name, float(seconds)) for name, seconds in STEP.findall(out))
            build = sum(seconds for name, seconds in steps.items() if name.startswith("kubelet ") and "tree" in name)
            for node in (names.master, names.worker(1), names.worker(2)):
                journal = subprocess.run(
                    ["docker", "exec", node, "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat"],
                    capture_output=True,
                    text=True,
                ).stdout
                if f"bench reup {mark}" not in journal:
                    sys.exit(f"{node} does not run the changed kubelet")
            runs.append((elapsed, build, elapsed - build, ", ".join(f"{n} {s}" for n, s in steps.items())))
            print(f"reup {run + 1}: {elapsed:.1f} s, of which the build {build:.1f} s")
    finally:
        tool("clean")
        shutil.rmtree(work, ignore_errors=True)

    median = statistics.median
    rows = [
        (f"first `reup --build-kubelet` of the tree, {version}", f"{first:.1f} s"),
        (f"`reup --build-kubelet` after a one-line kubelet change (median of {args.repeat})",
         f"{median(r[0] for r in runs):.1f} s"),
        ("  of which: building kubelet in the tree", f"{median(r[1] for r in runs):.1f} s"),
        ("  of which: after its build (into the nodes, restarted, all Ready)",
         f"{median(r[2] for r in runs):.1f} s (issue #16's target: <= 15 s)"),
    ]  # fmt: skip
    record(
        "reup of a changed kubelet (bench/reup.py)",
        rows,
        "1+2 nodes; the tree assembled from the Go module cache; the machine's Go (FORCE_HOST_GO). Steps of "
        f"the first timed run: {runs[0][3]}",
    )


if __name__ == "__main__":
    main()
