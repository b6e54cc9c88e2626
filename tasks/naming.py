"""The names of a cluster's objects: containers (and so the Kubernetes node
names), volumes, the network, helper containers, the local registry, the
kubeconfig.

The default cluster keeps the names users of kubeadm-dind-cluster know:
`kube-master`, `kube-node-1`, network `k8s-kubeadm-local-cluster`,
`~/.kubeadm-local-cluster/admin.conf`. Any other cluster NAME appends
`-NAME` to each container, as kubeadm-dind-cluster's CLUSTER_ID did
(`kube-master-NAME`, `kube-node-1-NAME`), so two clusters never share a name;
its kubeconfig, kubectl and helm live in `~/.kubeadm-local-cluster/clusters/NAME/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.paths import state_dir

DEFAULT_CLUSTER = "kubeadm-local-cluster"


@dataclass(frozen=True)
class Names:
    cluster: str

    @property
    def suffix(self) -> str:
        return "" if self.cluster == DEFAULT_CLUSTER else f"-{self.cluster}"

    @property
    def master(self) -> str:
        return f"kube-master{self.suffix}"

    def worker(self, index: int) -> str:
        return f"kube-node-{index}{self.suffix}"

    @property
    def network(self) -> str:
        return f"k8s-{self.cluster}"

    @property
    def context(self) -> str:
        """The context, cluster and user in the user's kubeconfig (kind: kind-NAME)."""
        return f"kubeadm-local-cluster{self.suffix}"

    @property
    def e2e_runner(self) -> str:
        return f"kube-e2e{self.suffix}"

    @property
    def e2e_mirror(self) -> str:
        """The registry serving registry.k8s.io's test images during a conformance run."""
        return f"kube-e2e-mirror{self.suffix}"

    @property
    def e2e_mirror_volume(self) -> str:
        """Its data, kept between runs (only what changed is pushed again), removed by `clean`."""
        return f"{self.e2e_mirror}-data"

    @property
    def registry(self) -> str:
        """The local registry's container (cluster.registry)."""
        return f"kube-registry{self.suffix}"

    @property
    def registry_volume(self) -> str:
        """The local registry's data: kept by `down`, removed by `clean`."""
        return f"{self.registry}-data"

    @staticmethod
    def data_volume(node: str) -> str:
        """The node's containerd data (node names already carry the cluster)."""
        return f"{node}-containerd"

    @staticmethod
    def snapshot_volume(node: str) -> str:
        return f"{node}-containerd-snapshot"

    def snapshot_image(self, node: str) -> str:
        return f"kubeadm-local-cluster/snapshot:{self.cluster}-{node}"

    def state(self, home: Path | None = None) -> Path:
        """Where this cluster's kubeconfig, kubectl and helm live."""
        base = state_dir(home)
        return base if self.cluster == DEFAULT_CLUSTER else base / "clusters" / self.cluster

    def kubeconfig(self, home: Path | None = None) -> Path:
        return self.state(home) / "admin.conf"

    def kubectl(self, home: Path | None = None) -> Path:
        return self.state(home) / "kubectl"

    def helm(self, home: Path | None = None) -> Path:
        """helm beside kubectl (tasks/build/helm.py)."""
        return self.state(home) / "helm"

    def shown(self, path: Path) -> str:
        """A path under HOME as the user would type it."""
        home = Path.home()
        return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
