"""The settings: one immutable object, layered defaults < file < environment < flags.

Every setting is declared once in schema.SCHEMA (its key, flag, parser and
help) and given its default once, in config/defaults.yaml. The Settings
object remembers where each value came from, so `local-cluster config` can
say so and tasks can depend on exactly the slice of settings they use.
"""

from tasks.settings.loading import (
    Raw,
    config_path,
    invocation_from_env,
    load_settings,
    parse_flags,
    read_env_layer,
    read_yaml_layer,
)
from tasks.settings.model import Settings
from tasks.settings.parsers import DIGEST_LENGTHS, POD_SUBNET, SERVICE_SUBNET
from tasks.settings.render import reference_markdown, render_effective, yaml_scalar
from tasks.settings.schema import (
    BY_ENV,
    BY_FLAG,
    BY_KEY,
    INVOCATION_FLAGS,
    INVOCATION_OPTIONS,
    SCHEMA,
    SECTIONS,
    Setting,
)

__all__ = [
    "BY_ENV",
    "BY_FLAG",
    "BY_KEY",
    "DIGEST_LENGTHS",
    "INVOCATION_FLAGS",
    "INVOCATION_OPTIONS",
    "POD_SUBNET",
    "SCHEMA",
    "SECTIONS",
    "SERVICE_SUBNET",
    "Raw",
    "Setting",
    "Settings",
    "config_path",
    "invocation_from_env",
    "load_settings",
    "parse_flags",
    "read_env_layer",
    "read_yaml_layer",
    "reference_markdown",
    "render_effective",
    "yaml_scalar",
]
