"""Unit tests ask no engine: the nodes' architecture is this machine's
(a test of another one says so with platforms.remember)."""

import platform

import pytest

from tasks import context
from tasks.build import platforms


@pytest.fixture(autouse=True)
def nodes_of_this_machine(monkeypatch):
    monkeypatch.setattr(platforms, "engine_machine", platform.machine)
    yield
    if context._current is not None:  # the run outlives the test: forget what it was told
        context._current.cache.pop(platforms.CACHE_KEY, None)
