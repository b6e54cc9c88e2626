"""What the conformance test images are made of, and where each part lands:
the Go programs they carry (from the e2e wrapper module, tasks/e2e/artifacts.py;
the test etcd from a module of its own) and the Debian bases under them.
tasks/e2e/recipes.py puts them together into images.

Layout, beside the cluster's artifacts (ArtifactSet.root):
    e2e-bin/<program>      Go programs the test images carry (agnhost, nnp, ...)
and Debian bases of the test images in cache/debian/e2e-<base>-<suite>-r<RECIPE>.tar.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.build import debian, gobuild
from tasks.build.artifacts import ArtifactSet
from tasks.e2e import alpine
from tasks.paths import IMAGES_DIR, cache_dir

# Changing how test artifacts are made bumps this (it is in every image's labels).
RECIPE = "4"
SUITE = "trixie"  # Debian suite of the test images' bases
IMAGE_FILES = IMAGES_DIR / "e2e"
# Main packages of the e2e wrapper module, by the name of the binary they make.
# All come from module versions k8s.io/kubernetes pins: ginkgo at the version
# its go.mod requires, the test images' programs from the release itself, and
# k8s.io/sample-apiserver at the release's staging version (v0.Y.Z).
PROGRAMS = {
    "ginkgo": "github.com/onsi/ginkgo/v2/ginkgo",
    "agnhost": "k8s.io/kubernetes/test/images/agnhost",
    "nnp": "k8s.io/kubernetes/test/images/nonewprivs",
    "sample-apiserver": "k8s.io/sample-apiserver",
    "consumer": "k8s.io/kubernetes/test/images/resource-consumer",
    "consume-cpu": "k8s.io/kubernetes/test/images/resource-consumer/consume-cpu",
    "regression-issue-74839": "k8s.io/kubernetes/test/images/regression-issue-74839",
}


# ---------------------------------------------------------------- where things are


def e2e_module_dir(artifacts: ArtifactSet) -> Path:
    """A module of its own: the cluster's wrapper module (module/) stays as it is."""
    return artifacts.root / "e2e-module"


def kubernetes_facts(artifacts: ArtifactSet) -> dict:
    """`go mod download -json k8s.io/kubernetes@version`: GoMod, Info and Dir (its sources)."""
    return gobuild.module_facts("k8s.io/kubernetes", artifacts.version, cache_dir())


def program_path(artifacts: ArtifactSet, name: str) -> Path:
    return artifacts.root / "e2e-bin" / name


def base_path(name: str, suite: str = SUITE) -> Path:
    """Where BASES[name] lands: each kind of base says."""
    return BASES[name].path(name, suite)


# ---------------------------------------------------------------- the test images' programs


def program_ldflags(artifacts: ArtifactSet, name: str) -> str:
    """agnhost reports its image version (upstream's Makefile sets main.Version from its VERSION file)."""
    if name != "agnhost":
        return "-s -w"
    version_file = Path(kubernetes_facts(artifacts)["Dir"]) / "test" / "images" / "agnhost" / "VERSION"
    return f"-s -w -X main.Version={version_file.read_text().strip()}"


def build_program(artifacts: ArtifactSet, name: str) -> float:
    """One of PROGRAMS (other than ginkgo) into e2e-bin/<name>, static."""
    return gobuild.build(
        e2e_module_dir(artifacts),
        PROGRAMS[name],
        program_path(artifacts, name),
        artifacts.log(f"e2e-{name}"),
        f"{name} (test image program)",
        ldflags=program_ldflags(artifacts, name),
    )


def etcd_program(artifacts: ArtifactSet, tag: str, name: str) -> Path:
    return program_path(artifacts, f"{name}-{etcd_version(tag)}")


def etcd_version(tag: str) -> str:
    return "v" + tag.split("-")[0]  # image tag 3.6.4-0 -> v3.6.4


def build_test_etcd(artifacts: ArtifactSet, tag: str) -> None:
    """etcd at the version the tests' etcd image names (the sample API server test
    runs it beside the server); like the cluster's, from a wrapper module."""
    version = etcd_version(tag)
    module_dir = cache_dir() / "build" / f"etcd-{version}"
    facts = gobuild.module_facts("go.etcd.io/etcd/server/v3", version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "etcd.go.mod", {"version": version, "go": go})
    gobuild.tidy(module_dir, artifacts.log(f"etcd-{version}-module"), f"etcd {version}")
    for name, package in (("etcd", "go.etcd.io/etcd/server/v3"), ("etcdctl", "go.etcd.io/etcd/etcdctl/v3")):
        gobuild.build(module_dir, package, etcd_program(artifacts, tag, name), artifacts.log(f"{name}-{version}"), name)


# ---------------------------------------------------------------- Debian bases


@dataclass(frozen=True)
class DebianBase:
    """A root filesystem by mmdebstrap. minbase has a shell, coreutils and dpkg, as the
    tests expect of images they `sh -c` in; extract only unpacks."""

    packages: tuple[str, ...]
    variant: str = "minbase"
    hook: str = ""  # a script in images/e2e/: customize hook (minbase) or extract hook

    def path(self, name: str, suite: str = SUITE) -> Path:
        return cache_dir() / "debian" / f"e2e-{name}-{suite}-r{RECIPE}.tar"

    def build(self, name: str, suite: str = SUITE) -> float:
        hook = IMAGE_FILES / self.hook if self.hook else None
        return debian.rootfs(
            suite,
            list(self.packages),
            self.path(name, suite),
            f"the {name} test image base ({suite})",
            variant=self.variant,
            extract_hook=hook if self.variant == "extract" else None,
            customize_hook=hook if self.variant != "extract" else None,
        )


@dataclass(frozen=True)
class AlpineBase:
    """Alpine's minirootfs (tasks/e2e/alpine.py), for the images upstream makes
    on Alpine whose tests look at it (kitten's /etc/os-release)."""

    hook: str = ""  # none: the files are Alpine's as apk installed them

    def path(self, name: str, suite: str = SUITE) -> Path:
        return alpine.path()  # not Debian: no suite

    def build(self, name: str, suite: str = SUITE) -> float:
        return alpine.build().stat().st_mtime


BASES = {
    "alpine": AlpineBase(),
    # Upstream's agnhost Dockerfile: bind-tools, curl, netcat-openbsd, iproute2,
    # iperf, bash; busybox for the Alpine applets tests exec (wget, ...).
    "agnhost": DebianBase(
        ("bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "iperf", "bash", "busybox", "ca-certificates"),
        hook="agnhost/customize-hook.sh",
    ),
    "dnsutils": DebianBase(("bind9-dnsutils",)),  # the DNS tests run dig in jessie-dnsutils
    "nginx": DebianBase(("nginx",)),
    "httpd": DebianBase(("apache2-bin", "media-types")),
    "debian": DebianBase(("util-linux",)),  # nonroot (upstream: debian-base), ipc-utils (ipcmk, ipcs)
    "stress": DebianBase(("stress",)),  # resource-consumer consumes memory with stress
}


def build_base(name: str, suite: str = SUITE) -> float:
    """BASES[name] into base_path(name, suite)."""
    return BASES[name].build(name, suite)
