"""Remove a host, then replace it: the last tests of the rolling scenario (they change the group's shape).

Order is pinned (each needs the previous; test_rolling.py runs before):
  7. remove_node refuses, before touching anything, a removal that would
     leave fewer Sentinels than the quorum (quorum raised to 3 live) or
     fewer replicas than the master's min-replicas-to-write (raised to 2
     live): no unit stopped, no Sentinel reset, no failover.
  8. hardened.redis.remove_node -e node=<the master's host> under a
     WAIT-acknowledged writer: the master is switched off it first, its data
     node and Sentinel are stopped and disabled, and the two other Sentinels
     forget it one at a time. Counted: acknowledged writes lost (0),
     failovers (exactly one: the switchover; the config epoch moves by 1),
     what each remaining Sentinel knows (exactly the other replica and the
     other Sentinel), the removed host's addresses known anywhere (0). A
     rerun changes nothing (0 changed) and resets no Sentinel.
  9. The replace flow: the same container comes back as a new host would
     (its config and data wiped), hardened.redis.site on the inventory joins
     it: it is a replica of the master with its link up, and every Sentinel
     knows 2 replicas and 2 other Sentinels again; 0 acknowledged writes lost.
Times are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from rolling_lab import SENTINEL_UNIT, TimedWriter
from sentinel_lab import MASTER_NAME, UNIT, Group, pairs, read_json, recap, run_playbook, wait_for

NODES = ["rolling-node1", "rolling-node2", "rolling-node3"]
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
REMOVE = "hardened.redis.remove_node"
CONVERGE = os.path.join(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__))),
                        "converge.yml")
SOCKET_TIMEOUT = 1.0
STATE: dict = {}


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES)


def _no_secret(text: str):
    from sentinel_lab import secret  # pylint: disable=import-outside-toplevel
    for name in ("admin", "sentinel-admin", "app", "replication", "sentinel"):
        assert secret(name) not in text, f"the {name} password appears in the output"


def _knows(group: Group, sentinel: str) -> tuple[list[str], list[str]]:
    """(replica addresses, Sentinel addresses) one Sentinel knows."""
    c = group.sentinel(sentinel)
    reps = sorted(f"{r['ip']}:{r['port']}" for r in map(pairs, c.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)))
    sents = sorted(f"{s['ip']}:{s['port']}" for s in map(pairs, c.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)))
    return reps, sents


def _epoch(group: Group, sentinel: str) -> int:
    return int(group.master_record(sentinel)["config-epoch"])


def _lost(group: Group, master: str, writer) -> list[str]:
    return group.missing(master, writer.acked)


def _active(group: Group) -> dict[str, str]:
    return {f"{n}/{u}": group.docker(n, "systemctl", "is-active", u, check=False).strip()
            for n in NODES for u in (UNIT, SENTINEL_UNIT)}


def test_07_unsafe_removals_are_refused(group):
    master = group.wait_settled(timeout=60)
    replica = sorted(n for n in NODES if n != master)[0]
    epoch = _epoch(group, master)
    refused = []
    try:
        for n in NODES:
            group.sentinel(n).execute_command("SENTINEL", "SET", MASTER_NAME, "quorum", 3)
        proc = run_playbook(REMOVE, "-e", f"node={replica}")
        refused.append(("quorum", proc))
    finally:
        for n in NODES:
            group.sentinel(n).execute_command("SENTINEL", "SET", MASTER_NAME, "quorum", 2)
    try:
        group.node(master).config_set("min-replicas-to-write", 2)
        proc = run_playbook(REMOVE, "-e", f"node={replica}")
        refused.append(("min-replicas-to-write", proc))
    finally:
        group.node(master).config_set("min-replicas-to-write", 1)
    (dummy, by_quorum), (dummy, by_replicas) = refused
    out = by_quorum.stdout + by_quorum.stderr
    assert by_quorum.returncode != 0, out[-3000:]
    assert f"Nothing was changed: Removing the Sentinel on {replica} leaves 2 Sentinel(s), fewer than the quorum 3" in out, out[-3000:]
    out = by_replicas.stdout + by_replicas.stderr
    assert by_replicas.returncode != 0, out[-3000:]
    assert (f"Nothing was changed: Removing the data node on {replica} leaves 1 replica(s), fewer than the master's "
            "min-replicas-to-write 2") in out, out[-3000:]
    for dummy, proc in refused:
        assert all(c.get("changed", 0) == 0 for c in recap(proc.stdout).values()), recap(proc.stdout)
    assert set(_active(group).values()) == {"active"}
    assert {_epoch(group, n) for n in NODES} == {epoch}
    assert group.wait_settled(timeout=60) == master
    for n in NODES:  # nothing forgotten
        reps, sents = _knows(group, n)
        assert (len(reps), len(sents)) == (2, 2), (n, reps, sents)


def test_08_remove_the_masters_host_under_writes(group):
    removed = group.wait_settled(timeout=60)
    rest = [n for n in NODES if n != removed]
    epoch = _epoch(group, rest[0])
    path = os.path.join(EPHEMERAL, "remove.json")
    writer = TimedWriter(group, "remove", socket_timeout=SOCKET_TIMEOUT)
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        started = time.monotonic()
        proc = run_playbook(REMOVE, "-e", f"node={removed}", "-e", f"remove_json={path}")
        took = time.monotonic() - started
        writer.wait_acks(300, timeout=60)
    finally:
        writer.stop()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    _no_secret(out)
    report = read_json(path)
    master = group.name_of[report["master"].rsplit(":", 1)[0]]
    lost = _lost(group, master, writer)
    failed = sum(writer.errors.values())
    print(f"\n[remove_node] {removed} in {took:.1f}s; switchover {json.dumps(report['switchover'])};"
          f" reset {[(r['sentinel'], r['polls']) for r in report['reset']]};"
          f" writer: acknowledged {len(writer.acked)}, failed {failed} {dict(writer.errors)},"
          f" longest gap {writer.longest_gap():.2f}s, lost {len(lost)}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {master}: {lost[:10]}"
    # the master moved off the host by the planned switchover, and nothing else failed over
    sw = report["switchover"]
    assert sw["changed"] is True and sw["old_master"] == f"{group.ip[removed]}:6379", sw
    assert master in rest and sw["new_master"] == f"{group.ip[master]}:6379"
    assert {_epoch(group, s) for s in rest} == {epoch + 1}, "a failover other than the switchover happened"
    assert {group.sentinel_master(s) for s in rest} == {master}
    # both remaining Sentinels reset, one at a time (the module waits for each), and they know exactly what stays
    assert len(report["reset"]) == 2, report["reset"]
    for r in report["reset"]:
        assert r["forgot"] == [f"replica {group.ip[removed]}:6379", f"sentinel {group.ip[removed]}:26379"], r
    other = [n for n in rest if n != master][0]
    for s in rest:
        reps, sents = _knows(group, s)
        assert reps == [f"{group.ip[other]}:6379"], (s, reps)
        assert sents == [f"{group.ip[n]}:26379" for n in rest if n != s], (s, sents)
        assert str(group.sentinel(s).execute_command("SENTINEL", "CKQUORUM", MASTER_NAME)).startswith("OK")
    assert group.ip[removed] not in json.dumps(report["sentinels"])
    assert group.replication(other)["master_link_status"] == "up"
    # stopped and disabled; the files stay
    for unit in (UNIT, SENTINEL_UNIT):
        assert group.docker(removed, "systemctl", "is-active", unit, check=False).strip() == "inactive"
        assert group.docker(removed, "systemctl", "is-enabled", unit, check=False).strip() == "disabled"
    group.docker(removed, "test", "-f", "/etc/redis/main/redis.conf")  # raises when it is gone
    group.docker(removed, "test", "-d", "/var/lib/redis/main")
    assert "Now remove" in proc.stdout and "from the inventory" in proc.stdout
    # a rerun has nothing left to do
    again = run_playbook(REMOVE, "-e", f"node={removed}")
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    counts = recap(again.stdout)
    assert all(c.get("changed", 0) == 0 for c in counts.values()), counts
    assert _epoch(group, rest[0]) == epoch + 1
    STATE.update(removed=removed, master=master)


def test_09_replace_it_with_a_new_host_through_site(group):
    removed, master = STATE["removed"], STATE["master"]
    # the same container, as a new host: no config, no data, nothing enabled
    group.docker(removed, "rm", "-rf", "/etc/redis/main", "/etc/redis/sentinel-main", "/var/lib/redis/main",
                 "/var/lib/redis/sentinel-main")
    writer = TimedWriter(group, "replace", socket_timeout=SOCKET_TIMEOUT)
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        started = time.monotonic()
        proc = run_playbook(CONVERGE)
        took = time.monotonic() - started
        settled = None
        if proc.returncode == 0:
            settled = group.wait_settled(timeout=90)
        writer.wait_acks(300, timeout=60)
    finally:
        writer.stop()
    with open(os.path.join(EPHEMERAL, "replace-site.log"), "w", encoding="utf-8") as f:
        f.write(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-5000:]
    _no_secret(proc.stdout + proc.stderr)
    counts = recap(proc.stdout)
    lost = _lost(group, master, writer)
    gaps = [(b - a, a - started) for a, b in zip(writer.ack_times, writer.ack_times[1:])]
    gap, at = max(gaps)
    unacked = writer.i - len(writer.acked) - sum(writer.errors.values())
    print(f"\n[replace] site.yml {took:.1f}s, changed {dict((h, c.get('changed')) for h, c in counts.items())};"
          f" writer: acknowledged {len(writer.acked)}, not acknowledged {unacked}, failed {sum(writer.errors.values())}"
          f" {dict(writer.errors)}, longest gap {gap:.2f}s ({at:.1f}s after site.yml started), lost {len(lost)}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {master}: {lost[:10]}"
    # joined as a replica of the master; the others untouched; every Sentinel knows the whole group again
    assert settled == master
    group.wait_rejoined(removed, master, timeout=30)
    assert counts[removed]["changed"] > 0
    assert all(counts[n]["changed"] == 0 for n in NODES if n != removed), counts
    for s in NODES:
        reps, sents = _knows(group, s)
        assert reps == sorted(f"{group.ip[n]}:6379" for n in NODES if n != master), (s, reps)
        assert sents == sorted(f"{group.ip[n]}:26379" for n in NODES if n != s), (s, sents)
    wait_for("writes replicated to the new replica", lambda: group.node(removed).exists(writer.acked[-1]) == 1, 30)
