"""Shared by the benchmarks: the machine's description and the results file."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    memory = ""
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores{memory}"


def record(title: str, rows: list[tuple[str, str]], notes: str = "") -> None:
    """Print the figures and append them, dated, to docs/benchmarks.md."""
    today = datetime.date.today().isoformat()
    lines = [f"## {title} ({today}, {machine()})", "", "| what | figure |", "|---|---|"]
    lines += [f"| {what} | {figure} |" for what, figure in rows]
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n"
    print(text)
    if not RESULTS.exists():
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("# Benchmarks\n\nEach section: what was measured, when, on which machine.\n\n")
    with RESULTS.open("a") as out:
        out.write(text + "\n")


def node_memory(cluster: str) -> float:
    """MiB the node containers of CLUSTER use, as `docker stats` counts (RSS and page cache)."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"], capture_output=True, text=True
    ).stdout
    total = 0.0
    for line in out.splitlines():
        name, amount = line.split()[0], line.split()[1]
        if name.endswith(f"-{cluster}"):
            total += float(amount.rstrip("KMGiB")) * {"K": 1 / 1024, "M": 1, "G": 1024}[amount.rstrip("iB")[-1]]
    return total
