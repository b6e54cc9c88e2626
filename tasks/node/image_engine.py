"""The node image finished on the engine (source.buildIn engine, #13): the
archive made here holds everything but the binaries built on the engine; a
helper from that partial image copies them in from the build's volume, and
the engine commits it under the node image's tag. The binaries never cross to
this machine, and a tree edit sends nothing but the edit: the partial image
stays loaded and only the last layer (the binaries) is made again."""

from __future__ import annotations

import contextlib
import json
import shlex
from pathlib import Path

from docker.errors import APIError, NotFound

from tasks.build import engine as engine_build
from tasks.build.artifacts import ArtifactSet
from tasks.console import log
from tasks.engine import LABEL, LABEL_ROLE, Engine, EngineError, _short
from tasks.node import image as node_image
from tasks.settings import Settings

MOUNT = "/mnt"  # in every Debian base already: the bind leaves no trace in the committed layer
LABEL_BINARIES = f"{LABEL}.engine-binaries"


def receipts(settings: Settings, artifacts: ArtifactSet) -> list[engine_build.Receipt]:
    return [
        engine_build.Receipt.read(engine_build.receipt_path(artifacts, name))
        for name in node_image.engine_binaries(settings)
    ]


def made_from(settings: Settings, artifacts: ArtifactSet) -> dict | None:
    """What the finished image is to be made of: the partial image and the
    binaries' digests (None while either is missing, as during a reup whose
    node image waits for the next `up`)."""
    partial = node_image.described(artifacts, partial=True).get("id")
    try:
        built = receipts(settings, artifacts)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"partial": partial, "binaries": {r.name: r.sha256 for r in built}} if partial else None


def finished(settings: Settings, artifacts: ArtifactSet) -> bool:
    """uptodate: the engine holds the image finished from this partial image and these binaries."""
    wanted = made_from(settings, artifacts)
    said = node_image.described(artifacts)
    return (
        wanted is not None
        and {"partial": said.get("partial"), "binaries": said.get("binaries")} == wanted
        and node_image.loaded(settings, artifacts)
    )


def script(built: list[engine_build.Receipt]) -> str:
    return " && ".join(
        f"install -m 0755 {shlex.quote(receipt.path.replace(engine_build.SOURCE, MOUNT, 1))} /usr/bin/{receipt.name}"
        for receipt in built
    )


def commit_config(partial: dict, built: list[engine_build.Receipt]) -> dict:
    """The finished image's configuration: the partial image's, with the
    binaries it holds named (the engine would otherwise keep the helper's
    entrypoint)."""
    labels = dict(partial.get("Labels") or {})
    labels[LABEL_BINARIES] = " ".join(f"{r.name}={r.sha256}" for r in built)
    return {
        "Entrypoint": partial.get("Entrypoint"),
        "Cmd": partial.get("Cmd"),
        "Env": partial.get("Env"),
        "StopSignal": partial.get("StopSignal"),
        "Labels": labels,
    }


def finish(settings: Settings, artifacts: ArtifactSet) -> None:
    """node-image-engine: the binaries built on the engine into the node image there."""
    engine = Engine.connect()
    api = engine.client.api
    built = receipts(settings, artifacts)
    partial_tag = node_image.partial_tag(settings, artifacts)
    final_tag = node_image.tag(settings, artifacts)
    volume = f"{engine_build.container_name(Path(settings.source.k8s_dir))}-source"
    try:
        partial = api.inspect_image(partial_tag)["Config"]
    except NotFound:
        raise EngineError(f"the engine lost {partial_tag}: run `up` again to load it") from None
    try:
        api.inspect_volume(volume)
    except NotFound:
        raise EngineError(f"the engine lost the build's volume {volume}: run `up` again to build there") from None
    helper = f"{volume}-node-image"
    with contextlib.suppress(NotFound):
        api.remove_container(helper, force=True)
    before = engine.image_id(final_tag)
    try:
        api.create_container(
            partial_tag,
            name=helper,
            entrypoint=["sh", "-ec", script(built)],
            labels={LABEL_ROLE: "copy"},
            host_config=engine.host_config(binds={volume: {"bind": MOUNT, "mode": "ro"}}, network_mode="none"),
        )
        api.start(helper)
        code = int(api.wait(helper, timeout=300).get("StatusCode", 1))
        if code != 0:
            said = api.logs(helper, tail=5).decode(errors="replace").strip()
            raise EngineError(f"cannot put the engine's binaries into the node image: {said}")
        repository, _, tag = final_tag.rpartition(":")
        image_id = api.commit(helper, repository=repository, tag=tag, conf=commit_config(partial, built))["Id"]
    except APIError as err:
        raise EngineError(f"cannot finish the node image on the engine: {_short(str(err))}") from None
    finally:
        with contextlib.suppress(NotFound, APIError):
            api.remove_container(helper, force=True)
    described = {"id": image_id, "tag": final_tag, **(made_from(settings, artifacts) or {})}
    node_image.described_path(artifacts).write_text(json.dumps(described) + "\n")
    log.info("%s made on the engine with %s from the build there", final_tag, ", ".join(r.name for r in built))
    if before is not None and before != image_id:
        engine.drop_if_unused(before)
