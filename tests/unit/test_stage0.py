"""Stage 0 (tasks/build/stage0.py): the Debian index read, the packages a tree
that runs mmdebstrap needs, and the tree made from .debs, with Python alone.
The .debs here are written by the test (ar + data.tar.xz), as dpkg-deb lays
them out; the real mirror and engine are tests/integration/test_python_only_client.py's."""

import io
import lzma
import tarfile

import pytest

from tasks.build import debian, debian_engine, stage0
from tasks.errors import UserError

PACKAGES = """\
Package: base-files
Version: 13.8
Essential: yes
Priority: required
Filename: pool/main/b/base-files/base-files_13.8_amd64.deb
SHA256: aa

Package: base-passwd
Version: 3.6.7
Essential: yes
Priority: required
Pre-Depends: libc6 (>= 2.36)
Filename: pool/main/b/base-passwd/base-passwd_3.6.7_amd64.deb
SHA256: bb

Package: libc6
Version: 2.41-12
Priority: optional
Depends: libgcc-s1
Filename: pool/main/g/glibc/libc6_2.41-12_amd64.deb
SHA256: cc

Package: libgcc-s1
Version: 14.2.0-19
Priority: optional
Filename: pool/main/g/gcc-14/libgcc-s1_14.2.0-19_amd64.deb
SHA256: dd

Package: mmdebstrap
Version: 1.5.7-1
Depends: apt (>= 2.3.14), perl:any,
 python3 | not-packaged, mawk | awk
Filename: pool/main/m/mmdebstrap/mmdebstrap_1.5.7-1_all.deb
SHA256: ee

Package: apt
Version: 3.0.3
Depends: sqv | gpgv
Filename: pool/main/a/apt/apt_3.0.3_amd64.deb
SHA256: ff

Package: gpgv
Version: 2.4.7
Filename: pool/main/g/gnupg2/gpgv_2.4.7_amd64.deb
SHA256: 11

Package: perl-base
Version: 5.40.1
Essential: yes
Priority: required
Provides: perl (= 5.40.1), perlapi-5.40.1
Filename: pool/main/p/perl/perl-base_5.40.1_amd64.deb
SHA256: 22

Package: gawk
Version: 5.2
Provides: awk
Filename: pool/main/g/gawk/gawk_5.2_amd64.deb
SHA256: 33

Package: original-awk
Version: 2024
Priority: required
Provides: awk
Filename: pool/main/o/original-awk/original-awk_2024_amd64.deb
SHA256: 44

Package: python3
Version: 3.13
Filename: pool/main/p/python3/python3_3.13_amd64.deb
SHA256: 55
"""


def test_the_closure_is_the_essential_packages_what_is_wanted_and_what_they_need():
    index = stage0.parse_packages(PACKAGES)
    names = [p.name for p in stage0.closure(index, ("mmdebstrap",))]
    # Essential ones and their Pre-Depends; apt's first alternative missing, so gpgv;
    # perl by the Essential package that provides it; awk by a required provider.
    assert names == [
        "apt",
        "base-files",
        "base-passwd",
        "gpgv",
        "libc6",
        "libgcc-s1",
        "mmdebstrap",
        "original-awk",
        "perl-base",
        "python3",
    ]
    assert index.packages["mmdebstrap"].sha256 == "ee"


def test_what_nothing_satisfies_is_one_clear_line():
    index = stage0.parse_packages(PACKAGES.replace("Depends: sqv | gpgv", "Depends: sqv | gpgv2"))
    with pytest.raises(UserError, match=r"nothing in the index satisfies sqv \| gpgv2 \(for apt\)"):
        stage0.closure(index, ("apt",))
    with pytest.raises(UserError, match="has no package mmdebstrap-ng"):
        stage0.closure(index, ("mmdebstrap-ng",))


SIGNED = """\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Codename: trixie
SHA256:
 be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412  9679304 main/binary-amd64/Packages.xz
-----BEGIN PGP SIGNATURE-----

iHUEARYKAB0WIQ=
-----END PGP SIGNATURE-----
 0000000000000000000000000000000000000000000000000000000000000000 1 main/binary-arm64/Packages.xz
"""


def test_only_the_signed_part_of_inrelease_is_read():
    listed = stage0.release_sha256(SIGNED)
    assert listed == {
        "main/binary-amd64/Packages.xz": ("be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412", 9679304)
    }
    with pytest.raises(UserError, match="not a signed message"):
        stage0.release_sha256("Origin: Debian\nSHA256:\n")


def deb(path, members: dict[str, tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> None:
    """A .deb as dpkg-deb writes one: ar of debian-binary, control and data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for info in members.values():
            if isinstance(info, tuple):
                info, body = info
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                tar.addfile(info)
    parts = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(b"")),
        ("data.tar.xz", lzma.compress(data.getvalue())),
    ]
    out = b"!<arch>\n"
    for name, body in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    path.write_bytes(out)


def entry(name, kind=tarfile.REGTYPE, link="", body=None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.uid, info.uname = kind, link, 1000, "builder"
    return (info, body) if body is not None else info


def test_the_tree_is_the_packages_files_in_merged_usr_and_what_their_scripts_would_add(tmp_path):
    deb(
        tmp_path / "base-files.deb",
        {
            "bin": entry("./bin", tarfile.SYMTYPE, "usr/bin"),  # trixie's base-files ships the links
            "etc": entry("./etc/", tarfile.DIRTYPE),
            "os": entry("./etc/os-release", body=b"ID=debian\n"),
        },
    )
    deb(
        tmp_path / "base-passwd.deb",
        {"passwd": entry("./usr/share/base-passwd/passwd.master", body=b"root:*:0:0:root:/root:/bin/bash\n")},
    )
    deb(
        tmp_path / "dash.deb",
        {
            "dash": entry("./bin/dash", body=b"\x7fELF"),  # an older package's /bin
            "sh": entry("./bin/sh", tarfile.SYMTYPE, "dash"),
            "hard": entry("./sbin/dash-again", tarfile.LNKTYPE, "./bin/dash"),
        },
    )
    deb(tmp_path / "mawk.deb", {"mawk": entry("./usr/bin/mawk", body=b"\x7fELF")})
    out = io.BytesIO()
    stage0.write_tree(sorted(tmp_path.glob("*.deb")), out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        read = {name: tar.extractfile(m).read() for name, m in members.items() if m.isreg()}
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["lib64"].linkname == "usr/lib64"
    assert read["usr/bin/dash"] == b"\x7fELF" and "bin/dash" not in members
    assert members["usr/bin/sh"].linkname == "dash"
    assert members["usr/sbin/dash-again"].islnk() and members["usr/sbin/dash-again"].linkname == "usr/bin/dash"
    assert members["usr/bin/awk"].linkname == "mawk"  # mawk's postinst would have made it
    assert read["etc/passwd"] == b"root:*:0:0:root:/root:/bin/bash\n" + stage0.APT_USER.encode()
    assert read["var/lib/dpkg/status"] == b""
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}  # the builder's 1000 is gone
    assert [name for name in members if name == "bin"] == ["bin"]  # base-files' own link is not added twice


def test_a_deb_compressed_in_a_way_python_cannot_read_stops_the_tree(tmp_path):
    deb(tmp_path / "x.deb", {"f": entry("./usr/bin/x", body=b"x")})
    (tmp_path / "x.deb").write_bytes((tmp_path / "x.deb").read_bytes().replace(b"data.tar.xz ", b"data.tar.zst"))
    with pytest.raises(UserError, match=r"x\.deb has data\.tar\.zst, which Python here cannot unpack"):
        stage0.write_tree([tmp_path / "x.deb"], io.BytesIO())


def test_without_mmdebstrap_here_the_base_is_made_on_the_engine_with_its_hooks_there(tmp_path, monkeypatch):
    calls = []

    def fake_run_mmdebstrap(
        args, hooks, output, log_file, what, mirror
    ):  # a fake: the engine is the integration test's
        calls.append((args, hooks, what, mirror))
        output.write_bytes(b"tar")
        return 1.0

    hook = tmp_path / "images" / "thing" / "extract-hook.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n")
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    monkeypatch.setattr(debian_engine, "run_mmdebstrap", fake_run_mmdebstrap)
    monkeypatch.setattr(debian, "logs_dir", lambda: tmp_path / "logs")
    output = tmp_path / "base.tar"
    debian.rootfs(
        "trixie",
        ["iptables"],
        output,
        "the thing",
        variant="extract",
        extract_hook=hook,
        mirror="http://m.invalid/debian",
    )
    ((args, hooks, what, mirror),) = calls
    assert "--extract-hook=/stage0/hooks/0/extract-hook.sh" in args
    assert args[-3:] == ["trixie", debian_engine.OUTPUT_IN_CONTAINER, "deb http://m.invalid/debian trixie main"]
    assert hooks == [hook] and what == "making the thing on the engine" and mirror == "http://m.invalid/debian"
    assert output.read_bytes() == b"tar"


def test_a_hook_goes_to_the_engine_with_the_files_beside_it(tmp_path):
    hook = tmp_path / "node" / "customize-hook.sh"
    (tmp_path / "node" / "rootfs" / "etc").mkdir(parents=True)
    (tmp_path / "node" / "rootfs" / "etc" / "motd").write_text("hi\n")
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    with tarfile.open(fileobj=io.BytesIO(debian_engine._hooks_archive([hook]))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert debian_engine.hook_paths([hook]) == {hook: "/stage0/hooks/0/customize-hook.sh"}
    assert members["0/customize-hook.sh"].mode & 0o111 and "0/rootfs/etc/motd" in members
    assert {m.uid for m in members.values()} == {0}
