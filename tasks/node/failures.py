"""Failing fast while kubeadm waits. A control-plane component or a kubelet
that keeps failing (an unknown feature gate, a misspelt flag) is named with
its own last error within seconds, instead of kubeadm's health check timing
out after minutes with "the kubelet is not healthy" or "context deadline
exceeded"."""

from __future__ import annotations

import contextlib
import json
import re
import threading

import requests
from docker.errors import DockerException

from tasks.console import log
from tasks.engine import EngineError
from tasks.errors import UserError

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
POLL_SECONDS = 3
# The kubelet's last words before it exits; before kubeadm writes its config
# it fails for want of the file, which is not a failure of the settings.
KUBELET_PROBE = r"""journalctl -u kubelet --since @{since} -o cat --no-pager 2>/dev/null \
  | grep -E '"command failed"|^panic: ' | grep -vi 'kubelet config file' | tail -n 1"""


def _node_time(cluster, node: str) -> str:
    result = cluster.objects.exec(node, ["date", "+%s"], deadline=15)
    return result.output.strip() or "0"


def diagnose(cluster, node: str, since: str) -> str | None:
    """What keeps failing on NODE since SINCE (seconds of the node's clock), in one line, or None."""
    # Two commands, not one with a separator: through a TCP engine an exec's
    # first output is sometimes lost (docker-py's stream over TCP: 1 in 20
    # here), and crictl's listing once stood where the kubelet's line should.
    kubelet = cluster.objects.exec(node, ["sh", "-c", KUBELET_PROBE.format(since=since)], deadline=30).output.strip()
    if kubelet:
        match = re.search(r'err="(.*)"', kubelet)
        why = match[1].replace('\\"', '"') if match else kubelet.removeprefix("panic: ")
        return f"the kubelet fails: {why[:400]}"
    listing = cluster.objects.exec(node, ["crictl", "ps", "-a", "--state", "exited", "-o", "json"], deadline=30)
    try:
        containers = json.loads(listing.output or "{}").get("containers") or [] if listing.exit_code == 0 else []
    except (json.JSONDecodeError, AttributeError):
        return None
    for container in containers:
        name = (container.get("metadata") or {}).get("name")
        # attempt 1 or more: it ran, exited, was restarted and exited again.
        if name in COMPONENTS and (container["metadata"].get("attempt") or 0) >= 1:
            logs = cluster.objects.exec(node, ["crictl", "logs", "--tail", "20", container["id"]], deadline=30)
            return f"{name} fails: {last_error(logs.output)}"
    return None


def last_error(output: str) -> str:
    """The line that says why: the last one naming an error, else the last."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\berror\b|\bE\d{4} |invalid|unrecognized|unknown", line, re.I)]
    return (errors or lines or ["(no output)"])[-1][:400]


@contextlib.contextmanager
def watching(cluster, node: str, what: str):
    """Run WHAT (kubeadm on NODE) while watching for a component that keeps
    failing; when one does, stop kubeadm and fail with that component's error."""
    found: list[str] = []
    stop = threading.Event()
    try:
        since = _node_time(cluster, node)
    except (EngineError, DockerException, requests.RequestException):
        yield  # the step itself will meet the engine's trouble
        return

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                problem = diagnose(cluster, node, since)
                if problem and not stop.is_set():
                    found.append(problem)
                    cluster.objects.exec(node, ["pkill", "-x", "kubeadm"], deadline=15)
                    return
            except Exception as err:  # watching is best effort: kubeadm's own timeout still holds
                log.debug("watching %s on %s: %s", what, node, err)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    except UserError as err:
        stop.set()
        watcher.join(timeout=POLL_SECONDS + 30)
        if not found:
            with contextlib.suppress(Exception):
                problem = diagnose(cluster, node, since)
                if problem:
                    found.append(problem)
        if found:
            raise UserError(f"{what} on {node} stopped: {found[0]}") from None
        raise err
    finally:
        stop.set()
