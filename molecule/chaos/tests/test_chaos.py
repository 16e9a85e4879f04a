"""Chaos suite (issue #6 section 1) on three containers (Redis + Sentinel each), deployed by hardened.redis.site.

Order is pinned (pytest runs a file's tests in order); each fault runs under a
WAIT-acknowledged writer (sentinel_lab.Writer) and leaves the group settled
for the next one:
  0. the group is settled, min-replicas-to-write and AOF are on;
  1. kill -9 of the master's redis-server with systemd restarting it at once
     (RestartSec=0 by a runtime drop-in): it comes back with its data or not
     as a master; no node's key count ever drops below its count before;
  2. docker kill of the master's container, failover, docker start: it
     rejoins as a replica;
  3. SIGSTOP of the master's redis-server beyond down-after-milliseconds,
     failover, SIGCONT: clients that connect after it resumes get NOREPLICAS
     (min-replicas-to-write), then READONLY once Sentinel converted it; a
     write already waiting in an open connection may still run (Redis
     refreshes its count of good replicas once a second) but WAIT never
     acknowledges it and it is gone after the resync;
  4. the master cut off from the other nodes by iptables (the controller
     still reaches it): it refuses writes (NOREPLICAS) by itself, the
     majority fails over; after healing, one master;
  5. one Sentinel down: a master kill still fails over; two Sentinels down:
     no failover, the master keeps acknowledging writes for > 3 x down-after;
  6. every node restarted at once (docker restart of the three containers in
     parallel): one master, nothing lost (AOF).
Every acknowledged key of every test so far is checked on the current master
after each fault. Each test prints one line of facts and adds a row to
<ephemeral>/chaos-results.json. Times are printed, never asserted.
"""

from __future__ import annotations

import time

import pytest
import redis

from chaos_lab import (ChaosWriter, DbsizeSampler, DirectWriter, QueuedWrite, add_result, agreed_master, dbsizes, docker_parallel,
                       main_pid, masters, partition, refusal, reset_results, restart_usec, restarts, settle_watching)
from rolling_lab import SENTINEL_UNIT
from sentinel_lab import UNIT, Group, container_ip, wait_for

NODES = ["chaos-node1", "chaos-node2", "chaos-node3"]
MAX_LAG = 3  # redis_min_replicas_max_lag in molecule.yml
DROPIN_DIR = f"/run/systemd/system/{UNIT}.d"
DROPIN = f"{DROPIN_DIR}/zz-chaos-restart-now.conf"
ALL_ACKED: list[str] = []
# Filled by test_00 from the running group: the fast profile's down-after,
# the settings every row reports.
STATE: dict = {"down_after_s": 1.0, "setup": {}}


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES)


def _others(master: str) -> list[str]:
    return [n for n in NODES if n != master]


def _new_master(group: Group, old: str, among: list[str] | None = None, timeout: float = 30) -> str:
    """Wait until the Sentinels of `among` (default: all) agree on a master other than `old`."""
    among = among or NODES

    def probe():
        m = agreed_master(group, among)
        return [m] if m not in (None, old) else f"Sentinels {among} name {m}"
    return wait_for(f"Sentinels agree on a master other than {old}", probe, timeout)[0]


def _finish(group: Group, fault: str, writer: ChaosWriter, final: str, healthy_s: float, healthy_from: str,
            failover_s: float | None, facts: str, **extra) -> dict:
    """Check every acknowledged key (this test's and all earlier ones) on the
    final master and that it is the only master; print and record the row."""
    lost = group.missing(final, writer.acked)
    ALL_ACKED.extend(writer.acked)
    lost_all = group.missing(final, ALL_ACKED)
    found = masters(group)
    row = {
        "fault": fault,
        "acknowledged": len(writer.acked),
        "lost": len(lost),
        "lost_all_tests": len(lost_all),
        "checked_all_tests": len(ALL_ACKED),
        "write_outage_s": round(writer.longest_gap(), 2),
        "failover_s": None if failover_s is None else round(failover_s, 2),
        "healthy_s": round(healthy_s, 2),
        "healthy_from": healthy_from,
        "final_master": final,
        "masters": found,
        "client_errors": dict(writer.errors),
        "facts": facts,
        "redis_version": group.node(final).info("server").get("redis_version"),
        "setup": STATE["setup"],
        **extra,
    }
    add_result(row)
    failover = "no failover" if failover_s is None else f"Sentinels agreed on a new master {failover_s:.2f}s after the fault"
    print(f"\n[chaos] {fault}: lost {len(lost)} of {len(writer.acked)} acknowledged writes"
          f" ({len(lost_all)} of {len(ALL_ACKED)} over all tests so far); write outage {writer.longest_gap():.2f}s;"
          f" {failover}; healthy group {healthy_s:.2f}s after {healthy_from}; final master {final}; masters {found};"
          f" client errors {dict(writer.errors)}; {facts}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {final}: {lost[:10]}"
    assert not lost_all, f"{len(lost_all)} acknowledged writes of earlier tests missing on {final}: {lost_all[:10]}"
    assert found == [final], f"masters after {fault}: {found} (expected only {final})"
    return row


def test_00_settled(group):
    reset_results()
    master = group.wait_settled(timeout=60)
    assert master == "chaos-node1", f"bootstrap master should be chaos-node1 (redis_role=master), is {master}"
    for n in NODES:
        cfg = group.node(n).config_get("appendonly") | group.node(n).config_get("appendfsync") \
            | group.node(n).config_get("min-replicas-*") | group.node(n).config_get("repl-diskless-sync*")
        assert cfg["appendonly"] == "yes", f"{n}: AOF off ({cfg})"
        # Three data nodes: site.yml's default asks for one replica's
        # acknowledgement (a master cut off from both stops taking writes).
        assert int(cfg["min-replicas-to-write"]) >= 1, f"{n}: {cfg}"
        assert int(cfg["min-replicas-max-lag"]) == MAX_LAG, f"{n}: {cfg}"
        record = group.master_record(n)
        restart_sec = restart_usec(group, n)
        STATE["setup"] = {"down_after_ms": int(record["down-after-milliseconds"]),
                          "failover_timeout_ms": int(record["failover-timeout"]), "quorum": int(record["quorum"]),
                          "restart_sec": restart_sec, **{k: cfg[k] for k in sorted(cfg)}}
    STATE["down_after_s"] = STATE["setup"]["down_after_ms"] / 1000.0
    print(f"\n[chaos] setup: {STATE['setup']}")


def test_01_kill9_with_immediate_restart(group):
    old = group.wait_settled(timeout=60)
    group.docker(old, "sh", "-c", f"mkdir -p {DROPIN_DIR} && printf '[Service]\\nRestartSec=0\\n' > {DROPIN}"
                 " && systemctl daemon-reload")
    sampler = DbsizeSampler(group)
    writer = ChaosWriter(group, "kill9")
    try:
        assert restart_usec(group, old) == "0", "the runtime drop-in did not set RestartSec=0"
        before_restarts = restarts(group, old)
        writer.start()
        writer.wait_acks(300, timeout=30)
        before = dbsizes(group)
        assert None not in before.values(), before
        sampler.start()
        killed_at = time.monotonic()
        group.kill_data_node(old)
        wait_for(f"systemd restarts {old}'s redis-server", lambda: restarts(group, old) == before_restarts + 1 or "not yet", 30)
        # Redis answers (the AOF is loaded) or Sentinel moved the master.
        final, moved_at = settle_watching(group, old, timeout=90)
        healthy_at = time.monotonic()
        writer.wait_acks(300, timeout=60)
        smallest = sampler.stop()
        after = dbsizes(group)
    finally:
        writer.stop()
        sampler.stop()
        group.docker(old, "sh", "-c", f"rm -f {DROPIN} && systemctl daemon-reload")
    assert restart_usec(group, old) != "0", "the drop-in was not removed"
    failed_over = moved_at is not None
    facts = (f"restarted by systemd at once ({'Sentinel failed over' if failed_over else 'still master, no failover'});"
             f" keys before {before}, smallest seen during the event {smallest} ({sampler.samples} samples), after {after}")
    _finish(group, "kill -9 master, RestartSec=0", writer, final, healthy_at - killed_at, "the kill",
            (moved_at - killed_at) if failed_over else None, facts, keys_before=before, keys_smallest=smallest)
    for n in NODES:
        # Never an empty (or older) dataset copied: no node's count ever went below its count before.
        assert smallest.get(n, 0) >= before[n], f"{n}: {smallest.get(n)} keys during the event, {before[n]} before"
        assert after[n] is not None and after[n] >= before[n], f"{n}: {after[n]} keys after, {before[n]} before"


def test_02_container_kill(group):
    old = group.wait_settled(timeout=60)
    old_ip = group.ip[old]
    writer = ChaosWriter(group, "dockerkill")
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        killed_at = time.monotonic()
        killed = docker_parallel(["kill", old])[0]
        assert killed.returncode == 0, killed.stderr
        new = _new_master(group, old, among=_others(old))
        failover_s = time.monotonic() - killed_at
        writer.wait_acks(300, timeout=60)
        started = docker_parallel(["start", old])[0]
        assert started.returncode == 0, started.stderr
        started_at = time.monotonic()
        # Sentinel and redis.conf know the node by its address: it must keep it.
        assert container_ip(old) == old_ip, f"{old} came back with another address"
        group.wait_rejoined(old, new, 90)
        final = group.wait_settled(timeout=60)
        healthy_at = time.monotonic()
        writer.wait_acks(100, timeout=30)
    finally:
        writer.stop()
    assert final == new
    _finish(group, "docker kill of the master's container, docker start", writer, final, healthy_at - started_at,
            "docker start", failover_s, f"{old} back as a replica of {new} {healthy_at - started_at:.1f}s after its start")


def test_03_sigstop_sigcont(group):
    old = group.wait_settled(timeout=60)
    pid = main_pid(group, old)
    writer = ChaosWriter(group, "sigstop")
    writer.start()
    # Clients that write to the frozen node, their bytes waiting in the
    # kernel: one with a connection opened before the freeze that writes at
    # once (the replicas are still attached), one that connects and writes
    # after the failover (the replicas have left).
    queued = {"pooled": QueuedWrite(group.ip[old], "chaos:queued-pooled").connect(wait_auth=True)}
    try:
        writer.wait_acks(300, timeout=30)
        stopped_at = time.monotonic()
        group.docker(old, "kill", "-STOP", str(pid))
        try:
            queued["pooled"].send()
            new = _new_master(group, old)
            failover_s = time.monotonic() - stopped_at
            other = [n for n in NODES if n not in (old, new)][0]
            group.wait_rejoined(other, new, 60)
            writer.wait_acks(100, timeout=60)
            queued["new"] = QueuedWrite(group.ip[old], "chaos:queued-new").connect(wait_auth=False).send()
        finally:
            group.docker(old, "kill", "-CONT", str(pid))
        resumed_at = time.monotonic()
        answers = {when: q.answer() for when, q in queued.items()}
        # Write to it directly until it says READONLY; every answer before must be a refusal.
        admin = group.node(old)
        accepted: list[str] = []
        refusals: dict[str, int] = {}

        def probe():
            try:
                admin.set("chaos:after-resume", "x")
                accepted.append(str(group.replication(old).get("role")))
                return "accepted"
            except redis.RedisError as exc:
                kind = refusal(exc)
                refusals[kind] = refusals.get(kind, 0) + 1
                return True if kind == "READONLY" else kind
        wait_for(f"{old} refuses writes with READONLY (converted to a replica)", probe, 60, 0.05)
        converted_at = time.monotonic()
        group.wait_rejoined(old, new, 60)
        final = group.wait_settled(timeout=60)
        healthy_at = time.monotonic()
        writer.wait_acks(100, timeout=30)
    finally:
        writer.stop()
    assert final == new
    executed = [when for when, (answer, _waited) in answers.items() if answer == "+OK"]
    kept = {n: group.node(n).exists(*(queued[w].key for w in executed)) for n in NODES} if executed else {}
    set_answers = {when: answer if waited is None else f"{answer}, then WAIT 1 -> {waited}" for when, (answer, waited) in answers.items()}
    facts = (f"stopped {resumed_at - stopped_at:.1f}s; writes queued while stopped answered after SIGCONT: {set_answers};"
             f" executed ones present afterwards on {kept or 'no node'};"
             f" direct writes after SIGCONT: accepted {len(accepted)}, refused {refusals};"
             f" READONLY {converted_at - resumed_at:.1f}s after SIGCONT")
    _finish(group, "SIGSTOP of the master beyond down-after, SIGCONT", writer, final, healthy_at - resumed_at, "SIGCONT",
            failover_s, facts, accepted_after_resume=len(accepted), refusals_after_resume=refusals,
            queued_write_answers=set_answers)
    assert not accepted, f"{old} accepted {len(accepted)} direct writes after SIGCONT (roles then: {accepted})"
    # A write already waiting in an open connection's socket when the node
    # resumes is run before Redis's once-a-second refresh of its count of
    # good replicas, so min-replicas-to-write can let it through; it must
    # never be acknowledged (WAIT 1 -> 0) and it is gone once the node resyncs.
    assert all(a.startswith("-") or (a == "+OK" and w == ":0") for a, w in answers.values()), set_answers
    assert not any(kept.values()), f"a write executed by the resumed old master survived: {kept}"
    assert answers["new"][0].startswith("-NOREPLICAS"), f"a client connecting to the resumed old master: {set_answers}"


def test_04_partition(group):
    old = group.wait_settled(timeout=60)
    majority = _others(old)
    writer = ChaosWriter(group, "partition")
    direct = DirectWriter(group, old, "chaos:direct")
    writer.start()
    direct.start()
    healed_at = None
    try:
        writer.wait_acks(300, timeout=30)
        cut_at = time.monotonic()
        partition(group, old)
        try:
            refused_at = wait_for(f"{old}, cut off, refuses writes (NOREPLICAS)",
                                  lambda: direct.first_refusal(cut_at, "NOREPLICAS") or "still accepting", 60, 0.05)
            new = _new_master(group, old, among=majority)
            failover_s = time.monotonic() - cut_at
            other = [n for n in majority if n != new][0]
            group.wait_rejoined(other, new, 60)
            # The controller still reaches the isolated node; its own Sentinel still names it.
            still_master = group.replication(old).get("role")
            own_sentinel = group.sentinel_master(old)
        finally:
            partition(group, old, heal=True)
            healed_at = time.monotonic()
        group.wait_rejoined(old, new, 90)
        final = group.wait_settled(timeout=90)
        healthy_at = time.monotonic()
        writer.wait_acks(300, timeout=60)
    finally:
        direct.stop()
        writer.stop()
    assert final == new
    accepted_before = direct.accepted_between(cut_at, refused_at)
    accepted_after = direct.accepted_between(refused_at, healed_at)
    facts = (f"isolated {old} refused writes (NOREPLICAS) {refused_at - cut_at:.2f}s after the cut"
             f" (min-replicas-max-lag {MAX_LAG}s), accepted {accepted_before} unacknowledgeable direct writes before,"
             f" {accepted_after} after; isolated {old} said role {still_master}, its own Sentinel named {own_sentinel};"
             f" partition held {healed_at - cut_at:.1f}s")
    _finish(group, "master cut off by iptables, healed", writer, final, healthy_at - healed_at, "the heal", failover_s, facts,
            isolated_refused_after_s=round(refused_at - cut_at, 2), isolated_accepted_before_refusal=accepted_before,
            isolated_accepted_after_refusal=accepted_after)
    assert still_master == "master" and own_sentinel == old, "the isolation did not isolate"
    assert accepted_after == 0, f"{old} accepted {accepted_after} writes after it had refused, while isolated"


def test_05_sentinels_down(group):
    old = group.wait_settled(timeout=60)
    first_down = _others(old)[0]
    writer = ChaosWriter(group, "sentinels")
    writer.start()
    stopped = []
    try:
        writer.wait_acks(300, timeout=30)
        group.docker(first_down, "systemctl", "stop", SENTINEL_UNIT)
        stopped.append(first_down)
        live = [n for n in NODES if n not in stopped]
        killed_at = time.monotonic()
        group.kill_data_node(old)
        new = _new_master(group, old, among=live)
        failover_s = time.monotonic() - killed_at
        writer.wait_acks(300, timeout=60)
        wait_for(f"{old} (restarted by systemd) rejoins as a replica of {new}", lambda: group.rejoined(old, new), 90)
        # Two Sentinels down: the last one alone can authorise nothing.
        second_down = live[0]
        group.docker(second_down, "systemctl", "stop", SENTINEL_UNIT)
        stopped.append(second_down)
        lone = [n for n in NODES if n not in stopped][0]
        hold_from = time.monotonic()
        wall_from = time.time()
        acks_from = len(writer.acked)
        seen = set()
        while time.monotonic() - hold_from < 3.5 * STATE["down_after_s"]:
            seen.add(group.sentinel_master(lone))
            seen.update(masters(group))
            time.sleep(0.25)
        hold_to = time.monotonic()
        acks_held = len(writer.acked) - acks_from
        # TimedWriter keeps the wall-clock time of every failed write.
        errors_held = len(writer.errors.times) - len(writer.failed_outside(wall_from, time.time()))
    finally:
        for n in stopped:
            group.docker(n, "systemctl", "start", SENTINEL_UNIT)
        restored_at = time.monotonic()
    try:
        final = group.wait_settled(timeout=60)
        healthy_at = time.monotonic()
        writer.wait_acks(100, timeout=30)
    finally:
        writer.stop()
    gap_held = writer.longest_gap(since=hold_from)
    facts = (f"one Sentinel ({first_down}) down: kill -9 of {old} failed over to {new} in {failover_s:.2f}s;"
             f" two down ({', '.join(stopped)}; {lone} alone) for {hold_to - hold_from:.1f}s:"
             f" {acks_held} writes acknowledged, {errors_held} failed, longest gap {gap_held:.2f}s, masters seen {sorted(seen)}")
    _finish(group, "Sentinels down (one: failover; two: none)", writer, final, healthy_at - restored_at,
            "the Sentinels' restart", failover_s, facts, acked_with_two_sentinels_down=acks_held,
            failed_with_two_sentinels_down=errors_held)
    assert final == new and seen == {new}, f"the master moved with two Sentinels down: {seen}"
    assert acks_held > 0 and errors_held == 0, f"{acks_held} acknowledged and {errors_held} failed writes with two Sentinels down"


def test_06_restart_every_node(group):
    master = group.wait_settled(timeout=60)
    writer = ChaosWriter(group, "restartall")
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        before = dbsizes(group)
        started = time.monotonic()
        done = docker_parallel(*[["restart", n] for n in NODES])
        assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
        restarted_at = time.monotonic()
        for n in NODES:
            assert container_ip(n) == group.ip[n], f"{n} came back with another address"
        final, moved_at = settle_watching(group, master, timeout=120)
        healthy_at = time.monotonic()
        writer.wait_acks(300, timeout=60)
        after = dbsizes(group)
    finally:
        writer.stop()
    events = {}
    if moved_at is not None:
        # Why the Sentinels moved the master: their own log since the restart.
        for n in NODES:
            events[n] = group.docker(n, "sh", "-c", "grep -hE 'Sentinel is now ready|[+-](sdown|odown|switch-master|try-failover|elected-leader)'"
                                     " /var/log/redis/sentinel-main.log | tail -n 8", check=False).splitlines()
        print(f"\n[chaos] Sentinel events around the restart: {events}")
    facts = (f"docker restart of the three containers in parallel took {restarted_at - started:.1f}s"
             f" (systemd halts each cleanly); master before {master}, after {final}"
             f"{' (the Sentinels failed over while the nodes came back)' if moved_at else ''}; keys before {before}, after {after}")
    _finish(group, "every node restarted at once", writer, final, healthy_at - started, "the restart command",
            None if moved_at is None else moved_at - started, facts, sentinel_events=events)
    for n in NODES:
        assert after[n] is not None and after[n] >= before[n], f"{n}: {after[n]} keys after, {before[n]} before"
