#!/usr/bin/env python3
"""Outage of the endpoint for URL-only clients (hardened.redis.redis_endpoint), on demand.

  bench/endpoint.py --kills 5 --switchovers 5

Its own three-host lab (LAB_NAME hredis-ebench, tests/lab/lab.sh with
LAB_ENDPOINTS=1: the first host also runs the endpoint), deployed with
hardened.redis.site and the fast Sentinel profile. Per round, under a writer
that connects only through the endpoint (redis-py ``Redis.from_url``, user
app; SET, WAIT 1 250 and CLIENT INFO per key, socket timeout 1 s): a kill -9
of the master's redis-server, or a planned switchover (hardened.redis.switchover).
Prints a table: the endpoint's outage (longest gap between acknowledged
writes), for kills also when the Sentinels switched (+switch-master, first
Sentinel) and the outage beyond it; acknowledged and lost writes; HAProxy
samples with two servers UP (its runtime API, every 20 ms on the endpoint
host); the nodes that served the writer in order. Targets: kill <= switch + 1 s,
switchover <= 1 s. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

# failover.py sets up the lab's credentials for sentinel_lab; its helpers are reused.
from failover import _CREDS_LINK, EventLog, fmt, machine, pct, use_lab  # noqa: E402  pylint: disable=wrong-import-position
from sentinel_lab import MASTER_NAME, EndpointSampler, Group, UrlWriter, secret  # noqa: E402  pylint: disable=wrong-import-position

PORT = 6390


def served_runs(group: Group, writer: UrlWriter) -> list[str]:
    nodes = [group.name_of.get(addr, addr) for _phase, addr in writer.served]
    return [n for i, n in enumerate(nodes) if i == 0 or nodes[i - 1] != n]


def one_round(group: Group, endpoint: str, kind: str, inventory: Path, events: EventLog, tag: str) -> dict:
    old = group.wait_settled(timeout=120)
    url = f"redis://app:{secret('app')}@{group.ip[endpoint]}:{PORT}/0"
    sampler = EndpointSampler(endpoint)
    sampler.start()
    writer = UrlWriter(url, tag)
    writer.start()
    switched = None
    try:
        writer.wait_acks(200, timeout=60)
        started = time.monotonic()
        if kind == "kill":
            group.kill_data_node(old)
            new = group.wait_new_master(old, 60)
        else:
            new = sorted(n for n in group.names if n != old)[0]
            out = Path(_CREDS_LINK) / "switchover.json"
            proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                                   "hardened.redis.switchover", "-e", f"target={new}", "-e", f"switchover_json={out}"],
                                  capture_output=True, text=True, check=False, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"switchover failed:\n{proc.stdout[-3000:]}")
        writer.wait_acks(200, timeout=60)
        ended = time.monotonic()
        if kind == "kill":
            group.wait_rejoined(old, new, 120)
            sw = events.first("+switch-master", started)
            switched = None if sw is None else sw - started
        group.wait_settled(timeout=120)
    finally:
        writer.stop()
        sampler.stop()
    lost = group.missing(new, writer.acked)
    outage = writer.longest_gap(started, ended)
    return {"kind": kind, "old": old, "new": new, "outage": round(outage, 3),
            "switched": None if switched is None else round(switched, 3),
            "acked": len(writer.acked), "lost": len(lost), "errors": writer.errors,
            "two_up": sum(1 for s in sampler.samples if len(s) > 1), "samples": len(sampler.samples),
            "served": served_runs(group, writer)}


def table(rows: list[dict]) -> str:
    out = ["| fault | runs | endpoint outage p50 / max (s) | Sentinels switched p50 (s after the kill) | acknowledged | lost | samples with two servers UP | writer served by (each run) |",
           "|---|---|---|---|---|---|---|---|"]
    for kind in ("kill", "switchover"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        outs = [r["outage"] for r in rs]
        sw = [r["switched"] for r in rs]
        out.append(f"| {'kill -9 of the master' if kind == 'kill' else 'planned switchover'} | {len(rs)} |"
                   f" {fmt(pct(outs, 50))} / {fmt(max(outs))} | {fmt(pct(sw, 50)) if kind == 'kill' else '-'} |"
                   f" {sum(r['acked'] for r in rs)} | {sum(r['lost'] for r in rs)} |"
                   f" {sum(r['two_up'] for r in rs)} of {sum(r['samples'] for r in rs)} |"
                   f" {'; '.join(' -> '.join(r['served']) for r in rs)} |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--switchovers", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the lab running")
    parser.add_argument("--json", default="/tmp/hardened-redis-endpoint-bench.json")
    args = parser.parse_args()
    lab = os.environ.get("LAB_NAME", "hredis-ebench")
    env = dict(os.environ, LAB_NAME=lab, LAB_NODES="3", LAB_DEPLOY="0", LAB_ENDPOINTS="1")
    subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
    subprocess.run(["bash", "tests/lab/lab.sh", "up"], cwd=ROOT, env=env, check=True)
    rows = []
    try:
        names, inventory = use_lab(lab)
        log = Path(f"/tmp/{lab}-deploy.log")
        with log.open("w") as f:
            rc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "hardened.redis.site",
                                 "-e", "redis_sentinel_profile=fast"], stdout=f, stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0:
            raise RuntimeError(f"deploy failed, see {log}")
        group = Group(names)
        events = EventLog(group)
        try:
            plan = ["kill"] * args.kills + ["switchover"] * args.switchovers
            for i, kind in enumerate(plan):
                row = one_round(group, names[0], kind, inventory, events, f"ep-{kind}{i}")
                rows.append(row)
                print(f"[bench-endpoint] {kind} {i + 1}/{len(plan)}: outage {fmt(row['outage'])} s"
                      f"{'' if row['switched'] is None else ', Sentinels switched ' + fmt(row['switched']) + ' s after the kill'},"
                      f" acknowledged {row['acked']}, lost {row['lost']}, two UP {row['two_up']}/{row['samples']},"
                      f" served by {' -> '.join(row['served'])}, errors {row['errors']}", flush=True)
        finally:
            events.stop()
    except Exception:
        args.keep = True
        print(f"[bench-endpoint] failed: the lab {lab} is left running (LAB_NAME={lab} bash tests/lab/lab.sh down)")
        raise
    finally:
        if not args.keep:
            subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
    print(f"\n`make bench-endpoint` (bench/endpoint.py): three Docker hosts with Redis and Sentinel each (fast profile,"
          f" down-after 2000 ms), the endpoint on the first; writer on the controller through the endpoint only"
          f" (redis-py from_url, `WAIT 1 250`, socket timeout 1 s). Group {MASTER_NAME}. {machine()}.\n")
    print(table(rows))
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"raw results: {args.json}")


if __name__ == "__main__":
    main()
