#!/usr/bin/env bash
# Build a Debian guest for the VM lab from Debian packages only: debootstrap
# with a kernel and openssh-server, then an ext4 image made with
# `mkfs.ext4 -d` (no partitions, no boot loader: qemu boots the kernel and
# initrd directly). Cached by a hash of this recipe, like the container images.
#
# Usage: build-vm-image.sh bookworm|trixie     prints the image directory:
#   vmlinuz, initrd.img, rootfs.raw (the read-only base of every guest),
#   id_ed25519 (the SSH key of the sudo user "hrlab").
set -euo pipefail

release=${1:?usage: build-vm-image.sh bookworm|trixie}
case "$release" in
  bookworm|trixie) ;;
  *) echo "build-vm-image.sh: unknown release '$release' (bookworm or trixie)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
cache=${HARDENED_REDIS_VM_CACHE:-/var/cache/hardened-redis/vm}
packages="systemd,systemd-sysv,dbus,udev,kmod,linux-image-amd64,openssh-server,python3,python3-apt,sudo,iproute2,ifupdown,ca-certificates,procps,gnupg"
disk_size=${HARDENED_REDIS_VM_DISK:-4G}
recipe_hash=$( { cat "$0" "$here/hrlab-net.sh" "$here/hrlab-net.service"; echo "$release $packages $disk_size"; } | sha256sum | cut -c1-12)
dir="$cache/$release-$recipe_hash"

log() { echo "[build-vm-image] $*" >&2; }

if [ -s "$dir/rootfs.raw" ] && [ -s "$dir/id_ed25519" ]; then
  log "$dir is cached"
  echo "$dir"; exit 0
fi
for tool in debootstrap mkfs.ext4 ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "build-vm-image.sh: $tool is not installed (make deps VM=1)" >&2; exit 1; }
done
mirror=$(bash "$here/../debian-mirror.sh")

mkdir -p "$cache"
# Stage 1, the slow part, cached on its own: debootstrap of the packages.
base="$cache/base-$release-$(echo "$release $packages" | sha256sum | cut -c1-12)"
if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  log "debootstrap $release with a kernel into $base (about 3 minutes)"
  debootstrap --variant=minbase --include="$packages" "$release" "$base" "$mirror" >"$base.log" 2>&1 || {
    tail -n 30 "$base.log" >&2; rm -rf "$base"; exit 1; }
  rm -f "$base.log"
  touch "$base/.complete"
fi
# Stage 2: a copy made into this lab's guest, then the disk image.
work=$(mktemp -d "$cache/.build-$release.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
cp -a "$base" "$root"
rm -f "$root/.complete"

echo "deb $mirror $release main" > "$root/etc/apt/sources.list"
printf '/dev/vda / ext4 errors=remount-ro 0 1\n' > "$root/etc/fstab"
rm -f "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"; : > "$root/etc/machine-id"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' > "$root/etc/network/interfaces"
# Each guest's address, gateway, resolver and name come from the kernel
# command line (hrlab.*=), applied before the network comes up.
install -m 0755 "$here/hrlab-net.sh" "$root/usr/local/sbin/hrlab-net"
install -m 0644 "$here/hrlab-net.service" "$root/etc/systemd/system/hrlab-net.service"
mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
ln -sf /etc/systemd/system/hrlab-net.service "$root/etc/systemd/system/sysinit.target.wants/hrlab-net.service"
# The sudo user the collection is run as, with the image's own key.
ssh-keygen -q -t ed25519 -N '' -C hrlab -f "$work/id_ed25519"
chroot "$root" useradd -m -s /bin/bash -G sudo hrlab
install -d -m 0700 -o "$(chroot "$root" id -u hrlab)" -g "$(chroot "$root" id -g hrlab)" "$root/home/hrlab/.ssh"
install -m 0600 -o "$(chroot "$root" id -u hrlab)" -g "$(chroot "$root" id -g hrlab)" "$work/id_ed25519.pub" "$root/home/hrlab/.ssh/authorized_keys"
echo 'hrlab ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/hrlab"; chmod 0440 "$root/etc/sudoers.d/hrlab"
# Host keys are made at first boot (each guest its own), not baked in.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' > "$root/etc/systemd/system/ssh.service.d/hostkeys.conf"
echo hrlab > "$root/etc/hostname"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
  > "$root/etc/dpkg/dpkg.cfg.d/01-nodoc"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

cp -L "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp -L "$root"/boot/initrd.img-* "$work/initrd.img"
chmod 0644 "$work/vmlinuz" "$work/initrd.img"
log "mkfs.ext4 -d into a $disk_size image"
mkfs.ext4 -q -F -L hrlab-root -d "$root" "$work/rootfs.raw" "$disk_size" >&2
chmod 0444 "$work/rootfs.raw"
rm -rf "$root"
mv "$work" "$dir"
trap - EXIT
echo "$dir"
