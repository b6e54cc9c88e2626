"""Parsers of the settings that customise the cluster: feature gates, runtime
config, component flags, kubeadm config patches, port mappings, node labels,
registry mirrors.

Each takes what the config file gives (a YAML mapping or list) and what an
environment variable or a flag gives (one string: `A=true,B=false`, or YAML
such as `{enable-admission-plugins: "A,B"}` when a value holds a comma).
Values are kept frozen (the settings object is immutable); `thaw` gives plain
dicts and lists back to whoever renders them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import yaml

from tasks.settings.parsers import _show, boolean

# The documents kubeadm is given (tasks/node/kubeadm.py renders them): patches name one by kind.
PATCHABLE_KINDS = (
    "InitConfiguration",
    "ClusterConfiguration",
    "JoinConfiguration",
    "KubeletConfiguration",
    "KubeProxyConfiguration",
)
JSON6902_OPS = ("add", "remove", "replace", "move", "copy", "test")
# Node names in settings are the default cluster's; `-NAME` follows for other clusters.
NODE_RE = re.compile(r"kube-master|kube-node-([1-9][0-9]*)")
LABEL_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
PORT_RE = re.compile(
    r"(?:(?P<address>\d+\.\d+\.\d+\.\d+):)?(?P<host>\d+):(?P<container>\d+)"
    r"(?:/(?P<protocol>tcp|udp|sctp))?(?:@(?P<node>[a-z0-9-]+))?"
)


def freeze(value):
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def _yaml(value: str, what: str):
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "malformed"
        raise ValueError(f"{what} is not valid YAML ({problem})") from None


def _pairs(value, example: str) -> dict[str, str]:
    """A mapping of strings: from YAML, or `KEY=VALUE,KEY=VALUE`."""
    if value is None:
        return {}
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{"):
            value = _yaml(stripped, "the value")
        else:
            result = {}
            for part in (p.strip() for p in stripped.split(",")):
                if not part:
                    continue
                key, equals, item = part.partition("=")
                if not equals or not key.strip():
                    raise ValueError(f"expected KEY=VALUE pairs separated by commas (such as {example}), got {part!r}")
                result[key.strip()] = item.strip()
            return result
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping or KEY=VALUE pairs (such as {example}), got {_show(value)}")
    result = {}
    for key, item in value.items():
        if isinstance(item, (Mapping, list, tuple)):
            raise ValueError(f"{key}: expected a single value, got {_show(item)}")
        if isinstance(item, bool):
            item = "true" if item else "false"
        result[str(key)] = "" if item is None else str(item)
    return result


def _switches(value, example: str, name: str, not_a_name: str, label: str = "") -> dict[str, bool]:
    """NAME=true|false pairs whose names fully match the pattern NAME."""
    switches = {}
    for key, on in _pairs(value, example).items():
        if not re.fullmatch(name, key):
            raise ValueError(f"{key!r} is not {not_a_name}")
        try:
            switches[key] = boolean(on)
        except ValueError:
            raise ValueError(f"{label}{key}: expected true or false, got {on!r}") from None
    return switches


def feature_gates(value):
    gates = _switches(
        value,
        "SomeGate=true,OtherGate=false",
        r"[A-Z][A-Za-z0-9]*",
        "a feature gate name (such as InPlacePodVerticalScaling)",
        "feature gate ",
    )
    return freeze(gates)


def runtime_config(value):
    config = _switches(
        value,
        "api/alpha=true,resource.k8s.io/v1beta1=true",
        r"[A-Za-z0-9.-]+(/[A-Za-z0-9.-]+)*",
        "an API group/version (such as resource.k8s.io/v1beta1 or api/alpha)",
    )
    return freeze({key: "true" if on else "false" for key, on in config.items()})


# Flags with settings of their own, and flags `up` sets and needs as it sets them.
OWN_SETTING = {"feature-gates": "kubernetes.featureGates", "runtime-config": "kubernetes.runtimeConfig"}
SET_BY_UP = {
    "controller-manager": ("allocate-node-cidrs",),
    "kubelet": ("node-ip",),
}


def component_args(component: str):
    def parse(value):
        args = _pairs(value, "v=4,profiling=false")
        for flag in args:
            if flag.startswith("-"):
                raise ValueError(f"write flags without dashes: {flag.lstrip('-')!r}, not {flag!r}")
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", flag):
                raise ValueError(f"{flag!r} is not a flag name of {component}")
            if flag in OWN_SETTING:
                raise ValueError(f"{flag} has a setting of its own: {OWN_SETTING[flag]}")
            if flag in SET_BY_UP.get(component, ()):
                raise ValueError(f"{flag} of {component} is set by `up` itself and cannot be changed")
        return freeze(args)

    return parse


def _documents(value, what: str) -> list:
    """A list of YAML documents: a YAML list, or one string of `---`-separated documents."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            documents = [d for d in yaml.safe_load_all(value) if d is not None]
        except yaml.YAMLError as err:
            raise ValueError(f"{what} are not valid YAML ({getattr(err, 'problem', None) or 'malformed'})") from None
        if len(documents) == 1 and isinstance(documents[0], list):
            return documents[0]
        return documents
    if isinstance(value, (list, tuple)):
        return [_yaml(d, what) if isinstance(d, str) else d for d in value]
    raise ValueError(f"expected a list of {what}, got {_show(value)}")


def _kind(patch: Mapping, index: int) -> str:
    kind = patch.get("kind")
    if kind not in PATCHABLE_KINDS:
        raise ValueError(f"patch {index + 1}: kind must be one of {', '.join(PATCHABLE_KINDS)}, got {_show(kind)}")
    return kind


def merge_patches(value):
    patches = _documents(value, "kubeadm config patches")
    for index, patch in enumerate(patches):
        if not isinstance(patch, Mapping):
            raise ValueError(f"patch {index + 1}: expected a mapping with a kind, got {_show(patch)}")
        _kind(patch, index)
    return freeze(patches)


def json6902_patches(value):
    patches = _documents(value, "JSON 6902 patches")
    result = []
    for index, entry in enumerate(patches):
        if not isinstance(entry, Mapping) or "patch" not in entry:
            raise ValueError(f"patch {index + 1}: expected a mapping with kind and patch, got {_show(entry)}")
        _kind(entry, index)
        ops = entry["patch"]
        ops = _yaml(ops, f"patch {index + 1}") if isinstance(ops, str) else ops
        if not isinstance(ops, (list, tuple)) or not ops:
            raise ValueError(f"patch {index + 1}: patch must be a list of operations, got {_show(ops)}")
        for op in ops:
            if not isinstance(op, Mapping) or op.get("op") not in JSON6902_OPS:
                raise ValueError(f"patch {index + 1}: each operation needs op: one of {', '.join(JSON6902_OPS)}")
            if not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
                raise ValueError(f"patch {index + 1}: operation {op['op']} needs a path such as /a/b")
        result.append({**entry, "patch": ops})
    return freeze(result)


def _entries(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [e.strip() for e in value.split(",") if e.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(e, (str, int)) for e in value):
        return [str(e).strip() for e in value if str(e).strip()]
    raise ValueError(f"expected a list of {what}, got {_show(value)}")


def _node(name: str | None, entry: str) -> str:
    if name and not NODE_RE.fullmatch(name):
        raise ValueError(f"{entry!r}: @{name} is not a node (kube-master or kube-node-N)")
    return name or ""


def port_mappings(value):
    """`[ADDRESS:]HOST_PORT:NODE_PORT[/PROTOCOL][@NODE]`; the address defaults to
    127.0.0.1 (nothing is exposed beyond this host unless asked), the node to kube-master."""
    result = []
    for entry in _entries(value, "port mappings such as 8080:30080"):
        match = PORT_RE.fullmatch(entry)
        if not match:
            shape = "[ADDRESS:]HOST_PORT:NODE_PORT[/tcp|udp|sctp][@NODE]"
            raise ValueError(f"{entry!r} is not {shape}, such as 8080:30080")
        host, container = int(match["host"]), int(match["container"])
        if not (0 < host < 65536 and 0 < container < 65536):
            raise ValueError(f"{entry!r}: ports are 1 to 65535")
        address = match["address"] or "127.0.0.1"
        if any(int(part) > 255 for part in address.split(".")):
            raise ValueError(f"{entry!r}: {address} is not an IPv4 address")
        node = _node(match["node"], entry) or "kube-master"
        result.append(f"{address}:{host}:{container}/{match['protocol'] or 'tcp'}@{node}")
    seen = {}
    for mapping in result:
        bound = mapping.rpartition(":")[0] + "/" + mapping.split("/")[1].split("@")[0]
        if bound in seen:
            raise ValueError(f"host port {bound.split('/')[0]} is mapped twice ({seen[bound]} and {mapping})")
        seen[bound] = mapping
    return tuple(result)


def _label(key: str, item: str, entry: str) -> None:
    prefix, slash, label = key.rpartition("/")
    if (slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN_RE.fullmatch(prefix))) or (
        not LABEL_NAME_RE.fullmatch(label)
    ):
        raise ValueError(f"{entry!r}: {key!r} is not a label key (such as tier or example.com/tier)")
    if item and not LABEL_NAME_RE.fullmatch(item):
        raise ValueError(f"{entry!r}: {item!r} is not a label value (63 letters, digits, -_. at most)")


def node_labels(value):
    """`KEY=VALUE[@NODE]` (every node without @NODE), or a mapping for every node."""
    if isinstance(value, Mapping):
        entries = [f"{k}={v}" for k, v in _pairs(value, "tier=frontend").items()]
    else:
        entries = _entries(value, "labels such as tier=frontend@kube-node-1")
    result = []
    for entry in entries:
        pair, _, node = entry.partition("@")
        key, equals, item = pair.partition("=")
        if not equals:
            raise ValueError(f"{entry!r} is not KEY=VALUE[@NODE], such as tier=frontend@kube-node-1")
        _label(key.strip(), item.strip(), entry)
        node = _node(node.strip() or None, entry)
        result.append(f"{key.strip()}={item.strip()}" + (f"@{node}" if node else ""))
    return tuple(result)


def node_index(name: str) -> int:
    """kube-master 0, kube-node-N N."""
    match = NODE_RE.fullmatch(name)
    return int(match[1]) if match and match[1] else 0


def labels_of(entries, index: int) -> dict[str, str]:
    """The labels node INDEX gets (0 the master)."""
    labels = {}
    for entry in entries:
        pair, _, node = entry.partition("@")
        if not node or node_index(node) == index:
            key, _, item = pair.partition("=")
            labels[key] = item
    return labels


def ports_of(entries, index: int) -> list[tuple[str, int, int, str]]:
    """(address, host port, node port, protocol) of the mappings to node INDEX."""
    ports = []
    for entry in entries:
        binding, _, node = entry.partition("@")
        if node_index(node) == index:
            address_ports, _, protocol = binding.partition("/")
            address, host, container = address_ports.split(":")
            ports.append((address, int(host), int(container), protocol))
    return ports


# A registry host as image references name it: a DNS name or IPv4 address, an optional port.
REGISTRY_HOST_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?")
MIRROR_URL_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(?P<port>[0-9]{1,5}))?(/\S*)?"
)


def registry_mirrors(value):
    """`HOST=URL,...` (or a mapping): containerd on every node pulls HOST's
    images (docker.io, registry.k8s.io, quay.io, ...) from URL first."""
    mirrors = {}
    for host, mirror in _pairs(value, "docker.io=http://mirror.example:5000").items():
        host = host.lower()
        if not REGISTRY_HOST_RE.fullmatch(host) or int(host.partition(":")[2] or 1) > 65535:
            raise ValueError(f"{host!r} is not a registry host (such as docker.io, registry.k8s.io or quay.io)")
        match = MIRROR_URL_RE.fullmatch(mirror)
        if not match or int(match["port"] or 1) > 65535:
            raise ValueError(
                f"{host}: {mirror!r} is not an http:// or https:// URL (such as http://mirror.example:5000)"
            )
        mirrors[host] = mirror.rstrip("/")
    return freeze(mirrors)
