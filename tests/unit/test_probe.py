import platform
import subprocess

import pytest

from tasks.probe import exit_zero_elf


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the x86_64 program on this host")
def test_probe_program_runs_and_exits_zero(tmp_path):
    program = tmp_path / "true"
    program.write_bytes(exit_zero_elf("amd64"))
    program.chmod(0o755)
    assert subprocess.run([str(program)]).returncode == 0


def test_probe_program_for_each_architecture_is_an_elf():
    for arch in ("x86_64", "aarch64"):
        assert exit_zero_elf(arch)[:4] == b"\x7fELF"
    with pytest.raises(ValueError, match="no probe program for architecture s390x"):
        exit_zero_elf("s390x")
