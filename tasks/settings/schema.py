"""Every setting, declared once: its key, flag, parser and help. Defaults live
in config/defaults.yaml."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tasks.paths import CONFIG_DIR
from tasks.settings.custom import (
    component_args,
    feature_gates,
    json6902_patches,
    merge_patches,
    node_labels,
    port_mappings,
    registry_mirrors,
    runtime_config,
)
from tasks.settings.parsers import (
    CNI_PLUGINS,
    DEBIAN_SUITES,
    KNOWN_ADDONS,
    addons,
    boolean,
    checksum,
    choice,
    cni_plugin,
    directory,
    ip_address,
    ipv4_network,
    name,
    optional_path,
    repository,
    url,
    version,
    whole_number,
)

DEFAULTS_FILE = CONFIG_DIR / "defaults.yaml"
CONF_ENV = "LOCAL_CLUSTER_CONF"
ENV_PREFIX = "K8S_DIND_"
# Options of one invocation, not of the cluster: accepted as flags and
# environment variables like the settings, never part of the settings hash.
INVOCATION_FLAGS = {
    "no-wait": "fail at once when another run holds the lock, instead of waiting",
    "retain": "keep the node containers of a failed `up` for inspection",
    "all": "with `clean`: every cluster on the engine, and the node images too",
    "internal": "with `kubeconfig`: the API server's address on the cluster's network, for containers there",
}
# Options of one command that take a value: flags only (neither settings nor
# environment variables), and given to another command they are an error.
# {flag: (command, help)}
INVOCATION_OPTIONS = {
    "archive": ("load", "with `load`: a `docker save` archive to load (its images), besides or instead of IMAGE..."),
    "nodes": ("load", "with `load`: the nodes to load into, comma-separated (kube-master, kube-node-N); default: all"),
}
# The pods' and Services' address ranges (kubeadm's networking): the nodes'
# subnet must stay clear of both.
# ---------------------------------------------------------------- schema


@dataclass(frozen=True)
class Setting:
    key: str  # dotted key in the YAML files, e.g. cluster.numNodes
    flag: str  # command-line flag without the dashes, e.g. num-nodes
    parse: Callable
    help: str
    inverse: str = ""  # for booleans: the flag that turns it off

    @property
    def is_bool(self) -> bool:
        return self.parse is boolean

    @property
    def env(self) -> str:
        return flag_env(self.flag)

    @property
    def section(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def attr(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.key.rpartition(".")[2]).lower()


def flag_env(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _binary_url(binary: str, what: str) -> list[Setting]:
    return [
        Setting(f"source.{binary}Url", f"{binary}-url", url, f"Download {what} from this URL."),
        Setting(
            f"source.{binary}Sha1",
            f"{binary}-sha1",
            checksum,
            f"sha1, sha256 or sha512 of the {binary}Url download (told apart by length).",
        ),
    ]


BUILD_SETTINGS = ("source.buildKubeadm", "source.buildHyperkube", "source.buildKubelet", "source.buildKubectl")

SCHEMA: tuple[Setting, ...] = (
    Setting(
        "dind.subnet",
        "dind-subnet",
        ipv4_network,
        "IPv4 network of the node containers; auto: a free /16 from 10.192.0.0/16 up, kept while the network is.",
    ),
    Setting("verbose", "v", whole_number(0), "0 quiet, 1 steps, 2 commands and their output, 3+ debug."),
    Setting(
        "output",
        "output",
        choice("text", "json"),
        "text: a status line per step; json: one JSON object per line per step event, for CI and editors.",
    ),
    Setting("source.kubernetesVersion", "kubernetes-version", version, '"stable" (newest stable release) or vX.Y.Z.'),
    Setting("source.buildKubeadm", "build-kubeadm", boolean, "Build kubeadm in k8sDir.", "no-build-kubeadm"),
    Setting(
        "source.buildHyperkube",
        "build-hyperkube",
        boolean,
        "Build kubelet and the control-plane components in k8sDir.",
        "no-build-hyperkube",
    ),
    Setting(
        "source.buildKubelet",
        "build-kubelet",
        boolean,
        "Build kubelet alone in k8sDir (buildHyperkube builds it with the control plane).",
        "no-build-kubelet",
    ),
    Setting("source.buildKubectl", "build-kubectl", boolean, "Build kubectl in k8sDir.", "no-build-kubectl"),
    Setting("source.k8sDir", "k8s-dir", directory, "Kubernetes source tree for the build settings."),
    Setting(
        "source.buildIn",
        "build-in",
        choice("local", "engine"),
        "Where the build settings run make: local (in k8sDir here) or engine (in a container on the Docker "
        "engine's host, the tree synced there; kubelet and kubeadm never cross to this machine).",
    ),
    Setting(
        "source.releaseSite",
        "release-site",
        url,
        "Download the release's binaries and images from this site (such as https://dl.k8s.io/release) "
        "instead of building them from Go modules; etcd, CoreDNS and pause then come from the engine "
        "(pre-loaded or pulled).",
    ),
    *_binary_url("kubeadm", "kubeadm"),
    *_binary_url("hyperkube", "kubelet and the control-plane binaries (a hyperkube)"),
    *_binary_url("kubectl", "kubectl"),
    Setting(
        "cluster.name",
        "cluster-name",
        name,
        "Cluster name: labels every Docker object; other names than the default add -<name> to each container.",
    ),
    Setting("cluster.numNodes", "num-nodes", whole_number(0), "Worker nodes; 0 makes one untainted master."),
    Setting(
        "cluster.cniPlugin",
        "cni-plugin",
        cni_plugin,
        f"Pod network: {', '.join(CNI_PLUGINS)} (bridge and flannel built here; calico and weave pull their images).",
    ),
    Setting("cluster.noDedicated", "no-dedicated", boolean, "Let ordinary pods run on kube-master too.", "dedicated"),
    Setting(
        "cluster.apiServerAddress", "api-server-address", ip_address, "Host address the API server is published on."
    ),
    Setting(
        "cluster.apiServerPort",
        "api-server-port",
        whole_number(0, 65535),
        "Host port of the API server; 0 picks a free one.",
    ),
    Setting(
        "cluster.addons",
        "addons",
        addons,
        f"Comma-separated add-on names ({', '.join(KNOWN_ADDONS)}), manifest URLs or files; '' for none.",
    ),
    Setting(
        "cluster.extraPortMappings",
        "extra-port-mappings",
        port_mappings,
        "Node ports published on the host: [ADDRESS:]HOST_PORT:NODE_PORT[/tcp|udp|sctp][@NODE], comma-separated; "
        "ADDRESS defaults to 127.0.0.1, NODE (kube-master, kube-node-N) to kube-master.",
    ),
    Setting(
        "cluster.nodeLabels",
        "node-labels",
        node_labels,
        "Node labels: KEY=VALUE[@NODE], comma-separated; without @NODE on every node (any key, node-role ones too).",
    ),
    Setting(
        "cluster.registry",
        "registry",
        boolean,
        "A local registry (distribution, built here) published on 127.0.0.1:registryPort, which every node pulls "
        "localhost:<port>/... from; its data is kept by `down`, removed by `clean`.",
        "no-registry",
    ),
    Setting(
        "cluster.registryPort",
        "registry-port",
        whole_number(0, 65535),
        "Host port of the local registry (kind's convention: 5001); 0 picks a free one at each start.",
    ),
    Setting(
        "cluster.registryMirrors",
        "registry-mirrors",
        registry_mirrors,
        "Mirrors the nodes pull other registries' images from: HOST=URL,... such as "
        "docker.io=http://mirror.example:5000 (or a YAML mapping).",
    ),
    Setting(
        "kubernetes.featureGates",
        "feature-gates",
        feature_gates,
        "Feature gates for every component and the kubelet: Name=true,Other=false (or a YAML mapping).",
    ),
    Setting(
        "kubernetes.runtimeConfig",
        "runtime-config",
        runtime_config,
        "API groups/versions the API server serves beyond its defaults: resource.k8s.io/v1beta1=true,...",
    ),
    *(
        Setting(
            f"kubernetes.{key}ExtraArgs",
            f"{flag}-extra-args",
            component_args(component),
            f"More flags of {component}: name=value,... without dashes (YAML mapping when a value holds a comma).",
        )
        for key, flag, component in (
            ("apiServer", "apiserver", "kube-apiserver"),
            ("controllerManager", "controller-manager", "controller-manager"),
            ("scheduler", "scheduler", "kube-scheduler"),
            ("kubelet", "kubelet", "kubelet"),
            ("kubeProxy", "kube-proxy", "kube-proxy"),
        )
    ),
    Setting(
        "kubernetes.kubeadmConfigPatches",
        "kubeadm-config-patches",
        merge_patches,
        "Merge patches of the kubeadm documents (as kind's kubeadmConfigPatches): YAML documents, each with the kind "
        "it patches (InitConfiguration, ClusterConfiguration, JoinConfiguration, KubeletConfiguration, "
        "KubeProxyConfiguration).",
    ),
    Setting(
        "kubernetes.kubeadmConfigPatchesJson6902",
        "kubeadm-config-patches-json6902",
        json6902_patches,
        "JSON 6902 patches of the kubeadm documents: a YAML list of {kind, patch: [operations]}.",
    ),
    Setting(
        "kubeconfig.merge",
        "merge-kubeconfig",
        boolean,
        "Add the cluster to your kubeconfig ($KUBECONFIG's first file, else ~/.kube/config) at `up`; "
        "`down` and `clean` take it out again.",
        "no-merge-kubeconfig",
    ),
    Setting(
        "kubeconfig.switchContext",
        "switch-context",
        boolean,
        "Make the cluster's context the current one at `up`.",
        "no-switch-context",
    ),
    Setting(
        "node.debianMirror",
        "debian-mirror",
        url,
        "Debian mirror for node images; empty: the host's own Debian mirror, else mmdebstrap's default.",
    ),
    Setting(
        "node.debianSuite",
        "debian-suite",
        choice(*DEBIAN_SUITES),
        "Debian suite of the node image; auto suits the Kubernetes version.",
    ),
    Setting(
        "node.imageRepository",
        "node-image-repository",
        repository,
        "Repository of the node images in the engine, tagged with the Kubernetes version.",
    ),
    Setting(
        "e2e.reportDir",
        "report-dir",
        optional_path,
        "Where e2e and e2e-serial write JUnit XML and their log; empty: a new directory under "
        "~/.kubeadm-local-cluster/e2e/ per run.",
    ),
    Setting("e2e.parallel", "e2e-parallel", whole_number(1, 64), "Ginkgo processes for `e2e` (e2e-serial uses one)."),
)
BY_KEY = {s.key: s for s in SCHEMA}
BY_FLAG = {s.flag: s for s in SCHEMA}
BY_INVERSE = {s.inverse: s for s in SCHEMA if s.inverse}
BY_ENV = {s.env: s for s in SCHEMA}
SECTIONS = tuple(dict.fromkeys(s.section for s in SCHEMA if s.section))
