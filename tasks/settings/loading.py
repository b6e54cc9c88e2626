"""Loading the layers: defaults < file < environment < flags."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from tasks.errors import SettingsError
from tasks.paths import state_dir
from tasks.settings.custom import node_index
from tasks.settings.model import SECTION_TYPES, Settings
from tasks.settings.parsers import POD_SUBNET, SERVICE_SUBNET, _did_you_mean, _show, boolean
from tasks.settings.schema import (
    BUILD_SETTINGS,
    BY_ENV,
    BY_FLAG,
    BY_INVERSE,
    BY_KEY,
    CONF_ENV,
    DEFAULTS_FILE,
    ENV_PREFIX,
    INVOCATION_FLAGS,
    INVOCATION_OPTIONS,
    SCHEMA,
    SECTIONS,
    flag_env,
)

# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class Raw:
    """A raw value from one layer, and where it came from."""

    value: object
    origin: str


def load_settings(
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Settings:
    """Build the settings from every layer; raise SettingsError on bad input.

    flags maps setting keys to raw values (see parse_flags)."""
    environ = os.environ if environ is None else environ
    layers: dict[str, Raw] = {}
    layers.update(read_yaml_layer(DEFAULTS_FILE, origin_prefix="default", allow_missing=False))
    config_file = config_path(environ, home)
    if config_file is not None:
        layers.update(read_yaml_layer(config_file, origin_prefix=f"file {config_file}"))
    layers.update(read_env_layer(environ))
    for key, value in (flags or {}).items():
        layers[key] = Raw(value, f"flag --{BY_KEY[key].flag}")
    missing = [s.key for s in SCHEMA if s.key not in layers]
    if missing:
        raise SettingsError(f"{DEFAULTS_FILE} lacks {', '.join(missing)}: the installation is broken")
    values = {}
    for key, raw in layers.items():
        try:
            values[key] = BY_KEY[key].parse(raw.value)
        except (ValueError, TypeError) as err:
            raise SettingsError(f"{raw.origin}: {key}: {err}") from None
    origins = {key: raw.origin for key, raw in layers.items()}
    _check_together(values, origins)
    return _build(values, origins)


def config_path(environ: Mapping[str, str], home: Path | None = None) -> Path | None:
    """The user's config file, or None when the default one does not exist."""
    named = environ.get(CONF_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"{CONF_ENV} names {named}, which is not a file")
        return path
    path = state_dir(home) / "config.yaml"
    return path if path.is_file() else None


def read_yaml_layer(path: Path, origin_prefix: str, allow_missing: bool = True) -> dict[str, Raw]:
    try:
        text_ = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if allow_missing:
            return {}
        raise SettingsError(f"{path} not found: the installation is broken") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"cannot read {path}: {err}") from None
    try:
        document = yaml.compose(text_, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SettingsError(f"{path}{where}: malformed YAML: {problem}") from None
    if document is None:
        return {}
    result: dict[str, Raw] = {}
    _walk(document, "", path, origin_prefix, result)
    return result


def _walk(node: yaml.Node, prefix: str, path: Path, origin_prefix: str, out: dict[str, Raw]) -> None:
    line = node.start_mark.line + 1
    what = prefix or "the file"
    if not isinstance(node, yaml.MappingNode):
        raise SettingsError(f"{path} line {line}: {what}: expected a mapping of settings")
    seen = set()
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise SettingsError(f"{path} line {key_line}: expected a setting name")
        key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
        if key in seen:
            raise SettingsError(f"{path} line {key_line}: {key} is given twice")
        seen.add(key)
        if key in BY_KEY:
            value = yaml.SafeLoader("").construct_document(value_node)
            out[key] = Raw(value, f"{origin_prefix} line {key_line}" if origin_prefix != "default" else "default")
        elif key in SECTIONS:
            _walk(value_node, key, path, origin_prefix, out)
        else:
            known = [*BY_KEY, *SECTIONS]
            raise SettingsError(f"{path} line {key_line}: unknown setting {key}{_did_you_mean(key, known)}")


def read_env_layer(environ: Mapping[str, str]) -> dict[str, Raw]:
    result = {}
    invocation = {flag_env(f) for f in INVOCATION_FLAGS}
    for var, value in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or var in invocation:
            continue
        setting = BY_ENV.get(var)
        if setting is None:
            raise SettingsError(f"unknown environment variable {var}{_did_you_mean(var, [*BY_ENV, *invocation])}")
        result[setting.key] = Raw(value, f"env {var}")
    return result


def parse_flags(args: Iterable[str]) -> tuple[dict[str, object], dict[str, bool | str], list[str]]:
    """Split doit task arguments into setting flags, invocation flags and the rest.

    Returns ({setting key: raw value}, {invocation flag: True, or the value of
    an invocation option}, positional args). `--flag value`, `--flag=value`,
    `--bool-flag` and its inverse are accepted."""
    flags: dict[str, object] = {}
    invocation: dict[str, bool | str] = {}
    rest: list[str] = []
    args = list(args)
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-") or token == "-":
            rest.append(token)
            continue
        flag, has_value, value = token.lstrip("-").partition("=")
        if (flag in BY_FLAG and not BY_FLAG[flag].is_bool) or flag in INVOCATION_OPTIONS:
            if not has_value:
                if i >= len(args):
                    raise SettingsError(f"flag --{flag} needs a value")
                value = args[i]
                i += 1
            if flag in INVOCATION_OPTIONS:
                invocation[flag] = value
            else:
                flags[BY_FLAG[flag].key] = value
        elif flag in BY_FLAG or flag in BY_INVERSE or flag in INVOCATION_FLAGS:
            if has_value:
                setting = BY_FLAG.get(flag)
                hint = f"; use --{setting.inverse} to turn it off" if setting else ""
                raise SettingsError(f"flag --{flag} takes no value{hint}")
            if flag in INVOCATION_FLAGS:
                invocation[flag] = True
            else:
                flags[(BY_FLAG.get(flag) or BY_INVERSE[flag]).key] = flag in BY_FLAG
        else:
            known = [*BY_FLAG, *BY_INVERSE, *INVOCATION_FLAGS, *INVOCATION_OPTIONS]
            suggestion = _did_you_mean(flag, known).replace("mean ", "mean --")
            raise SettingsError(f"unknown flag {token.partition('=')[0]}{suggestion}")
    return flags, invocation, rest


def invocation_from_env(environ: Mapping[str, str]) -> dict[str, bool]:
    result = {}
    for flag in INVOCATION_FLAGS:
        value = environ.get(flag_env(flag))
        if value is not None:
            try:
                result[flag] = boolean(value)
            except ValueError as err:
                raise SettingsError(f"env {flag_env(flag)}: {err}") from None
    return result


def _check_together(values: dict, origins: dict) -> None:
    """Checks that involve more than one setting."""

    def told(key: str) -> str:
        return f"{key} {_show(values[key]) if isinstance(values[key], str) else values[key]} ({origins[key]})"

    # auto picks a /16 (tasks.cluster.pick_subnet)
    network = ipaddress.ip_network("10.192.0.0/16" if values["dind.subnet"] == "auto" else values["dind.subnet"])
    for what, reserved in (("pod", POD_SUBNET), ("service", SERVICE_SUBNET)):
        if network.overlaps(ipaddress.ip_network(reserved)):
            raise SettingsError(
                f"{told('dind.subnet')} overlaps the cluster's {what} range {reserved}: choose another, "
                "or set it to auto to get a free one"
            )
    nodes = values["cluster.numNodes"] + 1
    # Addresses left after the network, broadcast and gateway addresses (and
    # the registry's, the last one: tasks/registry.py).
    room = max(network.num_addresses - 3 - (1 if values["cluster.registry"] else 0), 0)
    if nodes > room:
        raise SettingsError(
            f"{told('dind.subnet')} has room for {room} node addresses but "
            f"{told('cluster.numNodes')} needs {nodes}: use a larger subnet"
        )
    for key in ("cluster.extraPortMappings", "cluster.nodeLabels"):
        for entry in values[key]:
            node = entry.rpartition("@")[2] if "@" in entry else ""
            if node_index(node) > values["cluster.numNodes"]:
                raise SettingsError(
                    f"{key} {entry} ({origins[key]}) names {node}, but {told('cluster.numNodes')} makes no such node"
                )
    registry_port = values["cluster.registryPort"]
    if values["cluster.registry"] and registry_port:
        taken = {values["cluster.apiServerPort"]: told("cluster.apiServerPort")}
        for entry in values["cluster.extraPortMappings"]:
            address, host_port = entry.split(":")[:2]
            if address in ("127.0.0.1", "0.0.0.0") and "/tcp" in entry:
                taken.setdefault(
                    int(host_port), f"cluster.extraPortMappings {entry} ({origins['cluster.extraPortMappings']})"
                )
        if registry_port in taken:
            raise SettingsError(
                f"{told('cluster.registryPort')} is also the host port of {taken[registry_port]}: choose another"
            )
    for binary in ("kubeadm", "hyperkube", "kubectl"):
        url_key, sum_key = f"source.{binary}Url", f"source.{binary}Sha1"
        build_key = f"source.build{binary[0].upper()}{binary[1:]}"
        if values[url_key] and not values[sum_key]:
            raise SettingsError(f"{url_key} is set but {sum_key} is empty: give the download's sha1, sha256 or sha512")
        if values[sum_key] and not values[url_key]:
            raise SettingsError(f"{sum_key} is set but {url_key} is empty")
        if values[url_key] and values[build_key]:
            raise SettingsError(f"{build_key} and {url_key} both say where {binary} comes from: set only one")
    builds = [k for k in BUILD_SETTINGS if values[k]]
    if builds:
        tree = Path(values["source.k8sDir"])
        if not (tree / "cmd" / "kubeadm").is_dir():
            raise SettingsError(
                f"{builds[0]} is on but source.k8sDir {tree} ({origins['source.k8sDir']}) is not a "
                "Kubernetes source tree (no cmd/kubeadm): set source.k8sDir or --k8s-dir"
            )


def _build(values: dict, origins: dict) -> Settings:
    sections: dict[str, dict] = {section: {} for section in SECTION_TYPES}
    top = {}
    for setting in SCHEMA:
        target = sections[setting.section] if setting.section else top
        target[setting.attr] = values[setting.key]
    built = {section: SECTION_TYPES[section](**fields) for section, fields in sections.items()}
    return Settings(**built, **top, origins=MappingProxyType(dict(origins)))
