"""Which images a version's conformance tests use (from its sources), how a
missing one is reported, and the watcher for pods stuck on an image."""

import json
import textwrap
import threading

from tasks.container_io import ExecResult
from tasks.e2e import artifacts as e2e_artifacts
from tasks.e2e import needs, pulls, recipes

# Written to the shape of test/utils/image/manifest.go (an excerpt, not upstream's text).
FAKE_MANIFEST_GO = textwrap.dedent(
    """\
    func initReg() RegistryList {
        registry := RegistryList{
            GcAuthenticatedRegistry: "gcr.io/authenticated-image-pulling",
            PromoterE2eRegistry:     "registry.k8s.io/e2e-test-images",
            BuildImageRegistry:      "registry.k8s.io/build-image",
        }
        return registry
    }
    func initImageConfigs(list RegistryList) (map[ImageID]Config, map[ImageID]Config) {
        configs := map[ImageID]Config{}
        configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.59"}
        configs[GlibcDnsTesting] = Config{list.PromoterE2eRegistry, "glibc-dns-testing", "2.1.1"}
        configs[Perl] = Config{list.PromoterE2eRegistry, "perl", "5.26"}
        configs[AuthenticatedAlpine] = Config{list.GcAuthenticatedRegistry, "alpine", "3.7"}
        return configs, configs
    }
    """
)


def fake_source(tmp_path):
    (tmp_path / "test/utils/image").mkdir(parents=True)
    (tmp_path / "test/utils/image/manifest.go").write_text(FAKE_MANIFEST_GO)
    (tmp_path / "test/conformance/testdata").mkdir(parents=True)
    entries = [{"testname": "DNS", "file": "test/e2e/network/dns.go"}, {"testname": "x", "file": "test/e2e/gone.go"}]
    (tmp_path / "test/conformance/testdata/conformance.yaml").write_text(json.dumps(entries))
    (tmp_path / "test/e2e/network").mkdir(parents=True)
    (tmp_path / "test/e2e/network/dns.go").write_text(
        "glibc := dnsQuerier{image: imageutils.GlibcDnsTesting}\nmusl := imageutils.GetE2EImage(imageutils.Agnhost)\n"
    )
    (tmp_path / "test/e2e/other.go").write_text("imageutils.Perl\n")  # no conformance test here
    return tmp_path


def test_the_images_conformance_tests_name_come_from_the_versions_sources(tmp_path):
    assert needs.conformance_repositories(fake_source(tmp_path)) == [
        "registry.k8s.io/e2e-test-images/agnhost",
        "registry.k8s.io/e2e-test-images/glibc-dns-testing",
    ]


def test_an_image_conformance_tests_name_without_a_recipe_is_reported_before_the_run():
    conformance = frozenset({"registry.k8s.io/e2e-test-images/new-thing", "gcr.io/k8s-authenticated-test/agnhost"})
    missing = ["gcr.io/k8s-authenticated-test/agnhost:2.6", "registry.k8s.io/e2e-test-images/new-thing:1.0"]
    lines = e2e_artifacts.missing_report(missing, conformance)
    assert lines == [
        "registry.k8s.io/e2e-test-images/new-thing:1.0: needed by Conformance tests, not made here "
        "(no recipe for this image)",
        # Not made on purpose: its tests (private registries) share a file with conformance tests.
        "gcr.io/k8s-authenticated-test/agnhost:2.6: needs registry credentials on purpose (private-registry tests)",
    ]


def test_glibc_dns_testing_is_made_as_jessie_dnsutils_was():
    glibc = recipes.recipe_for("registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1")
    jessie = recipes.recipe_for("registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7")
    assert glibc is not None and (glibc.layers, glibc.base, glibc.config) == (jessie.layers, jessie.base, jessie.config)


# What `kubectl get pods -A -o json` says of a pod whose image cannot be pulled (fields trimmed).
STUCK = {
    "items": [
        {
            "metadata": {"namespace": "dns-3127", "name": "dns-test-5f2c"},
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "querier",
                        "image": "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": 'Back-off pulling image "registry.k8s.io/e2e-test-images/glibc-dns-'
                                'testing:2.1.1": ErrImagePull: failed to pull and unpack image: failed to resolve '
                                'image: failed to do request: Head "https://registry.k8s.io/v2/...": dial tcp: '
                                "lookup registry.k8s.io on 10.192.0.1:53: no such host",
                            }
                        },
                    },
                    {"name": "webserver", "image": "agnhost:2.59", "state": {"running": {}}},
                ],
            },
        },
        {"metadata": {"namespace": "kube-system", "name": "coredns-1"}, "status": {"phase": "Running"}},
    ]
}


def test_a_pod_waiting_on_a_failed_pull_is_found():
    assert pulls.stuck_pulls(STUCK) == [
        (
            "dns-3127",
            "dns-test-5f2c",
            "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
            "ImagePullBackOff: dial tcp: lookup registry.k8s.io on 10.192.0.1:53: no such host",
        )
    ]
    assert pulls.stuck_pulls({"items": []}) == []


class FakeCluster:
    """Stands in for a running cluster whose API server lists STUCK."""

    master = "kube-master"

    def __init__(self):
        self.objects = self
        self.asked = threading.Event()
        self.polls = 0

    def exec(self, node, argv, deadline):
        self.polls += 1
        if self.polls >= 2:
            self.asked.set()
        return ExecResult(0, json.dumps(STUCK))


def test_the_watcher_says_it_once_per_pod_and_image(monkeypatch, caplog):
    monkeypatch.setattr(pulls, "POLL_SECONDS", 0.05)
    cluster = FakeCluster()
    with caplog.at_level("WARNING"), pulls.watching(cluster) as said:
        assert cluster.asked.wait(5)
    lines = [r.getMessage() for r in caplog.records if "cannot get the image" in r.getMessage()]
    assert lines == [
        "pod dns-3127/dns-test-5f2c cannot get the image registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1 "
        "(ImagePullBackOff: dial tcp: lookup registry.k8s.io on 10.192.0.1:53: no such host): the test whose "
        "namespace is dns-3127 waits for it until its timeout"
    ]
    assert len(said) == 1
