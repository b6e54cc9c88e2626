"""mmdebstrap on the engine, for a client without it (#13 item 5): a container
of the stage 0 image (tasks/build/stage0.py) runs it with the same arguments
as here, the hooks put in beside the files they use, and the tar it makes
comes back through the engine's archive API into the cache here, where the
image archives are made. The container runs in the nodes' mode (mmdebstrap
--mode=root mounts /proc and /dev in the tree it makes; `--privileged` is
refused on some hosts, the explicit-capabilities mode is enough) and is
removed whatever happens."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from docker.errors import APIError, NotFound

from tasks.build import stage0
from tasks.commands import CommandLog
from tasks.container_io import tar_of_directories
from tasks.engine import LABEL_ROLE, NODE_MODES, EngineError, _short

HOOKS = "/stage0/hooks"
OUT_DIR = "/stage0/out"
OUTPUT_IN_CONTAINER = f"{OUT_DIR}/rootfs.tar"
DEADLINE = 1800  # the node base takes about a minute; a slow mirror, some more
CHUNK = 1 << 20


def _hooks_archive(hooks: list[Path]) -> bytes:
    """Each hook's directory (a hook may use files beside it), under HOOKS/<i>/."""
    return tar_of_directories({f"{number}": hook.parent for number, hook in enumerate(hooks)}, root_owned=True)


def hook_paths(hooks: list[Path]) -> dict[Path, str]:
    """Where each hook is in the stage 0 container."""
    return {hook: f"{HOOKS}/{number}/{hook.name}" for number, hook in enumerate(hooks)}


class _Chunks(io.RawIOBase):
    """An iterator of byte chunks read as a file (the engine's archive stream)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size], self._rest = self._rest[:size], self._rest[size:]
        return size


def run_mmdebstrap(args: list[str], hooks: list[Path], output: Path, log_file: Path, what: str, mirror: str) -> float:
    """mmdebstrap ARGS in a container on the engine; its tar (written by
    mmdebstrap at OUTPUT_IN_CONTAINER) streamed into OUTPUT. The container
    is removed whatever happens."""
    from tasks.engine import Engine
    from tasks.objects import Objects

    started = time.monotonic()
    engine = Engine.connect()
    objects = Objects(engine, "")
    image = stage0.ensure_image(engine, mirror)
    mode = objects.node_mode()  # mmdebstrap --mode=root mounts /proc and /dev in the tree it makes
    name = f"kubeadm-local-cluster-stage0-{os.getpid()}"
    api = engine.client.api
    try:
        api.create_container(
            image,
            name=name,
            entrypoint=["sleep", "infinity"],
            labels={LABEL_ROLE: stage0.ROLE},
            host_config=engine.host_config(init=True, **NODE_MODES[mode]),
        )
        objects.start_container(name)
        objects.exec(name, ["mkdir", "-p", HOOKS, OUT_DIR])
        if hooks:
            objects.put_archive(name, HOOKS, io.BytesIO(_hooks_archive(hooks)))
        argv = ["mmdebstrap", "--mode=root", *args]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "w", encoding="utf-8") as out:
            out.write(f"$ {shlex.join(argv)}  (on the engine, in {image})\n")
            said = CommandLog(out)
            # ldconfig first: no maintainer script made ld.so.cache in stage 0.
            script = f"ldconfig && exec {shlex.join(argv)}"
            done = objects.exec(name, ["sh", "-c", script], lambda line: said.write(line + "\n"), deadline=DEADLINE)
            if done.exit_code != 0:
                raise said.failure(log_file, what, done.exit_code)
        try:
            stream, _ = api.get_archive(name, OUTPUT_IN_CONTAINER)
        except APIError as err:
            raise EngineError(f"{what}: cannot read {OUTPUT_IN_CONTAINER} from {name}: {_short(str(err))}") from None
        with tarfile.open(fileobj=io.BufferedReader(_Chunks(iter(stream)), CHUNK), mode="r|") as tar:
            member = tar.next()
            source = tar.extractfile(member) if member else None
            if source is None:
                raise EngineError(f"{what}: {OUTPUT_IN_CONTAINER} in {name} is not a file")
            with open(output, "wb") as target:
                shutil.copyfileobj(source, target, CHUNK)
    finally:
        with contextlib.suppress(NotFound, APIError):
            api.remove_container(name, force=True)
    return time.monotonic() - started


def remove_all(engine) -> list[str]:
    """`clean --all`: stage 0 containers a killed run left (the image goes with the shared images)."""
    return engine.remove_containers(stage0.ROLE)
