"""metrics-server (`cluster.addons: metrics-server`): resource metrics for
`kubectl top` and the HorizontalPodAutoscaler, from its Go module, in an
image holding the program alone (it needs nothing else: no shell, its
certificates in an emptyDir). Ready when the API server serves
metrics.k8s.io from it, which takes one scrape of every kubelet."""

from __future__ import annotations

from tasks.addons import Addon, built

VERSION = "v0.9.0"  # the newest the Go module proxy serves
MODULE = "sigs.k8s.io/metrics-server"
VERSION_PACKAGE = "k8s.io/client-go/pkg/version"  # upstream's Makefile stamps client-go's version
API_SERVICE = "v1beta1.metrics.k8s.io"

PROGRAM = built.Program(
    name="metrics-server",
    version=VERSION,
    module=MODULE,
    package=f"{MODULE}/cmd/metrics-server",
    ldflags=f"-s -w -X {VERSION_PACKAGE}.gitVersion={VERSION}",
    recipe="1",
    manifest="metrics-server.yaml",
    namespace="kube-system",
    deployment="metrics-server",
)


def install(cluster) -> None:
    built.install(PROGRAM, cluster, built.render(PROGRAM))
    # The Deployment is Ready before the aggregator has seen it: wait until
    # the API server says the API is available, so `kubectl top` answers.
    wait = ["wait", "--for=condition=Available", f"apiservice/{API_SERVICE}", f"--timeout={built.ROLLOUT_TIMEOUT}s"]
    cluster.kubectl(*wait)


ADDON = Addon(
    PROGRAM.name,
    hermetic=True,
    install=install,
    tasks=lambda: built.task_dicts(PROGRAM),
)
