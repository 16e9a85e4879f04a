#!/usr/bin/env bash
# The local lab: systemd containers on a Docker network (LAB_NODES, default
# 3: Redis and Sentinel on each), deployed with the collection's own playbook
# (playbooks/site.yml), as a user would. LAB_VMS=N (make lab VM=N): the first
# N hosts are Debian virtual machines instead (qemu, tests/lab/vm/), reached
# over SSH as the sudo user hrlab, on the same network as the containers.
#   lab.sh up      create the hosts, deploy, check an authenticated PING
#   lab.sh down    remove only what the lab made
set -euo pipefail
cd "$(dirname "$0")/../.."

LAB_NAME=${LAB_NAME:-hredis-lab}
LAB_NODES=${LAB_NODES:-3}
LAB_RELEASE=${LAB_RELEASE:-bookworm}
LAB_VMS=${LAB_VMS:-0}
# Each lab keeps its inventory and credentials apart: a benchmark's lab must
# not remove the credentials of the lab a developer is using.
if [ "$LAB_NAME" = hredis-lab ]; then STATE=lab/.state; else STATE=lab/.state-$LAB_NAME; fi
INVENTORY=$STATE/inventory.yml
BIN=$PWD/.venv/bin
log() { echo "[lab] $*" >&2; }

is_vm() { [ "${1##*-}" -le "$LAB_VMS" ]; }

down() {
  local ids
  for i in $(seq 1 "$LAB_NODES"); do
    [ -d "${HARDENED_REDIS_VM_STATE:-/var/lib/hardened-redis/vm}/$LAB_NAME-$i" ] && bash tests/lab/vm/vm.sh down "$LAB_NAME-$i"
  done
  ids=$(docker ps -aq --filter "label=hardened-redis-lab=$LAB_NAME")
  if [ -n "$ids" ]; then
    log "removing containers"
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null
  fi
  if docker network inspect "$LAB_NAME" >/dev/null 2>&1; then
    log "removing network $LAB_NAME"
    docker network rm "$LAB_NAME" >/dev/null
  fi
  rm -rf "$STATE"
}

up() {
  local image t0 names=()
  t0=$(date +%s)
  image=$(bash tests/lab/build-image.sh "$LAB_RELEASE")
  mkdir -p "$STATE"
  chmod 0700 "$STATE"
  docker network inspect "$LAB_NAME" >/dev/null 2>&1 \
    || docker network create --label "hardened-redis-lab=$LAB_NAME" "$LAB_NAME" >/dev/null
  local vm_image=""
  [ "$LAB_VMS" -gt 0 ] && vm_image=$(bash tests/lab/vm/build-vm-image.sh "$LAB_RELEASE")
  for i in $(seq 1 "$LAB_NODES"); do
    local name="$LAB_NAME-$i"
    names+=("$name")
    if is_vm "$name"; then
      if [ ! -d "${HARDENED_REDIS_VM_STATE:-/var/lib/hardened-redis/vm}/$name" ]; then
        log "booting virtual machine $name"
        bash tests/lab/vm/vm.sh up "$name" "$vm_image" "$LAB_NAME" "+$((200 + i))"
      fi
      log "$name answers SSH after $(bash tests/lab/vm/vm.sh wait "$name") s"
    elif ! docker inspect "$name" >/dev/null 2>&1; then
      log "starting host $name ($image)"
      docker run -d --name "$name" --hostname "$name" --network "$LAB_NAME" \
        --label "hardened-redis-lab=$LAB_NAME" \
        --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        --tmpfs /run --tmpfs /run/lock "$image" /sbin/init >/dev/null
    fi
  done
  {
    echo "# Written by tests/lab/lab.sh: the lab's hosts, reached through Docker."
    echo "all:"
    echo "  vars:"
    echo "    ansible_connection: community.docker.docker"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "  children:"
    echo "    redis_servers:"
    echo "      hosts:"
    for n in "${names[@]}"; do
      echo "        $n:"
      if is_vm "$n"; then
        echo "          ansible_connection: ssh"
        echo "          ansible_host: $(bash tests/lab/vm/vm.sh ip "$n")"
        echo "          ansible_user: hrlab"
        echo "          ansible_become: true"
        echo "          ansible_ssh_private_key_file: $vm_image/id_ed25519"
        echo "          ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
      fi
    done
    echo "    redis_sentinels:"
    echo "      hosts:"
    for n in "${names[@]}"; do echo "        $n:"; done
    # LAB_ENDPOINTS=n: the first n hosts also run the endpoint for URL-only
    # clients (hardened.redis.redis_endpoint; bench/endpoint.py).
    if [ "${LAB_ENDPOINTS:-0}" -gt 0 ]; then
      echo "    redis_endpoints:"
      echo "      hosts:"
      for n in "${names[@]:0:$LAB_ENDPOINTS}"; do echo "        $n:"; done
    fi
  } > "$INVENTORY"

  if [ "${LAB_DEPLOY:-1}" = 0 ]; then
    log "hosts ready, not deploying (LAB_DEPLOY=0): $INVENTORY"
    return 0
  fi
  log "deploying with playbooks/site.yml (progress below)"
  "$BIN/ansible-playbook" -i "$INVENTORY" hardened.redis.site
  local t1
  t1=$(date +%s)

  log "checking an authenticated PING on each host"
  local cred="$STATE/credentials/main/admin"
  for n in "${names[@]}"; do
    # The password goes through the environment (REDISCLI_AUTH), never argv.
    if is_vm "$n"; then
      # On a guest the password goes through stdin.
      reply=$(bash tests/lab/vm/vm.sh ssh "$n" 'read -r p; REDISCLI_AUTH=$p redis-cli --no-auth-warning --user admin -h 127.0.0.1 PING' < "$cred")
    else
      reply=$(REDISCLI_AUTH="$(cat "$cred")" docker exec -i -e REDISCLI_AUTH "$n" \
        sh -c 'redis-cli --no-auth-warning --user admin -h 127.0.0.1 PING 2>&1 || valkey-cli --user admin -h 127.0.0.1 PING')
    fi
    echo "  $n: $reply"
    [ "$reply" = PONG ] || { log "$n did not answer PONG"; exit 1; }
  done
  local scred="$STATE/credentials/main/sentinel-client"
  local last=${names[${#names[@]}-1]}
  if [ -f "$scred" ] && ! is_vm "$last"; then
    log "Sentinel's view from $last:"
    REDISCLI_AUTH="$(cat "$scred")" docker exec -i -e REDISCLI_AUTH "$last" \
      redis-cli --no-auth-warning --user client -p 26379 SENTINEL GET-MASTER-ADDR-BY-NAME main \
      | paste -sd' ' | sed 's/^/  master: /'
  fi
  log "the group's health (hardened.redis.status):"
  "$BIN/ansible-playbook" -i "$INVENTORY" hardened.redis.status -e status_fail_on_crit=false 2>&1 \
    | sed -n '/"msg": \[/,/^    \]/p' | sed -e '1d;$d' | sed -E 's/^ +"//; s/",?$//'
  log "deployed in $((t1 - t0)) s. Credentials: $STATE/credentials/main/ (mode 0600, never printed)."
  local ips=()
  for n in "${names[@]}"; do
    if is_vm "$n"; then ips+=("$(bash tests/lab/vm/vm.sh ip "$n")"); else
      ips+=("$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$n")"); fi
  done
  cat <<EOT
[lab] connect with redis-cli (the password goes through the environment, never argv):
  REDISCLI_AUTH="\$(cat $cred)" docker exec -it -e REDISCLI_AUTH ${names[0]} redis-cli --user admin
[lab] connect from this machine with redis-py through the Sentinels (.venv/bin/python):
  from pathlib import Path
  from redis.sentinel import Sentinel
  creds = Path("$STATE/credentials/main")
  secret = lambda name: (creds / name).read_text().split()[0]
  sentinel = Sentinel([$(printf '("%s", 26379), ' "${ips[@]}" | sed 's/, $//')],
                      sentinel_kwargs={"username": "client", "password": secret("sentinel-client"), "socket_timeout": 0.5},
                      socket_timeout=1.0, socket_connect_timeout=0.5)
  master = sentinel.master_for("main", username="app", password=secret("app"))
  master.set("hello", "world")
[lab] make lab-drill kills the master under a writer and prints the timeline; make lab-destroy removes the lab.
EOT
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: lab.sh up|down" >&2; exit 2 ;;
esac
