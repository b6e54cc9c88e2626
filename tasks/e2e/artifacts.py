"""What conformance tests need, with no registry and no release download:
e2e.test and the ginkgo CLI built from the Go module proxy, and the test
images (agnhost, busybox, jessie-dnsutils, nginx, httpd, ...) written as
`docker save` archives by our own code, tagged exactly as e2e.test names them
(so no KUBE_TEST_REPO_LIST is needed).

The list of images is e2e.test's own (`e2e.test --list-images`, saved as
e2e-images.json); each listed image is made by the recipe for its repository
(whatever its tag; tasks/e2e/recipes.py), provided by the cluster (pause), or
reported missing.

Layout, beside the cluster's artifacts (ArtifactSet.root):
    e2e-module/            the wrapper module for e2e.test and the test programs
    bin/e2e.test, bin/ginkgo
    e2e-images.json        what `e2e.test --list-images` says
    e2e-images.tar         the conformance test images in one archive
and the images' archives where tasks/e2e/recipes.py says, their programs and
bases where tasks/e2e/parts.py does.

Typical order: prepare_e2e_module, build_e2e_test + build_ginkgo,
list_test_images, then build_test_images (or, step by step, the bases,
programs, busybox and images named by image_plan), then e2e_images for the report.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tasks.build import gobuild, oci, run_built
from tasks.build.artifacts import ArtifactSet, check_version
from tasks.e2e import busybox, needs
from tasks.e2e.parts import (
    IMAGE_FILES,
    PROGRAMS,
    RECIPE,
    SUITE,
    base_path,
    build_base,
    build_program,
    build_test_etcd,
    e2e_module_dir,
    etcd_program,
    kubernetes_facts,
    program_path,
)
from tasks.e2e.recipes import (
    Build,
    Recipe,
    archive_path,
    not_made_on_purpose,
    recipe_for,
    split_reference,
    why_not_made,
)
from tasks.errors import UserError
from tasks.paths import replacing

# Which test images are made: 2 added the repositories conformance tests name
# (needs.py), 3 the test etcd whatever the cluster's tag.
LISTING = "3"
E2E_PACKAGE = "k8s.io/kubernetes/test/e2e"
GINKGO_MODULE = "github.com/onsi/ginkgo/v2"
# ---------------------------------------------------------------- where things are


def image_list_path(artifacts: ArtifactSet) -> Path:
    return artifacts.root / "e2e-images.json"


# ---------------------------------------------------------------- e2e.test and ginkgo


def e2e_module_values(version: str, upstream_go_mod: str) -> dict[str, str]:
    """The cluster's wrapper template (config/gomod/kubernetes.go.mod) with the
    test programs as its tools instead of the cluster's commands. e2e.test is
    no main package (it is `go test -c`), so it needs no line: its test-only
    imports are all in k8s.io/kubernetes' module graph, and GOFLAGS=-mod=mod
    records their checksums when it is built."""
    values = gobuild.kubernetes_module_values(version, upstream_go_mod)
    values["tools"] = "\n".join(f"\t{package}" for package in PROGRAMS.values())
    return values


def prepare_e2e_module(artifacts: ArtifactSet) -> None:
    """Write and tidy the e2e wrapper module (target: e2e-module/go.mod, go.sum, build-date)."""
    facts = kubernetes_facts(artifacts)
    module_dir = e2e_module_dir(artifacts)
    values = e2e_module_values(artifacts.version, Path(facts["GoMod"]).read_text())
    gobuild.write_module(module_dir, "kubernetes.go.mod", values)
    gobuild.tidy(module_dir, artifacts.log("e2e-module"), f"the conformance tests of Kubernetes {artifacts.version}")
    # tidy keeps no checksums for e2e.test's test-only imports; listing them
    # records them now (GOFLAGS=-mod=mod), so the build leaves go.sum as it is
    # (go.sum stays a stable file_dep for doit).
    gobuild.capture_go(["go", "list", "-test", "-deps", E2E_PACKAGE], gobuild.go_env(), module_dir)
    build_date = json.loads(Path(facts["Info"]).read_text()).get("Time", "1970-01-01T00:00:00Z")
    (module_dir / "build-date").write_text(build_date.replace(".000Z", "Z") + "\n")


def build_e2e_test(artifacts: ArtifactSet) -> float:
    """`go test -c` of k8s.io/kubernetes/test/e2e into bin/e2e.test, with upstream's
    version stamps (so `e2e.test --version` and the version skew check say the
    release) and tags; static. Returns the seconds the build took."""
    module_dir = e2e_module_dir(artifacts)
    build_date = (module_dir / "build-date").read_text().strip()
    target = artifacts.binary("e2e.test")
    ldflags = gobuild.kubernetes_ldflags(artifacts.version, build_date)
    with replacing(target) as partial:
        argv = [
            "go",
            "test",
            "-c",
            "-trimpath",
            "-tags",
            "selinux,notest",
            *gobuild.compile_flags(ldflags),
            "-ldflags",
            ldflags,
            "-o",
            str(partial),
            E2E_PACKAGE,
        ]
        seconds = gobuild.run_go(
            argv, artifacts.log("e2e.test"), f"building e2e.test {artifacts.version}", gobuild.go_env(), module_dir
        )
    check_version(artifacts, "e2e.test")  # `e2e.test --version` prints the version
    return seconds


def ginkgo_version(artifacts: ArtifactSet) -> str:
    """The ginkgo module version the e2e module resolves (what k8s.io/kubernetes requires)."""
    out = gobuild.capture_go(
        ["go", "list", "-m", "-f", "{{.Version}}", GINKGO_MODULE], gobuild.go_env(), e2e_module_dir(artifacts)
    )
    return out.strip()


def build_ginkgo(artifacts: ArtifactSet) -> float:
    """The ginkgo CLI into bin/ginkgo, at the version e2e.test was built with."""
    module_dir = e2e_module_dir(artifacts)
    seconds = gobuild.build(
        module_dir, PROGRAMS["ginkgo"], artifacts.binary("ginkgo"), artifacts.log("ginkgo"), "ginkgo"
    )
    wanted = ginkgo_version(artifacts).removeprefix("v")
    out = run_built.output(artifacts.binary("ginkgo"), ["version"])
    if wanted not in out:
        raise UserError(f"ginkgo reports {out.strip()!r}, not {wanted}")
    return seconds


# ---------------------------------------------------------------- the list, plans and builds


def list_test_images(artifacts: ArtifactSet) -> list[str]:
    """`e2e.test --list-images` (every image any e2e test uses), sorted, into
    e2e-images.json, with the repositories the version's conformance tests name."""
    out = run_built.output(artifacts.binary("e2e.test"), ["--list-images"])
    images = parse_image_list(out)
    conformance = needs.conformance_repositories(Path(kubernetes_facts(artifacts)["Dir"]))
    listing = {"images": images, "conformance": conformance}
    image_list_path(artifacts).write_text(json.dumps(listing, indent=2) + "\n")
    return images


def parse_image_list(out: str) -> list[str]:
    """e2e.test prints one reference a line, in map order: sorted, without duplicates."""
    return sorted({line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()})


def listed_images(artifacts: ArtifactSet) -> list[str]:
    return json.loads(image_list_path(artifacts).read_text())["images"]


def conformance_listed(artifacts: ArtifactSet) -> frozenset[str]:
    """The repositories the version's conformance tests name (needs.py)."""
    return frozenset(json.loads(image_list_path(artifacts).read_text()).get("conformance", ()))


def for_conformance(reference: str, conformance: frozenset[str] = frozenset()) -> bool:
    """Used by a conformance test: the version's sources say so, or our recipe does."""
    recipe = recipe_for(reference)
    return split_reference(reference)[0] in conformance or (recipe is not None and recipe.conformance)


def cluster_images(artifacts: ArtifactSet) -> set[str]:
    """Images every node already holds (kubeadm's list: pause, kube-proxy). Not
    etcd and the control plane's: only the master has them, and test pods run
    on the workers (1.37's test etcd is the cluster's own tag, 3.7.0-0)."""
    from tasks.node.image import MASTER_ONLY_IMAGES

    try:
        return {ref for name, ref in artifacts.images().items() if name not in MASTER_ONLY_IMAGES}
    except (OSError, ValueError, KeyError):
        return set()


@dataclass(frozen=True)
class ImagePlan:
    """One test image to make: its archive (target) and what it is made from."""

    reference: str
    archive: Path
    recipe: Recipe
    bases: tuple[Path, ...] = ()  # Debian base tars (build_base)
    programs: tuple[Path, ...] = ()  # Go programs (build_program, or build_test_etcd for etcd), busybox
    files: tuple[Path, ...] = field(default=())  # our files under images/e2e/

    @property
    def file_deps(self) -> list[Path]:
        return [*self.bases, *self.programs, *self.files]

    def outdated(self) -> bool:
        """No archive yet, or one older than an input (busybox rebuilt for a new recipe)."""
        if not self.archive.exists():
            return True
        made = self.archive.stat().st_mtime
        return any(path.exists() and path.stat().st_mtime > made for path in self.file_deps)


def image_plan(artifacts: ArtifactSet, images: list[str], suite: str = SUITE) -> list[ImagePlan]:
    """For each listed image we have a recipe for (and the cluster does not already
    provide): its archive and the inputs a doit task would name as file_dep.
    CoreDNS (optional, for /coredns in agnhost and jessie-dnsutils) is not among them."""
    plans = []
    provided = cluster_images(artifacts)
    for reference in images:
        recipe = recipe_for(reference)
        if recipe is None or reference in provided:
            continue
        if split_reference(reference)[0] == "registry.k8s.io/etcd":
            tag = split_reference(reference)[1]
            programs = tuple(etcd_program(artifacts, tag, name) for name in ("etcd", "etcdctl"))
        else:
            programs = tuple(program_path(artifacts, name) for name in recipe.programs)
        if recipe.busybox:
            programs += (busybox.binary(), busybox.applets_path())
        plans.append(
            ImagePlan(
                reference,
                archive_path(artifacts, reference),
                recipe,
                bases=(base_path(recipe.base, suite),) if recipe.base else (),
                programs=programs,
                files=tuple(IMAGE_FILES / name for name in recipe.files),
            )
        )
    return plans


def build_test_image(artifacts: ArtifactSet, reference: str, suite: str = SUITE) -> str:
    """Write the archive of one test image (its base and programs must exist);
    return its image ID."""
    recipe = recipe_for(reference)
    if recipe is None:
        raise UserError(f"no recipe for the test image {reference}: {why_not_made(reference)}")
    build = Build(artifacts, split_reference(reference)[1], suite)
    config = recipe.config
    config = oci.ImageConfig(
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        env=config.env,
        user=config.user,
        workdir=config.workdir,
        stop_signal=config.stop_signal,
        # The reference in a label: two tags of one recipe (httpd 2.4.38-4 and
        # 2.4.39-4) are then two images, as the rolling-update tests expect.
        labels={
            "io.kubeadm-local-cluster.built-from": "source",
            "io.kubeadm-local-cluster.recipe": RECIPE,
            "io.kubeadm-local-cluster.test-image": reference,
        },
    )
    arch = gobuild.go_env()["GOARCH"]
    return oci.write_image(archive_path(artifacts, reference), [reference], recipe.layers(build), config, arch)


def build_test_images(
    artifacts: ArtifactSet, suite: str = SUITE, force: bool = False, conformance_only: bool = False
) -> E2EImages:
    """Everything e2e_images reports, made in order: bases, programs, busybox,
    archives. Whatever exists is kept unless force (doit tasks can use the finer
    steps instead); an archive older than one of its inputs is made again."""
    plans = image_plan(artifacts, listed_images(artifacts), suite)
    conformance = conformance_listed(artifacts)
    plans = [plan for plan in plans if for_conformance(plan.reference, conformance) or not conformance_only]
    for name in sorted({plan.recipe.base for plan in plans if plan.recipe.base}):
        if force or not base_path(name, suite).exists():
            build_base(name, suite)
    for name in sorted({program for plan in plans for program in plan.recipe.programs}):
        if force or not program_path(artifacts, name).exists():
            build_program(artifacts, name)
    if any(plan.recipe.busybox for plan in plans) and (
        force or not (busybox.binary().exists() and busybox.applets_path().exists())
    ):
        busybox.build()
    for plan in plans:
        if split_reference(plan.reference)[0] == "registry.k8s.io/etcd" and (
            force or not all(p.exists() for p in plan.programs)
        ):
            build_test_etcd(artifacts, split_reference(plan.reference)[1])
        if force or plan.outdated():
            build_test_image(artifacts, plan.reference, suite)
    return e2e_images(artifacts)


class E2EImages(NamedTuple):
    """What the e2e report prints: archives to load into the nodes, and images the
    tests may ask for that no node has (each with why; Conformance ones first)."""

    archives: list[Path]
    missing: list[str]


def e2e_images(artifacts: ArtifactSet, conformance_only: bool = False) -> E2EImages:
    """The test image archives made so far (those Conformance tests use, if
    conformance_only), and the listed images that are neither made nor
    preloaded by the cluster (pause is: the node image carries it)."""
    provided = cluster_images(artifacts)
    conformance = conformance_listed(artifacts)
    archives, missing = [], []
    for reference in listed_images(artifacts):
        archive = archive_path(artifacts, reference)
        recipe = recipe_for(reference)
        if recipe is not None and conformance_only and not for_conformance(reference, conformance):
            continue
        if recipe is not None and archive.exists():
            archives.append(archive)
        elif reference not in provided:
            missing.append(reference)
    return E2EImages(archives, missing)


def combine_archives(archives: list[Path], target: Path) -> None:
    """One `docker save` archive holding every image of archives, each layer once.

    The test images share large layers (agnhost's files in agnhost, kitten and
    nautilus, the Alpine base under kitten and nautilus, one base under both
    httpd and both nginx tags): copying one combined
    archive into a node moves ~1 GB less than copying them one by one, and
    `ctr images import` and `docker load` read it the same way."""
    manifest: list[dict] = []
    for archive in archives:
        with tarfile.open(archive) as source:
            manifest.extend(json.load(source.extractfile("manifest.json")))
    payload = json.dumps(manifest).encode()
    info = tarfile.TarInfo("manifest.json")
    info.size, info.mode = len(payload), 0o644
    seen: set[str] = set()
    with (
        replacing(target) as partial,
        tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as out,
    ):
        out.addfile(info, io.BytesIO(payload))  # first, as in the archives oci.write_image makes
        for archive in archives:
            with tarfile.open(archive) as source:
                for member in source:
                    # Layers and configs are named by their digests: same name, same bytes.
                    if member.name in ("manifest.json", "repositories") or member.name in seen:
                        continue
                    seen.add(member.name)
                    out.addfile(member, source.extractfile(member) if member.isfile() else None)


def missing_report(missing: list[str], conformance: frozenset[str] = frozenset()) -> list[str]:
    """One line per missing image: the reference and why (those Conformance tests
    use first). An image that is not made on purpose (NOT_MADE: credentials,
    kernel features) is not "needed": the tests that use it are not conformance
    tests, even when they share a file with one."""
    needed = [ref for ref in missing if for_conformance(ref, conformance) and not not_made_on_purpose(ref)]
    lines = [f"{ref}: needed by Conformance tests, not made here ({why_not_made(ref)})" for ref in needed]
    lines += [f"{ref}: {why_not_made(ref)}" for ref in missing if ref not in needed]
    return lines
