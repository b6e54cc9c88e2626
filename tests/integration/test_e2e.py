"""`e2e` on a real cluster (1 master + 2 workers): a real conformance test,
run by e2e.test and ginkgo built here, with test images built here."""

import xml.etree.ElementTree as ET

import pytest

from tasks.naming import Names
from tasks.registry import IMAGE as REGISTRY_IMAGE
from tests.integration.conftest import VERSION, local_cluster
from tests.integration.test_cluster import docker

pytestmark = pytest.mark.integration

DNS_TEST = "should provide DNS for the cluster"
NAME = "it-e2e"


@pytest.fixture(scope="module")
def cluster(shared_home):
    # The run's mirror loads the registry image, which `clean` of one cluster keeps for others.
    had_registry_image = docker("image", "inspect", REGISTRY_IMAGE).returncode == 0
    result = local_cluster(shared_home, "up", "--kubernetes-version", VERSION, "--num-nodes", "2", cluster=NAME)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    yield shared_home
    local_cluster(shared_home, "clean", cluster=NAME)
    if not had_registry_image:
        docker("rmi", REGISTRY_IMAGE)


def e2e(home, *args):
    return local_cluster(home, "e2e", "--kubernetes-version", VERSION, "--num-nodes", "2", *args, cluster=NAME)


def test_a_conformance_test_passes_and_writes_junit(cluster, tmp_path):
    reports = tmp_path / "reports"
    # A flag after the substring is a flag, not part of the substring (#14).
    result = e2e(cluster, DNS_TEST, "--report-dir", str(reports))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "1 passed, 0 failed, 0 skipped" in out
    assert f"JUnit and the log: {reports}" in out
    junit = list(reports.glob("junit*.xml"))
    assert junit, sorted(p.name for p in reports.iterdir())
    cases = [c for c in ET.parse(junit[0]).getroot().iter("testcase") if DNS_TEST in c.get("name", "")]
    assert any(c.get("status") == "passed" and "[Conformance]" in c.get("name") for c in cases)
    assert (reports / "e2e.log").stat().st_size > 0
    # The images it ran were made here and loaded into the workers.
    listed = docker("exec", Names(NAME).worker(1), "crictl", "images").stdout
    # The DNS test's glibc prober: glibc-dns-testing since 1.35 (jessie-dnsutils before).
    assert "e2e-test-images/agnhost" in listed and "e2e-test-images/glibc-dns-testing" in listed


# Its Deployments run agnhost with imagePullPolicy: Always (1.37 on).
PULL_ALWAYS_TEST = "should allow server and client pods to establish an mTLS connection"


def test_a_test_that_pulls_always_gets_the_image_from_the_run_s_mirror(cluster, tmp_path):
    names = Names(NAME)
    result = e2e(cluster, PULL_ALWAYS_TEST, "--report-dir", str(tmp_path / "always"))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "1 passed, 0 failed, 0 skipped" in out
    assert f"served as registry.k8s.io/... to the nodes by {names.e2e_mirror}" in out
    # After the run: the mirror is gone, its data kept; the nodes pull from registry.k8s.io again.
    assert docker("ps", "-a", "--filter", f"name=^{names.e2e_mirror}$", "-q").stdout.strip() == ""
    assert docker("volume", "inspect", names.e2e_mirror_volume).returncode == 0
    hosts = docker("exec", names.worker(1), "ls", "/etc/containerd/certs.d").stdout
    assert "registry.k8s.io" not in hosts


def test_a_substring_that_matches_nothing_fails_clearly(cluster, tmp_path):
    result = e2e(cluster, "--report-dir", str(tmp_path / "none"), "no test is called this (really)")
    assert result.returncode == 1
    assert "no parallel conformance tests whose name contains 'no test is called this (really)'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# 1.35+: mounts kitten as an image volume and wants "Alpine Linux" in its
# /etc/os-release (upstream's kitten is agnhost on Alpine; ours is too: tasks/e2e/alpine.py).
IMAGE_VOLUME_TEST = "ImageVolume should succeed with pod and pull policy of Always"


def test_an_image_volume_of_kitten_holds_alpine_as_upstream_s(cluster, tmp_path):
    result = e2e(cluster, IMAGE_VOLUME_TEST, "--report-dir", str(tmp_path / "volume"))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "1 passed, 0 failed, 0 skipped" in out
