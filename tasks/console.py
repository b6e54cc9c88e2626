"""What the user sees: logging by verbosity, and one status line per step.

On a terminal a step shows a spinner that turns into a check mark or a cross;
elsewhere (CI logs) each step prints plain start and end lines.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from doit.exceptions import TaskFailed

log = logging.getLogger("local_cluster")

# Verbosity 2 shows the commands run and their output (kubeadm's, for one).
COMMAND = 15
logging.addLevelName(COMMAND, "COMMAND")
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: COMMAND}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def marks(stream) -> tuple[str, str, str]:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗⠋".encode(encoding)
        return "✓", "✗", "•"
    except (UnicodeEncodeError, LookupError):
        return "ok", "FAILED", "*"


class Console:
    """Owns the terminal: status lines and log records never overwrite each other."""

    def __init__(self, stream=None):
        self._stream = stream
        self.verbosity = 1
        self.lock = threading.RLock()
        self._open: str | None = None  # title of a spinner line on screen
        self._progress = ""  # e.g. "42% of 80 MB", shown after the title
        self._started = 0.0
        self._spinner: threading.Thread | None = None

    @property
    def stream(self):
        # Looked up each time, so a replaced sys.stdout (tests, pipes) is honoured.
        return self._stream or sys.stdout

    @property
    def interactive(self) -> bool:
        # A spinner only where a person watches and nothing else is printed.
        return self.stream.isatty() and self.verbosity < 2

    def configure(self, verbosity: int, stream=None) -> None:
        self.verbosity = verbosity
        if stream is not None:
            self._stream = stream
        handler = _Handler(self)
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(LEVELS.get(verbosity, logging.DEBUG))

    # -- steps
    def start(self, title: str) -> None:
        if self.verbosity < 1:
            return
        with self.lock:
            self._started = time.monotonic()
            if self.interactive:
                self._open = title
                self._draw()
                self._spinner = threading.Thread(target=self._spin, daemon=True)
                self._spinner.start()
            else:
                self._write(f"{marks(self.stream)[2]} {title} ...\n")

    def finish(self, title: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            elapsed = time.monotonic() - self._started if self._started else 0.0
            self._clear()
            self._open = None
            self._progress = ""
            self._started = 0.0
            if self.verbosity < 1 and ok:
                return
            good, bad, _ = marks(self.stream)
            suffix = f": {detail}" if detail else f" ({elapsed:.1f}s)"
            self._write(f"{good if ok else bad} {title}{suffix}\n")

    def progress(self, text: str) -> None:
        """How far the current step is, on its spinner line (terminals only)."""
        with self.lock:
            self._progress = text
            if self._open:
                self._draw()

    def emit(self, line: str, stream=None) -> None:
        with self.lock:
            self._clear()
            (stream or self.stream).write(line.rstrip("\n") + "\n")
            (stream or self.stream).flush()
            if self._open:
                self._draw()

    # -- drawing
    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

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
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            message = f"error: {message}"
        elif record.levelno >= logging.WARNING:
            message = f"warning: {message}"
        stream = sys.stderr if record.levelno >= logging.WARNING else None
        self.console.emit(message, stream)


CONSOLE = Console()


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
            CONSOLE.start(task_title(task))

    def add_success(self, task):
        if self._shown(task):
            CONSOLE.finish(task_title(task), ok=True)

    def add_failure(self, task, exception):
        message = exception.get_msg().strip() if isinstance(exception, TaskFailed) else ""
        if not isinstance(exception, TaskFailed):
            # Not a failure we foresaw: that is a bug, so show everything.
            message = f"unexpected error (a bug; please report it):\n{exception.get_msg().strip()}"
        CONSOLE.finish(task_title(task), ok=False, detail=message)
        self.failures.append((task.name, message))

    def skip_uptodate(self, task):
        if self._shown(task) and CONSOLE.verbosity >= 1:
            CONSOLE.emit(f"- {task_title(task)}: up to date")

    def skip_ignore(self, task):
        if CONSOLE.verbosity >= 2:
            CONSOLE.emit(f"- {task_title(task)}: ignored")

    def cleanup_error(self, exception):
        CONSOLE.emit(f"error: cleaning up: {exception.get_msg().strip()}", sys.stderr)

    def runtime_error(self, msg):
        CONSOLE.emit(f"error: {msg.strip()}", sys.stderr)

    def teardown_task(self, task):
        pass

    def complete_run(self):
        pass
