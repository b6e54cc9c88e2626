"""busybox for the busybox test image, built from upstream's source with
upstream's configuration, as docker-library's busybox image (which
registry.k8s.io/e2e-test-images/busybox only mirrors) is built.

Why not Debian's busybox-static: its ash drops, when it starts, every
environment variable whose name is not a shell name (`data-1`), so nothing it
runs (`env`) sees them, and conformance tests (Secrets and ConfigMaps
"consumable via the environment", envFrom with prefixes) run `sh -c env` and
look for them. Upstream's ash keeps them since 1.28 (commit 9c143ce52da1,
"ash: retain envvars with bad names in initial environment"; ash.c's init()
says why). Debian reverts that commit
(debian/patches/revert-9c143ce52da11ec3d21a3491c3749841d3dc10f0.patch) and
puts the upstream behaviour behind a switch of its own, FEATURE_DI_ENV_HACK
(temp-deb-installer-hack.patch, for the installer's kernel command line),
which only its installer build (the udeb) turns on. bash passes the names on
but words its errors its own way, and another conformance test ("a read only
busybox container") wants ash's: `/bin/sh: can't create /file: Read-only file
system`.

The source is upstream's busybox-<version>.tar.bz2, which Debian's pool holds
unchanged as busybox_<version>.orig.tar.bz2 (the sha256 below is the one
Debian's Sources index and busybox.net give), from the host's Debian mirror.

Layout: ~/.kubeadm-local-cluster/cache/busybox/<version>/
    src/       the unpacked source, only while it builds
    busybox    the static binary
    applets    `busybox --list`: the names upstream's image links in /bin
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

from tasks.build import ctools, debian, platforms, run_built
from tasks.commands import run_logged
from tasks.console import CONSOLE, log
from tasks.download import fetch
from tasks.errors import UserError
from tasks.paths import cache_dir, logs_dir, replacing

VERSION = "1.37.0"  # what e2e-test-images/busybox 1.37.0-x is made from (test/images/busybox/BASEIMAGE)
SHA256 = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Changing how busybox is built (the configuration, a check) bumps this.
RECIPE = "1"
TASK = "busybox"
BUILD_TOOLS = "apt-get install gcc make libc6-dev (scripts/setup.sh does it)"

# `make defconfig`, then what docker-library's glibc variant sets and unsets
# (its Dockerfile.builder for 1.37.0), then ours; None: not set.
CONFIG = {
    # docker-library: static (one file, no shared libraries in the image), ar,
    # input in UTF-8, inotifyd; not `sync -d/-f`.
    "CONFIG_STATIC": "y",
    "CONFIG_AR": "y",
    "CONFIG_FEATURE_AR_CREATE": "y",
    "CONFIG_FEATURE_AR_LONG_FILENAMES": "y",
    "CONFIG_LAST_SUPPORTED_WCHAR": "0",
    "CONFIG_INOTIFYD": "y",
    "CONFIG_FEATURE_SYNC_FANCY": None,
    # Ours. tc: networking/tc.c reads CBQ's definitions, which Linux's headers
    # dropped in 6.3 (busybox bug 15931; docker-library patches it out); no
    # test runs tc. SHA hardware acceleration: 1.37.0 misses a guard and does
    # not build for arm64 with it (fixed after 1.37.0); it only makes
    # sha1sum and sha256sum faster.
    "CONFIG_TC": None,
    "CONFIG_SHA1_HWACCEL": None,
    "CONFIG_SHA256_HWACCEL": None,
}
# What the build checks the new binary does (the two behaviours the tests need).
ODD_NAME = "data-1"


def root() -> Path:
    return cache_dir() / "busybox" / VERSION


def binary() -> Path:
    return root() / "busybox"


def applets_path() -> Path:
    return root() / "applets"


def applets() -> list[str]:
    """The applets of the built busybox, as `busybox --list` named them."""
    return applets_path().read_text().split()


def tarball_url(mirror: str) -> str:
    return f"{mirror.rstrip('/')}/pool/main/b/busybox/busybox_{VERSION}.orig.tar.bz2"


def _log(what: str) -> Path:
    return logs_dir() / f"busybox-{VERSION}-{what}.log"


# ---------------------------------------------------------------- configuration


def configure(config: str, changes: dict[str, str | None] = CONFIG) -> str:
    """A .config with changes applied: `CONFIG_X=v` set (replacing the line
    or its `# CONFIG_X is not set`, else appended), None unset."""
    lines = config.splitlines()
    for name, value in changes.items():
        wanted = f"{name}={value}" if value is not None else f"# {name} is not set"
        pattern = re.compile(rf"^(?:{name}=.*|# {name} is not set)$")
        found = [i for i, line in enumerate(lines) if pattern.match(line)]
        for i in found:
            lines[i] = wanted
        if not found:
            lines.append(wanted)
    return "\n".join(lines) + "\n"


def config_differences(config: str, changes: dict[str, str | None] = CONFIG) -> list[str]:
    """The changes a configuration (after `make oldconfig`) does not have."""
    present = set(config.splitlines())
    return [
        name
        for name, value in changes.items()
        if (
            f"{name}={value}" not in present
            if value is not None
            else any(line.startswith(f"{name}=") for line in present)
        )
    ]


# ---------------------------------------------------------------- building


def build_problem() -> str | None:
    """What this machine lacks to build busybox (the nodes' platform, a C
    compiler, make, glibc's static library), or None."""
    compiler = ctools.compiler()
    problem = platforms.foreign() or ctools.missing({f"C compiler ({compiler})": compiler, "make": "make"})
    if problem:
        return problem
    libc = ctools.ask([compiler, "-print-file-name=libc.a"])
    if libc is None:
        return f"{compiler} does not run here"
    if not os.path.isabs(libc):  # gcc echoes the bare name when it has no such file
        return "no static C library here (libc.a, in libc6-dev)"
    return None


def fetch_source() -> Path:
    """The tarball, verified, in the download cache (by its digest)."""
    mirror = debian.host_debian_mirror() or DEFAULT_MIRROR
    return fetch(tarball_url(mirror), SHA256, cache_dir() / "downloads" / SHA256)


def unpack(tarball: Path, target: Path) -> int:
    """The source tree into target (afresh); returns the tarball's time stamp
    of it, which the build embeds instead of the time of the build."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    top = f"busybox-{VERSION}"
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.name == top or m.name.startswith(top + "/")]
        if not members:
            raise UserError(f"{tarball} holds no {top}/: not busybox {VERSION}'s source")
        tar.extractall(target, members=members, filter="tar")
        return int(tar.getmember(top).mtime)


def build() -> float:
    """busybox into cache/busybox/<version>/ (binary and applet list); returns
    the seconds it took. A failure is one line naming the log."""
    problem = build_problem()
    if problem is not None:
        log.info("busybox %s: built on the engine (%s)", VERSION, problem)
    make = _make_here if problem is None else _make_on_engine
    tarball = fetch_source()
    src = root() / "src"
    top = src / f"busybox-{VERSION}"
    try:
        epoch = unpack(tarball, src)
        # The build date in `busybox --help`: the source's, so a rebuild makes the same binary.
        env = {"SOURCE_DATE_EPOCH": str(epoch)}
        seconds = make(["make", "defconfig"], _log("config"), f"configuring busybox {VERSION}", env, top)
        config = top / ".config"
        config.write_text(configure(config.read_text()))
        # Every answer is in .config: oldconfig asks nothing (it fails if it must).
        seconds += make(["make", "oldconfig"], _log("oldconfig"), f"configuring busybox {VERSION}", env, top)
        missing = config_differences(config.read_text())
        if missing:
            raise UserError(
                f"busybox {VERSION}'s configuration does not take {', '.join(missing)}: "
                f"tasks/e2e/busybox.py needs a look (see {_log('oldconfig')})"
            )
        compiled = 0

        def progress(line: str) -> bool:
            nonlocal compiled
            if line.startswith("  CC ") or line.startswith("  HOSTCC "):
                compiled += 1
                CONSOLE.progress(f"compiled {compiled} files")
                return True
            return False

        seconds += make(
            ["make", f"-j{os.cpu_count() or 1}", "busybox"],
            _log("build"),
            f"building busybox {VERSION}",
            env,
            top,
            progress,
        )
        names = check(top / "busybox")
        with replacing(binary()) as partial:
            shutil.copyfile(top / "busybox", partial)
            partial.chmod(0o755)
        with replacing(applets_path()) as partial:
            partial.write_text("\n".join(names) + "\n")
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return seconds


def _make_here(argv: list[str], log_file: Path, what: str, env: dict[str, str], top: Path, on_line=None) -> float:
    return run_logged(argv, log_file, what, env=env, cwd=top, on_line=on_line)


def _make_on_engine(argv: list[str], log_file: Path, what: str, env: dict[str, str], top: Path, on_line=None) -> float:
    """make in the build image on the engine (tasks/build/go_engine.py); .config
    and the busybox binary come back into the tree here."""
    from tasks.build import go_engine

    return go_engine.run(argv, log_file, what, env, top, on_line, back=(".config", "busybox"))


def _run(argv: list[str], env: dict[str, str] | None = None) -> run_built.Said:
    """The busybox built, run (here, or on the engine when this machine cannot)
    with exactly ENV when given."""
    return run_built.run(Path(argv[0]), argv[1:], env, whole_env=env is not None)


def check(program: Path) -> list[str]:
    """What the tests need of the new binary: ash passes on an environment
    name that is no shell name, and says `can't create` as upstream's does.
    Returns its applets."""
    listed = _run([str(program), "--list"])
    names = sorted(listed.stdout.split())
    if listed.code != 0 or "sh" not in names or "env" not in names:
        raise UserError(f"the busybox built here lists no sh or env applet: {listed.stderr.strip()[-200:]}")
    env = {"PATH": "/nonexistent", ODD_NAME: "passed-on"}
    passed = _run([str(program), "sh", "-c", f"{program} env"], env)
    if f"{ODD_NAME}=passed-on" not in passed.stdout.splitlines():
        raise UserError(f"the busybox built here does not pass the environment variable {ODD_NAME} on from sh")
    said = _run([str(program), "sh", "-c", "echo test > /nonexistent/file"]).stderr
    if "sh: can't create /nonexistent/file: " not in said:
        raise UserError(f"the busybox built here says {said.strip()!r} for a file it cannot create, not ash's words")
    return names
