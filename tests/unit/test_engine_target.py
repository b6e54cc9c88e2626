"""Which engine (#13): as the docker CLI chooses it. The contexts are files
written here in the docker CLI's layout (~/.docker/contexts/meta/<sha256 of
the name>/meta.json, currentContext in ~/.docker/config.json)."""

import hashlib
import json
from pathlib import Path

import pytest

from tasks.engine import DEFAULT_HOST, EngineError, engine_target


def write_context(name: str, host: str, current: bool = False) -> None:
    docker_dir = Path.home() / ".docker"
    meta = docker_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    endpoint = {"Host": host, "SkipTLSVerify": False}
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    if current:  # `docker context create` alone writes no config.json
        config = docker_dir / "config.json"
        settings = json.loads(config.read_text()) if config.exists() else {}
        config.write_text(json.dumps({**settings, "currentContext": name}))


def test_nothing_set_is_the_local_socket():
    target = engine_target({})
    assert target.host == DEFAULT_HOST
    assert target.describe() == f"{DEFAULT_HOST} (local; the default socket)"


def test_docker_host_wins_over_every_context():
    write_context("far", "tcp://10.150.0.2:2375", current=True)
    target = engine_target({"DOCKER_HOST": "ssh://me@box", "DOCKER_CONTEXT": "far"})
    assert (target.host, target.source) == ("ssh://me@box", "DOCKER_HOST")
    assert target.describe().startswith("ssh://me@box (remote;")


def test_the_cli_s_current_context_is_used():
    write_context("far", "tcp://10.150.0.2:2375", current=True)
    target = engine_target({})
    assert target.host == "tcp://10.150.0.2:2375"
    assert target.source == "context far, from the docker CLI's current context"


def test_docker_context_names_another_than_the_current_one():
    write_context("far", "tcp://10.150.0.2:2375", current=True)
    write_context("near", "unix:///run/other.sock")
    target = engine_target({"DOCKER_CONTEXT": "near"})
    assert (target.host, target.context) == ("unix:///run/other.sock", "near")
    assert target.describe() == "unix:///run/other.sock (local; context near, from DOCKER_CONTEXT)"


def test_a_context_is_found_where_no_config_json_is():
    write_context("far", "tcp://10.150.0.2:2375")
    assert not (Path.home() / ".docker" / "config.json").exists()
    assert engine_target({"DOCKER_CONTEXT": "far"}).host == "tcp://10.150.0.2:2375"
    assert engine_target({}).host == DEFAULT_HOST


def test_docker_config_moves_the_store(tmp_path):
    write_context("far", "tcp://10.150.0.2:2375", current=True)
    (Path.home() / ".docker").rename(tmp_path / "elsewhere")
    assert engine_target({"DOCKER_CONFIG": str(tmp_path / "elsewhere")}).host == "tcp://10.150.0.2:2375"


def test_the_default_context_is_the_local_socket():
    write_context("far", "tcp://10.150.0.2:2375")
    assert engine_target({"DOCKER_CONTEXT": "default"}).host == DEFAULT_HOST


def test_a_context_that_does_not_exist_is_one_line():
    write_context("far", "tcp://10.150.0.2:2375")
    with pytest.raises(EngineError) as caught:
        engine_target({"DOCKER_CONTEXT": "gone"})
    expected = "the docker context gone (DOCKER_CONTEXT) does not exist: `docker context ls` lists them"
    assert str(caught.value) == expected


def test_an_ssh_connection_whose_ssh_already_exited_closes_without_an_error():
    """docker's close() writes to ssh's input; ssh exits by itself when the
    engine ends a stream, so that write may meet a closed pipe (seen on a
    snapshot's exec over ssh://): closing is then not an error."""
    import subprocess

    from docker.transport.sshconn import SSHSocket

    sock = SSHSocket("me@box.example.com")
    sock.proc = subprocess.Popen(["true"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    sock.proc.wait()  # ssh gone: writing to its input breaks the pipe
    sock.close()
    assert sock.proc.returncode is not None
