"""`doctor`: can this machine (and its engine) run a cluster? One line per check."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.build import containerd, go_engine, platforms, stage0
from tasks.e2e import busybox
from tasks.engine import NODE_MODES, Engine, EngineError, EngineFacts
from tasks.paths import state_dir

GIB = 1024**3
OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MIN_GO = (1, 24)  # what Kubernetes 1.34's go.mod asks for
# kind's known-issues page: several nodes each run inotify users (kubelet, systemd).
INOTIFY_MIN = {"max_user_instances": 512, "max_user_watches": 524288}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def run_checks(engine_connect: Callable[[], Engine] = Engine.connect) -> list[Check]:
    checks: list[Check] = []
    try:
        engine = engine_connect()
        facts = engine.facts()
    except EngineError as err:
        checks.append(
            Check(
                "engine",
                FAIL,
                str(err).partition(": start it")[0],
                "start it (`dockerd` or `systemctl start docker`), or set DOCKER_HOST or DOCKER_CONTEXT",
            )
        )
        engine = facts = None
    if engine and facts:
        where = "local" if facts.is_local else "remote"
        detail = f"Docker {facts.version} (API {facts.api_version}), {where} at {facts.host} ({facts.source})"
        checks.append(Check("engine", OK, detail))
        checks.append(check_node_mode(engine))
        checks.append(check_cgroup(facts))
        checks.append(check_engine_disk(facts))
        platforms.remember(facts.architecture)
    else:
        platforms.remember(None)  # no engine: the checks below ask for none
        for name in ("node containers", "cgroup", "engine disk"):
            checks.append(Check(name, SKIP, "needs the engine"))
    checks.append(
        check_free_space(
            "cache disk",
            state_dir(),
            warn_below=20,
            fail_below=3,
            why="a cold `up` keeps about 10 GiB in the Go caches; the tests from cold need about 34 GiB",
        )
    )
    checks.append(check_platforms(facts))
    go = check_go(facts)
    checks.append(go)
    checks.append(check_mmdebstrap(facts))
    checks.append(check_build_location(facts, go))
    checks.append(check_runc_build(facts))
    checks.append(check_busybox_build(facts))
    checks.append(check_inotify(facts))
    return checks


def check_node_mode(engine: Engine) -> Check:
    image = engine.ensure_probe_image()
    refused = {}
    for mode, options in NODE_MODES.items():
        host_config = engine.host_config(unmask_paths=True, cgroupns="private", **options)
        error = engine.try_container(image, host_config)
        if error is None:
            if mode == "privileged":
                return Check("node containers", OK, "--privileged containers start")
            return Check(
                "node containers",
                OK,
                f"--privileged is refused here ({refused['privileged']}); nodes will run in "
                "explicit-capabilities mode (all capabilities but SYS_RESOURCE, unconfined seccomp, "
                "apparmor and system paths)",
            )
        refused[mode] = error
    return Check(
        "node containers",
        FAIL,
        "; ".join(f"{m}: {e}" for m, e in refused.items()),
        "the engine must allow privileged or near-privileged containers (rootless engines cannot)",
    )


def check_cgroup(facts: EngineFacts) -> Check:
    if facts.cgroup_version == "2":
        return Check("cgroup", OK, f"cgroup v2 ({facts.cgroup_driver} driver)")
    return Check(
        "cgroup",
        OK,
        f"cgroup v1 ({facts.cgroup_driver} driver): Kubernetes 1.35+ runs with "
        "failCgroupV1: false and its cgroup v1 preflight error ignored",
    )


def check_engine_disk(facts: EngineFacts) -> Check:
    if not facts.is_local or not Path(facts.root_dir).is_dir():
        return Check(
            "engine disk",
            SKIP,
            f"cannot measure {facts.root_dir} on a remote engine; node images and snapshots want about 20 GiB there",
        )
    return check_free_space(
        "engine disk", Path(facts.root_dir), warn_below=20, fail_below=5, why="node images and snapshots"
    )


def check_free_space(name: str, path: Path, warn_below: int, fail_below: int, why: str) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free / GIB
    detail = f"{free:.0f} GiB free at {existing}"
    fix = f"free some space there ({why})"
    if free < fail_below:
        return Check(name, FAIL, f"{detail}, need at least {fail_below} GiB", fix)
    if free < warn_below:
        return Check(name, WARN, f"{detail}, {warn_below} GiB advised", fix)
    return Check(name, OK, detail)


def check_platforms(facts: EngineFacts | None) -> Check:
    """This machine's platform and the nodes': where they differ, what is made where."""
    here = "/".join(platforms.this_machine())
    if facts is None:
        return Check("platforms", SKIP, f"this machine {here}; the nodes' needs the engine")
    why = platforms.foreign()
    if why is None:
        return Check("platforms", OK, f"this machine and the nodes (the engine's) are {here}")
    return Check(
        "platforms",
        OK,
        f"{why} (the engine's): their Go programs are cross-compiled, their C builds and Debian bases "
        "made on the engine, and kubectl and helm built for this machine too",
    )


def check_go(facts: EngineFacts | None) -> Check:
    """go here builds everything here; without it, Go builds run on the engine
    (tasks/build/go_engine.py), but a tree built here (source.buildIn local) needs it."""
    go = shutil.which("go")
    fix = "install Go 1.24 or newer"
    if not go and facts is None:
        return Check("go", WARN, "not found here, and no engine to build on", f"start the engine, or {fix}")
    if not go:
        return Check(
            "go",
            OK,
            f"not found here: Go builds run in a container on the engine (Go {go_engine.GO_VERSION}); "
            "a Kubernetes tree is built there too (source.buildIn engine)",
        )
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return Check("go", WARN, f"{go} does not run: {err}", fix)
    match = re.search(r"go(\d+)\.(\d+)(\.\d+)?", out)
    if not match:
        return Check("go", WARN, f"cannot tell the version of {go}: {out.strip()!r}", fix)
    found = (int(match.group(1)), int(match.group(2)))
    label = match.group(0)
    if found < MIN_GO:
        return Check("go", WARN, f"{label} is older than go{MIN_GO[0]}.{MIN_GO[1]}", fix)
    return Check("go", OK, f"{label} at {go}")


def check_build_location(facts: EngineFacts | None, go: Check) -> Check:
    """Where Kubernetes from a tree (source.k8sDir) can be built, and which suits
    this engine: on a remote one, a build here ships every binary across."""
    go_ok, make_ok = bool(shutil.which("go")) and go.status == OK, bool(shutil.which("make"))
    here = [name for ok, name in ((go_ok, "go"), (make_ok, "make")) if not ok]
    # The engine's build needs nothing here: its image, toolchain and tree go there.
    there = [] if facts is not None else ["the engine"]
    said = [
        "here: " + ("works" if not here else "needs " + ", ".join(here)),
        "on the engine: " + ("works" if not there else "needs " + ", ".join(there)),
    ]
    suited = "engine" if facts is not None and not facts.is_local else "local"
    detail = f"source.buildIn {suited} suits this engine; " + "; ".join(said)
    missing = there if suited == "engine" else here
    if not missing:
        return Check("build location", OK, detail)
    if not here or not there:
        other = "local" if suited == "engine" else "engine"
        return Check("build location", WARN, detail, f"use --build-in {other}, or install {', '.join(missing)}")
    return Check("build location", WARN, detail, f"install {', '.join(sorted(set(here + there) - {'the engine'}))}")


def check_mmdebstrap(facts: EngineFacts | None) -> Check:
    """Debian bases are made here with mmdebstrap, or without it in a container
    on the engine (stage 0), which needs the engine and its reach to the mirror."""
    path = shutil.which("mmdebstrap")
    foreign = platforms.foreign() if facts is not None else None
    if path and foreign:
        return Check("mmdebstrap", OK, f"{path}: not for these nodes ({foreign}); Debian bases are made on the engine")
    if path:
        return Check("mmdebstrap", OK, f"{path}: Debian bases are made here")
    if facts is None:
        return Check(
            "mmdebstrap",
            WARN,
            "not found here, and no engine to make the Debian bases on",
            "start the engine, or apt-get install mmdebstrap",
        )
    return Check(
        "mmdebstrap",
        OK,
        f"not found here: Debian bases are made in a container on the engine ({stage0.IMAGE}, "
        "made once from Debian's packages; the engine must reach the Debian mirror)",
    )


def check_program(name: str, why: str, fix: str) -> Check:
    path = shutil.which(name)
    if path:
        return Check(name, OK, path)
    return Check(name, WARN, f"not found ({why})", fix)


def _build_check(name: str, problem: str | None, ok: str, why: str, fix: str, facts: EngineFacts | None) -> Check:
    """A C build's tools: here, or else the build image on the engine has
    them (tasks/build/go_engine.py); without either, what is missing and why."""
    if problem is None:
        return Check(name, OK, ok)
    if facts is not None:
        return Check(name, OK, f"{problem}: built in a container on the engine ({why})")
    return Check(name, WARN, f"{problem} ({why})", fix)


def check_runc_build(facts: EngineFacts | None) -> Check:
    return _build_check(
        "runc build",
        containerd.runc_build_problem(),
        "a C compiler and static libseccomp",
        f"runc for the nodes of Kubernetes {containerd.runc_built_from()} is built with cgo and libseccomp",
        containerd.RUNC_BUILD_TOOLS,
        facts,
    )


def check_busybox_build(facts: EngineFacts | None) -> Check:
    return _build_check(
        "busybox build",
        busybox.build_problem(),
        "a C compiler, make and a static C library",
        f"the busybox test image's busybox {busybox.VERSION} is built from source",
        busybox.BUILD_TOOLS,
        facts,
    )


def check_inotify(facts: EngineFacts | None) -> Check:
    if facts is not None and not facts.is_local:
        return Check("inotify", SKIP, "limits of a remote engine's host cannot be read from here")
    low = []
    for key, minimum in INOTIFY_MIN.items():
        try:
            value = int(Path(f"/proc/sys/fs/inotify/{key}").read_text())
        except (OSError, ValueError):
            continue
        if value < minimum:
            low.append((key, value, minimum))
    if not low:
        return Check("inotify", OK, "limits suit several nodes")
    detail = ", ".join(f"{k} is {v} (< {m})" for k, v, m in low)
    fix = "; ".join(f"sysctl -w fs.inotify.{k}={m}" for k, _, m in low)
    return Check("inotify", WARN, f"{detail}: many pods or nodes may hit 'too many open files'", fix)


def render(checks: list[Check], marks: dict[str, str]) -> list[str]:
    width = max(len(c.name) for c in checks)
    mark_width = max(len(m) for m in marks.values())
    lines = []
    for check in checks:
        lines.append(f"{marks[check.status].ljust(mark_width)} {check.name.ljust(width)}  {check.detail}")
        if check.fix and check.status in (WARN, FAIL):
            lines.append(f"{' ' * mark_width} {' ' * width}  fix: {check.fix}")
    return lines


def can_make_cluster(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)
