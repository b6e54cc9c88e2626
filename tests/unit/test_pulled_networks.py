"""calico and weave: their pinned upstream manifests, how they are rendered,
and the one-line failures when the manifest or the images cannot be had.

Upstream's manifests cannot be part of this repository (nor downloaded here):
the FAKE_* texts are excerpts written to the same shape (the lines the
rendering edits); the real manifest is checked too when it is in this
machine's cache."""

import hashlib
import os
import pwd
import textwrap
from pathlib import Path

import pytest
import yaml

from tasks import podnet, pull_errors
from tasks.container_io import ExecResult
from tasks.errors import UserError
from tasks.podnet import calico, pulled, weave

FAKE_CALICO = textwrap.dedent(
    """\
    kind: DaemonSet
    apiVersion: apps/v1
    metadata:
      name: calico-node
    spec:
      template:
        spec:
          containers:
            - name: calico-node
              image: quay.io/calico/node:v3.32.1
              env:
                - name: CALICO_IPV4POOL_VXLAN
                  value: "CrossSubnet"
                # The default IPv4 pool to create on startup if none exists.
                # - name: CALICO_IPV4POOL_CIDR
                #   value: "192.168.0.0/16"
                - name: CALICO_DISABLE_FILE_LOGGING
                  value: "true"
    """
)

FAKE_WEAVE = textwrap.dedent(
    """\
    apiVersion: v1
    kind: List
    items:
      - apiVersion: apps/v1
        kind: DaemonSet
        metadata:
          name: weave-net
        spec:
          template:
            spec:
              initContainers:
                - name: weave-init
                  image: 'weaveworks/weave-kube:latest'
                  imagePullPolicy: Always
              containers:
                - name: weave
                  env:
                    - name: INIT_CONTAINER
                      value: "true"
                  image: 'weaveworks/weave-kube:latest'
                  imagePullPolicy: Always
                - name: weave-npc
                  image: 'weaveworks/weave-npc:latest'
                  imagePullPolicy: Always
    """
)


def test_both_are_registered_and_not_hermetic():
    for name in ("calico", "weave"):
        network = podnet.get(name)
        assert not network.hermetic
        [task] = network.tasks()
        assert task["targets"] == [str({"calico": calico, "weave": weave}[name].UPSTREAM.path())]


def test_calico_pool_is_our_pod_subnet():
    doc = yaml.safe_load(calico.render(FAKE_CALICO, "10.244.0.0/16"))
    env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "CALICO_IPV4POOL_CIDR", "value": "10.244.0.0/16"} in env
    assert {"name": "CALICO_IPV4POOL_VXLAN", "value": "CrossSubnet"} in env  # upstream's VXLAN mode kept


def test_weave_is_made_as_its_release_was_and_allocates_from_our_pod_subnet():
    doc = yaml.safe_load(weave.render(FAKE_WEAVE, "10.244.0.0/16"))
    spec = doc["items"][0]["spec"]["template"]["spec"]
    containers = spec["initContainers"] + spec["containers"]
    assert {c["image"] for c in containers} == set(weave.IMAGES)
    assert all("imagePullPolicy" not in c for c in containers)  # IfNotPresent: loaded images are used
    assert {"name": "IPALLOC_RANGE", "value": "10.244.0.0/16"} in spec["containers"][0]["env"]


@pytest.mark.parametrize("module", [calico, weave])
def test_a_manifest_that_is_not_the_pinned_one_is_one_line(module):
    with pytest.raises(UserError, match="its pin is wrong"):
        module.render("kind: List\nitems: []\n", "10.244.0.0/16")


@pytest.mark.parametrize("module", [calico, weave])
def test_the_real_pinned_manifest_renders_to_the_images_named(module):
    # This machine's user's cache, read only (the tests' HOME is a temporary one).
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    path = home / module.UPSTREAM.path().relative_to(Path.home())
    if not path.exists():
        pytest.skip(f"{path} is not cached on this machine (it needs github.com)")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == module.SHA256
    text = module.render(path.read_text(), "10.244.0.0/16")
    images = {line.split("image:", 1)[1].strip().strip("'\"") for line in text.splitlines() if "image:" in line}
    assert images == set(module.IMAGES)
    assert "10.244.0.0/16" in text


def fake_upstream(url: str, sha256: str) -> pulled.Upstream:
    return pulled.Upstream(
        plugin="fakenet",
        version="v1.0.0",
        url=url,
        sha256=sha256,
        images=("example.invalid/fakenet/node:v1.0.0", "example.invalid/fakenet/cni:v1.0.0"),
        render=lambda text, subnet: text,
        namespace="kube-system",
        daemonset="fakenet",
    )


def test_the_manifest_is_fetched_into_the_cache_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    source = tmp_path / "fakenet.yaml"
    source.write_text("kind: List\n")
    upstream = fake_upstream(f"file://{source}", hashlib.sha256(source.read_bytes()).hexdigest())
    pulled.fetch_manifest(upstream)
    assert upstream.path() == tmp_path / ".kubeadm-local-cluster/cache/podnet/fakenet/v1.0.0/fakenet.yaml"
    assert upstream.path().read_text() == "kind: List\n"


def test_no_manifest_is_one_line_naming_the_images_and_what_else_works(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    upstream = fake_upstream(f"file://{tmp_path}/absent.yaml", "0" * 64)
    with pytest.raises(UserError) as caught:
        pulled.fetch_manifest(upstream)
    message = str(caught.value)
    assert "\n" not in message
    assert "example.invalid/fakenet/node:v1.0.0, example.invalid/fakenet/cni:v1.0.0" in message
    assert "use --cni-plugin bridge or flannel" in message
    assert str(upstream.path()) in message and "0" * 64 in message


class FakeCluster:
    """Stands in for a running cluster: what each node's containerd holds, and
    what a pull on the master answers."""

    class Spec:
        def __init__(self, name):
            self.name = name

    def __init__(self, held: dict[str, set[str]], pull: ExecResult):
        self.nodes = [self.Spec(name) for name in held]
        self.master = self.nodes[0].name
        self.held, self.pull, self.pulled = held, pull, []
        self.objects = self

    def image_ids(self, node):
        return {ref: "sha256:x" for ref in self.held[node]}

    def exec(self, node, argv, deadline):
        self.pulled.append((node, argv, deadline))
        return self.pull


def test_images_every_node_holds_are_not_missing():
    held = {"kube-master": {"docker.io/weaveworks/weave-kube:2.8.1"}, "kube-node-1": set()}
    cluster = FakeCluster(held, ExecResult(0, ""))
    assert pulled.missing_images(weave.UPSTREAM, cluster) == list(weave.IMAGES)
    held["kube-node-1"] = {"docker.io/weaveworks/weave-kube:2.8.1", "docker.io/weaveworks/weave-npc:2.8.1"}
    held["kube-master"].add("docker.io/weaveworks/weave-npc:2.8.1")
    assert pulled.missing_images(weave.UPSTREAM, cluster) == []


def test_nodes_that_cannot_pull_stop_up_with_one_line():
    # what crictl printed here
    failure = ExecResult(
        1,
        'time="2026-12-01T18:42:48Z" level=error msg="pulling image: failed to pull and unpack image '
        '\\"quay.io/calico/cni:v3.32.1\\": failed to resolve image: failed to do request: Head '
        '\\"https://quay.io/v2/calico/cni/manifests/v3.32.1\\": dial tcp: lookup quay.io on 10.193.0.1:53: '
        'no such host"\n',
    )
    cluster = FakeCluster({"kube-master": set()}, failure)
    with pytest.raises(UserError) as caught:
        pulled.check_pull(calico.UPSTREAM, cluster, list(calico.IMAGES))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("calico v3.32.1 needs images the nodes do not have and cannot pull")
    assert "(quay.io/calico/cni:v3.32.1: dial tcp: lookup quay.io on 10.193.0.1:53: no such host)" in message
    assert f"local-cluster load {' '.join(calico.IMAGES)}" in message
    assert cluster.pulled == [("kube-master", ["crictl", "pull", calico.IMAGES[0]], pull_errors.PULL_DEADLINE)]


def test_a_pull_that_hangs_is_named_as_such():
    cluster = FakeCluster({"kube-master": set()}, ExecResult(124, ""))
    with pytest.raises(UserError, match=f"no answer within {pull_errors.PULL_DEADLINE}s"):
        pulled.check_pull(calico.UPSTREAM, cluster, list(calico.IMAGES))


def test_nodes_that_can_pull_go_on():
    cluster = FakeCluster({"kube-master": set()}, ExecResult(0, "Image is up to date"))
    pulled.check_pull(calico.UPSTREAM, cluster, list(calico.IMAGES))
