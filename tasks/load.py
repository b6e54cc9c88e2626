"""`load`: images of the Docker engine, or of a `docker save` archive, into
the nodes' containerd, so pods run them with nothing pulled (what kind's
`kind load docker-image` and `kind load image-archive` do).

An image leaves the engine once, into an anonymous temporary file (it has no
name on disk and is gone when the run ends, however it ends), and goes from
there to every node that lacks it at once, through the engine's archive API:
a remote engine works the same, and no copy is left here or in a node. A node
that holds the image ID under the image's name is skipped.

Names are containerd's: Docker's short names made whole (`app:1` is
`docker.io/library/app:1`), which is what `ctr images import` names a
`docker save` archive's tags and what the kubelet asks containerd for when a
pod says `image: app:1`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tasks import parallel
from tasks.cluster import NodeCommands
from tasks.console import CONSOLE, byte_progress
from tasks.container_io import Blob
from tasks.engine import Engine
from tasks.errors import UserError
from tasks.naming import Names
from tasks.objects import Objects
from tasks.reup import import_archive

DOCKER_HUB = "docker.io"
IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{6,64}")


@dataclass(frozen=True)
class Image:
    name: str  # as containerd knows it: docker.io/library/app:1
    image_id: str  # sha256:<digest of its config>, the same in the engine and in containerd


@dataclass
class Source:
    """What is imported in one go: an image of the engine, or an archive, and
    the images it holds."""

    shown: str  # as the user named it: app:1, or the archive's path
    images: tuple[Image, ...]
    blob: Blob | None = None  # the archive's bytes; an engine image's only once a node needs it
    size: int = 0  # an engine image's size as the engine reports it (for the progress of its save)


def containerd_name(ref: str) -> str:
    """Docker's normalisation (distribution/reference's ParseNormalizedNamed,
    then TagNameOnly): a first part without a dot or colon, other than
    localhost, is no registry; Docker Hub's one-part names are under library/;
    no tag means latest."""
    first, slash, rest = ref.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost" and first == first.lower()):
        domain, remainder = DOCKER_HUB, ref
    else:
        domain, remainder = ("docker.io" if first == "index.docker.io" else first), rest
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    if "@" not in remainder and ":" not in remainder.rsplit("/", 1)[-1]:
        remainder += ":latest"
    return f"{domain}/{remainder}"


def missing(images: Iterable[Image], held: dict[str, str]) -> list[Image]:
    """The images a node lacks: not under that name, or under it with another ID."""
    return [image for image in images if held.get(image.name) != image.image_id]


def choose_nodes(cluster: str, found: dict[str, str], wanted: str) -> list[str]:
    """The nodes to load into, master first: all of found ({name: state}), or
    those --nodes names, by container name or short name (kube-node-1)."""
    names = Names(cluster)
    if not found:
        raise UserError(f"cluster {cluster} has no nodes on this engine: `local-cluster up` makes it")
    chosen = sorted(found, key=lambda name: (name != names.master, len(name), name))
    if wanted:
        asked = [part.strip() for part in wanted.split(",") if part.strip()]
        if not asked:
            raise UserError("--nodes names no node: give node names, comma-separated (kube-master, kube-node-1)")
        unknown = [name for name in asked if name not in found and f"{name}{names.suffix}" not in found]
        if unknown:
            raise UserError(f"no node {', '.join(unknown)} in cluster {cluster}: its nodes are {', '.join(chosen)}")
        full = {name if name in found else f"{name}{names.suffix}" for name in asked}
        chosen = [name for name in chosen if name in full]
    stopped = [name for name in chosen if found[name] != "running"]
    if stopped:
        states = ", ".join(f"{name} is {found[name]}" for name in stopped)
        raise UserError(f"the cluster is not up ({states}): `local-cluster up` starts it")
    return chosen


def archive_images(file, shown: str) -> tuple[Image, ...]:
    """The images a `docker save` archive holds (manifest.json), by containerd's names."""
    try:
        file.seek(0)
        with tarfile.open(fileobj=file) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member else None
    except (tarfile.TarError, KeyError, ValueError, OSError):
        manifest = None
    if not isinstance(manifest, list) or not manifest:
        raise UserError(f"{shown} is not an archive made by `docker save` (it has no manifest.json)")
    images = []
    for entry in manifest:
        image_id = "sha256:" + entry["Config"].rsplit("/", 1)[-1].removesuffix(".json")
        if not entry.get("RepoTags"):
            raise UserError(f"{shown} holds an image without a name ({image_id[:19]}): `docker save` it by name")
        images += [Image(containerd_name(tag), image_id) for tag in entry["RepoTags"]]
    return tuple(images)


def engine_sources(engine: Engine, refs: list[str]) -> list[Source]:
    """Each image asked for, by its ID in the engine; all of them there, or one line naming the missing."""
    sources, absent = [], []
    for ref in refs:
        if "@" in ref:
            raise UserError(f"{ref}: load images by name (REPOSITORY[:TAG]); a digest names no tag for the nodes")
        summary = engine.image_summary(ref)
        if summary is None:
            absent.append(ref)
        elif IMAGE_ID.fullmatch(ref) and summary[0].removeprefix("sha256:").startswith(ref.removeprefix("sha256:")):
            raise UserError(f"{ref} is an image ID: load images by name (`docker tag {ref} app:1`, then load app:1)")
        else:
            sources.append(Source(ref, (Image(containerd_name(ref), summary[0]),), size=summary[1]))
    if absent:
        one = len(absent) == 1
        which = f"image {absent[0]} is" if one else f"images {', '.join(absent)} are"
        it = "it" if one else "them"
        raise UserError(
            f"{which} not in the Docker engine at {engine.facts().host}: "
            f"build {it} or pull {it} first (`docker images` lists what it has)"
        )
    return sources


def spool(engine: Engine, ref: str, expected: int, spooled, progress: Callable[[str], None]) -> Blob:
    """ref (about EXPECTED bytes) saved by the engine into spooled (an anonymous temporary file)."""
    size = 0
    for chunk in engine.save_stream(ref):
        spooled.write(chunk)
        size += len(chunk)
        progress(f"{ref} from the engine: {byte_progress(size, max(size, expected))}")
    spooled.flush()
    return Blob(spooled, size)


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[Source]:
    if not path.is_file():
        raise UserError(f"archive {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below; only opening it is a user's error)
    except OSError as err:
        raise UserError(f"cannot read archive {path}: {err.strerror}") from None
    with file:
        blob = Blob(file, os.fstat(file.fileno()).st_size)
        yield Source(str(path), archive_images(file, str(path)), blob)


def load(objects: Objects, refs: list[str], archive: str, wanted_nodes: str) -> list[str]:
    """The images into the nodes, everything checked first; a line per image
    (or archive) saying which nodes got it and which had it already."""
    refs = list(dict.fromkeys(refs))
    if not refs and not archive:
        raise UserError("load needs IMAGE... or --archive FILE.tar, e.g. `local-cluster load app:1`")
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(open_archive(Path(archive).expanduser()))] if archive else []
        sources += engine_sources(objects.engine, refs)
        nodes = choose_nodes(objects.cluster, {c.name: c.status for c in objects.nodes()}, wanted_nodes)
        commands = NodeCommands(objects)
        held = dict(zip(nodes, parallel.each(commands.image_ids, nodes), strict=True))
        return [load_source(objects.engine, commands, source, nodes, held) for source in sources]


def load_source(engine: Engine, commands: NodeCommands, source: Source, nodes: list[str], held: dict) -> str:
    needing = [node for node in nodes if missing(source.images, held[node])]
    with contextlib.ExitStack() as stack:
        if needing and source.blob is None:
            spooled = stack.enter_context(tempfile.TemporaryFile())
            source.blob = spool(engine, source.shown, source.size, spooled, CONSOLE.progress)
            # The engine's image ID is its config's digest, except with Docker's
            # containerd image store, where it is the manifest's or index's:
            # what the nodes will hold is the config digest the archive names.
            source.images = archive_images(spooled, source.shown)
            needing = [node for node in nodes if missing(source.images, held[node])]
        blob, what = source.blob, f"importing {source.shown}"
        parallel.each(lambda node: import_archive(commands, node, blob, what), needing, doing="loading into")
    # What a pod will ask for must be there: a name or platform containerd saw
    # otherwise is one line now, not an ErrImageNeverPull later.
    for node, now in zip(needing, parallel.each(commands.image_ids, needing), strict=True):
        lacking = missing(source.images, now)
        if lacking:
            raise UserError(f"{node} imported {source.shown} but lacks {lacking[0].name} ({lacking[0].image_id})")
    return report(source, needing, [node for node in nodes if node not in needing])


def report(source: Source, loaded: list[str], present: list[str]) -> str:
    ids = {image.image_id for image in source.images}
    detail = ", ".join(image.name for image in source.images)
    detail += f", image {ids.pop().removeprefix('sha256:')[:12]}" if len(ids) == 1 else ""
    said = [f"loaded into {', '.join(loaded)}"] if loaded else []
    said += [f"already in {', '.join(present)}"] if present else []
    return f"{source.shown}: {'; '.join(said)} ({detail})"
