"""`python -m tasks` is `local-cluster`."""

from tasks.cli import entry_point

entry_point()
