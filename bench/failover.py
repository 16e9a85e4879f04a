#!/usr/bin/env python3
"""Failover benchmark and drill on the Docker lab (Redis + Sentinel on each host).

  bench/failover.py drill
      One kill -9 of the master's redis-server in the running lab (make lab)
      while a writer runs; prints the timeline: detection, election,
      promotion, Sentinel's switch, writes resumed, old master rejoined, and
      the acknowledged writes lost.

  bench/failover.py heal --runs 5
      In the running lab (LAB_NAME, default hredis-lab): per run, kill -9 of
      the master; the heal time (the old master answers again after systemd's
      RestartSec -> it replicates the new master with its link up) and the
      role it came back with; then the new master is killed as soon as the
      group reports healthy, and, as soon as that node answers after its
      restart (inside its heal window), the master of that moment is killed
      too. Prints the write outage of each kill (--write-docs: the section
      "Heal and second kill" of docs/benchmarks.md). --without-start-check
      first removes the start check's drop-in and sets
      repl-diskless-sync-delay 5 live: the same lab as before this change.

  bench/failover.py bench --kills 20 --switchovers 5 --profiles fast default
      Its own three-host lab (LAB_NAME hredis-fbench), deployed with
      hardened.redis.site once per Sentinel profile; per profile N kills and M
      planned switchovers (hardened.redis.switchover) under the writer. Prints
      p50 / p95 / max tables, writes them into docs/benchmarks.md (sections
      "Unplanned failover" and "Planned switchover") and plots the per-write
      latency through one kill (docs/failover-latency.png).

The writer is the one the Molecule scenarios use (molecule/resources/tests/
sentinel_lab.py): redis-py's Sentinel client, each write acknowledged only
after WAIT 1 (500 ms, socket timeout 1 s). Times come from the controller's
monotonic clock; Sentinel's events from its Pub/Sub (+sdown, +odown, ...),
stamped when the controller receives them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "molecule" / "resources" / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

# The lab's credentials are where lab.sh's inventory makes the roles put
# them; sentinel_lab reads <dir>/credentials/<name>. Set before the import.
_CREDS_LINK = Path(tempfile.mkdtemp(prefix="hredis-bench-"))

from benchdocs import replace_section  # noqa: E402  pylint: disable=wrong-import-position
from sentinel_lab import MASTER_NAME, Group, Writer, wait_for  # noqa: E402  pylint: disable=wrong-import-position

EVENTS = ("+sdown", "+odown", "+try-failover", "+elected-leader", "+selected-slave",
          "+promoted-slave", "+switch-master", "+convert-to-slave", "-sdown")


def use_lab(lab_name: str) -> tuple[list[str], Path]:
    state = ROOT / "lab" / (".state" if lab_name == "hredis-lab" else f".state-{lab_name}")  # as tests/lab/lab.sh
    inventory = state / "inventory.yml"
    if not inventory.exists():
        sys.exit(f"no lab inventory at {inventory}: run make lab first")
    names = re.findall(rf"^\s+({re.escape(lab_name)}-\d+):\s*$", inventory.read_text(), re.M)
    names = sorted(set(names))
    if not names:
        sys.exit(f"{inventory} has no host of the lab {lab_name}")
    link = _CREDS_LINK / "credentials"
    if not link.exists():
        link.symlink_to(state / "credentials" / MASTER_NAME)
    os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] = str(_CREDS_LINK)
    return names, inventory


class TimedWriter(Writer):
    """sentinel_lab's writer, also keeping (start, end, acknowledged) per write."""

    def __init__(self, group, prefix):
        super().__init__(group, prefix)
        self.samples: list[tuple[float, float, bool]] = []

    def run(self):
        while not self._stop_event.is_set():
            key = f"{self.prefix}:{self.i}"
            t0 = time.monotonic()
            try:
                self.master.set(key, self.i)
                ok = int(self.master.execute_command("WAIT", 1, self.wait_ms)) >= 1
                t1 = time.monotonic()
                if ok:
                    self.acked.append(key)
                    self.ack_times.append(t1)
                self.samples.append((t0, t1, ok))
            except redis.RedisError as exc:
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.samples.append((t0, time.monotonic(), False))
                time.sleep(0.02)
            self.i += 1


class EventLog:
    """Sentinel events of every Sentinel, stamped on arrival."""

    def __init__(self, group: Group):
        self.events: list[tuple[float, str, str, str]] = []
        self._stop = threading.Event()
        self._threads = []
        for name in group.names:
            pubsub = group.sentinel(name).pubsub(ignore_subscribe_messages=True)
            pubsub.psubscribe("*")
            t = threading.Thread(target=self._listen, args=(name, pubsub), daemon=True)
            t.start()
            self._threads.append(t)

    def _listen(self, name, pubsub):
        while not self._stop.is_set():
            try:
                msg = pubsub.get_message(timeout=0.2)
            except redis.RedisError:
                time.sleep(0.2)
                continue
            if msg and msg.get("channel") in EVENTS:
                self.events.append((time.monotonic(), name, msg["channel"], msg["data"]))

    def first(self, channel: str, since: float, match: str = "") -> float | None:
        times = [t for t, _, c, d in self.events if c == channel and t >= since and match in d]
        return min(times) if times else None

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)


def kill_once(group: Group, events: EventLog, tag: str) -> dict:
    """One kill of the master's redis-server under the writer; the timeline in seconds after the kill."""
    old = group.wait_settled(timeout=120)
    writer = TimedWriter(group, tag)
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        killed = time.monotonic()
        group.kill_data_node(old)
        new = group.wait_new_master(old, 60)
        writer.wait_acks(200, timeout=60)
        try:
            group.wait_rejoined(old, new, 120)
        except AssertionError:
            diagnose(group, old, new)
            raise
        rejoined = time.monotonic()
        group.wait_settled(timeout=120)
    finally:
        writer.stop()
    lost = group.missing(new, writer.acked)
    # The outage is the longest gap between two acknowledged writes (a write
    # in flight at the kill may still be acknowledged just after it).
    gaps = [(b - a, b) for a, b in zip(writer.ack_times, writer.ack_times[1:]) if b > killed]
    outage, resumed = max(gaps) if gaps else (None, None)
    old_addr = f"{group.ip[old]} 6379"

    def rel(t):
        return None if t is None else round(t - killed, 3)
    return {
        "old": old, "new": new, "acked": len(writer.acked), "lost": len(lost), "errors": writer.errors,
        "outage": round(outage, 3) if outage is not None else None,
        "sdown": rel(events.first("+sdown", killed, f"master {MASTER_NAME} {old_addr}")),
        "odown": rel(events.first("+odown", killed, old_addr)),
        "elected": rel(events.first("+elected-leader", killed) or events.first("+selected-slave", killed)),
        "promoted": rel(events.first("+promoted-slave", killed)),
        "switched": rel(events.first("+switch-master", killed)),
        "resumed": rel(resumed),
        "rejoined": rel(rejoined),
        "samples": [(round(a - killed, 4), round(b - killed, 4), ok) for a, b, ok in writer.samples
                    if -2 <= a - killed <= 8],
    }


def diagnose(group: Group, old: str, new: str):
    """What the old master and the Sentinels say, for a rejoin that did not happen."""
    print(f"--- {old} did not rejoin {new}: diagnostics", flush=True)
    for label, probe in (("old node replication", lambda: group.replication(old)),
                         ("old node unit", lambda: group.docker(old, "systemctl", "show", "-p", "ActiveState,NRestarts",
                                                                "redis-hardened@main.service", check=False)),
                         ("old node log", lambda: group.docker(old, "tail", "-n", "25", "/var/log/redis/redis-main.log", check=False))):
        try:
            print(f"{label}: {probe()}")
        except Exception as exc:  # pylint: disable=broad-except  # diagnostics only
            print(f"{label}: {exc!r}")
    for s in group.names:
        try:
            replicas = group.sentinel(s).execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
            print(f"sentinel {s}: master {group.sentinel_master(s)} replicas "
                  f"{[{k: v for k, v in zip(r[0::2], r[1::2]) if k in ('ip', 'flags', 'master-link-status', 'master-host')} for r in replicas]}")
        except Exception as exc:  # pylint: disable=broad-except
            print(f"sentinel {s}: {exc!r}")


def switchover_once(group: Group, inventory: Path, tag: str) -> dict:
    master = group.wait_settled(timeout=120)
    target = sorted(n for n in group.names if n != master)[0]
    out = Path(_CREDS_LINK) / "switchover.json"
    writer = TimedWriter(group, tag)
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        started = time.monotonic()
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                               "hardened.redis.switchover", "-e", f"target={target}", "-e", f"switchover_json={out}"],
                              capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"switchover failed:\n{proc.stdout[-3000:]}")
        writer.wait_acks(200, timeout=60)
        group.wait_settled(timeout=120)
    finally:
        writer.stop()
    result = json.loads(out.read_text())
    lost = group.missing(target, writer.acked)
    return {"old": master, "new": target, "write_pause": result.get("write_pause"),
            "client_gap": round(writer.longest_gap(since=started), 3), "lost": len(lost), "acked": len(writer.acked),
            "timeline": result.get("timeline"), "info_aligned": result.get("info_aligned")}


def pct(values, p):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    k = max(0, min(len(values) - 1, round(p / 100.0 * (len(values) - 1))))
    return values[k]


def fmt(v):
    return "-" if v is None else f"{v:.2f}"


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB, kernel {platform.release()}, "
            f"load average at the end {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d', time.gmtime())}")


def print_timeline(row: dict):
    print(f"kill -9 of redis-server on {row['old']} at t=0 (seconds after the kill):")
    for label, key in (("Sentinel: master subjectively down (+sdown)", "sdown"),
                       ("Sentinels agree: objectively down (+odown)", "odown"),
                       ("leader elected, replica selected", "elected"),
                       ("replica promoted (+promoted-slave)", "promoted"),
                       ("Sentinel switches the master (+switch-master)", "switched"),
                       ("first acknowledged write on the new master", "resumed"),
                       (f"{row['old']} back as a replica, link up", "rejoined")):
        print(f"  {fmt(row[key]):>7}  {label}")
    print(f"new master {row['new']}; write outage {fmt(row['outage'])} s; acknowledged {row['acked']},"
          f" lost {row['lost']}; client errors {row['errors']}")


def kill_table(profile: str, down_after: int, rows: list[dict]) -> str:
    lines = [f"Profile `{profile}` (down-after-milliseconds {down_after}), {len(rows)} kills. t=0 is when the controller "
             "ran the kill (`docker exec ... systemctl kill --signal=KILL`, which itself takes 0.1-0.3 s here), so a write "
             "in flight can still be acknowledged just after t=0:", "",
             "| seconds after the kill | p50 | p95 | max |", "|---|---|---|---|"]
    for label, key in (("write outage seen by redis-py", "outage"), ("detection (+sdown)", "sdown"),
                       ("agreement (+odown)", "odown"), ("election (+elected-leader)", "elected"),
                       ("promotion (+promoted-slave)", "promoted"), ("switch (+switch-master)", "switched"),
                       ("writes resumed (first acknowledged write)", "resumed")):
        vals = [r[key] for r in rows]
        lines.append(f"| {label} | {fmt(pct(vals, 50))} | {fmt(pct(vals, 95))} | {fmt(max((v for v in vals if v is not None), default=None))} |")
    lines.append("")
    lines.append(f"Acknowledged writes lost: {sum(r['lost'] for r in rows)} of {sum(r['acked'] for r in rows)}.")
    return "\n".join(lines)


def switch_table(profile: str, rows: list[dict]) -> str:
    lines = [f"Profile `{profile}`, {len(rows)} switchovers with `hardened.redis.switchover`:", "",
             "| seconds | p50 | max |", "|---|---|---|"]
    for label, key in (("write pause on the master (module's `write_pause`)", "write_pause"),
                       ("longest gap between acknowledged writes (redis-py)", "client_gap")):
        vals = [r[key] for r in rows]
        lines.append(f"| {label} | {fmt(pct(vals, 50))} | {fmt(max((v for v in vals if v is not None), default=None))} |")
    named = [(r.get("timeline") or {}).get("sentinel_named") for r in rows]
    lines.append(f"| Sentinel names the new master (`timeline.sentinel_named`) | {fmt(pct(named, 50))} |"
                 f" {fmt(max((v for v in named if v is not None), default=None))} |")
    lines.append("")
    lines.append(f"Acknowledged writes lost: {sum(r['lost'] for r in rows)} of {sum(r['acked'] for r in rows)};"
                 f" FAILOVER timed after Sentinel's INFO in {sum(1 for r in rows if r.get('info_aligned'))} of {len(rows)}.")
    return "\n".join(lines)


def plot(row: dict, path: Path, profile: str):
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        print("matplotlib is not installed: no plot (make bench-failover installs it)")
        return
    ok = [(a, (b - a) * 1000) for a, b, good in row["samples"] if good]
    bad = [(a, (b - a) * 1000) for a, b, good in row["samples"] if not good]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.scatter([a for a, _ in ok], [ms for _, ms in ok], s=3, label="acknowledged (SET + WAIT 1)")
    ax.scatter([a for a, _ in bad], [ms for _, ms in bad], s=8, c="red", marker="x", label="error / not acknowledged")
    for key, label in (("odown", "+odown"), ("promoted", "+promoted-slave"), ("switched", "+switch-master")):
        if row.get(key) is not None:
            ax.axvline(row[key], ls="--", lw=0.8, c="gray")
            ax.text(row[key], 0.02, f" {label}", rotation=90, va="bottom", fontsize=7, transform=ax.get_xaxis_transform())
    ax.axvline(0, c="black", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds after kill -9 of the master's redis-server")
    ax.set_ylabel("write latency (ms)")
    ax.set_title(f"Per-write latency through one failover (profile {profile}, outage {fmt(row['outage'])} s, "
                 f"{row['lost']} acknowledged writes lost)", fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def deploy(inventory: Path, profile: str):
    log = inventory.parent / f"deploy-{profile}.log"
    print(f"[bench] deploying with profile {profile} (progress: tail -f {log})", flush=True)
    with open(log, "w", encoding="utf-8") as out:
        rc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "hardened.redis.site",
                             "-e", f"redis_sentinel_profile={profile}"], stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        sys.exit(f"deploy failed, see {log}")


def bench(args):
    lab = os.environ.get("LAB_NAME", "hredis-fbench")
    env = dict(os.environ, LAB_NAME=lab, LAB_NODES="3", LAB_DEPLOY="0")
    subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
    subprocess.run(["bash", "tests/lab/lab.sh", "up"], cwd=ROOT, env=env, check=True)
    raw = {}
    try:
        names, inventory = use_lab(lab)
        for profile in args.profiles:
            deploy(inventory, profile)
            group = Group(names)
            down_after = int(group.master_record(names[0])["down-after-milliseconds"])
            events = EventLog(group)
            kills, switches = [], []
            try:
                for i in range(args.kills):
                    row = kill_once(group, events, f"{profile}-kill{i}")
                    kills.append(row)
                    print(f"[bench] {profile} kill {i + 1}/{args.kills}: outage {fmt(row['outage'])} s,"
                          f" switch {fmt(row['switched'])} s, lost {row['lost']}", flush=True)
                for i in range(args.switchovers):
                    row = switchover_once(group, inventory, f"{profile}-switch{i}")
                    switches.append(row)
                    print(f"[bench] {profile} switchover {i + 1}/{args.switchovers}: pause {fmt(row['write_pause'])} s,"
                          f" client gap {fmt(row['client_gap'])} s, lost {row['lost']}", flush=True)
            finally:
                events.stop()
            raw[profile] = {"down_after": down_after, "kills": kills, "switchovers": switches}
    except Exception:
        args.keep = True
        print(f"[bench] failed: the lab {lab} is left running for a look (LAB_NAME={lab} bash tests/lab/lab.sh down)")
        raise
    finally:
        if not args.keep:
            subprocess.run(["bash", "tests/lab/lab.sh", "down"], cwd=ROOT, env=env, check=False, capture_output=True)
    header = (f"`make bench-failover` (bench/failover.py): three Docker hosts with Redis and Sentinel each, "
              f"writer on the controller (redis-py Sentinel client, `WAIT 1 500`, socket timeout 1 s). {machine()}.")
    for p, res in raw.items():
        kill_md = kill_table(p, res["down_after"], res["kills"]) if res["kills"] else ""
        switch_md = switch_table(p, res["switchovers"]) if res["switchovers"] else ""
        print("\n" + header + "\n\n" + kill_md + "\n\n" + switch_md)
        # One section per profile and kind, so that a run of one profile keeps the other's.
        if args.write_docs and kill_md:
            replace_section(f"Unplanned failover, profile {p}", header + "\n\n" + kill_md)
        if args.write_docs and switch_md:
            replace_section(f"Planned switchover, profile {p}", header + "\n\n" + switch_md)
    if args.write_docs and raw.get("fast", {}).get("kills"):
        # The README shows the fast profile's first kill.
        plot(raw["fast"]["kills"][0], ROOT / "docs" / "failover-latency.png", "fast")
    Path(args.json).write_text(json.dumps(raw, indent=1))
    print(f"raw results: {args.json}")


def drill(_args):
    names, _ = use_lab(os.environ.get("LAB_NAME", "hredis-lab"))
    group = Group(names)
    events = EventLog(group)
    try:
        row = kill_once(group, events, f"drill{int(time.time())}")
    finally:
        events.stop()
    print_timeline(row)
    if row["lost"]:
        sys.exit(f"{row['lost']} acknowledged writes lost")


def _answers(group: Group, name: str):
    """Probe: the node's INFO replication once it answers again (it may still be loading), else a string."""
    try:
        info = group.node(name, timeout=0.3).info("replication")
    except redis.RedisError as exc:
        return f"{name}: {exc!r}"
    return info or f"{name}: no answer"


def _outage(writer, start: float, end: float | None = None) -> float:
    """Longest gap between two acknowledged writes that ends after `start` and begins before `end`."""
    times = writer.ack_times
    gaps = [b - a for a, b in zip(times, times[1:]) if b > start and (end is None or a < end)]
    return round(max(gaps, default=0.0), 3)


def heal_once(group: Group, tag: str) -> dict:
    """Three kills of the master under one writer.

    1. kill A: the heal = from A's first answer after its restart (systemd's
       RestartSec) until it replicates the new master B with its link up;
    2. as soon as the group reports healthy (Group.wait_settled), kill B;
    3. as soon as B answers after its restart (inside its heal window), kill
       the master of that moment.
    Outages are the longest gap between acknowledged writes after each kill."""
    a = group.wait_settled(timeout=120)
    writer = TimedWriter(group, tag)
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        kill1 = time.monotonic()
        group.kill_data_node(a)
        b = group.wait_new_master(a, 60)
        came_back = wait_for(f"{a} answers after its restart", lambda: _answers(group, a), 60, 0.02)
        restarted = time.monotonic()
        group.wait_rejoined(a, b, 120)
        rejoined = time.monotonic()
        group.wait_settled(timeout=120)
        healthy = time.monotonic()
        kill2 = time.monotonic()
        group.kill_data_node(b)
        c = group.wait_new_master(b, 60)
        back = wait_for(f"{b} answers after its restart", lambda: _answers(group, b), 60, 0.02)
        kill3 = time.monotonic()
        group.kill_data_node(c)
        d = group.wait_new_master(c, 60)
        writer.wait_acks(200, timeout=60)
        final = group.wait_settled(timeout=180)
        writer.wait_acks(100, timeout=60)
    finally:
        writer.stop()
    lost = group.missing(final, writer.acked)
    return {"first": a, "heal": round(rejoined - restarted, 3), "rejoined_after_kill": round(rejoined - kill1, 3),
            "healthy_after_kill": round(healthy - kill1, 3), "role_at_restart": came_back.get("role"),
            "outage1": _outage(writer, kill1, kill2), "outage_after_healthy": _outage(writer, kill2, kill3),
            "second_kill_role_at_restart": back.get("role"), "outage_in_heal_window": _outage(writer, kill3),
            "masters": [b, c, d], "acked": len(writer.acked), "lost": len(lost), "errors": writer.errors}


START_CHECK = "/etc/systemd/system/redis-hardened@main.service.d/20-start-check.conf"


def set_start_check(group: Group, on: bool):
    """Before/after on the same lab: the start check's drop-in moved away (or back), and
    repl-diskless-sync-delay 5 (Redis's default, what the role set before) or 0, live."""
    for n in group.names:
        src, dst = (START_CHECK + ".off", START_CHECK) if on else (START_CHECK, START_CHECK + ".off")
        group.docker(n, "sh", "-c", f"[ ! -e {src} ] || mv {src} {dst}; systemctl daemon-reload")
        group.node(n).config_set("repl-diskless-sync-delay", 0 if on else 5)


def heal(args):
    names, _ = use_lab(os.environ.get("LAB_NAME", "hredis-lab"))
    group = Group(names)
    if args.without_start_check:
        set_start_check(group, False)
    try:
        _heal(args, group, names)
    finally:
        if args.without_start_check:
            set_start_check(group, True)


def drop_keys(group: Group, pattern: str):
    """UNLINK the benchmark's own keys on the master (a full resync then copies only the rest)."""
    client = group.node(group.wait_settled(timeout=120), timeout=10)
    batch = []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def _heal(args, group, names):
    record = group.master_record(names[0])
    restart_sec = group.docker(names[0], "systemctl", "show", "-p", "RestartUSec", "--value",
                               "redis-hardened@main.service").strip()
    delay = group.node(names[0]).config_get("repl-diskless-sync*")
    rows = []
    drop_keys(group, "heal*")
    for i in range(args.runs):
        row = heal_once(group, f"heal{int(time.time())}-{i}")
        # Each run starts from the same (small) dataset: its keys go once checked.
        drop_keys(group, "heal*")
        rows.append(row)
        print(f"[heal] run {i + 1}/{args.runs}: {json.dumps(row)}", flush=True)
    lines = [f"`bench/failover.py heal --runs {args.runs}{' --without-start-check' if args.without_start_check else ''}` on the three-host lab (Redis and Sentinel on each host,"
             f" down-after-milliseconds {record['down-after-milliseconds']}, RestartSec {restart_sec},"
             f" {', '.join(f'{k} {v}' for k, v in sorted(delay.items()))}); writer as above. {machine()}.", "",
             "| seconds | p50 | max |", "|---|---|---|"]
    for label, key in (("heal: old master's first answer after its restart -> replica of the new master, link up", "heal"),
                       ("the same, counted from the kill", "rejoined_after_kill"),
                       ("group healthy (Group.wait_settled), counted from the kill", "healthy_after_kill"),
                       ("write outage of the first kill", "outage1"),
                       ("write outage of a kill right after the group reports healthy", "outage_after_healthy"),
                       ("write outage of a kill as soon as the previous master answers again (heal window)",
                        "outage_in_heal_window")):
        vals = [r[key] for r in rows]
        lines.append(f"| {label} | {fmt(pct(vals, 50))} | {fmt(max(vals))} |")
    roles = sorted({r["role_at_restart"] for r in rows} | {r["second_kill_role_at_restart"] for r in rows})
    lines += ["", f"Role of a killed master at its first answer after the restart: {', '.join(roles)}."
              f" Acknowledged writes lost: {sum(r['lost'] for r in rows)} of {sum(r['acked'] for r in rows)}."]
    print("\n".join(lines))
    if args.write_docs:
        replace_section("Heal and second kill" + (", before the start check" if args.without_start_check else ""),
                        "\n".join(lines))
    if any(r["lost"] for r in rows):
        sys.exit("acknowledged writes lost")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("drill", help="one kill in the running lab, with its timeline")
    h = sub.add_parser("heal", help="heal time and a second kill inside the heal window, in the running lab")
    h.add_argument("--runs", type=int, default=5)
    h.add_argument("--write-docs", action="store_true", help="write the section of docs/benchmarks.md")
    h.add_argument("--without-start-check", action="store_true",
                   help="measure the lab as it was before the start check (drop-in moved away, diskless delay 5)")
    b = sub.add_parser("bench", help="kills and switchovers per profile on a lab of its own")
    b.add_argument("--kills", type=int, default=20)
    b.add_argument("--switchovers", type=int, default=5)
    b.add_argument("--profiles", nargs="+", default=["fast", "default"], choices=["fast", "default"])
    b.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md and docs/failover-latency.png")
    b.add_argument("--keep", action="store_true", help="leave the lab running")
    b.add_argument("--json", default="/tmp/hardened-redis-failover-bench.json")
    args = parser.parse_args()
    {"drill": drill, "bench": bench, "heal": heal}[args.cmd](args)


if __name__ == "__main__":
    main()
