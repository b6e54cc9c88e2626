"""The settings shown: `local-cluster config` and the README's reference."""

from __future__ import annotations

import yaml

from tasks.settings.loading import read_yaml_layer
from tasks.settings.model import Settings, _jsonable
from tasks.settings.parsers import SUPPORTED
from tasks.settings.schema import BY_KEY, DEFAULTS_FILE, SCHEMA

# ---------------------------------------------------------------- output


def yaml_scalar(value) -> str:
    value = _jsonable(value)
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("...").strip()


def render_effective(settings: Settings) -> str:
    """The effective settings as YAML, each value annotated with its origin."""
    lines = [
        "# Effective settings of kubeadm-local-cluster (# where each value came from)",
        f"# Kubernetes versions supported: {SUPPORTED}",
    ]
    current = None
    for setting in SCHEMA:
        if setting.section != current:
            current = setting.section
            if current:
                lines.append(f"{current}:")
        indent = "  " if setting.section else ""
        leaf = setting.key.rpartition(".")[2]
        lines.append(f"{indent}{leaf}: {yaml_scalar(settings.value(setting.key))}  # {settings.origins[setting.key]}")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """The configuration reference for the README, from SCHEMA and the defaults."""
    defaults = {
        key: BY_KEY[key].parse(raw.value) if key != "source.k8sDir" else raw.value
        for key, raw in read_yaml_layer(DEFAULTS_FILE, "default", allow_missing=False).items()
    }
    rows = [
        "| Setting | Default | Flag | Environment | Meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SCHEMA:
        flag = f"`--{s.flag}`" + (f" / `--{s.inverse}`" if s.inverse else "")
        rows.append(f"| `{s.key}` | `{yaml_scalar(defaults[s.key])}` | {flag} | `{s.env}` | {s.help} |")
    return "\n".join(rows) + "\n"
