"""The flannel pod network, hermetic: flanneld, its CNI plugin and its image
made here from Go modules and Debian packages, and our own manifest
(images/flannel/kube-flannel.yaml) that runs it with imagePullPolicy Never.

flanneld runs on every node (host network) with --kube-subnet-mgr: each
node's subnet is its podCIDR, VXLAN carries pods' traffic between nodes, and
--ip-masq masquerades what leaves the pod subnet. On each node the `flannel`
CNI plugin reads the subnet flanneld wrote (/run/flannel/subnet.env) and
hands the pod to the node's own bridge, portmap and host-local plugins.

What flanneld runs (its code, v0.28, with EnableNFTables false as ours):
iptables and iptables-restore, and their ip6tables twins, which it also calls
at start to clean up (github.com/coreos/go-iptables and its own restore code:
masquerade and FORWARD rules); nft only to remove the tables an nftables mode
would have left (its errors are ignored). No `ip`: links, routes and neighbours
go through netlink. The image's base is Debian's iptables and nftables,
unpacked only, iptables pointing at its nft backend as on the nodes and in
kube-proxy's image.

Layout: ~/.kubeadm-local-cluster/cache/podnet/flannel/<version>/ (independent
of the Kubernetes version)
    module/flannel/       wrapper module, flannel's source in ./flannel
    module/cni-plugins/   wrapper module of the CNI plugin
    bin/                  flanneld, install-conf, flannel (the CNI plugin)
    flannel-base-<suite>.tar  the Debian root filesystem
    image.tar             the image, tagged IMAGE
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from pathlib import Path
from string import Template

from doit.tools import config_changed

from tasks.build import debian, gobuild, oci, platforms, run_built
from tasks.build.artifacts import KUBE_PROXY_HOOK
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir, logs_dir
from tasks.podnet import CNI_BIN_DIR, CNI_CONF_DIR, service_rule_only

VERSION = "v0.28.10"  # flanneld: the newest v0.28.x the Go module proxy serves
IMAGE = "kubeadm-local-cluster/flannel:" + VERSION
# The CNI plugin: plugins/meta/flannel left containernetworking/plugins at
# 1.0 for github.com/flannel-io/cni-plugin, which the proxy does not serve;
# v0.9.1 is the newest release the proxy has that still holds it.
CNI_PLUGINS_VERSION = "v0.9.1"
# The conflist's cniVersion: that plugin (CNI library 0.8) speaks 0.1.0-0.4.0.
CNI_VERSION = "0.3.1"
CONFLIST = "10-flannel.conflist"

# Changing how any of it is made (a flag, a package, the patch) bumps this.
RECIPE = "1"
TASK = "flannel"  # doit: flannel:flanneld, flannel:cni-plugin, flannel:base, flannel:image

FLANNEL_MODULE = "github.com/flannel-io/flannel"
CNI_PLUGINS_MODULE = "github.com/containernetworking/plugins"
# What upstream's image build copies of its module to build flanneld (images/Dockerfile).
SOURCE_PARTS = ("go.mod", "go.sum", "main.go", "cmd", "pkg")
# Backends main.go imports that cannot be built here, left out of it: udp's
# amd64 files call its cgo proxy, so without cgo (our builds are static,
# CGO_ENABLED=0) the package does not compile there (upstream builds the other
# architectures without cgo, and without udp); tencentvpc imports an SDK
# (github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.3.188) the
# Go module proxy refuses. flanneld then refuses a net-conf.json asking for
# either as an unknown backend type; ours asks for vxlan.
LEFT_OUT_BACKENDS = ("tencentvpc", "udp")
BACKEND_IMPORT = re.compile(r'^[ \t]*_ "github\.com/flannel-io/flannel/pkg/backend/(\w+)"[ \t]*\n', re.M)

# Debian: what flanneld execs, unpacked only (mmdebstrap's extract variant:
# no shell, no dpkg, a few MB). The hook kube-proxy's base uses does what the
# packages' scripts would have (iptables names pointing at the nft backend,
# root in /etc/passwd, dpkg's status), which is all this base needs too.
SUITE = "trixie"
PACKAGES = ["base-files", "iptables", "nftables"]
BASE_HOOK = KUBE_PROXY_HOOK
MANIFEST = IMAGES_DIR / "flannel" / "kube-flannel.yaml"


def root() -> Path:
    return cache_dir() / "podnet" / "flannel" / VERSION


def binary(name: str) -> Path:
    return root() / "bin" / name


def base() -> Path:
    return root() / f"flannel-base-{SUITE}.tar"


def archive() -> Path:
    return root() / "image.tar"


def _log(what: str) -> Path:
    return logs_dir() / f"flannel-{VERSION}-{what}.log"


def _wrapper_go(upstream: str) -> str:
    """The wrapper's go line: upstream's, but at least 1.24, which the tool directive needs."""
    return upstream if tuple(int(p) for p in upstream.split(".")) >= (1, 24) else "1.24"


# ---------------------------------------------------------------- building


def copy_source(module_dir: Path, target: Path) -> None:
    """flannel's module as a copy of our own, the backends that cannot be built
    here left out of main.go (`go build -overlay` may not touch files in the
    module cache, so the wrapper module replaces flannel with this copy)."""
    if target.exists():
        shutil.rmtree(target)
    for part in SOURCE_PARTS:
        source = module_dir / part
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for file in files:
            copy = target / file.relative_to(module_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, copy)  # contents only: the cache's read-only modes stay behind
    main = target / "main.go"
    main.write_text(without_backends(main.read_text()))


def without_backends(main_go: str) -> str:
    """main.go without the imports of LEFT_OUT_BACKENDS (each registers itself in its init)."""
    found = sorted(m.group(1) for m in BACKEND_IMPORT.finditer(main_go) if m.group(1) in LEFT_OUT_BACKENDS)
    if found != sorted(LEFT_OUT_BACKENDS):
        raise UserError(
            f"flannel {VERSION}'s main.go does not import the backends {', '.join(LEFT_OUT_BACKENDS)} "
            "as expected: tasks/podnet/flannel.py needs a look"
        )
    return BACKEND_IMPORT.sub(lambda m: "" if m.group(1) in LEFT_OUT_BACKENDS else m.group(0), main_go)


def build_flanneld() -> None:
    """flanneld and install-conf (what the init containers copy with: writes and renames) from flannel's module."""
    module_dir = root() / "module" / "flannel"
    facts = gobuild.module_facts(FLANNEL_MODULE, VERSION, cache_dir())
    copy_source(Path(facts["Dir"]), module_dir / "flannel")
    go = _wrapper_go(gobuild.go_directive(Path(facts["GoMod"]).read_text()))
    gobuild.write_module(module_dir, "flannel.go.mod", {"version": VERSION, "go": go})
    gobuild.tidy(module_dir, _log("module"), f"flanneld {VERSION}")
    gobuild.build(
        module_dir,
        FLANNEL_MODULE,
        binary("flanneld"),
        _log("flanneld"),
        f"flanneld {VERSION}",
        ldflags=f"-s -w -X {FLANNEL_MODULE}/pkg/version.Version={VERSION}",
    )
    gobuild.build(
        module_dir, f"{FLANNEL_MODULE}/cmd/install_conf", binary("install-conf"), _log("install-conf"), "install-conf"
    )
    said = run_built.says(binary("flanneld"), ["--version"]).strip()  # flanneld says it on stderr
    if said != VERSION:
        raise UserError(f"flanneld reports {said!r}, not {VERSION}")


def build_cni_plugin() -> None:
    module_dir = root() / "module" / "cni-plugins"
    facts = gobuild.module_facts(CNI_PLUGINS_MODULE, CNI_PLUGINS_VERSION, cache_dir())
    go = _wrapper_go(gobuild.go_directive(Path(facts["GoMod"]).read_text()))
    gobuild.write_module(module_dir, "cni-plugins.go.mod", {"version": CNI_PLUGINS_VERSION, "go": go})
    what = f"the flannel CNI plugin {CNI_PLUGINS_VERSION}"
    gobuild.tidy(module_dir, _log("cni-plugins-module"), what)
    gobuild.build(
        module_dir,
        f"{CNI_PLUGINS_MODULE}/plugins/meta/flannel",
        binary("flannel"),
        _log("cni-plugin"),
        what,
        ldflags=f"-s -w -X {CNI_PLUGINS_MODULE}/pkg/utils/buildversion.BuildVersion={CNI_PLUGINS_VERSION}",
    )
    # The conflist's cniVersion must be one the plugin speaks, or every pod fails to start.
    said = run_built.says(binary("flannel"), [], {"CNI_COMMAND": "VERSION"})
    try:
        supported = json.loads(said)["supportedVersions"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"the flannel CNI plugin answers VERSION with {said.strip()!r}") from None
    if CNI_VERSION not in supported:
        raise UserError(f"the flannel CNI plugin speaks CNI {', '.join(supported)}, not {CNI_VERSION}")


def build_base() -> None:
    debian.rootfs(
        SUITE, PACKAGES, base(), f"the flannel base (Debian {SUITE})", variant="extract", extract_hook=BASE_HOOK
    )


def build_image() -> None:
    """The base, /opt/bin/flanneld and install-conf, and the CNI plugin at
    /flannel (where upstream's flannel-cni-plugin image has it)."""
    files = (
        oci.FileEntry("opt/bin/flanneld", source=binary("flanneld"), mode=0o755),
        oci.FileEntry("opt/bin/install-conf", source=binary("install-conf"), mode=0o755),
        oci.FileEntry("flannel", source=binary("flannel"), mode=0o755),
    )
    config = oci.ImageConfig(
        entrypoint=("/opt/bin/flanneld",),
        labels={"io.kubeadm-local-cluster.built-from": "source", "io.kubeadm-local-cluster.recipe": RECIPE},
    )
    layers = [oci.Layer(tar=base()), oci.Layer(files=files)]
    oci.write_image(archive(), [IMAGE], layers, config, gobuild.go_env()["GOARCH"])


# ---------------------------------------------------------------- tasks


def task_dicts() -> list[dict]:
    """doit tasks, in order: flanneld, the CNI plugin, the Debian base, the image."""
    from tasks.taskkit import step  # here: taskkit imports the cluster modules, which may import podnet

    state = {"recipe": RECIPE, "version": VERSION, **platforms.cache_key()}
    binaries = [str(binary(name)) for name in ("flanneld", "install-conf", "flannel")]
    return [
        {
            "basename": TASK,
            "name": "flanneld",
            "doc": f"flanneld {VERSION} and install-conf",
            "actions": [step(build_flanneld)],
            "file_dep": [str(gobuild.TEMPLATES / "flannel.go.mod")],
            "targets": binaries[:2],
            "uptodate": [config_changed(state)],
            "meta": {"title": f"flanneld {VERSION} from Go modules"},
        },
        {
            "basename": TASK,
            "name": "cni-plugin",
            "doc": f"the flannel CNI plugin ({CNI_PLUGINS_MODULE} {CNI_PLUGINS_VERSION})",
            "actions": [step(build_cni_plugin)],
            "file_dep": [str(gobuild.TEMPLATES / "cni-plugins.go.mod")],
            "targets": binaries[2:],
            "uptodate": [config_changed({**state, "plugins": CNI_PLUGINS_VERSION, "cni": CNI_VERSION})],
            "meta": {"title": f"flannel CNI plugin {CNI_PLUGINS_VERSION} from Go modules"},
        },
        {
            "basename": TASK,
            "name": "base",
            "doc": f"the Debian base of the flannel image ({', '.join(PACKAGES)})",
            "actions": [step(build_base)],
            "file_dep": [str(BASE_HOOK)],
            "targets": [str(base())],
            "uptodate": [config_changed({**state, "suite": SUITE, "packages": PACKAGES})],
            "meta": {"title": f"flannel base (Debian {SUITE})"},
        },
        {
            "basename": TASK,
            "name": "image",
            "doc": f"the image {IMAGE}",
            "actions": [step(build_image)],
            "file_dep": [*binaries, str(base())],
            "targets": [str(archive())],
            "uptodate": [config_changed({**state, "image": IMAGE})],
            "meta": {"title": f"flannel image {VERSION}"},
        },
    ]


# ---------------------------------------------------------------- the manifest


def manifest(pod_subnet: str, mtu: int = 0) -> str:
    """The manifest that runs flannel: our images/flannel/kube-flannel.yaml with
    the pod subnet (which must hold every node's podCIDR) and the image.

    mtu: the MTU of the nodes' network, which VXLAN's packets must fit (pods
    get 50 less); 0 lets flanneld read it from the node's interface."""
    try:
        network = ipaddress.ip_network(pod_subnet)
    except ValueError:
        raise UserError(f"the pod subnet {pod_subnet!r} is not a network (such as 10.244.0.0/16)") from None
    if mtu < 0:
        raise UserError(f"the MTU for flannel must be 0 (the interface's) or more, not {mtu}")
    backend = {"Type": "vxlan", **({"MTU": mtu} if mtu else {})}
    return Template(MANIFEST.read_text()).substitute(
        image=IMAGE,
        pod_subnet=str(network),
        backend=json.dumps(backend),
        cni_bin_dir=CNI_BIN_DIR,
        cni_conf_dir=CNI_CONF_DIR,
        conflist=CONFLIST,
        cni_version=CNI_VERSION,
    )


# ---------------------------------------------------------------- the cluster


def set_up(cluster, cidrs: dict[str, str]) -> None:
    """The image into every node's containerd (nothing is pulled), the
    service-range rule of cni-setup (no bridge: cni.env without POD_CIDR),
    then the manifest. flanneld takes each node's subnet from its podCIDR."""
    from tasks import parallel
    from tasks.cluster import KUBEADM_DIR
    from tasks.node import archives
    from tasks.settings.parsers import POD_SUBNET

    parallel.each(lambda spec: service_rule_only(cluster, spec.name), cluster.nodes, doing="setting up")
    archives.import_into(cluster, [spec.name for spec in cluster.nodes], archive(), "importing the flannel image")
    cluster.objects.put_files(cluster.master, KUBEADM_DIR, {"kube-flannel.yaml": manifest(POD_SUBNET).encode()})
    cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/kube-flannel.yaml")
    # Done when flanneld runs on every node, not only when a node has its
    # conflist (what the kubelet's Ready asks).
    cluster.kubectl("-n", "kube-flannel", "rollout", "status", "daemonset/kube-flannel-ds", "--timeout=180s")


def _network():
    from tasks.podnet import PodNetwork

    return PodNetwork("flannel", hermetic=True, set_up=set_up, tasks=task_dicts, title=f"flannel {VERSION}, VXLAN")


NETWORK = _network()
