"""The node image: a Debian base with systemd and containerd (made by
mmdebstrap), plus the chosen Kubernetes binaries and its images preloaded.

Written as an archive by our own code and loaded into the engine through its
API, so no registry and no `docker build` are involved, and a remote engine
works the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from docker.errors import DockerException

from tasks.build import containerd, debian, oci
from tasks.build import engine as engine_build
from tasks.build.artifacts import ArtifactSet, binary_source
from tasks.console import CONSOLE, byte_progress
from tasks.engine import Engine
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir
from tasks.settings import Settings

NODE_DIR = IMAGES_DIR / "node"
CUSTOMIZE_HOOK = NODE_DIR / "customize-hook.sh"
# containerd 2.1, runc and the CNI plugins come from forky (Kubernetes 1.34
# and 1.35 want containerd 1.7.28+ or 2.x; trixie has 1.7.24), systemd from
# trixie: forky's systemd (258+) refuses to boot on cgroup v1 hosts. Where
# Kubernetes wants a newer containerd than forky's, the node image has it in a
# layer of its own over the base (tasks/build/containerd.py).
CONTAINERD_SUITE = containerd.DEBIAN_SUITE
NODE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "iptables",
    "nftables",
    "iproute2",
    "ca-certificates",
    "procps",
    "kmod",
    "conntrack",
    "ethtool",
    "socat",
    "util-linux",
    "mount",
    "iputils-ping",
    "ipset",
]
FROM_CONTAINERD_SUITE = ["containerd", "runc", "containernetworking-plugins"]
NODE_BINARIES = ("kubeadm", "kubelet", "kubectl", "crictl")
# Images only the master runs; workers leave them out of containerd, which
# keeps their volumes (and snapshots, and restores) a third of the size.
MASTER_ONLY_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
RECIPE = "2"


def base_suite(settings: Settings) -> str:
    return "trixie" if settings.node.debian_suite == "auto" else settings.node.debian_suite


def base_packages(suite: str) -> list[str]:
    if suite == CONTAINERD_SUITE:
        return [*NODE_PACKAGES, *FROM_CONTAINERD_SUITE]
    return [*NODE_PACKAGES, *(f"{name}/{CONTAINERD_SUITE}" for name in FROM_CONTAINERD_SUITE)]


def base_path(suite: str) -> Path:
    return cache_dir() / "debian" / f"node-base-{suite}.tar"


def base_inputs() -> list[Path]:
    """Our files the base is made from: a change to any rebuilds it."""
    return sorted(p for p in NODE_DIR.rglob("*") if p.is_file() and p.name != "containerd.toml")


def build_base(settings: Settings) -> None:
    suite = base_suite(settings)
    extra = () if suite == CONTAINERD_SUITE else (CONTAINERD_SUITE,)
    debian.rootfs(
        suite,
        base_packages(suite),
        base_path(suite),
        f"the node base (Debian {suite})",
        customize_hook=CUSTOMIZE_HOOK,
        extra_suites=extra,
        mirror=settings.node.debian_mirror or None,
    )


def archive_path(artifacts: ArtifactSet) -> Path:
    return artifacts.root / "node-image.tar"


def tag(settings: Settings, artifacts: ArtifactSet) -> str:
    return f"{settings.node.image_repository}:{artifacts.version}"


def engine_binaries(settings: Settings) -> tuple[str, ...]:
    """The node's binaries built on the engine that stay there (source.buildIn
    engine): the archive made here leaves them out, and the engine adds them
    to the image from the build's volume (tasks/node/image_engine.py)."""
    return tuple(
        name
        for name in NODE_BINARIES
        if binary_source(settings, name).kind == "engine" and engine_build.stays_on_engine(name)
    )


def partial_tag(settings: Settings, artifacts: ArtifactSet) -> str:
    """The archive's tag when the engine finishes the image."""
    return f"{tag(settings, artifacts)}-partial"


def archive_tag(settings: Settings, artifacts: ArtifactSet) -> str:
    """The tag the archive made here carries (and `load` puts into the engine)."""
    return partial_tag(settings, artifacts) if engine_binaries(settings) else tag(settings, artifacts)


def described_path(artifacts: ArtifactSet, partial: bool = False) -> Path:
    """{"id", "tag"} of the node image (or of the partial one the archive holds)."""
    return artifacts.root / ("node-image-partial.json" if partial else "node-image.json")


def build_archive(settings: Settings, artifacts: ArtifactSet) -> None:
    runtime = containerd.for_kubernetes(artifacts.version)
    pause = artifacts.images()["pause"]
    config_toml = Template((NODE_DIR / "containerd.toml").read_text()).substitute(pause_image=pause)
    on_engine = engine_binaries(settings)
    files = [
        *(
            oci.FileEntry(f"usr/bin/{name}", source=artifacts.binary(name), mode=0o755)
            for name in NODE_BINARIES
            if name not in on_engine
        ),
        oci.FileEntry("etc/containerd/config.toml", data=config_toml.encode()),
        oci.FileEntry("etc/kubeadm-local-cluster/version", data=f"{artifacts.version}\n".encode()),
    ]
    images = tuple(
        oci.FileEntry(f"opt/kubeadm-local-cluster/images/{_image_role(archive)}/{archive.name}", source=archive)
        for archive in sorted((artifacts.root / "images").glob("*.tar"))
    )
    config = oci.ImageConfig(
        entrypoint=("/usr/local/bin/entrypoint",),
        env=("container=docker", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        stop_signal="SIGRTMIN+3",  # systemd's way to shut down cleanly
        labels={
            "io.kubeadm-local-cluster.role": "node-image",
            "io.kubeadm-local-cluster.kubernetes-version": artifacts.version,
            "io.kubeadm-local-cluster.debian-suite": base_suite(settings),
            **runtime_labels(runtime),
        },
    )
    # A built containerd and runc: a layer of their own, over Debian's files,
    # the same for every Kubernetes version that runs them (the engine keeps it once).
    built = [oci.Layer(files=containerd.node_files(runtime))] if runtime.built else []
    named = archive_tag(settings, artifacts)
    image_id = oci.write_image(
        archive_path(artifacts),
        [named],
        [
            oci.Layer(tar=base_path(base_suite(settings))),
            *built,
            oci.Layer(files=tuple(files)),
            oci.Layer(files=images),
        ],
        config,
    )
    described_path(artifacts, partial=bool(on_engine)).write_text(json.dumps({"id": image_id, "tag": named}) + "\n")


def runtime_labels(runtime: containerd.Runtime) -> dict[str, str]:
    """Labels naming a built containerd and runc (Debian's left the image as it was)."""
    if not runtime.built:
        return {}
    return {
        "io.kubeadm-local-cluster.containerd-version": runtime.containerd,
        "io.kubeadm-local-cluster.runc-version": runtime.runc or f"{runtime.runc_version} (Debian)",
    }


def runtime_inputs(artifacts: ArtifactSet) -> list[Path]:
    """The built containerd and runc this version's node image holds (none: Debian's)."""
    runtime = containerd.for_kubernetes(artifacts.version)
    return [entry.source for entry in containerd.node_files(runtime) if entry.source is not None]


def _image_role(archive: Path) -> str:
    return "master" if archive.stem in MASTER_ONLY_IMAGES else "all"


def described(artifacts: ArtifactSet, partial: bool = False) -> dict:
    try:
        return json.loads(described_path(artifacts, partial).read_text())
    except (OSError, ValueError):
        return {}


def expected_id(artifacts: ArtifactSet) -> str | None:
    return described(artifacts).get("id")


def loaded(settings: Settings, artifacts: ArtifactSet, partial: bool = False) -> bool:
    """uptodate: does the engine hold exactly the image this archive (or the engine's step) made?"""
    try:
        engine = Engine.connect(timeout=10)
        expected = described(artifacts, partial).get("id")
        named = partial_tag(settings, artifacts) if partial else tag(settings, artifacts)
        return expected is not None and engine.image_id(named) == expected
    except (UserError, DockerException, OSError):  # an uptodate check must not abort the run: redo the step
        return False


def load(settings: Settings, artifacts: ArtifactSet) -> None:
    # A rebuilt image takes the tag from the one before, which would stay behind
    # untagged (a gigabyte a build); it goes unless a container or snapshot uses it.
    engine = Engine.connect()
    named = archive_tag(settings, artifacts)
    before = engine.image_id(named)
    engine.load_image(archive_path(artifacts), load_progress)
    if before is not None and engine.image_id(named) != before:
        engine.drop_if_unused(before)


def load_progress(sent: int, total: int) -> None:
    # The engine unpacks the layers once it has the whole archive: that takes a while more.
    if sent < total:
        CONSOLE.progress(byte_progress(sent, total))
    else:
        CONSOLE.progress(f"{total / 1e6:.0f} MB sent, the engine is loading it")
