"""Status lines: a check mark or a cross per step; plain lines in logs; JSON
lines with --output json."""

import io
import json
import re
import time
from pathlib import Path

from tasks import cli
from tasks.console import CONSOLE, Console, log


class FakeTerminal(io.StringIO):
    """Stands in for a terminal: the one thing a test run cannot have."""

    encoding = "utf-8"

    def isatty(self):
        return True


class Log(io.StringIO):
    encoding = "utf-8"


def test_plain_lines_when_not_a_terminal():
    out = Log()
    console = Console(out)
    console.configure(1)
    console.start("build kubeadm")
    console.finish("build kubeadm", ok=True)
    console.start("kubeadm init")
    console.finish("kubeadm init", ok=False, detail="timed out waiting for the API server")
    lines = out.getvalue().splitlines()
    assert lines[0] == "• build kubeadm ..."
    assert lines[1].startswith("✓ build kubeadm (") and lines[1].endswith("s)")
    assert lines[3] == "✗ kubeadm init: timed out waiting for the API server"
    assert "\r" not in out.getvalue()


def test_spinner_on_a_terminal_becomes_a_check_mark():
    out = FakeTerminal()
    console = Console(out)
    console.configure(1)
    console.start("start nodes")
    time.sleep(0.25)
    console.finish("start nodes", ok=True)
    screen = out.getvalue()
    assert screen.count(" start nodes (0s)") >= 2, "the spinner redraws while the step runs"
    assert screen.rsplit("\r", 1)[-1].startswith("\x1b[K✓ start nodes (")


def test_log_lines_do_not_overwrite_the_status_line():
    out = FakeTerminal()
    CONSOLE.configure(1, out)
    try:
        CONSOLE.start("build images")
        log.info("pulled nothing: built from source")
        CONSOLE.finish("build images", ok=True)
    finally:
        CONSOLE.configure(1, None)
        CONSOLE._stream = None
    final = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in out.getvalue().split("\n")]
    assert "pulled nothing: built from source" in final
    assert any(line.startswith("✓ build images") for line in final)


def test_quiet_shows_failures_only():
    out = Log()
    console = Console(out)
    console.configure(0)
    console.start("a")
    console.finish("a", ok=True)
    console.start("b")
    console.finish("b", ok=False, detail="broke")
    assert out.getvalue() == "✗ b: broke\n"


# ---------------------------------------------------------------- --output json


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def events(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines, "no events"
    return [json.loads(line) for line in lines]  # every line is one JSON document


def test_json_mode_prints_one_object_per_step_event_log_record_and_output_line():
    out, clock = Log(), Clock()
    console = Console(out, clock=clock)
    try:
        console.configure(1, output="json")
        console.start("kubeadm 1.34.4", "kubernetes-binary:kubeadm")
        console.progress("compiled 3 packages (of 1040)")
        log.warning("the module cache is cold")
        clock.now += 2.5
        console.finish("kubeadm 1.34.4", ok=True, step="kubernetes-binary:kubeadm")
        console.skipped("node image", "node-image")
        console.start("kubeadm init", "kubeadm-init")
        console.emit("--- last lines of kubeadm init on kube-master:\n    timed out")
        console.finish("kubeadm init", ok=False, detail="kubeadm init failed", step="kubeadm-init")
        console.emit("Cluster x is up: 1 node, Kubernetes v1.34.4.")
    finally:
        CONSOLE.configure(1)
    got = events(out.getvalue())
    assert [(e.get("step"), e["state"]) for e in got] == [
        ("kubernetes-binary:kubeadm", "started"),
        ("kubernetes-binary:kubeadm", "progress"),
        ("kubernetes-binary:kubeadm", "log"),
        ("kubernetes-binary:kubeadm", "done"),
        ("node-image", "up-to-date"),
        ("kubeadm-init", "started"),
        ("kubeadm-init", "output"),
        ("kubeadm-init", "output"),
        ("kubeadm-init", "failed"),
        (None, "output"),
    ]
    assert got[0] == {"step": "kubernetes-binary:kubeadm", "title": "kubeadm 1.34.4", "state": "started", "message": ""}
    assert got[1]["message"] == "compiled 3 packages (of 1040)"
    assert got[2]["level"] == "warning" and got[2]["message"] == "the module cache is cold"
    assert got[3]["seconds"] == 2.5
    assert got[7]["message"] == "    timed out"
    assert got[8]["message"] == "kubeadm init failed" and "seconds" in got[8]
    assert "seconds" not in got[0] and "seconds" not in got[4]
    assert not any(mark in out.getvalue() for mark in ("✓", "✗", "•", "\r"))


def test_json_log_records_go_to_stdout_with_the_rest(capsys):
    CONSOLE.configure(0, output="json")
    try:
        log.info("not at verbosity 0")
        log.error("the engine went away")
    finally:
        CONSOLE.configure(1)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert events(captured.out) == [{"state": "log", "level": "error", "message": "the engine went away"}]


def test_json_progress_is_at_most_one_event_a_second_per_step():
    out, clock = Log(), Clock()
    console = Console(out, clock=clock)
    try:
        console.configure(1, output="json")
        console.start("build", "build")
        for n in range(12):  # 0 s, 0.25 s, ... 2.75 s
            console.progress(f"compiled {n} packages")
            clock.now += 0.25
        console.finish("build", ok=True, step="build")
        console.start("load", "load")
        console.progress("1 of 1030 MB")  # a new step's first progress is said at once
        console.finish("load", ok=True, step="load")
    finally:
        CONSOLE.configure(1)
    said = [(e["step"], e["message"]) for e in events(out.getvalue()) if e["state"] == "progress"]
    assert said == [
        ("build", "compiled 0 packages"),
        ("build", "compiled 4 packages"),
        ("build", "compiled 8 packages"),
        ("load", "1 of 1030 MB"),
    ]


def test_progress_outside_a_step_says_nothing_in_json():
    out = Log()
    console = Console(out)
    try:
        console.configure(1, output="json")
        console.progress("orphan")
    finally:
        CONSOLE.configure(1)
    assert out.getvalue() == ""


def test_progress_shows_on_the_spinner_line_and_not_in_plain_lines():
    terminal, plain = FakeTerminal(), Log()
    for stream in (terminal, plain):
        console = Console(stream)
        console.configure(1)
        console.start("node image into the engine")
        console.progress("310 of 1030 MB")
        console.finish("node image into the engine", ok=True)
    assert " node image into the engine (0s) 310 of 1030 MB" in terminal.getvalue()
    assert "MB" not in plain.getvalue()


def test_commands_print_json_lines_only(capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    try:
        assert cli.main(["config", "--output", "json"]) == 0
        assert cli.main(["e2e", "DNS", "--output", "json"]) == 1
    finally:
        CONSOLE.configure(1)
    got = events(capsys.readouterr().out)
    config = [e["message"] for e in got if e["state"] == "output"]
    assert "output: json  # flag --output" in config
    steps = [(e["step"], e["state"]) for e in got if e["state"] != "output"]
    assert steps == [("e2e-cluster", "started"), ("e2e-cluster", "failed")]
    assert "cannot reach the Docker engine" in got[-1]["message"]


def test_tasks_print_through_the_console():
    # A bare print() would break the one-object-a-line stream of --output json.
    tasks = Path(cli.__file__).parent
    printing = [
        f"{path.name}:{number}"
        for path in sorted(tasks.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<![\w.])print\(", line) and path.name != "cli.py"  # cli: usage, before any run
    ]
    assert printing == []


def test_a_reader_that_goes_away_stops_nothing():
    """`local-cluster up | head -1`: the run goes on to its end, no traceback."""
    import subprocess
    import sys

    from tasks.paths import REPO_DIR

    script = (
        "from tasks.console import CONSOLE\nfor i in range(20000): CONSOLE.emit(f'line {i} ' + 'x' * 60)\nprint('done')"
    )
    reader = subprocess.Popen(["head", "-1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-c", script], stdout=reader.stdin, stderr=subprocess.PIPE, cwd=REPO_DIR, text=True
    )
    reader.stdin.close()
    reader.wait()
    assert writer.returncode == 0 and "Traceback" not in writer.stderr and "BrokenPipe" not in writer.stderr
