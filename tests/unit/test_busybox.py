"""busybox from source: its configuration, the checks of what the tests need,
and how a build fails (no network; no compiler run except a failing make)."""

import io
import shutil
import sys
import tarfile

import pytest

from tasks.e2e import busybox
from tasks.engine import EngineFacts
from tasks.errors import UserError

ENGINE = EngineFacts("27.0", "1.47", "unix:///var/run/docker.sock", "default", True, "amd64", "2", "systemd", "/", "D")

DEFCONFIG = """#
# Automatically generated make config: don't edit
#
CONFIG_HAVE_DOT_CONFIG=y
# CONFIG_STATIC is not set
CONFIG_SHA1_HWACCEL=y
CONFIG_LAST_SUPPORTED_WCHAR=767
CONFIG_FEATURE_SYNC_FANCY=y
# CONFIG_AR is not set
CONFIG_TC=y
CONFIG_SH_IS_ASH=y
"""


def test_configure_sets_and_unsets_and_appends_what_is_missing():
    config = busybox.configure(DEFCONFIG)
    lines = config.splitlines()
    assert "CONFIG_STATIC=y" in lines and "# CONFIG_STATIC is not set" not in lines
    assert "CONFIG_LAST_SUPPORTED_WCHAR=0" in lines
    assert "# CONFIG_FEATURE_SYNC_FANCY is not set" in lines and "# CONFIG_TC is not set" in lines
    assert "CONFIG_FEATURE_AR_CREATE=y" in lines  # not in defconfig's output while ar was off
    assert "CONFIG_SH_IS_ASH=y" in lines  # sh stays ash: upstream's default
    assert busybox.config_differences(config) == []
    assert busybox.configure(config) == config


def test_config_differences_name_what_oldconfig_dropped():
    config = busybox.configure(DEFCONFIG).replace("CONFIG_STATIC=y", "# CONFIG_STATIC is not set")
    assert busybox.config_differences(config + "CONFIG_TC=y\n") == ["CONFIG_STATIC", "CONFIG_TC"]


def test_upstreams_configuration_keeps_the_shell_and_the_environment_as_upstream():
    # None of Debian's switches, and nothing that changes sh.
    assert not any("DI_ENV" in name or "SH_IS" in name or "ASH" in name for name in busybox.CONFIG)
    assert busybox.CONFIG["CONFIG_STATIC"] == "y"


def test_the_source_is_debians_copy_of_upstreams_tarball():
    assert busybox.tarball_url("http://mirror.example/debian/") == (
        f"http://mirror.example/debian/pool/main/b/busybox/busybox_{busybox.VERSION}.orig.tar.bz2"
    )
    assert len(busybox.SHA256) == 64


def _tarball(path, makefile: str, mtime: int = 1727386302):
    top = f"busybox-{busybox.VERSION}"
    with tarfile.open(path, "w:bz2") as tar:
        info = tarfile.TarInfo(top)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
        tar.addfile(info)
        data = makefile.encode()
        info = tarfile.TarInfo(f"{top}/Makefile")
        info.size, info.mtime = len(data), mtime
        tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack_gives_the_sources_time_stamp(tmp_path):
    target = tmp_path / "src"
    (target / "stale").mkdir(parents=True)
    epoch = busybox.unpack(_tarball(tmp_path / "bb.tar.bz2", "all:\n"), target)
    assert epoch == 1727386302
    assert (target / f"busybox-{busybox.VERSION}" / "Makefile").is_file() and not (target / "stale").exists()


def test_a_tarball_of_something_else_is_one_line(tmp_path):
    path = tmp_path / "other.tar.bz2"
    with tarfile.open(path, "w:bz2") as tar:
        tar.addfile(tarfile.TarInfo("other/README"), io.BytesIO(b""))
    with pytest.raises(UserError, match="holds no busybox-"):
        busybox.unpack(path, tmp_path / "src")


def test_without_the_tools_here_busybox_is_made_on_the_engine(isolated_home, monkeypatch, tmp_path):
    from tasks import doctor
    from tasks.build import go_engine

    made = []

    def fake_engine_run(argv, log_file, what, env, cwd, on_line=None, back=()):  # a fake: the engine is elsewhere
        made.append((argv[:2], back, env["SOURCE_DATE_EPOCH"]))
        (cwd / ".config").write_text(busybox.configure(DEFCONFIG))  # as defconfig, then oldconfig, leave it
        return 1.0

    monkeypatch.setattr(busybox.shutil, "which", lambda name: None if name == "make" else f"/usr/bin/{name}")
    assert busybox.build_problem() == "no make here"
    check = doctor.check_busybox_build(None)
    assert check.status == doctor.WARN and "busybox test image" in check.detail and "make" in check.fix
    assert doctor.check_busybox_build(ENGINE).status == doctor.OK
    monkeypatch.setattr(go_engine, "run", fake_engine_run)
    monkeypatch.setattr(busybox, "fetch_source", lambda: _tarball(tmp_path / "bb.tar.bz2", "all:\n"))
    monkeypatch.setattr(busybox, "check", lambda program: ["sh"])
    with pytest.raises(FileNotFoundError):  # the fake made no binary: the last step looks for it
        busybox.build()
    assert made == [
        (["make", "defconfig"], (".config", "busybox"), "1727386302"),
        (["make", "oldconfig"], (".config", "busybox"), "1727386302"),
        (["make", made[2][0][1]], (".config", "busybox"), "1727386302"),
    ]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_failed_build_is_one_line_with_its_log(isolated_home, monkeypatch, tmp_path):
    tarball = _tarball(tmp_path / "bb.tar.bz2", "defconfig:\n\t@echo broken; false\n")
    monkeypatch.setattr(busybox, "build_problem", lambda: None)
    monkeypatch.setattr(busybox, "fetch_source", lambda: tarball)
    with pytest.raises(UserError) as failure:
        busybox.build()
    message = str(failure.value)
    assert "\n" not in message and "configuring busybox" in message
    assert str(busybox._log("config")) in message
    assert not (busybox.root() / "src").exists() and not busybox.binary().exists()


def _fake_busybox(tmp_path, shell: str):
    """A stand-in for a built busybox whose sh is another shell (no shell runs it:
    a shell in between would drop the names itself)."""
    program = tmp_path / "busybox"
    program.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "if sys.argv[1] == '--list':\n"
        "    print('env\\nsh\\nsleep')\n"
        "elif sys.argv[1] == 'sh':\n"
        f"    os.execv({shell!r}, [{shell!r}, *sys.argv[2:]])\n"
        "else:\n"
        "    os.execv('/usr/bin/env', ['env'])\n"
    )
    program.chmod(0o755)
    return program


@pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash")
def test_a_shell_that_drops_odd_environment_names_is_refused(tmp_path):
    # dash, like Debian's busybox ash: `data-1` never reaches env.
    with pytest.raises(UserError, match="does not pass the environment variable data-1 on"):
        busybox.check(_fake_busybox(tmp_path, shutil.which("dash")))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_shell_with_other_words_than_ash_is_refused(tmp_path):
    # bash passes data-1 on but says `line 1: /nonexistent/file: No such file or directory`.
    with pytest.raises(UserError, match="not ash's words"):
        busybox.check(_fake_busybox(tmp_path, shutil.which("bash")))
