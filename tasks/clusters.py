"""`local-cluster clusters`: every cluster on the engine, from labels alone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from docker.errors import DockerException

from tasks.engine import LABEL, LABEL_CLUSTER, LABEL_ROLE, NODE_ROLES, Engine, engine_target
from tasks.node.snapshot import DATA_ROLE, ROLE


@dataclass
class Listed:
    name: str
    version: str = "-"
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (name, state)
    api_server: str = "-"
    snapshot: str = "none"


def listing(engine: Engine | None = None) -> list[Listed]:
    engine = engine or Engine.connect()
    client = engine.client
    found: dict[str, Listed] = {}

    def entry(labels: dict) -> Listed:
        name = labels[LABEL_CLUSTER]
        return found.setdefault(name, Listed(name))

    for container in client.api.containers(all=True, filters={"label": LABEL_CLUSTER}):
        labels = container.get("Labels") or {}
        if labels.get(LABEL_ROLE) not in NODE_ROLES:
            continue
        listed = entry(labels)
        listed.version = labels.get(f"{LABEL}.kubernetes-version", listed.version)
        listed.nodes.append((container["Names"][0].lstrip("/"), container.get("State", "?")))
        for port in container.get("Ports") or []:
            if port.get("PrivatePort") == 6443 and port.get("PublicPort"):
                host = port.get("IP") or "127.0.0.1"
                listed.api_server = f"https://{'127.0.0.1' if host == '0.0.0.0' else host}:{port['PublicPort']}"
    for network in client.api.networks(filters={"label": LABEL_CLUSTER}):
        entry(network.get("Labels") or {})
    snapshots: dict[str, dict] = {}
    for image in client.api.images(filters={"label": [LABEL_CLUSTER, f"{LABEL_ROLE}={ROLE}"]}):
        labels = image.get("Labels") or {}
        entry(labels)
        info = snapshots.setdefault(labels[LABEL_CLUSTER], {"created": "", "bytes": 0})
        info["created"] = labels.get(f"{LABEL}.created", "").replace("T", " ")
        # The snapshot's own layer: the image less the node image it was made from.
        info["bytes"] += int(image.get("Size") or 0) - _node_image_size(client, labels)
    if snapshots:
        # Volume sizes cost the engine a walk of every volume: asked only when there are snapshots.
        for volume in client.api.df().get("Volumes") or []:
            labels = volume.get("Labels") or {}
            if labels.get(LABEL_ROLE) == DATA_ROLE and labels.get(LABEL_CLUSTER) in snapshots:
                size = (volume.get("UsageData") or {}).get("Size") or 0
                snapshots[labels[LABEL_CLUSTER]]["bytes"] += max(int(size), 0)
    for name, info in snapshots.items():
        found[name].snapshot = f"{info['created']}, {info['bytes'] / 1e6:.0f} MB"
    for listed in found.values():
        listed.nodes.sort()
    return [found[name] for name in sorted(found)]


def render(clusters: list[Listed]) -> list[str]:
    if not clusters:
        return [f"no clusters on the engine at {engine_target().describe()}"]
    lines = [f"engine: {engine_target().describe()}"]
    for listed in clusters:
        nodes = ", ".join(f"{name} ({state})" for name, state in listed.nodes) or "none (down)"
        lines += [
            f"{listed.name}",
            f"  kubernetes  {listed.version}",
            f"  nodes       {nodes}",
            f"  api server  {listed.api_server}",
            f"  snapshot    {listed.snapshot}",
        ]
    return lines


def _node_image_size(client, labels: dict) -> int:
    try:
        node_image = json.loads(labels.get(f"{LABEL}.state", "{}")).get("node image") or ""
        return int(client.api.inspect_image(node_image).get("Size") or 0) if node_image else 0
    except (ValueError, DockerException):
        return 0
