"""helm, the Kubernetes package manager, built from its Go module; `up` puts
it beside the cluster's kubectl (tasks/access/kubeconfig.py).

Why Helm 4: Helm 3's last minor release was 3.22 (September 2026), and it
gets security fixes only, until 10 February 2027 (helm.sh/blog/
helm-v3-end-of-life); Helm 4 installs Helm 3's charts (apiVersion v2)
unchanged, and 4.3.2's client-go (v0.37.2) is that of the Kubernetes
release the tool takes by default.

The build is upstream's (its Makefile's `build`): cmd/helm, CGO_ENABLED=0,
-trimpath, `-w -s` and the version stamped into internal/version, so `helm
version` says VERSION. Helm 4 reads the client-go version it reports to
charts (.Capabilities) from the binary's build information (helm#31296),
which a build as a dependency keeps, so it needs no stamp of ours.

helm keeps its own state where it always does (XDG directories under HOME:
~/.config/helm for repositories, ~/.cache/helm, ~/.local/share/helm for
plugins; HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME move them): a
local chart needs none of it, and a user's repositories stay theirs.

helm only runs beside admin.conf, so it is built for this machine's platform
(a Mac's helm on a Mac; tasks/build/client.py), never the nodes'.

Layout: ~/.kubeadm-local-cluster/cache/helm/<version>/ (independent of the
Kubernetes version)
    module/                the wrapper module (config/gomod/helm.go.mod)
    <goos>-<goarch>/helm   the static binary, for this machine
"""

from __future__ import annotations

from pathlib import Path

from doit.tools import config_changed

from tasks.build import client, gobuild, platforms, run_built
from tasks.errors import UserError
from tasks.paths import cache_dir, logs_dir

VERSION = "v4.3.2"  # the newest Helm 4 release the Go module proxy serves
MODULE = "helm.sh/helm/v4"
PACKAGE = f"{MODULE}/cmd/helm"
TEMPLATE = "helm.go.mod"
# Changing how it is built (a flag, the template's meaning) bumps this.
RECIPE = "2"  # 2: for this machine's platform
TASK = "helm"


def root() -> Path:
    return cache_dir() / "helm" / VERSION


def binary() -> Path:
    return root() / client.platform_name(platforms.this_machine()) / "helm"


def _log(what: str) -> Path:
    return logs_dir() / f"helm-{VERSION}-{what}.log"


def ldflags(version: str = VERSION) -> str:
    """What upstream's Makefile gives the linker for a tagged release: no
    build metadata, a clean tree. (Its git commit is not in the module zip:
    left empty, as `helm version` then shows.)"""
    stamp = f"{MODULE}/internal/version"
    return f"-w -s -X {stamp}.version={version} -X {stamp}.metadata= -X {stamp}.gitTreeState=clean"


def wrapper_go(upstream: str) -> str:
    """The wrapper's go line: upstream's, but at least 1.24, which the tool directive needs."""
    return upstream if tuple(int(p) for p in upstream.split(".")) >= (1, 24) else "1.24"


def build() -> float:
    """helm into the cache, checked: it must say it is VERSION."""
    module_dir = root() / "module"
    facts = gobuild.module_facts(MODULE, VERSION, cache_dir())
    go = wrapper_go(gobuild.go_directive(Path(facts["GoMod"]).read_text()))
    gobuild.write_module(module_dir, TEMPLATE, {"version": VERSION, "go": go})
    seconds = gobuild.tidy(module_dir, _log("module"), f"helm {VERSION}")
    goos, goarch = platforms.this_machine()
    what = f"helm {VERSION} for {goos}/{goarch}"
    environment = {"GOOS": goos, "GOARCH": goarch}
    seconds += gobuild.build(module_dir, PACKAGE, binary(), _log("build"), what, ldflags=ldflags(), env=environment)
    if platforms.foreign():  # the engine cannot run it for us: its header and build information say what it is
        client.check_executable(binary(), (goos, goarch), (MODULE, VERSION), what)
        return seconds
    said = reported_version(binary())
    if said != VERSION:
        raise UserError(f"the helm just built says it is {said!r}, not {VERSION}: see {_log('build')}")
    return seconds


def reported_version(program: Path) -> str:
    """What `helm version` says its version is."""
    return run_built.says(program, ["version", "--template", "{{.Version}}"]).strip()


def task_dict() -> dict:
    """The doit task that builds helm (`up` and `artifacts` depend on it)."""
    from tasks.taskkit import step  # here: taskkit imports the cluster modules

    def action() -> None:
        build()  # doit wants no float back

    return {
        "basename": TASK,
        "doc": f"helm {VERSION} from its Go module, for the cluster's state directory",
        "actions": [step(action)],
        "file_dep": [str(gobuild.TEMPLATES / TEMPLATE)],
        "targets": [str(binary())],
        "uptodate": [
            config_changed(
                {"recipe": RECIPE, "version": VERSION, "ldflags": ldflags(), "platform": platforms.this_machine()}
            )
        ],
        "meta": {"title": f"helm {VERSION} from Go modules"},
    }
