"""`export-logs`: what it takes to see what a cluster did, healthy or broken,
in one archive. A failed `up` writes the same set.

Everything comes through the engine's API (exec and the archive API), so it
works the same on a remote engine; nothing is bind-mounted. Secrets stay out:
the bootstrap token file is left behind and tokens in kubeadm's configuration
are redacted."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import platform
import shutil
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

import requests
from docker.errors import DockerException

from tasks import parallel, registry
from tasks.cluster import ADMIN_CONF, KUBEADM_DIR
from tasks.engine import LABEL, LABEL_ROLE, EngineError
from tasks.objects import Objects
from tasks.settings import Settings, render_effective

# On the node, into a directory, then fetched in one archive: not under /tmp,
# a tmpfs, which the engine's archive API cannot read.
COLLECT = "/var/tmp/kubeadm-local-cluster-logs"
COLLECT_SCRIPT = f"""set +e
d={COLLECT}; rm -rf $d; mkdir -p $d/kubeadm
redact='s/^([[:space:]-]*(token|tlsBootstrapToken):).*/\\1 "<redacted>"/'
journalctl --no-pager -o short-precise > $d/journal.log 2>&1
journalctl --no-pager -o short-precise -u kubelet > $d/kubelet.log 2>&1
journalctl --no-pager -o short-precise -u containerd > $d/containerd.log 2>&1
systemctl list-units --all --no-pager > $d/systemd-units.txt 2>&1
crictl ps -a > $d/crictl-ps.txt 2>&1
crictl pods > $d/crictl-pods.txt 2>&1
crictl images > $d/crictl-images.txt 2>&1
{{ kubelet --version; containerd --version; runc --version; uname -a; cat /etc/os-release; }} > $d/versions.txt 2>&1
cp /var/log/kubeadm-*.log $d/kubeadm/ 2>/dev/null
for f in {KUBEADM_DIR}/*.yaml {KUBEADM_DIR}/*.conf {KUBEADM_DIR}/*.env; do
  [ -f "$f" ] && sed -E "$redact" "$f" > $d/kubeadm/$(basename "$f")
done
cp -a /etc/kubernetes/manifests $d/manifests 2>/dev/null
cp /var/lib/kubelet/config.yaml $d/kubelet-config.yaml 2>/dev/null
exit 0
"""
FETCHED = (COLLECT, "/var/log/pods", "/var/log/containers")
_SETTINGS_NOTE = "# The settings of the run that exported these logs; what the nodes were made with: made-with.json\n"


def default_path(settings: Settings, prefix: str = "") -> Path:
    from tasks.paths import logs_dir

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return logs_dir() / f"{prefix}{settings.cluster.name}-{stamp}.tar.gz"


def is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def export(objects: Objects, settings: Settings, path: Path, deadline: int = 120) -> Path:
    """Every node's logs and state, the cluster's objects and the settings, into
    PATH: a .tar.gz, or else a directory. Best effort: what cannot be had is
    said in a file of its own, never fatal."""
    nodes = objects.nodes()
    with tempfile.TemporaryDirectory(prefix="klc-logs-") as scratch:
        parts = parallel.each(lambda node: _node(objects, node, Path(scratch), deadline), nodes, doing="collecting")
        archive = path if is_archive(path) else Path(scratch) / "logs.tar.gz"
        archive.parent.mkdir(parents=True, exist_ok=True)
        top = archive.name.removesuffix(".tgz").removesuffix(".tar.gz") if is_archive(path) else path.name
        with tarfile.open(archive, "w:gz") as out:
            _add(out, f"{top}/settings.yaml", _SETTINGS_NOTE + render_effective(settings))
            _add(out, f"{top}/versions.txt", _versions(objects, nodes))
            master = next((n for n in nodes if n.labels.get(LABEL_ROLE) == "master"), None)
            if master is not None and master.labels.get(f"{LABEL}.state"):
                made_with = json.dumps(json.loads(master.labels[f"{LABEL}.state"]), indent=2)
                _add(out, f"{top}/made-with.json", made_with + "\n")
            _add(out, f"{top}/cluster-info-dump.txt", _cluster_dump(objects, master, deadline))
            for node, part in zip(nodes, parts, strict=True):
                _copy(part, out, f"{top}/{node.name}")
            for name, text in _registry_logs(objects):
                _add(out, f"{top}/{name}/registry.log", text)
        if not is_archive(path):
            path.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    member.name = member.name.partition("/")[2]
                tar.extractall(path, members=[m for m in tar.getmembers() if m.name], filter="tar")
    return path


def _registry_logs(objects: Objects) -> list[tuple[str, str]]:
    """The local registry's output (cluster.registry): what it served, to whom."""
    try:
        return [(c.name, c.logs(tail=2000).decode(errors="replace")) for c in objects.containers(role=registry.ROLE)]
    except (DockerException, requests.RequestException) as err:
        return [("registry", f"cannot read the registry's logs: {err}\n")]


def _add(out: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    out.addfile(info, io.BytesIO(data))


def _renamed(member: tarfile.TarInfo, name: str, linkname: str | None = None) -> tarfile.TarInfo:
    # A long name also lives in the member's PAX header, which would win on writing.
    member.pax_headers.pop("path", None)
    member.name = name
    if linkname is not None:
        member.pax_headers.pop("linkpath", None)
        member.linkname = linkname
    return member


def _copy(part: Path, out: tarfile.TarFile, prefix: str) -> None:
    with tarfile.open(part) as tar:
        for member in tar.getmembers():
            link = f"{prefix}/{member.linkname}" if member.islnk() else None
            _renamed(member, f"{prefix}/{member.name}", link)
            out.addfile(member, tar.extractfile(member) if member.isfile() else None)


def _node(objects: Objects, node, scratch: Path, deadline: int) -> Path:
    """One node's part, as a tar in SCRATCH: its boot output, `docker inspect`,
    and (running) its journals, crictl's view, kubeadm's files and pod logs."""
    part = scratch / f"{node.name}.tar"
    with tarfile.open(part, "w") as tar:

        def add(name: str, text: str) -> None:
            _add(tar, name, text)

        try:
            add("docker-inspect.json", json.dumps(objects.client.api.inspect_container(node.name), indent=2))
            add("boot.log", node.logs(tail=2000).decode(errors="replace"))
        except (DockerException, requests.RequestException) as err:
            add("errors.txt", f"cannot inspect {node.name}: {err}\n")
            return part
        if node.status != "running":
            add("errors.txt", f"{node.name} is {node.status}: its journals and pod logs need it running\n")
            return part
        problems = []
        try:
            result = objects.exec(node.name, ["sh", "-c", COLLECT_SCRIPT], deadline=deadline)
            if result.exit_code != 0:
                problems.append(f"collecting on the node ended with exit {result.exit_code}: {result.output[-500:]}")
        except (EngineError, DockerException, requests.RequestException) as err:
            problems.append(f"collecting on the node failed: {err}")
        for source in FETCHED:
            try:
                _fetch(objects, node.name, source, tar)
            except (EngineError, DockerException, requests.RequestException) as err:
                problems.append(f"{source}: {str(err)[:300]}")
        if problems:
            add("errors.txt", "\n".join(problems) + "\n")
        with contextlib.suppress(EngineError, DockerException, requests.RequestException):
            objects.exec(node.name, ["rm", "-rf", COLLECT], deadline=30)
    return part


def _fetch(objects: Objects, node: str, source: str, tar: tarfile.TarFile) -> None:
    """The directory SOURCE of NODE into TAR: the collected directory's content
    at the top, anything else under its own path (var/log/pods/...)."""
    prefix = "" if source == COLLECT else source.strip("/")
    stream, _ = objects.client.api.get_archive(node, source)
    with tempfile.TemporaryFile() as buffer:
        for chunk in stream:
            buffer.write(chunk)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as got:
            for member in got.getmembers():
                # The engine names SOURCE's last part first ("pods/..."): ours replaces it.
                name = "/".join(p for p in (prefix, member.name.partition("/")[2]) if p)
                link = "/".join(p for p in (prefix, member.linkname.partition("/")[2]) if p) if member.islnk() else None
                if member.issym() and member.linkname.startswith("/var/log/pods/"):
                    # /var/log/containers' links, made relative: they resolve in the archive too.
                    link = "../pods/" + member.linkname.removeprefix("/var/log/pods/")
                if name:
                    tar.addfile(_renamed(member, name, link), got.extractfile(member) if member.isfile() else None)


def _cluster_dump(objects: Objects, master, deadline: int) -> str:
    if master is None or master.status != "running":
        return "(no running master: nothing to ask the API server)\n"
    argv = ["kubectl", f"--kubeconfig={ADMIN_CONF}", "cluster-info", "dump", "--all-namespaces"]
    argv.append("--request-timeout=20s")  # an API server that is down answers nothing
    try:
        result = objects.exec(master.name, argv, deadline=deadline)
    except (EngineError, DockerException, requests.RequestException) as err:
        return f"(kubectl cluster-info dump failed: {err})\n"
    return result.output if result.exit_code == 0 else f"(exit {result.exit_code})\n{result.output}"


def _versions(objects: Objects, nodes: list) -> str:
    lines = [f"kubeadm-local-cluster {_tool_version()}", f"python {platform.python_version()}"]
    try:
        info = objects.engine.info()
        lines += [
            f"engine {info.get('ServerVersion')} ({info.get('OperatingSystem')}, kernel {info.get('KernelVersion')}, "
            f"cgroup v{info.get('CgroupVersion')}, {info.get('NCPU')} CPUs, {info.get('MemTotal', 0) // 2**20} MiB)"
        ]
    except (DockerException, requests.RequestException) as err:
        lines.append(f"engine: cannot ask ({err})")
    for node in nodes:
        lines.append(f"{node.name}: Kubernetes {node.labels.get(f'{LABEL}.kubernetes-version', '?')}")
    lines.append("each node's own versions: <node>/versions.txt")
    return "\n".join(lines) + "\n"


def _tool_version() -> str:
    try:
        return metadata.version("kubeadm-local-cluster")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def remove_partial(path: Path) -> None:
    if is_archive(path):
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
