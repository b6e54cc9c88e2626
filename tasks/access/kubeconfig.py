"""The cluster's kubeconfig, a kubectl of its version and helm (tasks.build.helm),
in the state directory; the cluster in the user's kubeconfig too
(tasks.access.user_kubeconfig)."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from tasks.access import api as api_access
from tasks.access import user_kubeconfig
from tasks.build import client, helm
from tasks.build.artifacts import binary_source
from tasks.cluster import ADMIN_CONF, Cluster
from tasks.console import log
from tasks.errors import UserError
from tasks.objects import Objects
from tasks.paths import replacing


def render(cluster: Cluster) -> str:
    return render_for(cluster.objects, cluster.master)


def render_for(objects: Objects, master: str, internal: bool = False) -> str:
    """admin.conf with the API server as the client reaches it (published on
    the engine's host), or, internal, as containers on the cluster's network do."""
    text = objects.get_file(master, ADMIN_CONF).decode()
    if internal:
        return text
    address, port = objects.published_port(master)
    if not port:
        raise UserError(f"{master} publishes no API server port: is it running? (`local-cluster up`)")
    address, port = api_access.reachable(objects, "api", (address, port))
    return text.replace(f"server: https://{master}:6443", f"server: https://{address}:{port}")


def write_kubeconfig(cluster: Cluster) -> None:
    """admin.conf (0600) pointing at the published API server, kubectl of the
    cluster's version and helm beside it, and the cluster in the user's kubeconfig."""
    text = render(cluster)
    with replacing(cluster.names.kubeconfig()) as partial:
        # Created 0600: the credentials are never readable by others, not even briefly.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
        os.chmod(partial, 0o600)
    kubectl = client.kubectl_for_this_machine(cluster.artifacts, cluster.settings)
    if kubectl is None:
        cluster.names.kubectl().unlink(missing_ok=True)  # another cluster's, or a Linux one this machine cannot run
        source = binary_source(cluster.settings, "kubectl").describe()
        log.info("no kubectl beside admin.conf: kubectl comes from %s, for Linux; use one of your own", source)
    else:
        _copy_program(kubectl, cluster.names.kubectl())
    _copy_program(helm.binary(), cluster.names.helm())
    settings = cluster.settings.kubeconfig
    if settings.merge:
        merged = user_kubeconfig.merge(cluster.settings.cluster.name, text, settings.switch_context)
        if merged is not None:
            current = " (the current context)" if settings.switch_context else ""
            log.info("context %s is in %s%s", cluster.names.context, cluster.names.shown(merged), current)


def _copy_program(source: Path, target: Path) -> None:
    if target.exists() and filecmp.cmp(source, target, shallow=True):
        return  # the same size and time: copied before (a no-op `up` copies no 50 MB)
    with replacing(target) as partial:
        shutil.copy2(source, partial)
        partial.chmod(0o755)
