"""Customising the cluster (#15): the settings' parsers and the documents kubeadm gets."""

import pytest
import yaml

from tasks.errors import SettingsError, UserError
from tasks.node import kubeadm_config
from tasks.settings import load_settings, parse_flags
from tasks.settings.custom import labels_of, ports_of

INIT_VALUES = {
    "token": "abcdef.0123456789abcdef",
    "master_name": "kube-master",
    "master_address": "10.192.0.2",
    "master_taints": "null",
    "ignore_preflight_errors": "[]",
    "version": "v1.34.4",
    "cluster_name": "kubeadm-local-cluster",
    "pod_subnet": "10.244.0.0/16",
    "service_subnet": "10.96.0.0/12",
    "cert_sans": "[]",
    "fail_cgroup_v1": "true",
}


def settings_from(*flags: str):
    values, _, _ = parse_flags(list(flags))
    return load_settings(flags=values, environ={})


def documents(*flags: str) -> dict:
    text = kubeadm_config.render("kubeadm-init.yaml", settings_from(*flags), **INIT_VALUES)
    return {d["kind"]: d for d in yaml.safe_load_all(text)}


def args(document: dict, section: str) -> dict:
    return {a["name"]: a["value"] for a in document[section].get("extraArgs") or []}


def test_feature_gates_reach_every_component_and_the_kubelet():
    docs = documents("--feature-gates", "ContainerStopSignals=true,Other=false")
    cluster = docs["ClusterConfiguration"]
    for section in ("apiServer", "controllerManager", "scheduler"):
        assert args(cluster, section)["feature-gates"] == "ContainerStopSignals=true,Other=false"
    assert docs["KubeletConfiguration"]["featureGates"] == {"ContainerStopSignals": True, "Other": False}
    assert docs["KubeProxyConfiguration"]["featureGates"] == {"ContainerStopSignals": True, "Other": False}
    # The template's own flags stay.
    assert args(cluster, "controllerManager")["allocate-node-cidrs"] == "false"


def test_runtime_config_and_extra_args():
    docs = documents(
        "--runtime-config",
        "resource.k8s.io/v1beta1=true",
        "--apiserver-extra-args",
        "{enable-admission-plugins: 'NodeRestriction,AlwaysPullImages', v: 4}",
        "--kubelet-extra-args",
        "v=3",
    )
    api = args(docs["ClusterConfiguration"], "apiServer")
    assert api["runtime-config"] == "resource.k8s.io/v1beta1=true"
    assert api["enable-admission-plugins"] == "NodeRestriction,AlwaysPullImages"
    assert api["v"] == "4"
    kubelet = {a["name"]: a["value"] for a in docs["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]}
    assert kubelet == {"node-ip": "10.192.0.2", "v": "3"}


def test_merge_and_json6902_patches():
    docs = documents(
        "--kubeadm-config-patches",
        "kind: KubeletConfiguration\nmaxPods: 150\nevictionHard: null\n---\nkind: JoinConfiguration\nx: 1\n",
        "--kubeadm-config-patches-json6902",
        "[{kind: ClusterConfiguration, patch: [{op: add, path: /apiServer/extraArgs, "
        "value: [{name: event-ttl, value: 30m0s}]}]}]",
    )
    assert docs["KubeletConfiguration"]["maxPods"] == 150
    assert "evictionHard" not in docs["KubeletConfiguration"]
    assert args(docs["ClusterConfiguration"], "apiServer")["event-ttl"] == "30m0s"


def test_a_patch_for_another_api_version_is_one_clear_error():
    with pytest.raises(UserError, match=r"kubeadm\.k8s\.io/v1beta3, but kubeadm is given ClusterConfiguration"):
        documents("--kubeadm-config-patches", "{kind: ClusterConfiguration, apiVersion: kubeadm.k8s.io/v1beta3}")


def test_a_json6902_patch_that_does_not_apply_is_one_clear_error():
    with pytest.raises(UserError, match="does not apply to ClusterConfiguration"):
        documents(
            "--kubeadm-config-patches-json6902",
            "[{kind: ClusterConfiguration, patch: [{op: replace, path: /no/such, value: 1}]}]",
        )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--feature-gates", "lowercase=true", "is not a feature gate name"),
        ("--feature-gates", "Gate=maybe", "expected true or false"),
        ("--runtime-config", "api/all=sometimes", "expected true or false"),
        ("--apiserver-extra-args", "--v=3", "without dashes"),
        ("--apiserver-extra-args", "feature-gates=A=true", "kubernetes.featureGates"),
        ("--kubelet-extra-args", "node-ip=1.2.3.4", "set by `up` itself"),
        ("--kubeadm-config-patches", "kind: Deployment", "kind must be one of"),
        ("--kubeadm-config-patches", "[unclosed", "not valid YAML"),
        ("--kubeadm-config-patches-json6902", "[{kind: InitConfiguration, patch: [{op: frob}]}]", "each operation"),
        ("--extra-port-mappings", "8080", "is not \\[ADDRESS:\\]HOST_PORT"),
        ("--extra-port-mappings", "70000:80", "ports are 1 to 65535"),
        ("--extra-port-mappings", "8080:80,8080:81", "mapped twice"),
        ("--extra-port-mappings", "8080:80@kube-node-9", "makes no such node"),
        ("--node-labels", "tier", "is not KEY=VALUE"),
        ("--node-labels", "a=b@worker", "is not a node"),
        ("--node-labels", "-bad=x", "is not a label key"),
    ],
)
def test_bad_customisation_is_one_line(flag, value, message):
    with pytest.raises(SettingsError, match=message) as caught:
        settings_from(flag, value)
    assert "\n" not in str(caught.value)


def test_port_mappings_default_to_loopback_and_the_master():
    settings = settings_from("--extra-port-mappings", "8080:30080,0.0.0.0:8443:443/tcp@kube-node-1,53:53/udp")
    mappings = settings.cluster.extra_port_mappings
    assert ports_of(mappings, 0) == [("127.0.0.1", 8080, 30080, "tcp"), ("127.0.0.1", 53, 53, "udp")]
    assert ports_of(mappings, 1) == [("0.0.0.0", 8443, 443, "tcp")]
    assert ports_of(mappings, 2) == []


def test_node_labels_for_every_node_or_one():
    settings = settings_from("--node-labels", "tier=demo,node-role.kubernetes.io/worker=@kube-node-1")
    labels = settings.cluster.node_labels
    assert labels_of(labels, 0) == {"tier": "demo"}
    assert labels_of(labels, 1) == {"tier": "demo", "node-role.kubernetes.io/worker": ""}


def test_customisation_is_in_the_node_config_hash():
    from tasks.cluster import NODE_SETTINGS

    customising = [
        "cluster.extraPortMappings",
        "cluster.nodeLabels",
        "kubernetes.featureGates",
        "kubernetes.runtimeConfig",
        "kubernetes.kubeadmConfigPatches",
        "kubernetes.kubeadmConfigPatchesJson6902",
        *(f"kubernetes.{c}ExtraArgs" for c in ("apiServer", "controllerManager", "scheduler", "kubelet", "kubeProxy")),
    ]
    assert set(customising) <= set(NODE_SETTINGS)


def test_settings_from_the_file_take_yaml_mappings_and_lists(state):
    (state / "config.yaml").write_text(
        "kubernetes:\n  featureGates:\n    ContainerStopSignals: true\n"
        "  kubeadmConfigPatches:\n  - kind: KubeletConfiguration\n    maxPods: 150\n"
        "cluster:\n  nodeLabels: {tier: demo}\n"
    )
    settings = load_settings(environ={})
    assert dict(settings.kubernetes.feature_gates) == {"ContainerStopSignals": True}
    assert settings.slice("kubernetes.kubeadmConfigPatches") == {
        "kubernetes.kubeadmConfigPatches": [{"kind": "KubeletConfiguration", "maxPods": 150}]
    }
    assert settings.cluster.node_labels == ("tier=demo",)
