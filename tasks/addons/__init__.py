"""Add-ons: what `up` installs once the pod network runs, from
`cluster.addons`. A name is an entry of REGISTRY, one module of this package
each with its files; anything else is a manifest file or URL of the user's.

An entry says which doit tasks build (or fetch) what it runs, and how it is
installed and known to be ready. Built ones (local-path-provisioner,
metrics-server) are made here from Go modules and Debian packages
(built.py); dashboard comes from its pinned upstream manifest and pulls its
images. Everything an add-on needs from the network or a build is had
before any node starts (`addon-images`), so a failure leaves nothing made.

Manifest URLs are downloaded then too, into the cache (by URL), so a URL
that answers 404 is one line before any node starts; files were checked
when the settings were read."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.cluster import KUBEADM_DIR, Cluster
from tasks.errors import UserError
from tasks.paths import cache_dir
from tasks.settings.parsers import KNOWN_ADDONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Addon:
    name: str
    hermetic: bool  # every image it runs is built here: nothing pulled
    install: Callable[[Cluster], None]  # images into the nodes, the manifest, waits until it serves
    tasks: Callable[[], list[dict]] = field(default=lambda: [])  # doit tasks building or fetching what it runs


def _registry() -> dict[str, Addon]:
    from tasks.addons import dashboard, local_path, metrics_server

    addons = (local_path.ADDON, metrics_server.ADDON, dashboard.ADDON)
    return {addon.name: addon for addon in addons}


def get(name: str) -> Addon:
    registry = _registry()
    if name not in registry:  # settings refuse it first; this guards a registry that lags KNOWN_ADDONS
        raise UserError(f"add-on {name} is not one of {', '.join(registry)}")
    return registry[name]


def is_named(entry: str) -> bool:
    return entry in KNOWN_ADDONS


def is_url(entry: str) -> bool:
    return entry.startswith(("http://", "https://"))


# ---------------------------------------------------------------- manifests of the user's


def url_path(url: str) -> Path:
    """Where a manifest URL is kept: by the URL (a manifest URL names no digest to check)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir() / "addons" / "urls" / f"{digest}-{url.rstrip('/').rsplit('/', 1)[-1] or 'addon.yaml'}"


def fetch_url(url: str) -> None:
    import requests

    from tasks import download
    from tasks.paths import replacing

    try:
        response = requests.get(url, timeout=(10, 60))
    except requests.RequestException as err:
        raise UserError(f"cannot download the add-on manifest {url}: {download.reason(err)}") from None
    if response.status_code != 200:
        raise UserError(f"cannot download the add-on manifest {url}: it answers {response.status_code}")
    target = url_path(url)
    with replacing(target) as partial:
        partial.write_bytes(response.content)


def manifest_of(entry: str) -> tuple[str, bytes]:
    """(file name, content) of a manifest file or URL in cluster.addons."""
    if is_url(entry):
        path = url_path(entry)
        if not path.is_file():  # fetched before any node started; gone since
            fetch_url(entry)
        return path.name.split("-", 1)[1], path.read_bytes()
    path = Path(entry.removeprefix("file://"))
    try:
        return path.name, path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read the add-on manifest {path}: {err.strerror}") from None


# ---------------------------------------------------------------- up's steps


def task_dicts(entries: tuple[str, ...]) -> list[dict]:
    """doit tasks for cluster.addons: each named add-on's builds, and every URL fetched."""
    from doit.tools import config_changed

    from tasks.taskkit import step  # here: taskkit imports the cluster modules

    built = [task for entry in entries if is_named(entry) for task in get(entry).tasks()]
    urls = [entry for entry in entries if is_url(entry)]
    fetches = [
        {
            "basename": "addon-manifests",
            "name": url_path(url).name,
            "doc": f"the add-on manifest {url}",
            "actions": [step(lambda url=url: fetch_url(url))],
            "targets": [str(url_path(url))],
            "uptodate": [config_changed({"url": url})],
            "meta": {"title": f"add-on manifest {url.rsplit('/', 1)[-1]}"},
        }
        for url in urls
    ]
    return built + fetches


def install(cluster: Cluster) -> None:
    """cluster.addons in their order: named ones by their entry, manifests applied with kubectl."""
    for entry in cluster.settings.cluster.addons:
        if is_named(entry):
            get(entry).install(cluster)
            log.info("add-on %s ready", entry)
            continue
        name, manifest = manifest_of(entry)
        cluster.objects.put_files(cluster.master, KUBEADM_DIR, {f"addon-{name}": manifest})
        cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/addon-{name}")
        log.info("add-on %s applied", entry)


def titles(entries: tuple[str, ...]) -> str:
    """What the add-ons step's line says: the names, and how many manifests."""
    named = [entry for entry in entries if is_named(entry)]
    others = len(entries) - len(named)
    parts = named + ([f"{others} manifest{'s' if others != 1 else ''}"] if others else [])
    return ", ".join(parts) or "none"
