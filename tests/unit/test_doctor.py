"""doctor's build-location line: which of source.buildIn's places works on this
client, and which suits its engine (a local one: here; a remote one: there)."""

import pytest

from tasks import doctor
from tasks.engine import EngineFacts

OK_GO = doctor.Check("go", doctor.OK, "go1.26 at /usr/local/go/bin/go")
NO_GO = doctor.Check("go", doctor.WARN, "not found")
OK_MMDEBSTRAP = doctor.Check("mmdebstrap", doctor.OK, "/usr/bin/mmdebstrap")
NO_MMDEBSTRAP = doctor.Check("mmdebstrap", doctor.WARN, "not found")


def facts(local: bool) -> EngineFacts:
    host = "unix:///var/run/docker.sock" if local else "ssh://me@box.example.com"
    return EngineFacts("27.0", "1.47", host, "DOCKER_HOST", local, "amd64", "2", "systemd", "/var/lib/docker", "Debian")


@pytest.fixture
def with_make(monkeypatch):
    real = doctor.shutil.which
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/make" if name == "make" else real(name))


def test_local_engine_suits_a_build_here(with_make):
    check = doctor.check_build_location(facts(local=True), OK_GO, OK_MMDEBSTRAP)
    assert check.status == doctor.OK
    assert check.detail.startswith("source.buildIn local suits this engine")
    assert "here: works" in check.detail and "on the engine: works" in check.detail


def test_remote_engine_suits_a_build_there(with_make):
    check = doctor.check_build_location(facts(local=False), OK_GO, OK_MMDEBSTRAP)
    assert check.status == doctor.OK and check.detail.startswith("source.buildIn engine suits this engine")


def test_remote_engine_without_mmdebstrap_here_points_at_the_local_build(with_make):
    check = doctor.check_build_location(facts(local=False), OK_GO, NO_MMDEBSTRAP)
    assert check.status == doctor.WARN
    assert "on the engine: needs mmdebstrap" in check.detail and "here: works" in check.detail
    assert check.fix == "use --build-in local, or install mmdebstrap"


def test_without_go_neither_works_and_the_fix_names_it(with_make):
    check = doctor.check_build_location(facts(local=True), NO_GO, OK_MMDEBSTRAP)
    assert check.status == doctor.WARN
    assert "here: needs go" in check.detail and "on the engine: needs go" in check.detail
    assert check.fix == "install go"


def test_without_an_engine_only_here_is_said_to_work(with_make):
    check = doctor.check_build_location(None, OK_GO, OK_MMDEBSTRAP)
    assert check.status == doctor.OK and "on the engine: needs the engine" in check.detail
