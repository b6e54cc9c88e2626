"""Status lines: a check mark or a cross per step; plain lines in logs."""

import io
import time

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
