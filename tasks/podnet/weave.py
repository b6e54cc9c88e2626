"""The weave pod network, from upstream: Weave Net 2.8.1 (its last release;
weaveworks closed in 2024), its images pulled by the nodes from Docker Hub.
Not hermetic: weaveworks' Go modules are refused by the module proxy here
(tasks/podnet/pulled.py says how it is fetched and checked).

The manifest users applied, weave-daemonset-k8s.yaml, is a release asset
that weave's bin/release made from prog/weave-kube/weave-daemonset-k8s-1.11.yaml
of the tag: every `:latest` became `:2.8.1` and the `imagePullPolicy: Always`
lines went. We fetch that file of the tag (pinned: a release asset's digest
cannot be checked without reaching GitHub) and make the same two edits, then
ours: IPALLOC_RANGE, weave's address range, is our pod subnet (weave's
default, 10.32.0.0/12, is another; weave allocates its own addresses, the
nodes' podCIDRs are not used). Without the openvswitch module (absent here)
weave uses its `sleeve` transport instead of fastdp."""

from __future__ import annotations

from tasks.podnet import pulled

VERSION = "2.8.1"
UPSTREAM_URL = (
    f"https://raw.githubusercontent.com/weaveworks/weave/v{VERSION}/prog/weave-kube/weave-daemonset-k8s-1.11.yaml"
)
# The file of tag v2.8.1 as raw.githubusercontent.com serves it (the blob's
# bytes; checked against a clone of weaveworks/weave).
SHA256 = "a2410c91152fdead60084a750d5041749e95350c038a9832e7dff71f85b52c9c"
IMAGES = (f"weaveworks/weave-kube:{VERSION}", f"weaveworks/weave-npc:{VERSION}")

INIT_CONTAINER_ENV = '                - name: INIT_CONTAINER\n                  value: "true"\n'
IPALLOC_RANGE = '                - name: IPALLOC_RANGE\n                  value: "{subnet}"\n'


def render(manifest: str, pod_subnet: str) -> str:
    # weave's bin/release, as it made the release asset
    released = manifest.replace(":latest", f":{VERSION}")
    released = "".join(line for line in released.splitlines(True) if "imagePullPolicy: Always" not in line)
    env = INIT_CONTAINER_ENV + IPALLOC_RANGE.format(subnet=pod_subnet)
    return pulled.replace_once(released, INIT_CONTAINER_ENV, env, "the weave container's INIT_CONTAINER")


UPSTREAM = pulled.Upstream(
    plugin="weave",
    version=VERSION,
    url=UPSTREAM_URL,
    sha256=SHA256,
    images=IMAGES,
    render=render,
    namespace="kube-system",
    daemonset="weave-net",
)
NETWORK = pulled.network(UPSTREAM, f"weave {VERSION} (images pulled)")
