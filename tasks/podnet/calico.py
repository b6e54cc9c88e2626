"""The calico pod network, from upstream: calico's operator-less manifest in
VXLAN mode (manifests/calico-vxlan.yaml of the release; the kernel of these
machines has no IPIP), its images pulled by the nodes from quay.io. Not
hermetic: projectcalico's Go modules are refused by the module proxy here
(tasks/podnet/pulled.py says how it is fetched and checked).

Rendering: the default IP pool is our pod subnet (upstream leaves
CALICO_IPV4POOL_CIDR commented out, and calico would guess 192.168.0.0/16).
calico-node's IPAM hands out blocks of that pool itself; the nodes'
podCIDRs are not used."""

from __future__ import annotations

from tasks.podnet import pulled

VERSION = "v3.32.1"
# The pin: the file of tag v3.32.1, as raw.githubusercontent.com serves it
# (the blob's bytes; checked against a clone of projectcalico/calico).
UPSTREAM_URL = f"https://raw.githubusercontent.com/projectcalico/calico/{VERSION}/manifests/calico-vxlan.yaml"
SHA256 = "c2ab4f9a4ecde01d66e6f040d6745cd7f174d5ded573164c809ffb9f40a9d566"
IMAGES = tuple(f"quay.io/calico/{name}:{VERSION}" for name in ("cni", "node", "kube-controllers"))

POOL_COMMENTED = '            # - name: CALICO_IPV4POOL_CIDR\n            #   value: "192.168.0.0/16"\n'
POOL = '            - name: CALICO_IPV4POOL_CIDR\n              value: "{subnet}"\n'


def render(manifest: str, pod_subnet: str) -> str:
    return pulled.replace_once(manifest, POOL_COMMENTED, POOL.format(subnet=pod_subnet), "CALICO_IPV4POOL_CIDR")


UPSTREAM = pulled.Upstream(
    plugin="calico",
    version=VERSION,
    url=UPSTREAM_URL,
    sha256=SHA256,
    images=IMAGES,
    render=render,
    namespace="kube-system",
    daemonset="calico-node",
)
NETWORK = pulled.network(UPSTREAM, f"calico {VERSION}, VXLAN (images pulled)")
