"""Failover proof of hardened.redis.site on three containers (Redis + Sentinel each).

Order is pinned (pytest runs a file's tests in order; each needs the previous):
  1. bad input fails before touching a host;
  2. the group is settled: node1 (redis_role=master) is master, CKQUORUM OK;
  3. kill -9 of the master's redis-server under a WAIT-acknowledged writer:
     one new master, the other replica re-pointed, CKQUORUM OK everywhere, the
     old node rejoins as a replica by itself (its unit's RestartSec is longer
     than down-after-milliseconds) and never answers as a master (its start
     check asks the Sentinels first), 0 acknowledged writes lost;
  4. planned switchover with sentinel_failover to a chosen replica under the
     writer: 0 acknowledged writes lost;
  5. converge again: 0 changed, the master kept, epochs and peers untouched;
  6. a failing sentinel_config task (no_log) says why; a password Sentinel
     cannot keep in its file is refused; nothing changes.
Times are printed, never asserted.

The same tests run for the sentinel-valkey scenario (its verifier directory
is this one): the containers are named <scenario>-node1..3 and
HARDENED_REDIS_ENGINE (verifier env) names the engine the group must run.
"""

from __future__ import annotations

import os
import time

import pytest
import redis

from sentinel_lab import Group, Writer, read_json, recap, run_playbook, wait_for

SCENARIO_NAME = os.environ.get("MOLECULE_SCENARIO_NAME", "sentinel")
NODES = [f"{SCENARIO_NAME}-node{i}" for i in (1, 2, 3)]
ENGINE = os.environ.get("HARDENED_REDIS_ENGINE", "redis")
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
CONVERGE = os.path.join(SCENARIO, "converge.yml")
STATE: dict = {}


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES, engine=ENGINE)


def _refused(extra: str, *expected: str, args: tuple = ()):
    proc = run_playbook(CONVERGE, "-e", extra, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"site.yml accepted {extra}:\n{out[-3000:]}"
    for text in expected:
        assert text in out, f"message lacks {text!r}:\n{out[-3000:]}"
    # Nothing ran on a host: no fact gathering, no role task, the failure is
    # the pre-flight check's.
    assert "Gathering Facts" not in out, out[-3000:]
    assert "hardened.redis.redis :" not in out and "hardened.redis.redis_sentinel : Install" not in out
    assert "Refuse an inventory that cannot work" in out
    counts = recap(proc.stdout)
    assert counts and all(c.get("changed", 0) == 0 for c in counts.values()), counts
    return out


def test_01_two_masters_refused():
    # redis_role=master as an extra var marks every data node: 3 masters.
    _refused('{"redis_role": "master"}', "3 hosts are marked redis_role=master", "mark at most one")


def test_02_quorum_above_sentinels_refused():
    _refused('{"redis_sentinel_quorum": 4}', "The quorum is higher than the number of Sentinels",
             "set redis_sentinel_quorum to at most 3")


def test_02b_limit_without_sentinels_refused():
    # A limited run cannot ask the other Sentinels who the master is.
    proc_out = _refused("{}", f"--limit leaves out the Sentinel host(s) {NODES[0]}, {NODES[2]}", "Run it without",
                        args=("--limit", NODES[1]))
    assert "disagree" not in proc_out, proc_out[-3000:]


def test_03_settled_with_bootstrap_master(group):
    master = group.wait_settled(timeout=60)
    assert master == NODES[0], f"bootstrap master should be {NODES[0]} (redis_role=master), is {master}"
    for n in NODES:
        # The engine the scenario asks for, on the data node and on the Sentinel.
        assert group.engine_of(group.node(n)) == ENGINE, f"{n}: data node is not {ENGINE}"
        assert group.engine_of(group.sentinel(n)) == ENGINE, f"{n}: Sentinel is not {ENGINE}"
        # Secure by default: no anonymous access to Sentinel.
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host=group.ip[n], port=26379, protocol=2, socket_timeout=2).ping()
        record = group.master_record(n)
        assert int(record["quorum"]) == 2 and int(record["down-after-milliseconds"]) == 2000


def test_04_kill_master(group):
    old = group.agreed_master()
    assert old == NODES[0]
    old_restarts = int(group.docker(old, "systemctl", "show", "-p", "NRestarts", "--value", group.unit))
    writer = Writer(group, "kill")
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        killed_at = time.monotonic()
        group.kill_data_node(old)
        new = group.wait_new_master(old)
        switched_at = time.monotonic()
        writer.wait_acks(300, timeout=60)
        # One master, the other replica re-pointed, CKQUORUM OK everywhere
        # (the old node is still down or rejoining: expected replicas = the other one).
        other = [n for n in NODES if n not in (old, new)]
        wait_for("new master with the other replica", lambda: True if group.not_ready(other) is None
                 else group.not_ready(other), 60)
        # No other node ever claims to be master.
        masters = group.masters()
        assert masters == [new], f"masters seen: {masters}"
        # The old node comes back by itself (systemd Restart=always after
        # RestartSec > down-after); its start check asks the Sentinels first,
        # so from its first answer on it is a replica of the new master.
        old_roles = []

        def back():
            try:
                old_roles.append(group.replication(old).get("role"))
            except (redis.RedisError, OSError):
                return "down"
            return group.rejoined(old, new)
        wait_for(f"{old} rejoins as a replica of {new}", back, 90, 0.05)
        assert "master" not in old_roles, f"{old} answered as a master after its restart: {old_roles}"
        rejoined_at = time.monotonic()
        group.wait_settled(timeout=60)
        assert group.masters() == [new]
        writer.wait_acks(100, timeout=30)
    finally:
        writer.stop()
    restarts = int(group.docker(old, "systemctl", "show", "-p", "NRestarts", "--value", group.unit))
    assert restarts == old_restarts + 1, f"systemd restarted {old} {restarts - old_restarts} times"
    lost = group.missing(new, writer.acked)
    print(f"\n[kill] old master {old} -> new master {new}; Sentinels agreed {switched_at - killed_at:.2f}s after the kill;"
          f" write outage (longest gap between acknowledged writes) {writer.longest_gap():.2f}s;"
          f" acknowledged {len(writer.acked)}, lost {len(lost)}; client errors {writer.errors};"
          f" {old} restarted by systemd and back as a replica {rejoined_at - killed_at:.1f}s after the kill")
    assert not lost, f"{len(lost)} acknowledged writes missing on {new}: {lost[:10]}"
    STATE["after_kill"] = new


def test_05_planned_switchover(group):
    master = group.wait_settled(timeout=60)
    assert master == STATE.get("after_kill")
    target = sorted(n for n in NODES if n != master)[0]
    writer = Writer(group, "switchover")
    writer.start()
    try:
        writer.wait_acks(300, timeout=30)
        # target_host for sentinel_failover (switchover.yml of the sentinel
        # scenario), target for hardened.redis.switchover (sentinel-valkey's).
        proc = run_playbook(os.path.join(SCENARIO, "switchover.yml"), "-e", f"target_host={group.ip[target]}",
                            "-e", f"target={target}")
        result = read_json(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "switchover.json"))
        assert proc.returncode == 0, f"switchover failed: {result.get('msg')}\n{proc.stdout[-2000:]}"
        writer.wait_acks(300, timeout=60)
    finally:
        writer.stop()
    assert result["changed"] is True
    assert group.wait_settled(timeout=60) == target
    lost = group.missing(target, writer.acked)
    print(f"\n[switchover] {result['old_master']} -> {result['new_master']} ({master} -> {target});"
          f" write_pause {result['write_pause']}s, elapsed {result['elapsed']}s, timeline {result.get('timeline')};"
          f" writer's longest gap {writer.longest_gap():.2f}s; acknowledged {len(writer.acked)}, lost {len(lost)};"
          f" client errors {writer.errors}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {target}: {lost[:10]}"
    STATE["after_switchover"] = target


def test_06_converge_again_changes_nothing(group):
    master = group.wait_settled(timeout=60)
    assert master == STATE.get("after_switchover")
    before = {n: group.master_record(n) for n in NODES}
    started = time.monotonic()
    proc = run_playbook(CONVERGE)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:]
    counts = recap(proc.stdout)
    assert set(counts) == set(NODES), counts
    changed = {h: c["changed"] for h, c in counts.items() if c.get("changed") or c.get("failed")}
    print(f"\n[reconverge] after two failovers: {took:.1f}s, recap {counts}")
    assert not changed, f"changed after a failover: {changed}\n{proc.stdout[-4000:]}"
    assert group.wait_settled(timeout=30) == master, "the converge moved the master"
    for n in NODES:
        after = group.master_record(n)
        assert after["config-epoch"] == before[n]["config-epoch"], n
        assert after["num-other-sentinels"] == before[n]["num-other-sentinels"], n
        assert after["num-slaves"] == before[n]["num-slaves"], n


def test_07_failing_sentinel_config_says_why(group):
    # The module refuses parallel_syncs 0; its task is no_log (it carries
    # passwords), yet the operator reads the module's own message.
    proc = run_playbook(CONVERGE, "-e", '{"redis_sentinel_parallel_syncs": 0}')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "parallel_syncs must be 1 or more" in out, out[-3000:]
    assert "the output has been hidden" not in out, out[-3000:]
    counts = recap(proc.stdout)
    assert counts and all(c.get("changed", 0) == 0 for c in counts.values()), counts


def test_08_password_sentinel_cannot_keep_is_refused(group):
    # Sentinel writes auth-pass unquoted: "two words" would make its next start fail.
    proc = run_playbook(CONVERGE, "-e", '{"redis_sentinel_password": "two words"}')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "redis_sentinel_password must not contain whitespace, a quote or a backslash" in out, out[-3000:]
    assert "two words" not in out
    counts = recap(proc.stdout)
    assert counts and all(c.get("changed", 0) == 0 for c in counts.values()), counts
    assert group.wait_settled(timeout=30) == STATE.get("after_switchover")
