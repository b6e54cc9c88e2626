"""The programs `up` puts beside admin.conf run on this machine, not on the
nodes: kubectl and helm are made for this machine's platform.

helm runs nowhere else, so it is only ever built for this machine
(tasks/build/helm.py). kubectl runs on the nodes too: when this machine is
not of the nodes' platform (a Mac, or a laptop of another architecture than
the engine's; tasks/build/platforms.py), a second kubectl is made, for it:

- built from the Kubernetes version's wrapper module, the one the nodes'
  kubectl came from, with this machine's GOOS and GOARCH;
- with a release site, that release's kubectl for this platform (checked
  against the sha256 the release publishes);
- from a tree or a URL (the user's Linux binaries): none; `up` says so.

A program made for another platform cannot be run to check it where it may
be checked, so it is checked by its header (an executable of this
platform's format and architecture) and by the build information Go writes
into it (the module and version it was built from, its GOOS and GOARCH).
The version stamps (-X) are not in that information (a -trimpath build
leaves its linker flags out).

Layout: cache/kubernetes/<version>/client/<goos>-<goarch>/kubectl
"""

from __future__ import annotations

from pathlib import Path

from tasks.build import artifacts as art
from tasks.build import gobuild, platforms, run_built
from tasks.errors import UserError
from tasks.paths import replacing

MACHO_CPU_TYPES = {"amd64": 0x01000007, "arm64": 0x0100000C}  # CPU_TYPE_X86_64, CPU_TYPE_ARM64
MACHO_64 = b"\xcf\xfa\xed\xfe"  # MH_MAGIC_64, little-endian


def platform_name(goos_goarch: tuple[str, str]) -> str:
    return "-".join(goos_goarch)


def needs_own_kubectl() -> bool:
    """Is this machine of another platform than the nodes, whose kubectl it cannot run?"""
    return platforms.foreign() is not None


def kubectl_binary(artifacts: art.ArtifactSet) -> Path:
    return artifacts.root / "client" / platform_name(platforms.this_machine()) / "kubectl"


def kubectl_source(artifacts: art.ArtifactSet, settings) -> art.Source | None:
    """Where this machine's kubectl comes from: the modules or the release of
    the nodes' kubectl; None for a tree's or a URL's (Linux binaries only)."""
    source = art.binary_source(settings, "kubectl")
    return source if source.kind in ("modules", "release") else None


def kubectl_for_this_machine(artifacts: art.ArtifactSet, settings) -> Path | None:
    """The kubectl to put beside admin.conf: the nodes' one when this machine
    can run it, else this machine's own (None when none can be made)."""
    if not needs_own_kubectl():
        return artifacts.binary("kubectl")
    return kubectl_binary(artifacts) if kubectl_source(artifacts, settings) is not None else None


def build_kubectl(artifacts: art.ArtifactSet, source: art.Source) -> None:
    goos, goarch = platforms.this_machine()
    target = kubectl_binary(artifacts)
    what = f"kubectl {artifacts.version} for {goos}/{goarch}"
    if source.kind == "release":
        fetched = art.fetch_released(source.detail, artifacts.version, "kubectl", (goos, goarch))
        with replacing(target) as partial:
            partial.write_bytes(fetched.read_bytes())
            partial.chmod(0o755)
    else:
        build_date = (artifacts.module_dir / "build-date").read_text().strip()
        gobuild.build(
            artifacts.module_dir,
            "k8s.io/kubernetes/cmd/kubectl",
            target,
            artifacts.log(f"kubectl-{goos}-{goarch}"),
            what,
            ldflags=gobuild.kubernetes_ldflags(artifacts.version, build_date),
            tags=("notest",),
            env={"GOOS": goos, "GOARCH": goarch},
        )
    check_executable(target, (goos, goarch), ("k8s.io/kubernetes", artifacts.version), what)


def check_executable(program: Path, goos_goarch: tuple[str, str], module: tuple[str, str], what: str) -> None:
    """PROGRAM must be an executable of GOOS/GOARCH built from MODULE (path, version)."""
    goos, goarch = goos_goarch
    data = program.read_bytes()
    if goos == "darwin":
        fits = data[:4] == MACHO_64 and int.from_bytes(data[4:8], "little") == MACHO_CPU_TYPES.get(goarch)
    else:
        fits = data[:4] == b"\x7fELF" and run_built.ELF_MACHINES.get(int.from_bytes(data[18:20], "little")) == goarch
    said = [f"\nbuild\tGOOS={goos}\n", f"\nbuild\tGOARCH={goarch}\n"]  # Go's build information
    if not fits or not all(line.encode() in data for line in said):
        raise UserError(f"the {what} just made is not a {goos}/{goarch} program: {program}")
    if f"\nmod\t{module[0]}\t{module[1]}\t".encode() not in data:
        raise UserError(f"the {what} just made is not built from {module[0]} {module[1]}: {program}")


def task_dict(artifacts: art.ArtifactSet, settings) -> dict:
    """The doit task that makes this machine's kubectl (none when it runs the nodes')."""
    from doit.tools import config_changed

    from tasks.taskkit import recipe, step

    source = kubectl_source(artifacts, settings) if needs_own_kubectl() else None
    goos_goarch = platforms.this_machine()
    task = {
        "basename": "client-kubectl",
        "doc": "kubectl for this machine, when it cannot run the nodes' (a Mac, another architecture)",
        "meta": {"title": f"kubectl {artifacts.version} for {'/'.join(goos_goarch)}"},
    }
    if source is None:
        return {**task, "actions": None}
    return {
        **task,
        "actions": [(step(build_kubectl), [artifacts, source])],
        "file_dep": [str(artifacts.module_dir / "go.sum")] if source.kind == "modules" else [],
        "targets": [str(kubectl_binary(artifacts))],
        "uptodate": [config_changed(recipe(version=artifacts.version, source=source.kind, site=source.detail))],
    }
