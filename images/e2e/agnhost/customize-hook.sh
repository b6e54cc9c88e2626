#!/bin/sh
# mmdebstrap customize hook for the agnhost test image (Debian instead of
# upstream's Alpine). $1 is the root directory being made.
set -eu
root=$1

# Upstream's Alpine base answers to busybox applet names that Debian's tools
# do not cover (wget, ping, nslookup, ...): tests exec them in agnhost pods
# (e.g. `wget -T 5 -qO- URL`). Link each applet that has no Debian tool of its
# own; real tools (curl, nc, ip, dig, ...) keep their Debian versions.
chroot "$root" /usr/bin/busybox --list-full | while read -r applet; do
    if [ ! -e "$root/$applet" ] && [ ! -L "$root/$applet" ]; then
        mkdir -p "$root/$(dirname "$applet")"
        ln -s /usr/bin/busybox "$root/$applet"
    fi
done

# As upstream's Dockerfile: iperf also in /usr/local/bin.
ln -sf /usr/bin/iperf "$root/usr/local/bin/iperf"

# The user and group the SupplementalGroups tests expect in the image:
# user-defined-in-image (uid 1000, primary group 1000) is a member of
# group-defined-in-image (gid 50000), so `id -G` says "1000 50000 ...".
chroot "$root" groupadd -g 1000 user-defined-in-image
chroot "$root" useradd -u 1000 -g 1000 -m -s /bin/sh user-defined-in-image
chroot "$root" groupadd -g 50000 group-defined-in-image
chroot "$root" usermod -a -G group-defined-in-image user-defined-in-image
