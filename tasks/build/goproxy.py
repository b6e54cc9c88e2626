"""The Go module proxy read with Python alone (#13 item 5): what `go mod
download -json` and `go list -m -versions` tell, for a client without `go`.

The proxy protocol (go.dev/ref/mod#goproxy-protocol): `<module>/@v/list`,
`<version>.info`, `.mod` and `.zip`, module paths case-encoded (`!` before a
lower-cased capital). Every go.mod and zip is checked as `go` checks it: its
`h1:` hash (a sha256 over the sorted lines `sha256  name`) against the
checksum database's record, read through the proxy
(`<proxy>/sumdb/<db>/lookup/<module>@<version>`). Unlike `go`, the record's
inclusion in the database's signed tree is not verified: the record is
trusted as the proxy serves it over TLS. GOSUMDB=off checks nothing, as
with `go`.

The files are kept as `go` keeps them under GOMODCACHE (cache/download/...
and <module>@<version>/), here under the state directory's cache."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import requests

from tasks.console import log
from tasks.download import reason
from tasks.errors import UserError
from tasks.paths import cache_dir, replacing

DEFAULT_PROXY = "https://proxy.golang.org"
DEFAULT_SUMDB = "sum.golang.org"
TIMEOUT = 120


def escape(path: str) -> str:
    """Go's case encoding of a module path or version: `BurntSushi` -> `!burnt!sushi`."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def proxy_url(environ: dict[str, str] | None = None) -> str:
    """The first http(s) entry of GOPROXY (as `go` tries them in order); `off` or `direct` alone is one line."""
    environ = os.environ if environ is None else environ
    listed = environ.get("GOPROXY") or f"{DEFAULT_PROXY},direct"
    for entry in listed.replace("|", ",").split(","):
        if entry.startswith(("https://", "http://")):
            return entry.rstrip("/")
    raise UserError(f"GOPROXY={listed} names no proxy: without `go` here, modules come only through a proxy")


def sumdb_name(environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("GOSUMDB") or DEFAULT_SUMDB).split()[0].split("+")[0]


def hash1(files: list[tuple[str, bytes]]) -> str:
    """Go's dirhash.Hash1: h1: + base64(sha256 of the sorted `sha256hex  name\\n` lines)."""
    summary = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def zip_hash(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return hash1([(info.filename, archive.read(info)) for info in archive.infolist() if not info.is_dir()])


class Proxy:
    def __init__(self, root: Path | None = None, environ: dict[str, str] | None = None):
        self.url = proxy_url(environ)
        self.sumdb = sumdb_name(environ)
        self.root = root or cache_dir() / "gomod-python"
        self.session = requests.Session()

    def _get(self, path: str) -> bytes:
        url = f"{self.url}/{path}"
        try:
            response = self.session.get(url, timeout=TIMEOUT)
            response.raise_for_status()
        except requests.RequestException as err:
            raise UserError(f"cannot get {url} from the Go module proxy: {reason(err)}") from None
        return response.content

    def versions(self, module: str) -> list[str]:
        """What `go list -m -versions` lists: the tagged versions, oldest first."""
        listed = self._get(f"{escape(module)}/@v/list").decode().split()
        return sorted(listed, key=_semver_key)

    def sums(self, module: str, version: str) -> dict[str, str]:
        """The checksum database's record: {"zip": h1, "mod": h1}; empty with GOSUMDB=off."""
        if self.sumdb == "off":
            return {}
        text = self._get(f"sumdb/{self.sumdb}/lookup/{escape(module)}@{escape(version)}").decode()
        sums = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == module:
                sums["mod" if parts[1].endswith("/go.mod") else "zip"] = parts[2]
        if set(sums) != {"zip", "mod"}:
            raise UserError(f"the checksum database has no record of {module}@{version}")
        return sums

    def facts(self, module: str, version: str) -> dict:
        """As `go mod download -json`: Path, Version, Info, GoMod, Zip and Dir (the source unpacked)."""
        download = self.root / "cache" / "download" / escape(module) / "@v"
        base = download / escape(version)
        directory = self.root / f"{escape(module)}@{escape(version)}"
        paths = {suffix: Path(f"{base}.{suffix}") for suffix in ("info", "mod", "zip")}
        if not all(path.exists() for path in paths.values()) or not directory.is_dir():
            self._download(module, version, paths, directory)
        return {
            "Path": module,
            "Version": version,
            "Info": str(paths["info"]),
            "GoMod": str(paths["mod"]),
            "Zip": str(paths["zip"]),
            "Dir": str(directory),
        }

    def _download(self, module: str, version: str, paths: dict[str, Path], directory: Path) -> None:
        name = f"{escape(module)}/@v/{escape(version)}"
        sums = self.sums(module, version)
        info, mod, data = self._get(f"{name}.info"), self._get(f"{name}.mod"), self._get(f"{name}.zip")
        checks = (("go.mod", hash1([("go.mod", mod)]), sums.get("mod")), ("zip", zip_hash(data), sums.get("zip")))
        for what, found, expected in checks:
            if expected and found != expected:
                raise UserError(
                    f"{module}@{version}: its {what} from {self.url} hashes to {found}, "
                    f"the checksum database says {expected}: refused"
                )
        if not sums:
            log.info("%s@%s taken unchecked (GOSUMDB=off)", module, version)
        json.loads(info)  # a proxy that answers with a page of its own stops here
        for suffix, body in (("info", info), ("mod", mod), ("zip", data)):
            paths[suffix].parent.mkdir(parents=True, exist_ok=True)
            with replacing(paths[suffix]) as partial:
                partial.write_bytes(body)
        prefix = f"{module}@{version}/"
        partial = directory.with_name(f".{directory.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.infolist():
                    if not member.filename.startswith(prefix) or ".." in Path(member.filename).parts:
                        raise UserError(f"{module}@{version}: its zip holds {member.filename}, outside the module")
                    if not member.is_dir():
                        target = partial / member.filename[len(prefix) :]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.read(member))
            partial.mkdir(parents=True, exist_ok=True)  # a module of no files is still a directory
            shutil.rmtree(directory, ignore_errors=True)
            partial.rename(directory)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def _semver_key(version: str) -> tuple:
    """Semantic version order, pre-releases before their release."""
    core, _, pre = version.removeprefix("v").partition("-")
    numbers = tuple(int(part) if part.isdigit() else 0 for part in core.split("+")[0].split("."))
    return (numbers, pre == "", pre)
