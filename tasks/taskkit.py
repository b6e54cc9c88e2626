"""What every task creator shares: the commands' names, doit's configuration,
the action wrappers (a UserError or an engine failure is a one-line task
failure), task options from the settings, and the run's cluster."""

from __future__ import annotations

import functools

import requests
from docker.errors import DockerException
from doit.exceptions import TaskFailed

from tasks import cluster as clu
from tasks import context, teardown
from tasks.build import artifacts as art
from tasks.build import platforms
from tasks.console import StatusReporter
from tasks.errors import UserError, disk_full, disk_full_message
from tasks.node import containers as nodes
from tasks.paths import dep_file
from tasks.settings import INVOCATION_FLAGS, INVOCATION_OPTIONS, SCHEMA

COMMANDS = {
    "up": "bring the cluster up (from its snapshot when the settings match)",
    "down": "remove the node containers, keep the snapshot",
    "clean": "remove the cluster, its snapshot, volumes and network (--all: every cluster and the node images)",
    "clusters": "list every cluster on the engine: version, nodes, API server, snapshot",
    "reup": "rebuild Kubernetes from source and put it into the (restored) cluster",
    "e2e": "run the parallel conformance tests, or those whose name contains SUBSTRING",
    "e2e-serial": "run the serial conformance tests, or those whose name contains SUBSTRING",
    "kubeconfig": "print the cluster's kubeconfig (--internal: as containers on its network reach it)",
    "load": "images of the Docker engine (IMAGE...) or a `docker save` archive (--archive FILE) into the nodes",
    "export-logs": "every node's journals, pod logs and state, and the cluster's objects, into a .tar.gz (or DIR)",
    "config": "print the effective settings and where each came from",
    "doctor": "check that this machine and its Docker engine can run a cluster",
}


def doit_config() -> dict:
    """doit's configuration, made when the tasks load (HOME may differ per run)."""
    return {
        "dep_file": str(dep_file()),
        "backend": "sqlite3",  # survives overlapping readers; json and dbm lose records
        "verbosity": 2,  # our own console decides what is shown
        "reporter": StatusReporter,
        "par_type": "thread",
        "sort": "definition",  # `list` reads like the pipeline
        "minversion": "0.36.0",
    }


DOIT_CONFIG = doit_config()


def step(function):
    """A task action: a UserError, or an engine error or time-out, becomes a
    clean one-line task failure."""

    @functools.wraps(function)
    def action(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except UserError as err:
            return TaskFailed(str(err))
        except (DockerException, requests.RequestException, ConnectionError) as err:
            return TaskFailed(engine_failure(err))
        except OSError as err:
            if not disk_full(err):
                raise
            return TaskFailed(disk_full_message(err))
        return True if result is None else result

    return action


def flag_params() -> list[dict]:
    """Every setting as a task option, so doit accepts `up --num-nodes 3`.

    The values are read by the loader (tasks.settings.parse_flags), not here."""
    params = []
    for setting in SCHEMA:
        param = {"name": setting.flag.replace("-", "_"), "long": setting.flag, "help": setting.help}
        if setting.is_bool:
            param.update(type=bool, default=None, inverse=setting.inverse)
        else:
            param.update(type=str, default="")
        params.append(param)
    for flag, help_ in INVOCATION_FLAGS.items():
        params.append({"name": flag.replace("-", "_"), "long": flag, "type": bool, "default": False, "help": help_})
    for flag, (_, help_) in INVOCATION_OPTIONS.items():
        params.append({"name": flag.replace("-", "_"), "long": flag, "type": str, "default": "", "help": help_})
    return params


def command(name: str, actions: list, **extra) -> dict:
    return {
        "basename": name,
        "doc": COMMANDS[name],
        "actions": actions,
        "params": flag_params(),
        "uptodate": [False],  # a command always runs; its steps may be up to date
        "verbosity": 2,
        **extra,
    }


def artifact_set() -> art.ArtifactSet:
    return art.ArtifactSet(context.current().kubernetes_version())


def unresolved(basename: str, err: UserError) -> dict:
    # The version could not be resolved: commands that need no artifacts
    # (config, doctor) still work; these steps fail with the reason.
    @step
    def fail():
        raise err

    return {"basename": basename, "actions": [fail], "doc": "(cannot resolve the Kubernetes version)"}


def needed_by_artifacts(creator):
    @functools.wraps(creator)
    def wrapper():
        try:
            artifacts = artifact_set()
        except UserError as err:
            yield unresolved(creator.__name__.removeprefix("task_").replace("_", "-"), err)
            return
        yield from creator(artifacts)

    return wrapper


def recipe(**extra) -> dict:
    """What a build for the nodes depends on besides its inputs: how we make
    it, and the nodes' architecture (another engine's is another build)."""
    return {"recipe": art.RECIPE, **platforms.cache_key(), **extra}


# ---------------------------------------------------------------- the cluster


def engine_failure(err: Exception) -> str:
    """An engine error or time-out met inside a step, as one line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return f"the Docker engine failed: {text[:300]}"


def run_cluster() -> clu.Cluster:
    """The cluster of this run: one engine connection for every step and check."""
    run = context.current()
    if "cluster" not in run.cache:
        try:
            run.cache["cluster"] = clu.Cluster(context.settings(), artifact_set(), retain=run.retain, reup=run.reup)
        except (DockerException, requests.RequestException, ConnectionError) as err:
            raise UserError(engine_failure(err)) from None
    return run.cache["cluster"]


def cluster_step(function):
    """A step of `up`: on failure (ours, or the engine's: an API error or a
    time-out), save the nodes' logs, say where, and remove the half-made
    nodes (unless --retain), so the next `up` starts clean."""

    @functools.wraps(function)
    def action():
        try:
            cluster = run_cluster()
        except UserError as err:
            return TaskFailed(str(err))
        try:
            function(cluster)
        except UserError as err:
            return TaskFailed(_after_failure(cluster, str(err)))
        except (DockerException, requests.RequestException, ConnectionError) as err:
            return TaskFailed(_after_failure(cluster, engine_failure(err)))
        return True

    return action


def _after_failure(cluster: clu.Cluster, message: str) -> str:
    try:
        saved = teardown.save_logs(cluster)
        if not cluster.fresh and cluster.has_file(cluster.master, clu.READY_MARKER):
            # A cluster that was complete before this run is the user's: keep it.
            kept = "the cluster's nodes were kept (it was complete before)"
        elif cluster.retain:
            kept = "the node containers were kept (--retain)"
        else:
            nodes.remove_nodes(cluster.objects)
            kept = "the node containers were removed (--retain keeps them)"
        return f"{message}; node logs: {saved}; {kept}"
    except Exception:  # the engine itself may be what failed
        return message


def complete() -> bool:
    try:
        return run_cluster().complete()
    except UserError:  # no engine, no version: uptodate must not abort the run
        return False
