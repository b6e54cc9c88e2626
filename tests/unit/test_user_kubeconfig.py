"""The cluster in the user's kubeconfig: added by `up`, taken out by `down`/`clean`,
everything else byte for byte as it was (files as kubectl writes them)."""

import os
import stat

import pytest
import yaml

from tasks.access import user_kubeconfig
from tasks.errors import UserError

# Two contexts, as kubectl v1.34 wrote them (`kubectl config set-cluster ...`).
KUBECTL_WRITTEN = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sx
    server: https://10.0.0.1:6443
  name: one
- cluster:
    insecure-skip-tls-verify: true
    server: https://10.0.0.2:6443
  name: two
contexts:
- context:
    cluster: one
    namespace: dev
    user: u1
  name: one
- context:
    cluster: two
    user: u2
  name: two
current-context: two
kind: Config
users:
- name: u1
  user:
    token: secret-token
- name: u2
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      args:
      - "true"
      - a b
      command: /bin/get-token
      env:
      - name: A
        value: "yes"
      provideClusterInfo: false
"""
ADMIN_CONF = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:32768
  name: kubeadm-local-cluster
contexts:
- context:
    cluster: kubeadm-local-cluster
    user: kubernetes-admin
  name: kubernetes-admin@kubeadm-local-cluster
current-context: kubernetes-admin@kubeadm-local-cluster
kind: Config
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
"""


@pytest.fixture
def kubeconfig(isolated_home, monkeypatch):
    path = isolated_home / "kc" / "config"
    path.parent.mkdir()
    path.write_text(KUBECTL_WRITTEN)
    path.chmod(0o640)
    monkeypatch.setenv("KUBECONFIG", f"{path}{os.pathsep}{isolated_home / 'other'}")
    return path


def test_a_kubectl_written_file_round_trips_byte_for_byte():
    assert user_kubeconfig.dump(yaml.safe_load(KUBECTL_WRITTEN)) == KUBECTL_WRITTEN


def test_merge_adds_context_cluster_and_user_and_switches(kubeconfig):
    assert user_kubeconfig.merge("dev", ADMIN_CONF, switch=True) == kubeconfig
    data = yaml.safe_load(kubeconfig.read_text())
    assert data["current-context"] == "kubeadm-local-cluster-dev"
    assert [c["name"] for c in data["contexts"]] == ["one", "two", "kubeadm-local-cluster-dev"]
    cluster = next(c for c in data["clusters"] if c["name"] == "kubeadm-local-cluster-dev")
    assert cluster["cluster"]["server"] == "https://127.0.0.1:32768"
    user = next(u for u in data["users"] if u["name"] == "kubeadm-local-cluster-dev")
    assert user["user"]["client-key-data"] == "S0VZ"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o640  # the user's mode is kept
    assert not kubeconfig.with_name("config.lock").exists()


def test_remove_gives_back_exactly_the_file_there_was(kubeconfig):
    user_kubeconfig.merge("dev", ADMIN_CONF, switch=True)
    user_kubeconfig.merge("dev", ADMIN_CONF.replace("32768", "32769"), switch=True)  # a second `up`
    assert user_kubeconfig.remove("dev") == [kubeconfig]
    assert kubeconfig.read_text() == KUBECTL_WRITTEN


def test_no_switch_leaves_the_current_context(kubeconfig):
    user_kubeconfig.merge("dev", ADMIN_CONF, switch=False)
    assert "current-context: two\n" in kubeconfig.read_text()
    user_kubeconfig.remove("dev")
    assert kubeconfig.read_text() == KUBECTL_WRITTEN


def test_a_missing_kubeconfig_is_made_0600_and_removed_again(isolated_home):
    path = isolated_home / ".kube" / "config"
    assert user_kubeconfig.merge("kubeadm-local-cluster", ADMIN_CONF, switch=True) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "current-context: kubeadm-local-cluster\n" in path.read_text()
    user_kubeconfig.remove("kubeadm-local-cluster")
    assert not path.exists()


def test_two_clusters_come_and_go_independently(kubeconfig):
    user_kubeconfig.merge("a", ADMIN_CONF, switch=True)
    user_kubeconfig.merge("b", ADMIN_CONF, switch=True)
    user_kubeconfig.remove("b")
    assert "current-context: kubeadm-local-cluster-a\n" in kubeconfig.read_text()
    user_kubeconfig.remove("a")
    assert kubeconfig.read_text() == KUBECTL_WRITTEN


def test_a_symlinked_kubeconfig_stays_a_symlink(isolated_home, monkeypatch):
    real = isolated_home / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(KUBECTL_WRITTEN)
    link = isolated_home / "link"
    link.symlink_to(real)
    monkeypatch.setenv("KUBECONFIG", str(link))
    user_kubeconfig.merge("dev", ADMIN_CONF, switch=True)
    assert link.is_symlink() and "kubeadm-local-cluster-dev" in real.read_text()
    user_kubeconfig.remove("dev")
    assert link.is_symlink() and real.read_text() == KUBECTL_WRITTEN


def test_a_broken_kubeconfig_is_one_line_and_untouched(kubeconfig):
    kubeconfig.write_text("clusters: [unclosed\n")
    with pytest.raises(UserError, match="is not valid YAML") as caught:
        user_kubeconfig.merge("dev", ADMIN_CONF, switch=True)
    assert "\n" not in str(caught.value)
    assert kubeconfig.read_text() == "clusters: [unclosed\n"


def test_kubectls_lock_is_honoured(kubeconfig, monkeypatch):
    monkeypatch.setattr(user_kubeconfig, "LOCK_WAIT_SECONDS", 0.3)
    kubeconfig.with_name("config.lock").write_text("")
    with pytest.raises(UserError, match=r"config\.lock exists"):
        user_kubeconfig.merge("dev", ADMIN_CONF, switch=True)
    assert kubeconfig.read_text() == KUBECTL_WRITTEN


def test_our_own_admin_conf_as_kubeconfig_is_never_merged_into(state, monkeypatch):
    admin = state / "admin.conf"
    admin.write_text(ADMIN_CONF)
    monkeypatch.setenv("KUBECONFIG", str(admin))
    assert user_kubeconfig.merge("kubeadm-local-cluster", ADMIN_CONF, switch=True) is None
    assert admin.read_text() == ADMIN_CONF
