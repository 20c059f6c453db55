#!/usr/bin/env bash
# Build the local Debian base image the sandbox and molecule run on:
# debootstrap minbase + systemd as PID 1 + python3/sudo, then `docker import`.
# No registry is reachable here, so nothing is pulled. The tag carries a hash
# of this script, so the image is rebuilt only when the recipe changes.
set -euo pipefail

suite="${1:-bookworm}"
mirror="${PGHA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
recipe_hash="$(sha256sum "$0" | cut -c1-12)"
tag="pgha/debian-systemd:${suite}-${recipe_hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

root="$(mktemp -d /var/tmp/pgha-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT

echo "building $tag (debootstrap $suite, takes a few minutes)" >&2
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,gnupg \
  "$suite" "$root" "$mirror" >&2

# Trust the same local CAs as the host (TLS to PyPI may pass an egress proxy).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >&2
fi

# A container has no consoles and no kernel to tune: mask units that only fail.
for unit in getty.target console-getty.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-modules-load.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-remount-fs.service systemd-firstboot.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo 'container' > "$root/etc/hostname"
rm -f "$root/etc/machine-id" && : > "$root/etc/machine-id"
chroot "$root" apt-get clean

# Containers are run with --stop-signal SIGRTMIN+3 (systemd's clean halt);
# the Docker engine in Debian 12 does not accept STOPSIGNAL in an import.
tar -C "$root" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  - "$tag" >&2
echo "$tag"
