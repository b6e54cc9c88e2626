"""The cluster in the user's own kubeconfig, as kind does it: `up` adds a
context, cluster and user named after the cluster (Names.context) to the first
file of $KUBECONFIG, else ~/.kube/config, and makes the context current;
`down` and `clean` take out exactly those entries and give the current context
back to the one `up` took it from.

The file is written the way kubectl writes it (keys sorted, the same quoting,
no line folding): a kubeconfig kubectl wrote is, byte for byte, what it was
once the cluster is gone. Written atomically, 0600 when new; kubectl's lock
file (`<file>.lock`) is honoured. What `up` took over (the previous current
context, whether the file was new) is remembered in the cluster's state
directory, the only state of ours outside labels, because the kubeconfig is
the user's."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import yaml

from tasks.errors import UserError
from tasks.naming import Names
from tasks.paths import replacing, state_dir

MEMORY = "kubeconfig-merge.json"
LOCK_WAIT_SECONDS = 5
SECTIONS = {"clusters": "cluster", "contexts": "context", "users": "user"}


class _KubectlDumper(yaml.SafeDumper):
    """PyYAML as sigs.k8s.io/yaml writes: double quotes where quoting is needed."""

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def dump(data: dict) -> str:
    return yaml.dump(
        data, Dumper=_KubectlDumper, default_flow_style=False, sort_keys=True, width=float("inf"), allow_unicode=True
    )


def target(environ=None) -> Path:
    """The file kubectl writes new entries to: the first of $KUBECONFIG, else ~/.kube/config."""
    environ = os.environ if environ is None else environ
    first = next((p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p), None)
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def is_ours(path: Path) -> bool:
    """A kubeconfig of our state directory (README: `export KUBECONFIG=~/.kubeadm-local-cluster/admin.conf`):
    never merged into."""
    return path.resolve().is_relative_to(state_dir().resolve())


@contextlib.contextmanager
def _locked(path: Path):
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise UserError(
                    f"{lock} exists: kubectl or another run is writing {path}; remove the lock file if none is"
                ) from None
            time.sleep(0.2)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _read(path: Path) -> dict | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read your kubeconfig {path}: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(
            f"your kubeconfig {path}{where} is not valid YAML: fix it, or set kubeconfig.merge false"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or any(not isinstance(data.get(s) or [], list) for s in SECTIONS):
        raise UserError(f"{path} is not a kubeconfig: fix it, or set kubeconfig.merge false")
    return data


def _write(path: Path, data: dict) -> None:
    real = path.resolve()  # a symlinked kubeconfig stays a symlink
    real.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = real.stat().st_mode & 0o777 if real.exists() else 0o600
    with replacing(real) as partial:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
            out.write(dump(data))
        os.chmod(partial, mode)


def _memory_file(cluster: str) -> Path:
    return Names(cluster).state() / MEMORY


def _remembered(cluster: str) -> dict:
    """{kubeconfig path: {"created": bool, "previous": the current context `up` took over}}."""
    try:
        memory = json.loads(_memory_file(cluster).read_text())
    except (OSError, ValueError):
        return {}
    return memory if isinstance(memory, dict) else {}


def _remember(cluster: str, memory: dict) -> None:
    _memory_file(cluster).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with replacing(_memory_file(cluster)) as partial:
        partial.write_text(json.dumps(memory))


def _named(entry, name: str) -> bool:
    return isinstance(entry, dict) and entry.get("name") == name


def _put(data: dict, section: str, name: str, body: dict) -> None:
    entries = [e for e in data.get(section) or [] if not _named(e, name)]
    data[section] = [*entries, {"name": name, SECTIONS[section]: body}]


def merge(cluster: str, admin_conf: str, switch: bool, environ=None) -> Path | None:
    """Add CLUSTER (admin_conf: its kubeconfig as the client reaches it) to the
    user's kubeconfig; the path written, or None when that is one of ours."""
    path = target(environ)
    if is_ours(path):
        return None
    admin = yaml.safe_load(admin_conf)
    name = Names(cluster).context
    memory = _remembered(cluster)
    took = memory.setdefault(str(path), {})
    with _locked(path):
        data = _read(path)
        if data is None:
            took.setdefault("created", True)
            data = {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []}
        before = dump(data)
        _put(data, "clusters", name, admin["clusters"][0]["cluster"])
        _put(data, "users", name, admin["users"][0]["user"])
        _put(data, "contexts", name, {"cluster": name, "user": name})
        current = data.get("current-context")
        if switch and current != name:
            took["previous"] = current  # None: there was no current-context
            data["current-context"] = name
        elif "current-context" not in data:
            data["current-context"] = ""
        _remember(cluster, memory)
        if dump(data) != before:
            _write(path, data)
    return path


def remove(cluster: str, environ=None) -> list[Path]:
    """Take CLUSTER's entries out of every kubeconfig `up` put them in (and
    $KUBECONFIG's first file or ~/.kube/config); the paths changed."""
    memory = _remembered(cluster)
    paths = dict.fromkeys([*memory, str(target(environ))])
    changed = [Path(p) for p in paths if _remove_from(Path(p), Names(cluster).context, memory.get(p, {}))]
    _memory_file(cluster).unlink(missing_ok=True)
    return changed


def _remove_from(path: Path, name: str, took: dict) -> bool:
    if not path.exists() or is_ours(path):
        return False
    with _locked(path):
        data = _read(path) or {}
        before = dump(data)
        for section in SECTIONS:
            if section in data:
                data[section] = [e for e in data[section] or [] if not _named(e, name)]
        if data.get("current-context") == name:
            previous = took.get("previous")
            contexts = {e.get("name") for e in data.get("contexts") or [] if isinstance(e, dict)}
            if previous is None and "previous" in took:
                data.pop("current-context")
            else:
                data["current-context"] = previous if previous in contexts else ""
        empty = not any(data.get(s) for s in SECTIONS) and not data.get("current-context")
        if took.get("created") and empty:
            path.unlink()  # `up` made it, and nothing but ours was ever in it
            return True
        if dump(data) != before:
            _write(path, data)
            return True
    return False
