"""The commands on clusters besides up and reup (whose steps are in tasks.steps):
down, clean, clusters, kubeconfig, export-logs and load. tasks.pipeline
gathers their task creators for doit."""

from __future__ import annotations

from pathlib import Path

from tasks import clusters, context, export_logs, load, teardown
from tasks.access import kubeconfig
from tasks.console import CONSOLE
from tasks.engine import Engine
from tasks.errors import UserError
from tasks.naming import Names
from tasks.objects import Objects
from tasks.settings import parse_flags
from tasks.taskkit import command, step


@step
def run_down():
    removed = teardown.down(context.settings())
    CONSOLE.emit(f"removed {', '.join(removed)}" if removed else "no nodes to remove")
    CONSOLE.emit("the snapshot and the registry's data, if any, are kept: `clean` removes them")


def task_down():
    return command("down", [run_down], meta={"status": False})


@step
def run_clean():
    removed = teardown.clean(context.settings(), everything=context.current().everything)
    CONSOLE.emit(f"removed {', '.join(removed)}" if removed else "nothing to remove")


def task_clean():
    return command("clean", [run_clean], meta={"status": False})


@step
def run_clusters():
    for line in clusters.render(clusters.listing()):
        CONSOLE.emit(line)


def task_clusters():
    return command("clusters", [run_clusters], meta={"status": False})


def _cluster_nodes() -> tuple[Objects, list]:
    """The cluster's objects and its nodes, which must exist (what `kubeconfig` and `export-logs` ask)."""
    settings = context.settings()
    objects = Objects(Engine.connect(), settings.cluster.name)
    found = objects.nodes()
    if not found:
        raise UserError(f"cluster {settings.cluster.name} has no nodes on this engine: `local-cluster up` makes it")
    return objects, found


@step
def print_kubeconfig():
    objects, found = _cluster_nodes()
    names = Names(context.settings().cluster.name)
    master = next((node for node in found if node.name == names.master), None)
    if master is None or master.status != "running":
        raise UserError(f"{names.master} is not running: `local-cluster up` starts it")
    text = kubeconfig.render_for(objects, names.master, internal=context.current().internal)
    CONSOLE.emit(text)


def task_kubeconfig():
    return command("kubeconfig", [print_kubeconfig], meta={"status": False})


@step
def run_export_logs(path):
    settings = context.settings()
    objects, _ = _cluster_nodes()
    target = Path(path[0]).expanduser().resolve() if path else export_logs.default_path(settings)
    if len(path or []) > 1:
        raise UserError(f"export-logs takes one path, got {len(path)}: {' '.join(path)}")
    if not export_logs.is_archive(target) and target.exists() and any(target.iterdir()):
        raise UserError(f"{target} is a directory that is not empty: name a new one, or a .tar.gz file")
    if export_logs.is_archive(target) and target.exists():
        raise UserError(f"{target} exists: name a new file (nothing was overwritten)")
    export_logs.export(objects, settings, target)
    CONSOLE.emit(f"logs of cluster {settings.cluster.name}: {target}")


def task_export_logs():
    return command("export-logs", [run_export_logs], pos_arg="path", meta={"status": False})


@step
def run_load(images):
    # doit hands over everything after the first word, flags too (`load app:1
    # --nodes kube-node-1`); the loader has read the flags already.
    _, _, refs = parse_flags(images or [])
    run = context.current()
    objects = Objects(Engine.connect(), run.settings.cluster.name)
    for line in load.load(objects, refs, run.archive, run.nodes):
        CONSOLE.emit(line)


def task_load():
    return command("load", [run_load], pos_arg="images", meta={"title": "images into the nodes"})
