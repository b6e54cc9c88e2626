"""Parsers: each turns a raw value (a YAML value, or a string from the
environment or a flag) into a setting's value, or raises ValueError with a
message that completes "<setting>: ..."."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlparse

POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/12"

# The named add-ons (tasks/addons/: one module each).
KNOWN_ADDONS = ("local-path-provisioner", "metrics-server", "dashboard")
# One entry each in tasks/podnet/ (its registry must name the same).
CNI_PLUGINS = ("bridge", "flannel", "calico", "weave")
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


def cni_plugin(value):
    return choice(*CNI_PLUGINS)(value)


# The Kubernetes versions supported, stated here only (`config` prints it, the
# README quotes it): kubeadm's configuration API v1beta4, which `up` writes,
# came in 1.31; the newest is the newest stable minor when this was written.
# Which had full conformance runs: docs/conformance.md.
OLDEST_MINOR = (1, 31)
NEWEST_TESTED_MINOR = (1, 37)
SUPPORTED = f"v{OLDEST_MINOR[0]}.{OLDEST_MINOR[1]} to v{NEWEST_TESTED_MINOR[0]}.{NEWEST_TESTED_MINOR[1]}"


def version(value):
    value = text(value)
    if value == "stable":
        return value
    match = VERSION_RE.fullmatch(value)
    if not match:
        raise ValueError(f"expected stable or vX.Y.Z (such as v1.34.4), got {_show(value)}")
    if (int(match[1]), int(match[2])) < OLDEST_MINOR:
        raise ValueError(
            f"Kubernetes {value} is older than supported ({SUPPORTED}: kubeadm's v1beta4 configuration, "
            "which `up` writes, came in v1.31)"
        )
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
        if entry.startswith("file://"):
            # A file URL is a file: checked now, like a path (`up` reads it, never downloads it).
            entry = urlparse(entry).path
            if not entry:
                raise ValueError("a file:// add-on URL needs an absolute path (file:///path/to/manifest.yaml)")
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
