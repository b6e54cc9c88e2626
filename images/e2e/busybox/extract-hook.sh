#!/bin/sh
# mmdebstrap --variant=extract hook for the busybox test image: Debian's
# busybox-static is only unpacked (no maintainer scripts), so make here what
# upstream's busybox image has: a link for every applet (/bin/sh, sleep, wget,
# nslookup, ...), users and groups, /root, /home. $1 is the root directory.
set -eu
root=$1

# Merged /usr, as Debian: /bin/sh and /usr/bin/sh are the same file.
for dir in bin sbin lib lib64; do
    [ -e "$root/$dir" ] || ln -s "usr/$dir" "$root/$dir"
done
mkdir -p "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"

# sh is bash (see BASES in tasks/e2e_artifacts.py): it passes on environment
# variables with any name, as upstream's busybox image does.
[ -e "$root/usr/bin/bash" ] && ln -sf bash "$root/usr/bin/sh"

# Upstream's image has every applet in /bin too (tests exec /bin/sysctl, which
# Debian's busybox lists under sbin/): link each where Debian puts it and in /usr/bin.
chroot "$root" /usr/bin/busybox --list-full | while read -r applet; do
    for path in "$applet" "usr/bin/${applet##*/}"; do
        if [ ! -e "$root/$path" ] && [ ! -L "$root/$path" ]; then
            mkdir -p "$root/$(dirname "$path")"
            ln -s /usr/bin/busybox "$root/$path"
        fi
    done
done

# upstream busybox's /etc/passwd and /etc/group (the users tests may run as).
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
GROUP
mkdir -p "$root/root" "$root/home" "$root/var/spool/mail" "$root/var/www"
chmod 700 "$root/root"
