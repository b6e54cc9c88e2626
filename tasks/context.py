"""The settings of this run, made once by the task loader and read by every task.

No task parses flags or the environment on its own: they all read this."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.settings import Settings, load_settings


@dataclass(frozen=True)
class Run:
    settings: Settings
    no_wait: bool = False


_current: Run | None = None


def set_run(run: Run) -> None:
    global _current
    _current = run


def current() -> Run:
    global _current
    if _current is None:
        # Loaded without our loader (say `doit -f dodo.py` from elsewhere):
        # file and environment still apply, flags do not.
        _current = Run(load_settings())
    return _current


def settings() -> Settings:
    return current().settings
