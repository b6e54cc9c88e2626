"""Conformance-test artifacts built for real: e2e.test and ginkgo from the Go
module proxy, the test images from Go programs and Debian packages, each
loaded into the engine and run.

Built once for the session in the shared state directory (Go's caches are the
real ones: e2e.test takes minutes cold, seconds warm). Containers made here
are named e2e-helper-*; a test image is loaded only when the engine has no
image of that name yet, and removed afterwards.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tasks.e2e.artifacts import combine_archives
from tasks.e2e.recipes import recipe_for
from tasks.paths import REPO_DIR
from tests.integration.conftest import GO_CACHES, VERSION

pytestmark = pytest.mark.integration

E2E = "registry.k8s.io/e2e-test-images"
BUILD = """
import json, sys
from tasks.build.artifacts import ArtifactSet
from tasks.e2e import artifacts as e2e
from tasks.e2e import recipes
artifacts = ArtifactSet(sys.argv[1])
e2e.prepare_e2e_module(artifacts)
e2e.build_e2e_test(artifacts)
e2e.build_ginkgo(artifacts)
e2e.list_test_images(artifacts)
archives, missing = e2e.build_test_images(artifacts)
print(json.dumps({
    "archives": {ref: str(recipes.archive_path(artifacts, ref)) for ref in e2e.listed_images(artifacts)
                 if recipes.archive_path(artifacts, ref) in archives},
    "missing": missing,
    "ginkgo": e2e.ginkgo_version(artifacts),
}))
"""


def docker(*args, check=False, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="session")
def e2e_built(shared_home):
    environ = {**os.environ, **GO_CACHES, "HOME": str(shared_home), "PYTHONPATH": str(REPO_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", BUILD, VERSION], capture_output=True, text=True, env=environ, timeout=3600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = json.loads(result.stdout.strip().splitlines()[-1])
    built["bin"] = shared_home / ".kubeadm-local-cluster" / "cache" / "kubernetes" / VERSION / "bin"
    return built


def test_e2e_test_and_ginkgo_report_their_versions(e2e_built):
    out = subprocess.run([str(e2e_built["bin"] / "e2e.test"), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == VERSION
    ginkgo = subprocess.run([str(e2e_built["bin"] / "ginkgo"), "version"], capture_output=True, text=True)
    assert ginkgo.stdout.strip() == f"Ginkgo Version {e2e_built['ginkgo'].removeprefix('v')}"
    # The conformance tests are in there (the runner focuses on them).
    listed = subprocess.run(
        [str(e2e_built["bin"] / "e2e.test"), "--list-conformance-tests"], capture_output=True, text=True
    )
    assert listed.returncode == 0 and listed.stdout.count("testname:") > 300


def tagged(e2e_built, repository: str) -> list[str]:
    """The references of REPOSITORY this release lists and we made (tags change with releases)."""
    return sorted(ref for ref in e2e_built["archives"] if ref.rsplit(":", 1)[0] == repository)


def one(e2e_built, repository: str) -> str:
    references = tagged(e2e_built, repository)
    if not references:
        pytest.skip(f"{repository} is not listed by this release")
    return references[-1]


def test_every_image_conformance_tests_use_is_built(e2e_built):
    for reference in e2e_built["missing"]:
        recipe = recipe_for(reference)
        assert recipe is None or not recipe.conformance, f"{reference} is missing"
    assert tagged(e2e_built, f"{E2E}/agnhost")


class Loaded:
    """A test image loaded into the engine for one test, and removed after it
    (only if the engine did not have that name before)."""

    def __init__(self, archive: str, reference: str):
        self.archive, self.reference = archive, reference

    def __enter__(self):
        if docker("image", "inspect", self.reference).returncode == 0:
            pytest.skip(f"the engine already has an image {self.reference}: not replacing it")
        docker("load", "-i", self.archive, check=True)
        return self

    def __exit__(self, *exc):
        docker("rmi", self.reference)


def run(reference: str, *args: str, entrypoint: str | None = None, user: str | None = None):
    name = f"e2e-helper-{uuid.uuid4().hex[:8]}"
    options = [*(["--entrypoint", entrypoint] if entrypoint else []), *(["--user", user] if user else [])]
    return docker("run", "--rm", "--name", name, *options, reference, *args, timeout=120)


# (repository, command, output it must contain, {version}: the tag's version);
# entrypoint "" keeps the image's. Every tag the release lists is run.
COMMANDS = [
    (f"{E2E}/agnhost", "", ["--help"], "Available Commands"),
    (f"{E2E}/agnhost", "sh", ["-c", "dig -v && curl --version && nc -h; iperf -v; ip -V"], "iproute2"),
    (f"{E2E}/agnhost", "id", ["-G", "user-defined-in-image"], "1000 50000"),
    (f"{E2E}/agnhost", "/agnhost-2", ["--help"], "Available Commands"),
    (f"{E2E}/busybox", "", ["sh", "-c", "wget --help 2>&1; echo ok"], "ok"),
    (f"{E2E}/jessie-dnsutils", "", ["dig", "-v"], "DiG"),
    (f"{E2E}/glibc-dns-testing", "", ["dig", "-v"], "DiG"),
    (f"{E2E}/nonewprivs", "", [], "Effective uid: 0"),
    (f"{E2E}/nonroot", "", ["id", "-u"], "1234"),
    (f"{E2E}/sample-apiserver", "", ["--help"], "--etcd-servers"),
    ("registry.k8s.io/etcd", "/usr/local/bin/etcd", ["--version"], "etcd Version: {version}"),
    (f"{E2E}/ipc-utils", "", ["ipcs"], "Shared Memory"),
    (f"{E2E}/resource-consumer", "stress", ["--version"], "stress"),
]


@pytest.mark.parametrize(("repository", "entrypoint", "args", "expected"), COMMANDS)
def test_image_loads_and_runs(e2e_built, repository, entrypoint, args, expected):
    references = tagged(e2e_built, repository)
    if not references:
        pytest.skip(f"{repository} is not listed by this release")
    for reference in references:
        with Loaded(e2e_built["archives"][reference], reference):
            result = run(reference, *args, entrypoint=entrypoint or None)
        assert result.returncode == 0, result.stderr
        version = reference.rsplit(":", 1)[1].split("-")[0]
        assert expected.format(version=version) in result.stdout + result.stderr, reference


def test_busybox_passes_any_environment_name_on_and_words_errors_as_ash(e2e_built):
    """Upstream's busybox does both, and conformance tests need both: Secrets
    and ConfigMaps "consumable via the environment" (`sh -c env` must show
    `data-1`), "a read only busybox container" (ash's message), Sysctls (/bin/sysctl)."""
    reference = one(e2e_built, f"{E2E}/busybox")
    name = f"e2e-helper-{uuid.uuid4().hex[:8]}"
    with Loaded(e2e_built["archives"][reference], reference):
        env = docker(
            "run",
            "--rm",
            "--name",
            name,
            "-e",
            "data-1=value-1",
            "-e",
            "p_data-1=value-2",
            reference,
            "sh",
            "-c",
            "env",
        )
        readonly = docker("run", "--rm", "--name", name, "--read-only", reference, "/bin/sh", "-c", "echo test > /file")
        sysctl = docker("run", "--rm", "--name", name, reference, "/bin/sysctl", "kernel.hostname")
    assert {"data-1=value-1", "p_data-1=value-2"} <= set(env.stdout.splitlines()), env.stdout + env.stderr
    assert readonly.returncode != 0 and readonly.stderr == "/bin/sh: can't create /file: Read-only file system\n"
    assert sysctl.returncode == 0 and sysctl.stdout.startswith("kernel.hostname = ")


# Web servers: started, then asked through their network namespace by busybox's wget.
SERVERS = [
    (f"{E2E}/nginx", "/", "Welcome to nginx"),
    (f"{E2E}/httpd", "/index.html", "It works!"),
    (f"{E2E}/nautilus", "/data.json", "nautilus.jpg"),
    (f"{E2E}/kitten", "/data.json", "kitten.jpg"),
]


@pytest.mark.parametrize(("repository", "path", "expected"), SERVERS)
def test_web_server_serves_on_port_80(e2e_built, repository, path, expected):
    references = tagged(e2e_built, repository)
    if not references:
        pytest.skip(f"{repository} is not listed by this release")
    busybox = one(e2e_built, f"{E2E}/busybox")
    for reference in references:
        serve(e2e_built, reference, busybox, path, expected)


def serve(e2e_built, reference: str, busybox: str, path: str, expected: str) -> None:
    name = f"e2e-helper-{uuid.uuid4().hex[:8]}"
    with Loaded(e2e_built["archives"][reference], reference), Loaded(e2e_built["archives"][busybox], busybox):
        docker("run", "-d", "--name", name, reference, check=True)
        try:
            script = f"for i in $(seq 30); do wget -qO- http://127.0.0.1{path} && exit 0; sleep 0.5; done; exit 1"
            result = docker("run", "--rm", "--network", f"container:{name}", busybox, "sh", "-c", script)
            logs = docker("logs", name)
        finally:
            docker("rm", "-f", name)
    assert result.returncode == 0, result.stderr + logs.stdout + logs.stderr
    assert expected in result.stdout


def test_a_combined_archive_loads_every_image(e2e_built, tmp_path):
    """What the runner copies into each node: one archive, shared layers once."""
    references = [one(e2e_built, f"{E2E}/busybox"), one(e2e_built, f"{E2E}/nonewprivs")]
    for reference in references:
        if docker("image", "inspect", reference).returncode == 0:
            pytest.skip(f"the engine already has an image {reference}: not replacing it")
    combined = tmp_path / "combined.tar"
    combine_archives([Path(e2e_built["archives"][r]) for r in references], combined)
    try:
        docker("load", "-i", str(combined), check=True)
        result = run(references[1])
        assert "Effective uid: 0" in result.stdout
        assert docker("image", "inspect", references[0]).returncode == 0
    finally:
        for reference in references:
            docker("rmi", reference)
