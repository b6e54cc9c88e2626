"""The local registry (cluster.registry) and registry mirrors
(cluster.registryMirrors), opt-in.

The registry is upstream's (github.com/distribution/distribution/v3), built
here from Go modules (images/registry/main.go: the filesystem storage driver,
not the cloud ones) into an image of ours FROM scratch, and run as a container
of the cluster's on its network, named Names.registry, its data on the volume
Names.registry_volume (labelled: `down` keeps it, `clean` removes it). It is
published on 127.0.0.1:<cluster.registryPort> of the engine host, so
`docker push localhost:<port>/app` works without any daemon setting (the
engine trusts plain HTTP on loopback).

The nodes pull `localhost:<port>/...` from it through containerd's hosts
directory: every node gets a drop-in (images/registry/containerd-registries.toml)
setting the CRI's registry config_path when it is created, and at each `up`
the step `node-registries` writes /etc/containerd/certs.d/<host>/hosts.toml
for the registry and each mirror. containerd reads those files at each pull,
so turning the registry or a mirror on or off needs neither new nodes nor a
containerd restart: they are not in the node settings' hash (NODE_SETTINGS),
and a restored snapshot is rewritten to the current settings by that step.

Layout: ~/.kubeadm-local-cluster/cache/registry/<version>/
    module/      wrapper module (config/gomod/registry.go.mod) and our main.go
    bin/registry
    image.tar    the image, tagged IMAGE
"""

from __future__ import annotations

import ipaddress
import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from string import Template

from docker.errors import DockerException
from doit.tools import config_changed

from tasks import parallel
from tasks.build import gobuild, oci, platforms, run_built
from tasks.console import log
from tasks.engine import LABEL, LABEL_ROLE, Engine
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir, logs_dir

VERSION = "v3.1.2"  # the newest v3 release the Go module proxy serves
MODULE = "github.com/distribution/distribution/v3"
IMAGE = "kubeadm-local-cluster/registry:" + VERSION
# Changing how the image is made (a flag, a file, the config) bumps this.
RECIPE = "1"
TASK = "registry-image"  # doit: registry-image:registry, registry-image:image, registry-image-load
IMAGE_ROLE = "registry-image"  # shared by every cluster: `clean --all` removes it
ROLE, DATA_ROLE = "registry", "registry-data"

FILES = IMAGES_DIR / "registry"
CONFIG = FILES / "config.yml"
HOSTS_TEMPLATE = FILES / "hosts.toml"
DROP_IN = FILES / "containerd-registries.toml"
CONFIG_IN_IMAGE = "/etc/distribution/config.yml"  # where upstream's image has it
DATA_DIR = "/var/lib/registry"
PORT = 5000  # the registry's own port, on the cluster's network
ADDRESS = "127.0.0.1"  # published on loopback only: no authentication
# On the nodes: the hosts directory the drop-in names, and where the drop-in goes.
HOSTS_DIR = "/etc/containerd/certs.d"
DROP_IN_DIR = "/etc/containerd/conf.d"
# containerd's own name for Docker Hub's API host (it maps docker.io to it).
UPSTREAMS = {"docker.io": "https://registry-1.docker.io"}


def root() -> Path:
    return cache_dir() / "registry" / VERSION


def binary() -> Path:
    return root() / "bin" / "registry"


def archive() -> Path:
    return root() / "image.tar"


def _log(what: str) -> Path:
    return logs_dir() / f"registry-{VERSION}-{what}.log"


# ---------------------------------------------------------------- building


def build_registry() -> None:
    module_dir = root() / "module"
    facts = gobuild.module_facts(MODULE, VERSION, cache_dir())
    go = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    values = {"version": VERSION, "go": go}
    gobuild.write_module(module_dir, "registry.go.mod", values, {"main.go": gobuild.our_source("registry")})
    what = f"the registry {VERSION}"
    gobuild.tidy(module_dir, _log("module"), what)
    # upstream's Dockerfile: static, -trimpath, its version stamps.
    stamps = " ".join(
        f"-X {MODULE}/version.{key}={value}" for key, value in (("version", VERSION), ("mainpkg", MODULE))
    )
    gobuild.build(module_dir, ".", binary(), _log("build"), what, ldflags=f"-s -w {stamps}")
    said = _version_of(binary())
    if said != VERSION:
        raise UserError(f"the registry built reports {said!r}, not {VERSION}")


def _version_of(program: Path) -> str:
    """The last word of `registry --version` ("registry <module> <version>")."""
    done = run_built.run(program, ["--version"])
    words = done.stdout.split()
    return words[-1] if done.code == 0 and words else done.stderr.strip()[-200:]


def build_image() -> None:
    """FROM scratch: /tmp and users (oci.minimal_root), the static binary and
    our config where upstream's image has them, an empty data directory."""
    files = (
        oci.FileEntry("bin/registry", source=binary(), mode=0o755),
        oci.FileEntry(CONFIG_IN_IMAGE.lstrip("/"), source=CONFIG),
    )
    config = oci.ImageConfig(
        entrypoint=("/bin/registry",),
        cmd=("serve", CONFIG_IN_IMAGE),
        # As upstream's image: no OpenTelemetry exporter to dial.
        env=("PATH=/bin", "OTEL_TRACES_EXPORTER=none"),
        labels={
            LABEL_ROLE: IMAGE_ROLE,
            f"{LABEL}.built-from": "source",
            f"{LABEL}.recipe": RECIPE,
        },
    )
    layers = [oci.minimal_root(), oci.Layer(files=files, directories=((DATA_DIR.lstrip("/"), 0o755),))]
    oci.write_image(archive(), [IMAGE], layers, config, gobuild.go_env()["GOARCH"])


def loaded() -> bool:
    """uptodate: does the engine hold exactly the image the archive makes?"""
    try:
        return Engine.connect(timeout=10).image_id(IMAGE) == oci.read_image_id(archive())
    except (UserError, DockerException, OSError, ValueError, KeyError):  # must not abort the run: redo the step
        return False


def load() -> None:
    from tasks.node.image import load_progress

    Engine.connect().load_image(archive(), load_progress)


def task_dicts() -> list[dict]:
    """doit tasks, in order: the binary, the image, the image into the engine."""
    from tasks.taskkit import step  # here: taskkit imports the cluster modules

    state = {"recipe": RECIPE, "version": VERSION, **platforms.cache_key()}
    return [
        {
            "basename": TASK,
            "name": "registry",
            "doc": f"the registry ({MODULE} {VERSION})",
            "actions": [step(build_registry)],
            "file_dep": [str(gobuild.TEMPLATES / "registry.go.mod"), str(gobuild.our_source("registry"))],
            "targets": [str(binary())],
            "uptodate": [config_changed(state)],
            "meta": {"title": f"registry {VERSION} from Go modules"},
        },
        {
            "basename": TASK,
            "name": "image",
            "doc": f"the image {IMAGE}",
            "actions": [step(build_image)],
            "file_dep": [str(binary()), str(CONFIG)],
            "targets": [str(archive())],
            "uptodate": [config_changed({**state, "image": IMAGE})],
            "meta": {"title": f"registry image {VERSION}"},
        },
        {
            "basename": f"{TASK}-load",
            "doc": f"the image {IMAGE} in the engine",
            "actions": [step(load)],
            "task_dep": [TASK],
            "uptodate": [loaded],
            "meta": {"title": "registry image into the engine"},
        },
    ]


# ---------------------------------------------------------------- the registry container


def ensure(cluster) -> None:
    """The step `registry`: with cluster.registry, our registry container runs
    on the cluster's network, published as asked, from the image loaded now
    (made afresh when any of that changed or it stopped: it keeps nothing
    outside its volume); without it, a registry of ours is removed, its data
    kept. A same-named container or volume that is not ours is a clash."""
    objects, names = cluster.objects, cluster.names
    settings = cluster.settings.cluster
    if not settings.registry:
        for container in objects.containers(role=ROLE):
            objects.remove_container(container.name)
            log.info(
                "registry %s removed (cluster.registry is off); its data %s is kept",
                container.name,
                names.registry_volume,
            )
        return
    image_id = cluster.engine.image_id(IMAGE)
    if image_id is None:
        raise UserError(f"the engine has no {IMAGE}: `local-cluster up` loads it (was it removed meanwhile?)")
    wanted = f"{image_id} {ADDRESS}:{settings.registry_port} {names.network} {network_address(cluster)}"
    attrs = objects.our_container(names.registry)
    if attrs is not None:
        labels = attrs.get("Config", {}).get("Labels") or {}
        if labels.get(f"{LABEL}.config") == wanted and attrs["State"].get("Running"):
            return
        objects.remove_container(names.registry)
    made = objects.ensure_volume(names.registry_volume, objects.labels(role=DATA_ROLE))
    try:
        objects.create_service(
            names.registry,
            IMAGE,
            names.network,
            objects.labels(role=ROLE, config=wanted),
            network_address(cluster),
            {names.registry_volume: DATA_DIR},
            (ADDRESS, settings.registry_port, PORT),
            "choose another with --registry-port (0 picks a free one)",
        )
        _check_running(objects, names.registry)
    except UserError:
        if made:  # nothing half-made: an empty volume of a registry that never ran goes too
            objects.remove_container(names.registry)
            objects.remove_volume(names.registry_volume)
        raise


def network_address(cluster) -> str:
    """The registry's address on the cluster's network: the last one, clear
    of the nodes' (.2 up), whatever the number of nodes (settings leave room)."""
    return str(ipaddress.ip_network(cluster.settings.dind.subnet).broadcast_address - 1)


def _check_running(objects, name: str, seconds: float = 2.0) -> None:
    """A registry that cannot read its config or data stops at once: say why."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        attrs = objects.our_container(name)
        if not (attrs or {}).get("State", {}).get("Running"):
            output = objects.container_logs(name, tail=5).strip()
            raise UserError(f"the registry {name} stopped at its start: {output[-300:] or 'no output'}")
        time.sleep(0.25)


def address(objects, names) -> str | None:
    """localhost:<port> of our running registry (the port the engine published), or None."""
    try:
        attrs = objects.our_container(names.registry)
    except UserError:
        return None
    if not attrs or not attrs["State"].get("Running"):
        return None
    port = host_port(attrs)
    return f"localhost:{port}" if port else None


def host_port(attrs: dict) -> int | None:
    """The host port the engine published a registry container's PORT on
    (from its inspect), or None."""
    bindings = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{PORT}/tcp") or []
    return next((int(b["HostPort"]) for b in bindings if b.get("HostPort")), None)


# ---------------------------------------------------------------- the nodes


def drop_in() -> dict[str, dict[str, bytes]]:
    """What every node gets when it is created, before containerd starts:
    {directory: {file: contents}} (tasks.node.containers.start_nodes)."""
    return {DROP_IN_DIR: {DROP_IN.name: DROP_IN.read_bytes()}}


def upstream(host: str) -> str:
    return UPSTREAMS.get(host, f"https://{host}")


def hosts_files(
    registry_host: str | None, registry_name: str, registry_address: str, mirrors: Mapping[str, str]
) -> dict[str, str]:
    """{<host>/hosts.toml: contents} for containerd's hosts directory: each
    mirror before its upstream, and the local registry (registry_host, such as
    localhost:5001) reached at its fixed address on the cluster's network (by
    address: no name lookup on the node between a pull and the registry)."""
    template = Template(HOSTS_TEMPLATE.read_text())
    files = {
        f"{host}/hosts.toml": template.substitute(
            what=f"{host} through the mirror {mirror}", server=upstream(host), host=mirror
        )
        for host, mirror in sorted(mirrors.items())
    }
    if registry_host:
        files[f"{registry_host}/hosts.toml"] = template.substitute(
            what=f"the local registry, {registry_name} on the cluster's network",
            server=f"http://{registry_host}",
            host=f"http://{registry_address}:{PORT}",
        )
    return files


def configure_nodes(cluster, mirrors: Mapping[str, str] | None = None) -> None:
    """The step `node-registries`: every node's hosts directory holds exactly
    the files of today's settings (none when neither is set), or of MIRRORS
    instead of cluster.registryMirrors (e2e's test-image mirror). Nodes made
    before the drop-in existed get it, and a containerd restart, when there is
    anything to configure: containerd reads config_path only as it starts."""
    settings = cluster.settings.cluster
    mirrors = settings.registry_mirrors if mirrors is None else mirrors
    registry_host = address(cluster.objects, cluster.names) if settings.registry else None
    if settings.registry and registry_host is None:
        raise UserError(f"the registry {cluster.names.registry} is not running: `local-cluster up` starts it")
    files = hosts_files(registry_host, cluster.names.registry, network_address(cluster), mirrors)
    # One command per node writes them all (this step runs at every `up`).
    script = f"rm -rf {HOSTS_DIR}"
    for path, text in sorted(files.items()):
        target = f"{HOSTS_DIR}/{path}"
        script += f" && mkdir -p {shlex.quote(target.rpartition('/')[0])}"
        script += f" && printf %s {shlex.quote(text)} >{shlex.quote(target)}"
    script += f" && test -e {DROP_IN_DIR}/{DROP_IN.name}"

    def node(spec) -> None:
        result = cluster.objects.exec(spec.name, ["sh", "-c", script], deadline=30)
        if result.exit_code not in (0, 1):
            raise UserError(
                f"cannot write {HOSTS_DIR} on {spec.name} (exit {result.exit_code}): {result.output[-200:]}"
            )
        if files and result.exit_code == 1:
            log.info("%s was made before registries were configurable: restarting its containerd", spec.name)
            for directory, contents in drop_in().items():
                cluster.objects.put_files(spec.name, directory, contents)
            cluster.run(spec.name, ["systemctl", "restart", "containerd"], "restarting containerd")

    parallel.each(node, cluster.nodes, doing="configuring registries on")
