"""The images of a `docker save` archive pushed to a registry through the
distribution API (https://distribution.github.io/distribution/spec/api/),
without the engine: no `docker load`, no tags in the engine, nothing
compressed. Each layer goes as the archive holds it, an uncompressed tar
(OCI media type ...layer.v1.tar, whose digest is its diff ID), under an OCI
image manifest; a blob the repository already has is not sent again, so a
second push of the same images sends only manifests."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import requests

from tasks.errors import UserError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
TIMEOUT = (10, 300)  # connect, read: a layer of hundreds of MB goes in one request


def split_reference(reference: str) -> tuple[str, str, str]:
    """registry.k8s.io/e2e-test-images/agnhost:2.55 -> (registry.k8s.io, e2e-test-images/agnhost, 2.55)."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        name, tag = reference, "latest"
    host, _, repository = name.partition("/")
    if not repository or not ("." in host or ":" in host or host == "localhost"):
        host, repository = "docker.io", name if "/" in name else f"library/{name}"
    return host, repository, tag


def push_archive(base_url: str, archive: Path, wanted: Callable[[str], bool] = lambda tag: True) -> list[str]:
    """Every tag of ARCHIVE that WANTED accepts into the registry at BASE_URL
    (http://127.0.0.1:5000) under the same repository and tag (its registry
    host dropped); the references pushed."""
    from tasks.download import reason

    try:
        return _push(base_url, archive, wanted)
    except requests.RequestException as err:
        raise UserError(f"cannot push to the registry at {base_url}: {reason(err)}") from None


def _push(base_url: str, archive: Path, wanted: Callable[[str], bool]) -> list[str]:
    pushed = []
    with requests.Session() as session, tarfile.open(archive) as tar:
        for entry in json.load(_member(tar, "manifest.json")):
            tags = [tag for tag in entry.get("RepoTags") or [] if wanted(tag)]
            if not tags:
                continue
            config = _member(tar, entry["Config"]).read()
            diff_ids = json.loads(config)["rootfs"]["diff_ids"]
            if len(diff_ids) != len(entry["Layers"]):
                raise UserError(f"{archive}: {tags[0]} has {len(entry['Layers'])} layers and {len(diff_ids)} diff IDs")
            for tag in tags:
                _, repository, name = split_reference(tag)
                blobs = _Blobs(session, base_url, repository)
                config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
                blobs.put_bytes(config_digest, config)
                layers = []
                for path, digest in zip(entry["Layers"], diff_ids, strict=True):
                    member = tar.getmember(path)
                    blobs.put_stream(digest, member.size, lambda member=member: tar.extractfile(member))
                    layers.append({"mediaType": OCI_LAYER, "digest": digest, "size": member.size})
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                    "layers": layers,
                }
                url = f"{base_url}/v2/{repository}/manifests/{name}"
                body = json.dumps(manifest).encode()
                _check(session.put(url, data=body, headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT), url)
                pushed.append(tag)
    return pushed


def _member(tar: tarfile.TarFile, name: str):
    data = tar.extractfile(name)
    if data is None:
        raise UserError(f"{tar.name}: {name} is not a file")
    return data


class _Blobs:
    """One repository's blobs: sent once (a monolithic upload), skipped when present."""

    def __init__(self, session: requests.Session, base_url: str, repository: str):
        self.session, self.url = session, f"{base_url}/v2/{repository}/blobs"

    def present(self, digest: str) -> bool:
        response = self.session.head(f"{self.url}/{digest}", timeout=TIMEOUT)
        return response.status_code == 200

    def put_bytes(self, digest: str, data: bytes) -> None:
        self.put_stream(digest, len(data), lambda: data)

    def put_stream(self, digest: str, size: int, opened: Callable) -> None:
        if self.present(digest):
            return
        started = self.session.post(f"{self.url}/uploads/", timeout=TIMEOUT)
        _check(started, f"{self.url}/uploads/")
        location = started.headers["Location"]
        if location.startswith("/"):  # relative to the registry
            location = self.url.split("/v2/", 1)[0] + location
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        url = f"{location}{separator}digest={digest}"
        done = self.session.put(url, data=opened(), headers=headers, timeout=TIMEOUT)
        _check(done, f"{self.url} ({digest})")


def _check(response: requests.Response, what: str) -> None:
    if response.status_code >= 300:
        raise UserError(f"the registry refused {what}: HTTP {response.status_code} {response.text.strip()[:200]}")
