"""One run at a time: doit has no lock of its own, and two runs that overlap
would fight over the nodes and the dependency database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tasks.console import log
from tasks.errors import UserError


class RunLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, what: str, wait: bool = True) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "another run"
            if not wait:
                os.close(fd)
                raise UserError(f"{holder} is running (lock {self.path}); wait for it or stop it") from None
            log.warning("waiting for %s to finish (lock %s; --no-wait fails instead)", holder, self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"local-cluster {what} (pid {os.getpid()})".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""
