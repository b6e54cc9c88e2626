"""Pod networks: one entry per plugin in REGISTRY, each a module of this
package with its files (templates, image recipes). `cluster.cniPlugin` names
one; a name that is not here fails at settings time.

An entry says whether it is hermetic (everything it runs is built here), which
doit tasks build (or fetch) what it runs, and how it is set up once every node
has joined and has its podCIDR. bridge and flannel are hermetic; calico and
weave come from their pinned upstream manifests and pull their images
(pulled.py). "Works" is what `ready` already asks: every node Ready
(the kubelet reports NetworkReady only with a CNI config in place) and CoreDNS
Ready (pods reach the API server through the pod network)."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.cluster import Cluster
from tasks.errors import UserError
from tasks.settings.custom import labels_of
from tasks.settings.parsers import CNI_PLUGINS, POD_SUBNET


@dataclass(frozen=True)
class PodNetwork:
    name: str
    hermetic: bool  # every image it runs is built here: no registry needed
    set_up: Callable[[Cluster, dict[str, str]], None]  # with {node: podCIDR}
    tasks: Callable[[], list[dict]] = field(default=lambda: [])  # doit tasks building what it runs
    title: str = ""


def _registry() -> dict[str, PodNetwork]:
    from tasks.podnet import bridge, calico, flannel, weave

    networks = (bridge.NETWORK, flannel.NETWORK, calico.NETWORK, weave.NETWORK)
    return {network.name: network for network in networks}


def get(name: str) -> PodNetwork:
    registry = _registry()
    if name not in registry:  # settings refuse it first; this guards a registry that lags the list
        raise UserError(f"cluster.cniPlugin {name} is not one of {', '.join(registry)}")
    return registry[name]


def set_up(cluster: Cluster) -> None:
    """The pod network of cluster.cniPlugin, once every node has its podCIDR."""
    get(cluster.settings.cluster.cni_plugin).set_up(cluster, node_cidrs(cluster))


# Where the nodes' containerd looks (images/node/containerd.toml: bin_dirs,
# conf_dir): Debian puts the CNI plugins in /usr/lib/cni, not /opt/cni/bin.
CNI_BIN_DIR = "/usr/lib/cni"
CNI_CONF_DIR = "/etc/cni/net.d"


def service_env(cluster: Cluster) -> str:
    """cni.env's lines for the service range (every plugin): the range, and the
    API server's Service with the master's address, where cni-setup sends it
    until kube-proxy runs (see there)."""
    from tasks.settings.parsers import SERVICE_SUBNET

    api_service = next(ipaddress.ip_network(SERVICE_SUBNET).hosts())
    return f"SERVICE_CIDR={SERVICE_SUBNET}\nAPI_SERVICE={api_service}\nAPI_SERVER={cluster.nodes[0].address}:6443\n"


def service_rule_only(cluster: Cluster, node: str) -> None:
    """cni-setup on NODE keeps only its rules for the service range (cni.env
    without POD_CIDR: no bridge conflist), for plugins that bring their own
    CNI config (flannel, calico, weave)."""
    from tasks.cluster import KUBEADM_DIR

    cluster.objects.put_files(node, KUBEADM_DIR, {"cni.env": service_env(cluster).encode()})
    cluster.run(node, ["systemctl", "restart", "cni-setup.service"], "the service-range rule")


def pod_cidr(index: int) -> str:
    """The node's podCIDR: the master 10.244.0.0/24, worker N 10.244.N.0/24."""
    return str(list(ipaddress.ip_network(POD_SUBNET).subnets(new_prefix=24))[index])


def node_cidrs(cluster: Cluster) -> dict[str, str]:
    """Each node's podCIDR, given by us as soon as the node is registered: the
    controller manager's allocator is off (allocate-node-cidrs: false), so
    nothing waits for it to start, and the ranges are the same every time.
    cluster.nodeLabels go in the same patch (the kubelet may not set labels
    such as node-role.kubernetes.io/*; the API server lets us)."""
    wanted = {spec.name: pod_cidr(index) for index, spec in enumerate(cluster.nodes)}
    labels = {spec.name: labels_of(cluster.settings.cluster.node_labels, i) for i, spec in enumerate(cluster.nodes)}
    deadline = time.monotonic() + 120
    while True:
        nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
        cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in nodes}
        for name, cidr in wanted.items():
            if name in cidrs and not cidrs[name]:
                spec = {"podCIDR": cidr, "podCIDRs": [cidr]}
                patch = json.dumps({"metadata": {"labels": labels[name]}, "spec": spec})
                cluster.kubectl("patch", "node", name, "--type=merge", "-p", patch)
                cidrs[name] = cidr
        if all(cidrs.get(name) for name in wanted):
            return {name: cidrs[name] for name in wanted}
        if time.monotonic() > deadline:
            missing = [name for name in wanted if name not in cidrs]
            raise UserError(f"{', '.join(missing)} did not register with the API server within 120s")
        time.sleep(0.5)


__all__ = [
    "CNI_BIN_DIR",
    "CNI_CONF_DIR",
    "CNI_PLUGINS",
    "POD_SUBNET",
    "PodNetwork",
    "get",
    "node_cidrs",
    "service_env",
    "service_rule_only",
    "set_up",
]
