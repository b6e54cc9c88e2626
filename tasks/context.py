"""The settings of this run, made once by the task loader and read by every task.

No task parses flags or the environment on its own: they all read this."""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.settings import Settings, load_settings
from tasks.versions import resolve


@dataclass
class Run:
    settings: Settings
    no_wait: bool = False
    retain: bool = False
    everything: bool = False  # `clean --all`
    internal: bool = False  # `kubeconfig --internal`
    archive: str = ""  # `load --archive FILE`
    nodes: str = ""  # `load --nodes NAME,...`: the nodes to load into, as given
    tasks: tuple[str, ...] = ()  # what was asked for: `reup` changes how nodes match
    _kubernetes_version: str | None = None
    # What steps of this run share (one engine connection, say), made on first use.
    cache: dict = field(default_factory=dict)

    @property
    def reup(self) -> bool:
        return "reup" in self.tasks

    def kubernetes_version(self) -> str:
        """The version to use: "stable" resolved once per run (and cached on disk)."""
        if self._kubernetes_version is None:
            self._kubernetes_version = resolve(self.settings.source.kubernetes_version)
        return self._kubernetes_version


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
