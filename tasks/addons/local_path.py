"""local-path-provisioner: dynamic PersistentVolumes in a directory of the
node that runs the pod (/var/local-path-provisioner), behind the default
StorageClass `standard` (kind's name for it). On by default: what kind and
minikube users expect of a local cluster.

The provisioner starts a short-lived helper pod on the chosen node to make
or remove each volume's directory (`/bin/sh /script/setup`, `mkdir`, `rm`),
so its image carries busybox from Debian beside the program,
and serves as the helper image too: nothing is pulled. Its module is built
as a dependency of a wrapper module (its vendor/ directory is not used)."""

from __future__ import annotations

from tasks.addons import Addon, built

VERSION = "v0.0.30"  # the newest the Go module proxy serves
MODULE = "github.com/rancher/local-path-provisioner"

PROGRAM = built.Program(
    name="local-path-provisioner",
    version=VERSION,
    module=MODULE,
    package=MODULE,
    ldflags=f"-s -w -X main.VERSION={VERSION}",  # upstream's scripts/build
    recipe="1",
    manifest="local-path-storage.yaml",
    namespace="local-path-storage",
    deployment="local-path-provisioner",
    # The helper's scripts need sh, mkdir and rm: Debian's static busybox
    # gives all three in 2 MB (dash, coreutils and libc would be 30). Its
    # package makes no applet links (busybox --install would): we do.
    # base-files brings trixie's /bin -> usr/bin.
    packages=("base-files", "busybox-static"),
    links=tuple((f"usr/bin/{applet}", "busybox") for applet in ("sh", "mkdir", "rm")),
)
STORAGE_CLASS = "standard"


def install(cluster) -> None:
    built.install(PROGRAM, cluster, built.render(PROGRAM, binary=PROGRAM.binary_path))


ADDON = Addon(
    PROGRAM.name,
    hermetic=True,
    install=install,
    tasks=lambda: built.task_dicts(PROGRAM),
)
