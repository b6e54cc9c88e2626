"""Kubernetes artifacts: kubeadm, kubelet, kubectl, the control-plane images
and what they need (etcd, CoreDNS, pause, crictl), in the cache.

Where each binary comes from is a setting: the Go module proxy (the default,
and the only way on a machine that reaches no release site), a URL with a
checksum, or a Kubernetes source tree. Images are written as archives by our
own code (tasks/build/oci.py), tagged exactly as the chosen kubeadm asks, with no
engine and no registry.

Layout: ~/.kubeadm-local-cluster/cache/kubernetes/<version>/
    module/           the generated wrapper module (go.mod, go.sum)
    bin/<name>        binaries
    images.json       what `kubeadm config images list` says
    images/<name>.tar image archives
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import requests

from tasks.build import debian, gobuild, oci, platforms, run_built
from tasks.commands import capture, run_logged
from tasks.download import fetch
from tasks.engine import Engine
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir, logs_dir, replacing
from tasks.settings import Settings
from tasks.versions import STABLE_RE, Version

# Changing how artifacts are made (a template, a flag) bumps this, so caches rebuild.
RECIPE = "1"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
SERVER_BINARIES = ("kubelet", *CONTROL_PLANE, "kube-proxy")  # "hyperkube" in the design's words
IMAGE_BINARIES = {
    "kube-apiserver": ("kube-apiserver",),
    "kube-controller-manager": ("kube-controller-manager",),
    "kube-scheduler": ("kube-scheduler",),
    "kube-proxy": ("kube-proxy",),
    "etcd": ("etcd", "etcdctl"),
    "coredns": ("coredns",),
    "pause": ("pause",),
}
ENTRYPOINTS = {"coredns": ("/usr/local/bin/coredns",), "pause": ("/usr/local/bin/pause",)}
# Unpacked only (mmdebstrap's extract variant, 11 MB): kube-proxy execs these
# tools and needs no shell; images/kube-proxy-base/extract-hook.sh does what
# the packages' scripts would have.
KUBE_PROXY_PACKAGES = ["base-files", "iptables", "nftables", "conntrack", "ipset"]
KUBE_PROXY_HOOK = IMAGES_DIR / "kube-proxy-base" / "extract-hook.sh"


@dataclass(frozen=True)
class Source:
    kind: str  # "modules", "url", "release", "tree" or "engine" (the tree, built on the engine)
    detail: str = ""  # the URL, or the tree's path
    checksum: str = ""

    def describe(self) -> str:
        return {
            "modules": "Go modules",
            "url": self.detail,
            "tree": f"the tree {self.detail}",
            "engine": f"the tree {self.detail}, built on the engine",
            "release": f"the release at {self.detail}",
        }[self.kind]


def binary_source(settings: Settings, name: str) -> Source:
    source = settings.source
    group = "kubeadm" if name == "kubeadm" else "kubectl" if name == "kubectl" else "hyperkube"
    if getattr(source, f"build_{group}") or (name == "kubelet" and source.build_kubelet):
        return Source("engine" if source.build_in == "engine" else "tree", source.k8s_dir)
    url = getattr(source, f"{group}_url")
    if url:
        return Source("url", url, getattr(source, f"{group}_sha1"))
    if source.release_site:
        return Source("release", source.release_site.rstrip("/"))
    return Source("modules")


# ---------------------------------------------------------------- the release


def release_url(site: str, version: str, name: str, goos_goarch: tuple[str, str] | None = None) -> str:
    """A file of the release for GOOS/GOARCH (the nodes' platform unless given)."""
    goos, goarch = goos_goarch or platforms.nodes_platform()
    return f"{site}/{version}/bin/{goos}/{goarch}/{name}"


def fetch_released(site: str, version: str, name: str, goos_goarch: tuple[str, str] | None = None) -> Path:
    """A file of the release, verified against the sha256 the release publishes beside it."""
    url = release_url(site, version, name, goos_goarch)
    (cache_dir() / "downloads").mkdir(parents=True, exist_ok=True)
    try:
        response = requests.get(f"{url}.sha256", timeout=(10, 60))
        response.raise_for_status()
    except requests.RequestException as err:
        raise UserError(f"cannot get the checksum {url}.sha256: {err}") from None
    digest = response.text.split()[0].strip().lower() if response.text.strip() else ""
    if len(digest) != 64:
        raise UserError(f"{url}.sha256 holds no sha256 digest")
    return fetch(url, digest, cache_dir() / "downloads" / digest)


def download_released_binary(artifacts: ArtifactSet, name: str, source: Source) -> None:
    _install(fetch_released(source.detail, artifacts.version, name), artifacts.binary(name))
    check_version(artifacts, name)


def download_released_image(artifacts: ArtifactSet, component: str, site: str) -> None:
    """The release's image archive, tagged as kubeadm asks (the release tags it NAME-ARCH)."""
    downloaded = fetch_released(site, artifacts.version, f"{component}.tar")
    oci.retag(downloaded, artifacts.image(component), [artifacts.images()[component]])


def save_engine_image(artifacts: ArtifactSet, component: str) -> None:
    """etcd, CoreDNS and pause are not in the release: from the engine, pre-loaded or pulled."""
    Engine.connect().save_image(artifacts.images()[component], artifacts.image(component))


@dataclass(frozen=True)
class ArtifactSet:
    version: str

    @property
    def root(self) -> Path:
        return cache_dir() / "kubernetes" / self.version

    @property
    def module_dir(self) -> Path:
        return self.root / "module"

    @property
    def image_list(self) -> Path:
        return self.root / "images.json"

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name

    def image(self, name: str) -> Path:
        return self.root / "images" / f"{name}.tar"

    def log(self, what: str) -> Path:
        return logs_dir() / f"{self.version}-{what}.log"

    def images(self) -> dict[str, str]:
        """{component: image reference} as kubeadm listed them."""
        listed = json.loads(self.image_list.read_text())["images"]
        return {ref.rsplit("/", 1)[-1].split(":")[0]: ref for ref in listed}

    def tag_of(self, component: str) -> str:
        return self.images()[component].rsplit(":", 1)[1]


# ---------------------------------------------------------------- actions


def prepare_kubernetes_module(artifacts: ArtifactSet) -> None:
    facts = gobuild.module_facts("k8s.io/kubernetes", artifacts.version, cache_dir())
    values = gobuild.kubernetes_module_values(artifacts.version, Path(facts["GoMod"]).read_text())
    gobuild.write_module(artifacts.module_dir, "kubernetes.go.mod", values)
    gobuild.tidy(artifacts.module_dir, artifacts.log("module"), f"Kubernetes {artifacts.version}")
    build_date = json.loads(Path(facts["Info"]).read_text()).get("Time", "1970-01-01T00:00:00Z")
    (artifacts.module_dir / "build-date").write_text(build_date.replace(".000Z", "Z") + "\n")


def build_kubernetes_binary(artifacts: ArtifactSet, name: str) -> None:
    build_date = (artifacts.module_dir / "build-date").read_text().strip()
    gobuild.build(
        artifacts.module_dir,
        f"k8s.io/kubernetes/cmd/{name}",
        artifacts.binary(name),
        artifacts.log(name),
        f"{name} {artifacts.version}",
        ldflags=gobuild.kubernetes_ldflags(artifacts.version, build_date),
        tags=("selinux", "notest"),
    )
    check_version(artifacts, name)


def download_binary(artifacts: ArtifactSet, name: str, source: Source) -> None:
    target = artifacts.binary(name)
    downloaded = fetch(source.detail, source.checksum, cache_dir() / "downloads" / source.checksum)
    if name in SERVER_BINARIES:
        _extract_server_binary(downloaded, name, target, source.detail)
    else:
        _install(downloaded, target)


def _extract_server_binary(tarball: Path, name: str, target: Path, url: str) -> None:
    """hyperkubeUrl names a Kubernetes server tarball (kubernetes-server-linux-ARCH.tar.gz):
    the single hyperkube binary no longer exists upstream."""
    member = f"kubernetes/server/bin/{name}"
    try:
        with tarfile.open(tarball) as tar, replacing(target) as partial:
            source = tar.extractfile(member)
            if source is None:
                raise KeyError(member)
            with open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
            partial.chmod(0o755)
    except (tarfile.TarError, KeyError):
        raise UserError(
            f"{url} is not a Kubernetes server tarball with {member} "
            "(hyperkubeUrl takes kubernetes-server-linux-ARCH.tar.gz)"
        ) from None


def _install(source: Path, target: Path) -> None:
    with replacing(target) as partial:
        shutil.copyfile(source, partial)
        partial.chmod(0o755)


def build_in_tree(artifacts: ArtifactSet, name: str, tree: Path, what: str = "") -> None:
    """`make WHAT=cmd/<name>` (or WHAT=what) in the user's Kubernetes tree, then copy the binary."""
    what = what or f"cmd/{name}"
    env = {
        "KUBE_BUILD_PLATFORMS": "/".join(platforms.nodes_platform()),
        # The tree's scripts would otherwise keep caches of their own under _output.
        **{key: value for key, value in go_caches().items() if key not in os.environ},
    }
    if not (tree / ".git").exists():
        # No history to read the version from (a tree from an archive).
        env.update(KUBE_GIT_VERSION=artifacts.version, KUBE_GIT_TREE_STATE="clean")
    run_logged(["make", f"WHAT={what}"], artifacts.log(f"tree-{name}"), f"building {name} in {tree}", env=env, cwd=tree)
    # _output/bin is filled by rsync when the machine has it; the build itself is in _output/local.
    for built in (tree / "_output" / "bin" / name, tree / "_output" / "local" / "go" / "bin" / name):
        if built.exists():
            _install(built, artifacts.binary(name))
            return
    raise UserError(f"make WHAT={what} in {tree} made no _output/bin/{name}")


def go_caches() -> dict[str, str]:
    out = capture(["go", "env", "GOCACHE", "GOMODCACHE"])
    return dict(zip(("GOCACHE", "GOMODCACHE"), out.split(), strict=False))


TREE_SOURCES = ("cmd", "pkg", "staging", "plugin", "go.mod")


def tree_fingerprint(tree: Path, tops: tuple[str, ...] = TREE_SOURCES) -> list:
    """Cheap change detection for a Kubernetes tree: how many Go files and the
    newest change among them (make itself decides what to rebuild)."""
    count, newest = 0, 0
    for top in tops:
        path = tree / top
        if path.is_file():
            count, newest = count + 1, max(newest, path.stat().st_mtime_ns)
            continue
        for file in path.rglob("*.go"):
            count, newest = count + 1, max(newest, file.stat().st_mtime_ns)
    return [count, newest]


VERSION_ARGS = {"kubeadm": ["version", "-o", "short"], "kubectl": ["version", "--client"]}


def check_version(artifacts: ArtifactSet, name: str) -> None:
    """A binary that does not report the version asked for would make a wrong cluster."""
    asks = VERSION_ARGS.get(name, ["--version"])
    out = run_built.output(artifacts.binary(name), asks)
    if artifacts.version not in out:
        raise UserError(f"{name} reports {out.strip()!r}, not {artifacts.version}")


def list_images(artifacts: ArtifactSet) -> None:
    asks = ["config", "images", "list", "--kubernetes-version", artifacts.version, "-o", "json"]
    out = run_built.output(artifacts.binary("kubeadm"), asks)
    listed = json.loads(out)
    artifacts.image_list.write_text(json.dumps(listed, indent=2) + "\n")


def build_etcd(artifacts: ArtifactSet) -> None:
    version = "v" + artifacts.tag_of("etcd").split("-")[0]  # image tag 3.6.5-0 -> v3.6.5
    module_dir = cache_dir() / "build" / f"etcd-{version}"
    facts = gobuild.module_facts("go.etcd.io/etcd/server/v3", version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "etcd.go.mod", {"version": version, "go": go})
    gobuild.tidy(module_dir, artifacts.log("etcd-module"), f"etcd {version}")
    for name, package in (("etcd", "go.etcd.io/etcd/server/v3"), ("etcdctl", "go.etcd.io/etcd/etcdctl/v3")):
        gobuild.build(module_dir, package, artifacts.binary(name), artifacts.log(name), f"{name} {version}")


def build_coredns(artifacts: ArtifactSet) -> None:
    version = artifacts.tag_of("coredns")
    module_dir = cache_dir() / "build" / f"coredns-{version}"
    facts = gobuild.module_facts("github.com/coredns/coredns", version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(
        module_dir, "coredns.go.mod", {"version": version, "go": go}, {"main.go": gobuild.our_source("coredns")}
    )
    gobuild.tidy(module_dir, artifacts.log("coredns-module"), f"CoreDNS {version}")
    gobuild.build(
        module_dir,
        ".",
        artifacts.binary("coredns"),
        artifacts.log("coredns"),
        f"CoreDNS {version}",
        ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=kubeadm-local-cluster",
    )


def build_pause(artifacts: ArtifactSet) -> None:
    tag = artifacts.tag_of("pause")
    module_dir = cache_dir() / "build" / "pause"
    gobuild.write_module(module_dir, "pause.go.mod", {}, {"main.go": gobuild.our_source("pause")})
    gobuild.build(
        module_dir,
        ".",
        artifacts.binary("pause"),
        artifacts.log("pause"),
        f"pause {tag}",
        ldflags=f"-s -w -X main.version={tag}",
    )


def crictl_version(kubernetes: str, available: list[str]) -> str:
    """cri-tools releases follow Kubernetes minors: the same minor, else the newest older one."""
    wanted = Version.parse(kubernetes)
    candidates = [Version.parse(v) for v in available if STABLE_RE.match(v)]
    fitting = [v for v in candidates if (v.major, v.minor) <= (wanted.major, wanted.minor)]
    if not fitting:
        raise UserError(f"no cri-tools release suits Kubernetes {kubernetes} (have {', '.join(available)})")
    return str(max(fitting))


def build_crictl(artifacts: ArtifactSet) -> None:
    version = crictl_version(artifacts.version, gobuild.module_versions("sigs.k8s.io/cri-tools", cache_dir()))
    module_dir = cache_dir() / "build" / f"cri-tools-{version}"
    facts = gobuild.module_facts("sigs.k8s.io/cri-tools", version, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "cri-tools.go.mod", {"version": version, "go": go})
    gobuild.tidy(module_dir, artifacts.log("cri-tools-module"), f"cri-tools {version}")
    gobuild.build(
        module_dir,
        "sigs.k8s.io/cri-tools/cmd/crictl",
        artifacts.binary("crictl"),
        artifacts.log("crictl"),
        f"crictl {version}",
        ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={version}",
    )


def kube_proxy_base(suite: str) -> Path:
    return cache_dir() / "debian" / f"kube-proxy-base-{suite}.tar"


def build_kube_proxy_base(suite: str) -> None:
    debian.rootfs(
        suite,
        KUBE_PROXY_PACKAGES,
        kube_proxy_base(suite),
        f"the kube-proxy base ({suite})",
        variant="extract",
        extract_hook=KUBE_PROXY_HOOK,
    )


def build_image(artifacts: ArtifactSet, component: str, base: Path | None = None) -> None:
    reference = artifacts.images()[component]
    files = tuple(
        oci.FileEntry(f"usr/local/bin/{name}", source=artifacts.binary(name), mode=0o755)
        for name in IMAGE_BINARIES[component]
    )
    layers = [oci.Layer(tar=base) if base else oci.minimal_root(), oci.Layer(files=files)]
    config = oci.ImageConfig(
        entrypoint=ENTRYPOINTS.get(component, ()),
        labels={"io.kubeadm-local-cluster.built-from": "source", "io.kubeadm-local-cluster.recipe": RECIPE},
    )
    oci.write_image(artifacts.image(component), [reference], layers, config, gobuild.go_env()["GOARCH"])
