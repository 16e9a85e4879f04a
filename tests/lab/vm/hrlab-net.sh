#!/bin/sh
# Apply the guest's network identity from the kernel command line:
#   hrlab.ip=ADDR/PREFIX hrlab.gw=ADDR hrlab.dns=ADDR hrlab.hostname=NAME
# (written by tests/lab/vm/vm.sh). Without hrlab.ip, eth0 uses DHCP.
set -eu
ip="" gw="" dns="" name=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    hrlab.ip=*) ip=${arg#hrlab.ip=} ;;
    hrlab.gw=*) gw=${arg#hrlab.gw=} ;;
    hrlab.dns=*) dns=${arg#hrlab.dns=} ;;
    hrlab.hostname=*) name=${arg#hrlab.hostname=} ;;
  esac
done
mkdir -p /etc/network/interfaces.d
if [ -n "$ip" ]; then
  {
    echo "auto eth0"
    echo "iface eth0 inet static"
    echo "    address $ip"
    [ -z "$gw" ] || echo "    gateway $gw"
  } > /etc/network/interfaces.d/eth0
else
  printf 'auto eth0\niface eth0 inet dhcp\n' > /etc/network/interfaces.d/eth0
fi
[ -z "$dns" ] || echo "nameserver $dns" > /etc/resolv.conf
if [ -n "$name" ]; then
  echo "$name" > /etc/hostname
  hostname "$name"
  grep -q "[[:space:]]$name\$" /etc/hosts 2>/dev/null || echo "127.0.1.1 $name" >> /etc/hosts
fi
