"""A qcow2 disk image (QEMU's format) as the raw disk it stands for, read by
our own code so that no qemu-img is needed: the header, the two-level table of
clusters, plain and deflate-compressed clusters (QEMU's docs/interop/qcow2.txt).
Backing files, encryption, external data files and extended L2 entries are
refused; unallocated and zero clusters are left as holes."""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from tasks.errors import UserError

MAGIC = b"QFI\xfb"
OFFSET_MASK = 0x00FFFFFFFFFFFE00  # bits 9-55: a table's or a plain cluster's offset
COMPRESSED = 1 << 62
ZERO = 1  # L2 bit 0 (version 3): the cluster reads as zeros


def convert(image: BinaryIO, raw: BinaryIO) -> int:
    """IMAGE (seekable) written to RAW as a raw disk; returns its size in bytes."""
    header = image.read(105)
    if header[:4] != MAGIC:
        raise UserError("not a qcow2 disk image")
    version, backing_offset, _, cluster_bits, size, crypt, l1_size, l1_offset = struct.unpack(">IQIIQIIQ", header[4:48])
    if version not in (2, 3):
        raise UserError(f"qcow2 version {version} is not read here")
    if backing_offset or crypt:
        raise UserError("a qcow2 disk with a backing file or encryption is not read here")
    if version == 3:
        incompatible = struct.unpack(">Q", header[72:80])[0]
        header_length = struct.unpack(">I", header[100:104])[0]
        compression = header[104] if header_length > 104 else 0
        if incompatible & ~0b1 or compression:  # bit 0 (dirty) is harmless to a reader
            raise UserError("the qcow2 disk uses features not read here (external data, extended L2, zstd)")
    cluster = 1 << cluster_bits
    image.seek(l1_offset)
    l1 = struct.unpack(f">{l1_size}Q", image.read(8 * l1_size))
    per_table = cluster // 8
    for l1_index, l1_entry in enumerate(l1):
        table = l1_entry & OFFSET_MASK
        if not table:
            continue
        image.seek(table)
        for l2_index, entry in enumerate(struct.unpack(f">{per_table}Q", image.read(cluster))):
            guest = (l1_index * per_table + l2_index) * cluster
            if guest >= size:
                break
            data = _cluster(image, entry, cluster_bits)
            if data is not None:
                raw.seek(guest)
                raw.write(data)
    if raw.seek(0, 2) < size:  # trailing holes: the disk is still its whole size
        raw.seek(size - 1)
        raw.write(b"\0")
    return size


def _cluster(image: BinaryIO, entry: int, cluster_bits: int) -> bytes | None:
    cluster = 1 << cluster_bits
    if entry & COMPRESSED:
        shift = 62 - (cluster_bits - 8)
        offset = entry & ((1 << shift) - 1)
        sectors = ((entry >> shift) & ((1 << (cluster_bits - 8)) - 1)) + 1
        image.seek(offset)
        compressed = image.read(sectors * 512 - (offset & 511))
        return zlib.decompressobj(-12).decompress(compressed, cluster)[:cluster].ljust(cluster, b"\0")
    if entry & ZERO or not entry & OFFSET_MASK:
        return None
    image.seek(entry & OFFSET_MASK)
    return image.read(cluster)
