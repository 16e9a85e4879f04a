"""Chaos suite, part 2: a planned switchover (hardened.redis.switchover) that
meets a fault half-way, on the same three containers, after test_chaos.py.

Each fault strikes when a Sentinel publishes +selected-slave (it has chosen
the target and is about to promote it) while a WAIT-acknowledged writer runs:
  7. the target's redis-server stopped (SIGSTOP) for 3 s, longer than the
     write pause (9/10 of down-after): Sentinel promotes it after it wakes,
     or gives up; either way the old master refused writes meanwhile;
  8. the target's redis-server killed (kill -9; systemd restarts it after
     RestartSec): Sentinel promotes it once it is back (it repeats its
     REPLICAOF NO ONE until failover-timeout), or gives up
     (-failover-abort-*) and the playbook fails with that cause while the
     old master stays;
  9. the module's own process killed (kill -9 on the Sentinel host that runs
     it) once it has made the other replica ineligible: its watchdog undoes
     the switchover from the journal, the old master stays.
After each: 0 acknowledged writes lost, exactly one master, no replica left
at replica-priority 0, no node left refusing writes (the fence), no journal.
"""

from __future__ import annotations

import threading
import time

from chaos_lab import ChaosWriter, add_result, main_pid, masters
from sentinel_lab import Group, run_playbook, wait_for

NODES = ["chaos-node1", "chaos-node2", "chaos-node3"]
SWITCHOVER = "hardened.redis.switchover"
FENCE = "2147483647"
JOURNAL = "hardened-redis:switchover:main"


def _group() -> Group:
    return Group(NODES)


def _on_selected(group: Group, action) -> threading.Event:
    """Run action() once, in a thread, when any Sentinel publishes +selected-slave."""
    subs = []
    for n in NODES:
        client = group.sentinel(n)
        ps = client.pubsub(ignore_subscribe_messages=True)
        ps.subscribe("+selected-slave")
        subs.append((client, ps))
    seen = threading.Event()

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not seen.is_set():
            for _client, ps in subs:
                msg = ps.get_message(timeout=0.02)
                if msg and msg.get("type") == "message":
                    seen.set()
                    action()
                    break
        for _client, ps in subs:
            ps.close()
    threading.Thread(target=watch, daemon=True).start()
    return seen


def _left_behind(group: Group, master: str) -> dict:
    prio0, fenced = [], []
    for n in NODES:
        cfg = group.node(n).config_get("replica-priority") | group.node(n).config_get("min-replicas-to-write")
        conf = group.docker(n, "sh", "-c", "cat /etc/redis/main/redis.conf", check=False)
        if cfg["replica-priority"] == "0" or "replica-priority 0" in conf:
            prio0.append(n)
        if cfg["min-replicas-to-write"] == FENCE or FENCE in conf:
            fenced.append(n)
    return {"masters": masters(group), "priority_0": prio0, "fenced": fenced,
            "journal": group.node(master).get(JOURNAL)}


def _clean(group: Group, timeout: float = 120) -> tuple[str, dict]:
    """Wait until the group is settled and nothing of the switchover is left (the watchdog works on its own)."""
    def probe():
        master = group.wait_settled(timeout=60)
        left = _left_behind(group, master)
        ok = left["masters"] == [master] and not left["priority_0"] and not left["fenced"] and left["journal"] is None
        return (master, left) if ok else f"left behind: {left}"
    try:
        return wait_for("the switchover leaves nothing behind", probe, timeout)
    except AssertionError:
        master = group.wait_settled(timeout=60)
        return master, _left_behind(group, master)


def _switch_with_fault(fault: str, prefix: str, action, when=_on_selected) -> dict:
    group = _group()
    old = group.wait_settled(timeout=90)
    target = sorted(n for n in NODES if n != old)[0]
    writer = ChaosWriter(group, prefix)
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        seen = when(group, lambda: action(group, target))
        started = time.monotonic()
        proc = run_playbook(SWITCHOVER, "-e", f"target={target}")
        took = time.monotonic() - started
        assert seen.wait(5), f"the fault never struck ({when.__name__}): {proc.stdout[-3000:]}"
        final, left = _clean(group)
        writer.wait_acks(200, timeout=60)
    finally:
        writer.stop()
    lost = group.missing(final, writer.acked)
    out = proc.stdout + proc.stderr
    row = {"fault": fault, "acknowledged": len(writer.acked), "lost": len(lost), "masters": left["masters"],
           "write_outage_s": round(writer.longest_gap(), 2), "playbook_rc": proc.returncode,
           "playbook_s": round(took, 1), "old_master": old, "target": target, "final_master": final,
           "left_behind": {k: left[k] for k in ("priority_0", "fenced", "journal")},
           "client_errors": dict(writer.errors)}
    add_result(row)
    print(f"\n[chaos] {fault}: {row}")
    assert lost == [], f"{len(lost)} acknowledged writes missing on {final}: {lost[:10]}"
    assert left["masters"] == [final], left
    assert left["priority_0"] == [] and left["fenced"] == [], left
    if final not in (old, target):
        # Seen once at load 10 after a stalled target: a second, unplanned
        # failover to the third node, which never received the journal's DEL
        # from the new master. What it lists is already restored (the
        # asserts above); the next run of the module removes it.
        row["stale_journal"] = left["journal"] is not None
        print(f"\n[chaos] {fault}: a second failover moved the master to {final}; journal left: {row['stale_journal']}")
    else:
        assert left["journal"] is None, left
    row["output"] = out
    return row


def _stall(group: Group, node: str):
    pid = main_pid(group, node)
    group.docker(node, "kill", "-STOP", str(pid))
    time.sleep(3)
    group.docker(node, "kill", "-CONT", str(pid))


def test_07_target_stalled_mid_switchover():
    _outcome_told(_switch_with_fault("switchover, target stalled 3 s after Sentinel selected it", "swstall", _stall),
                  second_failover_allowed=True)


def _outcome_told(row: dict, second_failover_allowed: bool = False):
    """The target promoted and the playbook succeeded, or Sentinel gave up and the playbook says so."""
    if second_failover_allowed and row["final_master"] not in (row["old_master"], row["target"]):
        return
    assert row["final_master"] in (row["old_master"], row["target"]), row
    if row["final_master"] == row["old_master"]:
        assert row["playbook_rc"] != 0 and "aborted" in row["output"], row["output"][-3000:]
    else:
        assert row["playbook_rc"] == 0, row["output"][-3000:]


def test_08_target_killed_mid_switchover():
    row = _switch_with_fault("switchover, target killed after Sentinel selected it", "swkill",
                             lambda g, n: g.docker(n, "kill", "-9", str(main_pid(g, n))))
    # Killed once promoted (seen at load 9 to 12, two scenarios side by side),
    # the target is a dead new master: the switchover succeeded, and Sentinel's
    # own failover then moves the master on to the third node. Only then may
    # the final master be the third node.
    _outcome_told(row, second_failover_allowed=row["playbook_rc"] == 0)


# Debian's python3 is python3.11 (or 3.13) by its process name
KILL_MODULE = ("for p in $(pgrep -x 'python3(\\.[0-9]+)?'); do "
               "[ \"$(ps -o ppid= -p $p | tr -d ' ')\" != 1 ] && kill -9 $p; done; true")


def _on_priority_0(group: Group, action) -> threading.Event:
    """Run action() once, in a thread, when a replica other than the target reports replica-priority 0
    (the module has written its journal and made the other replicas ineligible)."""
    seen = threading.Event()
    old = group.agreed_master()
    target = sorted(n for n in NODES if n != old)[0]
    others = [n for n in NODES if n not in (old, target)]

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(group.node(n).config_get("replica-priority")["replica-priority"] == "0" for n in others):
                seen.set()
                action()
                return
            time.sleep(0.05)
    threading.Thread(target=watch, daemon=True).start()
    return seen


def test_09_module_killed_mid_switchover():
    def kill_module(group: Group, target: str):
        # the module runs on one Sentinel host; its watchdog (a child of PID 1) is spared
        for n in NODES:
            group.docker(n, "sh", "-c", KILL_MODULE, check=False)
    row = _switch_with_fault("switchover, the module killed once the other replica was ineligible", "swmodule",
                             kill_module, when=_on_priority_0)
    assert row["playbook_rc"] != 0, "the playbook did not notice its module was killed"
    assert row["final_master"] == row["old_master"], row
