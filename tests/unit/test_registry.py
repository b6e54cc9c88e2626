"""The local registry and registry mirrors (#12): settings, containerd's hosts
files, the image's recipe. The registry itself runs in tests/integration/test_registry.py."""

import tomllib

import pytest

from tasks import registry
from tasks.errors import SettingsError
from tasks.naming import Names
from tasks.settings import load_settings, parse_flags


def settings_from(*flags: str, environ=None):
    values, _, _ = parse_flags(list(flags))
    return load_settings(flags=values, environ=environ or {})


def test_the_registry_is_off_by_default_on_kinds_port():
    settings = load_settings(environ={})
    assert settings.cluster.registry is False
    assert settings.cluster.registry_port == 5001
    assert dict(settings.cluster.registry_mirrors) == {}


def test_registry_settings_from_flags_environment_and_file(state):
    assert settings_from("--registry", "--registry-port", "5055").cluster.registry_port == 5055
    assert settings_from(environ={"K8S_DIND_REGISTRY": "yes"}).cluster.registry is True
    (state / "config.yaml").write_text(
        "cluster:\n  registryMirrors:\n    docker.io: http://mirror.example:5000/\n    Quay.io: https://q.example\n"
    )
    mirrors = load_settings(environ={}).cluster.registry_mirrors
    # Hosts as image references spell them; the URL without its trailing slash.
    assert dict(mirrors) == {"docker.io": "http://mirror.example:5000", "quay.io": "https://q.example"}


def test_mirrors_as_pairs_from_a_flag():
    settings = settings_from("--registry-mirrors", "docker.io=http://m:5000, registry.k8s.io=https://m.example/k8s")
    assert dict(settings.cluster.registry_mirrors) == {
        "docker.io": "http://m:5000",
        "registry.k8s.io": "https://m.example/k8s",
    }
    assert settings.slice("cluster.registryMirrors") == {
        "cluster.registryMirrors": dict(settings.cluster.registry_mirrors)
    }


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("docker.io", "expected KEY=VALUE pairs"),
        ("docker.io=mirror.example:5000", "is not an http:// or https:// URL"),
        ("docker.io=ftp://mirror.example", "is not an http:// or https:// URL"),
        ("docker.io=http://mirror.example:99999", "is not an http:// or https:// URL"),
        ("docker_hub=http://m:5000", "is not a registry host"),
        ("https://docker.io=http://m:5000", "is not a registry host"),
    ],
)
def test_bad_mirrors_are_one_line_naming_the_setting(value, said):
    with pytest.raises(SettingsError) as caught:
        settings_from("--registry-mirrors", value)
    message = str(caught.value)
    assert "cluster.registryMirrors" in message and said in message
    assert "\n" not in message


def test_bad_ports_and_clashes_are_one_line():
    with pytest.raises(SettingsError, match=r"registryPort.*at most 65535"):
        settings_from("--registry-port", "70000")
    with pytest.raises(SettingsError, match=r"registryPort 6443 .* also the host port of cluster.apiServerPort"):
        settings_from("--registry", "--registry-port", "6443", "--api-server-port", "6443")
    with pytest.raises(SettingsError, match=r"also the host port of cluster.extraPortMappings 127.0.0.1:5001:30080"):
        settings_from("--registry", "--extra-port-mappings", "5001:30080")
    # Off, or a free port picked: nothing to clash with.
    settings_from("--registry-port", "6443", "--api-server-port", "6443")
    settings_from("--registry", "--registry-port", "0")


def test_registry_settings_do_not_make_the_cluster_afresh():
    """They are written into running nodes at each `up`, not part of the nodes' hash."""
    from tasks.cluster import NODE_SETTINGS

    assert not {"cluster.registry", "cluster.registryPort", "cluster.registryMirrors"} & set(NODE_SETTINGS)


def test_names_follow_the_cluster():
    assert (Names("kubeadm-local-cluster").registry, Names("kubeadm-local-cluster").registry_volume) == (
        "kube-registry",
        "kube-registry-data",
    )
    assert (Names("b").registry, Names("b").registry_volume) == ("kube-registry-b", "kube-registry-b-data")


def test_hosts_files_point_the_local_registry_at_its_container():
    files = registry.hosts_files("localhost:5001", "kube-registry-b", "10.193.255.254", {})
    assert list(files) == ["localhost:5001/hosts.toml"]
    hosts = tomllib.loads(files["localhost:5001/hosts.toml"])
    assert hosts == {
        "server": "http://localhost:5001",
        "host": {"http://10.193.255.254:5000": {"capabilities": ["pull", "resolve"]}},
    }


def test_hosts_files_put_each_mirror_before_its_upstream():
    mirrors = {"docker.io": "http://mirror.example:5000", "quay.io": "https://cache.example/quay"}
    files = registry.hosts_files(None, "kube-registry", "", mirrors)
    assert sorted(files) == ["docker.io/hosts.toml", "quay.io/hosts.toml"]
    docker_hub = tomllib.loads(files["docker.io/hosts.toml"])
    # containerd's own name for Docker Hub's API, as its default resolution uses.
    assert docker_hub["server"] == "https://registry-1.docker.io"
    assert docker_hub["host"] == {"http://mirror.example:5000": {"capabilities": ["pull", "resolve"]}}
    assert tomllib.loads(files["quay.io/hosts.toml"])["server"] == "https://quay.io"


def test_no_registry_and_no_mirrors_is_no_files():
    assert registry.hosts_files(None, "kube-registry", "", {}) == {}


def test_the_drop_in_sets_the_hosts_directory_the_files_go_to():
    ((directory, contents),) = registry.drop_in().items()
    assert directory == "/etc/containerd/conf.d"
    ((name, text),) = contents.items()
    assert name.endswith(".toml")
    config = tomllib.loads(text.decode())
    assert config["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"] == registry.HOSTS_DIR


def test_the_image_is_the_registry_and_our_config_from_scratch(state, tmp_path, monkeypatch):
    import json
    import tarfile

    binary = registry.binary()
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"\x7fELF not really")
    registry.build_image()
    with tarfile.open(registry.archive()) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [registry.IMAGE]
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        files = set()
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=archive.extractfile(layer)) as inner:
                files |= set(inner.getnames())
    assert config["config"]["Entrypoint"] == ["/bin/registry"]
    assert config["config"]["Cmd"] == ["serve", "/etc/distribution/config.yml"]
    assert "OTEL_TRACES_EXPORTER=none" in config["config"]["Env"]
    assert config["config"]["Labels"]["io.kubeadm-local-cluster.role"] == registry.IMAGE_ROLE
    assert {"bin/registry", "etc/distribution/config.yml", "var/lib/registry", "tmp"} <= {f.rstrip("/") for f in files}


def test_up_builds_the_registry_only_with_it_on():
    from tasks import steps

    def group(settings):
        import tasks.context as context

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(context, "settings", lambda: settings)
            made = list(steps.task_registry_images())
        # Its build tasks are always there (e2e's test-image mirror runs the
        # image); `up`'s group asks for them only with the registry on.
        assert {"registry-image", "registry-image-load"} <= {t["basename"] for t in made}
        return made[-1]

    assert group(settings_from()) == {"basename": "registry-images", "actions": None, "task_dep": []}
    assert set(group(settings_from("--registry"))["task_dep"]) == {"registry-image", "registry-image-load"}


def test_the_registry_takes_the_last_address_clear_of_the_nodes():
    from types import SimpleNamespace

    from tasks.cluster import node_specs

    settings = settings_from("--registry", "--dind-subnet", "10.50.0.0/29", "--num-nodes", "3")
    cluster = SimpleNamespace(settings=settings)
    assert registry.network_address(cluster) == "10.50.0.6"
    assert "10.50.0.6" not in {spec.address for spec in node_specs(settings)}
    # A network with no room left for it is one line at settings time.
    with pytest.raises(SettingsError, match=r"room for 4 node addresses"):
        settings_from("--registry", "--dind-subnet", "10.50.0.0/29", "--num-nodes", "4")
    settings_from("--dind-subnet", "10.50.0.0/29", "--num-nodes", "4")
