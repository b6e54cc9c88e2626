"""The programs we build, run to check them (their versions, kubeadm's image
list, e2e.test's): here when this machine can run them, else in the build
container on the engine (tasks/build/go_engine.py), at the same path.

Every program we build is a Linux one, for the engine's architecture when
it is built there. A Mac, or a Linux machine of another architecture than a
remote engine's, cannot run it; the engine's host can: the program goes
into the container once (its digest is compared first), then runs there."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.build import oci, platforms
from tasks.errors import UserError

ELF_MACHINES = {62: "amd64", 183: "arm64"}  # e_machine: EM_X86_64, EM_AARCH64
TIMEOUT = 120


@dataclass(frozen=True)
class Said:
    code: int
    stdout: str
    stderr: str


def runs_here(program: Path, system: str | None = None, machine: str | None = None) -> bool:
    """Can this machine run PROGRAM? Linux of the program's architecture (a script runs on any Linux)."""
    here_system, here_arch = platforms.this_machine()
    if (system or here_system).lower() != "linux":
        return False
    with open(program, "rb") as file:
        header = file.read(20)
    if header[:4] != b"\x7fELF":
        return True
    wanted = ELF_MACHINES.get(int.from_bytes(header[18:20], "little"))
    return wanted == (platforms.architecture(machine) if machine else here_arch)


def run(program: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None, whole_env: bool = False) -> Said:
    """PROGRAM ARGS to the end, with ENV added to the environment (WHOLE_ENV:
    ENV is all of it here; there it is added to the container's own)."""
    argv = [str(program), *args]
    if runs_here(program):
        environ = dict(env or {}) if whole_env else {**os.environ, **(env or {})}
        try:
            done = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise UserError(f"{program} does not run: {err}") from None
        return Said(done.returncode, done.stdout, done.stderr)
    return _run_on_engine(program, argv, env)


def output(program: Path, args: Sequence[str] = ()) -> str:
    """Its standard output; a failure is one line with what it said."""
    said = run(program, args)
    if said.code != 0:
        detail = " ".join((said.stderr or said.stdout).split())[-400:]
        raise UserError(f"`{shlex.join([str(program), *args])}` failed (exit {said.code}): {detail}")
    return said.stdout


def says(program: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> str:
    """Standard output, then standard error (some programs print their version on either)."""
    said = run(program, args, env)
    if said.code != 0:
        raise UserError(f"{program} {' '.join(args)} failed (exit {said.code}): {said.stderr.strip()[-300:]}")
    return said.stdout + said.stderr


def _run_on_engine(program: Path, argv: list[str], env: Mapping[str, str] | None) -> Said:
    from tasks.build import go_engine

    ready = go_engine.session()
    objects = ready.objects
    digest = oci.sha256_file(program)  # streamed: e2e.test is 154 MB
    there = objects.exec(go_engine.CONTAINER, ["sh", "-c", f"sha256sum {shlex.quote(str(program))} 2>/dev/null"])
    if there.output.split()[:1] != [digest]:
        objects.exec(go_engine.CONTAINER, ["mkdir", "-p", str(program.parent)])
        objects.put_paths(go_engine.CONTAINER, str(program.parent), {program.name: program}, mode=0o755)
    out: list[str] = []
    err: list[str] = []
    code = go_engine.exec_in(ready, argv, env or {}, out.append, err.append)
    return Said(code, "".join(out), "".join(err))
