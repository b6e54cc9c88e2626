"""The tasks, one per step: `doit list` reads like the pipeline.

Commands (up, down, clean, ...) are tasks too, so `doit up` and
`local-cluster up` run the same thing."""

from __future__ import annotations

import dataclasses
import functools

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from tasks import artifacts as art
from tasks import cluster as clu
from tasks import context, doctor, e2e, e2e_artifacts, node_image
from tasks.console import CONSOLE, StatusReporter, marks
from tasks.errors import UserError
from tasks.gobuild import KUBERNETES_COMMANDS
from tasks.paths import IMAGES_DIR, dep_file
from tasks.settings import INVOCATION_FLAGS, SCHEMA, render_effective

COMMANDS = {
    "up": "bring the cluster up (from its snapshot when the settings match)",
    "down": "remove the node containers, keep the snapshot",
    "clean": "remove the cluster, its snapshot, volumes and network",
    "reup": "rebuild Kubernetes from source and put it into the (restored) cluster",
    "e2e": "run the parallel conformance tests, or those whose name contains SUBSTRING",
    "e2e-serial": "run the serial conformance tests, or those whose name contains SUBSTRING",
    "config": "print the effective settings and where each came from",
    "doctor": "check that this machine and its Docker engine can run a cluster",
}


def doit_config() -> dict:
    """doit's configuration, made when the tasks load (HOME may differ per run)."""
    return {
        "dep_file": str(dep_file()),
        "backend": "sqlite3",  # survives overlapping readers; json and dbm lose records
        "verbosity": 2,  # our own console decides what is shown
        "reporter": StatusReporter,
        "par_type": "thread",
        "sort": "definition",  # `list` reads like the pipeline
        "minversion": "0.36.0",
    }


DOIT_CONFIG = doit_config()


def step(function):
    """A task action: a UserError becomes a clean one-line task failure."""

    @functools.wraps(function)
    def action(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except UserError as err:
            return TaskFailed(str(err))
        return True if result is None else result

    return action


def flag_params() -> list[dict]:
    """Every setting as a task option, so doit accepts `up --num-nodes 3`.

    The values are read by the loader (tasks.settings.parse_flags), not here."""
    params = []
    for setting in SCHEMA:
        param = {"name": setting.flag.replace("-", "_"), "long": setting.flag, "help": setting.help}
        if setting.is_bool:
            param.update(type=bool, default=None, inverse=setting.inverse)
        else:
            param.update(type=str, default="")
        params.append(param)
    for flag, help_ in INVOCATION_FLAGS.items():
        params.append({"name": flag.replace("-", "_"), "long": flag, "type": bool, "default": False, "help": help_})
    return params


def command(name: str, actions: list, **extra) -> dict:
    return {
        "basename": name,
        "doc": COMMANDS[name],
        "actions": actions,
        "params": flag_params(),
        "uptodate": [False],  # a command always runs; its steps may be up to date
        "verbosity": 2,
        **extra,
    }


# ---------------------------------------------------------------- commands


def task_reup():
    """`up` after rebuilding what comes from source, with the new binaries put
    into the (restored) cluster instead of a kubeadm run"""
    return command("reup", [report_up], task_dep=["kubeconfig"], meta={"status": False})


def run_conformance(serial: bool):
    @step
    def action(substring):
        selection = e2e.Selection(serial=serial, substring=" ".join(substring or []).strip())
        summary = e2e.run(_cluster(), selection)
        if summary.ran == 0:
            raise UserError(
                f"no {selection.describe()}: nothing ran (see {summary.report_dir}); "
                "`e2e.test --list-conformance-tests` lists their names"
            )
        print(summary.line())
        for name in summary.failed:
            print(f"  failed: {name}")
        print(f"JUnit and the log: {summary.report_dir}")
        if summary.failed or summary.exit_code != 0:
            raise UserError(f"{len(summary.failed) or 'some'} conformance test(s) failed: see {summary.report_dir}")

    return action


@step
def check_cluster():
    if not _cluster().complete():
        raise UserError("no cluster made for these settings is running: run `local-cluster up` first (same settings)")


def task_e2e_cluster():
    """is there a cluster to test? (asked before anything is built for the tests)"""
    return {"basename": "e2e-cluster", "actions": [check_cluster], "meta": {"title": "the cluster to test"}}


def task_e2e():
    # The cluster is checked first: no half-hour build for nothing.
    return command(
        "e2e", [run_conformance(serial=False)], pos_arg="substring", task_dep=["e2e-cluster", "e2e-artifacts"]
    )


def task_e2e_serial():
    return command(
        "e2e-serial", [run_conformance(serial=True)], pos_arg="substring", task_dep=["e2e-cluster", "e2e-artifacts"]
    )


@step
def print_config():
    print(render_effective(context.settings()), end="")


def task_config():
    return command("config", [print_config], meta={"status": False})


@step
def run_doctor():
    checks = doctor.run_checks()
    good, bad, _ = marks(CONSOLE.stream)
    symbols = {doctor.OK: good, doctor.WARN: "!", doctor.FAIL: bad, doctor.SKIP: "-"}
    for line in doctor.render(checks, symbols):
        CONSOLE.emit(line)
    failed = [c.name for c in checks if c.status == doctor.FAIL]
    if failed:
        raise UserError(f"this machine cannot run a cluster yet: fix {', '.join(failed)}")


def task_doctor():
    return command("doctor", [run_doctor], meta={"status": False})


# ---------------------------------------------------------------- artifacts
# Each binary and image is a step with its own targets, so deleting one file
# rebuilds exactly that artifact, and a change of version or source rebuilds
# only what depends on it.


def _artifact_set() -> art.ArtifactSet:
    return art.ArtifactSet(context.current().kubernetes_version())


def _unresolved(basename: str, err: UserError) -> dict:
    # The version could not be resolved: commands that need no artifacts
    # (config, doctor) still work; these steps fail with the reason.
    @step
    def fail():
        raise err

    return {"basename": basename, "actions": [fail], "doc": "(cannot resolve the Kubernetes version)"}


def _needed_by_artifacts(creator):
    @functools.wraps(creator)
    def wrapper():
        try:
            artifact_set = _artifact_set()
        except UserError as err:
            yield _unresolved(creator.__name__.removeprefix("task_").replace("_", "-"), err)
            return
        yield from creator(artifact_set)

    return wrapper


def _recipe(**extra) -> dict:
    return {"recipe": art.RECIPE, **extra}


@_needed_by_artifacts
def task_kubernetes_module(artifacts: art.ArtifactSet):
    """resolve the Go modules of the chosen Kubernetes version"""
    settings = context.settings()
    if all(art.binary_source(settings, name).kind != "modules" for name in KUBERNETES_COMMANDS):
        return
    yield {
        "basename": "kubernetes-module",
        "actions": [(step(art.prepare_kubernetes_module), [artifacts])],
        "file_dep": [str(art.gobuild.TEMPLATES / "kubernetes.go.mod")],
        "targets": [str(artifacts.module_dir / "go.sum"), str(artifacts.module_dir / "build-date")],
        "uptodate": [config_changed(_recipe(version=artifacts.version))],
        "meta": {"title": f"Kubernetes {artifacts.version} modules"},
    }


@_needed_by_artifacts
def task_kubernetes(artifacts: art.ArtifactSet):
    """kubeadm, kubelet, kubectl and the control-plane binaries"""
    settings = context.settings()
    for name in KUBERNETES_COMMANDS:
        source = art.binary_source(settings, name)
        task = {
            "name": name,
            "doc": f"{name} {artifacts.version}",
            "targets": [str(artifacts.binary(name))],
            "meta": {"title": f"{name} {artifacts.version} from {source.describe()}"},
        }
        state = _recipe(version=artifacts.version, source=dataclasses.asdict(source))
        if source.kind == "modules":
            task["actions"] = [(step(art.build_kubernetes_binary), [artifacts, name])]
            task["file_dep"] = [str(artifacts.module_dir / "go.sum")]
        elif source.kind == "url":
            task["actions"] = [(step(art.download_binary), [artifacts, name, source])]
        elif source.kind == "release":
            task["actions"] = [(step(art.download_released_binary), [artifacts, name, source])]
        else:
            task["actions"] = [(step(art.build_in_tree), [artifacts, name, art.Path(source.detail)])]
            state["tree"] = art.tree_fingerprint(art.Path(source.detail))
        task["uptodate"] = [config_changed(state)]
        yield task


@_needed_by_artifacts
def task_image_list(artifacts: art.ArtifactSet):
    """the images the chosen kubeadm asks for"""
    yield {
        "basename": "image-list",
        "actions": [(step(art.list_images), [artifacts])],
        "file_dep": [str(artifacts.binary("kubeadm"))],
        "targets": [str(artifacts.image_list)],
        "meta": {"title": f"images kubeadm {artifacts.version} asks for"},
    }


def _component(basename: str, title: str, action, artifacts: art.ArtifactSet, binaries: list[str], sources=()):
    return {
        "basename": basename,
        "actions": [(step(action), [artifacts])],
        "file_dep": [str(artifacts.image_list), *map(str, sources)],
        "targets": [str(artifacts.binary(name)) for name in binaries],
        "uptodate": [config_changed(_recipe())],
        "meta": {"title": f"{title} for Kubernetes {artifacts.version}"},
    }


@_needed_by_artifacts
def task_etcd(artifacts: art.ArtifactSet):
    """etcd at the version kubeadm asks for, from its Go modules"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component(
        "etcd", "etcd", art.build_etcd, artifacts, ["etcd", "etcdctl"], [art.gobuild.TEMPLATES / "etcd.go.mod"]
    )


@_needed_by_artifacts
def task_coredns(artifacts: art.ArtifactSet):
    """CoreDNS at the version kubeadm asks for, with the plugins a cluster uses"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component(
        "coredns",
        "CoreDNS",
        art.build_coredns,
        artifacts,
        ["coredns"],
        [art.gobuild.TEMPLATES / "coredns.go.mod", IMAGES_DIR / "coredns" / "main.go"],
    )


@_needed_by_artifacts
def task_pause(artifacts: art.ArtifactSet):
    """the pause program (our own, images/pause)"""
    if context.settings().source.release_site:
        return  # with a release site its image comes from the engine
    yield _component("pause", "pause", art.build_pause, artifacts, ["pause"], [IMAGES_DIR / "pause" / "main.go"])


@_needed_by_artifacts
def task_crictl(artifacts: art.ArtifactSet):
    """crictl for the nodes (kubeadm's preflight wants it), from cri-tools' Go modules"""
    task = _component(
        "crictl", "crictl", art.build_crictl, artifacts, ["crictl"], [art.gobuild.TEMPLATES / "cri-tools.go.mod"]
    )
    task["file_dep"] = task["file_dep"][1:]  # needs no image list
    task["uptodate"] = [config_changed(_recipe(version=artifacts.version))]
    yield task


def task_kube_proxy_base():
    """a small Debian root filesystem with iptables and conntrack for kube-proxy's image"""
    suite = node_image.base_suite(context.settings())
    return {
        "basename": "kube-proxy-base",
        "actions": [(step(art.build_kube_proxy_base), [suite])],
        "file_dep": [str(art.KUBE_PROXY_HOOK)],
        "targets": [str(art.kube_proxy_base(suite))],
        "uptodate": [config_changed(_recipe(suite=suite, packages=art.KUBE_PROXY_PACKAGES))],
        "meta": {"title": f"kube-proxy base (Debian {suite})"},
    }


@_needed_by_artifacts
def task_images(artifacts: art.ArtifactSet):
    """control-plane images, tagged as kubeadm expects"""
    settings = context.settings()
    suite = node_image.base_suite(settings)
    for component, binaries in art.IMAGE_BINARIES.items():
        base = art.kube_proxy_base(suite) if component == "kube-proxy" else None
        source = art.binary_source(settings, component) if component in art.SERVER_BINARIES else None
        task = {
            "name": component,
            "doc": f"the {component} image",
            "targets": [str(artifacts.image(component))],
            "uptodate": [
                config_changed(
                    _recipe(source=dataclasses.asdict(source) if source else None, release=settings.source.release_site)
                )
            ],
        }
        if source is not None and source.kind == "release":
            task["actions"] = [(step(art.download_released_image), [artifacts, component, source.detail])]
            task["file_dep"] = [str(artifacts.image_list)]
            task["meta"] = {"title": f"{component} image {artifacts.version} from {source.describe()}"}
        elif source is None and settings.source.release_site:
            task["actions"] = [(step(art.save_engine_image), [artifacts, component])]
            task["file_dep"] = [str(artifacts.image_list)]
            task["meta"] = {"title": f"{component} image from the engine (pre-loaded or pulled)"}
        else:
            task["actions"] = [(step(art.build_image), [artifacts, component, base])]
            task["file_dep"] = [
                str(artifacts.image_list),
                *(str(artifacts.binary(b)) for b in binaries),
                *([str(base)] if base else []),
            ]
            task["meta"] = {"title": f"{component} image for Kubernetes {artifacts.version}"}
        yield task


def task_artifacts():
    """build or fetch every binary and image a cluster needs"""
    return {
        "basename": "artifacts",
        "actions": None,
        "task_dep": ["kubernetes", "images", "crictl"],
        "params": flag_params(),
    }


# ---------------------------------------------------------------- conformance tests


@_needed_by_artifacts
def task_e2e_module(artifacts: art.ArtifactSet):
    """resolve the Go modules of the conformance tests and their images' programs"""
    module = e2e_artifacts.e2e_module_dir(artifacts)
    yield {
        "basename": "e2e-module",
        "actions": [(step(e2e_artifacts.prepare_e2e_module), [artifacts])],
        "file_dep": [str(art.gobuild.TEMPLATES / "kubernetes.go.mod")],
        "targets": [str(module / "go.sum"), str(module / "build-date")],
        "uptodate": [config_changed(_recipe(version=artifacts.version, e2e=e2e_artifacts.RECIPE))],
        "meta": {"title": f"conformance test modules of Kubernetes {artifacts.version}"},
    }


def _timed(function):
    # The builders return how long they took; doit wants no float back.
    def action(*args):
        function(*args)

    return functools.wraps(function)(action)


@_needed_by_artifacts
def task_e2e_binaries(artifacts: art.ArtifactSet):
    """e2e.test and ginkgo, from the same Go modules as the cluster's binaries"""
    go_sum = str(e2e_artifacts.e2e_module_dir(artifacts) / "go.sum")
    for name, builder in (("e2e.test", e2e_artifacts.build_e2e_test), ("ginkgo", e2e_artifacts.build_ginkgo)):
        yield {
            "basename": "e2e-binaries",
            "name": name,
            "doc": f"{name} for Kubernetes {artifacts.version}",
            "actions": [(step(_timed(builder)), [artifacts])],
            "file_dep": [go_sum],
            "targets": [str(artifacts.binary(name))],
            "uptodate": [config_changed(_recipe(e2e=e2e_artifacts.RECIPE))],
            "meta": {"title": f"{name} {artifacts.version} from Go modules"},
        }


def build_conformance_images(artifacts: art.ArtifactSet) -> None:
    e2e_artifacts.list_test_images(artifacts)
    made = e2e_artifacts.build_test_images(artifacts, conformance_only=True)
    e2e_artifacts.combine_archives(made.archives, e2e.combined_archive(artifacts))


@_needed_by_artifacts
def task_test_images(artifacts: art.ArtifactSet):
    """the images conformance tests run, made from Go modules and Debian packages"""
    yield {
        "basename": "test-images",
        "actions": [(step(build_conformance_images), [artifacts])],
        "file_dep": [
            str(artifacts.binary("e2e.test")),
            *(str(p) for p in sorted(e2e_artifacts.IMAGE_FILES.rglob("*")) if p.is_file()),
        ],
        "targets": [str(e2e.combined_archive(artifacts))],
        "uptodate": [config_changed(_recipe(e2e=e2e_artifacts.RECIPE))],
        "meta": {"title": f"conformance test images for Kubernetes {artifacts.version}"},
    }


def task_e2e_artifacts():
    """everything a conformance run needs besides the cluster"""
    return {"basename": "e2e-artifacts", "actions": None, "task_dep": ["e2e-binaries", "test-images"]}


# ---------------------------------------------------------------- the cluster


def _cluster() -> clu.Cluster:
    """The cluster of this run: one engine connection for every step and check."""
    run = context.current()
    if "cluster" not in run.cache:
        run.cache["cluster"] = clu.Cluster(context.settings(), _artifact_set(), retain=run.retain, reup=run.reup)
    return run.cache["cluster"]


def cluster_step(function):
    """A step of `up`: on failure, save the nodes' logs, say where, and remove
    the half-made nodes (unless --retain), so the next `up` starts clean."""

    @functools.wraps(function)
    def action():
        try:
            cluster = _cluster()
        except UserError as err:
            return TaskFailed(str(err))
        try:
            function(cluster)
        except UserError as err:
            return TaskFailed(_after_failure(cluster, err))
        return True

    return action


def _after_failure(cluster: clu.Cluster, err: UserError) -> str:
    try:
        saved = clu.save_logs(cluster)
        if not cluster.fresh and cluster.has_file(clu.MASTER, clu.READY_MARKER):
            # A cluster that was complete before this run is the user's: keep it.
            kept = "the cluster's nodes were kept (it was complete before)"
        elif cluster.retain:
            kept = "the node containers were kept (--retain)"
        else:
            clu.remove_nodes(cluster.objects)
            kept = "the node containers were removed (--retain keeps them)"
        return f"{err}; node logs: {saved}; {kept}"
    except Exception:  # the engine itself may be what failed
        return str(err)


def _complete() -> bool:
    try:
        return _cluster().complete()
    except UserError:  # no engine, no version: uptodate must not abort the run
        return False


@_needed_by_artifacts
def task_node_base(artifacts: art.ArtifactSet):
    """the Debian base of the node image: systemd, containerd, runc, CNI plugins"""
    settings = context.settings()
    suite = node_image.base_suite(settings)
    yield {
        "basename": "node-base",
        "actions": [(step(node_image.build_base), [settings])],
        "file_dep": [str(p) for p in node_image.base_inputs()],
        "targets": [str(node_image.base_path(suite))],
        "uptodate": [
            config_changed(
                _recipe(
                    suite=suite,
                    packages=node_image.base_packages(suite),
                    mirror=settings.node.debian_mirror,
                    node=node_image.RECIPE,
                )
            )
        ],
        "meta": {"title": f"node base (Debian {suite})"},
    }


@_needed_by_artifacts
def task_node_image(artifacts: art.ArtifactSet):
    """the node image: the base plus this version's binaries and preloaded images"""
    settings = context.settings()
    yield {
        "basename": "node-image",
        "actions": [(step(node_image.build_archive), [settings, artifacts])],
        "task_dep": ["artifacts"],
        "file_dep": [
            str(node_image.base_path(node_image.base_suite(settings))),
            str(node_image.NODE_DIR / "containerd.toml"),
            *(str(artifacts.binary(name)) for name in node_image.NODE_BINARIES),
            *(str(artifacts.image(name)) for name in art.IMAGE_BINARIES),
        ],
        "targets": [str(node_image.archive_path(artifacts)), str(artifacts.root / "node-image.json")],
        "uptodate": [config_changed(_recipe(node=node_image.RECIPE))],
        "meta": {"title": f"node image for Kubernetes {artifacts.version}"},
    }
    yield {
        "basename": "node-image-load",
        "doc": "the node image in the engine",
        "actions": [(step(node_image.load), [settings, artifacts])],
        "task_dep": ["node-image"],
        "uptodate": [lambda: node_image.loaded(artifacts)],
        "meta": {"title": "node image into the engine"},
    }


def _cluster_task(basename: str, title: str, function, after: str, always: bool = False) -> dict:
    """A step of `up`; its doc is the creator's docstring. Skipped while the
    cluster is complete, unless `always` (cheap steps whose answer can change)."""
    return {
        "basename": basename,
        "actions": [cluster_step(function)],
        "task_dep": [after],
        "uptodate": [False] if always else [_complete],
        "meta": {"title": title},
    }


def task_network():
    """the nodes' Docker network on dind.subnet"""
    settings = context.settings()
    title = f"network {settings.network_name} ({settings.dind.subnet})"
    return _cluster_task("network", title, clu.ensure_network, "node-image-load")


def task_restore():
    """the cluster from its snapshot, when one was made for these settings"""
    return _cluster_task("restore", "snapshot lookup", clu.restore_snapshot, "network")


def task_nodes():
    """the node containers, booted (made afresh when missing, changed or half-made)"""
    count = context.settings().cluster.num_nodes
    return _cluster_task("nodes", f"start {count + 1} node{'s' if count else ''}", clu.create_nodes, "restore")


def task_kubeadm_init():
    """kubeadm init on kube-master"""
    return _cluster_task("kubeadm-init", "kubeadm init", clu.kubeadm_init, "nodes")


def task_kubeadm_join():
    """kubeadm join on the workers, in parallel"""
    count = context.settings().cluster.num_nodes
    title = f"kubeadm join ({count} worker{'s' if count != 1 else ''})"
    return _cluster_task("kubeadm-join", title, clu.kubeadm_join, "kubeadm-init")


def task_pod_network():
    """the bridge pod network: a bridge per node, routes between nodes"""
    return _cluster_task("pod-network", "pod network (bridge)", clu.pod_network, "kubeadm-join")


def task_addons():
    """cluster.addons: manifests (files, URLs) applied with kubectl"""
    return _cluster_task("addons", "addons", clu.apply_addons, "pod-network")


def task_swap():
    """reup: the new kubelet, kubeadm, kubectl and images into the nodes"""
    if context.current().reup:  # `up` has no such step
        yield _cluster_task("swap", "new binaries into the nodes", clu.swap_binaries, "addons", always=True)


def task_ready():
    """wait until every node is Ready and CoreDNS answers"""
    # Always asked: a cluster whose nodes were just restarted is complete but
    # not yet Ready, and asking a Ready one costs a second.
    after = "swap" if context.current().reup else "addons"
    return _cluster_task("ready", "nodes Ready, CoreDNS Ready", clu.wait_ready, after, always=True)


def _made_before() -> bool:
    try:
        return not _cluster().made
    except UserError:
        return False


def task_snapshot():
    """the cluster as kubeadm made it, saved so the next `up` restores it"""
    task = _cluster_task("snapshot", "snapshot", clu.take_snapshot, "ready")
    # Only a cluster made in this run: a snapshot is the state after setup,
    # never a cluster with the user's workloads in it.
    task["uptodate"] = [_made_before]
    return task


def task_kubeconfig():
    """~/.kubeadm-local-cluster/admin.conf and kubectl"""
    # Always written: cheap, and the published port changes when the engine restarts.
    return _cluster_task("kubeconfig", "kubeconfig and kubectl", clu.write_kubeconfig, "snapshot", always=True)


@step
def report_up():
    settings = context.settings()
    version = _artifact_set().version
    count = settings.cluster.num_nodes + 1
    state = "~/.kubeadm-local-cluster"
    print(f"Cluster {settings.cluster.name} is up: {count} node{'s' if count > 1 else ''}, Kubernetes {version}.")
    print(f"  export KUBECONFIG={state}/admin.conf")
    print(f"  alias kubectl={state}/kubectl")


def task_up():
    return command("up", [report_up], task_dep=["kubeconfig"], meta={"status": False})


@step
def run_down():
    removed = clu.down(context.settings())
    print(f"removed {', '.join(removed)}" if removed else "no nodes to remove")
    print("the snapshot, if any, is kept: `clean` removes it")


def task_down():
    return command("down", [run_down], meta={"status": False})


@step
def run_clean():
    removed = clu.clean(context.settings())
    print(f"removed {', '.join(removed)}" if removed else "nothing to remove")


def task_clean():
    return command("clean", [run_clean], meta={"status": False})
