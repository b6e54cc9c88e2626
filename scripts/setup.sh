#!/usr/bin/env bash
# Set-up on a fresh machine, idempotent: the Python environment (.venv) and a
# Docker engine that answers. Used by `make up`, `make test` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

python_env() {
    if [[ ! -x .venv/bin/python ]]; then
        log "creating .venv"
        python3 -m venv .venv
    fi
    # Reinstall only when the project's metadata changed.
    if [[ ! -f .venv/.installed || pyproject.toml -nt .venv/.installed ]]; then
        log "installing Python dependencies"
        .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
        touch .venv/.installed
    fi
}

# mmdebstrap makes the Debian root filesystems of the node and kube-proxy
# images without a container registry; a Kubernetes tree's build uses rsync;
# runc, built for the nodes of Kubernetes 1.36+ (tasks/build/containerd.py), needs
# cgo and a static libseccomp; busybox, built from source for the busybox
# test image (tasks/e2e/busybox.py), needs make and a static libc (libc6-dev).
build_tools() {
    if command -v mmdebstrap >/dev/null && command -v rsync >/dev/null && command -v gcc >/dev/null \
        && command -v make >/dev/null && command -v pkg-config >/dev/null && pkg-config --exists libseccomp \
        && [[ -f $(gcc -print-file-name=libc.a) ]]; then
        return
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "warning: mmdebstrap, rsync, gcc, make, libc6-dev, pkg-config or libseccomp's development files" \
            "are missing: install them to build node and test images without a registry" >&2
        return
    fi
    log "installing mmdebstrap, rsync and what building runc and busybox needs (gcc, make, libc6-dev, pkg-config, libseccomp-dev)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap rsync gcc make libc6-dev pkg-config \
        libseccomp-dev >/dev/null
}

engine_answers() {
    .venv/bin/python - <<'PY' >/dev/null 2>&1
import docker
docker.from_env(timeout=5).ping()
PY
}

docker_engine() {
    if engine_answers; then
        return
    fi
    if [[ -n "${DOCKER_HOST:-}" ]]; then
        echo "error: no Docker engine answers at DOCKER_HOST=$DOCKER_HOST" >&2
        exit 1
    fi
    if ! command -v dockerd >/dev/null; then
        if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
            echo "error: no Docker engine answers and none is installed: install Docker and start it" >&2
            exit 1
        fi
        log "installing Debian's docker.io"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: the Docker engine is installed but not running: start it (systemctl start docker)" >&2
        exit 1
    fi
    log "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        if engine_answers; then
            return
        fi
        sleep 1
    done
    echo "error: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
    tail -n 20 /var/log/dockerd.log >&2 || true
    exit 1
}

# Every node runs a few inotify users (kubelet, containerd, systemd): the
# kernel's default of 128 instances per user fits about six nodes, after which
# kube-proxy and kubelet fail with "too many open files". kind's known-issues
# page asks for these figures; as root the set-up raises them (never lowers).
inotify_limits() {
    [[ $(id -u) -eq 0 ]] || return 0
    local name wanted current
    for pair in max_user_instances=512 max_user_watches=524288; do
        name=${pair%=*} wanted=${pair#*=}
        current=$(cat "/proc/sys/fs/inotify/$name" 2>/dev/null || echo "$wanted")
        if (( current < wanted )); then
            log "raising fs.inotify.$name from $current to $wanted (several clusters at once)"
            sysctl -q -w "fs.inotify.$name=$wanted" || echo "warning: cannot raise fs.inotify.$name" >&2
        fi
    done
}

# Only for the tests (`make test`): the ssh:// engine test starts an sshd of
# its own in a network namespace, so it needs OpenSSH's server program. The
# package is installed without starting or enabling its service here.
ssh_server() {
    [[ -x /usr/sbin/sshd ]] && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "warning: /usr/sbin/sshd is missing: the ssh:// engine test is skipped (apt-get install openssh-server)" >&2
        return 0
    fi
    log "installing OpenSSH's server program for the ssh:// engine test (its service is not started)"
    local policy=/usr/sbin/policy-rc.d made=""
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true
    fi
    [[ -n $made ]] && rm -f "$policy"
    return 0
}

python_env
build_tools
inotify_limits
docker_engine
if [[ ${1:-} == --for-tests ]]; then
    ssh_server
fi
