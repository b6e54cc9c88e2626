"""The cluster's kubeconfig and a kubectl of its version, in the state directory."""

from __future__ import annotations

import filecmp
import os
import shutil

from tasks.cluster import ADMIN_CONF, Cluster
from tasks.paths import replacing


def write_kubeconfig(cluster: Cluster) -> None:
    """admin.conf (0600) pointing at the published API server, and kubectl of the cluster's version."""
    address, port = cluster.objects.published_port(cluster.master)
    client_address = "127.0.0.1" if address in ("", "0.0.0.0") else address
    text = cluster.objects.get_file(cluster.master, ADMIN_CONF).decode()
    text = text.replace(f"server: https://{cluster.master}:6443", f"server: https://{client_address}:{port}")
    with replacing(cluster.names.kubeconfig()) as partial:
        # Created 0600: the credentials are never readable by others, not even briefly.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
        os.chmod(partial, 0o600)
    source, target = cluster.artifacts.binary("kubectl"), cluster.names.kubectl()
    if target.exists() and filecmp.cmp(source, target, shallow=True):
        return  # the same size and time: copied before (a no-op `up` copies no 50 MB)
    with replacing(target) as partial:
        shutil.copy2(source, partial)
        partial.chmod(0o755)
