"""During an e2e run: pods that wait for an image they cannot get.

A test whose pod needs an image that no node holds and none can pull (as
on machines without registry access) waits for its own timeout, often 5 or
15 minutes, in silence. A watcher asks the API server every POLL_SECONDS for
containers waiting on a failed pull and says so once per pod and image:
which image, and which test (e2e's namespaces are named after the test's
framework, e.g. `dns-1234`), so the user knows within a minute."""

from __future__ import annotations

import contextlib
import json
import threading

from tasks import pull_errors
from tasks.cluster import ADMIN_CONF
from tasks.console import log

POLL_SECONDS = 15
# The kubelet's reasons for a container that waits on an image it could not get.
KUBECTL = ["kubectl", f"--kubeconfig={ADMIN_CONF}"]
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")


def stuck_pulls(pods: dict) -> list[tuple[str, str, str, str]]:
    """(namespace, pod, image, why) for each container of `kubectl get pods
    -A -o json` waiting on an image it could not get."""
    found = []
    for pod in pods.get("items", []):
        meta, status = pod.get("metadata", {}), pod.get("status", {})
        statuses = status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
        for container in statuses:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason in PULL_FAILURES:
                why = f"{reason}: {pull_errors.cause(waiting['message'])}" if waiting.get("message") else reason
                found.append((meta.get("namespace", ""), meta.get("name", ""), container.get("image", ""), why))
    return found


def report(stuck: tuple[str, str, str, str]) -> str:
    namespace, pod, image, why = stuck
    return (
        f"pod {namespace}/{pod} cannot get the image {image} ({why}): the test whose namespace is "
        f"{namespace} waits for it until its timeout"
    )


@contextlib.contextmanager
def watching(cluster):
    """While the block runs, a line for each pod stuck on an image (once each)."""
    said: set[tuple[str, str, str]] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                # Not cluster.kubectl: it would show every pod's JSON at --v 2, and a failed poll's lines.
                result = cluster.objects.exec(
                    cluster.master, [*KUBECTL, "get", "pods", "-A", "-o", "json"], deadline=30
                )
                pods = json.loads(result.output) if result.exit_code == 0 else {}
            except Exception as err:  # best effort: the run goes on without it
                log.debug("looking for stuck image pulls: %s", err)
                continue
            for stuck in stuck_pulls(pods):
                if stuck[:3] not in said and not stop.is_set():
                    said.add(stuck[:3])
                    log.warning("%s", report(stuck))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield said
    finally:
        stop.set()
        watcher.join(timeout=5)
