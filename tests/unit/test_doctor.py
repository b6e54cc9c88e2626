"""doctor's build-location line: which of source.buildIn's places works on this
client, and which suits its engine (a local one: here; a remote one: there)."""

import pytest

from tasks import doctor
from tasks.engine import EngineFacts

OK_GO = doctor.Check("go", doctor.OK, "go1.26 at /usr/local/go/bin/go")
NO_GO = doctor.Check("go", doctor.WARN, "not found")


def facts(local: bool) -> EngineFacts:
    host = "unix:///var/run/docker.sock" if local else "ssh://me@box.example.com"
    return EngineFacts("27.0", "1.47", host, "DOCKER_HOST", local, "amd64", "2", "systemd", "/var/lib/docker", "Debian")


@pytest.fixture
def with_make(monkeypatch):
    real = doctor.shutil.which
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/make" if name == "make" else real(name))


def test_local_engine_suits_a_build_here(with_make):
    check = doctor.check_build_location(facts(local=True), OK_GO)
    assert check.status == doctor.OK
    assert check.detail.startswith("source.buildIn local suits this engine")
    assert "here: works" in check.detail and "on the engine: works" in check.detail


def test_remote_engine_suits_a_build_there(with_make):
    check = doctor.check_build_location(facts(local=False), OK_GO)
    assert check.status == doctor.OK and check.detail.startswith("source.buildIn engine suits this engine")


def test_remote_engine_needs_no_mmdebstrap_here_for_its_build(with_make, monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None if name == "mmdebstrap" else "/usr/bin/" + name)
    check = doctor.check_build_location(facts(local=False), OK_GO)
    assert check.status == doctor.OK and "on the engine: works" in check.detail
    mmdebstrap = doctor.check_mmdebstrap(facts(local=False))
    assert mmdebstrap.status == doctor.OK and "made in a container on the engine" in mmdebstrap.detail


def test_without_mmdebstrap_or_engine_the_debian_bases_cannot_be_made(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    check = doctor.check_mmdebstrap(None)
    assert check.status == doctor.WARN and check.fix == "start the engine, or apt-get install mmdebstrap"


def test_without_go_here_the_engine_still_builds(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/make" if name == "make" else None)
    go = doctor.check_go(facts(local=True))
    assert go.status == doctor.OK and "Go builds run in a container on the engine" in go.detail
    check = doctor.check_build_location(facts(local=True), go)
    assert check.status == doctor.WARN
    assert "here: needs go" in check.detail and "on the engine: works" in check.detail
    assert check.fix == "use --build-in engine, or install go"
    assert doctor.check_go(None).status == doctor.WARN


def test_without_an_engine_only_here_is_said_to_work(with_make):
    check = doctor.check_build_location(None, OK_GO)
    assert check.status == doctor.OK and "on the engine: needs the engine" in check.detail
