"""A tiny image to ask the engine what containers it allows, with no registry.

The image holds one static program, /true, that exits 0: a hand-made ELF of
a few instructions for the engine's architecture. Doctor starts it with the
node containers' security options to learn which of them the engine accepts.
"""

from __future__ import annotations

import io
import struct
import tarfile

PROBE_IMAGE = "kubeadm-local-cluster-probe:1"

BASE = 0x400000
HEADERS = 64 + 56  # one ELF header and one program header
# exit(0) for each architecture: machine number and instructions.
EXIT_ZERO = {
    # xor edi, edi; mov eax, 60 (exit); syscall
    "x86_64": (62, bytes.fromhex("31ff") + bytes.fromhex("b83c000000") + bytes.fromhex("0f05")),
    # movz x0, #0; movz x8, #93 (exit); svc #0
    "aarch64": (183, struct.pack("<III", 0xD2800000, 0xD2800BA8, 0xD4000001)),
}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def exit_zero_elf(arch: str) -> bytes:
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in EXIT_ZERO:
        raise ValueError(f"no probe program for architecture {arch}")
    machine, code = EXIT_ZERO[arch]
    size = HEADERS + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, machine, 1, BASE + HEADERS, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, size, size, 0x1000)  # PT_LOAD, R+X
    return header + program + code


def probe_rootfs(arch: str) -> bytes:
    """A root filesystem tar holding only /true."""
    program = exit_zero_elf(arch)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("true")
        info.size = len(program)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(program))
    return buffer.getvalue()
