"""doit entry point in the repository: `doit list`, `doit up --num-nodes 3`, ...

Thin on purpose: the tasks live in tasks/pipeline.py and the modules it gathers;
pyproject.toml names our task loader, which builds the settings and takes the
run lock."""

from tasks.pipeline import *  # noqa: F403  (doit finds DOIT_CONFIG and the task creators by name)
