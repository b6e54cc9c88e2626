"""The conformance test images, each made by the recipe for its repository
(agnhost, busybox, glibc-dns-testing, nginx, httpd, ...) as `docker save`
archives written by our own code, from the parts tasks/e2e/parts.py makes:
the Go programs they carry and the Debian bases under them.
tasks/e2e/artifacts.py decides which images a version needs and builds them
with these recipes.

Layout, beside the cluster's artifacts (ArtifactSet.root):
    e2e-images-r<RECIPE>/<name>-<tag>.tar   test image archives (not in images/: the
                           node image preloads everything there)
and the parts where tasks/e2e/parts.py says; busybox (the busybox image's
only program, built from source) in cache/busybox/<version>/
(tasks/e2e/busybox.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.build import oci
from tasks.build.artifacts import ArtifactSet
from tasks.e2e import busybox
from tasks.e2e.parts import (
    IMAGE_FILES,
    RECIPE,
    SUITE,
    base_path,
    etcd_program,
    kubernetes_facts,
    program_path,
)

# ---------------------------------------------------------------- where the images land


def archive_path(artifacts: ArtifactSet, reference: str) -> Path:
    """registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.2 -> e2e-images-r<RECIPE>/node-perf-npb-ep-1.2.tar"""
    repository, tag = split_reference(reference)
    path = repository.split("/", 1)[1] if "/" in repository else repository
    path = path.removeprefix("e2e-test-images/")
    # RECIPE in the directory: a changed recipe makes new archives, never reuses old ones.
    return artifacts.root / f"e2e-images-r{RECIPE}" / f"{path.replace('/', '-')}-{tag}.tar"


def split_reference(reference: str) -> tuple[str, str]:
    """registry.k8s.io/pause:3.10.1 -> (registry.k8s.io/pause, 3.10.1); a port is not a tag."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return repository, tag


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


def _agnhost_files(build: Build) -> oci.Layer:
    porter = "test/images/agnhost/porter"
    files = (
        build.program("agnhost", "agnhost"),
        # Entrypoint tests override the entrypoint with /agnhost-2.
        oci.FileEntry("agnhost-2", link="agnhost"),
        oci.FileEntry("localhost.crt", source=build.source(f"{porter}/localhost.crt")),
        oci.FileEntry("localhost.key", source=build.source(f"{porter}/localhost.key")),
        *_coredns(build),
    )
    return oci.Layer(files=files, directories=(("uploads", 0o755),))


def _agnhost_layers(build: Build) -> list[oci.Layer]:
    return [build.base("agnhost"), _agnhost_files(build)]


def _webserver_layers(picture: str) -> Callable[[Build], list[oci.Layer]]:
    """kitten and nautilus: agnhost (static: it runs on musl) on Alpine, as
    upstream's agnhost is (ImageVolume tests read kitten's /etc/os-release),
    plus a picture and data.json served by test-webserver."""

    def layers(build: Build) -> list[oci.Layer]:
        html = f"test/images/{picture}/html"
        files = (
            oci.FileEntry(f"{picture}.jpg", source=build.source(f"{html}/{picture}.jpg")),
            oci.FileEntry("data.json", source=build.source(f"{html}/data.json")),
        )
        return [build.base("alpine"), _agnhost_files(build), oci.Layer(files=files)]

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
        "alpine",
        ("agnhost",),
    ),
    E2E + "nautilus": Recipe(
        _webserver_layers("nautilus"),
        oci.ImageConfig(entrypoint=("/agnhost",), cmd=("test-webserver",)),
        "alpine",
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
