"""Where the project's own files live, and where a user's state goes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_DIR / "config"
IMAGES_DIR = REPO_DIR / "images"


def state_dir(home: Path | None = None) -> Path:
    """~/.kubeadm-local-cluster: the user's config, kubeconfig, caches and doit's database."""
    return (home or Path.home()) / ".kubeadm-local-cluster"


def cache_dir(home: Path | None = None) -> Path:
    return state_dir(home) / "cache"


def dep_file(home: Path | None = None) -> Path:
    return state_dir(home) / "doit.sqlite3"


def lock_file(home: Path | None = None) -> Path:
    return state_dir(home) / "run.lock"


def logs_dir(home: Path | None = None) -> Path:
    return state_dir(home) / "logs"


@contextmanager
def replacing(target: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary name beside target, renamed onto it only when the block
    succeeds: an interrupted or failed write never leaves a file that looks
    finished (suffix keeps an extension some tools want, such as .tar)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial{suffix}")
    try:
        yield partial
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
