#!/usr/bin/env bash
# Benchmark: converge time of the lab (Redis + Sentinel on each host) for
# several fleet sizes: fresh deploy, idempotent rerun (the roles' fast path),
# the same rerun with the fast path off (the full path), and the floor (a
# play that gathers the same facts and runs one no-op task on the same
# hosts), with the tasks changed.
#   bench/converge.sh                 HOSTS="3 6 9" RUNS=1; prints a Markdown table
#   WRITE_DOCS=1 bench/converge.sh    also writes it into docs/benchmarks.md
# Each run creates fresh containers (lab.sh up), runs the playbooks, and
# removes them. Packages come from Debian's mirrors in each run, so the
# fresh deploy includes apt's download and install time. Pipelining is on,
# as users run it (the Makefile exports ANSIBLE_PIPELINING).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-${1:-1}}
sizes=${HOSTS:-3 6 9}
export LAB_NAME=hredis-bench
BIN=$PWD/.venv/bin
: "${ANSIBLE_COLLECTIONS_PATH:?run through make bench-converge (it sets the collection path)}"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

recap() {  # changed= total over all hosts from an ansible-playbook log
  awk '/PLAY RECAP/{r=1;next} r && /changed=/{for(i=1;i<=NF;i++) if($i ~ /^changed=/){split($i,a,"=");c+=a[2]}} END{print c+0}' "$1"
}
fullpaths() {  # how many roles took their full path (they say why)
  grep -c 'full converge, because of' "$1" || true
}
timed() {  # timed LOG ARGS...: runs ansible-playbook, prints seconds; fails the benchmark on a failed run
  local out=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$BIN/ansible-playbook" "$@" > "$out" 2>&1; then
    tail -40 "$out" >&2; echo "[bench] ansible-playbook $* failed" >&2; exit 1
  fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'
}

cat > "$log/floor.yml" <<'EOF'
- name: Floor, the same facts and one no-op task per host
  hosts: redis_servers:redis_sentinels
  gather_facts: true
  gather_subset: [min, hardware, network, virtual]
  tasks:
    - name: One no-op round trip
      ansible.builtin.ping:
EOF

rows=()
for n in $sizes; do
  for run in $(seq 1 "$runs"); do
    export LAB_NODES=$n
    bash tests/lab/lab.sh down >/dev/null 2>&1 || true
    LAB_DEPLOY=0 bash tests/lab/lab.sh up >/dev/null
    inv=lab/.state-$LAB_NAME/inventory.yml
    fresh=$(timed "$log/1" -i "$inv" hardened.redis.site)
    rerun=$(timed "$log/2" -i "$inv" hardened.redis.site)
    full=$(timed "$log/3" -i "$inv" hardened.redis.site -e redis_fast_path=false -e redis_sentinel_fast_path=false)
    floor=$(timed "$log/4" -i "$inv" "$log/floor.yml")
    rows+=("| $n | $run | $fresh | $(recap "$log/1") | $rerun | $(recap "$log/2") | $(fullpaths "$log/2") | $full | $(recap "$log/3") | $floor | $(awk -v a="$rerun" -v b="$floor" 'BEGIN{printf "%.1f", a/b}') |")
    bash tests/lab/lab.sh down >/dev/null
  done
done

table() {
  echo "\`make bench-converge\` (bench/converge.sh): the lab's hosts, Redis and Sentinel on each (one group), containers on"
  echo "one Docker host, pipelining on; $(nproc) cores, kernel $(uname -r), load average at the end $(cut -d' ' -f1 /proc/loadavg), $(date -u +%F)."
  echo "The rerun takes the roles' fast path; \"full path\" is the same rerun with \`redis_fast_path=false\` and"
  echo "\`redis_sentinel_fast_path=false\`; the floor is a play that gathers the same facts and pings each host."
  echo
  echo "| hosts | run | fresh deploy (s) | changed | rerun (s) | changed | roles on their full path | rerun, full path (s) | changed | floor (s) | rerun / floor |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
}
table
if [ "${WRITE_DOCS:-0}" = 1 ]; then
  table | "$BIN/python" bench/benchdocs.py "Converge"
  echo "written to docs/benchmarks.md"
fi
