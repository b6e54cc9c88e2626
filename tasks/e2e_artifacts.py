"""What conformance tests need, with no registry and no release download:
e2e.test and the ginkgo CLI built from the Go module proxy, and the test
images (agnhost, busybox, jessie-dnsutils, nginx, httpd, ...) written as
`docker save` archives by our own code, tagged exactly as e2e.test names them
(so no KUBE_TEST_REPO_LIST is needed).

The list of images is e2e.test's own (`e2e.test --list-images`, saved as
e2e-images.json); each listed image is made by the recipe for its repository
(whatever its tag), provided by the cluster (pause), or reported missing.

Layout, beside the cluster's artifacts (ArtifactSet.root):
    e2e-module/            the wrapper module for e2e.test and the test programs
    bin/e2e.test, bin/ginkgo
    e2e-bin/<program>      Go programs the test images carry (agnhost, nnp, ...)
    e2e-images.json        what `e2e.test --list-images` says
    e2e-images-r<RECIPE>/<name>-<tag>.tar   test image archives (not in images/: the
                           node image preloads everything there)
and Debian bases of the test images in cache/debian/e2e-<base>-<suite>.tar;
busybox (the busybox image's only program, built from source) in
cache/busybox/<version>/ (tasks/busybox.py).

Typical order: prepare_e2e_module, build_e2e_test + build_ginkgo,
list_test_images, then build_test_images (or, step by step, the bases,
programs, busybox and images named by image_plan), then e2e_images for the report.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tasks import busybox, debian, e2e_needs, gobuild, oci
from tasks.artifacts import ArtifactSet, check_version
from tasks.commands import capture, run_logged
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir, replacing

# Changing how test artifacts are made bumps this (it is in every image's labels).
RECIPE = "4"
# Which test images are made: 2 added the repositories conformance tests name
# (e2e_needs), 3 the test etcd whatever the cluster's tag.
LISTING = "3"
SUITE = "trixie"  # Debian suite of the test images' bases
E2E_PACKAGE = "k8s.io/kubernetes/test/e2e"
GINKGO_MODULE = "github.com/onsi/ginkgo/v2"
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


def program_path(artifacts: ArtifactSet, name: str) -> Path:
    return artifacts.root / "e2e-bin" / name


def image_list_path(artifacts: ArtifactSet) -> Path:
    return artifacts.root / "e2e-images.json"


def archive_path(artifacts: ArtifactSet, reference: str) -> Path:
    """registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.2 -> e2e-images-r<RECIPE>/node-perf-npb-ep-1.2.tar"""
    repository, tag = split_reference(reference)
    path = repository.split("/", 1)[1] if "/" in repository else repository
    path = path.removeprefix("e2e-test-images/")
    # RECIPE in the directory: a changed recipe makes new archives, never reuses old ones.
    return artifacts.root / f"e2e-images-r{RECIPE}" / f"{path.replace('/', '-')}-{tag}.tar"


def base_path(name: str, suite: str = SUITE) -> Path:
    return cache_dir() / "debian" / f"e2e-{name}-{suite}-r{RECIPE}.tar"


def split_reference(reference: str) -> tuple[str, str]:
    """registry.k8s.io/pause:3.10.1 -> (registry.k8s.io/pause, 3.10.1); a port is not a tag."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return repository, tag


# ---------------------------------------------------------------- e2e.test and ginkgo


def e2e_module_values(version: str, upstream_go_mod: str) -> dict[str, str]:
    """The cluster's wrapper template (config/gomod/kubernetes.go.mod) with the
    test programs as its tools instead of the cluster's commands. e2e.test is
    no main package (it is `go test -c`), so it needs no line: its test-only
    imports are all in k8s.io/kubernetes' module graph, and GOFLAGS=-mod=mod
    records their checksums when it is built."""
    values = gobuild.kubernetes_module_values(version, upstream_go_mod)
    values["tools"] = "\n".join(f"\t{package}" for package in PROGRAMS.values())
    return values


def kubernetes_facts(artifacts: ArtifactSet) -> dict:
    """`go mod download -json k8s.io/kubernetes@version`: GoMod, Info and Dir (its sources)."""
    return gobuild.module_facts("k8s.io/kubernetes", artifacts.version, cache_dir())


def prepare_e2e_module(artifacts: ArtifactSet) -> None:
    """Write and tidy the e2e wrapper module (target: e2e-module/go.mod, go.sum, build-date)."""
    facts = kubernetes_facts(artifacts)
    module_dir = e2e_module_dir(artifacts)
    values = e2e_module_values(artifacts.version, Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "kubernetes.go.mod", values)
    gobuild.tidy(module_dir, artifacts.log("e2e-module"), f"the conformance tests of Kubernetes {artifacts.version}")
    # tidy keeps no checksums for e2e.test's test-only imports; listing them
    # records them now (GOFLAGS=-mod=mod), so the build leaves go.sum as it is
    # (go.sum stays a stable file_dep for doit).
    capture(["go", "list", "-test", "-deps", E2E_PACKAGE], env=gobuild.go_env(), cwd=module_dir)
    build_date = json.loads(Path(facts["Info"]).read_text()).get("Time", "1970-01-01T00:00:00Z")
    (module_dir / "build-date").write_text(build_date.replace(".000Z", "Z") + "\n")


def build_e2e_test(artifacts: ArtifactSet) -> float:
    """`go test -c` of k8s.io/kubernetes/test/e2e into bin/e2e.test, with upstream's
    version stamps (so `e2e.test --version` and the version skew check say the
    release) and tags; static. Returns the seconds the build took."""
    module_dir = e2e_module_dir(artifacts)
    build_date = (module_dir / "build-date").read_text().strip()
    target = artifacts.binary("e2e.test")
    with replacing(target) as partial:
        argv = [
            "go",
            "test",
            "-c",
            "-trimpath",
            "-tags",
            "selinux,notest",
            "-ldflags",
            gobuild.kubernetes_ldflags(artifacts.version, build_date),
            "-o",
            str(partial),
            E2E_PACKAGE,
        ]
        seconds = run_logged(
            argv,
            artifacts.log("e2e.test"),
            f"building e2e.test {artifacts.version}",
            env=gobuild.go_env(),
            cwd=module_dir,
        )
    check_version(artifacts, "e2e.test")  # `e2e.test --version` prints the version
    return seconds


def ginkgo_version(artifacts: ArtifactSet) -> str:
    """The ginkgo module version the e2e module resolves (what k8s.io/kubernetes requires)."""
    out = capture(
        ["go", "list", "-m", "-f", "{{.Version}}", GINKGO_MODULE], env=gobuild.go_env(), cwd=e2e_module_dir(artifacts)
    )
    return out.strip()


def build_ginkgo(artifacts: ArtifactSet) -> float:
    """The ginkgo CLI into bin/ginkgo, at the version e2e.test was built with."""
    module_dir = e2e_module_dir(artifacts)
    seconds = gobuild.build(
        module_dir, PROGRAMS["ginkgo"], artifacts.binary("ginkgo"), artifacts.log("ginkgo"), "ginkgo"
    )
    wanted = ginkgo_version(artifacts).removeprefix("v")
    out = capture([str(artifacts.binary("ginkgo")), "version"])
    if wanted not in out:
        raise UserError(f"ginkgo reports {out.strip()!r}, not {wanted}")
    return seconds


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

    def build(self, name: str, suite: str = SUITE) -> float:
        hook = IMAGE_FILES / self.hook if self.hook else None
        return debian.rootfs(
            suite,
            list(self.packages),
            base_path(name, suite),
            f"the {name} test image base ({suite})",
            variant=self.variant,
            extract_hook=hook if self.variant == "extract" else None,
            customize_hook=hook if self.variant != "extract" else None,
        )


BASES = {
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
    """BASES[name] into cache/debian/e2e-<name>-<suite>.tar."""
    return BASES[name].build(name, suite)


# ---------------------------------------------------------------- image recipes


@dataclass(frozen=True)
class Build:
    """What one image is made of, given the ArtifactSet and the image's tag."""

    artifacts: ArtifactSet
    tag: str
    suite: str = SUITE

    def base(self, name: str) -> oci.Layer:
        return oci.Layer(tar=base_path(name, self.suite))

    def program(self, name: str, path: str, mode: int = 0o755) -> oci.FileEntry:
        return oci.FileEntry(path, source=program_path(self.artifacts, name), mode=mode)

    def source(self, relative: str) -> Path:
        """A file of the k8s.io/kubernetes module (test/images/...)."""
        return Path(kubernetes_facts(self.artifacts)["Dir"]) / relative


@dataclass(frozen=True)
class Recipe:
    """How an image of one repository is made, whatever its tag."""

    layers: Callable[[Build], list[oci.Layer]]
    config: oci.ImageConfig
    base: str = ""  # a key of BASES, built first
    programs: tuple[str, ...] = ()  # keys of PROGRAMS, built first
    files: tuple[str, ...] = ()  # our files in images/e2e/ it carries (file dependencies)
    busybox: bool = False  # carries busybox built from source (tasks/busybox.py), built first
    conformance: bool = False  # [Conformance] tests use it
    notes: str = ""


def _coredns(build: Build) -> tuple[oci.FileEntry, ...]:
    """Upstream's agnhost and jessie-dnsutils carry /coredns (a DNS test runs it as a
    server with the hosts plugin): the cluster's CoreDNS, when it was built here."""
    coredns = build.artifacts.binary("coredns")
    return (oci.FileEntry("coredns", source=coredns, mode=0o755),) if coredns.exists() else ()


def _agnhost_layers(build: Build) -> list[oci.Layer]:
    porter = "test/images/agnhost/porter"
    files = (
        build.program("agnhost", "agnhost"),
        # Entrypoint tests override the entrypoint with /agnhost-2.
        oci.FileEntry("agnhost-2", link="agnhost"),
        oci.FileEntry("localhost.crt", source=build.source(f"{porter}/localhost.crt")),
        oci.FileEntry("localhost.key", source=build.source(f"{porter}/localhost.key")),
        *_coredns(build),
    )
    return [build.base("agnhost"), oci.Layer(files=files, directories=(("uploads", 0o755),))]


def _webserver_layers(picture: str) -> Callable[[Build], list[oci.Layer]]:
    """kitten and nautilus: agnhost plus a picture and data.json served by test-webserver."""

    def layers(build: Build) -> list[oci.Layer]:
        html = f"test/images/{picture}/html"
        files = (
            oci.FileEntry(f"{picture}.jpg", source=build.source(f"{html}/{picture}.jpg")),
            oci.FileEntry("data.json", source=build.source(f"{html}/data.json")),
        )
        return [*_agnhost_layers(build), oci.Layer(files=files)]

    return layers


def _busybox_layers(build: Build) -> list[oci.Layer]:
    """Upstream's image (docker-library's busybox, glibc variant): busybox built
    from source (tasks/busybox.py) with every applet in /bin, /usr/bin/env,
    buildroot's users and groups; no other program, no shared library."""
    files = (
        oci.FileEntry("bin/busybox", source=busybox.binary(), mode=0o755),
        *(oci.FileEntry(f"bin/{name}", link="busybox") for name in busybox.applets() if name != "busybox"),
        oci.FileEntry("usr/bin/env", link="../../bin/env"),
        oci.FileEntry("etc/passwd", source=IMAGE_FILES / "busybox" / "passwd"),
        oci.FileEntry("etc/group", source=IMAGE_FILES / "busybox" / "group"),
        # Static glibc reads it for names: /etc/hosts (which kubelet writes) first.
        oci.FileEntry("etc/nsswitch.conf", data=b"passwd: files\ngroup: files\nhosts: files dns\n"),
    )
    directories = (
        ("dev", 0o755),
        ("home", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("var/spool/mail", 0o755),
        ("var/www", 0o755),
    )
    return [oci.Layer(files=files, directories=directories)]


def _dnsutils_layers(build: Build) -> list[oci.Layer]:
    return [build.base("dnsutils"), oci.Layer(files=_coredns(build))]


def _nginx_layers(build: Build) -> list[oci.Layer]:
    conf = oci.FileEntry("etc/nginx/nginx.conf", source=IMAGE_FILES / "nginx" / "nginx.conf")
    return [build.base("nginx"), oci.Layer(files=(conf,))]


def _httpd_layers(build: Build) -> list[oci.Layer]:
    root = "usr/local/apache2"
    files = (
        oci.FileEntry(f"{root}/conf/httpd.conf", source=IMAGE_FILES / "httpd" / "httpd.conf"),
        oci.FileEntry(f"{root}/htdocs/index.html", source=IMAGE_FILES / "httpd" / "index.html"),
        oci.FileEntry("usr/local/bin/httpd-foreground", source=IMAGE_FILES / "httpd" / "httpd-foreground", mode=0o755),
        oci.FileEntry(f"{root}/bin/httpd", link="/usr/sbin/apache2"),
    )
    return [build.base("httpd"), oci.Layer(files=files, directories=((f"{root}/logs", 0o755),))]


def _debian_layers(build: Build) -> list[oci.Layer]:
    return [build.base("debian")]


def _nonewprivs_layers(build: Build) -> list[oci.Layer]:
    # setuid root: the test checks that no_new_privs keeps the effective uid.
    return [oci.minimal_root(), oci.Layer(files=(build.program("nnp", "usr/local/bin/nnp", mode=0o4755),))]


def _sample_apiserver_layers(build: Build) -> list[oci.Layer]:
    return [oci.minimal_root(), oci.Layer(files=(build.program("sample-apiserver", "sample-apiserver"),))]


def _etcd_layers(build: Build) -> list[oci.Layer]:
    files = tuple(
        oci.FileEntry(f"usr/local/bin/{name}", source=etcd_program(build.artifacts, build.tag, name), mode=0o755)
        for name in ("etcd", "etcdctl")
    )
    return [oci.minimal_root(), oci.Layer(files=files)]


def _resource_consumer_layers(build: Build) -> list[oci.Layer]:
    files = (build.program("consumer", "consumer"), build.program("consume-cpu", "consume-cpu/consume-cpu"))
    return [build.base("stress"), oci.Layer(files=files)]


def _regression_layers(build: Build) -> list[oci.Layer]:
    return [build.base("debian"), oci.Layer(files=(build.program("regression-issue-74839", "regression-issue-74839"),))]


AGNHOST_CONFIG = oci.ImageConfig(entrypoint=("/agnhost",), cmd=("pause",))
E2E = "registry.k8s.io/e2e-test-images/"
RECIPES: dict[str, Recipe] = {
    E2E + "agnhost": Recipe(_agnhost_layers, AGNHOST_CONFIG, "agnhost", ("agnhost",), conformance=True),
    E2E + "busybox": Recipe(
        _busybox_layers,
        oci.ImageConfig(cmd=("sh",)),
        files=("busybox/passwd", "busybox/group"),
        busybox=True,
        conformance=True,
        notes=f"busybox {busybox.VERSION} built from source, whatever the tag",
    ),
    E2E + "jessie-dnsutils": Recipe(_dnsutils_layers, oci.ImageConfig(cmd=("bash",)), "dnsutils", conformance=True),
    # jessie-dnsutils renamed in 1.35 (test/images/glibc-dns-testing: the same
    # Dockerfile, dnsutils and CoreDNS on Debian): the DNS tests' glibc prober.
    E2E + "glibc-dns-testing": Recipe(_dnsutils_layers, oci.ImageConfig(cmd=("bash",)), "dnsutils", conformance=True),
    E2E + "nginx": Recipe(
        _nginx_layers,
        oci.ImageConfig(cmd=("nginx", "-g", "daemon off;")),
        "nginx",
        files=("nginx/nginx.conf",),
        conformance=True,
    ),
    E2E + "httpd": Recipe(
        _httpd_layers,
        # SIGWINCH: Apache's graceful stop, as upstream's image.
        oci.ImageConfig(cmd=("httpd-foreground",), stop_signal="SIGWINCH"),
        "httpd",
        files=("httpd/httpd.conf", "httpd/index.html", "httpd/httpd-foreground"),
        conformance=True,
    ),
    E2E + "kitten": Recipe(
        _webserver_layers("kitten"),
        oci.ImageConfig(entrypoint=("/agnhost",), cmd=("test-webserver",)),
        "agnhost",
        ("agnhost",),
    ),
    E2E + "nautilus": Recipe(
        _webserver_layers("nautilus"),
        oci.ImageConfig(entrypoint=("/agnhost",), cmd=("test-webserver",)),
        "agnhost",
        ("agnhost",),
        conformance=True,  # kubectl's Update Demo
    ),
    E2E + "nonewprivs": Recipe(_nonewprivs_layers, oci.ImageConfig(cmd=("nnp",)), programs=("nnp",), conformance=True),
    E2E + "nonroot": Recipe(_debian_layers, oci.ImageConfig(user="1234"), "debian"),
    E2E + "ipc-utils": Recipe(_debian_layers, oci.ImageConfig(cmd=("sh",)), "debian"),
    E2E + "sample-apiserver": Recipe(
        _sample_apiserver_layers,
        oci.ImageConfig(entrypoint=("/sample-apiserver",)),
        programs=("sample-apiserver",),
        conformance=True,
        notes="k8s.io/sample-apiserver at the release's staging version, not the tag's",
    ),
    "registry.k8s.io/etcd": Recipe(_etcd_layers, oci.ImageConfig(), conformance=True),  # with the sample API server
    E2E + "resource-consumer": Recipe(
        _resource_consumer_layers,
        oci.ImageConfig(entrypoint=("/consumer",)),
        "stress",
        ("consumer", "consume-cpu"),
    ),
    E2E + "regression-issue-74839": Recipe(
        _regression_layers,
        oci.ImageConfig(entrypoint=("/regression-issue-74839",)),
        "debian",
        ("regression-issue-74839",),
    ),
}
# Why the rest are not made (the report prints these with the missing names).
NOT_MADE = {
    "gcr.io/k8s-authenticated-test/agnhost": "needs registry credentials on purpose (private-registry tests)",
    "gcr.io/authenticated-image-pulling/alpine": "needs registry credentials on purpose (image pull tests)",
    "invalid.registry.k8s.io/invalid/alpine": "must not exist (failed-pull tests)",
    E2E + "volume/nfs": "an NFS server needs the kernel's nfsd in the node",
    E2E + "volume/iscsi": "an iSCSI target needs kernel modules the nodes lack",
    "registry.k8s.io/sig-storage/nfs-provisioner": "an NFS server needs the kernel's nfsd in the node",
    E2E + "node-perf/npb-ep": "node performance benchmarks (NAS Parallel Benchmarks), not built",
    E2E + "node-perf/npb-is": "node performance benchmarks (NAS Parallel Benchmarks), not built",
    E2E + "node-perf/tf-wide-deep": "node performance benchmark (TensorFlow), not built",
    E2E + "apparmor-loader": "AppArmor tests only; not built",
    E2E + "perl": "no e2e test of this release uses it",
    "registry.k8s.io/build-image/distroless-iptables": "kube-proxy tests only; not built",
}
NOT_MADE_PREFIXES = {
    "registry.k8s.io/sig-storage/": "CSI driver and sidecar images (storage tests), other modules; not built",
    "registry.k8s.io/cloud-provider-gcp/": "a cloud provider's CSI driver; not built",
}


def recipe_for(reference: str) -> Recipe | None:
    return RECIPES.get(split_reference(reference)[0])


def why_not_made(reference: str) -> str:
    return _not_made_on_purpose(reference) or "no recipe for this image"


def _not_made_on_purpose(reference: str) -> str | None:
    """Why we do not make this image on purpose (NOT_MADE), or None."""
    repository = split_reference(reference)[0]
    if repository in NOT_MADE:
        return NOT_MADE[repository]
    return next((why for prefix, why in NOT_MADE_PREFIXES.items() if repository.startswith(prefix)), None)


# ---------------------------------------------------------------- the list, plans and builds


def list_test_images(artifacts: ArtifactSet) -> list[str]:
    """`e2e.test --list-images` (every image any e2e test uses), sorted, into
    e2e-images.json, with the repositories the version's conformance tests name."""
    out = capture([str(artifacts.binary("e2e.test")), "--list-images"])
    images = parse_image_list(out)
    conformance = e2e_needs.conformance_repositories(Path(kubernetes_facts(artifacts)["Dir"]))
    listing = {"images": images, "conformance": conformance}
    image_list_path(artifacts).write_text(json.dumps(listing, indent=2) + "\n")
    return images


def parse_image_list(out: str) -> list[str]:
    """e2e.test prints one reference a line, in map order: sorted, without duplicates."""
    return sorted({line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()})


def listed_images(artifacts: ArtifactSet) -> list[str]:
    return json.loads(image_list_path(artifacts).read_text())["images"]


def conformance_listed(artifacts: ArtifactSet) -> frozenset[str]:
    """The repositories the version's conformance tests name (e2e_needs)."""
    return frozenset(json.loads(image_list_path(artifacts).read_text()).get("conformance", ()))


def for_conformance(reference: str, conformance: frozenset[str] = frozenset()) -> bool:
    """Used by a conformance test: the version's sources say so, or our recipe does."""
    recipe = recipe_for(reference)
    return split_reference(reference)[0] in conformance or (recipe is not None and recipe.conformance)


def cluster_images(artifacts: ArtifactSet) -> set[str]:
    """Images every node already holds (kubeadm's list: pause, kube-proxy). Not
    etcd and the control plane's: only the master has them, and test pods run
    on the workers (1.37's test etcd is the cluster's own tag, 3.7.0-0)."""
    from tasks.node_image import MASTER_ONLY_IMAGES

    try:
        return {ref for name, ref in artifacts.images().items() if name not in MASTER_ONLY_IMAGES}
    except (OSError, ValueError, KeyError):
        return set()


@dataclass(frozen=True)
class ImagePlan:
    """One test image to make: its archive (target) and what it is made from."""

    reference: str
    archive: Path
    recipe: Recipe
    bases: tuple[Path, ...] = ()  # Debian base tars (build_base)
    programs: tuple[Path, ...] = ()  # Go programs (build_program, or build_test_etcd for etcd), busybox
    files: tuple[Path, ...] = field(default=())  # our files under images/e2e/

    @property
    def file_deps(self) -> list[Path]:
        return [*self.bases, *self.programs, *self.files]

    def outdated(self) -> bool:
        """No archive yet, or one older than an input (busybox rebuilt for a new recipe)."""
        if not self.archive.exists():
            return True
        made = self.archive.stat().st_mtime
        return any(path.exists() and path.stat().st_mtime > made for path in self.file_deps)


def image_plan(artifacts: ArtifactSet, images: list[str], suite: str = SUITE) -> list[ImagePlan]:
    """For each listed image we have a recipe for (and the cluster does not already
    provide): its archive and the inputs a doit task would name as file_dep.
    CoreDNS (optional, for /coredns in agnhost and jessie-dnsutils) is not among them."""
    plans = []
    provided = cluster_images(artifacts)
    for reference in images:
        recipe = recipe_for(reference)
        if recipe is None or reference in provided:
            continue
        if split_reference(reference)[0] == "registry.k8s.io/etcd":
            tag = split_reference(reference)[1]
            programs = tuple(etcd_program(artifacts, tag, name) for name in ("etcd", "etcdctl"))
        else:
            programs = tuple(program_path(artifacts, name) for name in recipe.programs)
        if recipe.busybox:
            programs += (busybox.binary(), busybox.applets_path())
        plans.append(
            ImagePlan(
                reference,
                archive_path(artifacts, reference),
                recipe,
                bases=(base_path(recipe.base, suite),) if recipe.base else (),
                programs=programs,
                files=tuple(IMAGE_FILES / name for name in recipe.files),
            )
        )
    return plans


def build_test_image(artifacts: ArtifactSet, reference: str, suite: str = SUITE) -> str:
    """Write the archive of one test image (its base and programs must exist);
    return its image ID."""
    recipe = recipe_for(reference)
    if recipe is None:
        raise UserError(f"no recipe for the test image {reference}: {why_not_made(reference)}")
    build = Build(artifacts, split_reference(reference)[1], suite)
    config = recipe.config
    config = oci.ImageConfig(
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        env=config.env,
        user=config.user,
        workdir=config.workdir,
        stop_signal=config.stop_signal,
        # The reference in a label: two tags of one recipe (httpd 2.4.38-4 and
        # 2.4.39-4) are then two images, as the rolling-update tests expect.
        labels={
            "io.kubeadm-local-cluster.built-from": "source",
            "io.kubeadm-local-cluster.recipe": RECIPE,
            "io.kubeadm-local-cluster.test-image": reference,
        },
    )
    arch = gobuild.go_env()["GOARCH"]
    return oci.write_image(archive_path(artifacts, reference), [reference], recipe.layers(build), config, arch)


def build_test_images(
    artifacts: ArtifactSet, suite: str = SUITE, force: bool = False, conformance_only: bool = False
) -> E2EImages:
    """Everything e2e_images reports, made in order: bases, programs, busybox,
    archives. Whatever exists is kept unless force (doit tasks can use the finer
    steps instead); an archive older than one of its inputs is made again."""
    plans = image_plan(artifacts, listed_images(artifacts), suite)
    conformance = conformance_listed(artifacts)
    plans = [plan for plan in plans if for_conformance(plan.reference, conformance) or not conformance_only]
    for name in sorted({plan.recipe.base for plan in plans if plan.recipe.base}):
        if force or not base_path(name, suite).exists():
            build_base(name, suite)
    for name in sorted({program for plan in plans for program in plan.recipe.programs}):
        if force or not program_path(artifacts, name).exists():
            build_program(artifacts, name)
    if any(plan.recipe.busybox for plan in plans) and (
        force or not (busybox.binary().exists() and busybox.applets_path().exists())
    ):
        busybox.build()
    for plan in plans:
        if split_reference(plan.reference)[0] == "registry.k8s.io/etcd" and (
            force or not all(p.exists() for p in plan.programs)
        ):
            build_test_etcd(artifacts, split_reference(plan.reference)[1])
        if force or plan.outdated():
            build_test_image(artifacts, plan.reference, suite)
    return e2e_images(artifacts)


class E2EImages(NamedTuple):
    """What the e2e report prints: archives to load into the nodes, and images the
    tests may ask for that no node has (each with why; Conformance ones first)."""

    archives: list[Path]
    missing: list[str]


def e2e_images(artifacts: ArtifactSet, conformance_only: bool = False) -> E2EImages:
    """The test image archives made so far (those Conformance tests use, if
    conformance_only), and the listed images that are neither made nor
    preloaded by the cluster (pause is: the node image carries it)."""
    provided = cluster_images(artifacts)
    conformance = conformance_listed(artifacts)
    archives, missing = [], []
    for reference in listed_images(artifacts):
        archive = archive_path(artifacts, reference)
        recipe = recipe_for(reference)
        if recipe is not None and conformance_only and not for_conformance(reference, conformance):
            continue
        if recipe is not None and archive.exists():
            archives.append(archive)
        elif reference not in provided:
            missing.append(reference)
    return E2EImages(archives, missing)


def combine_archives(archives: list[Path], target: Path) -> None:
    """One `docker save` archive holding every image of archives, each layer once.

    The test images share large layers (agnhost's base in kitten and nautilus,
    one base under both httpd and both nginx tags): copying one combined
    archive into a node moves ~1 GB less than copying them one by one, and
    `ctr images import` and `docker load` read it the same way."""
    manifest: list[dict] = []
    for archive in archives:
        with tarfile.open(archive) as source:
            manifest.extend(json.load(source.extractfile("manifest.json")))
    payload = json.dumps(manifest).encode()
    info = tarfile.TarInfo("manifest.json")
    info.size, info.mode = len(payload), 0o644
    seen: set[str] = set()
    with (
        replacing(target) as partial,
        tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as out,
    ):
        out.addfile(info, io.BytesIO(payload))  # first, as in the archives oci.write_image makes
        for archive in archives:
            with tarfile.open(archive) as source:
                for member in source:
                    # Layers and configs are named by their digests: same name, same bytes.
                    if member.name in ("manifest.json", "repositories") or member.name in seen:
                        continue
                    seen.add(member.name)
                    out.addfile(member, source.extractfile(member) if member.isfile() else None)


def missing_report(missing: list[str], conformance: frozenset[str] = frozenset()) -> list[str]:
    """One line per missing image: the reference and why (those Conformance tests
    use first). An image that is not made on purpose (NOT_MADE: credentials,
    kernel features) is not "needed": the tests that use it are not conformance
    tests, even when they share a file with one."""
    needed = [ref for ref in missing if for_conformance(ref, conformance) and not _not_made_on_purpose(ref)]
    lines = [f"{ref}: needed by Conformance tests, not made here ({why_not_made(ref)})" for ref in needed]
    lines += [f"{ref}: {why_not_made(ref)}" for ref in missing if ref not in needed]
    return lines
