"""The settings object: immutable, one dataclass per section, remembering
where each value came from."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from tasks.settings.custom import thaw
from tasks.settings.schema import BY_KEY

# ---------------------------------------------------------------- the object


@dataclass(frozen=True)
class Dind:
    subnet: str


@dataclass(frozen=True)
class Source:
    kubernetes_version: str
    build_kubeadm: bool
    build_hyperkube: bool
    build_kubelet: bool
    build_kubectl: bool
    k8s_dir: str
    build_in: str
    release_site: str
    kubeadm_url: str
    kubeadm_sha1: str
    hyperkube_url: str
    hyperkube_sha1: str
    kubectl_url: str
    kubectl_sha1: str


@dataclass(frozen=True)
class Cluster:
    name: str
    num_nodes: int
    cni_plugin: str
    no_dedicated: bool
    api_server_address: str
    api_server_port: int
    addons: tuple[str, ...]
    extra_port_mappings: tuple[str, ...]
    node_labels: tuple[str, ...]
    registry: bool
    registry_port: int
    registry_mirrors: Mapping[str, str]


@dataclass(frozen=True)
class Kubernetes:
    # Mappings and patches are frozen (tasks.settings.custom.freeze).
    feature_gates: Mapping[str, bool]
    runtime_config: Mapping[str, str]
    api_server_extra_args: Mapping[str, str]
    controller_manager_extra_args: Mapping[str, str]
    scheduler_extra_args: Mapping[str, str]
    kubelet_extra_args: Mapping[str, str]
    kube_proxy_extra_args: Mapping[str, str]
    kubeadm_config_patches: tuple[Mapping, ...]
    kubeadm_config_patches_json6902: tuple[Mapping, ...]


@dataclass(frozen=True)
class Kubeconfig:
    merge: bool
    switch_context: bool


@dataclass(frozen=True)
class Node:
    debian_mirror: str
    debian_suite: str
    image_repository: str


@dataclass(frozen=True)
class E2E:
    report_dir: str
    parallel: int


SECTION_TYPES = {
    "dind": Dind,
    "source": Source,
    "cluster": Cluster,
    "kubernetes": Kubernetes,
    "kubeconfig": Kubeconfig,
    "node": Node,
    "e2e": E2E,
}


@dataclass(frozen=True)
class Settings:
    dind: Dind
    verbose: int
    output: str
    source: Source
    cluster: Cluster
    kubernetes: Kubernetes
    kubeconfig: Kubeconfig
    node: Node
    e2e: E2E
    # dotted key -> where its value came from ("default", "env K8S_DIND_V", ...)
    origins: Mapping[str, str] = dataclasses.field(compare=False, repr=False)

    def value(self, key: str):
        setting = BY_KEY[key]
        holder = getattr(self, setting.section) if setting.section else self
        return getattr(holder, setting.attr)

    def slice(self, *keys: str) -> dict:
        """A JSON-able {key: value} of the given settings (all when none given),
        for doit's config_changed: a task depends on exactly what it reads."""
        keys = keys or tuple(BY_KEY)
        return {k: _jsonable(self.value(k)) for k in keys}

    def digest(self, *keys: str) -> str:
        return json.dumps(self.slice(*keys), sort_keys=True)


def _jsonable(value):
    return thaw(value)
