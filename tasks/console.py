"""What the user sees: logging by verbosity, and one status line per step.

On a terminal a step shows a spinner (with how far it is) that turns into a
check mark or a cross; elsewhere (CI logs) each step prints plain start and
end lines. With `--output json` every step event, log record and output line
is one JSON object on a line of its own on stdout, for CI and editors:
{"step", "title", "state", "seconds" (done, failed), "message"}, state one of
started, progress, done, failed, up-to-date, ignored, log (with "level") and
output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time

from doit.exceptions import TaskFailed

from tasks.errors import disk_full, disk_full_message

log = logging.getLogger("local_cluster")

# Verbosity 2 shows the commands run and their output (kubeadm's, for one).
COMMAND = 15
logging.addLevelName(COMMAND, "COMMAND")
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: COMMAND}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# A step's progress changes with every package compiled or megabyte sent; a
# reader of the JSON stream wants to know it is alive, not every change.
PROGRESS_EVERY = 1.0
ASCII_MARKS = ("ok", "FAILED", "*")


def marks(stream) -> tuple[str, str, str]:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗⠋".encode(encoding)
        return "✓", "✗", "•"
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS


def _write_to(stream, text: str) -> None:
    """Write and flush. A reader that went away (`up | head`, a parent that
    died) stops nothing: the run goes on to its end unseen, its output sent to
    /dev/null from then on (the logs keep it), rather than dying half-way on
    BrokenPipeError and leaving a cluster half made."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class Console:
    """Owns the terminal: status lines and log records never overwrite each other."""

    def __init__(self, stream=None, clock=time.monotonic):
        self._stream = stream
        self._clock = clock
        self.verbosity = 1
        self.json = False
        self.lock = threading.RLock()
        self._open: str | None = None  # title of a spinner line on screen
        self._progress = ""  # e.g. "310 of 1030 MB", shown after the title
        self._started = 0.0
        self._spinner: threading.Thread | None = None
        self._current: tuple[str, str] | None = None  # (step, title) of the running step
        self._begun: dict[str, float] = {}
        self._said: dict[str, float] = {}  # step -> when its last progress event was written

    @property
    def stream(self):
        # Looked up each time, so a replaced sys.stdout (tests, pipes) is honoured.
        return self._stream or sys.stdout

    @property
    def interactive(self) -> bool:
        # A spinner only where a person watches and nothing else is printed.
        return not self.json and self.stream.isatty() and self.verbosity < 2

    def configure(self, verbosity: int, stream=None, output: str = "text") -> None:
        self.verbosity = verbosity
        self.json = output == "json"
        if stream is not None:
            self._stream = stream
        handler = _Handler(self)
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(LEVELS.get(verbosity, logging.DEBUG))

    def marks(self) -> tuple[str, str, str]:
        return ASCII_MARKS if self.json else marks(self.stream)

    # -- steps
    def start(self, title: str, step: str | None = None) -> None:
        step = step or title
        with self.lock:
            self._begun[step] = self._clock()
            self._current = (step, title)
            self._progress = ""
            if self.json:
                self._event(step=step, title=title, state="started", message="")
                return
            if self.verbosity < 1:
                return
            self._started = time.monotonic()
            if self.interactive:
                self._open = title
                self._draw()
                self._spinner = threading.Thread(target=self._spin, daemon=True)
                self._spinner.start()
            else:
                self._write(f"{marks(self.stream)[2]} {title} ...\n")

    def finish(self, title: str, ok: bool, detail: str = "", step: str | None = None) -> None:
        step = step or title
        with self.lock:
            begun = self._begun.pop(step, None)
            elapsed = self._clock() - begun if begun is not None else 0.0
            self._said.pop(step, None)
            if self._current and self._current[0] == step:
                self._current = None
            if self.json:
                state = "done" if ok else "failed"
                self._event(step=step, title=title, state=state, seconds=round(elapsed, 3), message=detail)
                return
            self._clear()
            self._open = None
            self._progress = ""
            self._started = 0.0
            if self.verbosity < 1 and ok:
                return
            good, bad, _ = marks(self.stream)
            suffix = f": {detail}" if detail else f" ({elapsed:.1f}s)"
            self._write(f"{good if ok else bad} {title}{suffix}\n")

    def skipped(self, title: str, step: str, state: str = "up-to-date") -> None:
        """A step doit did not run: up-to-date, or ignored (`doit ignore`)."""
        with self.lock:
            if self.json:
                self._event(step=step, title=title, state=state, message="")
            elif self.verbosity >= 1:
                self.emit(f"- {title}: {state.replace('-', ' ')}")

    def progress(self, text: str) -> None:
        """How far the current step is: on its spinner line on a terminal, as a
        progress event (at most one a second per step) in JSON, else nowhere."""
        with self.lock:
            self._progress = text
            if self.json:
                self._progress_event(text)
            elif self._open:
                self._draw()

    def _progress_event(self, text: str) -> None:
        if self._current is None:
            return
        step, title = self._current
        now = self._clock()
        if step in self._said and now - self._said[step] < PROGRESS_EVERY:
            return
        self._said[step] = now
        self._event(step=step, title=title, state="progress", message=text)

    def emit(self, line: str, stream=None) -> None:
        """A line of a command's output (in JSON, an output event per line)."""
        with self.lock:
            if self.json:
                for part in line.rstrip("\n").split("\n"):
                    self._event(**self._within(), state="output", message=part)
                return
            self._clear()
            _write_to(stream or self.stream, line.rstrip("\n") + "\n")
            if self._open:
                self._draw()

    def record(self, level: int, message: str) -> None:
        """A log record: a line (warnings and errors on stderr), or a log event."""
        if self.json:
            with self.lock:
                self._event(**self._within(), state="log", level=logging.getLevelName(level).lower(), message=message)
            return
        if level >= logging.ERROR:
            message = f"error: {message}"
        elif level >= logging.WARNING:
            message = f"warning: {message}"
        self.emit(message, sys.stderr if level >= logging.WARNING else None)

    # -- drawing
    def _within(self) -> dict:
        # Which step a log record or output line came from, when one runs.
        return {"step": self._current[0]} if self._current else {}

    def _event(self, **fields) -> None:
        self._write(json.dumps(fields) + "\n")

    def _write(self, text: str) -> None:
        _write_to(self.stream, text)

    def _draw(self) -> None:
        frame = SPINNER[int(time.monotonic() * 10) % len(SPINNER)]
        seconds = time.monotonic() - self._started
        progress = f" {self._progress}" if self._progress else ""
        self._write(f"\r{frame} {self._open} ({seconds:.0f}s){progress}\x1b[K")

    def _clear(self) -> None:
        if self._open:
            self._write("\r\x1b[K")

    def _spin(self) -> None:
        while True:
            time.sleep(0.1)
            with self.lock:
                if not self._open:
                    return
                self._draw()


class _Handler(logging.Handler):
    def __init__(self, console: Console):
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.record(record.levelno, record.getMessage())


CONSOLE = Console()


def byte_progress(done: int, total: int) -> str:
    """Bytes done of a total: "310 of 1030 MB" (decimal megabytes, as `docker images` counts)."""
    digits = 1 if total < 10_000_000 else 0
    return f"{done / 1e6:.{digits}f} of {total / 1e6:.{digits}f} MB"


class Tally:
    """Progress of one piece of work done to several things at once (a thread
    each): which are under way, and how many are done."""

    def __init__(self, doing: str, names: list[str]):
        self.doing = doing
        self.total = len(names)
        self.running: list[str] = []
        self.done = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def each(self, name: str):
        with self._lock:
            self.running.append(name)
            CONSOLE.progress(self.text())
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            with self._lock:
                self.running.remove(name)
                self.done += succeeded
                CONSOLE.progress(self.text())

    def text(self) -> str:
        counted = f"{self.done} of {self.total} done"
        if not self.running:
            return counted
        # A status line wider than the terminal wraps, and the spinner can no longer redraw it.
        named = self.running[:3] + ([f"{len(self.running) - 3} more"] if len(self.running) > 3 else [])
        return f"{self.doing} {', '.join(named)} ({counted})"


def task_title(task) -> str:
    return (task.meta or {}).get("title") or task.name


class StatusReporter:
    """doit reporter: one status line per step instead of doit's `.  name` lines."""

    desc = "status lines with check marks"

    def __init__(self, outstream, options):
        self.failures: list[tuple[str, str]] = []
        self.runtime_errors: list[str] = []

    def initialize(self, tasks, selected_tasks):
        pass

    def get_status(self, task):
        pass

    def _shown(self, task) -> bool:
        # Group tasks have no actions of their own; their steps speak for them.
        meta = task.meta or {}
        return bool(task.actions) and meta.get("status", True)

    def execute_task(self, task):
        if self._shown(task):
            CONSOLE.start(task_title(task), task.name)

    def add_success(self, task):
        if self._shown(task):
            CONSOLE.finish(task_title(task), ok=True, step=task.name)

    def add_failure(self, task, exception):
        message = exception.get_msg().strip() if isinstance(exception, TaskFailed) else ""
        if not isinstance(exception, TaskFailed):
            text = exception.get_msg().strip()
            # A full disk is no bug, wherever it struck: its last line says it.
            last = text.splitlines()[-1] if text else ""
            if disk_full(last):
                message = disk_full_message(last.split(": ", 1)[-1])
            else:
                # Not a failure we foresaw: that is a bug, so show everything.
                message = f"unexpected error (a bug; please report it):\n{text}"
        CONSOLE.finish(task_title(task), ok=False, detail=message, step=task.name)
        self.failures.append((task.name, message))

    def skip_uptodate(self, task):
        if self._shown(task):
            CONSOLE.skipped(task_title(task), task.name)

    def skip_ignore(self, task):
        if CONSOLE.verbosity >= 2:
            CONSOLE.skipped(task_title(task), task.name, "ignored")

    def cleanup_error(self, exception):
        CONSOLE.record(logging.ERROR, f"cleaning up: {exception.get_msg().strip()}")

    def runtime_error(self, msg):
        CONSOLE.record(logging.ERROR, msg.strip())

    def teardown_task(self, task):
        pass

    def complete_run(self):
        pass
