"""The README tells the truth about the settings and the set-up commands."""

import importlib.util

from tasks.paths import CONFIG_DIR, REPO_DIR
from tasks.settings import SCHEMA, read_yaml_layer, reference_markdown


def _update_module():
    spec = importlib.util.spec_from_file_location("update", REPO_DIR / "scripts" / "update-readme-reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_matches_the_defaults():
    readme = (REPO_DIR / "README.md").read_text()
    assert _update_module().updated(readme) == readme, (
        "README's configuration reference drifted: run scripts/update-readme-reference.py"
    )
    assert reference_markdown() in readme


def test_defaults_file_holds_every_setting_and_nothing_else():
    defaults = read_yaml_layer(CONFIG_DIR / "defaults.yaml", "default", allow_missing=False)
    assert set(defaults) == {s.key for s in SCHEMA}


def test_ci_runs_the_readme_test_command():
    readme = (REPO_DIR / "README.md").read_text()
    assert "make test" in readme and "make up" in readme
    commands = [line.strip() for line in (REPO_DIR / ".ci" / "run").read_text().splitlines()]
    assert "make test || status=$?" in commands and 'exit "$status"' in commands
