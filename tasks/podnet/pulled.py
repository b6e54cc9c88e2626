"""Pod networks whose images come from a registry (calico, weave): their
modules are refused by the Go module proxy these machines reach, so they are
installed the way their users install them, from the upstream manifest of a
pinned version. Each plugin module gives an `Upstream`: where the manifest
is, its sha256, the images it runs and how it is rendered for our cluster.

The manifest is downloaded (and cached) before any node starts, so a machine
that cannot reach it fails in seconds with one line and nothing made. The
images are pulled by the nodes' containerd; before the manifest is applied,
`up` checks that the nodes hold them (`local-cluster load`) or can pull one,
and otherwise stops with one line naming them, instead of waiting for pods
that will never start.

Layout: ~/.kubeadm-local-cluster/cache/podnet/<plugin>/<version>/<file>
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks import pull_errors
from tasks.errors import UserError
from tasks.paths import cache_dir

HERMETIC = "bridge or flannel"  # what to use instead: built here, nothing pulled
# Both plugins install their CNI binaries into the node's /opt/cni/bin; the
# nodes' containerd looks in /usr/lib/cni (Debian's place, images/node/containerd.toml).
UPSTREAM_CNI_BIN_DIR = "/opt/cni/bin"


@dataclass(frozen=True)
class Upstream:
    plugin: str
    version: str
    url: str
    sha256: str  # of the file at url, as served
    images: tuple[str, ...]  # every image the rendered manifest runs
    render: Callable[[str, str], str]  # (manifest text, pod subnet) -> what is applied
    namespace: str  # where its DaemonSet runs
    daemonset: str

    def path(self) -> Path:
        return cache_dir() / "podnet" / self.plugin / self.version / self.url.rsplit("/", 1)[-1]

    def title(self) -> str:
        return f"{self.plugin} {self.version}"


def fetch_manifest(upstream: Upstream) -> None:
    """The pinned manifest into the cache, or one line saying what this plugin
    needs from the network and what to use instead."""
    from tasks import download

    try:
        download.fetch(upstream.url, upstream.sha256, upstream.path())
    except UserError as err:
        raise UserError(
            f"{upstream.title()} is installed from its upstream manifest and its images are pulled by the nodes "
            f"({', '.join(upstream.images)}), and this machine cannot get the manifest ({err}); "
            f"use --cni-plugin {HERMETIC} (built here, nothing pulled), or put the file "
            f"(sha256 {upstream.sha256}) at {upstream.path()}"
        ) from None


def task_dicts(upstream: Upstream, basename: str) -> list[dict]:
    from doit.tools import config_changed

    from tasks.taskkit import step  # here: taskkit imports the cluster modules, which import podnet

    return [
        {
            "basename": basename,
            "name": "manifest",
            "doc": f"the upstream manifest of {upstream.title()} ({upstream.url})",
            "actions": [step(lambda: fetch_manifest(upstream))],
            "targets": [str(upstream.path())],
            "uptodate": [config_changed({"url": upstream.url, "sha256": upstream.sha256})],
            "meta": {"title": f"{upstream.title()} manifest"},
        }
    ]


def replace_once(text: str, old: str, new: str, what: str) -> str:
    """text with old replaced by new, where old must occur exactly once: the
    manifest is pinned, so anything else is a pin that changed."""
    count = text.count(old)
    if count != 1:
        raise UserError(f"the pinned manifest does not have {what} once (found {count} times): its pin is wrong")
    return text.replace(old, new)


def missing_images(upstream: Upstream, cluster) -> list[str]:
    """The plugin's images that some node does not hold."""
    return pull_errors.missing_images(upstream.images, cluster)


def check_pull(upstream: Upstream, cluster, missing: list[str]) -> None:
    """When not even one missing image can be pulled, one line instead of pods waiting for ever."""
    instead = f"use --cni-plugin {HERMETIC} (built here, nothing pulled)"
    pull_errors.check_pull(cluster, upstream.title(), missing, instead)


def set_up(upstream: Upstream, cluster) -> None:
    """The service-range rule of cni-setup (the plugin writes its own CNI
    config), /opt/cni/bin on every node pointing at the directory containerd
    reads, the images checked, then the rendered manifest applied and its
    DaemonSet waited for."""
    from tasks import parallel
    from tasks.cluster import KUBEADM_DIR
    from tasks.podnet import CNI_BIN_DIR, service_rule_only
    from tasks.settings.parsers import POD_SUBNET

    link = f"mkdir -p /opt/cni && {{ [ -L {UPSTREAM_CNI_BIN_DIR} ] || ln -sfn {CNI_BIN_DIR} {UPSTREAM_CNI_BIN_DIR}; }}"

    def node(spec) -> None:
        service_rule_only(cluster, spec.name)
        cluster.run(spec.name, ["sh", "-ec", link], f"linking {UPSTREAM_CNI_BIN_DIR}")

    parallel.each(node, cluster.nodes, doing="preparing")
    missing = missing_images(upstream, cluster)
    if missing:
        check_pull(upstream, cluster, missing)
    rendered = upstream.render(upstream.path().read_text(), POD_SUBNET)
    name = upstream.path().name
    cluster.objects.put_files(cluster.master, KUBEADM_DIR, {name: rendered.encode()})
    cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/{name}")
    rollout = ["rollout", "status", f"daemonset/{upstream.daemonset}", "--timeout=300s"]
    cluster.kubectl("-n", upstream.namespace, *rollout)


def network(upstream: Upstream, title: str):
    from tasks.podnet import PodNetwork

    return PodNetwork(
        upstream.plugin,
        hermetic=False,
        set_up=lambda cluster, cidrs: set_up(upstream, cluster),
        tasks=lambda: task_dicts(upstream, f"{upstream.plugin}-manifest"),
        title=title,
    )
