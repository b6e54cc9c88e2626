"""Local commands (go, mmdebstrap, a Kubernetes tree's make): run, log, explain failures.

Output goes to a log file; at verbosity 2 it is also shown as it comes. A
failure is a UserError naming the step and the log, after the log's last
lines are shown.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from plumbum import local
from plumbum.commands.processes import CommandNotFound, ProcessExecutionError

from tasks.console import COMMAND, CONSOLE, log
from tasks.errors import UserError

TAIL_LINES = 30


def capture(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> str:
    """A short command's standard output; a UserError with its stderr on failure."""
    try:
        command = local[argv[0]][list(argv[1:])]
        with local.env(**(env or {})), local.cwd(cwd or os.getcwd()):
            return command(timeout=timeout)
    except CommandNotFound:
        raise UserError(f"{argv[0]} not found: install it") from None
    except ProcessExecutionError as err:
        detail = " ".join((err.stderr or err.stdout or "").split())[-400:]
        raise UserError(f"`{shlex.join(argv)}` failed (exit {err.retcode}): {detail}") from None


class CommandLog:
    """A long command's output as it comes (in chunks, not always whole lines):
    all of it into its log file, each line offered to on_line (a line it
    takes tells how far the command is, and stays out of a failure's tail),
    the rest kept for the tail; every line shown at verbosity 2. Commands
    run here and on the engine (tasks/build/go_engine.py, debian_engine.py)
    log the same way."""

    def __init__(self, out, on_line: Callable[[str], bool] | None = None):
        self.out, self.on_line = out, on_line
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._pending = ""

    def write(self, text: str) -> None:
        self.out.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""

    def _line(self, line: str) -> None:
        if not (self.on_line and self.on_line(line)):
            self.tail.append(line)
        if CONSOLE.verbosity >= 2:
            CONSOLE.emit("    " + line)

    def failure(self, log_file: Path, what: str, code: int) -> UserError:
        """The error for an exit CODE, after the tail is shown (unless every line was)."""
        self.close()
        if CONSOLE.verbosity < 2:
            CONSOLE.emit(f"--- last {len(self.tail)} lines of {log_file}", stream=None)
            for line in self.tail:
                CONSOLE.emit("    " + line)
        return UserError(f"{what} failed (exit {code}); full log: {log_file}")


def run_logged(
    argv: Sequence[str],
    log_file: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_line: Callable[[str], bool] | None = None,
) -> float:
    """Run a long command with its output in log_file; return the seconds it took.

    on_line sees every line; one it returns True for tells how far the command
    is (`go build -v`'s package names): logged, but kept out of the failure
    tail, where it would crowd out the error."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, **(env or {})}
    started = time.monotonic()
    log.log(COMMAND, "$ %s", shlex.join(argv))
    try:
        with open(log_file, "w", encoding="utf-8") as out:
            out.write(f"$ {shlex.join(argv)}\n")
            output = CommandLog(out, on_line)
            process = subprocess.Popen(
                argv,
                # Never the terminal: a command that would ask something fails instead of waiting unseen.
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=cwd,
                text=True,
                errors="replace",
            )
            try:
                for line in process.stdout:
                    output.write(line)
                code = process.wait()
            except BaseException:
                # Ctrl-C: stop the command too, so nothing half-made keeps running.
                process.kill()
                process.wait()
                raise
    except FileNotFoundError:
        raise UserError(f"{argv[0]} not found: install it to {what}") from None
    if code != 0:
        raise output.failure(log_file, what, code)
    return time.monotonic() - started
