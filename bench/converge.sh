#!/usr/bin/env bash
# Benchmark: converge time of the three-node lab (Redis + Sentinel on each
# host), fresh deploy and idempotent rerun, with the tasks changed.
#   bench/converge.sh [runs]        prints a Markdown table
#   WRITE_DOCS=1 bench/converge.sh  also writes it into docs/benchmarks.md
# Each run creates fresh containers (lab.sh up), times playbooks/site.yml
# twice, and removes them. Packages come from Debian's mirrors in each run,
# so the fresh deploy includes apt's download and install time.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
export LAB_NAME=hredis-bench LAB_NODES=3
BIN=$PWD/.venv/bin
: "${ANSIBLE_COLLECTIONS_PATH:?run through make bench-converge (it sets the collection path)}"

recap() {  # changed= total over all hosts from an ansible-playbook log
  awk '/PLAY RECAP/{r=1;next} r && /changed=/{for(i=1;i<=NF;i++) if($i ~ /^changed=/){split($i,a,"=");c+=a[2]}} END{print c+0}' "$1"
}

rows=()
for run in $(seq 1 "$runs"); do
  bash tests/lab/lab.sh down >/dev/null 2>&1 || true
  LAB_DEPLOY=0 bash tests/lab/lab.sh up >/dev/null
  inv=lab/.state-$LAB_NAME/inventory.yml
  t0=$(date +%s.%N)
  "$BIN/ansible-playbook" -i "$inv" hardened.redis.site > /tmp/bench-converge-1.log 2>&1
  t1=$(date +%s.%N)
  "$BIN/ansible-playbook" -i "$inv" hardened.redis.site > /tmp/bench-converge-2.log 2>&1
  t2=$(date +%s.%N)
  rows+=("| $run | $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') | $(recap /tmp/bench-converge-1.log) | $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.1f", b-a}') | $(recap /tmp/bench-converge-2.log) |")
  bash tests/lab/lab.sh down >/dev/null
done

table() {
  echo "\`make bench-converge\` (bench/converge.sh): 3 hosts (Redis + Sentinel each), $(nproc) cores,"
  echo "kernel $(uname -r), load average at the end $(cut -d' ' -f1 /proc/loadavg), $(date -u +%F)."
  echo
  echo "| run | fresh deploy (s) | changed | idempotent rerun (s) | changed |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
}
table
if [ "${WRITE_DOCS:-0}" = 1 ]; then
  table | "$BIN/python" bench/benchdocs.py "Converge"
  echo "written to docs/benchmarks.md"
fi
