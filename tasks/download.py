"""Downloads verified by checksum: only a verified file ever has its final name.

A download resumes from its `.part` file when the server allows ranges, is
retried a few times, and shows a progress bar on a terminal. A mismatch
removes the file and says which URL, which digest was expected and which was
found.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tasks.console import CONSOLE, byte_progress, log
from tasks.errors import UserError
from tasks.settings import DIGEST_LENGTHS

ATTEMPTS = 4
CHUNK = 1 << 20


def algorithm(digest: str) -> str:
    try:
        return DIGEST_LENGTHS[len(digest)]
    except KeyError:
        raise UserError(f"checksum {digest[:16]}... is neither sha1, sha256 nor sha512") from None


def file_digest(path: Path, name: str) -> str:
    digest = hashlib.new(name)
    with open(path, "rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, expected: str, target: Path, session: requests.Session | None = None) -> Path:
    """Download url to target unless a verified copy is there; verify; return target.

    An interrupted or failed transfer keeps its `.part` to resume from next time."""
    expected = expected.lower()
    name = algorithm(expected)
    if target.exists() and file_digest(target, name) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    session = session or requests.Session()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _download(session, url, part)
            break
        except (requests.RequestException, OSError) as err:
            # A client error, or a name that does not resolve (a machine without
            # internet access, as ours): trying again only makes the user wait.
            final = _unresolved(err) or (
                isinstance(err, requests.HTTPError) and err.response is not None and err.response.status_code < 500
            )
            if final or attempt == ATTEMPTS:
                raise UserError(f"cannot download {url}: {reason(err)}") from None
            log.warning("download of %s failed (%s); retrying", url, reason(err))
            time.sleep(min(2**attempt, 10))
    actual = file_digest(part, name)
    if actual != expected:
        part.unlink()
        raise UserError(f"checksum mismatch for {url}: expected {name} {expected}, got {actual}; the file was removed")
    part.replace(target)
    return target


def _unresolved(err: Exception) -> bool:
    return isinstance(err, requests.ConnectionError) and "NameResolutionError" in str(err)


def reason(err: Exception) -> str:
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code} {err.response.reason}"
    if _unresolved(err) and err.request is not None:
        return f"the name {urlsplit(err.request.url).hostname} does not resolve"
    return " ".join(str(err).split())[:200]


def _download(session: requests.Session, url: str, part: Path) -> None:
    if url.startswith("file://"):
        part.write_bytes(Path(url.removeprefix("file://")).read_bytes())
        return
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, stream=True, timeout=(10, 60), headers=headers) as response:
        if response.status_code == 416:  # the part is already whole
            return
        response.raise_for_status()
        resumed = response.status_code == 206
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        received = have if resumed else 0
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                received += len(chunk)
                if total:
                    CONSOLE.progress(byte_progress(received, total))
