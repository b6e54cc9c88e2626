"""containerd and runc of the nodes: which ones each Kubernetes minor runs,
and building them from the Go module proxy where Debian's are too old.

The node base (tasks/node/image.py) holds Debian forky's containerd and runc.
containerd's own support table recommends its 2.1 line up to Kubernetes 1.35
and 2.2+ from 1.36 on: for those the node image gets one more layer, over the
base, with containerd, containerd-shim-runc-v2, ctr and runc built here, at
Debian's paths (so Debian's systemd unit, /usr/bin/containerd, stays, and so do
the CNI plugins in /usr/lib/cni). That layer depends on these versions only:
the node images of two Kubernetes versions with the same containerd share it
in the engine, and the builds are cached once for all Kubernetes versions.

Layout (independent of the Kubernetes version):
    ~/.kubeadm-local-cluster/cache/containerd/<version>/  containerd, containerd-shim-runc-v2, ctr
    ~/.kubeadm-local-cluster/cache/runc/<version>/runc
    ~/.kubeadm-local-cluster/cache/build/{containerd,runc}-<version>/  the wrapper modules
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doit.tools import config_changed

from tasks.build import ctools, gobuild, oci, platforms, run_built
from tasks.console import log
from tasks.errors import UserError
from tasks.paths import cache_dir, logs_dir
from tasks.versions import Version

# ---------------------------------------------------------------- which containerd

# containerd's RELEASES.md, "Kubernetes support" (the table of v2.4.2; 1.31
# from v2.2.9's, the last to list it): per Kubernetes minor, the lowest
# recommended release of each containerd 2.x line (the 1.6 and 1.7 lines left out).
SUPPORT_TABLE: dict[tuple[int, int], tuple[str, ...]] = {
    (1, 31): ("2.1.0", "2.0.0"),
    (1, 32): ("2.1.0", "2.0.1"),
    (1, 33): ("2.1.0", "2.0.4"),
    (1, 34): ("2.1.3", "2.0.6"),
    (1, 35): ("2.2.0", "2.1.5"),
    (1, 36): ("2.3.0", "2.2.0"),
    (1, 37): ("2.4.0", "2.3.0"),
}
# The runc each containerd line is tested with (its script/setup/runc-version,
# in v2.1.9, v2.2.9, v2.3.7 and v2.4.2); docs/RUNC.md asks for that one or newer.
RUNC_TESTED = {"2.1": "1.3.6", "2.2": "1.3.6", "2.3": "1.5.2", "2.4": "1.5.2"}

# What the node base has from Debian forky (tasks/node/image.py, checked 2026-11).
DEBIAN_SUITE = "forky"
DEBIAN_CONTAINERD = "2.1.9"
DEBIAN_RUNC = "1.3.6"


@dataclass(frozen=True)
class Runtime:
    """A node's containerd and runc: Debian's from the node base (""), or
    built here from Go modules at these module versions."""

    containerd: str = ""
    runc: str = ""  # "" with a built containerd: Debian's runc suits it

    @property
    def built(self) -> bool:
        return bool(self.containerd)

    @property
    def containerd_version(self) -> str:
        return self.containerd.removeprefix("v") or DEBIAN_CONTAINERD

    @property
    def runc_version(self) -> str:
        return self.runc.removeprefix("v") or DEBIAN_RUNC

    def describe(self) -> str:
        def source(built: str) -> str:
            return "Go modules" if built else f"Debian {DEBIAN_SUITE}"

        if bool(self.containerd) == bool(self.runc):
            return f"containerd {self.containerd_version} and runc {self.runc_version} from {source(self.runc)}"
        return (
            f"containerd {self.containerd_version} from {source(self.containerd)}, "
            f"runc {self.runc_version} from {source(self.runc)}"
        )


DEBIAN = Runtime()
# containerd 2.3: a long-term release (supported to April 2028), listed for
# both 1.36 and 1.37, so one build serves both. It is tested with runc 1.5.2;
# Debian's 1.3.6 is older, so runc is built too.
CONTAINERD_2_3 = Runtime("v2.3.7", "v1.5.2")

# THE TABLE: what the nodes of each Kubernetes minor run. Debian's 2.1 where
# containerd's table lists 2.1 (up to 1.35), the one built here where it does
# not. A minor newer than these gets the newest one's.
RUNTIMES: dict[tuple[int, int], Runtime] = {
    (1, 31): DEBIAN,
    (1, 32): DEBIAN,
    (1, 33): DEBIAN,
    (1, 34): DEBIAN,
    (1, 35): DEBIAN,
    (1, 36): CONTAINERD_2_3,
    (1, 37): CONTAINERD_2_3,
}


def for_kubernetes(version: str) -> Runtime:
    """The containerd and runc the nodes of this Kubernetes version run (the
    settings refuse minors older than the table's)."""
    parsed = Version.parse(version)
    minor = min(max((parsed.major, parsed.minor), min(RUNTIMES)), max(RUNTIMES))
    return RUNTIMES[minor]


def runc_built_from() -> str:
    """The Kubernetes minors whose nodes get a runc built here, as "1.36+"."""
    major, minor = min(m for m, runtime in RUNTIMES.items() if runtime.runc)
    return f"{major}.{minor}+"


def supported(runtime: Runtime, minor: tuple[int, int]) -> bool:
    """Does containerd's table recommend this containerd for this Kubernetes minor?"""
    have = Version.parse(runtime.containerd_version)
    for lowest in SUPPORT_TABLE.get(minor, ()):
        wanted = Version.parse(lowest)
        if (have.major, have.minor) == (wanted.major, wanted.minor) and have >= wanted:
            return True
    return False


def runc_suits(runtime: Runtime, tested: str | None = None) -> bool:
    """Is the runc at least the one this containerd is tested with?"""
    have = Version.parse(runtime.containerd_version)
    tested = tested or RUNC_TESTED[f"{have.major}.{have.minor}"]
    return Version.parse(runtime.runc_version) >= Version.parse(tested)


# ---------------------------------------------------------------- building

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
RUNC_MODULE = "github.com/opencontainers/runc"
CONTAINERD_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr")
# Upstream's Makefile: urfave_cli_no_docs everywhere, no_grpc for the shim,
# osusergo netgo static_build for its static release. Ours are all static
# (CGO_ENABLED=0, which leaves btrfs out, as it needs cgo) and without the
# snapshotters a node never uses: it runs overlayfs (images/node/containerd.toml).
CONTAINERD_TAGS = ("urfave_cli_no_docs", "osusergo", "netgo", "static_build", "no_btrfs", "no_devmapper", "no_zfs")
SHIM_TAGS = (*CONTAINERD_TAGS, "no_grpc")
# runc needs cgo (its nsenter is C) and libseccomp for seccomp filters. Tags of
# upstream's `make static` less libpathrs, a Rust library no distribution ships
# (without it runc uses its own Go path-safety code, as its README says).
RUNC_TAGS = ("seccomp", "urfave_cli_no_docs", "netgo", "osusergo")
RUNC_BUILD_TOOLS = "apt-get install gcc libc6-dev pkg-config libseccomp-dev (scripts/setup.sh does it)"
# Changing how containerd or runc are built (a flag, a tag) bumps this.
RECIPE = "1"
TASK = "containerd"  # doit: containerd:containerd-<version>, containerd:runc-<version>


def root(version: str) -> Path:
    return cache_dir() / "containerd" / version


def binary(version: str, name: str) -> Path:
    return root(version) / name


def runc_binary(version: str) -> Path:
    return cache_dir() / "runc" / version / "runc"


def _module_dir(name: str, version: str) -> Path:
    return cache_dir() / "build" / f"{name}-{version}"


def _log(name: str, version: str, what: str) -> Path:
    return logs_dir() / f"{name}-{version}-{what}.log"


def containerd_ldflags(version: str) -> str:
    """Upstream's version stamps (its Makefile's GO_LDFLAGS): kubelet shows the
    version as the node's container runtime. The module proxy does not say
    which commit a release is, so the revision stays empty."""
    package = f"{CONTAINERD_MODULE}/version"
    return f"-s -w -X {package}.Version={version} -X {package}.Package={CONTAINERD_MODULE}"


def build_containerd(runtime: Runtime) -> None:
    version = runtime.containerd
    module_dir = _module_dir("containerd", version)
    facts = gobuild.module_facts(CONTAINERD_MODULE, version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "containerd.go.mod", {"version": version, "go": go})
    gobuild.tidy(module_dir, _log("containerd", version, "module"), f"containerd {version}")
    _check_runc(runtime, Path(facts["Dir"]) / "script" / "setup" / "runc-version")
    for name in CONTAINERD_BINARIES:
        gobuild.build(
            module_dir,
            f"{CONTAINERD_MODULE}/cmd/{name}",
            binary(version, name),
            _log("containerd", version, name),
            f"{name} {version}",
            ldflags=containerd_ldflags(version),
            tags=SHIM_TAGS if name == "containerd-shim-runc-v2" else CONTAINERD_TAGS,
        )
        check_version(binary(version, name), version)


def _check_runc(runtime: Runtime, runc_version_file: Path) -> None:
    """The runc this containerd release is tested with, as it says itself: ours
    must be that one or newer (a table here left behind by a new release)."""
    try:
        tested = runc_version_file.read_text().strip()
        Version.parse(tested)
    except (OSError, ValueError):
        return  # a commit, not a release (a pre-release of containerd): nothing to compare
    if not runc_suits(runtime, tested):
        raise UserError(
            f"containerd {runtime.containerd} is tested with runc {tested}, newer than runc "
            f"{runtime.runc_version} chosen in tasks/build/containerd.py: choose runc {tested} or newer there"
        )


def runc_build_problem() -> str | None:
    """What this machine lacks to build runc (the nodes' platform, a C compiler,
    libseccomp's static library and its pkg-config file), or None."""
    tools = {f"C compiler ({ctools.compiler()})": ctools.compiler(), "pkg-config": "pkg-config"}
    problem = platforms.foreign() or ctools.missing(tools)
    if problem:
        return problem
    libdir = ctools.ask(["pkg-config", "--variable=libdir", "libseccomp"])
    if libdir is None:
        return "no libseccomp development files here (pkg-config knows no libseccomp)"
    if not (Path(libdir) / "libseccomp.a").is_file():
        return f"no static libseccomp here ({libdir}/libseccomp.a)"
    return None


def build_runc(runtime: Runtime) -> None:
    version = runtime.runc
    # Without the C tools here (or without go), the build image on the engine has them.
    problem = runc_build_problem()
    on_engine = not gobuild.go_here() or problem is not None
    if on_engine:
        log.info("runc %s: built on the engine (%s)", version, problem or "no go here")
    module_dir = _module_dir("runc", version)
    facts = gobuild.module_facts(RUNC_MODULE, version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "runc.go.mod", {"version": version, "go": go})
    gobuild.tidy(module_dir, _log("runc", version, "module"), f"runc {version}")
    gobuild.build(
        module_dir,
        RUNC_MODULE,
        runc_binary(version),
        _log("runc", version, "runc"),
        f"runc {version}",
        # Static, so it runs on the node whatever C library the host has.
        ldflags="-s -w -extldflags -static",
        tags=RUNC_TAGS,
        env={"CGO_ENABLED": "1"},
        on_engine=on_engine,
    )
    out = run_built.output(runc_binary(version), ["--version"])
    if f"runc version {version.removeprefix('v')}" not in out or "libseccomp" not in out:
        raise UserError(f"runc {version} reports {' '.join(out.split())!r}: not that version with seccomp")


VERSION_FLAGS = {"containerd-shim-runc-v2": "-v"}


def check_version(path: Path, version: str) -> None:
    out = run_built.output(path, [VERSION_FLAGS.get(path.name, "--version")])
    if version not in out:
        raise UserError(f"{path.name} reports {' '.join(out.split())!r}, not {version}")


# ---------------------------------------------------------------- the node image and doit


def node_files(runtime: Runtime) -> tuple[oci.FileEntry, ...]:
    """The node image's layer of built binaries, at Debian's paths (its unit
    starts /usr/bin/containerd; /usr/bin/runc links to /usr/sbin/runc)."""
    if not runtime.built:
        return ()
    files = [
        oci.FileEntry(f"usr/bin/{name}", source=binary(runtime.containerd, name), mode=0o755)
        for name in CONTAINERD_BINARIES
    ]
    if runtime.runc:
        files.append(oci.FileEntry("usr/sbin/runc", source=runc_binary(runtime.runc), mode=0o755))
    return tuple(files)


def task_dicts(runtime: Runtime) -> list[dict]:
    """doit tasks: containerd, then runc, when this runtime builds them."""
    from tasks.taskkit import step  # here: taskkit imports the cluster modules, which import this one

    tasks = []
    if runtime.containerd:
        version = runtime.containerd
        tasks.append(
            {
                "basename": TASK,
                "name": f"containerd-{version}",
                "doc": f"containerd {version}: {', '.join(CONTAINERD_BINARIES)}",
                "actions": [(step(build_containerd), [runtime])],
                "file_dep": [str(gobuild.TEMPLATES / "containerd.go.mod")],
                "targets": [str(binary(version, name)) for name in CONTAINERD_BINARIES],
                "uptodate": [
                    config_changed(
                        {"recipe": RECIPE, "version": version, "runc": runtime.runc, **platforms.cache_key()}
                    )
                ],
                "meta": {"title": f"containerd {version} from Go modules"},
            }
        )
    if runtime.runc:
        version = runtime.runc
        tasks.append(
            {
                "basename": TASK,
                "name": f"runc-{version}",
                "doc": f"runc {version} for containerd {runtime.containerd}",
                "actions": [(step(build_runc), [runtime])],
                "file_dep": [str(gobuild.TEMPLATES / "runc.go.mod")],
                "targets": [str(runc_binary(version))],
                "uptodate": [config_changed({"recipe": RECIPE, "version": version, **platforms.cache_key()})],
                "meta": {"title": f"runc {version} from Go modules"},
            }
        )
    return tasks
