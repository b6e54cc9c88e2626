"""What the add-ons built here share: one Go program from the module proxy
(a wrapper module, config/gomod/<name>.go.mod), an image of ours holding it
(on a Debian base unpacked only, when the program needs more than itself),
our manifest (images/addons/<name>/<file>, the image named by $image, run
with imagePullPolicy Never) and, on `up`, the image into every node's
containerd, the manifest applied and its Deployment waited for.

Layout: ~/.kubeadm-local-cluster/cache/addons/<name>/<version>/ (independent
of the Kubernetes version)
    module/      the wrapper module
    bin/         the program
    base.tar     the Debian base, when the image has one
    image.tar    the image, tagged kubeadm-local-cluster/<name>:<version>
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from tasks.build import debian, gobuild, oci, platforms
from tasks.errors import UserError
from tasks.paths import IMAGES_DIR, cache_dir, logs_dir

SUITE = "trixie"
ROLLOUT_TIMEOUT = 180  # seconds; the image is in the nodes, so this is start-up alone


@dataclass(frozen=True)
class Program:
    name: str  # the add-on's name: its directory, image and doit basename
    version: str
    module: str
    package: str  # the main package
    ldflags: str
    recipe: str  # bumped when how it is made changes
    manifest: str  # file under images/addons/<name>/
    namespace: str  # where its Deployment runs
    deployment: str
    packages: tuple[str, ...] = ()  # Debian packages of the image's base; () = the program alone
    links: tuple[tuple[str, str], ...] = ()  # (path, target) symbolic links added to the base

    @property
    def image(self) -> str:
        return f"kubeadm-local-cluster/{self.name}:{self.version}"

    @property
    def binary_path(self) -> str:
        """Where the program is in the image."""
        return f"usr/local/bin/{self.package.rsplit('/', 1)[-1]}"

    def root(self) -> Path:
        return cache_dir() / "addons" / self.name / self.version

    def binary(self) -> Path:
        return self.root() / "bin" / self.package.rsplit("/", 1)[-1]

    def base(self) -> Path:
        return self.root() / f"base-{SUITE}.tar"

    def archive(self) -> Path:
        return self.root() / "image.tar"

    def manifest_path(self) -> Path:
        return IMAGES_DIR / "addons" / self.name / self.manifest

    def title(self) -> str:
        return f"{self.name} {self.version}"


def _log(program: Program, what: str) -> Path:
    return logs_dir() / f"{program.name}-{program.version}-{what}.log"


def build_binary(program: Program) -> None:
    module_dir = program.root() / "module"
    facts = gobuild.module_facts(program.module, program.version, cache_dir())
    upstream = gobuild.go_directive(Path(facts["GoMod"]).read_text())
    # The tool directive needs go 1.24; a newer upstream keeps its own line.
    go = upstream if tuple(int(p) for p in upstream.split(".")) >= (1, 24) else "1.24"
    gobuild.write_module(module_dir, f"{program.name}.go.mod", {"version": program.version, "go": go})
    gobuild.tidy(module_dir, _log(program, "module"), program.title())
    gobuild.build(
        module_dir, program.package, program.binary(), _log(program, "build"), program.title(), program.ldflags
    )


def build_base(program: Program) -> None:
    debian.rootfs(
        SUITE, list(program.packages), program.base(), f"the {program.name} base (Debian {SUITE})", variant="extract"
    )


def build_image(program: Program) -> None:
    files = [oci.FileEntry(program.binary_path, source=program.binary(), mode=0o755)]
    files += [oci.FileEntry(path, link=target) for path, target in program.links]
    layers = [oci.Layer(tar=program.base())] if program.packages else []
    layers += [oci.minimal_root(), oci.Layer(files=tuple(files))]
    config = oci.ImageConfig(
        entrypoint=(f"/{program.binary_path}",),
        labels={"io.kubeadm-local-cluster.built-from": "source", "io.kubeadm-local-cluster.recipe": program.recipe},
    )
    oci.write_image(program.archive(), [program.image], layers, config, gobuild.go_env()["GOARCH"])


def task_dicts(program: Program) -> list[dict]:
    """doit tasks, in order: the program, the Debian base (if any), the image."""
    from doit.tools import config_changed

    from tasks.taskkit import step  # here: taskkit imports the cluster modules

    state = {"recipe": program.recipe, "version": program.version, "ldflags": program.ldflags, **platforms.cache_key()}
    template = gobuild.TEMPLATES / f"{program.name}.go.mod"
    tasks = [
        {
            "basename": program.name,
            "name": "program",
            "doc": f"{program.title()} from Go modules",
            "actions": [step(lambda: build_binary(program))],
            "file_dep": [str(template)],
            "targets": [str(program.binary())],
            "uptodate": [config_changed(state)],
            "meta": {"title": f"{program.title()} from Go modules"},
        }
    ]
    image_deps = [str(program.binary())]
    if program.packages:
        tasks.append(
            {
                "basename": program.name,
                "name": "base",
                "doc": f"the Debian base of the {program.name} image ({', '.join(program.packages)})",
                "actions": [step(lambda: build_base(program))],
                "targets": [str(program.base())],
                "uptodate": [config_changed({**state, "suite": SUITE, "packages": list(program.packages)})],
                "meta": {"title": f"{program.name} base (Debian {SUITE})"},
            }
        )
        image_deps.append(str(program.base()))
    tasks.append(
        {
            "basename": program.name,
            "name": "image",
            "doc": f"the image {program.image}",
            "actions": [step(lambda: build_image(program))],
            "file_dep": image_deps,
            "targets": [str(program.archive())],
            "uptodate": [config_changed({**state, "image": program.image, "links": list(program.links)})],
            "meta": {"title": f"{program.name} image {program.version}"},
        }
    )
    return tasks


def render(program: Program, **values: str) -> str:
    try:
        return Template(program.manifest_path().read_text()).substitute(image=program.image, **values)
    except KeyError as err:
        raise UserError(f"{program.manifest_path()} names ${err.args[0]}, which nothing fills in") from None


def install(program: Program, cluster, manifest: str) -> None:
    """The image into every node's containerd (nothing is pulled), the
    manifest, then its Deployment rolled out."""
    from tasks.cluster import KUBEADM_DIR
    from tasks.node import archives

    nodes = [spec.name for spec in cluster.nodes]
    archives.import_into(cluster, nodes, program.archive(), f"importing the {program.name} image")
    name = f"addon-{program.name}.yaml"
    cluster.objects.put_files(cluster.master, KUBEADM_DIR, {name: manifest.encode()})
    cluster.kubectl("apply", "-f", f"{KUBEADM_DIR}/{name}")
    rollout = ["rollout", "status", f"deployment/{program.deployment}", f"--timeout={ROLLOUT_TIMEOUT}s"]
    cluster.kubectl("-n", program.namespace, *rollout)
