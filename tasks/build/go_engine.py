"""`go` on the engine, for a client without it (#13 item 5): the Go module
builds (wrapper modules of config/gomod/, our own programs) run in one
container there, and what they make comes back into the cache here, where
the image archives are made. The C builds (runc's cgo, busybox) run there
too when this machine lacks their tools: the build image has them.

- The container `kubeadm-local-cluster-go` runs the build image
  (tasks/build/engine.py: the nodes' Debian with make and a C compiler) and
  shares the build cache volume: GOCACHE and GOMODCACHE persist, so a second
  build is as incremental as here.
- The Go is GO_VERSION, golang.org/toolchain from the Go module proxy, read
  and checked by tasks/build/goproxy.py and sent once into that volume; a
  module that asks for a newer Go gets it as `go` does (GOTOOLCHAIN=auto, in
  the container, through the same proxy).
- Each command gets the module directory as it is here (a few files; the
  flannel module carries flannel's source) at the same path, `-o` is
  written in the container and fetched, and go.mod and go.sum come back
  (`go mod tidy` writes them).
The container is kept between runs (like the tree build containers);
`clean --all` removes it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shlex
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import requests
from docker.errors import APIError, NotFound

from tasks.build import engine as engine_build
from tasks.build import platforms
from tasks.commands import CommandLog
from tasks.console import log
from tasks.container_io import tar_of_directories
from tasks.engine import LABEL_ROLE, EngineError, _short
from tasks.errors import UserError

CONTAINER = "kubeadm-local-cluster-go"
ROLE = "go-build"
GO_VERSION = "1.26.8"  # the Go this project is developed with (FIELD-NOTES); modules may ask for newer
OUT = "/out"
CA_BUNDLE = "/etc/ssl/client-ca-bundle.crt"
BACK = ("go.mod", "go.sum")  # what a go command may change in the module directory


class _Session:
    """The engine, the container and its Go, made ready once per process."""

    def __init__(self):
        from tasks.engine import Engine
        from tasks.objects import Objects

        self.objects = Objects(Engine.connect(), "")
        facts = self.objects.engine.facts()
        self.architecture = platforms.architecture(facts.architecture)
        self.module_settings = engine_build.module_settings()  # `go env` here asked once, not per command
        engine_build.ensure_image(self.objects.engine)
        self.ca_bundle = _ensure_container(self.objects)
        self.goroot = engine_build.ensure_toolchain(self.objects, CONTAINER, GO_VERSION, self.architecture)
        # {directory: digest of what was sent}: a directory unchanged here since a
        # command that ended well is not sent again (tidy, list and build of one module).
        self.sent: dict[Path, str] = {}


_session: _Session | None = None


def session() -> _Session:
    global _session
    if _session is None:
        log.info("no go here: Go builds run in %s on the engine", CONTAINER)
        _session = _Session()
    return _session


def _ensure_container(objects) -> bool:
    """The container, running, with this machine's CA bundle (False: none found here)."""
    volumes = {engine_build.CACHE_VOLUME: (engine_build.CACHE, "cache")}
    engine_build.ensure_build_container(objects, CONTAINER, {LABEL_ROLE: ROLE}, volumes)
    bundle = client_ca_bundle()
    if bundle is not None:
        objects.put_files(CONTAINER, "/etc/ssl", {CA_BUNDLE.rpartition("/")[2]: bundle.read_bytes()})
    return bundle is not None


def client_ca_bundle() -> Path | None:
    """The certificates this machine trusts (Python's, as requests uses them).
    The container trusts them too: behind a TLS-inspecting proxy, as on a
    company network (or our sandbox), the proxy's CA is only in there."""
    candidates = [os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE")]
    candidates += [ssl.get_default_verify_paths().cafile, requests.certs.where()]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def environment(ready: _Session, env: Mapping[str, str]) -> dict[str, str]:
    """The go command's environment there: the caller's (go_env: for the
    nodes, the engine's architecture; or GOOS and GOARCH of this machine, for
    its kubectl), the caches in the volume, this machine's module settings."""
    return {
        **ready.module_settings,
        **env,
        **engine_build.go_in_container(ready.goroot),
        **({"SSL_CERT_FILE": CA_BUNDLE} if ready.ca_bundle else {}),
    }


def _outputs(argv: Sequence[str]) -> tuple[list[str], dict[str, Path]]:
    """argv with each `-o PATH` pointed into OUT; {path there: path here}."""
    out, wanted = list(argv), {}
    for index, word in enumerate(out[:-1]):
        if word == "-o":
            here = Path(out[index + 1])
            there = f"{OUT}/{here.name}"
            out[index + 1], wanted[there] = there, here
    return out, wanted


def _exec(ready: _Session, argv: Sequence[str], cwd: Path, env: Mapping[str, str], on_out, on_err) -> int:
    """A build command in CWD in the container, with the build's environment."""
    script = f'rm -rf {OUT} && mkdir -p {OUT} && cd {shlex.quote(str(cwd))} && exec "$@"'
    return exec_in(ready, ["sh", "-c", script, "sh", *argv], environment(ready, env), on_out, on_err)


def exec_in(ready: _Session, argv: Sequence[str], env: Mapping[str, str], on_out, on_err) -> int:
    """argv in the container with ENV added to its own; stdout and stderr to
    their callbacks as they come; the exit code (124: the deadline passed)."""
    api = ready.objects.client.api
    # By its path: ENV may set PATH (a check runs a program with PATH=/nonexistent).
    full = ["/usr/bin/timeout", "--kill-after=5", str(engine_build.BUILD_DEADLINE), *argv]
    try:
        exec_id = api.exec_create(CONTAINER, full, environment=dict(env))["Id"]
        for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
            if stdout:
                on_out(stdout.decode(errors="replace"))
            if stderr:
                on_err(stderr.decode(errors="replace"))
        code = api.exec_inspect(exec_id).get("ExitCode")
    except APIError as err:
        raise EngineError(f"cannot run {argv[0]} in {CONTAINER}: {_short(str(err))}") from None
    return -1 if code is None else int(code)


def _put_module(ready: _Session, module_dir: Path) -> None:
    archive = tar_of_directories({module_dir.name: module_dir})
    digest = hashlib.sha256(archive).hexdigest()
    if ready.sent.get(module_dir) == digest:
        return
    parent = shlex.quote(str(module_dir.parent))
    done = ready.objects.exec(CONTAINER, ["sh", "-c", f"mkdir -p {parent} && rm -rf {shlex.quote(str(module_dir))}"])
    if done.exit_code != 0:
        raise EngineError(f"cannot make {module_dir} in {CONTAINER}: {done.output.strip()[-200:]}")
    ready.objects.put_archive(CONTAINER, str(module_dir.parent), io.BytesIO(archive))
    ready.sent[module_dir] = digest


def _take_back(ready: _Session, module_dir: Path, wanted: dict[str, Path], back: Sequence[str] = BACK) -> None:
    for name in back:
        here = module_dir / name
        with contextlib.suppress(NotFound, APIError):
            data = ready.objects.get_file(CONTAINER, str(here))
            if not here.exists() or here.read_bytes() != data:
                here.write_bytes(data)  # only on a change: go.sum is a file_dep of later steps
                here.chmod(0o755 if data.startswith(b"\x7fELF") else 0o644)
    for there, here in wanted.items():
        try:
            data = ready.objects.get_file(CONTAINER, there)
        except (NotFound, APIError) as err:
            raise EngineError(f"{there} in {CONTAINER}: {_short(str(err))}") from None
        here.write_bytes(data)
        here.chmod(0o755)


def run(
    argv: Sequence[str],
    log_file: Path,
    what: str,
    env: Mapping[str, str],
    cwd: Path,
    on_line: Callable[[str], bool] | None = None,
    back: Sequence[str] = BACK,
) -> float:
    """As tasks.commands.run_logged, with the command (go, or make for a C
    build) run on the engine in a copy of CWD; BACK: the files of CWD it
    writes that come back here, with each `-o` output."""
    ready = session()
    started = time.monotonic()
    _put_module(ready, cwd)
    argv, wanted = _outputs(argv)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with _resent_after_a_failure(ready, cwd), open(log_file, "w", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(argv)}  (on the engine, in {CONTAINER})\n")
        output = CommandLog(out, on_line)
        code = _exec(ready, argv, cwd, env, output.write, output.write)
        if code != 0:
            raise output.failure(log_file, f"{what} on the engine", code)
        _take_back(ready, cwd, wanted, back)
    return time.monotonic() - started


@contextlib.contextmanager
def _resent_after_a_failure(ready: _Session, module_dir: Path):
    """A command that failed may have left its copy half-changed there: the next one gets it afresh."""
    try:
        yield
    except BaseException:
        ready.sent.pop(module_dir, None)
        raise


def capture(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    """As tasks.commands.capture, with the go command run on the engine."""
    ready = session()
    _put_module(ready, cwd)
    out: list[str] = []
    err: list[str] = []
    with _resent_after_a_failure(ready, cwd):
        code = _exec(ready, argv, cwd, env, out.append, err.append)
        if code != 0:
            detail = " ".join("".join(err or out).split())[-400:]
            raise UserError(f"`{shlex.join(argv)}` failed on the engine (exit {code}): {detail}")
        _take_back(ready, cwd, {})
    return "".join(out)


def remove_all(engine) -> list[str]:
    """`clean --all`: the Go container (the cache volume and image go with the engine builds')."""
    return engine.remove_containers(ROLE)
