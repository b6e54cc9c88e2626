"""The bridge pod network: each node's pods on a bridge in its podCIDR, routes
to the other nodes' podCIDRs through their addresses, masquerade when
leaving. The nodes do the work (images/node/rootfs/usr/local/bin/cni-setup,
again at every boot, since routes live in the network namespace a restarted
container gets anew); `up` writes what they need into cni.env."""

from __future__ import annotations

from tasks import parallel
from tasks.cluster import KUBEADM_DIR, Cluster, NodeSpec
from tasks.settings.parsers import POD_SUBNET


def set_up(cluster: Cluster, cidrs: dict[str, str]) -> None:
    from tasks.podnet import service_env

    def node(spec: NodeSpec) -> None:
        routes = " ".join(f"{cidrs[o.name]}@{o.address}" for o in cluster.nodes if o.name != spec.name)
        env = f"POD_CIDR={cidrs[spec.name]}\nCLUSTER_CIDR={POD_SUBNET}\n{service_env(cluster)}ROUTES='{routes}'\n"
        cluster.objects.put_files(spec.name, KUBEADM_DIR, {"cni.env": env.encode()})
        cluster.run(spec.name, ["systemctl", "restart", "cni-setup.service"], "setting up the pod network")

    parallel.each(node, cluster.nodes, doing="setting up")


def _network():
    from tasks.podnet import PodNetwork

    return PodNetwork("bridge", hermetic=True, set_up=set_up, title="a bridge per node, routes between nodes")


NETWORK = _network()
