"""kubeadm on the nodes: init on the master, join on the workers (the pod
network is tasks.podnet's, the add-ons tasks.addons')."""

from __future__ import annotations

import base64
import json
import secrets
from string import Template

from tasks import parallel
from tasks.access import api as api_access
from tasks.cluster import KUBEADM_DIR, Cluster, NodeSpec
from tasks.console import CONSOLE
from tasks.node import failures, kubeadm_config
from tasks.paths import CONFIG_DIR
from tasks.settings import POD_SUBNET, SERVICE_SUBNET


def _ignored_preflight(cluster: Cluster) -> str:
    # cgroup v1 hosts: kubeadm 1.35+ fails SystemVerification on them; only there is it ignored.
    return '["SystemVerification"]' if cluster.cgroup_v1 else "[]"


def _kept(argv: list[str], phase: str) -> list[str]:
    """argv with its output kept in the node too, for export-logs (kubeadm's own exit status)."""
    return ["bash", "-o", "pipefail", "-c", f'"$@" 2>&1 | tee /var/log/kubeadm-{phase}.log', "kubeadm", *argv]


def kubeadm_init(cluster: Cluster) -> None:
    settings = cluster.settings
    master = cluster.nodes[0]
    token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    untainted = settings.cluster.num_nodes == 0 or settings.cluster.no_dedicated
    sans = ["127.0.0.1", "localhost", master.name, master.address]
    for name in api_access.certificate_names(cluster.engine.host, settings.cluster.api_server_address):
        if name not in sans:
            sans.append(name)
    text = kubeadm_config.render(
        "kubeadm-init.yaml",
        settings,
        token=token,
        master_name=master.name,
        master_address=master.address,
        master_taints="[]" if untainted else "null",
        ignore_preflight_errors=_ignored_preflight(cluster),
        version=cluster.artifacts.version,
        cluster_name=settings.cluster.name,
        pod_subnet=POD_SUBNET,
        service_subnet=SERVICE_SUBNET,
        cert_sans=json.dumps(sans),
        fail_cgroup_v1="false" if cluster.cgroup_v1 else "true",
    )
    # The token lives only on the master (0600), never in logs or our state.
    cluster.objects.put_files(
        master.name, KUBEADM_DIR, {"kubeadm.yaml": text.encode(), "token": token.encode()}, mode=0o600
    )
    verbosity = ["--v=2"] if CONSOLE.verbosity >= 3 else []
    argv = ["kubeadm", "init", f"--config={KUBEADM_DIR}/kubeadm.yaml", "--skip-token-print", *verbosity]
    with failures.watching(cluster, master.name, "kubeadm init"):
        cluster.run(master.name, _kept(argv, "init"), "kubeadm init")
    patch = (CONFIG_DIR / "coredns-readiness.yaml").read_bytes()
    cluster.objects.put_files(master.name, KUBEADM_DIR, {"coredns-readiness.yaml": patch})
    cluster.kubectl(
        "-n", "kube-system", "patch", "deployment", "coredns", f"--patch-file={KUBEADM_DIR}/coredns-readiness.yaml"
    )
    proxy_args = kubeadm_config.kube_proxy_args_patch(settings)
    if proxy_args:
        cluster.kubectl("-n", "kube-system", "patch", "daemonset", "kube-proxy", "--type=json", "-p", proxy_args)


def kubeadm_join(cluster: Cluster) -> None:
    if not cluster.workers:
        return
    token = cluster.objects.get_file(cluster.master, f"{KUBEADM_DIR}/token").decode().strip()
    ca = cluster.objects.get_file(cluster.master, "/etc/kubernetes/pki/ca.crt")
    discovery = Template((CONFIG_DIR / "discovery.conf").read_text()).substitute(
        cluster_name=cluster.settings.cluster.name,
        master_name=cluster.master,
        ca_data=base64.b64encode(ca).decode(),
    )
    ignored = _ignored_preflight(cluster)

    def join(spec: NodeSpec) -> None:
        text = kubeadm_config.render(
            "kubeadm-join.yaml",
            cluster.settings,
            token=token,
            master_name=cluster.master,
            node_name=spec.name,
            node_address=spec.address,
            ignore_preflight_errors=ignored,
        )
        files = {"kubeadm-join.yaml": text.encode(), "discovery.conf": discovery.encode()}
        cluster.objects.put_files(spec.name, KUBEADM_DIR, files, mode=0o600)
        argv = ["kubeadm", "join", f"--config={KUBEADM_DIR}/kubeadm-join.yaml"]
        with failures.watching(cluster, spec.name, "kubeadm join"):
            cluster.run(spec.name, _kept(argv, "join"), "kubeadm join")

    parallel.each(join, cluster.workers, doing="joining")
