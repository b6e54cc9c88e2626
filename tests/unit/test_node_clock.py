"""Readiness after a (re)start counts what the nodes reported since, by the
nodes' own clock (#13): the engine's start time of a node, or the node's
`date` before reup restarts its kubelet; never the clock we run on."""

import datetime

import pytest

from tasks.engine import EngineError
from tasks.errors import UserError
from tasks.node.readiness import _fresh
from tasks.objects import rfc3339_seconds
from tasks.reup import NODE_CLOCK, node_clock


def test_the_engine_s_nanosecond_times_are_read():
    moment = rfc3339_seconds("2026-12-01T22:45:28.123456789Z")
    expected = datetime.datetime(2026, 12, 1, 22, 45, 28, tzinfo=datetime.UTC).timestamp() + 0.123456789
    assert moment == pytest.approx(expected)
    assert rfc3339_seconds("2026-12-01T23:45:28+01:00") == rfc3339_seconds("2026-12-01T22:45:28Z")


def test_a_time_the_engine_should_never_give_is_one_line():
    with pytest.raises(EngineError, match="cannot read: 'yesterday'"):
        rfc3339_seconds("yesterday")


def test_a_heartbeat_in_the_second_the_node_started_counts():
    started = rfc3339_seconds("2026-12-01T22:45:28.900000000Z")
    assert _fresh("2026-12-01T22:45:28Z", started)
    assert not _fresh("2026-12-01T22:45:27Z", started)


def test_reup_reads_the_node_s_clock_from_its_script():
    assert node_clock(f"moved\n{NODE_CLOCK} 1764629128\nimported\n") == 1764629128.0
    with pytest.raises(UserError, match="the node did not say its time"):
        node_clock("nothing\n")
