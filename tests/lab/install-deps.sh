#!/usr/bin/env bash
# Install everything `make test` and `make lab` need on a fresh Debian 12
# machine: Debian packages, a running dockerd, and the pinned virtualenv.
# Safe to run again: each step is skipped when it is already done.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "[deps] $*" >&2; }

packages="docker.io debootstrap redis-server redis-sentinel redis-tools prometheus iptables openssl make git python3-venv"
# The VM lab (make lab VM=1, make molecule SCENARIO=vm): qemu, software emulation.
[ "${HARDENED_REDIS_VM:-0}" = 1 ] && packages="$packages qemu-system-x86 qemu-utils openssh-client e2fsprogs"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian starts the packaged redis-server/redis-sentinel where it can; the
# tests start their own processes on free ports, so nothing else is needed.
# prometheus is there for promtool (make rules).

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 /var/log/dockerd.log >&2; echo "dockerd did not start" >&2; exit 1; }
fi

# Redis warns at start when memory overcommit is off; the containers share
# this kernel, so the lab host sets what a VM's role run would set itself.
if [ "$(cat /proc/sys/vm/overcommit_memory)" != 1 ]; then
  log "sysctl vm.overcommit_memory=1 on the Docker host (containers cannot set it)"
  sysctl -q -w vm.overcommit_memory=1 || log "could not set vm.overcommit_memory (not root?)"
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-64)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv from pinned requirements (a few minutes the first time)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# The client drills' Node.js writer (ioredis, pinned with its lock file).
# Debian's nodejs and npm when no node is on the PATH; npm ci once per lock file.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "apt-get install nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
nstamp=tests/clients/node/node_modules/.lock.sha256
nwant=$(sha256sum tests/clients/node/package-lock.json | cut -c1-64)
if [ "$(cat "$nstamp" 2>/dev/null)" != "$nwant" ]; then
  log "npm ci in tests/clients/node (ioredis)"
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$nwant" > "$nstamp"
fi

# ansible-test fetches a pip bootstrap script from a host that is not
# reachable here; it uses a cached copy first, so give it the offline one.
pipver=$(.venv/bin/python - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1).replace(".", "_"))
PY
)
mkdir -p ~/.ansible/test/cache
install -m 0644 tests/lab/get_pip_offline.py ~/.ansible/test/cache/get_pip_"$pipver".py
log "ready"
