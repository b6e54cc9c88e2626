"""How the client reaches the API server (#13): the published address on a
local engine, the address named for a remote one, a forward over ssh://, and
one clear line for a tcp:// engine's loopback."""

import pytest

from tasks.access.api import certificate_names, engine_is_here, plan


@pytest.mark.parametrize(
    "host", ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2375", "npipe:////./pipe/x"]
)
def test_an_engine_on_this_machine_is_reached_directly(host):
    assert engine_is_here(host)
    assert plan(host, "127.0.0.1").how == "direct"
    assert plan(host, "127.0.0.1").address == "127.0.0.1"
    assert plan(host, "0.0.0.0").address == "127.0.0.1"
    assert plan(host, "192.168.1.5").address == "192.168.1.5"
    assert certificate_names(host, "127.0.0.1") == []


@pytest.mark.parametrize("host", ["tcp://10.150.0.2:2375", "ssh://root@10.150.0.2:22"])
def test_a_named_address_of_a_remote_host_is_used_and_certified(host):
    reach = plan(host, "10.150.0.2")
    assert (reach.how, reach.address) == ("direct", "10.150.0.2")
    assert certificate_names(host, "10.150.0.2") == ["10.150.0.2"]


def test_every_address_of_a_remote_host_means_its_name():
    reach = plan("ssh://me@box.example", "0.0.0.0")
    assert (reach.how, reach.address) == ("direct", "box.example")
    assert certificate_names("ssh://me@box.example", "0.0.0.0") == ["box.example"]


def test_a_remote_ssh_engine_s_loopback_is_forwarded():
    reach = plan("ssh://me@box:2222", "127.0.0.1")
    assert reach.how == "tunnel"
    assert reach.ssh == ("me", "box", "2222")
    assert plan("ssh://box", "127.0.0.1").ssh == ("", "box", "")
    assert certificate_names("ssh://box", "127.0.0.1") == []


def test_a_remote_tcp_engine_s_loopback_says_what_to_set():
    reach = plan("tcp://10.150.0.2:2375", "127.0.0.1")
    assert reach.how == "unreachable"
    assert "--api-server-address" in reach.why and "tcp://10.150.0.2:2375" in reach.why


def test_the_mirror_stays_on_loopback_unless_only_the_named_address_reaches_the_host():
    from tasks.access.api import publish_address

    assert publish_address("unix:///var/run/docker.sock", "0.0.0.0") == "127.0.0.1"
    assert publish_address("ssh://box", "10.150.0.2") == "127.0.0.1"  # forwarded over ssh
    assert publish_address("tcp://10.150.0.2:2375", "10.150.0.2") == "10.150.0.2"
    assert publish_address("tcp://10.150.0.2:2375", "127.0.0.1") == "127.0.0.1"  # unreachable: one clear line


def test_a_forward_s_pid_reused_by_another_process_is_not_killed(tmp_path, monkeypatch):
    """`down` stops only our ssh: a pid in the state file that now belongs to
    another program (this machine restarted) is left alone."""
    import json
    import subprocess

    from tasks.access import forwards
    from tasks.naming import Names

    names = Names("unit-forwards")
    names.state().mkdir(parents=True)
    other = subprocess.Popen(["sleep", "30"])
    try:
        state = {"pid": other.pid, "local": 40001, "remote": 40001, "ssh": ["", "box", ""]}
        (names.state() / "forward-api.json").write_text(json.dumps(state))
        assert forwards.stop(names) == 0
        assert other.poll() is None
        assert not (names.state() / "forward-api.json").exists()
    finally:
        other.kill()
        other.wait()
