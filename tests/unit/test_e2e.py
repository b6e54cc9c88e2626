"""How a conformance run is asked for and how its JUnit is read: no engine."""

import json
import re

from tasks.e2e import run as e2e
from tasks.settings import load_settings


def test_a_substring_is_taken_literally_not_as_a_regexp():
    text = "DNS should provide DNS for the cluster [Conformance] (a+b)*"
    pattern = e2e.regexp_literal(text)
    assert re.fullmatch(pattern, text)  # Python's syntax agrees with Go's for these escapes
    assert not re.fullmatch(pattern, "DNS should provide DNS for the cluster C (aab)")
    assert " " in pattern and "\\ " not in pattern  # Go's regexp refuses an escaped space


def test_e2e_runs_parallel_conformance_tests_without_serial_ones():
    argv = e2e.ginkgo_argv(e2e.Selection(serial=False), procs=4)
    assert "--procs=4" in argv and "--label-filter=Conformance && !Serial" in argv
    assert not any(arg.startswith("--focus") for arg in argv)
    test_args = argv[argv.index("--") + 1 :]
    assert "--provider=skeleton" in test_args and "--kubeconfig=/e2e/kubeconfig" in test_args


def test_e2e_serial_runs_one_process_and_a_substring_narrows_the_focus():
    argv = e2e.ginkgo_argv(e2e.Selection(serial=True, substring="should (serially)"), procs=8)
    assert "--procs=1" in argv and "--label-filter=Conformance && Serial" in argv
    assert "--focus=should \\(serially\\)" in argv


JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="3" errors="0" failures="1" time="12">
  <testsuite name="Kubernetes e2e suite" tests="6" skipped="3" failures="1">
    <testcase name="[ReportBeforeSuite]" status="passed"></testcase>
    <testcase name="[SynchronizedBeforeSuite]" status="passed"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Conformance]" status="passed"></testcase>
    <testcase name="[It] [sig-apps] Deployment should work [Conformance]" status="failed">
      <failure message="timed out" type="failed">timed out</failure>
    </testcase>
    <testcase name="[sig-node] Not selected" status="skipped"><skipped message="skipped"></skipped></testcase>
    <testcase name="[sig-node] Selected, then skipped" status="skipped">
      <skipped message="skipped - Only supported for providers [gce]"></skipped>
    </testcase>
    <testcase name="[sig-node] Another left out" status="skipped"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>
"""


def test_summary_counts_what_ran_and_names_failures(tmp_path):
    path = tmp_path / "junit_01.xml"
    path.write_text(JUNIT)
    summary = e2e.summarize([path])
    assert summary.line() == "1 passed, 1 failed, 1 skipped"
    assert summary.failed == ["[sig-apps] Deployment should work [Conformance]"]
    assert summary.ran == 2


def test_reports_go_to_a_new_directory_per_run_unless_configured(isolated_home, tmp_path):
    made = e2e.report_dir("", e2e.Selection(serial=True))
    assert made.parent == isolated_home / ".kubeadm-local-cluster" / "e2e"
    assert made.name.endswith("-e2e-serial")
    assert e2e.report_dir(str(tmp_path / "r"), e2e.Selection(serial=False)) == tmp_path / "r"


def test_progress_counts_ginkgo_dots_and_shows_everything_else(capsys, tmp_path):
    log = tmp_path / "e2e.log"
    with open(log, "w") as out:
        progress = e2e.Progress(out)
        progress("Will run 30 of 7144 specs\nRunning in parallel across 4 processes\n")
        for _ in range(26):
            progress("•")
        progress("\n------------------------------\n• [FAILED] [5.6 seconds]\n[sig-node] Secrets ...")
        progress.flush()
    shown = capsys.readouterr().out.splitlines()
    assert "Will run 30 of 7144 specs" in shown
    assert "25 of 30 specs done" in shown  # a line now and then where there is no terminal
    assert "• [FAILED] [5.6 seconds]" in shown and "[sig-node] Secrets ..." in shown
    assert not any(set(line) == {"•"} for line in shown)  # the dots themselves are not echoed
    assert log.read_text().count("•") == 27  # the log keeps ginkgo's output as it was


class FakeNode:
    def __init__(self, name, state):
        self.name, self.labels = name, {"io.kubeadm-local-cluster.state": json.dumps(state)}


class FakeCluster:
    """A cluster as check_cluster sees it: its nodes on the engine (a fake) and what these settings want."""

    def __init__(self, nodes, matching):
        self.settings = load_settings(environ={})
        self.artifacts = None
        self.master = "kube-master"
        self.objects = type("Objects", (), {"nodes": lambda _self: nodes})()
        self._matching = matching

    def matching_nodes(self):
        return self._matching


def test_e2e_on_a_cluster_made_with_other_flags_says_which(monkeypatch):
    from tasks import pipeline

    wanted = {"kubernetes version": "v1.37.2", "cluster.numNodes": 2}
    monkeypatch.setattr(pipeline, "node_state", lambda settings, artifacts: wanted)
    assert (
        pipeline.why_not_testable(FakeCluster([], None))
        == "cluster kubeadm-local-cluster is not up: run `local-cluster up` first"
    )
    made = [FakeNode("kube-master", {**wanted, "cluster.numNodes": 1}), FakeNode("kube-node-1", {})]
    assert pipeline.why_not_testable(FakeCluster(made, None)) == (
        "cluster kubeadm-local-cluster was made with other settings than these (cluster.numNodes 1 -> 2): "
        "give this command the flags `up` had"
    )
    assert "is not running, or was left half-made" in pipeline.why_not_testable(FakeCluster(made, {"x": 1}))
