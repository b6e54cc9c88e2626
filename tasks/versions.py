"""Kubernetes versions: what "stable" means today, and version arithmetic."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tasks.console import log
from tasks.errors import UserError
from tasks.paths import cache_dir

RELEASE_STABLE_URL = "https://dl.k8s.io/release/stable.txt"
STABLE_CACHE_SECONDS = 12 * 3600
STABLE_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.]+)?", text.strip())
        if not match:
            raise ValueError(f"not a version: {text!r}")
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def minor_version(self) -> str:
        return f"{self.major}.{self.minor}"


def newest_stable(versions: list[str]) -> str:
    stable = [Version.parse(v) for v in versions if STABLE_RE.match(v.strip())]
    if not stable:
        raise ValueError("no stable version in the list")
    return str(max(stable))


def resolve(requested: str, cache: Path | None = None) -> str:
    """vX.Y.Z as given, or the newest stable release for "stable".

    Asks the release site first, then the Go module proxy (through `go list`,
    so GOPROXY and friends apply); remembers the answer for 12 hours, and
    uses an older answer when neither answers."""
    if requested != "stable":
        return requested
    remembered = (cache or cache_dir()) / "stable-version.txt"
    if remembered.exists() and time.time() - remembered.stat().st_mtime < STABLE_CACHE_SECONDS:
        return remembered.read_text().strip()
    reasons = []
    for source in (_from_release_site, _from_module_proxy):
        try:
            version = source()
        except (UserError, ValueError, requests.RequestException) as err:
            reasons.append(f"{source.__doc__}: {err}")
            continue
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(version + "\n")
        return version
    if remembered.exists():
        version = remembered.read_text().strip()
        log.warning("cannot learn the newest stable Kubernetes (%s); using %s from before", "; ".join(reasons), version)
        return version
    raise UserError(
        f"cannot learn the newest stable Kubernetes ({'; '.join(reasons)}): give one with --kubernetes-version vX.Y.Z"
    )


def _from_release_site() -> str:
    """the release site"""
    response = requests.get(RELEASE_STABLE_URL, timeout=5)
    response.raise_for_status()
    version = response.text.strip()
    if not STABLE_RE.match(version):
        raise ValueError(f"unexpected answer {version[:40]!r}")
    return version


def _from_module_proxy() -> str:
    """the Go module proxy"""
    from tasks.build import gobuild
    from tasks.paths import cache_dir

    return newest_stable(gobuild.module_versions("k8s.io/kubernetes", cache_dir()))
