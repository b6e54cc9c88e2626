"""The disk a command takes at its peak, and how long it runs: by default
`.ci/run`, whose cold run once filled a CI machine's disk.

Samples the free space of the filesystem that holds / every 10 s while the
command runs; prints the free space before, at its lowest and after, the
duration, and what the Go caches hold at the end. For cold figures, empty
the Go caches first (`go clean -cache -modcache`): this script never touches
them, they are the machine's.

    python bench/ci_disk.py [--record] [-- COMMAND ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

REPO = Path(__file__).resolve().parent.parent
GIB = 1024**3


def free() -> int:
    return shutil.disk_usage("/").free


def go_cache_sizes() -> list[tuple[str, str]]:
    rows = []
    for name in ("GOCACHE", "GOMODCACHE"):
        path = subprocess.run(["go", "env", name], capture_output=True, text=True).stdout.strip()
        if path:
            size = subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()
            rows.append((f"{name} at the end", f"{int(size[0]) / GIB:.1f} GiB" if size else "?"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="append the figures to docs/benchmarks.md")
    parser.add_argument("command", nargs="*", default=[str(REPO / ".ci" / "run")])
    args = parser.parse_args()
    before = lowest = free()
    done = threading.Event()

    def sample() -> None:
        nonlocal lowest
        while not done.wait(10):
            lowest = min(lowest, free())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    status = subprocess.run(args.command, cwd=REPO).returncode
    minutes = (time.monotonic() - started) / 60
    done.set()
    sampler.join()
    after = free()
    lowest = min(lowest, after)
    rows = [
        ("command", f"`{' '.join(args.command)}` (exit {status})"),
        ("duration", f"{minutes:.1f} min"),
        ("free before", f"{before / GIB:.1f} GiB"),
        ("free at its lowest (peak use)", f"{lowest / GIB:.1f} GiB ({(before - lowest) / GIB:.1f} GiB used)"),
        ("free after", f"{after / GIB:.1f} GiB"),
        *go_cache_sizes(),
    ]
    if args.record:
        record("Disk and time of a command (bench/ci_disk.py)", rows)
    else:
        for what, figure in rows:
            print(f"{what}: {figure}")
    sys.exit(status)


if __name__ == "__main__":
    main()
