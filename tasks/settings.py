"""The settings: one immutable object, layered defaults < file < environment < flags.

Every setting is declared once in SCHEMA (its key, flag, parser and help) and
given its default once, in config/defaults.yaml. The Settings object remembers
where each value came from, so `local-cluster config` can say so and tasks can
depend on exactly the slice of settings they use.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlparse

import yaml

from tasks.errors import SettingsError
from tasks.paths import CONFIG_DIR, state_dir

DEFAULTS_FILE = CONFIG_DIR / "defaults.yaml"
CONF_ENV = "LOCAL_CLUSTER_CONF"
ENV_PREFIX = "K8S_DIND_"
# Options of one invocation, not of the cluster: accepted as flags and
# environment variables like the settings, never part of the settings hash.
INVOCATION_FLAGS = {
    "no-wait": "fail at once when another run holds the lock, instead of waiting",
    "retain": "keep the node containers of a failed `up` for inspection",
    "all": "with `clean`: every cluster on the engine, and the node images too",
}
# The pods' and Services' address ranges (kubeadm's networking): the nodes'
# subnet must stay clear of both.
POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/12"

KNOWN_ADDONS = ("dashboard",)
CNI_PLUGINS = ("bridge", "weave", "flannel", "calico")
DEBIAN_SUITES = ("auto", "trixie", "forky")
VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-(alpha|beta|rc)\.\d+)?$")


# ---------------------------------------------------------------- parsers
# A parser turns a raw value (a YAML value, or a string from the environment
# or a flag) into the setting's value, or raises ValueError with a message
# that completes "<setting>: ...".


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def whole_number(minimum: int = 0, maximum: int | None = None) -> Callable:
    def parse(value):
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {_show(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ValueError(f"must be at least {minimum}{upper}, got {value}")
        return value

    return parse


TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


def boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError(f"expected true or false, got {_show(value)}")


def text(value):
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string, got {_show(value)}")
    return str(value).strip()


def name(value):
    value = text(value)
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,40}", value):
        raise ValueError(f"expected lower-case letters, digits, dots and dashes, got {_show(value)}")
    return value


def repository(value):
    value = text(value)
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", value):
        raise ValueError(f"expected an image repository such as kubeadm-local-cluster/node, got {_show(value)}")
    return value


def choice(*options: str) -> Callable:
    def parse(value):
        value = text(value)
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {_show(value)}{_did_you_mean(value, options)}")
        return value

    return parse


def version(value):
    value = text(value)
    if value == "stable":
        return value
    match = VERSION_RE.fullmatch(value)
    if not match:
        raise ValueError(f"expected stable or vX.Y.Z (such as v1.34.4), got {_show(value)}")
    return value if value.startswith("v") else "v" + value


def ipv4_network(value):
    value = text(value)
    if value == "auto":
        return value
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"expected an IPv4 network such as 10.192.0.0/16, got {_show(value)}") from None
    if network.version != 4:
        raise ValueError(f"expected an IPv4 network such as 10.192.0.0/16, got {_show(value)}")
    if str(network) != value and "/" in value:
        raise ValueError(f"{value} has host bits set; did you mean {network}?")
    if "/" not in value:
        raise ValueError(f"expected a network with a prefix length such as 10.192.0.0/16, got {_show(value)}")
    return str(network)


def ip_address(value):
    value = text(value)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"expected an IP address such as 127.0.0.1, got {_show(value)}") from None


def url(value):
    value = text(value)
    if value and not _is_url(value):
        raise ValueError(f"expected a URL with a scheme (https://, http:// or file://), got {_show(value)}")
    return value


def _is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https", "file") and bool(parsed.netloc or parsed.scheme == "file")


DIGEST_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}


def checksum(value):
    value = text(value).lower()
    if value and (len(value) not in DIGEST_LENGTHS or not re.fullmatch(r"[0-9a-f]+", value)):
        raise ValueError(
            "expected a sha1 (40), sha256 (64) or sha512 (128) hex digest, "
            f"got {len(value)} characters{'' if re.fullmatch(r'[0-9a-f]*', value) else ' that are not all hex'}"
        )
    return value


def local_path(value: str) -> Path:
    try:
        return Path(value).expanduser().resolve()
    except (RuntimeError, ValueError, OSError) as err:  # `~nobody`, NUL bytes
        raise ValueError(f"{value!r} is not a usable path ({err})") from None


def directory(value):
    return str(local_path(text(value) or "."))


def optional_path(value):
    return str(local_path(text(value))) if text(value) else ""


def addons(value):
    # A YAML list, or one comma-separated string (environment, flags).
    listed = isinstance(value, (list, tuple))
    entries = [text(entry) for entry in value] if listed else text(value).split(",")
    result = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        if "://" in entry:
            if not _is_url(entry):
                raise ValueError(f"addon {entry!r} is not a URL with an http, https or file scheme")
            result.append(entry)
        elif "/" in entry or entry.endswith((".yaml", ".yml", ".json")):
            path = local_path(entry)
            if not path.is_file():
                raise ValueError(f"addon manifest {entry!r} not found (looked at {path})")
            result.append(str(path))
        elif entry in KNOWN_ADDONS:
            result.append(entry)
        else:
            raise ValueError(
                f"unknown addon {entry!r}{_did_you_mean(entry, KNOWN_ADDONS)} "
                f"(names: {', '.join(KNOWN_ADDONS)}; or a manifest URL or file)"
            )
    return tuple(result)


# ---------------------------------------------------------------- schema


@dataclass(frozen=True)
class Setting:
    key: str  # dotted key in the YAML files, e.g. cluster.numNodes
    flag: str  # command-line flag without the dashes, e.g. num-nodes
    parse: Callable
    help: str
    inverse: str = ""  # for booleans: the flag that turns it off

    @property
    def is_bool(self) -> bool:
        return self.parse is boolean

    @property
    def env(self) -> str:
        return flag_env(self.flag)

    @property
    def section(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def attr(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.key.rpartition(".")[2]).lower()


def flag_env(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _binary_url(binary: str, what: str) -> list[Setting]:
    return [
        Setting(f"source.{binary}Url", f"{binary}-url", url, f"Download {what} from this URL."),
        Setting(
            f"source.{binary}Sha1",
            f"{binary}-sha1",
            checksum,
            f"sha1, sha256 or sha512 of the {binary}Url download (told apart by length).",
        ),
    ]


BUILD_SETTINGS = ("source.buildKubeadm", "source.buildHyperkube", "source.buildKubelet", "source.buildKubectl")

SCHEMA: tuple[Setting, ...] = (
    Setting(
        "dind.subnet",
        "dind-subnet",
        ipv4_network,
        "IPv4 network of the node containers; auto: a free /16 from 10.192.0.0/16 up, kept while the network is.",
    ),
    Setting("verbose", "v", whole_number(0), "0 quiet, 1 steps, 2 commands and their output, 3+ debug."),
    Setting(
        "output",
        "output",
        choice("text", "json"),
        "text: a status line per step; json: one JSON object per line per step event, for CI and editors.",
    ),
    Setting("source.kubernetesVersion", "kubernetes-version", version, '"stable" (newest stable release) or vX.Y.Z.'),
    Setting("source.buildKubeadm", "build-kubeadm", boolean, "Build kubeadm in k8sDir.", "no-build-kubeadm"),
    Setting(
        "source.buildHyperkube",
        "build-hyperkube",
        boolean,
        "Build kubelet and the control-plane components in k8sDir.",
        "no-build-hyperkube",
    ),
    Setting(
        "source.buildKubelet",
        "build-kubelet",
        boolean,
        "Build kubelet alone in k8sDir (buildHyperkube builds it with the control plane).",
        "no-build-kubelet",
    ),
    Setting("source.buildKubectl", "build-kubectl", boolean, "Build kubectl in k8sDir.", "no-build-kubectl"),
    Setting("source.k8sDir", "k8s-dir", directory, "Kubernetes source tree for the build settings."),
    Setting(
        "source.releaseSite",
        "release-site",
        url,
        "Download the release's binaries and images from this site (such as https://dl.k8s.io/release) "
        "instead of building them from Go modules; etcd, CoreDNS and pause then come from the engine "
        "(pre-loaded or pulled).",
    ),
    *_binary_url("kubeadm", "kubeadm"),
    *_binary_url("hyperkube", "kubelet and the control-plane binaries (a hyperkube)"),
    *_binary_url("kubectl", "kubectl"),
    Setting(
        "cluster.name",
        "cluster-name",
        name,
        "Cluster name: labels every Docker object; other names than the default add -<name> to each container.",
    ),
    Setting("cluster.numNodes", "num-nodes", whole_number(0), "Worker nodes; 0 makes one untainted master."),
    Setting("cluster.cniPlugin", "cni-plugin", choice(*CNI_PLUGINS), "Pod network: " + ", ".join(CNI_PLUGINS) + "."),
    Setting("cluster.noDedicated", "no-dedicated", boolean, "Let ordinary pods run on kube-master too.", "dedicated"),
    Setting(
        "cluster.apiServerAddress", "api-server-address", ip_address, "Host address the API server is published on."
    ),
    Setting(
        "cluster.apiServerPort",
        "api-server-port",
        whole_number(0, 65535),
        "Host port of the API server; 0 picks a free one.",
    ),
    Setting("cluster.addons", "addons", addons, "Comma-separated add-on names (dashboard), manifest URLs or files."),
    Setting(
        "node.debianMirror",
        "debian-mirror",
        url,
        "Debian mirror for node images; empty: the host's own Debian mirror, else mmdebstrap's default.",
    ),
    Setting(
        "node.debianSuite",
        "debian-suite",
        choice(*DEBIAN_SUITES),
        "Debian suite of the node image; auto suits the Kubernetes version.",
    ),
    Setting(
        "node.imageRepository",
        "node-image-repository",
        repository,
        "Repository of the node images in the engine, tagged with the Kubernetes version.",
    ),
    Setting(
        "e2e.reportDir",
        "report-dir",
        optional_path,
        "Where e2e and e2e-serial write JUnit XML and their log; empty: a new directory under "
        "~/.kubeadm-local-cluster/e2e/ per run.",
    ),
    Setting("e2e.parallel", "e2e-parallel", whole_number(1, 64), "Ginkgo processes for `e2e` (e2e-serial uses one)."),
)
BY_KEY = {s.key: s for s in SCHEMA}
BY_FLAG = {s.flag: s for s in SCHEMA}
BY_INVERSE = {s.inverse: s for s in SCHEMA if s.inverse}
BY_ENV = {s.env: s for s in SCHEMA}
SECTIONS = tuple(dict.fromkeys(s.section for s in SCHEMA if s.section))


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    # A known setting under the wrong section (`numNodes` at the top level)
    # is found by its last part first; then the closest spelling.
    leaves = {c.lower().rpartition(".")[2]: c for c in candidates}
    leaf = word.lower().rpartition(".")[2]
    close = [leaves[leaf]] if leaf in leaves and leaves[leaf] != word else []
    close = close or difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    close = close or [leaves[m] for m in difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.6)]
    return f"; did you mean {close[0]}?" if close else ""


# ---------------------------------------------------------------- the object


@dataclass(frozen=True)
class Dind:
    subnet: str


@dataclass(frozen=True)
class Source:
    kubernetes_version: str
    build_kubeadm: bool
    build_hyperkube: bool
    build_kubelet: bool
    build_kubectl: bool
    k8s_dir: str
    release_site: str
    kubeadm_url: str
    kubeadm_sha1: str
    hyperkube_url: str
    hyperkube_sha1: str
    kubectl_url: str
    kubectl_sha1: str


@dataclass(frozen=True)
class Cluster:
    name: str
    num_nodes: int
    cni_plugin: str
    no_dedicated: bool
    api_server_address: str
    api_server_port: int
    addons: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    debian_mirror: str
    debian_suite: str
    image_repository: str


@dataclass(frozen=True)
class E2E:
    report_dir: str
    parallel: int


SECTION_TYPES = {"dind": Dind, "source": Source, "cluster": Cluster, "node": Node, "e2e": E2E}


@dataclass(frozen=True)
class Settings:
    dind: Dind
    verbose: int
    output: str
    source: Source
    cluster: Cluster
    node: Node
    e2e: E2E
    # dotted key -> where its value came from ("default", "env K8S_DIND_V", ...)
    origins: Mapping[str, str] = dataclasses.field(compare=False, repr=False)

    def value(self, key: str):
        setting = BY_KEY[key]
        holder = getattr(self, setting.section) if setting.section else self
        return getattr(holder, setting.attr)

    def slice(self, *keys: str) -> dict:
        """A JSON-able {key: value} of the given settings (all when none given),
        for doit's config_changed: a task depends on exactly what it reads."""
        keys = keys or tuple(BY_KEY)
        return {k: _jsonable(self.value(k)) for k in keys}

    def digest(self, *keys: str) -> str:
        return json.dumps(self.slice(*keys), sort_keys=True)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


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


def parse_flags(args: Iterable[str]) -> tuple[dict[str, object], dict[str, bool], list[str]]:
    """Split doit task arguments into setting flags, invocation flags and the rest.

    Returns ({setting key: raw value}, {invocation flag: True}, positional args).
    `--flag value`, `--flag=value`, `--bool-flag` and its inverse are accepted."""
    flags: dict[str, object] = {}
    invocation: dict[str, bool] = {}
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
        if flag in BY_FLAG and not BY_FLAG[flag].is_bool:
            if not has_value:
                if i >= len(args):
                    raise SettingsError(f"flag --{flag} needs a value")
                value = args[i]
                i += 1
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
            known = [*BY_FLAG, *BY_INVERSE, *INVOCATION_FLAGS]
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
    # Addresses left after the network, broadcast and gateway addresses.
    room = max(network.num_addresses - 3, 0)
    if nodes > room:
        raise SettingsError(
            f"{told('dind.subnet')} has room for {room} node addresses but "
            f"{told('cluster.numNodes')} needs {nodes}: use a larger subnet"
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


# ---------------------------------------------------------------- output


def yaml_scalar(value) -> str:
    value = _jsonable(value)
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("...").strip()


def render_effective(settings: Settings) -> str:
    """The effective settings as YAML, each value annotated with its origin."""
    lines = ["# Effective settings of kubeadm-local-cluster (# where each value came from)"]
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
