"""This machine's platform and the nodes' (the engine's): what is built for
which, and where, when they differ. This machine's platform is a fake here
(a Mac, an arm64 laptop); the engine's architecture is what it would say."""

import pytest

from tasks.build import artifacts, client, containerd, debian, gobuild, platforms, run_built
from tasks.doctor import OK, check_platforms
from tasks.e2e import busybox
from tasks.engine import EngineFacts
from tasks.settings import load_settings
from tasks.taskkit import recipe

MACHO_ARM64 = client.MACHO_64 + (0x0100000C).to_bytes(4, "little")
ELF_AMD64 = b"\x7fELF" + bytes(14) + (62).to_bytes(2, "little")


@pytest.fixture
def a_mac(monkeypatch):
    """This machine is a Mac on arm64; the engine (a cloud box) is amd64."""
    monkeypatch.setattr(platforms, "this_machine", lambda: ("darwin", "arm64"))
    platforms.remember("x86_64")


def test_the_nodes_are_built_for_the_engines_architecture_not_this_machines():
    platforms.remember("aarch64")
    assert gobuild.go_env()["GOARCH"] == "arm64" and gobuild.go_env()["GOOS"] == "linux"
    assert artifacts.release_url("https://dl.example", "v1.37.2", "kubelet").endswith("/bin/linux/arm64/kubelet")
    assert recipe()["arch"] == "arm64"  # a cache made for an amd64 engine is rebuilt, not used
    platforms.remember("x86_64")
    assert "arch" not in recipe()  # amd64 caches made before the architecture was recorded stay good


def test_an_engine_that_says_no_architecture_leaves_this_machines(monkeypatch):
    monkeypatch.setattr(platforms, "this_machine", lambda: ("linux", "arm64"))
    platforms.remember(None)
    assert platforms.nodes_architecture() == "arm64" and platforms.foreign() is None


def test_on_another_platform_the_c_builds_and_debian_bases_are_made_on_the_engine(a_mac, monkeypatch, tmp_path):
    said = "this machine is darwin/arm64, the nodes linux/amd64"
    assert platforms.foreign() == said
    # Even with every tool here: they would make this machine's architecture.
    monkeypatch.setattr(containerd.ctools, "missing", lambda programs: None)
    assert containerd.runc_build_problem() == said and busybox.build_problem() == said
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    made = []

    def on_the_engine(options, hooks, partial, *rest):
        made.append(options)
        partial.write_bytes(b"a tar")
        return 1.0

    monkeypatch.setattr(debian.debian_engine, "run_mmdebstrap", on_the_engine)
    debian.rootfs("trixie", ["base-files"], tmp_path / "base.tar", "a base", mirror="http://deb.example/debian")
    assert len(made) == 1


def test_this_machine_runs_no_program_built_for_the_nodes(a_mac, tmp_path):
    program = tmp_path / "kubeadm"
    program.write_bytes(ELF_AMD64)
    assert not run_built.runs_here(program)


def test_a_mac_gets_a_kubectl_of_its_own_from_the_modules_or_the_release(a_mac):
    version = artifacts.ArtifactSet("v1.37.2")
    modules = load_settings(environ={})
    assert client.needs_own_kubectl()
    own = client.kubectl_for_this_machine(version, modules)
    assert own == version.root / "client" / "darwin-arm64" / "kubectl" != version.binary("kubectl")
    task = client.task_dict(version, modules)
    assert task["targets"] == [str(own)] and task["meta"]["title"] == "kubectl v1.37.2 for darwin/arm64"
    released = load_settings(environ={"K8S_DIND_RELEASE_SITE": "https://dl.example/release"})
    assert client.kubectl_for_this_machine(version, released) == own
    # A URL's kubectl is the user's Linux binary: nothing this machine can run, so none.
    from_url = load_settings(
        environ={"K8S_DIND_KUBECTL_URL": "https://example/kubectl", "K8S_DIND_KUBECTL_SHA1": "a" * 40}
    )
    assert client.kubectl_for_this_machine(version, from_url) is None
    assert client.task_dict(version, from_url)["actions"] is None


def test_a_machine_of_the_nodes_platform_uses_their_kubectl():
    version = artifacts.ArtifactSet("v1.37.2")
    settings = load_settings(environ={})
    assert not client.needs_own_kubectl()
    assert client.kubectl_for_this_machine(version, settings) == version.binary("kubectl")
    assert client.task_dict(version, settings)["actions"] is None


def test_a_program_for_this_machine_is_checked_by_its_header_and_build_information(tmp_path):
    program = tmp_path / "kubectl"
    said = b"\npath\tk8s.io/kubernetes/cmd/kubectl\nmod\tk8s.io/kubernetes\tv1.37.2\th1:x=\n"
    darwin = b"build\tGOOS=darwin\nbuild\tGOARCH=arm64\n"
    program.write_bytes(MACHO_ARM64 + said + darwin)
    client.check_executable(program, ("darwin", "arm64"), ("k8s.io/kubernetes", "v1.37.2"), "kubectl")
    with pytest.raises(Exception, match="is not a darwin/amd64 program"):
        client.check_executable(program, ("darwin", "amd64"), ("k8s.io/kubernetes", "v1.37.2"), "kubectl")
    with pytest.raises(Exception, match=r"is not built from k8s\.io/kubernetes v1\.37\.3"):
        client.check_executable(program, ("darwin", "arm64"), ("k8s.io/kubernetes", "v1.37.3"), "kubectl")
    program.write_bytes(MACHO_ARM64 + said + b"build\tGOOS=linux\nbuild\tGOARCH=arm64\n")
    with pytest.raises(Exception, match="is not a darwin/arm64 program"):  # a Mach-O header, a Linux build
        client.check_executable(program, ("darwin", "arm64"), ("k8s.io/kubernetes", "v1.37.2"), "kubectl")
    program.write_bytes(ELF_AMD64 + said + b"build\tGOOS=linux\nbuild\tGOARCH=amd64\n")
    client.check_executable(program, ("linux", "amd64"), ("k8s.io/kubernetes", "v1.37.2"), "kubectl")
    with pytest.raises(Exception, match="is not a darwin/arm64 program"):
        client.check_executable(program, ("darwin", "arm64"), ("k8s.io/kubernetes", "v1.37.2"), "kubectl")


def test_doctor_says_which_platforms_and_what_is_made_where(a_mac):
    facts = EngineFacts("27.0", "1.47", "ssh://me@box", "DOCKER_HOST", False, "x86_64", "2", "systemd", "/d", "Debian")
    check = check_platforms(facts)
    assert check.status == OK
    assert check.detail.startswith("this machine is darwin/arm64, the nodes linux/amd64 (the engine's)")
    assert "kubectl and helm built for this machine" in check.detail
