"""Kubernetes built from a tree on the engine's host (source.buildIn: engine,
#13; docs/design-build-in-engine.md), as upstream's build/run.sh builds in
its container: the tree is kept in a volume there (tasks/build/tree_sync.py), `make`
runs in a container of the build image, and the binaries stay on the engine;
what comes back is a receipt (digest, size, version), never the binary.

- The build image: Debian (the nodes' suite, so a cgo kubelet's C library is
  theirs) with make and a C compiler, made by mmdebstrap here and imported once.
- The Go toolchain the tree's .go-version names: golang.org/toolchain from the
  Go module proxy, fetched and checked by this machine's `go`, sent once into
  the build cache volume and set up as `go` itself sets up a downloaded one.
- One build container per tree of this machine, with the tree's volume; the
  cache volume (GOCACHE, toolchains) is shared by every tree.
None of them belongs to a cluster: `clean --all` removes them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, NotFound

from tasks.build import debian, gobuild, platforms, tree_sync
from tasks.console import log
from tasks.engine import LABEL, LABEL_ROLE, EngineError, _short
from tasks.errors import UserError
from tasks.paths import cache_dir

SUITE = "trixie"  # the nodes' (tasks/node/image.py base_suite): a cgo kubelet links their libc
# libseccomp-dev and pkg-config: runc (cgo, static libseccomp) is built here when this machine
# cannot; bzip2: busybox's build compresses its configuration with it.
PACKAGES = [
    *("make", "gcc", "libc6-dev", "unzip", "rsync", "findutils", "gzip", "ca-certificates"),
    *("libseccomp-dev", "pkg-config", "bzip2"),
]
RECIPE = "2"
IMAGE = f"kubeadm-local-cluster/build:{SUITE}-r{RECIPE}"
CACHE_VOLUME = "kubeadm-local-cluster-build-cache"
ROLES = {"image": "build-image", "container": "build", "source": "build-source", "cache": "build-cache"}
SOURCE = "/go/src/k8s.io"
TREE = f"{SOURCE}/kubernetes"
CACHE = "/cache"
BUILD_DEADLINE = 3600  # a cold kubelet on two cores takes minutes, not an hour


@dataclass(frozen=True)
class Receipt:
    """What the engine built: where, its digest and size, what it says of its version."""

    name: str
    path: str  # in the build container
    sha256: str
    size: int
    version: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> Receipt:
        return cls(**json.loads(path.read_text()))


def tree_key(tree: Path) -> str:
    """The tree's name on the engine: this machine and its path (upstream's KUBE_ROOT_HASH)."""
    return hashlib.sha256(f"{socket.gethostname()}:{tree.resolve()}".encode()).hexdigest()[:12]


def container_name(tree: Path) -> str:
    return f"kubeadm-local-cluster-build-{tree_key(tree)}"


def go_version(tree: Path) -> str:
    try:
        return (tree / ".go-version").read_text().strip()
    except OSError:
        raise UserError(f"{tree} has no .go-version: the engine's build needs the Go version the tree names") from None


def ensure_image(engine) -> None:
    if engine.has_image(IMAGE):
        return
    rootfs = cache_dir() / "debian" / f"build-{SUITE}-r{RECIPE}.tar"
    if not rootfs.exists():
        debian.rootfs(SUITE, PACKAGES, rootfs, "the build image's Debian base")
    log.info("the build image %s into the engine (once)", IMAGE)
    engine.import_rootfs(rootfs.read_bytes(), IMAGE, {LABEL_ROLE: ROLES["image"]}, ["sleep", "infinity"])


def ensure_container(objects, tree: Path) -> str:
    """The tree's build container, running (made when missing)."""
    name = container_name(tree)
    labels = {LABEL_ROLE: ROLES["container"], f"{LABEL}.tree": str(tree.resolve())}
    volumes = {f"{name}-source": (SOURCE, "source"), CACHE_VOLUME: (CACHE, "cache")}
    ensure_build_container(objects, name, labels, volumes, working_dir=TREE)
    return name


def ensure_build_container(
    objects, name: str, labels: dict[str, str], volumes: dict[str, tuple[str, str]], working_dir: str | None = None
) -> None:
    """A container NAME of the build image, running, with VOLUMES ({volume:
    (where, its role)}), made when missing or made from an older build image.
    One of that name whose role label is not LABELS' is not ours: left as it is."""
    api = objects.client.api
    try:
        state = api.inspect_container(name)
    except NotFound:
        state = None
    if state is not None and (state.get("Config", {}).get("Labels") or {}).get(LABEL_ROLE) != labels[LABEL_ROLE]:
        raise EngineError(f"a container named {name} exists that is not a build container of ours: left as it is")
    if state is not None and state["Config"]["Image"] != IMAGE:
        api.remove_container(name, force=True)  # made from an older build image
        state = None
    if state is None:
        for volume, (_, role) in volumes.items():
            try:
                api.inspect_volume(volume)
            except NotFound:
                api.create_volume(volume, labels={LABEL_ROLE: ROLES[role]})
        binds = {volume: {"bind": where, "mode": "rw"} for volume, (where, _) in volumes.items()}
        try:
            api.create_container(
                IMAGE,
                name=name,
                entrypoint=["sleep", "infinity"],
                labels=labels,
                working_dir=working_dir,
                host_config=objects.engine.host_config(binds=binds, init=True),
            )
        except APIError as err:
            raise EngineError(f"cannot create the build container {name}: {_short(str(err))}") from None
    if not (state or {}).get("State", {}).get("Running"):
        objects.start_container(name)


def toolchain_dir(version: str) -> str:
    return f"{CACHE}/go/{version}"


def ensure_toolchain(objects, container: str, version: str, architecture: str) -> str:
    """GOROOT of Go VERSION in the cache volume, sent there once."""
    goroot = toolchain_dir(version)
    if objects.exec(container, ["test", "-x", f"{goroot}/bin/go"]).exit_code == 0:
        return goroot
    module = f"v0.0.1-go{version}.linux-{architecture}"
    facts = gobuild.module_facts("golang.org/toolchain", module, cache_dir() / "gomod-toolchain")
    log.info("Go %s for the engine's builds, from the Go module proxy (once)", version)
    objects.put_paths(container, "/tmp", {"toolchain.zip": Path(facts["Zip"])})
    # What `go` does to a toolchain it downloaded (cmd/go/internal/toolchain):
    # module zips keep no modes, and nested go.mod files travel as _go.mod.
    script = f"""
        rm -rf {goroot}.partial && mkdir -p {goroot}.partial
        unzip -q /tmp/toolchain.zip -d {goroot}.partial && rm -f /tmp/toolchain.zip
        cd {goroot}.partial/golang.org/toolchain@{module}
        find pkg/tool bin -type f -exec chmod +x {{}} +
        find lib -type f -name 'go_*_*_exec' -exec chmod +x {{}} + 2>/dev/null || true
        find . -name _go.mod | while read -r f; do cp "$f" "${{f%_go.mod}}go.mod"; done
        rm -rf {goroot} && mv "$PWD" {goroot} && rm -rf {goroot}.partial
    """
    result = objects.exec(container, ["sh", "-ec", script])
    if result.exit_code != 0:
        raise EngineError(f"cannot set up Go {version} in {container}: {result.output.strip()[-300:]}")
    return goroot


# The module settings of this machine's `go` go with the build: a tree without
# vendor/ fetches its modules on the engine, through the same proxy.
GO_MODULE_SETTINGS = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE")


def module_settings() -> dict[str, str]:
    """This machine's Go module settings (GOPROXY, ...) that are set, as go here takes them."""
    from tasks.commands import capture

    if gobuild.go_here():
        said = capture(["go", "env", *GO_MODULE_SETTINGS]).splitlines()
        found = dict(zip(GO_MODULE_SETTINGS, said, strict=False))
    else:  # no go here: the environment's, as go itself would take them
        found = {key: os.environ.get(key, "") for key in GO_MODULE_SETTINGS}
    return {key: value for key, value in found.items() if value}


def go_in_container(goroot: str) -> dict[str, str]:
    """Where go is in a build container, and its caches (in the cache volume)."""
    return {
        "PATH": f"{goroot}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "GOCACHE": f"{CACHE}/go-build",
        "GOMODCACHE": f"{CACHE}/mod",
        "HOME": "/root",
    }


def build_environment(goroot: str, architecture: str, version: str, tree: Path) -> dict[str, str]:
    env = {
        "GOTOOLCHAIN": "local",  # the tree's own version is the one there: never fetch another
        **module_settings(),
        "GOFLAGS": "-buildvcs=false",  # go picks vendor/ itself when the tree has it
        "KUBE_BUILD_PLATFORMS": f"linux/{architecture}",
        **go_in_container(goroot),
    }
    if not (tree / ".git").exists():  # .git stays here: the version as tasks/build/artifacts.build_in_tree gives it
        env.update(KUBE_GIT_VERSION=version, KUBE_GIT_TREE_STATE="clean")
    return env


VERSION_ARGS = {"kubeadm": "version -o short", "kubectl": "version --client"}


def build(objects, tree: Path, version: str, whats: dict[str, str], on_line=None) -> dict[str, Receipt]:
    """WHATS ({name: make's WHAT}) built from TREE on the engine; their receipts."""
    ensure_image(objects.engine)
    container = ensure_container(objects, tree)
    synced = tree_sync.sync(objects, container, tree, TREE)
    log.info(
        "the tree into %s: %d changed, %d removed, %d bytes sent", container, synced.changed, synced.deleted,
        synced.sent,
    )  # fmt: skip
    architecture = platforms.architecture(objects.engine.facts().architecture)
    goroot = ensure_toolchain(objects, container, go_version(tree), architecture)
    env = build_environment(goroot, architecture, version, tree)
    what = " ".join(whats.values())
    result = objects.exec(container, ["make", f"WHAT={what}"], on_line, env, deadline=BUILD_DEADLINE)
    if result.exit_code != 0:
        tail = "\n".join(result.output.strip().splitlines()[-15:])
        raise UserError(f"make WHAT={what} failed in {container} (exit {result.exit_code}):\n{tail}")
    receipts = {}
    for name in whats:
        path = f"{TREE}/_output/local/go/bin/{name}"
        asks = VERSION_ARGS.get(name, "--version")
        said = objects.exec(container, ["sh", "-ec", f"sha256sum {path}; stat -c %s {path}; {path} {asks}"])
        if said.exit_code != 0:
            raise EngineError(f"make WHAT={what} in {container} made no {path}: {said.output.strip()[-200:]}")
        digest, _, rest = said.output.partition(" ")
        lines = rest.splitlines()
        receipts[name] = Receipt(name, path, digest, int(lines[1]), "\n".join(lines[2:]).strip())
    return receipts


def copy_into_volume(objects, container: str, receipts: list[Receipt], volume: str, directory: str) -> None:
    """The built binaries into VOLUME (a node's containerd volume) at DIRECTORY,
    by a helper on the engine: they never cross to this machine."""
    # One per target: reup copies into every node at once.
    name = f"{container}-copy-{hashlib.sha256(volume.encode()).hexdigest()[:8]}"
    source = f"{container}-source"
    script = f"mkdir -p /target/{directory} && " + " && ".join(
        f"install -m 0755 {shlex.quote(r.path.replace(SOURCE, '/source', 1))} /target/{directory}/{r.name}"
        for r in receipts
    )
    api = objects.client.api
    with contextlib.suppress(NotFound):
        api.remove_container(name, force=True)
    try:
        api.create_container(
            IMAGE,
            name=name,
            entrypoint=["sh", "-ec", script],
            labels={LABEL_ROLE: "copy"},
            host_config=objects.engine.host_config(
                binds={source: {"bind": "/source", "mode": "ro"}, volume: {"bind": "/target", "mode": "rw"}},
                network_mode="none",
            ),
        )
        api.start(name)
        code = int(api.wait(name, timeout=300).get("StatusCode", 1))
        if code != 0:
            said = api.logs(name, tail=5).decode(errors="replace").strip()
            raise EngineError(f"cannot copy the built binaries into {volume}: {said}")
    except APIError as err:
        raise EngineError(f"cannot copy the built binaries into {volume}: {_short(str(err))}") from None
    finally:
        with contextlib.suppress(NotFound, APIError):
            api.remove_container(name, force=True)


# ---------------------------------------------------------------- the steps


def receipt_path(artifacts, name: str) -> Path:
    return artifacts.binary(name).with_name(f"{name}.engine.json")


# What stays on the engine once built there: kubelet and kubeadm go into the
# nodes (reup) and into the node image (tasks/node/image_engine.py) from the
# build's volume, and kubeadm's image list is asked in the build container.
# kubectl comes here too: this machine runs it (the copy beside admin.conf).
STAYS = ("kubelet", "kubeadm")


def stays_on_engine(name: str) -> bool:
    return name in STAYS


def build_binary(artifacts, name: str, tree: Path) -> None:
    """`kubernetes:<name>` with source.buildIn engine: built on the engine, its
    receipt here, and the binary itself only when something here needs it."""
    from tasks.engine import Engine
    from tasks.objects import Objects

    objects = Objects(Engine.connect(), "")
    log_file = artifacts.log(f"engine-{name}")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as out:
        receipt = build(objects, tree, artifacts.version, {name: f"cmd/{name}"}, lambda line: out.write(line + "\n"))[
            name
        ]
    if artifacts.version not in receipt.version:
        raise UserError(f"{name} built on the engine reports {receipt.version!r}, not {artifacts.version}")
    receipt.write(receipt_path(artifacts, name))
    if stays_on_engine(name):
        log.info("%s stays on the engine: the nodes and the node image get it from there", name)
        return
    fetch(objects, container_name(tree), receipt, artifacts.binary(name))


def list_images(artifacts, tree: Path) -> None:
    """The image list of a kubeadm built on the engine, asked there (it stays there)."""
    from tasks.engine import Engine
    from tasks.objects import Objects

    objects = Objects(Engine.connect(), "")
    receipt = Receipt.read(receipt_path(artifacts, "kubeadm"))
    ensure_image(objects.engine)
    container = ensure_container(objects, tree)
    argv = [receipt.path, "config", "images", "list", "--kubernetes-version", artifacts.version, "-o", "json"]
    result = objects.exec(container, argv)
    if result.exit_code != 0:
        raise EngineError(f"kubeadm in {container} gave no image list: {result.output.strip()[-300:]}")
    try:
        # stdout and stderr come as one stream: the JSON object is read out of it
        listed, _ = json.JSONDecoder().raw_decode(result.output, result.output.index("{"))
    except ValueError:
        raise EngineError(f"kubeadm in {container} gave no image list: {result.output.strip()[-300:]}") from None
    artifacts.image_list.write_text(json.dumps(listed, indent=2) + "\n")


def fetch(objects, container: str, receipt: Receipt, target: Path) -> None:
    """The built binary to TARGET here, unless TARGET is it already."""
    from tasks.build.oci import sha256_file
    from tasks.paths import replacing

    if target.exists() and sha256_file(target) == receipt.sha256:
        return
    data = objects.get_file(container, receipt.path)
    if hashlib.sha256(data).hexdigest() != receipt.sha256:
        raise EngineError(f"{receipt.path} in {container} changed while it was fetched: build again")
    with replacing(target) as partial:
        partial.write_bytes(data)
        partial.chmod(0o755)


def remove_all(engine) -> list[str]:
    """`clean --all`: every build container, its tree's volume, the cache volume and the build image."""
    api, removed = engine.client.api, engine.remove_containers(ROLES["container"])
    for role in ("source", "cache"):
        for volume in api.volumes(filters={"label": f"{LABEL_ROLE}={ROLES[role]}"}).get("Volumes") or []:
            api.remove_volume(volume["Name"])
            removed.append(f"volume {volume['Name']}")
    return removed
