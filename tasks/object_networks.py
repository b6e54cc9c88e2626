"""The cluster's network on the engine (a mixin of tasks.objects.Objects):
found by its exact name, checked to be ours, made on exactly its subnet (an
old one of ours on another subnet replaced), listed and removed; and the
subnets every network of the engine holds, which an automatic subnet avoids."""

from __future__ import annotations

import docker
from docker.errors import APIError, NotFound

from tasks.engine import EngineError, _short


class NetworkOps:
    """Needs what Objects has: client, labels, owns, _clash, _label_filter."""

    def _network(self, name: str) -> dict | None:
        """The network of exactly this name (the engine's name filter matches parts of names)."""
        for network in self.client.api.networks(names=[name]):
            if network.get("Name") == name:
                return self.client.api.inspect_network(network["Id"])
        return None

    def check_network(self, name: str) -> None:
        attrs = self._network(name)
        if attrs is not None and not self.owns(attrs.get("Labels")):
            raise self._clash("network", name, "remove it, or choose another cluster name with --cluster-name")

    def network_subnet(self, name: str) -> str | None:
        """The subnet of our network of this name, if it exists."""
        attrs = self._network(name)
        if attrs is None or not self.owns(attrs.get("Labels")):
            return None
        return ((attrs.get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet")

    def engine_subnets(self) -> dict[str, str]:
        """{subnet: network name} of every network the engine has."""
        subnets = {}
        for network in self.client.api.networks():
            for config in (network.get("IPAM") or {}).get("Config") or []:
                if config.get("Subnet"):
                    subnets[config["Subnet"]] = network.get("Name", "?")
        return subnets

    def ensure_network(self, name: str, subnet: str) -> None:
        """The cluster's network on exactly this subnet; an old one of ours on
        another subnet is replaced; one that is not ours is never touched."""
        attrs = self._network(name)
        if attrs is not None:
            if not self.owns(attrs.get("Labels")):
                raise self._clash("network", name, "remove it, or choose another cluster name with --cluster-name")
            configs = (attrs.get("IPAM") or {}).get("Config") or [{}]
            if configs[0].get("Subnet") == subnet:
                return
            if attrs.get("Containers"):
                raise EngineError(
                    f"network {name} is on {configs[0].get('Subnet')} and has containers: "
                    "run `local-cluster down` first to change dind.subnet"
                )
            self.client.api.remove_network(attrs["Id"])
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            self.client.api.create_network(
                name, driver="bridge", ipam=ipam, labels=self.labels(role="network"), check_duplicate=True
            )
        except APIError as err:
            text = str(getattr(err, "explanation", "") or err)
            if "overlap" in text.lower():
                raise EngineError(
                    f"dind.subnet {subnet} overlaps a network the engine already has ({text}): "
                    "choose another with --dind-subnet, or set dind.subnet to auto to get a free one"
                ) from None
            raise EngineError(f"cannot create network {name}: {_short(text)}") from None

    def remove_network(self, name: str) -> bool:
        attrs = self._network(name)
        if attrs is None or not self.owns(attrs.get("Labels")):
            return False
        try:
            self.client.api.remove_network(attrs["Id"])
        except NotFound:
            return False
        except APIError as err:
            raise EngineError(f"cannot remove network {name}: {_short(str(err))}") from None
        return True

    def networks(self) -> list:
        return self.client.networks.list(filters=self._label_filter())
