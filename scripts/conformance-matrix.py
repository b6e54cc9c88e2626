#!/usr/bin/env python3
"""The conformance matrix (#14): for each Kubernetes version, a default
cluster (1 master + 2 workers, bridge) made afresh, the parallel and the
serial conformance tests, and the cluster removed; then the table of results
in docs/conformance.md between its MATRIX markers.

    .venv/bin/python scripts/conformance-matrix.py                 # newest patch of each minor, 1.34 to stable
    .venv/bin/python scripts/conformance-matrix.py v1.35.3 v1.36.1 # these
    .venv/bin/python scripts/conformance-matrix.py --parallel-only

Each version takes ~15 min of builds cold, ~15 min parallel and ~30-60 min
serial on 2 cores. It uses a cluster of its own (`matrix`), reports under
~/.kubeadm-local-cluster/conformance/<version>/, and keeps every result in
docs/conformance-matrix.json beside the table: a version run again replaces
its row only, and rows run on other machines stay. Failures are listed by name;
their causes are for the person who reads the reports to write below the table."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tasks.e2e.run import summarize  # noqa: E402
from tasks.versions import Version  # noqa: E402

CLUSTER = "matrix"
FIRST_MINOR = (1, 34)
DOC = REPO / "docs" / "conformance.md"
# The results are kept with the table they make, in the repository: each machine
# that runs part of the matrix adds its rows to those of the others.
RESULTS = REPO / "docs" / "conformance-matrix.json"
REPORTS = Path.home() / ".kubeadm-local-cluster" / "conformance"
BEGIN, END = "<!-- MATRIX BEGIN (scripts/conformance-matrix.py) -->", "<!-- MATRIX END -->"
TOOL = [sys.executable, "-m", "tasks"]


def newest_patches() -> list[str]:
    """The newest patch of each minor from FIRST_MINOR to the newest stable the Go module proxy serves."""
    listed = subprocess.run(
        ["go", "list", "-m", "-versions", "k8s.io/kubernetes"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        cwd="/",
    ).stdout.split()[1:]
    newest: dict[tuple[int, int], Version] = {}
    for text in listed:
        if not re.fullmatch(r"v\d+\.\d+\.\d+", text):
            continue  # pre-releases
        version = Version.parse(text)
        key = (version.major, version.minor)
        if key >= FIRST_MINOR and (key not in newest or version > newest[key]):
            newest[key] = version
    return [str(newest[key]) for key in sorted(newest)]


def tool(*args: str, version: str) -> tuple[int, float, str]:
    """local-cluster ARGS for the matrix cluster; exit code, seconds, output (also shown)."""
    env = {**os.environ, "K8S_DIND_CLUSTER_NAME": CLUSTER, "K8S_DIND_KUBERNETES_VERSION": version}
    env["K8S_DIND_MERGE_KUBECONFIG"] = "false"  # the user's kubeconfig is not the matrix's business
    start = time.monotonic()
    process = subprocess.Popen([*TOOL, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
    return process.wait(), time.monotonic() - start, "".join(lines)


def junit_counts(report_dir: Path) -> dict:
    """passed/failed/skipped and the failed tests' names, as `e2e` counts them."""
    summary = summarize(sorted(report_dir.glob("junit*.xml")))
    return {
        "passed": summary.passed,
        "failed": len(summary.failed),
        "skipped": summary.skipped,
        "failures": summary.failed,
    }


def run_version(version: str, serial: bool) -> dict:
    reports = REPORTS / version
    row = {"version": version, "date": datetime.date.today().isoformat()}
    code, seconds, out = tool("up", "--num-nodes", "2", "--cni-plugin", "bridge", version=version)
    row["up_seconds"] = round(seconds)
    if code != 0:
        row["error"] = f"up failed (exit {code}): {out.strip().splitlines()[-1] if out.strip() else ''}"
        return row
    kinds = [("parallel", "e2e")] + ([("serial", "e2e-serial")] if serial else [])
    try:
        for kind, command in kinds:
            report_dir = reports / kind
            code, seconds, _ = tool(command, "--report-dir", str(report_dir), version=version)
            row[kind] = {**junit_counts(report_dir), "minutes": round(seconds / 60, 1), "exit": code}
    finally:
        tool("clean", version=version)
    return row


def cell(result: dict | None) -> str:
    if not result:
        return "not run"
    total = result["passed"] + result["failed"]
    return f"{result['passed']} of {total} passed ({result['minutes']} min)"


def table(rows: dict[str, dict]) -> str:
    lines = [
        "| Kubernetes | date | parallel | serial | failed |",
        "|---|---|---|---|---|",
    ]
    for version in sorted(rows, key=Version.parse):
        row = rows[version]
        if "error" in row:
            lines.append(f"| {version} | {row['date']} | {row['error']} | | |")
            continue
        failed = [*row.get("parallel", {}).get("failures", []), *row.get("serial", {}).get("failures", [])]
        lines.append(
            f"| {version} | {row['date']} | {cell(row.get('parallel'))} | {cell(row.get('serial'))} "
            f"| {'; '.join(failed) or '-'} |"
        )
    return "\n".join(lines)


def write_doc(rows: dict[str, dict]) -> None:
    text = DOC.read_text()
    block = f"{BEGIN}\n{table(rows)}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## The matrix\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", help="vX.Y.Z (default: the newest patch of each minor from 1.34)")
    parser.add_argument("--parallel-only", action="store_true", help="skip the serial tests")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table from the recorded results")
    args = parser.parse_args()
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.table_only:
        for version in args.versions or newest_patches():
            print(f"==> Kubernetes {version}", flush=True)
            rows[version] = run_version(version, serial=not args.parallel_only)
            RESULTS.write_text(json.dumps(rows, indent=2) + "\n")  # after each: an interrupted matrix keeps its rows
    write_doc(rows)
    print(table(rows))
    failed = any("error" in row or row.get("parallel", {}).get("failed") for row in rows.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
