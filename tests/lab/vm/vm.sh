#!/usr/bin/env bash
# Qemu guests of the VM lab, attached to a Docker network's bridge so that
# guests, containers and the host reach each other, and the guests reach the
# Debian mirror through Docker's NAT. Software emulation (TCG): KVM hangs here.
#
#   vm.sh up NAME IMAGE_DIR NETWORK ADDRESS   boot a guest (ADDRESS inside NETWORK's subnet, or +N: its Nth address)
#   vm.sh wait NAME                           until SSH answers (prints seconds)
#   vm.sh ssh NAME [command...]               as the sudo user hrlab
#   vm.sh poweroff NAME                       qemu killed with SIGKILL: power lost, guest page cache gone
#   vm.sh boot NAME                           boot again a guest whose power was cut (same disk)
#   vm.sh down NAME                           kill it and delete its disk, tap and state
#   vm.sh ip NAME
# Guests keep their state in $HARDENED_REDIS_VM_STATE (default /var/lib/hardened-redis/vm/NAME).
set -euo pipefail

state_root=${HARDENED_REDIS_VM_STATE:-/var/lib/hardened-redis/vm}
mem=${HARDENED_REDIS_VM_MEM:-1024}
cpus=${HARDENED_REDIS_VM_CPUS:-1}
log() { echo "[vm] $*" >&2; }
die() { echo "vm.sh: $*" >&2; exit 1; }

cmd=${1:-}; name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || die "usage: vm.sh up|wait|ssh|poweroff|boot|down|ip NAME ..."
case "$name" in *[!a-z0-9-]*|"") die "NAME must be lower-case letters, digits and dashes: '$name'";; esac
sd="$state_root/$name"
tap="hrt-$(echo -n "$name" | sha256sum | cut -c1-10)"

running() { [ -s "$sd/pid" ] && kill -0 "$(cat "$sd/pid")" 2>/dev/null; }

start_qemu() {
  # shellcheck disable=SC1091
  . "$sd/env"
  ip link show "$tap" >/dev/null 2>&1 || ip tuntap add dev "$tap" mode tap
  ip link set "$tap" master "$BRIDGE" up
  : > "$sd/serial.log"
  qemu-system-x86_64 -name "$name" -accel tcg,thread=multi -smp "$cpus" -m "$mem" \
    -kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet hrlab.ip=$ADDRESS hrlab.gw=$GATEWAY hrlab.dns=$DNS hrlab.hostname=$name" \
    -drive "file=$sd/disk.qcow2,if=virtio,format=qcow2" \
    -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$MAC" \
    -display none -serial "file:$sd/serial.log" -monitor none \
    -qmp "unix:$sd/qmp.sock,server=on,wait=off" -daemonize -pidfile "$sd/pid"
}

case "$cmd" in
  up)
    image=${3:?IMAGE_DIR}; network=${4:?NETWORK}; address=${5:?ADDRESS}
    running && die "$name is already running"
    [ -s "$image/rootfs.raw" ] || die "no guest image in $image (tests/lab/vm/build-vm-image.sh)"
    netid=$(docker network inspect -f '{{.Id}}' "$network") || die "no Docker network $network"
    bridge=$(docker network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$network")
    [ -n "$bridge" ] && [ "$bridge" != "<no value>" ] || bridge="br-${netid:0:12}"
    subnet=$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$network")
    gateway=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$network")
    prefix=${subnet#*/}
    # ADDRESS is an address of the subnet, or +N: the subnet's Nth address.
    address=$(python3 -c '
import ipaddress, sys
n = ipaddress.ip_network(sys.argv[2])
a = n.network_address + int(sys.argv[1][1:]) if sys.argv[1].startswith("+") else ipaddress.ip_address(sys.argv[1])
sys.exit(1) if a not in n or a in (n.network_address, n.broadcast_address) else print(a)' "$address" "$subnet") ||
      die "ADDRESS $address is not a host address of $network ($subnet)"
    dns=$(awk '$1 == "nameserver" && $2 !~ /^127\./ { print $2; exit }' /etc/resolv.conf)
    [ -n "$dns" ] || die "no non-loopback nameserver in /etc/resolv.conf for the guests"
    mkdir -p "$sd"; chmod 0700 "$sd"
    qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.raw" "$sd/disk.qcow2"
    mac=$(printf '52:54:00:%s' "$(echo -n "$name" | sha256sum | sed 's/^\(..\)\(..\)\(..\).*/\1:\2:\3/')")
    cat > "$sd/env" <<ENV
IMAGE=$image
BRIDGE=$bridge
ADDRESS=$address/$prefix
GATEWAY=$gateway
DNS=$dns
MAC=$mac
ENV
    start_qemu
    log "$name booting on $network ($bridge) as $address"
    ;;
  boot)
    running && die "$name is already running"
    [ -s "$sd/env" ] || die "$name was never started"
    start_qemu
    ;;
  ip)
    # shellcheck disable=SC1091
    . "$sd/env"; echo "${ADDRESS%/*}" ;;
  wait)
    # shellcheck disable=SC1091
    . "$sd/env"; start=$(date +%s)
    for _ in $(seq 1 ${HARDENED_REDIS_VM_BOOT_TIMEOUT:-300}); do
      running || { tail -n 20 "$sd/serial.log" >&2; die "$name: qemu exited"; }
      if ssh -q -i "$IMAGE/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
           -o ConnectTimeout=2 "hrlab@${ADDRESS%/*}" true 2>/dev/null; then
        echo $(( $(date +%s) - start )); exit 0
      fi
      sleep 1
    done
    tail -n 20 "$sd/serial.log" >&2; die "$name: no SSH after ${HARDENED_REDIS_VM_BOOT_TIMEOUT:-300} s"
    ;;
  ssh)
    # shellcheck disable=SC1091
    . "$sd/env"; shift 2
    exec ssh -q -i "$IMAGE/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      "hrlab@${ADDRESS%/*}" "$@"
    ;;
  poweroff)
    running || die "$name is not running"
    kill -KILL "$(cat "$sd/pid")"
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
    log "$name: power cut (qemu SIGKILL)"
    ;;
  down)
    if running; then kill -KILL "$(cat "$sd/pid")"; sleep 0.5; fi
    ip link del "$tap" 2>/dev/null || true
    rm -rf "$sd"
    ;;
  *) die "unknown command $cmd" ;;
esac
