"""The conformance test images, each made by the recipe for its repository
(agnhost, busybox, glibc-dns-testing, nginx, httpd, ...) as `docker save`
archives written by our own code: the Go programs they carry (from the e2e
wrapper module, tasks/e2e/artifacts.py), the Debian bases under them, and
where each lands. tasks/e2e/artifacts.py decides which images a version
needs and builds them with these recipes.

Layout, beside the cluster's artifacts (ArtifactSet.root):
    e2e-bin/<program>      Go programs the test images carry (agnhost, nnp, ...)
    e2e-images-r<RECIPE>/<name>-<tag>.tar   test image archives (not in images/: the
                           node image preloads everything there)
and Debian bases of the test images in cache/debian/e2e-<base>-<suite>-r<RECIPE>.tar;
busybox (the busybox image's only program, built from source) in
cache/busybox/<version>/ (tasks/e2e/busybox.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.build import debian, gobuild, oci
from tasks.build.artifacts import ArtifactSet
from tasks.e2e import busybox
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
    busybox: bool = False  # carries busybox built from source (tasks/e2e/busybox.py), built first
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
    from source (tasks/e2e/busybox.py) with every applet in /bin, /usr/bin/env,
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
    return not_made_on_purpose(reference) or "no recipe for this image"


def not_made_on_purpose(reference: str) -> str | None:
    """Why we do not make this image on purpose (NOT_MADE), or None."""
    repository = split_reference(reference)[0]
    if repository in NOT_MADE:
        return NOT_MADE[repository]
    return next((why for prefix, why in NOT_MADE_PREFIXES.items() if repository.startswith(prefix)), None)
