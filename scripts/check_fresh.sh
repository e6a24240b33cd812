#!/bin/sh
# Runs the README's two commands on a bare Debian 12 (a debootstrap --variant=minbase chroot: no
# compiler, no cmake, none of our libraries), so that an install step missing from setup.sh fails
# here and not on a user's machine. A machine where everything is already installed cannot show
# that. Needs root and the Debian mirror; 11.5 min on 2 idle cores (the first run builds the base
# system too, about 3 min more).
#
#   scripts/check_fresh.sh [DIR]   (default /var/tmp/scoresde-fresh)
#
# The bare system is built once into DIR.base and copied to DIR for every run, so that each run
# starts with nothing installed. The repository's committed HEAD is cloned into DIR/root/scoresde
# (uncommitted changes are not part of the check); DIR.demo.log and DIR.test.log keep the output.
set -eu
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/scoresde-fresh}
[ "$(id -u)" -eq 0 ] || { echo "check_fresh.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap > /dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap > /dev/null; }

mounted_below() { grep -q " $1/" /proc/mounts; }
if [ ! -x "$root.base/bin/sh" ]; then
    echo "check_fresh.sh: building a minimal Debian 12 in $root.base" >&2
    debootstrap --variant=minbase bookworm "$root.base" http://deb.debian.org/debian > "$root.debootstrap.log" 2>&1 ||
        { echo "check_fresh.sh: debootstrap failed, see $root.debootstrap.log" >&2; exit 1; }
fi
# never delete through a live bind mount of the host's /dev
if mounted_below "$root"; then
    echo "check_fresh.sh: something is still mounted below $root; unmount it first" >&2
    exit 1
fi
rm -rf "$root"
cp -a "$root.base" "$root"
# a real machine has both: without /etc/hosts Open MPI's host-name lookups make the MPI tests 4x slower
cp /etc/resolv.conf /etc/hosts "$root/etc/"
unmount() { umount -R "$root/dev" 2> /dev/null || true; umount "$root/proc" "$root/sys" 2> /dev/null || true; }
trap unmount EXIT
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --rbind /dev "$root/dev"

git clone -q "$(pwd)" "$root/root/scoresde"
echo "check_fresh.sh: scripts/demo.sh in the chroot (log: $root.demo.log)" >&2
chroot "$root" /bin/sh -c 'cd /root/scoresde && scripts/demo.sh' > "$root.demo.log" 2>&1 ||
    { echo "check_fresh.sh: scripts/demo.sh FAILED on a fresh machine; see $root.demo.log" >&2; exit 1; }
[ -s "$root/root/scoresde/samples.png" ] || { echo "check_fresh.sh: the demo wrote no samples.png" >&2; exit 1; }
echo "check_fresh.sh: scripts/test.sh in the chroot (log: $root.test.log)" >&2
chroot "$root" /bin/sh -c 'cd /root/scoresde && scripts/test.sh' > "$root.test.log" 2>&1 ||
    { echo "check_fresh.sh: scripts/test.sh FAILED on a fresh machine; see $root.test.log" >&2; exit 1; }
echo "check_fresh.sh: both README commands pass on a fresh Debian 12 ($(git rev-parse --short HEAD))" >&2
