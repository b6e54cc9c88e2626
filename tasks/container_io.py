"""Inside a container: commands with a deadline and their exit code, files in
and out through the engine's archive API (so a remote engine works the same),
and a container run to the end with its output followed."""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docker.errors import APIError, NotFound

from tasks.engine import EngineError, _short

# Every command run in a node has a deadline: a wedged kubeadm or systemctl
# must end in an error, not hang `up` for ever.
EXEC_DEADLINE = 600


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


@dataclass(frozen=True)
class Blob:
    """SIZE bytes of an open file, from its start, to put into containers:
    each reader reads at an offset of its own, so threads can send the same
    bytes to several containers at once (one image to every node)."""

    file: BinaryIO
    size: int

    @classmethod
    @contextlib.contextmanager
    def of_file(cls, path: Path) -> Iterator[Blob]:
        with open(path, "rb") as file:
            yield cls(file, os.fstat(file.fileno()).st_size)

    def reader(self) -> _BlobReader:
        return _BlobReader(self.file, self.size)


class _BlobReader:
    def __init__(self, file: BinaryIO, size: int):
        self.file, self.size, self.offset = file, size, 0  # the file, not its number: it stays open

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.offset
        data = os.pread(self.file.fileno(), left if size < 0 else min(size, left), self.offset)
        self.offset += len(data)
        return data


class TarStream:
    """A tar archive of (name, size, reader) members, made as it is read: an
    HTTP body for the engine's archive API. Its length is known up front, so
    the request has a Content-Length (requests would send it chunked otherwise)."""

    CHUNK = 1 << 20

    def __init__(self, members: list[tuple[str, int, object]], mode: int = 0o644):
        self._parts = self._generate(members, mode)
        self._part, self._offset = b"", 0
        self.total = sum(len(self._header(n, s, mode)) + _padded(s) for n, s, _ in members) + 2 * tarfile.BLOCKSIZE

    def __len__(self) -> int:
        return self.total

    @staticmethod
    def _header(name: str, size: int, mode: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid, info.uname, info.gname = size, mode, 0, 0, "root", "root"
        info.mtime = int(time.time())
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _generate(self, members, mode: int) -> Iterator[bytes]:
        for name, size, reader in members:
            yield self._header(name, size, mode)
            left = size
            while left:
                chunk = reader.read(min(self.CHUNK, left))
                if not chunk:
                    # A file that shrank would make a tar the engine reads wrongly.
                    raise EngineError(f"{name} ended {left} bytes early (changed while being sent?)")
                left -= len(chunk)
                yield chunk
            if _padded(size) > size:
                yield tarfile.NUL * (_padded(size) - size)
        yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # the end-of-archive marker

    def read(self, size: int = -1) -> bytes:
        # Slices of the current part, never a buffer sliced again at each read:
        # HTTP clients read a few kilobytes at a time from megabyte parts.
        pieces = []
        while size != 0:
            if self._offset == len(self._part):
                self._part, self._offset = next(self._parts, None), 0
                if self._part is None:
                    self._part = b""
                    break
            end = len(self._part) if size < 0 else min(len(self._part), self._offset + size)
            pieces.append(self._part[self._offset : end])
            size -= (end - self._offset) if size > 0 else 0
            self._offset = end
        return b"".join(pieces)


def tar_of_directories(directories: dict[str, Path], root_owned: bool = False) -> bytes:
    """An archive of each directory under its name there ({name: directory}),
    for put_archive; ROOT_OWNED: every file root's, whoever owns it here."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, directory in directories.items():
            tar.add(directory, arcname=name, filter=owned_by_root if root_owned else None)
    return buffer.getvalue()


def _padded(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


class ContainerIO:
    """Mixed into Objects: needs self.client, self.engine, self.labels() and
    self.remove_container()."""

    def exec(
        self, name: str, argv: list[str], on_line=None, environment: dict | None = None, deadline: int = EXEC_DEADLINE
    ) -> ExecResult:
        """Run argv in the container; stream its output lines to on_line; exit code and output.

        The engine's exec has no timeout of its own, so argv runs under the
        node's `timeout` (exit 124 when the deadline passed). docker-py's
        exec_run(stream=True) loses the exit code, so this uses the low-level
        calls; an exit code the engine cannot tell is a failure (-1)."""
        api = self.client.api
        argv = ["timeout", "--kill-after=5", str(deadline), *argv]
        try:
            exec_id = api.exec_create(name, argv, environment=environment)["Id"]
        except NotFound:
            raise EngineError(f"{name} is gone (removed or never made)") from None
        except APIError as err:
            raise EngineError(f"cannot run {argv[3]} in {name}: {_short(str(err))}") from None
        chunks: list[str] = []
        pending = ""
        for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
            text = ((stdout or b"") + (stderr or b"")).decode(errors="replace")
            chunks.append(text)
            if on_line:
                pending += text
                *lines, pending = pending.split("\n")
                for line in lines:
                    on_line(line)
        if on_line and pending:
            on_line(pending)
        code = api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(-1 if code is None else int(code), "".join(chunks))

    def put_files(self, name: str, directory: str, files: dict[str, bytes], mode: int = 0o644) -> None:
        """Files into a container through the engine's archive API (works for remote engines)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        try:
            self.client.api.put_archive(name, directory, buffer.getvalue())
        except APIError as err:
            raise EngineError(f"cannot put {', '.join(files)} into {name}:{directory}: {_short(str(err))}") from None

    def put_paths(self, name: str, directory: str, files: dict[str, Path | Blob], mode: int = 0o644) -> None:
        """Large files (or Blobs) into a container, streamed as a tar made on
        the fly: nothing is written on this machine, however large they are."""
        with contextlib.ExitStack() as stack:
            members = []
            for path, source in files.items():
                blob = source if isinstance(source, Blob) else stack.enter_context(Blob.of_file(source))
                members.append((path, blob.size, blob.reader()))
            try:
                self.client.api.put_archive(name, directory, TarStream(members, mode))
            except APIError as err:
                raise EngineError(
                    f"cannot put {', '.join(files)} into {name}:{directory}: {_short(str(err))}"
                ) from None

    def put_archive(self, name: str, directory: str, archive: BinaryIO) -> None:
        """A tar (or gzipped tar) file, unpacked into DIRECTORY of the container."""
        try:
            self.client.api.put_archive(name, directory, archive)
        except APIError as err:
            raise EngineError(f"cannot put an archive into {name}:{directory}: {_short(str(err))}") from None

    def create_job(self, name: str, image: str, argv: list[str], network: str) -> None:
        """A container that runs argv once, on the cluster's network (started by start_container)."""
        self.remove_container(name)
        try:
            self.client.api.create_container(
                image,
                name=name,
                entrypoint=argv[:1],
                command=argv[1:],
                labels=self.labels(role="job"),
                host_config=self.engine.host_config(network_mode=network, tmpfs={"/tmp": ""}),
                working_dir="/",
            )
        except APIError as err:
            raise EngineError(f"cannot create {name}: {_short(str(err))}") from None

    def run_attached(self, name: str, on_text) -> int:
        """Start the container and pass on its output as it comes, until it
        exits; its exit code.

        Attached rather than reading its logs: the engine logs whole lines only,
        and ginkgo's progress dots come without one."""
        stream = self.client.api.attach(name, stdout=True, stderr=True, stream=True, logs=True)
        self.start_container(name)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a "•" may span two chunks
        for chunk in stream:
            on_text(decoder.decode(chunk))
        return int(self.client.api.wait(name).get("StatusCode", 1))

    def get_tree(self, name: str, path: str, target: Path) -> None:
        """What a directory of the container holds, into target (made if missing)."""
        stream, _ = self.client.api.get_archive(name, path)
        with tempfile.TemporaryFile() as buffer:
            for chunk in stream:
                buffer.write(chunk)
            buffer.seek(0)
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=buffer) as tar:
                members = []
                for member in tar.getmembers():
                    # The archive names the directory itself first: drop that part.
                    _, _, member.name = member.name.partition("/")
                    if member.name:
                        members.append(member)
                tar.extractall(target, members=members, filter="data")

    def get_file(self, name: str, path: str) -> bytes:
        stream, _ = self.client.api.get_archive(name, path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member else None
            if extracted is None:
                raise EngineError(f"{path} in {name} is not a file")
            return extracted.read()

    # -- nodes
