"""Settings: every layer, its precedence, and a clear one-line error for each bad input."""

import textwrap

import pytest

from tasks.errors import SettingsError
from tasks.naming import Names
from tasks.settings import SCHEMA, load_settings, parse_flags, render_effective


def write_config(state, text: str):
    path = state / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(**kwargs) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- defaults


def test_defaults_match_the_design(tmp_path):
    settings = load_settings(environ={})
    assert settings.dind.subnet == "auto"
    assert settings.verbose == 1
    assert settings.source.kubernetes_version == "stable"
    assert not (settings.source.build_kubeadm or settings.source.build_hyperkube or settings.source.build_kubectl)
    assert settings.source.k8s_dir == str(tmp_path / "work")  # the current directory
    assert settings.cluster.num_nodes == 2
    assert settings.cluster.cni_plugin == "bridge"
    assert settings.cluster.no_dedicated is False
    assert settings.cluster.api_server_address == "127.0.0.1"
    assert settings.cluster.addons == ("local-path-provisioner",)
    assert Names(settings.cluster.name).network == "k8s-kubeadm-local-cluster"
    assert set(settings.origins.values()) == {"default"}


def test_settings_are_immutable():
    settings = load_settings(environ={})
    with pytest.raises(AttributeError):
        settings.cluster.num_nodes = 5


# ---------------------------------------------------------------- precedence


def test_file_overrides_default(state):
    path = write_config(
        state,
        """
        cluster:
          numNodes: 4
    """,
    )
    settings = load_settings(environ={})
    assert settings.cluster.num_nodes == 4
    assert settings.origins["cluster.numNodes"] == f"file {path} line 3"


def test_local_cluster_conf_names_another_file(state, tmp_path):
    write_config(state, "cluster: {numNodes: 4}\n")
    other = tmp_path / "other.yaml"
    other.write_text("cluster: {numNodes: 5}\n")
    assert load_settings(environ={"LOCAL_CLUSTER_CONF": str(other)}).cluster.num_nodes == 5


def test_env_overrides_file(state):
    write_config(state, "cluster: {numNodes: 4}\n")
    settings = load_settings(environ={"K8S_DIND_NUM_NODES": "6"})
    assert settings.cluster.num_nodes == 6
    assert settings.origins["cluster.numNodes"] == "env K8S_DIND_NUM_NODES"


def test_flag_overrides_env(state):
    write_config(state, "cluster: {numNodes: 4}\n")
    flags, _, _ = parse_flags(["up", "--num-nodes", "7"])
    settings = load_settings(flags=flags, environ={"K8S_DIND_NUM_NODES": "6"})
    assert settings.cluster.num_nodes == 7
    assert settings.origins["cluster.numNodes"] == "flag --num-nodes"


# URLs and checksums come in pairs and build settings need a tree: both are
# checked through every layer in the tests after this one.
SINGLE = [s for s in SCHEMA if not s.key.endswith(("Url", "Sha1")) and not s.key.startswith("source.build")]


@pytest.mark.parametrize("setting", SINGLE, ids=lambda s: s.key)
def test_every_setting_has_an_env_var_and_a_flag(setting, tmp_path):
    # A value valid for each kind of setting, given through env and then flag.
    value = {
        "dind.subnet": "10.50.0.0/16",
        "verbose": "3",
        "output": "json",
        "source.kubernetesVersion": "v1.34.4",
        "source.k8sDir": str(tmp_path),
        "cluster.name": "other",
        "cluster.numNodes": "1",
        "cluster.cniPlugin": "flannel",
        "cluster.apiServerAddress": "0.0.0.0",
        "cluster.apiServerPort": "6443",
        "cluster.addons": "",
        "node.debianSuite": "forky",
        "node.imageRepository": "example/node",
        "cluster.noDedicated": "true",
        "e2e.parallel": "8",
        "e2e.reportDir": str(tmp_path),
        "kubeconfig.merge": "true",
        "kubeconfig.switchContext": "true",
        "kubernetes.featureGates": "SomeGate=true",
        "cluster.extraPortMappings": "8080:30080",
        "cluster.registry": "true",
        "cluster.registryPort": "5002",
        "cluster.registryMirrors": "docker.io=http://mirror.example:5000",
    }.get(setting.key, "")
    from_env = load_settings(environ={setting.env: value})
    assert from_env.origins[setting.key] == f"env {setting.env}"
    flags, _, _ = parse_flags([f"--{setting.flag}" if setting.is_bool else f"--{setting.flag}={value}"])
    from_flag = load_settings(flags=flags, environ={setting.env: value})
    assert from_flag.origins[setting.key] == f"flag --{setting.flag}"
    assert from_flag.value(setting.key) == from_env.value(setting.key)


def test_url_and_checksum_pairs_through_every_layer(state):
    sha256 = "a" * 64
    write_config(state, f"source: {{kubeadmUrl: 'https://example.invalid/kubeadm', kubeadmSha1: '{sha256}'}}\n")
    env = {"K8S_DIND_KUBECTL_URL": "http://127.0.0.1:1/kubectl", "K8S_DIND_KUBECTL_SHA1": "b" * 40}
    flags, _, _ = parse_flags(["--hyperkube-url", "file:///tmp/hyperkube", "--hyperkube-sha1", "C" * 128])
    settings = load_settings(flags=flags, environ=env)
    assert settings.source.kubeadm_sha1 == sha256
    assert settings.source.kubectl_url == "http://127.0.0.1:1/kubectl"
    assert settings.source.hyperkube_sha1 == "c" * 128  # digests are compared lower-case


def test_boolean_flags_and_their_inverse(state, tmp_path):
    tree = tmp_path / "kubernetes"
    (tree / "cmd" / "kubeadm").mkdir(parents=True)
    write_config(state, f"source: {{buildKubeadm: true, k8sDir: {tree}}}\ncluster: {{noDedicated: true}}\n")
    assert load_settings(environ={}).source.build_kubeadm is True
    flags, _, _ = parse_flags(["up", "--no-build-kubeadm", "--dedicated"])
    settings = load_settings(flags=flags, environ={})
    assert settings.source.build_kubeadm is False
    assert settings.cluster.no_dedicated is False
    env = load_settings(environ={"K8S_DIND_NO_DEDICATED": "yes"})
    assert env.cluster.no_dedicated is True


def test_version_is_normalised():
    assert load_settings(environ={"K8S_DIND_KUBERNETES_VERSION": "1.34.4"}).source.kubernetes_version == "v1.34.4"


def test_addons_accept_names_urls_and_files(tmp_path):
    manifest = tmp_path / "extra.yaml"
    manifest.write_text("kind: List\n")
    settings = load_settings(environ={"K8S_DIND_ADDONS": f"dashboard, https://example.invalid/a.yaml,{manifest}"})
    assert settings.cluster.addons == ("dashboard", "https://example.invalid/a.yaml", str(manifest))
    assert load_settings(environ={"K8S_DIND_ADDONS": ""}).cluster.addons == ()


def test_a_file_url_add_on_is_a_file_checked_when_the_settings_are_read(tmp_path):
    manifest = tmp_path / "extra.yaml"
    manifest.write_text("kind: List\n")
    settings = load_settings(environ={"K8S_DIND_ADDONS": f"metrics-server,file://{manifest}"})
    assert settings.cluster.addons == ("metrics-server", str(manifest))
    missing = f"file://{tmp_path}/missing.yaml"
    assert f"addon manifest '{tmp_path}/missing.yaml' not found" in error_of(environ={"K8S_DIND_ADDONS": missing})
    assert "needs an absolute path" in error_of(environ={"K8S_DIND_ADDONS": "file://extra.yaml"})


# ---------------------------------------------------------------- bad input


def test_malformed_yaml_names_the_line(state):
    path = write_config(state, "cluster:\n  numNodes: 2\n  cniPlugin: [bridge\n")
    message = error_of(environ={})
    assert message.startswith(f"{path} line 4")
    assert "malformed YAML" in message


def test_unknown_key_names_the_nearest(state):
    path = write_config(state, "cluster:\n  numNode: 3\n")
    assert error_of(environ={}) == f"{path} line 2: unknown setting cluster.numNode; did you mean cluster.numNodes?"


def test_unknown_key_in_the_wrong_section_finds_it(state):
    write_config(state, "numNodes: 3\n")
    assert error_of(environ={}).endswith("unknown setting numNodes; did you mean cluster.numNodes?")


def test_unknown_section(state):
    write_config(state, "clustr:\n  numNodes: 3\n")
    assert error_of(environ={}).endswith("unknown setting clustr; did you mean cluster?")


def test_duplicate_key(state):
    write_config(state, "cluster:\n  numNodes: 3\n  numNodes: 4\n")
    assert error_of(environ={}).endswith("line 3: cluster.numNodes is given twice")


def test_wrong_type(state):
    path = write_config(state, "cluster:\n  numNodes: two\n")
    assert error_of(environ={}) == f"file {path} line 2: cluster.numNodes: expected a whole number, got 'two'"


def test_a_section_that_is_not_a_mapping(state):
    write_config(state, "cluster: 3\n")
    assert error_of(environ={}).endswith("line 1: cluster: expected a mapping of settings")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.192.0.0", "expected a network with a prefix length such as 10.192.0.0/16, got '10.192.0.0'"),
        ("10.192.0.5/16", "10.192.0.5/16 has host bits set; did you mean 10.192.0.0/16?"),
        ("banana", "expected an IPv4 network such as 10.192.0.0/16, got 'banana'"),
        ("fd00::/64", "expected an IPv4 network such as 10.192.0.0/16, got 'fd00::/64'"),
    ],
)
def test_bad_cidr(value, expected):
    assert error_of(environ={"K8S_DIND_DIND_SUBNET": value}) == f"env K8S_DIND_DIND_SUBNET: dind.subnet: {expected}"


def test_subnet_too_small_for_the_nodes():
    message = error_of(environ={"K8S_DIND_DIND_SUBNET": "10.1.0.0/30", "K8S_DIND_NUM_NODES": "2"})
    assert message == (
        "dind.subnet '10.1.0.0/30' (env K8S_DIND_DIND_SUBNET) has room for 1 node addresses but "
        "cluster.numNodes 2 (env K8S_DIND_NUM_NODES) needs 3: use a larger subnet"
    )


def test_negative_node_count():
    assert error_of(environ={"K8S_DIND_NUM_NODES": "-1"}) == (
        "env K8S_DIND_NUM_NODES: cluster.numNodes: must be at least 0, got -1"
    )


def test_unknown_cni():
    assert error_of(environ={"K8S_DIND_CNI_PLUGIN": "flanel"}) == (
        "env K8S_DIND_CNI_PLUGIN: cluster.cniPlugin: expected one of bridge, flannel, calico, weave, got 'flanel'; "
        "did you mean flannel?"
    )


@pytest.mark.parametrize("plugin", ["calico", "weave"])
def test_calico_and_weave_are_settings(plugin):
    assert load_settings(environ={"K8S_DIND_CNI_PLUGIN": plugin}).cluster.cni_plugin == plugin


@pytest.mark.parametrize("value", ["1.34", "v1.34.x", "latest-ish", "v1.34.4-gamma.1"])
def test_malformed_version(value):
    assert error_of(environ={"K8S_DIND_KUBERNETES_VERSION": value}).endswith(
        f"expected stable or vX.Y.Z (such as v1.34.4), got '{value}'"
    )


def test_yaml_float_version_is_caught(state):
    write_config(state, "source:\n  kubernetesVersion: 1.34\n")
    assert error_of(environ={}).endswith("expected stable or vX.Y.Z (such as v1.34.4), got '1.34'")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "got 3 characters"),
        ("z" * 40, "got 40 characters that are not all hex"),
        ("a" * 63, "got 63 characters"),
    ],
)
def test_checksum_of_wrong_length_or_not_hex(value, expected):
    message = error_of(environ={"K8S_DIND_KUBEADM_URL": "https://example.invalid/k", "K8S_DIND_KUBEADM_SHA1": value})
    assert message == (
        "env K8S_DIND_KUBEADM_SHA1: source.kubeadmSha1: expected a sha1 (40), sha256 (64) or sha512 (128) "
        f"hex digest, {expected}"
    )


def test_url_without_scheme():
    message = error_of(environ={"K8S_DIND_KUBECTL_URL": "example.com/kubectl", "K8S_DIND_KUBECTL_SHA1": "a" * 40})
    assert message == (
        "env K8S_DIND_KUBECTL_URL: source.kubectlUrl: expected a URL with a scheme "
        "(https://, http:// or file://), got 'example.com/kubectl'"
    )


def test_url_without_checksum():
    assert error_of(environ={"K8S_DIND_KUBECTL_URL": "https://example.invalid/kubectl"}) == (
        "source.kubectlUrl is set but source.kubectlSha1 is empty: give the download's sha1, sha256 or sha512"
    )


def test_build_and_url_for_the_same_binary(tmp_path):
    (tmp_path / "cmd" / "kubeadm").mkdir(parents=True)
    env = {
        "K8S_DIND_BUILD_KUBEADM": "true",
        "K8S_DIND_K8S_DIR": str(tmp_path),
        "K8S_DIND_KUBEADM_URL": "https://example.invalid/kubeadm",
        "K8S_DIND_KUBEADM_SHA1": "a" * 40,
    }
    assert "both say where kubeadm comes from" in error_of(environ=env)


def test_k8s_dir_missing_when_building(tmp_path):
    message = error_of(environ={"K8S_DIND_BUILD_KUBECTL": "1", "K8S_DIND_K8S_DIR": str(tmp_path / "nope")})
    assert message == (
        f"source.buildKubectl is on but source.k8sDir {tmp_path / 'nope'} (env K8S_DIND_K8S_DIR) is not a "
        "Kubernetes source tree (no cmd/kubeadm): set source.k8sDir or --k8s-dir"
    )


def test_k8s_dir_is_not_checked_when_nothing_is_built(tmp_path):
    assert load_settings(environ={"K8S_DIND_K8S_DIR": str(tmp_path / "nope")}).source.k8s_dir


def test_unknown_addon_and_missing_manifest():
    assert error_of(environ={"K8S_DIND_ADDONS": "dashbord"}).endswith(
        "unknown addon 'dashbord'; did you mean dashboard? "
        "(names: local-path-provisioner, metrics-server, dashboard; or a manifest URL or file)"
    )
    assert "addon manifest './missing.yaml' not found" in error_of(environ={"K8S_DIND_ADDONS": "./missing.yaml"})


def test_unknown_environment_variable():
    assert error_of(environ={"K8S_DIND_NUM_NODE": "3"}) == (
        "unknown environment variable K8S_DIND_NUM_NODE; did you mean K8S_DIND_NUM_NODES?"
    )


def test_missing_config_file_named_by_env(tmp_path):
    assert error_of(environ={"LOCAL_CLUSTER_CONF": str(tmp_path / "nope.yaml")}) == (
        f"LOCAL_CLUSTER_CONF names {tmp_path / 'nope.yaml'}, which is not a file"
    )


def test_port_out_of_range():
    assert error_of(environ={"K8S_DIND_API_SERVER_PORT": "70000"}).endswith(
        "must be at least 0 and at most 65535, got 70000"
    )


# ---------------------------------------------------------------- flags


def test_flags_in_both_spellings_and_the_rest():
    flags, invocation, rest = parse_flags(["e2e", "--v=2", "--num-nodes", "0", "--no-wait", "DNS should"])
    assert flags == {"verbose": "2", "cluster.numNodes": "0"}
    assert invocation == {"no-wait": True}
    assert rest == ["e2e", "DNS should"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["up", "--num-node", "3"], "unknown flag --num-node; did you mean --num-nodes?"),
        (["up", "--num-nodes"], "flag --num-nodes needs a value"),
        (["up", "--build-kubeadm=no"], "flag --build-kubeadm takes no value; use --no-build-kubeadm to turn it off"),
        (["up", "-x"], "unknown flag -x"),
    ],
)
def test_bad_flags(args, expected):
    with pytest.raises(SettingsError, match=f"^{expected.replace('?', '[?]')}$"):
        parse_flags(args)


# ---------------------------------------------------------------- output


def test_effective_settings_say_where_each_value_came_from(state):
    path = write_config(state, "cluster:\n  numNodes: 4\n")
    flags, _, _ = parse_flags(["--kubernetes-version", "v1.34.4"])
    text = render_effective(load_settings(flags=flags, environ={"K8S_DIND_V": "2"}))
    assert "  numNodes: 4  # file " + str(path) + " line 2" in text
    assert "verbose: 2  # env K8S_DIND_V" in text
    assert "  kubernetesVersion: v1.34.4  # flag --kubernetes-version" in text
    assert "  cniPlugin: bridge  # default" in text


def test_effective_settings_are_a_valid_config_file(state):
    flags, _, _ = parse_flags(["--num-nodes", "3", "--addons", ""])
    original = load_settings(flags=flags, environ={})
    (state / "config.yaml").write_text(render_effective(original))
    assert load_settings(environ={}) == original


def test_slice_is_json_for_config_changed():
    settings = load_settings(environ={})
    assert settings.slice("cluster.numNodes", "cluster.addons") == {
        "cluster.numNodes": 2,
        "cluster.addons": ["local-path-provisioner"],
    }
    assert settings.digest("cluster.numNodes") != load_settings(environ={"K8S_DIND_NUM_NODES": "3"}).digest(
        "cluster.numNodes"
    )


@pytest.mark.parametrize(
    ("value", "what", "reserved"),
    [
        ("10.244.0.0/16", "pod", "10.244.0.0/16"),
        ("10.96.0.0/16", "service", "10.96.0.0/12"),
        ("10.0.0.0/8", "pod", "10.244.0.0/16"),
    ],
)
def test_subnet_overlapping_the_pod_or_service_range_is_refused(value, what, reserved):
    message = error_of(environ={"K8S_DIND_DIND_SUBNET": value})
    assert message == (
        f"dind.subnet '{value}' (env K8S_DIND_DIND_SUBNET) overlaps the cluster's {what} range {reserved}: "
        "choose another, or set it to auto to get a free one"
    )


@pytest.mark.parametrize("value", ["Upper/node", "a//b", "-a", "a:tag", ""])
def test_a_node_image_repository_must_be_a_repository(value):
    message = error_of(environ={"K8S_DIND_NODE_IMAGE_REPOSITORY": value})
    assert message.startswith("env K8S_DIND_NODE_IMAGE_REPOSITORY: node.imageRepository: expected an image repository")


def test_a_kubernetes_version_older_than_supported_is_one_line():
    message = error_of(environ={"K8S_DIND_KUBERNETES_VERSION": "v1.30.9"})
    assert message.startswith("env K8S_DIND_KUBERNETES_VERSION: source.kubernetesVersion: Kubernetes v1.30.9 is older")
    assert "v1.31 to v1.37" in message
