#!/usr/bin/env python3
"""Real client drills, full version (issue 13 §2): make bench-clients.

  bench/clients.py --kills 3 --switchovers 2 [--write-docs] [--use-lab] [--keep]

Celery 5 (kombu's sentinel:// transport), Node.js ioredis and Django
django-redis, with the settings docs/clients.md recommends, all under load at
once (tests/clients/clients_lab.py) through each of N kill -9 of the master
and M planned switchovers (hardened.redis.switchover). By default on a lab of
its own (LAB_NAME hredis-cbench, three hosts, fast Sentinel profile, built
and deployed like bench/failover.py's); --use-lab runs on the lab of
`make lab` (LAB_NAME, default hredis-lab) instead. Prints one table (client,
event, acked/submitted, lost, run twice, failed commands, outage) and, with
--write-docs, writes it into docs/clients.md with the machine and load.
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
sys.path.insert(0, str(ROOT / "tests" / "clients"))

# failover.py puts molecule/resources/tests on sys.path and points the
# credentials at the lab's (use_lab): import it first.
from benchdocs import replace_section  # noqa: E402  pylint: disable=wrong-import-position
from failover import _CREDS_LINK, deploy, fmt, machine, pct, use_lab  # noqa: E402  pylint: disable=wrong-import-position
from sentinel_lab import Group  # noqa: E402  pylint: disable=wrong-import-position
from clients_lab import kill_master, through_event  # noqa: E402  pylint: disable=wrong-import-position

DOC = ROOT / "docs" / "clients.md"
HEADING = "Measured: the full client drill"

def switchover(inventory: Path):
    def event(group: Group, old: str) -> str:
        target = sorted(n for n in group.names if n != old)[0]
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                               "hardened.redis.switchover", "-e", f"target={target}"],
                              capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"switchover failed:\n{proc.stdout[-3000:]}")
        return target, time.time()
    return event


def _sum(rows: list[dict], key: str) -> int:
    return sum(r.get(key) or 0 for r in rows)


def table(rows: list[dict]) -> str:
    """One line per client and kind of event: sums over the events, outage p50 / max."""
    lines = ["| client | event | acked / submitted | lost | run twice | failed commands | outage p50 / max (s) | also seen |",
             "|---|---|---|---|---|---|---|---|"]
    keys = []
    for r in rows:
        if (r["client"], r["event"]) not in keys:
            keys.append((r["client"], r["event"]))
    for client, event in keys:
        rs = [r for r in rows if r["client"] == client and r["event"] == event]
        ok = [r for r in rs if "error" not in r]
        broken = f" ({len(rs) - len(ok)} did not finish)" if len(ok) < len(rs) else ""
        lost = "-" if any(r.get("lost") is None for r in ok) else str(_sum(ok, "lost"))
        if any("run_twice" in r for r in ok):
            twice = f"{_sum(ok, 'run_twice')} (+{_sum(ok, 'rerun_later')} after visibility_timeout)"
            early = sorted(-t for r in ok for t in r.get("lost_submitted_at", []))
            seen = (f"worker exits {_sum(ok, 'worker_exits')}, jobs delayed to visibility_timeout {_sum(ok, 'delayed')}"
                    + (f"; lost jobs published {early} s before the kill landed / the switchover ended" if early else ""))
            failed = _sum(ok, "submit_failed")
        else:
            twice = "-"
            failed = _sum(ok, "failed")
            seen = (f"reconnects {_sum(ok, 'reconnects')}, gave up ('end', reconnected by the writer) {_sum(ok, 'ends')}"
                    if any("reconnects" in r for r in ok)
                    else f"reads from a replica that missed the last set {_sum(ok, 'stale_reads')}")
        outages = [r["outage"] for r in ok]
        lines.append(f"| {client} | {event} x{len(rs)}{broken} | {_sum(ok, 'completed')} / {_sum(ok, 'submitted')} | {lost} |"
                     f" {twice} | {failed} | {fmt(pct(outages, 50))} / {fmt(max((o for o in outages if o is not None), default=None))} |"
                     f" {seen} |")
    return "\n".join(lines)


def run(args, names: list[str], inventory: Path) -> list[dict]:
    group = Group(names)
    work = Path(_CREDS_LINK)
    rows = []
    events = [("kill -9 of the master", f"kill{i}", kill_master) for i in range(args.kills)]
    events += [("switchover", f"switch{i}", switchover(inventory)) for i in range(args.switchovers)]
    for label, tag, event in events:
        got = through_event(group, f"{tag}-{int(time.time())}", work, event)
        for r in got:
            r["event"] = label
            print(f"[bench-clients] {label} ({tag}): {r['client']}: {json.dumps({k: v for k, v in r.items() if k not in ('client', 'event')})}",
                  flush=True)
        rows += got
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--switchovers", type=int, default=2)
    parser.add_argument("--use-lab", action="store_true", help="use the running lab of make lab (LAB_NAME)")
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/clients.md")
    parser.add_argument("--keep", action="store_true", help="leave the bench's own lab running")
    parser.add_argument("--json", default="/tmp/hardened-redis-clients-bench.json")
    args = parser.parse_args()
    if args.use_lab:
        lab = os.environ.get("LAB_NAME", "hredis-lab")
        names, inventory = use_lab(lab)
        rows = run(args, names, inventory)
    else:
        lab = os.environ.get("LAB_NAME", "hredis-cbench")
        env = dict(os.environ, LAB_NAME=lab, LAB_NODES="3", LAB_DEPLOY="0")
        subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
        subprocess.run(["bash", "tests/lab/lab.sh", "up"], cwd=ROOT, env=env, check=True)
        try:
            names, inventory = use_lab(lab)
            deploy(inventory, "fast")
            rows = run(args, names, inventory)
        except Exception:
            args.keep = True
            print(f"[bench-clients] failed: the lab {lab} is left running (LAB_NAME={lab} bash tests/lab/lab.sh down)")
            raise
        finally:
            if not args.keep:
                subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    header = (f"`make bench-clients` (bench/clients.py): three Docker hosts with Redis 7.0 and Sentinel each "
              f"(fast profile, down-after-milliseconds 2000), {'the running lab ' + os.environ.get('LAB_NAME', 'hredis-lab') if args.use_lab else 'a lab of its own'}; "
              f"{args.kills} kills (`kill -9` of the master's redis-server) and {args.switchovers} switchovers "
              "(`hardened.redis.switchover`), all clients under load at once on the controller: a Celery producer "
              "(one job every 20 ms) and worker (prefork, 2 processes), the ioredis writer (SET + WAIT 1 500, "
              "every 5 ms), django-redis (set + get, every 10 ms). "
              f"{machine()}. Raw rows: `{args.json}`.")
    notes = ("acked / submitted: Celery jobs recorded / jobs submitted (a publish that failed after the producer's "
             "retries is counted under failed commands, not submitted); ioredis writes acknowledged by WAIT 1 / "
             "writes tried; django-redis successful cache.set / cache.set tried. lost: submitted Celery jobs "
             "that never ran; acknowledged ioredis writes not on the new master (django-redis is a cache: '-'). "
             "outage: longest gap between two successes that ends after the event.")
    md = header + "\n\n" + table(rows) + "\n\n" + notes
    print("\n" + md)
    if args.write_docs:
        replace_section(HEADING, md, doc=DOC)
    # What the drill promises (docs/clients.md): no acknowledged ioredis write lost,
    # no Celery job lost but one published in the last second before a kill.
    bad = [r for r in rows if "error" in r or (r["client"].startswith("Node") and r.get("lost"))
           or any(not -1.0 <= t <= 0.0 for t in r.get("lost_submitted_at", []))]
    if bad:
        sys.exit(f"{len(bad)} rows broke a promise or did not finish: see {args.json}")


if __name__ == "__main__":
    main()
