"""Building Go programs from the Go module proxy: a generated wrapper module
(templates in config/gomod/) and `go build` with upstream's flags."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from string import Template

from plumbum.commands.processes import ProcessTimedOut

from tasks.build import goproxy, platforms
from tasks.commands import capture, run_logged
from tasks.console import CONSOLE
from tasks.errors import UserError
from tasks.paths import CONFIG_DIR, IMAGES_DIR, replacing

TEMPLATES = CONFIG_DIR / "gomod"
KUBERNETES_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
STAGING_RE = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/src/", re.M)
# What `go build -v` prints for a package it compiles: its import path alone
# (go's own messages and compiler errors have spaces or colons).
PACKAGE_LINE = re.compile(r"[\w.~+-]+(?:/[\w.~+-]+)*")


def go_env(module_dir: Path | None = None) -> dict[str, str]:
    """The environment of every go command: static binaries for the nodes
    (Linux, the engine's architecture), modules resolved and recorded as
    needed, and no go.work of the user's in the way."""
    return {
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOARCH": platforms.nodes_architecture(),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOWORK": "off",
        "GO111MODULE": "on",
    }


def go_here() -> bool:
    """Is there a `go` on this machine? Without one, module facts come from
    the proxy through Python (goproxy.py) and go commands run on the engine
    (go_engine.py)."""
    return shutil.which("go") is not None


def run_go(
    argv: list[str], log_file: Path, what: str, env: dict[str, str], cwd: Path, on_line=None, on_engine=False
) -> float:
    """A long go command (build, tidy, test -c) in module directory CWD: here,
    or on the engine (without go here, or ON_ENGINE: a cgo build whose C tools are not here)."""
    if go_here() and not on_engine:
        return run_logged(argv, log_file, what, env=env, cwd=cwd, on_line=on_line)
    from tasks.build import go_engine

    return go_engine.run(argv, log_file, what, env, cwd, on_line)


def capture_go(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    """A short go command's standard output (go list ...): here, or on the engine."""
    if go_here():
        return capture(argv, env=env, cwd=cwd, timeout=timeout)
    from tasks.build import go_engine

    return go_engine.capture(argv, env, cwd)


def module_facts(module: str, version: str, workdir: Path) -> dict:
    """What `go mod download -json` says of module@version (paths of its go.mod and .info)."""
    if not go_here():
        return goproxy.Proxy().facts(module, version)
    workdir.mkdir(parents=True, exist_ok=True)
    out = capture(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env(), cwd=workdir)
    facts = json.loads(out)
    if facts.get("Error"):
        raise UserError(f"cannot get {module}@{version} from the Go module proxy: {facts['Error']}")
    return facts


def module_versions(module: str, workdir: Path) -> list[str]:
    if not go_here():
        return goproxy.Proxy().versions(module)
    workdir.mkdir(parents=True, exist_ok=True)
    return capture(["go", "list", "-m", "-versions", module], env=go_env(), cwd=workdir).split()[1:]


def go_directive(go_mod: str) -> str:
    match = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", go_mod, re.M)
    return match.group(1) if match else "1.22"


def kubernetes_module_values(version: str, upstream_go_mod: str) -> dict[str, str]:
    """Template values for the Kubernetes wrapper module, from k8s.io/kubernetes' go.mod."""
    staging = STAGING_RE.findall(upstream_go_mod)
    if not staging:
        raise UserError(f"k8s.io/kubernetes {version} lists no staging modules: cannot build it from modules")
    staging_version = "v0." + version.removeprefix("v").split(".", 1)[1]  # v1.34.4 -> v0.34.4
    upstream_go = go_directive(upstream_go_mod)
    # The tool directive needs go 1.24; older releases keep their own GODEBUG defaults.
    wrapper_go = upstream_go if _go_tuple(upstream_go) >= (1, 24) else "1.24"
    return {
        "version": version,
        "go": wrapper_go,
        "godebug": ".".join(upstream_go.split(".")[:2]),
        "tools": "\n".join(f"\tk8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS),
        "replaces": "\n".join(f"\t{name} => {name} {staging_version}" for name in staging),
    }


def _go_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def write_module(module_dir: Path, template: str, values: dict[str, str], sources: dict[str, Path] | None = None):
    """Render config/gomod/<template> as module_dir/go.mod (and copy our sources beside it)."""
    module_dir.mkdir(parents=True, exist_ok=True)
    text = Template((TEMPLATES / template).read_text()).substitute(values)
    (module_dir / "go.mod").write_text(text)
    for name, source in (sources or {}).items():
        shutil.copyfile(source, module_dir / name)


def tidy(module_dir: Path, log_file: Path, what: str) -> float:
    return run_go(["go", "mod", "tidy"], log_file, f"resolving the modules of {what}", go_env(), module_dir)


def build(
    module_dir: Path,
    package: str,
    output: Path,
    log_file: Path,
    what: str,
    ldflags: str = "-s -w",
    tags: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    on_engine: bool = False,
) -> float:
    """go build one main package into output, atomically (no half binary on
    failure), counting the packages it compiles on the step's line. env
    overrides go_env() (CGO_ENABLED=1 for a program that needs cgo); on_engine
    builds it there even when go is here."""
    tag_flags = ["-tags", ",".join(tags)] if tags else []
    environment = {**go_env(), **(env or {})}
    count = PackageCount(None if on_engine else package_total(module_dir, package, tag_flags, environment))
    with replacing(output) as partial:
        argv = ["go", "build", "-v", "-trimpath", *compile_flags(ldflags), "-ldflags", ldflags]
        argv += ["-o", str(partial), *tag_flags, package]
        return run_go(argv, log_file, f"building {what}", environment, module_dir, on_line=count, on_engine=on_engine)


def compile_flags(ldflags: str) -> list[str]:
    """No DWARF from the compiler when the link strips it anyway (-w): the Go
    build cache keeps 18 % less (kubectl from cold: 843 MB, 690 without) and
    the build takes 9 % less; the program differs only in its build information."""
    return ["-gcflags=all=-dwarf=false"] if "-w" in ldflags.split() else []


def package_total(
    module_dir: Path, package: str, tag_flags: list[str], env: dict[str, str] | None = None
) -> int | None:
    """How many packages a build of package needs, compiled or cached: None
    when go cannot say (the build then says why). With a warm module cache
    `go list -deps` takes 0.3 s for kubeadm, 0.8 s for kube-apiserver."""
    try:
        listed = capture_go(["go", "list", "-deps", *tag_flags, package], env or go_env(), module_dir, timeout=60)
    except (UserError, ProcessTimedOut):
        return None
    return len(listed.split()) or None


class PackageCount:
    """`go build -v` names each package as it compiles it, leaving out those
    the build cache holds: so "compiled 120 packages (of 1040)", not a share done."""

    def __init__(self, total: int | None):
        self.total = total
        self.compiled = 0

    def __call__(self, line: str) -> bool:
        if not PACKAGE_LINE.fullmatch(line):
            return False
        self.compiled += 1
        CONSOLE.progress(self.text())
        return True

    def text(self) -> str:
        counted = f"compiled {self.compiled} package{'' if self.compiled == 1 else 's'}"
        return counted + (f" (of {self.total})" if self.total else "")


def kubernetes_ldflags(version: str, build_date: str) -> str:
    """The version stamps upstream's build sets: without them kubeadm says
    v0.0.0-master and picks wrong image tags."""
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitCommit", "0000000000000000000000000000000000000000"),
            ("gitTreeState", "clean"),
            ("buildDate", build_date),
        ):
            flags.append(f"-X {package}.{key}={value}")
    return " ".join(flags)


def our_source(name: str) -> Path:
    return IMAGES_DIR / name / "main.go"
