"""The tasks, one per step: `doit list` reads like the pipeline.

Commands (up, down, clean, ...) are tasks too, so `doit up` and
`local-cluster up` run the same thing. doit reads this module; the task
creators of the others are imported here, and `list` shows them module by
module in this order (tasks.cli sorts them so):
- here: the commands e2e, e2e-serial, config and doctor;
- tasks.build.steps: the artifacts (Kubernetes, etcd, CoreDNS, ..., helm);
- tasks.e2e.steps: what conformance runs need (e2e.test, ginkgo, test images);
- tasks.steps: the steps of `up`, and up and reup;
- tasks.cluster_commands: down, clean, clusters, kubeconfig, export-logs, load."""

from __future__ import annotations

import json

from tasks import context, doctor
from tasks.build.steps import *  # noqa: F403  (doit finds task creators by name in this module)
from tasks.cluster import node_state
from tasks.cluster_commands import *  # noqa: F403
from tasks.console import CONSOLE
from tasks.e2e import run as e2e
from tasks.e2e.steps import *  # noqa: F403
from tasks.engine import LABEL
from tasks.errors import UserError
from tasks.node import snapshot
from tasks.settings import parse_flags, render_effective
from tasks.steps import *  # noqa: F403
from tasks.taskkit import (  # noqa: F401  (COMMANDS, DOIT_CONFIG, doit_config: read by cli and doit)
    COMMANDS,
    DOIT_CONFIG,
    command,
    doit_config,
    run_cluster,
    step,
)

# ---------------------------------------------------------------- commands


def run_conformance(serial: bool):
    @step
    def action(substring):
        # doit hands over everything after the first word, flags too (`e2e DNS
        # --report-dir D`); the loader has read the flags already.
        _, _, words = parse_flags(substring or [])
        selection = e2e.Selection(serial=serial, substring=" ".join(words).strip())
        summary = e2e.run(run_cluster(), selection)
        if summary.ran == 0:
            raise UserError(
                f"no {selection.describe()}: nothing ran (see {summary.report_dir}); "
                "`e2e.test --list-conformance-tests` lists their names"
            )
        CONSOLE.emit(summary.line())
        for name in summary.failed:
            CONSOLE.emit(f"  failed: {name}")
        CONSOLE.emit(f"JUnit and the log: {summary.report_dir}")
        if summary.failed or summary.exit_code != 0:
            raise UserError(f"{len(summary.failed) or 'some'} conformance test(s) failed: see {summary.report_dir}")

    return action


@step
def check_cluster():
    cluster = run_cluster()
    if not cluster.complete():
        raise UserError(why_not_testable(cluster))


def why_not_testable(cluster) -> str:
    """Why the cluster of these settings cannot be tested, as the user would fix it:
    none of that name, one made with other settings (which), or one not running."""
    name = cluster.settings.cluster.name
    nodes = {node.name: node for node in cluster.objects.nodes()}
    if not nodes:
        return f"cluster {name} is not up: run `local-cluster up` first"
    master = nodes.get(cluster.master)
    made_with = json.loads(master.labels.get(f"{LABEL}.state", "{}")) if master is not None else {}
    wanted = json.loads(json.dumps(node_state(cluster.settings, cluster.artifacts)))
    if cluster.matching_nodes() is None:
        said = "; ".join(snapshot.changes(made_with, wanted)) if made_with else f"{len(nodes)} nodes of other settings"
        return f"cluster {name} was made with other settings than these ({said}): give this command the flags `up` had"
    return f"cluster {name} is not running, or was left half-made: run `local-cluster up`"


def task_e2e_cluster():
    """is there a cluster to test? (asked before anything is built for the tests)"""
    return {"basename": "e2e-cluster", "actions": [check_cluster], "meta": {"title": "the cluster to test"}}


def task_e2e():
    # The cluster is checked first: no half-hour build for nothing.
    return command(
        "e2e",
        [run_conformance(serial=False)],
        pos_arg="substring",
        task_dep=["e2e-cluster", "e2e-artifacts", "registry-image-load"],
    )


def task_e2e_serial():
    return command(
        "e2e-serial",
        [run_conformance(serial=True)],
        pos_arg="substring",
        task_dep=["e2e-cluster", "e2e-artifacts", "registry-image-load"],
    )


@step
def print_config():
    CONSOLE.emit(render_effective(context.settings()))


def task_config():
    return command("config", [print_config], meta={"status": False})


@step
def run_doctor():
    checks = doctor.run_checks()
    good, bad, _ = CONSOLE.marks()
    symbols = {doctor.OK: good, doctor.WARN: "!", doctor.FAIL: bad, doctor.SKIP: "-"}
    for line in doctor.render(checks, symbols):
        CONSOLE.emit(line)
    failed = [c.name for c in checks if c.status == doctor.FAIL]
    if failed:
        raise UserError(f"this machine cannot run a cluster yet: fix {', '.join(failed)}")


def task_doctor():
    return command("doctor", [run_doctor], meta={"status": False})
