"""The commands as a user types them: `local-cluster ...` and `doit ...` in the repository."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks import cli
from tasks.errors import UserError
from tasks.lock import RunLock
from tasks.paths import REPO_DIR, dep_file, lock_file
from tasks.pipeline import COMMANDS

LOCAL_CLUSTER = [sys.executable, "-m", "tasks"]


def run(*args, cwd=None, env=None, timeout=60, command=LOCAL_CLUSTER):
    environ = {**os.environ, "PYTHONPATH": str(REPO_DIR), **(env or {})}
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, env=environ, timeout=timeout)


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("up", "down", "clean", "reup", "e2e", "e2e-serial", "config", "doctor"):
        assert f"\n  {name} " in out


def test_list_shows_the_commands(capsys):
    assert cli.main(["list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert set(COMMANDS) <= set(listed)


def test_config_prints_settings_with_origins(capsys):
    assert cli.main(["config", "--num-nodes", "3"]) == 0
    out = capsys.readouterr().out
    assert "  numNodes: 3  # flag --num-nodes" in out
    assert "  subnet: auto  # default" in out


def test_doit_database_lives_in_the_state_directory(isolated_home, capsys):
    assert cli.main(["config"]) == 0
    assert dep_file().exists()
    assert dep_file().parent == isolated_home / ".kubeadm-local-cluster"
    assert not any(Path.cwd().iterdir()), "nothing is written to the current directory"


@pytest.mark.parametrize("name", ["e2e", "e2e-serial"])
def test_conformance_runs_need_a_cluster_and_say_so_before_building_anything(name, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert cli.main([name, "DNS"]) == 1
    out = capsys.readouterr().out
    assert "✗ the cluster to test: cannot reach the Docker engine at unix:///nonexistent/docker.sock" in out
    assert "e2e.test" not in out and "Traceback" not in out


def test_bad_input_is_one_line_and_exit_2(isolated_home):
    state = isolated_home / ".kubeadm-local-cluster"
    state.mkdir(exist_ok=True)
    (state / "config.yaml").write_text("cluster:\n  numNodes: [\n")
    result = run("config")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "malformed YAML" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_flag_is_one_line_and_exit_2():
    result = run("up", "--num-node", "3")
    assert result.returncode == 2
    assert result.stderr == "error: unknown flag --num-node; did you mean --num-nodes?\n"


def test_bad_environment_value_is_one_line_and_exit_2():
    result = run("config", env={"K8S_DIND_NUM_NODES": "many"})
    assert result.returncode == 2
    assert result.stderr == "error: env K8S_DIND_NUM_NODES: cluster.numNodes: expected a whole number, got 'many'\n"


def test_doit_in_the_repository_runs_the_same_tasks():
    doit = [sys.executable, "-m", "doit"]
    listed = run("list", command=doit, cwd=REPO_DIR)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} >= set(COMMANDS)
    config = run("config", "--num-nodes", "0", command=doit, cwd=REPO_DIR)
    assert config.returncode == 0, config.stderr
    assert "  numNodes: 0  # flag --num-nodes" in config.stdout
    # `doit clean` is our clean (doit's own would only remove targets): with
    # no engine to talk to, it says so.
    clean = run("clean", command=doit, cwd=REPO_DIR, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert clean.returncode == 1
    assert "✗ clean: cannot reach the Docker engine at unix:///nonexistent/docker.sock" in clean.stdout


def test_second_run_fails_at_once_with_no_wait(isolated_home):
    holder = RunLock(lock_file())
    holder.acquire("up")
    try:
        result = run("config", "--no-wait")
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: local-cluster up (pid {os.getpid()}) is running (lock {lock_file()})")
        assert "Traceback" not in result.stderr
    finally:
        holder.release()


def test_second_run_waits_for_the_first(isolated_home):
    holder = RunLock(lock_file())
    holder.acquire("up")
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    waiting = subprocess.Popen(
        [*LOCAL_CLUSTER, "config"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        _wait_for_line(waiting.stderr, "waiting for local-cluster up")
        assert waiting.poll() is None
    finally:
        holder.release()
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0
    assert "numNodes: 2" in out


def test_sigterm_while_waiting_exits_130_without_traceback(isolated_home):
    holder = RunLock(lock_file())
    holder.acquire("up")
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    try:
        waiting = subprocess.Popen(
            [*LOCAL_CLUSTER, "config"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        _wait_for_line(waiting.stderr, "waiting for")
        waiting.send_signal(signal.SIGTERM)
        _, err = waiting.communicate(timeout=30)
    finally:
        holder.release()
    assert waiting.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def test_doctor_without_an_engine_says_so_and_exits_1():
    result = run("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    engine_line = next(line for line in result.stdout.splitlines() if " engine " in f" {line} ")
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in engine_line
    assert "fix: start it" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _wait_for_line(stream, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        seen += line
        if text in line:
            return
        if not line:
            time.sleep(0.05)
    raise AssertionError(f"never saw {text!r}; saw {seen!r}")


def test_the_engine_lock_is_one_file_per_engine_that_every_user_opens(tmp_path):
    from tasks.lock import EngineLock

    first, second = EngineLock("ENGINE-A", tmp_path), EngineLock("ENGINE-A", tmp_path)
    assert first.path == second.path and first.path != EngineLock("ENGINE-B", tmp_path).path
    first.acquire("up")
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o666
    with pytest.raises(UserError, match=r"local-cluster up \(pid \d+\) is running"):
        second.acquire("up", wait=False)
    first.release()
    second.acquire("up", wait=False)
    second.release()


def test_a_full_disk_under_doits_database_is_one_line(isolated_home, capsys, monkeypatch):
    """A fake full disk: sqlite's own error where doit writes its database
    after the tasks (it was a traceback when CI's disk filled)."""
    import sqlite3

    from doit.dependency import SqliteDB

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteDB, "dump", full)
    assert cli.main(["config"]) == 3
    err = capsys.readouterr().err
    assert "this machine's disk is full" in err and str(dep_file()) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_in_a_step_is_one_line(capsys):
    """A fake full disk: a step's write fails with ENOSPC, as a real one would."""
    import errno

    from tasks.taskkit import step

    @step
    def write():
        raise OSError(errno.ENOSPC, "No space left on device", "/state/cache/node-image.tar")

    failure = write()
    assert "this machine's disk is full (writing /state/cache/node-image.tar)" in failure.get_msg()


def test_the_engine_s_full_disk_is_said_and_the_end_of_a_long_error_kept():
    from tasks.engine import _short

    copy = "cp: error copying '/from/./" + "a/" * 100 + "kube-apiserver' to '/to/...': No space left on device"
    assert _short(copy).startswith("no space left on device: the engine's disk is full")
    assert _short("x" * 300 + " the cause").endswith(" the cause")
