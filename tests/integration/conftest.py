"""Integration tests share one state directory for the session: artifacts are
built once, clusters are made from them. Go's caches are the real ones, so a
warm machine stays warm."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tasks.paths import REPO_DIR
from tests.conftest import GO_CACHES

__all__ = ["BUSYBOX", "GO_CACHES", "VERSION", "Kubectl", "kubernetes_tree", "local_cluster", "tool_environ"]

# The release the cluster tests use: what `stable` (the default) gives users
# today, so CI tests what they get; raise it with each stable release (#14).
VERSION = "v1.37.2"
BUSYBOX = "kubeadm-local-cluster.invalid/busybox:test"  # made by the busybox_archive fixture


class Kubectl:
    """The cluster's own kubectl with its own kubeconfig, as `up` wrote them."""

    def __init__(self, home, cluster: str):
        from tasks.naming import Names

        names = Names(cluster)
        self.binary, self.kubeconfig = names.kubectl(home), names.kubeconfig(home)

    def __call__(self, *args, check=True, timeout=120, input=None) -> str:
        result = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stdout} {result.stderr}")
        return result.stdout

    def json(self, *args):
        return json.loads(self(*args, "-o", "json"))

    def apply(self, manifest: str) -> None:
        self("apply", "-f", "-", input=manifest)


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


# Never the default cluster: a test that names none gets this one.
UNNAMED = "it-unnamed"
# The suite's node images under a repository of its own: it never re-tags the
# user's kubeadm-local-cluster/node:<version>, and removes its own at the end.
NODE_REPOSITORY = "kubeadm-local-cluster-test/node"


def tool_environ(home, cluster=UNNAMED, env=None) -> dict[str, str]:
    """The environment every run of the tool in the suite gets: the state
    directory in home, cluster CLUSTER (a flag in the arguments wins), the
    suite's node image repository, none of the caller's K8S_DIND_* settings
    or KUBECONFIG (so ~/.kube/config is the one in HOME)."""
    # Nor the caller's KUBECONFIG: `up` would add the suite's clusters to their kubeconfig.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("K8S_DIND_") and k != "KUBECONFIG"}
    environ.update(GO_CACHES, HOME=str(home), PYTHONPATH=str(REPO_DIR))
    environ["K8S_DIND_CLUSTER_NAME"] = cluster
    environ["K8S_DIND_NODE_IMAGE_REPOSITORY"] = NODE_REPOSITORY
    environ.update(env or {})
    return environ


def local_cluster(home, *args, cluster=UNNAMED, env=None, timeout=3600):
    """`local-cluster ARGS`, run to the end, with tool_environ()."""
    environ = tool_environ(home, cluster, env)
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args], capture_output=True, text=True, env=environ, timeout=timeout
    )


@pytest.fixture(scope="session")
def busybox_archive(shared_home):
    """A busybox image archive from Debian's busybox-static, by our own code
    (test_cluster.load_busybox puts it into nodes)."""
    from tasks.build import debian, oci

    work = shared_home / "busybox"
    rootfs = work / "rootfs.tar"
    if not rootfs.exists():
        home = os.environ["HOME"]
        os.environ["HOME"] = str(shared_home)  # its build log goes to the session's state directory
        try:
            debian.rootfs("trixie", ["busybox-static"], rootfs, "busybox test image", variant="extract")
        finally:
            os.environ["HOME"] = home
    applets = ["sh", "sleep", "wget", "nslookup", "httpd", "ping", "cat", "echo", "hostname", "ip"]
    links = tuple(oci.FileEntry(f"bin/{name}", link="/usr/bin/busybox") for name in applets)
    archive = work / "busybox.tar"
    oci.write_image(archive, [BUSYBOX], [oci.Layer(tar=rootfs), oci.Layer(files=links)], oci.ImageConfig(cmd=("sh",)))
    return archive


@pytest.fixture(scope="session")
def kubernetes_tree(tmp_path_factory):
    """A real Kubernetes tree, assembled from the module cache (scripts/kubernetes_tree.py)."""
    sys.path.insert(0, str(REPO_DIR / "scripts"))
    from kubernetes_tree import assemble

    return assemble(tmp_path_factory.mktemp("tree") / "kubernetes", VERSION, GO_CACHES)


# ---------------------------------------------------------------- hands off the user's engine objects
# The images every cluster shares (the node image of a version, the probe) are
# caches the suite may load again, as any `up` would; everything else that
# exists before the suite must be there after it, unchanged.
SHARED_CACHE_ROLES = ("probe",)  # the 129-byte probe image: the same for everyone


def engine_objects() -> dict:
    import docker

    client = docker.from_env(timeout=120)
    api = client.api
    images = {}
    for image in api.images(all=False):
        role = (image.get("Labels") or {}).get("io.kubeadm-local-cluster.role")
        if role not in SHARED_CACHE_ROLES:
            images[image["Id"]] = sorted(image.get("RepoTags") or [])
    return {
        "containers": {c["Id"]: c["Names"][0] for c in api.containers(all=True)},
        "volumes": sorted(v["Name"] for v in api.volumes().get("Volumes") or []),
        "networks": {n["Id"]: n["Name"] for n in api.networks()},
        "images": images,
    }


def dockerd_pid() -> str:
    return subprocess.run(["pgrep", "-x", "-o", "dockerd"], capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session", autouse=True)
def users_engine_objects_untouched(request):
    """Fails the run when the suite changed or removed an engine object it did
    not make (a container, volume, network, image or tag), or restarted the
    host's dockerd."""
    if not any(item.get_closest_marker("integration") for item in request.session.items):
        yield
        return
    try:
        before, pid = engine_objects(), dockerd_pid()
    except Exception:  # no engine: the tests that need one say so
        yield
        return
    yield
    # By tag, never by ID: the suite's node image may be byte for byte the
    # user's (the same ID), and removing an ID would untag theirs too.
    subprocess.run(
        f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' {NODE_REPOSITORY} | xargs -r docker rmi",
        shell=True,
        capture_output=True,
    )
    # The seeds of the suite's node images (tasks/node/seed.py), by their names.
    seeds = NODE_REPOSITORY.replace("/", "-") + "-"
    subprocess.run(
        f"docker volume ls -q --filter label=io.kubeadm-local-cluster.role=node-seed | grep '^{seeds}' "
        "| xargs -r docker volume rm",
        shell=True,
        capture_output=True,
    )
    # The store of the suite's archives (tasks/node/archives.py), by its name.
    subprocess.run(["docker", "volume", "rm", NODE_REPOSITORY.replace("/", "-") + "-archives"], capture_output=True)
    after = engine_objects()
    changed = []
    for kind, objects in before.items():
        for key, value in objects.items() if isinstance(objects, dict) else ((o, o) for o in objects):
            now = after[kind].get(key) if isinstance(after[kind], dict) else (key if key in after[kind] else None)
            if now != value:
                changed.append(f"{kind} {value}: {'gone' if now is None else f'now {now}'}")
    assert not changed, "the tests changed objects they did not make: " + "; ".join(changed)
    assert dockerd_pid() == pid, "the host's dockerd was restarted by the tests"


@pytest.fixture(scope="session")
def second_engine(tmp_path_factory):
    """A Docker engine of the suite's own (tests.integration.second_engine): the
    one that tests which stop or restart an engine use."""
    from tests.integration.second_engine import SecondEngine, can_start

    why_not = can_start()
    if why_not:
        pytest.skip(f"a second engine cannot be started here: {why_not}")
    # A short path: dockerd's unix socket path must stay under 108 bytes.
    engine = SecondEngine(Path(tempfile.mkdtemp(prefix="klc-engine-")))
    engine.create_namespace()
    try:
        engine.start()
        yield engine
    finally:
        engine.remove()


@pytest.fixture(scope="session")
def ssh_engine(second_engine):
    """The second engine reached over ssh://, as a cloud box is: sshd of the
    suite's own in the engine's namespace (tests.integration.second_engine)."""
    from tests.integration.second_engine import can_serve_ssh

    why_not = can_serve_ssh()
    if why_not:
        pytest.skip(f"the second engine cannot be reached over ssh here: {why_not}")
    second_engine.start_sshd()
    return second_engine
