"""The flannel pod network: its manifest, its doit tasks and its wrapper modules (nothing is built)."""

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from tasks.build import gobuild
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir
from tasks.podnet import flannel


def documents(text: str) -> dict[str, dict]:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs)  # one of each kind
    return by_kind


def pod_spec(docs: dict[str, dict]) -> dict:
    return docs["DaemonSet"]["spec"]["template"]["spec"]


def test_manifest_is_the_objects_flannel_needs_in_its_namespace():
    docs = documents(flannel.manifest("10.244.0.0/16"))
    assert set(docs) == {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"}
    assert docs["Namespace"]["metadata"]["name"] == "kube-flannel"
    for kind in ("ServiceAccount", "ConfigMap", "DaemonSet"):
        assert docs[kind]["metadata"]["namespace"] == "kube-flannel"
    subject = docs["ClusterRoleBinding"]["subjects"][0]
    assert (subject["name"], subject["namespace"]) == (docs["ServiceAccount"]["metadata"]["name"], "kube-flannel")
    assert docs["ClusterRoleBinding"]["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    spec = pod_spec(docs)
    assert spec["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    config_volume = next(v for v in spec["volumes"] if "configMap" in v)
    assert config_volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]


def test_net_conf_has_the_pod_subnet_and_vxlan():
    net_conf = json.loads(documents(flannel.manifest("10.250.0.0/16"))["ConfigMap"]["data"]["net-conf.json"])
    assert net_conf["Network"] == "10.250.0.0/16"
    assert net_conf["Backend"] == {"Type": "vxlan"}  # the MTU: flanneld reads the interface's
    assert net_conf["EnableNFTables"] is False


def test_an_mtu_goes_to_the_vxlan_backend():
    net_conf = json.loads(documents(flannel.manifest("10.244.0.0/16", mtu=1400))["ConfigMap"]["data"]["net-conf.json"])
    assert net_conf["Backend"] == {"Type": "vxlan", "MTU": 1400}


def test_cni_conf_is_a_conflist_the_plugin_speaks():
    conflist = json.loads(documents(flannel.manifest("10.244.0.0/16"))["ConfigMap"]["data"]["cni-conf.json"])
    assert conflist["cniVersion"] == flannel.CNI_VERSION
    first, second = conflist["plugins"]
    assert first == {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}}
    assert second == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_every_container_runs_our_image_and_never_pulls():
    spec = pod_spec(documents(flannel.manifest("10.244.0.0/16")))
    containers = spec["initContainers"] + spec["containers"]
    assert len(containers) == 3
    for container in containers:
        assert container["image"] == flannel.IMAGE == f"kubeadm-local-cluster/flannel:{flannel.VERSION}"
        assert container["imagePullPolicy"] == "Never"


def test_flanneld_runs_on_every_node_with_the_kube_subnet_manager():
    spec = pod_spec(documents(flannel.manifest("10.244.0.0/16")))
    assert spec["hostNetwork"] is True
    assert spec["tolerations"] == [{"operator": "Exists"}]  # every taint, any effect
    (flanneld,) = spec["containers"]
    assert flanneld["command"] == ["/opt/bin/flanneld"]
    assert {"--ip-masq", "--kube-subnet-mgr"} <= set(flanneld["args"])
    assert {"NET_ADMIN", "NET_RAW"} <= set(flanneld["securityContext"]["capabilities"]["add"])
    assert {e["name"] for e in flanneld["env"]} >= {"POD_NAME", "POD_NAMESPACE"}


def node_cni_dirs() -> tuple[str, str]:
    config = tomllib.loads((IMAGES_DIR / "node" / "containerd.toml").read_text())
    cni = config["plugins"]["io.containerd.cri.v1.runtime"]["cni"]
    return cni["bin_dirs"][0], cni["conf_dir"]


def test_plugin_and_conflist_go_where_the_nodes_containerd_looks():
    bin_dir, conf_dir = node_cni_dirs()
    assert (bin_dir, conf_dir) == (flannel.CNI_BIN_DIR, flannel.CNI_CONF_DIR)
    spec = pod_spec(documents(flannel.manifest("10.244.0.0/16")))
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    plugin, conflist = spec["initContainers"]
    assert plugin["command"] == ["/opt/bin/install-conf", "/flannel", f"{bin_dir}/flannel"]
    installed = f"{conf_dir}/10-flannel.conflist"
    assert conflist["command"] == ["/opt/bin/install-conf", "/etc/kube-flannel/cni-conf.json", installed]
    for container, directory in ((plugin, bin_dir), (conflist, conf_dir)):
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
        assert host_paths[mount["name"]] == directory
    assert host_paths["run"] == "/run/flannel"  # subnet.env, which the plugin reads on the node


@pytest.mark.parametrize("subnet", ["10.244.0.1/16", "not a network", '10.244.0.0/16", "x": "'])
def test_a_pod_subnet_that_is_no_network_is_refused(subnet):
    with pytest.raises(UserError, match="not a network"):
        flannel.manifest(subnet)


def test_a_negative_mtu_is_refused():
    with pytest.raises(UserError, match="MTU"):
        flannel.manifest("10.244.0.0/16", mtu=-1)


def test_everything_lives_under_its_version_whatever_kubernetes_is(isolated_home):
    assert flannel.root() == cache_dir() / "podnet" / "flannel" / flannel.VERSION
    assert flannel.archive().parent == flannel.root()


def test_task_dicts_build_in_order_and_each_names_its_inputs():
    tasks = flannel.task_dicts()
    assert [t["name"] for t in tasks] == ["flanneld", "cni-plugin", "base", "image"]
    made: set[str] = set()
    for task in tasks:
        assert task["basename"] == flannel.TASK
        assert task["doc"] and task["meta"]["title"]
        assert len(task["actions"]) == 1 and callable(task["actions"][0])
        assert task["uptodate"] and all(callable(check) for check in task["uptodate"])
        for target in task["targets"]:
            assert Path(target).is_relative_to(flannel.root())
        # An input is one of our files or an earlier task's target: doit orders by them.
        for dep in task["file_dep"]:
            assert dep in made or Path(dep).is_file(), dep
        made.update(task["targets"])
    assert tasks[0]["meta"]["title"] == f"flanneld {flannel.VERSION} from Go modules"
    assert tasks[-1]["targets"] == [str(flannel.archive())]
    assert set(tasks[-1]["file_dep"]) == made - {str(flannel.archive())}


def test_recipes_are_json_values():
    # config_changed hashes what it is given: a Path inside would not be JSON.
    for task in flannel.task_dicts():
        (check,) = task["uptodate"]
        json.dumps(check.config)


MAIN_GO = """package main

import (
	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/hostgw"
	_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"
	_ "github.com/flannel-io/flannel/pkg/backend/udp"
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
)
"""


def test_the_backends_that_cannot_be_built_leave_main_go():
    text = flannel.without_backends(MAIN_GO)
    assert "backend/udp" not in text and "backend/tencentvpc" not in text
    assert '\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"\n' in text
    assert '\t"github.com/flannel-io/flannel/pkg/backend"\n' in text


def test_a_main_go_that_changed_shape_is_refused():
    with pytest.raises(UserError, match="needs a look"):
        flannel.without_backends(MAIN_GO.replace('\t_ "github.com/flannel-io/flannel/pkg/backend/udp"\n', ""))


def test_wrapper_modules_build_the_commands(tmp_path):
    gobuild.write_module(tmp_path / "f", "flannel.go.mod", {"version": flannel.VERSION, "go": "1.26.0"})
    text = (tmp_path / "f" / "go.mod").read_text()
    assert f"require github.com/flannel-io/flannel {flannel.VERSION}\n" in text
    assert "replace github.com/flannel-io/flannel => ./flannel\n" in text
    assert "\tgithub.com/flannel-io/flannel\n" in text and "\tgithub.com/flannel-io/flannel/cmd/install_conf\n" in text
    gobuild.write_module(tmp_path / "c", "cni-plugins.go.mod", {"version": flannel.CNI_PLUGINS_VERSION, "go": "1.24"})
    text = (tmp_path / "c" / "go.mod").read_text()
    assert f"require github.com/containernetworking/plugins {flannel.CNI_PLUGINS_VERSION}\n" in text
    assert "tool github.com/containernetworking/plugins/plugins/meta/flannel\n" in text
