"""Debian root filesystems made with mmdebstrap: no container registry needed.
Without mmdebstrap here, mmdebstrap runs on the engine (tasks/build/debian_engine.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tasks.build import debian_engine, platforms
from tasks.commands import run_logged
from tasks.console import log
from tasks.errors import UserError
from tasks.paths import logs_dir, replacing

APT_SOURCES = (
    Path("/etc/apt/sources.list"),
    *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
    *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
)
# Docs and translations are of no use in a node or an image: leave them out.
SLIM = [
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/lintian/*",
    "--dpkgopt=path-exclude=/usr/share/common-licenses/*",
    "--dpkgopt=path-exclude=/usr/share/bash-completion/*",
]
# Mirrors that are snapshots (as on CI machines) serve Release files whose
# Valid-Until has passed; signatures are still checked.
APT_OPTIONS = ['--aptopt=Acquire::Check-Valid-Until "false"']


def host_debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The host's own Debian mirror, if it has one (it may be a local or corporate
    mirror); "" lets mmdebstrap use Debian's default."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + re.findall(
            r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M
        ):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return ""


def rootfs(
    suite: str,
    packages: list[str],
    output: Path,
    what: str,
    variant: str = "minbase",
    extract_hook: Path | None = None,
    customize_hook: Path | None = None,
    extra_suites: tuple[str, ...] = (),
    mirror: str | None = None,
) -> float:
    """mmdebstrap a root filesystem tar of the given suite and packages; atomic.

    Here when this machine has mmdebstrap; otherwise in a container on the
    engine (tasks/build/debian_engine.py), whose tar comes back into OUTPUT."""
    mirror = host_debian_mirror() if mirror is None else mirror
    # mmdebstrap here makes this machine's architecture; the engine's host makes the nodes'.
    why_not_here = "no mmdebstrap here" if shutil.which("mmdebstrap") is None else platforms.foreign()
    here = why_not_here is None
    hooks = [hook for hook in (extract_hook, customize_hook) if hook is not None]
    where = {hook: str(hook) for hook in hooks} if here else debian_engine.hook_paths(hooks)
    options = [f"--variant={variant}", "--include=" + ",".join(packages), *SLIM, *APT_OPTIONS]
    if extract_hook is not None:
        options.append(f"--extract-hook={where[extract_hook]}")
    if customize_hook is not None:
        options.append(f"--customize-hook={where[customize_hook]}")
    if extra_suites:
        # Packages named pkg/suite come from the extra suites; all else from suite.
        options.append(f'--aptopt=APT::Default-Release "{suite}"')
    if extra_suites and not mirror:
        raise UserError("packages from more than one Debian suite need a mirror: set node.debianMirror")
    sources = [f"deb {mirror} {name} main" for name in (suite, *extra_suites)] if mirror else []
    log_file = logs_dir() / f"{output.stem}.log"
    # mmdebstrap tells the output format by the name: keep .tar on the partial.
    with replacing(output, suffix=".tar") as partial:
        if here:
            return run_logged(["mmdebstrap", *options, suite, str(partial), *sources], log_file, f"making {what}")
        log.info("%s: making %s in a container on the engine", why_not_here, what)
        return debian_engine.run_mmdebstrap(
            [*options, suite, debian_engine.OUTPUT_IN_CONTAINER, *sources],
            hooks,
            partial,
            log_file,
            f"making {what} on the engine",
            mirror,
        )
