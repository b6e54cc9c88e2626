"""What the snapshot asks of the engine (a mixin of tasks.objects.Objects):
pause and resume nodes without ever leaving one frozen, commit a node's
root filesystem, copy a volume, and the short-lived helper containers that
do the engine-side work (so a remote engine works the same)."""

from __future__ import annotations

import contextlib

import requests
from docker.errors import APIError, DockerException, NotFound

from tasks.console import log
from tasks.engine import _COMMON_SECURITY, LABEL_CLUSTER, LABEL_ROLE, EngineError, _short, new_client

# How long an unpause may take before the node is taken for wedged (see resume).
RESUME_TIMEOUT = 15


class SnapshotOps:
    """Needs what Objects has: client, engine, cluster, create_volume, remove_volume."""

    def pause(self, name: str) -> None:
        try:
            self.client.api.pause(name)
        except APIError as err:
            raise EngineError(f"cannot pause {name}: {_short(str(err))}") from None

    def resume(self, name: str, helper_image: str, container_id: str = "") -> None:
        """Unpause, and never leave the node frozen nor the engine wedged.

        A `docker exec` that starts just as a container is paused leaves its
        `runc init` frozen inside; the engine then holds that container's lock
        and every call on it hangs, unpause included; and a container whose
        freezer cgroup stays frozen refuses every exec. So: unpause with a
        short deadline, then check that the container runs a command; if the
        engine does not answer, or the command is refused, thaw the freezer
        cgroup from a helper container on the engine host (a frozen exec goes
        on, the engine lets go of the lock), and try again."""
        quick = new_client(RESUME_TIMEOUT)  # the same engine as Engine.connect, a short deadline
        for attempt in range(3):
            try:
                attrs = quick.api.inspect_container(container_id or name)
                container_id = attrs["Id"]
                if attrs["State"].get("Paused"):
                    quick.api.unpause(container_id)
                if attrs["State"].get("Running"):
                    exec_id = quick.api.exec_create(container_id, ["true"])["Id"]
                    refused = quick.api.exec_start(exec_id).decode(errors="replace")
                    if quick.api.exec_inspect(exec_id).get("ExitCode") != 0:  # "cannot exec in a paused container"
                        raise APIError(f"a command is refused: {refused}")
                return
            except NotFound:
                return
            except (APIError, DockerException, requests.RequestException) as err:
                log.debug("%s does not answer after its pause (%s): thawing it", name, _short(str(err)))
                if attempt == 2 or not container_id:
                    raise EngineError(
                        f"{name} stays paused and the engine does not answer for it: "
                        f"`docker unpause {name}`, or `docker rm -f {name}` and `local-cluster up` again"
                    ) from None
                self._thaw(container_id, helper_image)

    def _thaw(self, container_id: str, image: str) -> None:
        # cgroup v1 (freezer.state) and v2 (cgroup.freeze), cgroupfs and systemd drivers.
        script = (
            # Deep enough for the pods' own scopes inside the node (a frozen one there
            # keeps the node from being killed).
            f"find /host-cgroup -maxdepth 12 -path '*{container_id}*' "
            "\\( -name freezer.state -o -name cgroup.freeze \\) | while read -r f; do "
            # A cgroup may go while this runs (its container is being torn down): not a failure.
            'case "$f" in *freezer.state) echo THAWED ;; *) echo 0 ;; esac 2>/dev/null > "$f" || true; done'
        )
        host_config = self.engine.host_config(
            binds={"/sys/fs/cgroup": {"bind": "/host-cgroup", "mode": "rw"}},
            security_opt=_COMMON_SECURITY,
            network_mode="none",
            cgroupns="host",
        )
        self.run_helper(image, ["sh", "-c", script], host_config, "thaw", timeout=60)

    def commit(self, name: str, ref: str, labels: dict[str, str]) -> str:
        """The container's root filesystem (not its volumes or tmpfs) as an image; its id."""
        repository, _, tag = ref.rpartition(":")
        try:
            # Labels given as config take precedence over the container's own.
            reply = self.client.api.commit(name, repository=repository, tag=tag, conf={"Labels": labels}, pause=False)
            return reply["Id"]
        except APIError as err:
            raise EngineError(f"cannot save {name} as {ref}: {_short(str(err))}") from None

    def copy_volume(self, source: str, target: str, image: str, labels: dict[str, str]) -> None:
        """target (made afresh) holds exactly what source holds, copied by a
        short-lived container on the engine (so it works for remote engines too).

        SYS_ADMIN: containerd's overlay snapshots keep whiteouts and opaque
        directories in trusted.* attributes, which only it may copy."""
        self.remove_volume(target)
        self.create_volume(target, labels)
        host_config = self.engine.host_config(
            binds={source: {"bind": "/from", "mode": "ro"}, target: {"bind": "/to", "mode": "rw"}},
            cap_add=["SYS_ADMIN"],
            security_opt=_COMMON_SECURITY,
            network_mode="none",
        )
        self.run_helper(image, ["cp", "-a", "/from/.", "/to/"], host_config, f"copy volume {source} to {target}")

    def run_helper(
        self, image: str, argv: list[str], host_config: dict, what: str, timeout: int = 600, answers: tuple = ()
    ) -> int:
        """A short-lived container of this cluster's (role copy) that runs argv
        to the end on the engine host, then is removed; a failure says what.
        ANSWERS: exit codes that are answers, not failures; the code."""
        api = self.client.api
        container_id = None
        try:
            container_id = api.create_container(
                image,
                entrypoint=argv[:1],
                command=argv[1:],
                host_config=host_config,
                labels={LABEL_CLUSTER: self.cluster, LABEL_ROLE: "copy"},
            )["Id"]
            api.start(container_id)
            code = api.wait(container_id, timeout=timeout).get("StatusCode")
            if code != 0 and code not in answers:
                output = api.logs(container_id).decode(errors="replace")
                raise EngineError(f"cannot {what}: {_short(output)}")
            return code
        except (APIError, requests.RequestException) as err:
            raise EngineError(f"cannot {what}: {_short(str(err))}") from None
        finally:
            if container_id is not None:
                with contextlib.suppress(NotFound, APIError, requests.RequestException):
                    api.remove_container(container_id, force=True)
