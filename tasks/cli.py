"""`local-cluster` and the doit glue shared with `doit` in the repository.

Both run the tasks of tasks.pipeline through doit, with our own task loader:
it builds the settings once (defaults < file < environment < the flags given
after the command), takes the run lock, and lets a task be called `clean`
(doit has a command of that name; ours runs the task instead).
"""

from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import sys

import requests
from docker.errors import DockerException
from doit.cmd_base import DodoTaskLoader, ModuleTaskLoader
from doit.cmd_clean import Clean
from doit.cmd_run import Run
from doit.doit_cmd import DoitMain

from tasks import cluster_commands, context, pipeline, steps
from tasks.build import steps as build_steps
from tasks.console import CONSOLE, log
from tasks.e2e import steps as e2e_steps
from tasks.engine import Engine, engine_host
from tasks.errors import SettingsError, UserError, disk_full, disk_full_message
from tasks.lock import EngineLock, RunLock
from tasks.paths import dep_file, lock_file, state_dir
from tasks.settings import INVOCATION_OPTIONS, invocation_from_env, load_settings, parse_flags

# Commands that only read doit's database need not wait for a running `up`.
READ_ONLY_COMMANDS = {"list", "info", "dumpdb", "help", "tabcompletion"}
# Tasks that drive clusters on the engine: one run at a time per engine.
ENGINE_TASKS = {"up", "reup", "down", "clean", "e2e", "e2e-serial", "load"}
RUN_LOCK: RunLock | None = None
ENGINE_LOCK: RunLock | None = None


class _LocalClusterLoader:
    """Mixed into doit's loaders: settings, console, lock, then the tasks."""

    @property
    def cmd_names(self):
        return self._cmd_names

    @cmd_names.setter
    def cmd_names(self, names):
        # doit refuses a task named like a command; our `clean` command runs
        # the `clean` task, so that name is not a clash.
        self._cmd_names = [n for n in names if n != "clean"]

    def load_doit_config(self):
        config = dict(super().load_doit_config())
        config.update(pipeline.doit_config())
        # doit opens its database before any task loads: the directory must exist.
        state_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        return config

    def load_tasks(self, cmd, pos_args):
        try:
            names = self._prepare(cmd, list(pos_args))
        except UserError as err:
            sys.stderr.write(f"error: {err}\n")
            raise SystemExit(err.exit_code) from None
        if getattr(cmd, "execute_tasks", False) and not names:
            print_usage()
            raise SystemExit(0)
        # doit reads the first character of each argument to find task names:
        # an empty flag value (`--addons ''`) is no task name, and would crash it.
        tasks = super().load_tasks(cmd, [arg for arg in pos_args if arg])
        return sorted(tasks, key=_pipeline_order())

    def _prepare(self, cmd, pos_args: list[str]) -> list[str]:
        runs_tasks = getattr(cmd, "execute_tasks", False)
        flags, invocation, rest = parse_flags(pos_args) if runs_tasks else ({}, {}, pos_args)
        settings = load_settings(flags)
        invocation = {**invocation_from_env(os.environ), **invocation}
        for option, (owner, _) in INVOCATION_OPTIONS.items():
            if option in invocation and owner not in rest[:1]:
                raise SettingsError(f"--{option} goes with `{owner}` only")
        CONSOLE.configure(settings.verbose, output=settings.output)
        context.set_run(
            context.Run(
                settings,
                no_wait=invocation.get("no-wait", False),
                retain=invocation.get("retain", False),
                everything=invocation.get("all", False),
                internal=invocation.get("internal", False),
                archive=invocation.get("archive", ""),
                nodes=invocation.get("nodes", ""),
                tasks=tuple(rest),
            )
        )
        if cmd.get_name() not in READ_ONLY_COMMANDS:
            install_signal_handlers()
            global RUN_LOCK
            RUN_LOCK = RUN_LOCK or RunLock(lock_file())
            RUN_LOCK.acquire(" ".join(rest) or cmd.get_name(), wait=not context.current().no_wait)
            if ENGINE_TASKS & set(rest):
                _lock_engine(" ".join(rest))
        return rest


def _pipeline_order():
    """A sort key: the order the task creators are defined in, module by module
    (doit orders by line number alone, which mixes the modules tasks.pipeline gathers)."""
    order = {}
    for rank, module in enumerate((pipeline, build_steps, e2e_steps, steps, cluster_commands)):
        for name, creator in vars(module).items():
            if name.startswith("task_") and getattr(creator, "__module__", "") == module.__name__:
                line = inspect.getsourcelines(creator)[1]
                order[name.removeprefix("task_").replace("_", "-")] = (rank, line)

    def key(task) -> tuple[int, int]:
        base = task.name.split(":")[0]
        # A creator may yield tasks of other basenames (node-image-load): after it.
        owner = max((name for name in order if base == name or base.startswith(f"{name}-")), key=len, default=None)
        return order[owner] if owner else (len(order), 0)

    return key


class ModuleLoader(_LocalClusterLoader, ModuleTaskLoader):
    """For `local-cluster`: the tasks come from the installed package."""

    def __init__(self):
        super().__init__(pipeline)


class DodoLoader(_LocalClusterLoader, DodoTaskLoader):
    """For `doit` in the repository (named in pyproject.toml): reads dodo.py."""


class _OneLineWhenTheDiskIsFull:
    """doit writes its database after the tasks: a full disk there would be a
    traceback (sqlite's "database or disk is full"), not one line."""

    def parse_execute(self, in_args):
        try:
            return super().parse_execute(in_args)
        except (OSError, sqlite3.OperationalError) as err:  # sqlite's error is no OSError
            if not disk_full(err):
                raise
            database = "" if isinstance(err, OSError) else f" ({dep_file()})"
            sys.stderr.write(disk_full_message(err) + database + "\n")
            return 3


class RunCommand(_OneLineWhenTheDiskIsFull, Run):
    name = "run"


class CleanCommand(_OneLineWhenTheDiskIsFull, Run):
    """`clean` runs the task `clean` (doit's own clean would only forget files)."""

    name = "clean"
    doc_purpose = pipeline.COMMANDS["clean"]
    doc_usage = "[FLAGS]"

    def parse_execute(self, in_args):
        return super().parse_execute(["clean", *in_args])


class LocalClusterMain(DoitMain):
    BIN_NAME = "local-cluster"
    DOIT_CMDS = (*(c for c in DoitMain.DOIT_CMDS if c not in (Clean, Run)), RunCommand, CleanCommand)

    def process_args(self, cmd_args):
        # doit takes every NAME=VALUE argument as a variable of its own and drops
        # it: `--feature-gates Foo=true` would lose its value. We use no doit
        # variables. (`doit` in the repository still does: write --flag=NAME=VALUE.)
        return list(cmd_args)


def _lock_engine(what: str) -> None:
    """The engine's lock, keyed by the engine's own ID (the same engine reached
    as unix:// or tcp:// is one engine). No engine: the command says so itself."""
    global ENGINE_LOCK
    if ENGINE_LOCK is not None:
        return
    try:
        engine_id = Engine.connect(timeout=10).client.info().get("ID") or engine_host()
    except (UserError, DockerException, requests.RequestException):
        return
    ENGINE_LOCK = EngineLock(engine_id)
    ENGINE_LOCK.acquire(what, wait=not context.current().no_wait)


def print_usage() -> None:
    width = max(len(n) for n in pipeline.COMMANDS)
    lines = [
        "usage: local-cluster COMMAND [FLAGS]      (or `doit COMMAND [FLAGS]` in the repository)",
        "",
        "Local multi-node Kubernetes clusters made with kubeadm, one Docker container per node.",
        "",
        "commands:",
        *(f"  {name.ljust(width)}  {doc}" for name, doc in pipeline.COMMANDS.items()),
        "",
        "Flags go after the command; every setting has one (`local-cluster help up` lists them),",
        "e.g. `local-cluster up --num-nodes 3 --kubernetes-version v1.34.4`.",
        "Settings: ~/.kubeadm-local-cluster/config.yaml (or $LOCAL_CLUSTER_CONF) < K8S_DIND_<FLAG>",
        "environment variables < flags; `local-cluster config` shows where each value came from.",
        "Also: `local-cluster list` (all steps), `local-cluster --no-wait COMMAND`.",
    ]
    print("\n".join(lines))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    # SIGTERM gets what Ctrl-C gets: doit saves the steps that completed and
    # nothing is left half-made that the next run cannot repair.
    signal.signal(signal.SIGTERM, _interrupt)
    sys.excepthook = _excepthook


def _excepthook(kind, value, traceback):
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return
    sys.__excepthook__(kind, value, traceback)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv in (["-h"], ["--help"], ["help"]):
        print_usage()
        return 0
    try:
        # config_filenames=(): a pyproject.toml in the user's directory is theirs, not ours.
        return LocalClusterMain(ModuleLoader(), config_filenames=()).run(argv)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        global RUN_LOCK, ENGINE_LOCK
        for lock in (ENGINE_LOCK, RUN_LOCK):
            if lock is not None:
                lock.release()
        RUN_LOCK = ENGINE_LOCK = None
        log.handlers[:] = []


def entry_point() -> None:
    sys.exit(main())
