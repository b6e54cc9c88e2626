"""Artifacts built for real from the Go module proxy and Debian packages.

One build per version for the whole session (in a state directory shared by
these tests); the tests then check what a user would: the binaries run and
report the version, the images are exactly those kubeadm lists, a second run
does nothing, and deleting one artifact rebuilds just that one.
"""

import json
import os
import subprocess

import pytest

from tasks.build.oci import read_tags
from tests.integration.conftest import VERSION, local_cluster

pytestmark = pytest.mark.integration

# VERSION (the default, stable) is the release the cluster tests use; more
# versions can be added with LOCAL_CLUSTER_TEST_VERSIONS=v1.34.4,...
VERSIONS = [VERSION, *filter(None, os.environ.get("LOCAL_CLUSTER_TEST_VERSIONS", "").split(","))]
VERSION_COMMANDS = {
    "kubeadm": ["version", "-o", "short"],
    "kubectl": ["version", "--client"],
    "kubelet": ["--version"],
    "kube-apiserver": ["--version"],
    "kube-controller-manager": ["--version"],
    "kube-scheduler": ["--version"],
    "kube-proxy": ["--version"],
}


@pytest.fixture(scope="session")
def built(shared_home):
    """{version: its cache directory}, each built once."""
    results = {}
    for version in VERSIONS:
        result = local_cluster(shared_home, "artifacts", "--kubernetes-version", version)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        results[version] = shared_home / ".kubeadm-local-cluster" / "cache" / "kubernetes" / version
    return results


@pytest.mark.parametrize("version", VERSIONS)
def test_every_binary_runs_and_reports_the_version(built, version):
    bin_dir = built[version] / "bin"
    for name, args in VERSION_COMMANDS.items():
        out = subprocess.run([str(bin_dir / name), *args], capture_output=True, text=True, timeout=60).stdout
        assert version in out, f"{name} says {out!r}"
    assert (
        "etcd Version: " in subprocess.run([str(bin_dir / "etcd"), "--version"], capture_output=True, text=True).stdout
    )
    assert "CoreDNS-" in subprocess.run([str(bin_dir / "coredns"), "-version"], capture_output=True, text=True).stdout
    assert (
        "crictl version v1."
        in subprocess.run([str(bin_dir / "crictl"), "--version"], capture_output=True, text=True).stdout
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_images_are_exactly_what_kubeadm_lists(built, version):
    listed = subprocess.run(
        [str(built[version] / "bin" / "kubeadm"), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    present = [tag for archive in sorted((built[version] / "images").glob("*.tar")) for tag in read_tags(archive)]
    assert sorted(present) == sorted(listed)


@pytest.mark.parametrize("version", VERSIONS)
def test_images_load_into_the_engine_and_the_programs_run(built, version):
    images = built[version] / "images"
    for component, argv in (
        ("pause", ["--version"]),
        ("coredns", ["-version"]),
        ("kube-apiserver", ["kube-apiserver", "--version"]),
        ("etcd", ["etcd", "--version"]),
        ("kube-proxy", ["iptables", "--version"]),
    ):
        tag = read_tags(images / f"{component}.tar")[0]
        loaded = subprocess.run(
            ["docker", "load", "-i", str(images / f"{component}.tar")], capture_output=True, text=True
        )
        assert loaded.returncode == 0, loaded.stderr
        ran = subprocess.run(["docker", "run", "--rm", tag, *argv], capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, f"{component}: {ran.stdout} {ran.stderr}"
        subprocess.run(["docker", "rmi", tag], capture_output=True)


def test_second_run_does_no_work(built, shared_home):
    version = VERSIONS[0]
    result = local_cluster(shared_home, "artifacts", "--kubernetes-version", version)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith(("•", "✓", "-"))]
    assert steps and all(line.endswith("up to date") for line in steps), steps


def test_deleting_one_artifact_rebuilds_just_that(built, shared_home):
    version = VERSIONS[0]
    (built[version] / "images" / "etcd.tar").unlink()
    (built[version] / "bin" / "kube-scheduler").unlink()
    result = local_cluster(shared_home, "artifacts", "--kubernetes-version", version)
    assert result.returncode == 0, result.stdout + result.stderr
    redone = sorted(line for line in result.stdout.splitlines() if line.startswith("✓"))
    assert [line.split(" (")[0] for line in redone] == [
        f"✓ etcd image for Kubernetes {version}",
        f"✓ kube-scheduler {version} from Go modules",
    ]
    # The rebuilt binary is the same file, so its image is still up to date.
    assert (built[version] / "images" / "etcd.tar").exists()
    assert json.loads((built[version] / "images.json").read_text())["images"]


@pytest.fixture
def release_site(tmp_path, shared_home):
    """A local HTTP server standing in for a release site (nothing outside answers here)."""
    import functools
    import http.server
    import shutil
    import threading

    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    # What the test downloaded from it (a GB that no later test reads).
    shutil.rmtree(shared_home / ".kubeadm-local-cluster" / "cache" / "downloads", ignore_errors=True)


def test_kubectl_from_a_url_with_its_checksum(built, shared_home, release_site):
    import hashlib
    import shutil

    version = VERSIONS[0]
    root, url = release_site
    shutil.copy(built[version] / "bin" / "kubectl", root / "kubectl")
    digest = hashlib.sha256((root / "kubectl").read_bytes()).hexdigest()

    def artifacts_with_kubectl_from_url(checksum: str):
        return local_cluster(
            shared_home,
            "artifacts",
            "--kubernetes-version",
            version,
            "--kubectl-url",
            f"{url}/kubectl",
            "--kubectl-sha1",
            checksum,
        )

    bad = artifacts_with_kubectl_from_url("0" * 64)
    assert bad.returncode == 1
    assert f"checksum mismatch for {url}/kubectl: expected sha256 {'0' * 64}, got {digest}" in bad.stdout
    downloads = shared_home / ".kubeadm-local-cluster" / "cache" / "downloads"
    assert not list(downloads.glob("*")), "a file that failed its checksum is never kept"
    good = artifacts_with_kubectl_from_url(digest)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"✓ kubectl {version} from {url}/kubectl" in good.stdout
    out = subprocess.run(
        [str(built[version] / "bin" / "kubectl"), "version", "--client"], capture_output=True, text=True
    ).stdout
    assert version in out
    # Back to the default source: kubectl is built from modules again.
    back = local_cluster(shared_home, "artifacts", "--kubernetes-version", version)
    assert back.returncode == 0 and f"✓ kubectl {version} from Go modules" in back.stdout


def test_kubeadm_built_in_a_kubernetes_tree(built, shared_home, kubernetes_tree):
    # FORCE_HOST_GO: the tree's own scripts would fetch the Go it pins; the
    # machine's Go reuses the build cache.
    result = local_cluster(
        shared_home,
        "artifacts",
        "--kubernetes-version",
        VERSION,
        "--build-kubeadm",
        "--k8s-dir",
        str(kubernetes_tree),
        env={"FORCE_HOST_GO": "y"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"✓ kubeadm {VERSION} from the tree {kubernetes_tree}" in result.stdout
    assert not any("from Go modules" in line for line in result.stdout.splitlines() if line.startswith("✓"))
    kubeadm = built[VERSION] / "bin" / "kubeadm"
    out = subprocess.run([str(kubeadm), "version", "-o", "short"], capture_output=True, text=True).stdout
    assert out.strip() == VERSION
    back = local_cluster(shared_home, "artifacts", "--kubernetes-version", VERSION)
    assert back.returncode == 0 and f"✓ kubeadm {VERSION} from Go modules" in back.stdout


def test_release_site_binaries_and_images(built, shared_home, release_site):
    """A local server laid out like the release site (nothing outside answers
    here): binaries and image archives with their published sha256. etcd,
    CoreDNS and pause are not released there: they are pre-loaded into the engine."""
    import hashlib
    import shutil

    from tasks.build.oci import retag

    version = VERSIONS[0]
    root, url = release_site
    released = root / version / "bin" / "linux" / "amd64"
    released.mkdir(parents=True)
    for name in VERSION_COMMANDS:
        shutil.copy(built[version] / "bin" / name, released / name)
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        retag(
            built[version] / "images" / f"{component}.tar",
            released / f"{component}.tar",
            [f"registry.k8s.io/{component}-amd64:{version}"],
        )
    for file in list(released.iterdir()):
        (released / f"{file.name}.sha256").write_text(hashlib.sha256(file.read_bytes()).hexdigest())
    preloaded = [tag for c in ("etcd", "coredns", "pause") for tag in read_tags(built[version] / "images" / f"{c}.tar")]
    for tag in preloaded:
        if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
            pytest.skip(f"the engine already has {tag}: the test would replace it")
    for component in ("etcd", "coredns", "pause"):
        subprocess.run(
            ["docker", "load", "-i", str(built[version] / "images" / f"{component}.tar")],
            check=True,
            capture_output=True,
        )
    try:
        result = local_cluster(shared_home, "artifacts", "--kubernetes-version", version, "--release-site", url)
    finally:  # the tags this test loaded, and only those
        subprocess.run(["docker", "rmi", *preloaded], capture_output=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for name in VERSION_COMMANDS:
        assert f"✓ {name} {version} from the release at {url}" in result.stdout
    for component in ("etcd", "coredns", "pause"):
        assert f"✓ {component} image from the engine (pre-loaded or pulled)" in result.stdout
    listed = json.loads((built[version] / "images.json").read_text())["images"]
    present = [tag for archive in sorted((built[version] / "images").glob("*.tar")) for tag in read_tags(archive)]
    assert sorted(present) == sorted(listed)
    back = local_cluster(shared_home, "artifacts", "--kubernetes-version", version)
    assert back.returncode == 0, back.stdout[-3000:]
