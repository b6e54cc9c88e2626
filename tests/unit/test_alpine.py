"""The Alpine base of the kitten test image: the qcow2 reader, and the
minirootfs taken from an apk-installed tree, each file checked."""

import io
import struct
import tarfile
import zlib

import pytest

from tasks.e2e import alpine, qcow2
from tasks.errors import UserError

BITS = 9  # 512-byte clusters: the smallest qcow2 allows
CLUSTER = 1 << BITS


def _qcow2(entries: list[int], clusters: dict[int, bytes]) -> bytes:
    """A version 3 image with its L1 table at cluster 1, its L2 table at cluster
    2 and data at the clusters given (host cluster index: bytes)."""
    header = struct.pack(">4sIQIIQIIQQIIQ", qcow2.MAGIC, 3, 0, 0, BITS, len(entries) * CLUSTER, 0, 1, CLUSTER,
                         0, 0, 0, 0)  # fmt: skip
    header += struct.pack(">QQQII", 0, 0, 0, 4, 105) + b"\0"
    image = bytearray(header.ljust(CLUSTER, b"\0"))
    image += struct.pack(">Q", 2 * CLUSTER | 1 << 63).ljust(CLUSTER, b"\0")
    image += struct.pack(f">{len(entries)}Q", *entries).ljust(CLUSTER, b"\0")
    for index in sorted(clusters):
        image = image.ljust(index * CLUSTER, b"\0") + clusters[index]
    return bytes(image)


def test_a_qcow2_disk_reads_as_the_raw_disk_it_stands_for():
    plain = b"A" * CLUSTER
    deflate = zlib.compressobj(9, zlib.DEFLATED, -12)
    compressed = deflate.compress(b"B" * CLUSTER) + deflate.flush()
    shift = 62 - (BITS - 8)
    entries = [
        3 * CLUSTER,  # plain, at host cluster 3
        0,  # unallocated: a hole
        _compressed_entry(4 * CLUSTER, len(compressed), shift),
        5 * CLUSTER | qcow2.ZERO,  # allocated but reads as zeros
    ]
    image = _qcow2(entries, {3: plain, 4: compressed.ljust(CLUSTER, b"\0"), 5: b"C" * CLUSTER})
    raw = io.BytesIO()
    assert qcow2.convert(io.BytesIO(image), raw) == 4 * CLUSTER
    assert raw.getvalue() == plain + b"\0" * CLUSTER + b"B" * CLUSTER + b"\0" * CLUSTER


def _compressed_entry(offset: int, length: int, shift: int) -> int:
    sectors = (offset % 512 + length + 511) // 512
    return qcow2.COMPRESSED | (sectors - 1) << shift | offset


def test_what_is_not_a_plain_qcow2_disk_is_one_line():
    with pytest.raises(UserError, match="not a qcow2 disk image"):
        qcow2.convert(io.BytesIO(b"\0" * 512), io.BytesIO())
    backed = bytearray(_qcow2([0], {}))
    backed[8:16] = struct.pack(">Q", 4096)
    with pytest.raises(UserError, match="backing file"):
        qcow2.convert(io.BytesIO(bytes(backed)), io.BytesIO())


def _installed(files: dict[str, dict[str, bytes]]) -> str:
    """An apk database: every minirootfs package, with FILES ({package: {path: content}})."""
    blocks = []
    for name in alpine.PACKAGES:
        lines = [f"C:Q1x={name}", f"P:{name}", "V:1-r0"]
        for path, data in files.get(name, {}).items():
            directory, _, base = path.rpartition("/")
            lines += [f"F:{directory}", f"R:{base}", f"Z:{alpine.checksum(data)}"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"


PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"


@pytest.fixture
def tree(tmp_path):
    """What debugfs dumps of an Alpine VM: the packages' files, some changed by the VM."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "usr/lib").mkdir(parents=True)
    release = b'NAME="Alpine Linux"\nID=alpine\n'
    (root / "usr/lib/os-release").write_bytes(release)
    (root / "bin/busybox").write_bytes(b"\x7fELF busybox")
    (root / "bin/ls").symlink_to("/bin/busybox")
    (root / "etc/hostname").write_bytes(b"")  # the VM's
    (root / "etc/passwd").write_bytes(PASSWD + b"quicksand:x:1000:1000::/home/quicksand:/bin/sh\n")
    files = {
        "alpine-release": {"usr/lib/os-release": release},
        "busybox": {"bin/busybox": b"\x7fELF busybox"},
        "alpine-baselayout-data": {"etc/hostname": b"localhost\n", "etc/passwd": PASSWD},
    }
    (root / "lib/apk/db/installed").write_text(_installed(files))
    return root


def test_the_minirootfs_is_the_packages_files_as_apk_installed_them(tree):
    members = alpine.rootfs_members(tree, alpine.parse_installed((tree / "lib/apk/db/installed").read_text()))
    by_name = {info.name: (info, data) for info, data in members}
    assert by_name["usr/lib/os-release"][1].startswith(b'NAME="Alpine Linux"')
    assert by_name["etc/hostname"][1] == b"localhost\n"  # put back as the package has it
    assert by_name["etc/passwd"][1] == PASSWD  # without the VM's own user
    assert by_name["bin/ls"][0].linkname == "/bin/busybox"  # busybox's applet links
    assert by_name["usr/lib"][0].isdir() and by_name["usr"][0].isdir()  # every parent listed
    installed = by_name["lib/apk/db/installed"][1].decode()
    assert installed.count("P:") == len(alpine.PACKAGES)
    names = [info.name for info, _ in members]
    assert names == sorted(names)


def test_a_file_that_is_not_what_apk_installed_stops_the_build(tree):
    (tree / "bin/busybox").write_bytes(b"\x7fELF something else")
    with pytest.raises(UserError, match=r"bin/busybox is not what apk installed"):
        alpine.rootfs_members(tree, alpine.parse_installed((tree / "lib/apk/db/installed").read_text()))


def test_a_disk_without_a_minirootfs_package_is_one_line(tree):
    packages = alpine.parse_installed((tree / "lib/apk/db/installed").read_text())
    del packages["musl"]
    with pytest.raises(UserError, match="the Alpine disk lacks musl"):
        alpine.rootfs_members(tree, packages)


def test_the_tar_is_readable(tree, tmp_path):
    members = alpine.rootfs_members(tree, alpine.parse_installed((tree / "lib/apk/db/installed").read_text()))
    with tarfile.open(tmp_path / "out.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert tar.extractfile("etc/passwd").read() == PASSWD
