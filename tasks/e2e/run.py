"""Conformance tests against the running cluster.

e2e.test and ginkgo run in a short-lived container on the cluster's network
(made from the node image, which has kubectl), with the master's admin.conf,
so the run is the same against a remote engine. The test images are loaded
into the nodes that run pods first. JUnit XML and the whole log go to a report
directory; the summary counts what JUnit says."""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tasks import parallel
from tasks.build import oci
from tasks.console import COMMAND, CONSOLE, log
from tasks.e2e import artifacts as e2e_artifacts
from tasks.e2e import mirror, pulls
from tasks.errors import UserError
from tasks.node import archives as node_archives
from tasks.node import image as node_image
from tasks.paths import state_dir

WORKDIR = "/e2e"
# Go's regexp: a backslash before any of these makes it literal.
_REGEXP_SPECIAL = set("\\.+*?()|[]{}^$")


def regexp_literal(text: str) -> str:
    """text as a Go regular expression matching exactly it (ginkgo's --focus)."""
    return "".join(f"\\{char}" if char in _REGEXP_SPECIAL else char for char in text)


@dataclass(frozen=True)
class Selection:
    serial: bool
    substring: str = ""

    @property
    def command(self) -> str:
        return "e2e-serial" if self.serial else "e2e"

    def describe(self) -> str:
        kind = "serial" if self.serial else "parallel"
        return f"{kind} conformance tests" + (f" whose name contains {self.substring!r}" if self.substring else "")


def ginkgo_argv(selection: Selection, procs: int) -> list[str]:
    """ginkgo running the compiled e2e.test: Conformance by label, Serial
    ones only in e2e-serial, the substring (literal) as focus."""
    labels = "Conformance && Serial" if selection.serial else "Conformance && !Serial"
    argv = [
        f"{WORKDIR}/ginkgo",
        f"--procs={1 if selection.serial else procs}",
        f"--label-filter={labels}",
        "--timeout=24h",  # ginkgo's default hour is shorter than a full run here
        "--no-color",
        "--silence-skips",
    ]
    if selection.substring:
        argv.append(f"--focus={regexp_literal(selection.substring)}")
    argv += [
        f"{WORKDIR}/e2e.test",
        "--",
        f"--kubeconfig={WORKDIR}/kubeconfig",
        "--provider=skeleton",
        f"--report-dir={WORKDIR}/report",
        # As conformance runs do: a tainted control-plane node does not hold the suite up.
        "--non-blocking-taints=node-role.kubernetes.io/control-plane",
    ]
    return argv


# ---------------------------------------------------------------- the report


@dataclass
class Summary:
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: int = 0
    report_dir: Path | None = None
    exit_code: int = 0

    @property
    def ran(self) -> int:
        return self.passed + len(self.failed)

    def line(self) -> str:
        return f"{self.passed} passed, {len(self.failed)} failed, {self.skipped} skipped"


SUITE_NODES = tuple(
    f"[{kind}]"
    for kind in (
        "BeforeSuite",
        "AfterSuite",
        "SynchronizedBeforeSuite",
        "SynchronizedAfterSuite",
        "ReportBeforeSuite",
        "ReportAfterSuite",
    )
)


def summarize(junit_files: list[Path]) -> Summary:
    """Counts from ginkgo's JUnit XML. Specs the filters left out are not
    counted as skipped: only those that were selected and then skipped
    themselves (Skipf: "not supported by this provider", ...)."""
    summary = Summary()
    for path in junit_files:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = case.get("name", "")
            if name.startswith(SUITE_NODES):  # the suite's set-up and reports: only their failures count
                if case.find("failure") is not None or case.find("error") is not None:
                    summary.failed.append(name)
                continue
            name = name.removeprefix("[It] ")
            skipped = case.find("skipped")
            if case.find("failure") is not None or case.find("error") is not None:
                summary.failed.append(name)
            elif skipped is not None:
                # Ginkgo says just "skipped" for specs the filters left out and
                # "skipped - <why>" for a selected spec that skipped itself.
                if (skipped.get("message") or "").startswith("skipped - "):
                    summary.skipped += 1
            else:
                summary.passed += 1
    return summary


def report_dir(configured: str, selection: Selection) -> Path:
    if configured:
        return Path(configured)
    return state_dir() / "e2e" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{selection.command}"


# ---------------------------------------------------------------- the run


def schedulable(cluster) -> list:
    """The nodes pods run on: the workers, and the master when it is untainted."""
    untainted = cluster.settings.cluster.num_nodes == 0 or cluster.settings.cluster.no_dedicated
    return [spec for spec in cluster.nodes if spec.role == "worker" or untainted]


def load_test_images(cluster, archives: list[Path], combined: Path) -> None:
    """The test images into each node pods run on, unless it has them all, as built."""
    wanted = {tag: oci.read_image_id(archive) for archive in archives for tag in oci.read_tags(archive)}
    needing = []

    def look(spec) -> None:
        present = cluster.image_ids(spec.name)
        stale = [tag for tag, image_id in wanted.items() if present.get(tag) != image_id]
        if stale:
            log.info("loading %d test images into %s", len(stale), spec.name)
            needing.append(spec.name)

    parallel.each(look, schedulable(cluster))
    node_archives.import_into(cluster, sorted(needing), combined, "importing the test images")


class Progress:
    """Ginkgo's output to the log as it is, and to the terminal by lines, with
    its dots (one per spec done) counted instead: "120 of 395 specs done" on the
    step's line, and every 25 specs as a line where the output is not a terminal."""

    EVERY = 25

    def __init__(self, log_file):
        self.log_file = log_file
        self.pending = ""
        self.total: int | None = None
        self.done = 0
        self.said = 0

    def __call__(self, text: str) -> None:
        self.log_file.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._line(line)
        self.done += text.count("•")
        counted = f"{self.done} of {self.total} specs done" if self.total else f"{self.done} specs done"
        CONSOLE.progress(counted)
        if not CONSOLE.interactive and self.done >= self.said + self.EVERY:
            CONSOLE.emit(counted)
            self.said = self.done

    def _line(self, line: str) -> None:
        planned = re.search(r"Will run (\d+) of \d+ specs", line)
        if planned:
            self.total = int(planned.group(1))
        if line.strip() and set(line.strip()) <= {"•"}:
            return  # progress dots: counted, not shown
        CONSOLE.emit(line.replace("•", "").strip() if line.startswith("••") else line)

    def flush(self) -> None:
        if self.pending:
            self._line(self.pending)
            self.pending = ""


def run(cluster, selection: Selection) -> Summary:
    """Run the selected tests; the summary (the caller decides the exit code)."""
    artifacts = cluster.artifacts
    images = e2e_artifacts.e2e_images(artifacts, conformance_only=True)
    report = e2e_artifacts.missing_report(images.missing, e2e_artifacts.conformance_listed(artifacts))
    needed = [line for line in report if "needed by Conformance tests" in line]
    for line in needed:
        log.warning("test image missing: %s", line)
    if len(report) > len(needed):
        log.info(
            "%d images e2e.test lists are not made here; no conformance test uses them (--v 2 lists them)",
            len(report) - len(needed),
        )
        for line in report[len(needed) :]:
            log.log(COMMAND, "  %s", line)
    load_test_images(cluster, images.archives, combined_archive(artifacts))
    with mirror.serving(cluster, combined_archive(artifacts)):
        return _run_tests(cluster, selection)


def _run_tests(cluster, selection: Selection) -> Summary:
    """ginkgo in a container on the cluster's network; its report and summary."""
    settings, artifacts = cluster.settings, cluster.artifacts
    reports = report_dir(settings.e2e.report_dir, selection)
    reports.mkdir(parents=True, exist_ok=True)
    objects = cluster.objects
    argv = ginkgo_argv(selection, settings.e2e.parallel)
    runner = cluster.names.e2e_runner
    objects.create_job(runner, node_image.tag(settings, artifacts), argv, cluster.names.network)
    try:
        kubeconfig = objects.get_file(cluster.master, "/etc/kubernetes/admin.conf")
        objects.put_files(runner, "/", {"e2e/kubeconfig": kubeconfig, "e2e/report/.keep": b""}, mode=0o600)
        objects.put_paths(
            runner, WORKDIR, {name: artifacts.binary(name) for name in ("e2e.test", "ginkgo")}, mode=0o755
        )
        log.info("running the %s (log: %s)", selection.describe(), reports / "e2e.log")
        with open(reports / "e2e.log", "w") as out, pulls.watching(cluster):
            progress = Progress(out)
            code = objects.run_attached(runner, progress)
            progress.flush()
        objects.get_tree(runner, f"{WORKDIR}/report", reports)
    finally:
        objects.remove_container(runner)
    (reports / ".keep").unlink(missing_ok=True)
    junit = sorted(reports.glob("junit*.xml"))
    if not junit:
        raise UserError(f"the tests wrote no JUnit report (ginkgo exit {code}); see {reports / 'e2e.log'}")
    summary = summarize(junit)
    summary.report_dir, summary.exit_code = reports, code
    return summary


def combined_archive(artifacts) -> Path:
    return artifacts.root / "e2e-images.tar"
