#!/bin/sh
# mmdebstrap customize hook for the node base: our files, our units enabled,
# what a container does not need masked. $1 is the root directory being made.
set -eu
root=$1
here=$(dirname "$(readlink -f "$0")")

cp -a "$here/rootfs/." "$root/"
mkdir -p "$root/etc/cni/net.d" "$root/etc/kubernetes/manifests" "$root/var/lib/kubelet" \
         "$root/opt/kubeadm-local-cluster/images" "$root/etc/containerd/conf.d"
chroot "$root" systemctl enable kubelet.service import-images.service cni-setup.service containerd.service
# Nothing to log in on, no hardware to manage, no timers worth waking for.
chroot "$root" systemctl mask getty.target console-getty.service systemd-logind.service \
    e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer fstrim.timer \
    systemd-modules-load.service proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount \
    sys-kernel-tracing.mount
chroot "$root" systemctl set-default multi-user.target
# Each node gets its own machine ID at first boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
