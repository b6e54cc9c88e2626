"""Where the project's own files live, and where a user's state goes."""

from __future__ import annotations

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
