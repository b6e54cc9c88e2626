#!/bin/sh
# mmdebstrap --variant=extract hook for kube-proxy's base: packages are only
# unpacked (no shell, no dpkg, no maintainer scripts), so do here what their
# scripts would have done. $1 is the root directory being made.
set -eu
root=$1

# iptables ships no /usr/sbin/iptables: update-alternatives makes it. kube-proxy
# calls these names; point them at the nft backend, Debian's default.
mkdir -p "$root/etc/alternatives"
for family in iptables ip6tables; do
    for suffix in "" -restore -save; do
        ln -sfn "/usr/sbin/$family-nft$suffix" "$root/etc/alternatives/$family$suffix"
        ln -sfn "/etc/alternatives/$family$suffix" "$root/usr/sbin/$family$suffix"
    done
done

echo "root:x:0:0:root:/root:/sbin/nologin" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

# Record what is installed, so image scanners can see it.
for deb in "$root"/var/cache/apt/archives/*.deb; do
    dpkg-deb -f "$deb" | awk 'NR==1 {print; print "Status: install ok installed"; next} {print}'
    echo
done > "$root/var/lib/dpkg/status"
