"""Kubernetes Dashboard (`cluster.addons: dashboard`), the way its users
installed it: the pinned upstream manifest, its images pulled by the nodes.
Not built here: the project is archived upstream and its module is not on the
Go module proxy; v2.7.0 is its last release with a plain manifest (later
ones are Helm charts only).

The manifest is fetched before any node starts; before it is applied, the
nodes must hold the images (`local-cluster load`) or pull one, otherwise `up`
stops with one line instead of waiting for pods that never start (the same
check as the pulled pod networks, tasks/pull_errors.py). Its
`imagePullPolicy: Always` becomes IfNotPresent, so images loaded into the
nodes are used."""

from __future__ import annotations

from doit.tools import config_changed

from tasks import pull_errors
from tasks.addons import Addon
from tasks.errors import UserError
from tasks.paths import cache_dir

VERSION = "v2.7.0"
URL = f"https://raw.githubusercontent.com/kubernetes/dashboard/{VERSION}/aio/deploy/recommended.yaml"
SHA256 = "943ae40251f1ba64ef012c53271bf6766d1883dd024093e854567b56443764b8"
IMAGES = (f"kubernetesui/dashboard:{VERSION}", "kubernetesui/metrics-scraper:v1.0.8")
NAMESPACE = "kubernetes-dashboard"
DEPLOYMENTS = ("kubernetes-dashboard", "dashboard-metrics-scraper")
INSTEAD = "leave dashboard out of cluster.addons (--addons local-path-provisioner,metrics-server: built here)"


def path():
    return cache_dir() / "addons" / "dashboard" / VERSION / "recommended.yaml"


def fetch_manifest() -> None:
    from tasks import download

    try:
        download.fetch(URL, SHA256, path())
    except UserError as err:
        raise UserError(
            f"dashboard {VERSION} is installed from its upstream manifest and its images are pulled by the nodes "
            f"({', '.join(IMAGES)}), and this machine cannot get the manifest ({err}); {INSTEAD}, "
            f"or put the file (sha256 {SHA256}) at {path()}"
        ) from None


def render(manifest: str) -> str:
    count = manifest.count("imagePullPolicy: Always")
    if count != 1:  # upstream sets it on the dashboard's container only
        raise UserError(f"the pinned dashboard manifest has imagePullPolicy: Always {count} times: its pin is wrong")
    return manifest.replace("imagePullPolicy: Always", "imagePullPolicy: IfNotPresent")


def install(cluster) -> None:
    from tasks.cluster import KUBEADM_DIR

    missing = pull_errors.missing_images(IMAGES, cluster)
    if missing:
        pull_errors.check_pull(cluster, f"dashboard {VERSION}", missing, INSTEAD)
    manifest = render(path().read_text()).encode()
    cluster.objects.put_files(cluster.master, KUBEADM_DIR, {"addon-dashboard.yaml": manifest})
    cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/addon-dashboard.yaml")
    for deployment in DEPLOYMENTS:
        cluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{deployment}", "--timeout=300s")


def task_dicts() -> list[dict]:
    from tasks.taskkit import step  # here: taskkit imports the cluster modules

    return [
        {
            "basename": "dashboard",
            "name": "manifest",
            "doc": f"the upstream manifest of dashboard {VERSION} ({URL})",
            "actions": [step(fetch_manifest)],
            "targets": [str(path())],
            "uptodate": [config_changed({"url": URL, "sha256": SHA256})],
            "meta": {"title": f"dashboard {VERSION} manifest"},
        }
    ]


ADDON = Addon("dashboard", hermetic=False, install=install, tasks=task_dicts)
