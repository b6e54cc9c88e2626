"""Waiting until the cluster is Ready: every node Ready and CoreDNS serving,
counting after a (re)start only what was reported since."""

from __future__ import annotations

import datetime
import json
import time

from tasks.cluster import ADMIN_CONF, KUBEADM_DIR, Cluster
from tasks.console import CONSOLE
from tasks.errors import UserError

READY_TIMEOUT = 300


def _fresh(timestamp: str | None, since: float | None) -> bool:
    """Was this API timestamp (RFC 3339, whole seconds) written at or after since?"""
    if since is None:
        return True
    if not timestamp:
        return False
    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    return moment >= int(since)


def _node_ready(node: dict, heartbeats: dict[str, float]) -> bool:
    since = heartbeats.get(node["metadata"]["name"])
    return any(
        c["type"] == "Ready" and c["status"] == "True" and _fresh(c.get("lastHeartbeatTime"), since)
        for c in node["status"]["conditions"]
    )


def _pod_ready(pod: dict, started: dict[str, float]) -> bool:
    since = started.get(pod.get("spec", {}).get("nodeName", ""))
    status = pod.get("status", {})
    moments = [c.get("state", {}).get("running", {}).get("startedAt") for c in status.get("containerStatuses", [])]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])) and all(
        _fresh(moment, since) for moment in moments or [None]
    )


def _state(cluster: Cluster) -> tuple[list, list] | None:
    """The nodes and the CoreDNS pods, in one command on the master (each
    kubectl run costs a few tenths of a second); None while the API server
    does not answer."""
    kubectl = f"kubectl --kubeconfig={ADMIN_CONF} --request-timeout=10s"
    # The two at once (half the time of one after the other), the nodes' first.
    script = (
        f"dir=$(mktemp -d) && trap 'rm -rf \"$dir\"' EXIT && "
        f'{{ {kubectl} get nodes -o json >"$dir/nodes" & }} && '
        f'{kubectl} -n kube-system get pods -l k8s-app=kube-dns -o json >"$dir/pods" && wait $! && '
        f'cat "$dir/nodes" "$dir/pods"'
    )
    result = cluster.objects.exec(cluster.master, ["sh", "-c", script], deadline=30)
    if result.exit_code != 0:
        return None
    try:
        decoder = json.JSONDecoder()
        nodes, end = decoder.raw_decode(result.output.lstrip())
        pods, _ = decoder.raw_decode(result.output.lstrip()[end:].lstrip())
    except ValueError:
        return None
    return nodes.get("items", []), pods.get("items", [])


def waiting(not_ready: list[str], dns_ready: bool) -> str:
    """What Ready still waits for, as the step's progress."""
    return "waiting for " + ", ".join([*not_ready, *([] if dns_ready else ["CoreDNS"])])


def wait_ready(cluster: Cluster) -> None:
    """Every node Ready and CoreDNS Ready. After the nodes were (re)started in
    this run, only a status reported since counts: etcd still holds the old one.
    CoreDNS pods may not even exist yet right after the nodes turn Ready, and
    one Ready replica answers the cluster's DNS."""
    started, heartbeats = cluster.started, {**cluster.kubelet_restarted, **cluster.started}
    deadline = time.monotonic() + READY_TIMEOUT
    not_ready: list[str] = [spec.name for spec in cluster.nodes]
    pods: list = []
    while time.monotonic() < deadline:
        state = _state(cluster)
        if state is None:
            CONSOLE.progress("waiting for the API server")
        else:
            nodes, pods = state
            ready = {n["metadata"]["name"] for n in nodes if _node_ready(n, heartbeats)}
            not_ready = [spec.name for spec in cluster.nodes if spec.name not in ready]
            dns_ready = any(_pod_ready(p, started) for p in pods)
            if not not_ready and dns_ready:
                if heartbeats or not cluster.complete():  # else the marker says so already
                    cluster.objects.put_files(
                        cluster.master, KUBEADM_DIR, {"ready": datetime.datetime.now().isoformat().encode()}
                    )
                return
            CONSOLE.progress(waiting(not_ready, dns_ready))
        time.sleep(0.5)
    if not_ready:
        journal = cluster.objects.exec(
            not_ready[0], ["journalctl", "-u", "kubelet", "-n", "15", "--no-pager"], deadline=30
        )
        for text in journal.output.splitlines():
            CONSOLE.emit(f"    [{not_ready[0]}] {text}")
        raise UserError(f"{', '.join(not_ready)} not Ready within {READY_TIMEOUT}s (kubelet's last lines above)")
    states = ", ".join(f"{p['metadata']['name']} {p.get('status', {}).get('phase', '?')}" for p in pods)
    raise UserError(f"CoreDNS not Ready within {READY_TIMEOUT}s ({states or 'no pods'})")
