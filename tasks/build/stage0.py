"""Stage 0: a Debian tree that runs mmdebstrap, made with Python alone (#13 item 5).

A client with no mmdebstrap (a Mac, a slim CI box) still makes every Debian
base: mmdebstrap runs in a container on the engine (tasks/build/debian_engine.py), and
this module makes that container's image without any tool but Python, as
debootstrap's first stage does, and the engine imports it once per suite.

- The index: `dists/<suite>/InRelease` from the mirror, and the `Packages.xz`
  whose sha256 it lists. InRelease is checked with gpgv and Debian's keyring
  where this machine has them; without them it is trusted as fetched (the
  same trust as an apt source without a key), and the log says so.
- The packages: every Essential one plus mmdebstrap, apt, mount and the
  archive keyring, with what they depend on (first alternative, or a package
  providing it). Each .deb is checked against the sha256 the index lists.
- The tree: each data.tar unpacked into one tar, the merged /usr layout kept
  (bin, sbin, lib* are links into usr), no maintainer script run. What those
  scripts would make and mmdebstrap needs (passwd, group, dpkg's database
  directories) is written here; ld.so.cache is made in the container at
  each start (`ldconfig`), so the image stays the bytes of the packages.
mmdebstrap itself then checks every package of the base it makes against
the keyring from this tree, as it does anywhere."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import requests

from tasks import download
from tasks.build.oci import ARCHITECTURES
from tasks.console import log
from tasks.engine import LABEL_ROLE
from tasks.errors import UserError
from tasks.paths import cache_dir, replacing

SUITE = "trixie"  # the suite of every base this project makes; its mmdebstrap makes the others too
WANTED = ("mmdebstrap", "apt", "mount", "debian-archive-keyring")
RECIPE = "1"
IMAGE = f"kubeadm-local-cluster/stage0:{SUITE}-r{RECIPE}"
ROLE = "stage0"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Debian's merged /usr: these top-level names are links into /usr.
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Links the packages' scripts make with update-alternatives, which hooks use.
ALTERNATIVES = {"usr/bin/awk": "mawk"}
# apt drops to this user for downloads (apt's postinst adds it).
APT_USER = "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
DATA_OPENERS = {
    "data.tar": lambda data: data,
    "data.tar.xz": lzma.decompress,
    "data.tar.gz": gzip.decompress,
    "data.tar.bz2": bz2.decompress,
}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    filename: str
    sha256: str
    essential: bool = False
    priority: str = ""
    depends: tuple[tuple[str, ...], ...] = ()  # Pre-Depends and Depends: each a list of alternatives
    provides: tuple[str, ...] = ()


@dataclass
class Index:
    packages: dict[str, Package] = field(default_factory=dict)
    providers: dict[str, list[str]] = field(default_factory=dict)

    def resolve(self, name: str, chosen: set[str]) -> str | None:
        """The package that satisfies NAME: itself, or a provider (one already
        chosen first, then a required one, then by name)."""
        if name in self.packages:
            return name
        providers = self.providers.get(name, [])
        for rank in (lambda p: p in chosen, lambda p: self.packages[p].priority == "required", lambda p: True):
            for provider in sorted(providers):
                if rank(provider):
                    return provider
        return None


def _names(field_text: str) -> tuple[tuple[str, ...], ...]:
    """`a (>= 1) | b:any, c [amd64]` -> (("a", "b"), ("c",)): names only, as stage 0 needs."""
    groups = []
    for group in field_text.split(","):
        names = tuple(re.split(r"[\s(:\[]", alternative.strip(), maxsplit=1)[0] for alternative in group.split("|"))
        if any(names):
            groups.append(tuple(n for n in names if n))
    return tuple(groups)


def parse_packages(text: str) -> Index:
    index = Index()
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields:
            continue
        package = Package(
            name=fields["Package"],
            version=fields.get("Version", ""),
            filename=fields.get("Filename", ""),
            sha256=fields.get("SHA256", ""),
            essential=fields.get("Essential") == "yes",
            priority=fields.get("Priority", ""),
            depends=_names(fields.get("Pre-Depends", "")) + _names(fields.get("Depends", "")),
            provides=tuple(group[0] for group in _names(fields.get("Provides", ""))),
        )
        index.packages[package.name] = package
        for virtual in package.provides:
            index.providers.setdefault(virtual, []).append(package.name)
    return index


def closure(index: Index, wanted: tuple[str, ...]) -> list[Package]:
    """Essential packages, WANTED, and all they depend on; sorted by name."""
    chosen: set[str] = set()
    queue = [p.name for p in index.packages.values() if p.essential]
    for name in wanted:
        if name not in index.packages:
            raise UserError(f"stage 0: the Debian index has no package {name}")
        queue.append(name)
    while queue:
        name = queue.pop()
        if name in chosen:
            continue
        chosen.add(name)
        for alternatives in index.packages[name].depends:
            if any(alt in chosen for alt in alternatives):
                continue
            found = next((r for alt in alternatives if (r := index.resolve(alt, chosen))), None)
            if found is None:
                raise UserError(f"stage 0: nothing in the index satisfies {' | '.join(alternatives)} (for {name})")
            queue.append(found)
    return [index.packages[name] for name in sorted(chosen)]


def signed_text(inrelease: str) -> str:
    """What an InRelease signs (the text between its armour headers), so that
    nothing outside the signature is ever read."""
    begin, end = "-----BEGIN PGP SIGNED MESSAGE-----", "-----BEGIN PGP SIGNATURE-----"
    if begin not in inrelease or end not in inrelease:
        raise UserError("stage 0: the InRelease file is not a signed message")
    body = inrelease[inrelease.index(begin) + len(begin) : inrelease.index(end)]
    return body.partition("\n\n")[2]  # after the Hash: header lines


def release_sha256(inrelease: str) -> dict[str, tuple[str, int]]:
    """The SHA256 section of a Release file's signed text: path -> (digest, size)."""
    listed: dict[str, tuple[str, int]] = {}
    in_section = False
    for line in signed_text(inrelease).splitlines():
        if not line.startswith(" "):
            in_section = line.strip() == "SHA256:"
            continue
        parts = line.split()
        if in_section and len(parts) == 3:
            listed[parts[2]] = (parts[0], int(parts[1]))
    return listed


def deb_member(deb: bytes, prefix: str) -> tuple[str, bytes]:
    """The ar member of a .deb whose name starts with PREFIX (e.g. data.tar)."""
    if not deb.startswith(b"!<arch>\n"):
        raise UserError("stage 0: a .deb that is no ar archive")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if name.startswith(prefix):
            return name, deb[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size & 1)  # members are 2-byte aligned
    raise UserError(f"stage 0: a .deb without {prefix}")


def _merged_name(name: str) -> str:
    """./bin/x -> usr/bin/x: the tree's layout is merged /usr whatever the package says."""
    name = name.removeprefix("./").rstrip("/")
    top = name.partition("/")[0]
    return f"usr/{name}" if top in MERGED else name


def _extra_files(tree: dict[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """What maintainer scripts would make that mmdebstrap needs."""
    masters = "usr/share/base-passwd"
    yield "etc/passwd", tree.get(f"{masters}/passwd.master", b"root:x:0:0:root:/root:/bin/sh\n") + APT_USER.encode()
    yield "etc/group", tree.get(f"{masters}/group.master", b"root:x:0:\n")
    yield "var/lib/dpkg/status", b""
    yield "var/lib/dpkg/available", b""


def write_tree(debs: list[Path], out: BinaryIO) -> None:
    """The packages' files as one gzipped tar, merged /usr, owned by root."""
    seen: set[str] = set()
    wanted_files = {"usr/share/base-passwd/passwd.master", "usr/share/base-passwd/group.master"}
    kept: dict[str, bytes] = {}
    with (
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):

        def add_dir(name: str) -> None:
            if name and name not in seen:
                add_dir(name.rpartition("/")[0])
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                seen.add(name)

        for top in MERGED:
            if top in ("lib32", "libx32"):
                continue
            add_dir(f"usr/{top}")
            link = tarfile.TarInfo(top)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{top}"
            tar.addfile(link)
            seen.add(top)
        for path in debs:
            member, data = deb_member(path.read_bytes(), "data.tar")
            opener = DATA_OPENERS.get(member)
            if opener is None:
                raise UserError(f"stage 0: {path.name} has {member}, which Python here cannot unpack")
            with tarfile.open(fileobj=io.BytesIO(opener(data))) as payload:
                for info in payload:
                    if info.name.removeprefix("./").rstrip("/") in MERGED:
                        continue  # base-files ships the merged-/usr links; they are made above
                    name = _merged_name(info.name)
                    if not name:
                        continue
                    if info.isdir():
                        add_dir(name)
                        continue
                    add_dir(name.rpartition("/")[0])
                    info.name, info.uid, info.gid, info.uname, info.gname = name, 0, 0, "root", "root"
                    if info.islnk():
                        info.linkname = _merged_name(info.linkname)
                    body = payload.extractfile(info) if info.isreg() else None
                    if name in wanted_files and body is not None:
                        kept[name] = body.read()
                        body = io.BytesIO(kept[name])
                    tar.addfile(info, body)
                    seen.add(name)
        for name, target in ALTERNATIVES.items():
            if name not in seen:
                link = tarfile.TarInfo(name)
                link.type, link.linkname = tarfile.SYMTYPE, target
                tar.addfile(link)
        for name, data in _extra_files(kept):
            add_dir(name.rpartition("/")[0])
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "tmp", "proc", "sys", "dev", "run"):
            add_dir(name)


def _inrelease(mirror: str, session: requests.Session) -> str:
    url = f"{mirror}/dists/{SUITE}/InRelease"
    try:
        response = session.get(url, timeout=60)
        response.raise_for_status()
    except requests.RequestException as err:
        raise UserError(f"stage 0: cannot fetch {url}: {download.reason(err)}") from None
    text = response.text
    gpgv = shutil.which("gpgv")
    if gpgv and KEYRING.exists():
        checked = subprocess.run(
            [gpgv, "--keyring", str(KEYRING), "-"], input=response.content, capture_output=True, timeout=60
        )
        if checked.returncode != 0:
            raise UserError(f"stage 0: {url} is not signed by a key of {KEYRING}")
    else:
        log.info("stage 0: %s taken as fetched (no gpgv and Debian keyring here to check it)", url)
    return text


def tree_archive(mirror: str, architecture: str) -> Path:
    """The stage 0 tree for the engine's architecture, made once (cached)."""
    target = cache_dir() / "debian" / f"stage0-{SUITE}-{architecture}-r{RECIPE}.tar.gz"
    if target.exists():
        return target
    mirror = mirror.rstrip("/") or DEFAULT_MIRROR
    session = requests.Session()
    listed = release_sha256(_inrelease(mirror, session))
    index_path = f"main/binary-{architecture}/Packages.xz"
    if index_path not in listed:
        raise UserError(f"stage 0: {mirror} lists no {index_path} for {SUITE}")
    debs_dir = cache_dir() / "debian" / "stage0-debs"
    index_file = download.fetch(
        f"{mirror}/dists/{SUITE}/{index_path}", listed[index_path][0], debs_dir / f"Packages-{architecture}.xz"
    )
    packages = closure(parse_packages(lzma.decompress(index_file.read_bytes()).decode()), WANTED)
    log.info("stage 0: %d Debian packages from %s", len(packages), mirror)
    debs = [download.fetch(f"{mirror}/{p.filename}", p.sha256, debs_dir / Path(p.filename).name) for p in packages]
    with replacing(target, suffix=".tar.gz") as partial, open(partial, "wb") as out:
        write_tree(debs, out)
    index_file.unlink()  # the index of the day: the tree is what is kept
    for deb in debs:
        deb.unlink()
    return target


def ensure_image(engine, mirror: str) -> str:
    """The stage 0 image on the engine, imported once for its architecture."""
    if not engine.has_image(IMAGE):
        architecture = ARCHITECTURES.get(engine.facts().architecture)
        if architecture is None:
            raise UserError(f"stage 0: no Debian packages for the engine's architecture {engine.facts().architecture}")
        tree = tree_archive(mirror, architecture)
        log.info("stage 0: the image %s into the engine (once)", IMAGE)
        engine.import_rootfs(tree.read_bytes(), IMAGE, {LABEL_ROLE: ROLE}, ["sleep", "infinity"])
    return IMAGE
