"""The tasks, one per step: `doit list` reads like the pipeline.

Commands (up, down, clean, ...) are tasks too, so `doit up` and
`local-cluster up` run the same thing."""

from __future__ import annotations

import functools

from doit.exceptions import TaskFailed

from tasks import context, doctor
from tasks.console import CONSOLE, StatusReporter, marks
from tasks.errors import UserError
from tasks.paths import dep_file
from tasks.settings import INVOCATION_FLAGS, SCHEMA, render_effective

COMMANDS = {
    "up": "bring the cluster up (from its snapshot when the settings match)",
    "down": "remove the node containers, keep the snapshot",
    "clean": "remove the cluster, its snapshot, volumes and network",
    "reup": "rebuild Kubernetes from source and put it into the (restored) cluster",
    "e2e": "run the parallel conformance tests, or those whose name contains SUBSTRING",
    "e2e-serial": "run the serial conformance tests, or those whose name contains SUBSTRING",
    "config": "print the effective settings and where each came from",
    "doctor": "check that this machine and its Docker engine can run a cluster",
}
# Where the commands not built yet are tracked; none of them pretends to succeed.
NOT_BUILT = {"up": 4, "down": 4, "clean": 4, "reup": 5, "e2e": 6, "e2e-serial": 6}


def doit_config() -> dict:
    """doit's configuration, made when the tasks load (HOME may differ per run)."""
    return {
        "dep_file": str(dep_file()),
        "backend": "sqlite3",  # survives overlapping readers; json and dbm lose records
        "verbosity": 2,  # our own console decides what is shown
        "reporter": StatusReporter,
        "par_type": "thread",
        "minversion": "0.36.0",
    }


DOIT_CONFIG = doit_config()


def step(function):
    """A task action: a UserError becomes a clean one-line task failure."""

    @functools.wraps(function)
    def action(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except UserError as err:
            return TaskFailed(str(err))
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


def not_built(name: str):
    @step
    def action():
        raise UserError(f"`{name}` is not built yet (issue #{NOT_BUILT[name]}); nothing was done")

    return action


# ---------------------------------------------------------------- commands


def task_up():
    return command("up", [not_built("up")])


def task_down():
    return command("down", [not_built("down")])


def task_clean():
    return command("clean", [not_built("clean")])


def task_reup():
    return command("reup", [not_built("reup")])


def task_e2e():
    return command("e2e", [not_built("e2e")], pos_arg="substring")


def task_e2e_serial():
    return command("e2e-serial", [not_built("e2e-serial")], pos_arg="substring")


@step
def print_config():
    print(render_effective(context.settings()), end="")


def task_config():
    return command("config", [print_config], meta={"status": False})


@step
def run_doctor():
    checks = doctor.run_checks()
    good, bad, _ = marks(CONSOLE.stream)
    symbols = {doctor.OK: good, doctor.WARN: "!", doctor.FAIL: bad, doctor.SKIP: "-"}
    for line in doctor.render(checks, symbols):
        CONSOLE.emit(line)
    failed = [c.name for c in checks if c.status == doctor.FAIL]
    if failed:
        raise UserError(f"this machine cannot run a cluster yet: fix {', '.join(failed)}")


def task_doctor():
    return command("doctor", [run_doctor], meta={"status": False})
