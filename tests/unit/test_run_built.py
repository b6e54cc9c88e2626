"""Where the programs we build are run to check them (tasks/build/run_built.py):
here on Linux of their architecture, else on the engine (the integration
test tests/integration/test_python_only_client.py runs that side)."""

import sys

from tasks.build import run_built


def elf(tmp_path, machine: int):
    program = tmp_path / f"program-{machine}"
    program.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(40))
    return program


def test_a_linux_program_runs_here_only_on_linux_of_its_architecture(tmp_path):
    amd64, arm64 = elf(tmp_path, 62), elf(tmp_path, 183)
    assert run_built.runs_here(amd64, "Linux", "x86_64")
    assert not run_built.runs_here(arm64, "Linux", "x86_64")
    assert run_built.runs_here(arm64, "Linux", "aarch64")
    assert not run_built.runs_here(amd64, "Darwin", "x86_64")  # a Mac runs none of them


def test_a_program_that_runs_here_says_what_it_says(tmp_path):
    script = tmp_path / "say"
    script.write_text(f"#!{sys.executable}\nimport os, sys\nprint(os.environ.get('WHO'), *sys.argv[1:])\n")
    script.chmod(0o755)
    assert run_built.runs_here(script, "Linux", "x86_64")
    assert run_built.output(script, ["v1"]) == "None v1\n"
    assert run_built.says(script, [], {"WHO": "me"}) == "me\n"
    assert run_built.run(script, [], {"WHO": "only"}, whole_env=True).stdout == "only\n"
