#!/usr/bin/env bash
# Build the offline test base image for one Debian release from Debian
# packages only: debootstrap into a folder, then `docker import`.
# The image is tagged with a hash of this recipe, so an unchanged recipe is
# reused. If REGISTRY_IMAGE_<RELEASE> names an image and it can be pulled, that
# image is tagged instead (a user with a registry need not build anything).
#
# Usage: build-image.sh bookworm|trixie      prints the image name it made
set -euo pipefail

release=${1:?usage: build-image.sh bookworm|trixie}
case "$release" in
  bookworm|trixie) ;;
  *) echo "build-image.sh: unknown release '$release' (bookworm or trixie)" >&2; exit 2 ;;
esac

# The Debian archive of this machine's own apt sources (or DEBIAN_MIRROR).
mirror=$(bash "$(dirname "$0")/debian-mirror.sh")
packages="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,iptables,gnupg"
# The recipe: this script, the release and the package list. Any change to
# them gives a new tag, so a stale image is never reused.
recipe_hash=$( { cat "$0"; echo "$release $packages"; } | sha256sum | cut -c1-12)
image="hardened-redis-lab:${release}-${recipe_hash}"

log() { echo "[build-image] $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image is cached"
  echo "$image"; exit 0
fi

override_var="REGISTRY_IMAGE_${release^^}"
if [ -n "${!override_var:-}" ]; then
  if docker pull "${!override_var}" >&2; then
    docker tag "${!override_var}" "$image"
    log "using ${!override_var} as $image"
    echo "$image"; exit 0
  fi
  log "could not pull ${!override_var}; building from Debian packages"
fi

command -v debootstrap >/dev/null || { echo "build-image.sh: debootstrap is not installed" >&2; exit 1; }
root=$(mktemp -d /var/tmp/hardened-redis-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap $release into $root (about a minute)"
debootstrap --variant=minbase --include="$packages" "$release" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# Make the tree behave like a small VM booted by systemd inside Docker.
echo "deb $mirror $release main" > "$root/etc/apt/sources.list"
rm -f "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
: > "$root/etc/machine-id"
# Units that make no sense in a container and only slow the boot.
for unit in systemd-remount-fs.service getty@tty1.service console-getty.service \
            systemd-logind.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer fstrim.timer tmp.mount; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Keep images small and apt quiet.
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
  > "$root/etc/dpkg/dpkg.cfg.d/01-nodoc"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

log "docker import as $image"
tar -C "$root" -c . | docker import \
  -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' \
  - "$image" >/dev/null
echo "$image"
