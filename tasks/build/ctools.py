"""What the C builds of ours (runc's cgo with libseccomp, busybox) need on
this machine: the programs, and what the tools say when asked."""

from __future__ import annotations

import os
import shutil
import subprocess


def compiler() -> str:
    return os.environ.get("CC", "gcc")


def missing(programs: dict[str, str]) -> str | None:
    """The first of {what: program} not on PATH, said as a user would ("no make here"), or None."""
    for what, program in programs.items():
        if not shutil.which(program):
            return f"no {what} here"
    return None


def ask(argv: list[str]) -> str | None:
    """What argv prints, stripped; None when it cannot run or fails."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
