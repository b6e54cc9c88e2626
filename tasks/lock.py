"""One run at a time: doit has no lock of its own, and two runs that overlap
would fight over the nodes and the dependency database.

Two locks: one per state directory (doit's database, the caches), and one
per Docker engine for the commands that drive clusters, so two users, `sudo`
and a user, or a test suite with a HOME of its own never interleave on the
same engine's clusters."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
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
        fd = self._open()
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

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

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


class EngineLock(RunLock):
    """A lock every user of this machine shares for one engine (its ID): a
    file in the system's temporary directory that anyone may open."""

    def __init__(self, engine_id: str, directory: Path | None = None):
        digest = hashlib.sha256(engine_id.encode()).hexdigest()[:16]
        directory = directory or Path(tempfile.gettempdir())
        super().__init__(directory / f"kubeadm-local-cluster-engine-{digest}.lock")

    def _open(self) -> int:
        # Open an existing one without O_CREAT: fs.protected_regular refuses
        # O_CREAT on another user's file in a sticky directory such as /tmp.
        try:
            return os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            os.fchmod(fd, 0o666)  # whatever the umask: every user takes the same lock
            return fd
        except FileExistsError:
            return os.open(self.path, os.O_RDWR)
