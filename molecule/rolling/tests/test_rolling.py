"""Day-2 playbooks on three containers (Redis + Sentinel each), deployed by hardened.redis.site.

Order is pinned (pytest runs a file's tests in order; each needs the previous):
  1. status: exit 0 on the healthy group, valid JSON, master = the bootstrap master;
  2. status with a forced CRIT (status_mem_crit=0): non-zero exit, CRIT in the JSON;
  3. an unhealthy group (one replica stopped) is refused by switchover and by
     rolling_restart, and nothing is touched;
  4. rolling_restart under a WAIT-acknowledged redis-py Sentinel writer: every
     data node and Sentinel restarted (PID changed), exactly one switchover,
     master moved off the original master, 0 acknowledged writes lost, and no
     write failed outside the switchover window the playbook reports;
  5. converge again: 0 changed, the master kept;
  6. switchover -e target=<replica> moves the master there; a second run has
     nothing to do (0 changed).
Times are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from rolling_lab import TimedWriter, main_pids
from sentinel_lab import UNIT, Group, read_json, recap, run_playbook

NODES = ["rolling-node1", "rolling-node2", "rolling-node3"]
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
STATUS = "hardened.redis.status"
ROLLING = "hardened.redis.rolling_restart"
SWITCHOVER = "hardened.redis.switchover"
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


def test_01_status_healthy(group):
    group.wait_settled(timeout=60)
    path = os.path.join(EPHEMERAL, "status.json")
    if os.path.exists(path):
        os.unlink(path)
    proc = run_playbook(STATUS, "-e", f"status_json={path}")
    print(proc.stdout[proc.stdout.find("group main"):][:3000])
    assert proc.returncode == 0, proc.stdout[-4000:]
    _no_secret(proc.stdout + proc.stderr)
    report = read_json(path)
    assert report["worst"] in ("OK", "WARN"), report["checks"]
    assert report["gate_ok"] is True, report["checks"]
    assert report["master_host"] == "rolling-node1"
    assert report["master"] == f"{group.ip['rolling-node1']}:6379"
    nodes = {n["host"]: n for n in report["nodes"]}
    assert set(nodes) == set(NODES)
    for n in NODES:
        assert nodes[n]["up"] is True
        assert isinstance(nodes[n]["memory_pct"], float) and nodes[n]["used_memory"] > 0
        assert nodes[n]["rdb_last_bgsave_status"] in ("ok", "")
    for n in ("rolling-node2", "rolling-node3"):
        assert nodes[n]["role"] == "slave" and nodes[n]["link"] == "up", nodes[n]
        assert nodes[n]["address"] == f"{group.ip[n]}:6379"
    assert nodes["rolling-node1"]["connected_replicas"] == 2
    assert len(report["sentinels"]) == 3
    for s in report["sentinels"]:
        assert s["ckquorum_ok"] is True and s["master"] == report["master"], s
        assert s["num_other_sentinels"] == 2 and s["num_replicas"] == 2 and s["failover_in_progress"] is False, s


def test_02_status_forced_crit(group):
    path = os.path.join(EPHEMERAL, "status-crit.json")
    proc = run_playbook(STATUS, "-e", "status_mem_crit=0", "-e", f"status_json={path}")
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "CRIT" in proc.stdout + proc.stderr
    report = read_json(path)
    assert report["worst"] == "CRIT"
    crit = [c for c in report["checks"] if c["level"] == "CRIT"]
    assert {c["host"] for c in crit} == set(NODES), crit
    assert all(c["what"].startswith("memory") and c["gate"] is False for c in crit), crit


def test_03_unhealthy_group_refused(group):
    master = group.wait_settled(timeout=60)
    replica = sorted(n for n in NODES if n != master)[-1]
    before = main_pids(group)
    group.docker(replica, "systemctl", "stop", UNIT)
    try:
        proc = run_playbook(SWITCHOVER, "-e", f"avoid={master}")
        assert proc.returncode != 0, proc.stdout[-3000:]
        out = proc.stdout + proc.stderr  # a failed task's message goes to stderr
        assert "The group is not healthy, no switchover" in out and replica in out, out[-3000:]
        proc = run_playbook(ROLLING)
        assert proc.returncode != 0, proc.stdout[-3000:]
        out = proc.stdout + proc.stderr
        assert "The group is not healthy, nothing restarted" in out and replica in out, out[-3000:]
        assert group.agreed_master() == master
        after = main_pids(group)
        assert {k: v for k, v in after.items() if not k.startswith(replica + "/" + UNIT)} == \
               {k: v for k, v in before.items() if not k.startswith(replica + "/" + UNIT)}
    finally:
        group.docker(replica, "systemctl", "start", UNIT)
    assert group.wait_settled(timeout=90) == master


def test_04_rolling_restart_under_writes(group):
    original = group.wait_settled(timeout=60)
    assert original == "rolling-node1"
    before = main_pids(group)
    path = os.path.join(EPHEMERAL, "rolling.json")
    writer = TimedWriter(group, "rolling", socket_timeout=SOCKET_TIMEOUT)
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        started = time.monotonic()
        proc = run_playbook(ROLLING, "-e", f"rolling_report_json={path}")
        took = time.monotonic() - started
        writer.wait_acks(300, timeout=60)
    finally:
        writer.stop()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    _no_secret(proc.stdout + proc.stderr)
    report = read_json(path)
    after = main_pids(group)
    new = group.wait_settled(timeout=60)
    lost = group.missing(new, writer.acked)
    switches = [r["switchover"] for r in report["nodes"] if r.get("switchover")]
    assert len(switches) == 1, report
    sw = switches[0]
    # A write sent inside the window may fail up to one socket timeout later.
    window = (sw["started_at"], sw["ended_at"] + SOCKET_TIMEOUT)
    outside = writer.failed_outside(*window)
    failed = sum(writer.errors.values())
    print(f"\n[rolling] {took:.1f}s; order {[r['node'] + '/' + r['kind'] for r in report['nodes']]};"
          f" switchover {sw['old_master']} -> {sw['new_master']} write_pause {sw['write_pause']}s elapsed {sw['elapsed']}s;"
          f" writer: acknowledged {len(writer.acked)}, attempts {writer.i}, failed {failed} {dict(writer.errors)}"
          f" (outside the switchover window: {len(outside)}), longest gap {writer.longest_gap():.2f}s, lost {len(lost)}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {new}: {lost[:10]}"
    assert not outside, f"writes failed outside the switchover window {window}: {outside[:10]}"
    # Every node restarted: PIDs changed, as systemd and the report say.
    assert all(after[k] != before[k] and after[k] > 0 for k in before), (before, after)
    kinds = sorted(r["kind"] for r in report["nodes"])
    assert kinds == ["data (replica)", "data (replica)", "data (was master)", "sentinel", "sentinel", "sentinel"], kinds
    assert all(r["pid_before"] != r["pid_after"] for r in report["nodes"]), report
    # Replicas first, the old master last among the data nodes.
    assert [r["kind"] for r in report["nodes"]][:3] == ["data (replica)", "data (replica)", "data (was master)"]
    assert new != original and report["master"] == f"{group.ip[new]}:6379"
    assert sw["old_master"] == f"{group.ip[original]}:6379"
    STATE["after_rolling"] = new


def test_05_converge_again_changes_nothing(group):
    master = group.wait_settled(timeout=60)
    assert master == STATE.get("after_rolling")
    proc = run_playbook(CONVERGE)
    assert proc.returncode == 0, proc.stdout[-4000:]
    counts = recap(proc.stdout)
    assert set(counts) == set(NODES), counts
    changed = {h: c["changed"] for h, c in counts.items() if c.get("changed") or c.get("failed")}
    assert not changed, f"changed after the rolling restart: {changed}\n{proc.stdout[-4000:]}"
    assert group.wait_settled(timeout=30) == master


def test_06_switchover_to_target_then_nothing_to_do(group):
    master = group.wait_settled(timeout=60)
    target = sorted(n for n in NODES if n != master)[0]
    path = os.path.join(EPHEMERAL, "switchover.json")
    proc = run_playbook(SWITCHOVER, "-e", f"target={target}", "-e", f"switchover_json={path}")
    assert proc.returncode == 0, proc.stdout[-4000:]
    _no_secret(proc.stdout + proc.stderr)
    result = read_json(path)
    print(f"\n[switchover] {master} -> {target}: {json.dumps(result)}")
    assert result["changed"] is True and result["new_master"] == f"{group.ip[target]}:6379", result
    assert "Switched over:" in proc.stdout and "writes paused" in proc.stdout
    assert group.wait_settled(timeout=60) == target
    os.unlink(path)
    proc = run_playbook(SWITCHOVER, "-e", f"target={target}", "-e", f"switchover_json={path}")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Nothing to do" in proc.stdout, proc.stdout[-3000:]
    assert not os.path.exists(path), "the second run ran a switchover"
    counts = recap(proc.stdout)
    assert all(c.get("changed", 0) == 0 for c in counts.values()), counts
    assert group.agreed_master() == target
