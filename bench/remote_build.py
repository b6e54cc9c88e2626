"""Bytes between this machine and a remote engine for a `reup` after a
one-line kubelet change: built here, then built on the engine (#13: at least
10x fewer bytes on the engine):

    python bench/remote_build.py [--kubernetes-version v1.37.2]

The engine is the test suite's second engine (a dockerd of its own in a
network namespace) reached over ssh:// through an sshd of its own, as a cloud
box would be (tests/integration/second_engine.py). Every ssh the tool starts
goes through a counting wrapper first in PATH, which adds up what passes each
way on ssh's standard input and output: the engine's API, before encryption.

A 1+1 cluster of its own (`bench-remote`) and a tree assembled with vendor/
(scripts/kubernetes_tree.py --vendor), as a clone of the repository has it.
For each place: a first `reup --build-kubelet --build-in PLACE` (the first
build there), then a one-line change and the `reup` that is counted and timed;
every node's kubelet journal must show the change. Then, for each place, an
`up` that makes the nodes afresh after another one-line change (`clean`
first): built here, the node image goes to the engine whole; built on the
engine, the archive made here leaves kubelet out and stays loaded, and the
engine adds the kubelet (an `up` before it, not counted, loads that archive
once). The engine, the tree and the cluster are removed at the end.
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from common import record
from kubernetes_tree import assemble
from reup import change_kubelet

from tasks.naming import Names
from tests.integration.second_engine import SecondEngine, can_serve_ssh, can_start

REPO = Path(__file__).resolve().parent.parent
CLUSTER = "bench-remote"
COUNTER = '''#!/usr/bin/env python3
"""ssh, counting what passes on its standard input and output."""
import os, signal, subprocess, sys, threading

child = subprocess.Popen([os.environ["BENCH_REAL_SSH"], *sys.argv[1:]], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
counts = [0, 0]

def written():
    with open(os.environ["BENCH_BYTES"], "a") as out:
        out.write(f"{counts[0]} {counts[1]}\\n")

def stop(*_):
    child.terminate()
    written()
    os._exit(0)

signal.signal(signal.SIGTERM, stop)

def up():
    try:
        while data := os.read(0, 65536):
            counts[0] += len(data)
            child.stdin.write(data)
            child.stdin.flush()
        child.stdin.close()
    except OSError:  # ssh is gone
        pass

threading.Thread(target=up, daemon=True).start()
try:
    while data := os.read(child.stdout.fileno(), 65536):
        counts[1] += len(data)
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
except OSError:  # the client closed its end first, as ssh's own would find
    child.terminate()
child.wait()
written()
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", default="v1.37.2")
    args = parser.parse_args()
    version = args.kubernetes_version
    why_not = can_start() or can_serve_ssh()
    if why_not:
        sys.exit(f"no second engine over ssh here: {why_not}")
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="klc-engine-")))
    counter = work / "bin" / "ssh"
    counter.parent.mkdir()
    counter.write_text(COUNTER)
    counter.chmod(0o755)
    bytes_file = work / "bytes"
    env = {
        **os.environ,
        "K8S_DIND_CLUSTER_NAME": CLUSTER,
        "K8S_DIND_MERGE_KUBECONFIG": "false",
        "FORCE_HOST_GO": "y",  # the local build: this machine's Go and build cache, as bench/reup.py
        "BENCH_BYTES": str(bytes_file),
    }

    def tool(*argv: str) -> tuple[float, str]:
        start = time.time()
        argv = [sys.executable, "-m", "tasks", *argv]
        result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.exit(f"local-cluster {' '.join(argv[3:])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        return time.time() - start, result.stdout

    def counted() -> tuple[int, int]:
        lines = bytes_file.read_text().split("\n") if bytes_file.exists() else []
        pairs = [tuple(map(int, line.split())) for line in lines if line.strip()]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    flags = ["--num-nodes", "1", "--kubernetes-version", version]
    names = Names(CLUSTER)

    def measured(argv: list[str], mark: str) -> tuple[float, int, int]:
        """ARGV counted and timed; every node must run the kubelet with MARK."""
        bytes_file.unlink(missing_ok=True)
        elapsed, _ = tool(*argv)
        sent, received = counted()
        for node in (names.master, names.worker(1)):
            journal = engine.docker("exec", node, "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat").stdout
            if f"bench reup {mark}" not in journal:
                sys.exit(f"{node} does not run the kubelet marked {mark!r} after {argv[0]}")
        return elapsed, sent, received

    results = {}
    try:
        engine.create_namespace()
        engine.start()
        engine.start_sshd()
        env.update(engine.ssh_env(), BENCH_REAL_SSH=str(engine.root / "bin" / "ssh"))
        env["PATH"] = f"{counter.parent}:{env['PATH']}"
        tree = assemble(work / "kubernetes", version, vendor=True)
        tool("up", *flags)
        for place in ("local", "engine"):
            reup = ["reup", "--build-kubelet", "--k8s-dir", str(tree), "--build-in", place, *flags]
            change_kubelet(tree, f"{place} first build")
            first, _ = tool(*reup)
            print(f"first reup built {place}: {first:.0f} s", flush=True)
            mark = f"{place} {time.time():.0f}"
            change_kubelet(tree, mark)
            elapsed, sent, received = measured(reup, mark)
            results[place] = (elapsed, sent, received, first)
            print(f"reup built {place}: {elapsed:.1f} s, {sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB received")
        for place in ("local", "engine"):
            made = ["up", "--build-kubelet", "--k8s-dir", str(tree), "--build-in", place, *flags]
            if place == "engine":
                tool("clean")
                tool(*made)  # the archive without kubelet, loaded once
            mark = f"{place} up {time.time():.0f}"
            change_kubelet(tree, mark)
            tool("clean")
            results[f"up {place}"] = (*measured(made, mark), 0)
            print(f"up built {place}: {elapsed:.1f} s, {sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB received")
    finally:
        subprocess.run([sys.executable, "-m", "tasks", "clean"], cwd=REPO, capture_output=True, env=env)
        engine.remove()
        shutil.rmtree(work, ignore_errors=True)

    def megabytes(place: str) -> float:
        return (results[place][1] + results[place][2]) / 1e6

    ratio = megabytes("local") / max(megabytes("engine"), 1e-6)
    rows = [
        (
            f"`reup --build-kubelet --build-in {place}` after a one-line change, {version}",
            f"{megabytes(place):.2f} MB ({results[place][1] / 1e6:.2f} sent, {results[place][2] / 1e6:.2f} "
            f"received), {results[place][0]:.1f} s (the first build there: {results[place][3]:.0f} s)",
        )
        for place in ("local", "engine")
    ]
    rows.append(("local / engine", f"{ratio:.0f}x (issue #13: at least 10x)"))
    rows += [
        (
            f"`up --build-kubelet --build-in {place}` (nodes made afresh) after a one-line change, {version}",
            f"{megabytes(f'up {place}'):.2f} MB ({results[f'up {place}'][1] / 1e6:.2f} sent, "
            f"{results[f'up {place}'][2] / 1e6:.2f} received), {results[f'up {place}'][0]:.1f} s",
        )
        for place in ("local", "engine")
    ]
    rows.append(("`up`: local / engine", f"{megabytes('up local') / max(megabytes('up engine'), 1e-6):.0f}x"))
    record(
        "reup and up over ssh: bytes between this machine and the engine (bench/remote_build.py)",
        rows,
        "The second engine over ssh:// (its own dockerd and sshd in a network namespace); bytes counted on "
        "ssh's standard input and output (the engine API before encryption); 1+1 nodes; a tree assembled "
        "with vendor/.",
    )
    if ratio < 10:
        sys.exit(f"the engine build moved only {ratio:.1f}x fewer bytes than the local one")


if __name__ == "__main__":
    main()
