"""A move from Debian 12 (Redis 7.0, redis-sentinel) to Debian 13 (Valkey 8.1 and
valkey-sentinel, or Redis 8.0 with HARDENED_REDIS_UPGRADE_ENGINE=redis) under one
WAIT-acknowledged writer that runs from the first test to the last.

Order is pinned (each test needs the previous), as docs/operations.md tells it:
  1. the old group (converge) is settled: upgrade-old1 master, Redis 7.0 everywhere;
  2. the new hosts are added to the inventory and hardened.redis.site runs: they
     join as replicas, their Sentinels join (6 data nodes, 6 Sentinels agree);
  3. a switchover onto a new node is refused while Redis 7.0 nodes would follow
     it (they cannot load its RDB format), and nothing changes;
  4. the old replicas are removed, one at a time (hardened.redis.remove_node);
  5. the switchover with switchover_retire_older: the new node is master, the old
     master is left with replica-priority 0;
  6. site.yml now refuses the inventory that still holds the old master, before
     touching a host;
  7. the old master is removed;
  8. site.yml on the final inventory, then again: 0 changed; 3 new data nodes and
     3 new Sentinels; 0 acknowledged writes lost; one master throughout (the
     Sentinels named upgrade-old1 then upgrade-new1 and nobody else; two data
     nodes said role master only inside the switchover); the writer's longest gap.
Times are printed, never asserted.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml

from sentinel_lab import INSTANCE, MASTER_NAME, Group, Writer, read_json, recap, run_playbook, secret, wait_for

NEW_ENGINE = os.environ.get("HARDENED_REDIS_UPGRADE_ENGINE", "valkey")
OLD = [f"upgrade-old{i}" for i in (1, 2, 3)]
NEW = [f"upgrade-new{i}" for i in (1, 2, 3)]
ENGINES = {**{n: "redis" for n in OLD}, **{n: NEW_ENGINE for n in NEW}}
RELEASES = {"redis": "7.0.", NEW_ENGINE: "8.1." if NEW_ENGINE == "valkey" else "8.0."}
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
STATE: dict = {}


def inventory(name: str, hosts: list[str]) -> str:
    """The operator's inventory at one step: these hosts in redis_servers and redis_sentinels
    (connections and variables come from the scenario's own inventory, given first)."""
    path = EPHEMERAL / f"inventory-{name}.yml"
    members = {h: None for h in hosts}
    path.write_text(yaml.safe_dump({"all": {"children": {"redis_servers": {"hosts": members},
                                                         "redis_sentinels": {"hosts": members}}}}))
    return str(path)


def playbook(name: str, *args: str, hosts: list[str], step: str) -> tuple[object, str, float]:
    started = time.monotonic()
    proc = run_playbook(f"hardened.redis.{name}", *args, inventories=(inventory(step, hosts),))
    took = time.monotonic() - started
    STATE.setdefault("playbooks", []).append(f"{step} {name} {took:.0f}s")
    STATE.setdefault("steps", []).append((started, started + took, step))
    return proc, proc.stdout + proc.stderr, took


def changed_tasks(output: str, hosts: list[str] | None = None) -> list[str]:
    """Names of the tasks that reported changed on some host (of ``hosts``)."""
    names, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.rfind("]")]
        elif line.startswith("changed: [") and task and task not in names:
            host = line[len("changed: ["):].split("]")[0].split(" ")[0]
            if hosts is None or host in hosts:
                names.append(task)
    return names


class MasterSampler(threading.Thread):
    """Every 0.1 s: which data nodes say role master, and which master the first
    Sentinel that answers names. Nodes that are down are skipped."""

    def __init__(self, group: Group):
        super().__init__(daemon=True)
        self.group = group
        self.nodes = {n: redis.Redis(host=group.ip[n], port=group.data_port, username="admin", password=secret("admin"),
                                     protocol=2, socket_timeout=0.3, socket_connect_timeout=0.3, decode_responses=True)
                      for n in group.names}
        self.sentinels = {n: redis.Redis(host=group.ip[n], port=group.sentinel_port, username="admin",
                                         password=secret("sentinel-admin"), protocol=2, socket_timeout=0.3,
                                         socket_connect_timeout=0.3, decode_responses=True)
                          for n in group.names}
        self.samples: list[tuple[float, tuple[str, ...], str | None]] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            now = time.monotonic()
            masters = []
            for n, c in self.nodes.items():
                try:
                    if c.execute_command("ROLE")[0] == "master":
                        masters.append(n)
                except (redis.RedisError, OSError):
                    pass
            named = None
            for c in self.sentinels.values():
                try:
                    addr = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                    named = self.group.name_of.get(addr[0], addr[0]) if addr else None
                    break
                except (redis.RedisError, OSError):
                    pass
            self.samples.append((now, tuple(masters), named))
            self._stop_event.wait(0.1)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)

    def named_sequence(self) -> list[str]:
        seq: list[str] = []
        for _t, _m, named in self.samples:
            if named and (not seq or seq[-1] != named):
                seq.append(named)
        return seq

    def doubles(self) -> list[tuple[float, tuple[str, ...]]]:
        return [(t, m) for t, m, _n in self.samples if len(m) > 1]


@pytest.fixture(scope="module")
def everyone() -> Group:
    return Group(OLD + NEW, engine=ENGINES)


@pytest.fixture(scope="module")
def lab(everyone):
    # the writer knows every Sentinel, old and new (those not running yet, or
    # removed, refuse connections and are skipped), as a client configured for
    # the move; it rests 5 ms after each write, leaving the CPU to the playbooks
    writer = Writer(everyone, "upgrade", interval=0.005)
    sampler = MasterSampler(everyone)
    yield {"writer": writer, "sampler": sampler}
    if writer.is_alive():
        writer.stop()
    sampler.stop()


def release(client: redis.Redis) -> tuple[str, str]:
    server = client.info("server")
    if server.get("valkey_version"):
        return "valkey", str(server["valkey_version"])
    return "redis", str(server["redis_version"])


def priority(group: Group, node: str) -> str:
    return group.node(node).config_get("replica-priority")["replica-priority"]


def test_01_old_group_settled(lab):
    old = Group(OLD, engine="redis")
    assert old.wait_settled(timeout=90) == OLD[0]
    for n in OLD:
        assert release(old.node(n))[0] == "redis" and release(old.node(n))[1].startswith("7.0."), n
        assert old.engine_of(old.sentinel(n)) == "redis", n
    lab["writer"].start()
    lab["sampler"].start()
    lab["writer"].wait_acks(300, timeout=30)
    STATE["t0"] = time.monotonic()


def test_02_new_hosts_join_as_replicas(lab, everyone):
    writer = lab["writer"]
    proc, out, took = playbook("site", hosts=OLD + NEW, step="2-join")
    assert proc.returncode == 0, out[-4000:]
    counts = recap(proc.stdout)
    print(f"\n[join] site.yml with the new hosts: {took:.0f}s; changed "
          f"{ {h: c.get('changed') for h, c in counts.items()} }; on the old hosts: {changed_tasks(proc.stdout, OLD)}")
    # 6 data nodes, 6 Sentinels: every Sentinel knows 5 replicas and 5 others, CKQUORUM OK
    assert everyone.wait_settled(timeout=120) == OLD[0], "the join moved the master"
    for n in NEW:
        engine, version = release(everyone.node(n))
        assert engine == NEW_ENGINE and version.startswith(RELEASES[NEW_ENGINE]), (n, engine, version)
        assert everyone.engine_of(everyone.sentinel(n)) == NEW_ENGINE, n
    writer.wait_acks(300, timeout=60)


def test_03_switchover_onto_a_newer_format_refused(everyone):
    result_file = EPHEMERAL / "switchover-refused.json"
    proc, out, _took = playbook("switchover", "-e", f"target={NEW[0]}", "-e", f"switchover_json={result_file}",
                                hosts=OLD + NEW, step="3-refused")
    assert proc.returncode != 0, out[-3000:]
    result = read_json(str(result_file))
    assert result["changed"] is False, result
    for text in ("cannot load a full sync from", "retire_older", "Nothing was changed"):
        assert text in result["msg"], result["msg"]
    for n in OLD:
        assert f"{everyone.ip[n]}:6379 (Redis 7.0." in result["msg"], result["msg"]
    print(f"\n[refused] {result['msg']}")
    assert everyone.agreed_master() == OLD[0]
    assert {n: priority(everyone, n) for n in OLD + NEW} == {n: "100" for n in OLD + NEW}


def test_04_old_replicas_removed(lab):
    members = OLD + NEW
    for node in OLD[1:]:
        proc, out, took = playbook("remove_node", "-e", f"node={node}", hosts=members, step=f"4-remove-{node}")
        assert proc.returncode == 0, out[-4000:]
        members = [m for m in members if m != node]
        group = Group(members, engine={m: ENGINES[m] for m in members})
        assert group.wait_settled(timeout=90) == OLD[0]
        print(f"\n[remove] {node}: {took:.0f}s")
        lab["writer"].wait_acks(100, timeout=60)
    STATE["members"] = members


def test_05_switchover_with_retire_older(lab):
    members = STATE["members"]
    group = Group(members, engine={m: ENGINES[m] for m in members})
    writer = lab["writer"]
    result_file = EPHEMERAL / "switchover.json"
    started = time.monotonic()
    proc, out, took = playbook("switchover", "-e", f"target={NEW[0]}", "-e", "switchover_retire_older=true",
                               "-e", f"switchover_json={result_file}", hosts=members, step="5-switchover")
    STATE["switch_window"] = (started, time.monotonic())
    result = read_json(str(result_file))
    assert proc.returncode == 0, f"{result.get('msg')}\n{out[-3000:]}"
    assert result["changed"] is True and result["new_master"] == f"{group.ip[NEW[0]]}:6379", result
    assert result["retired"] == [f"{group.ip[OLD[0]]}:6379"], result
    wait_for("every Sentinel names the new master", lambda: group.agreed_master() == NEW[0], 30)
    # the old master: a replica that Sentinel never promotes; how it follows is reported
    assert priority(group, OLD[0]) == "0"
    assert {n: priority(group, n) for n in NEW[1:]} == {n: "100" for n in NEW[1:]}
    old_repl = group.replication(OLD[0])
    assert old_repl["role"] == "slave" and old_repl["master_host"] == group.ip[NEW[0]], old_repl
    for n in NEW[1:]:
        wait_for(f"{n} follows {NEW[0]}", lambda n=n: group.rejoined(n, NEW[0]), 30)
    writer.wait_acks(300, timeout=60)
    print(f"\n[switchover] {result['old_master']} -> {result['new_master']}: write_pause {result['write_pause']}s,"
          f" {took:.0f}s playbook; retired {result['retired']}; the old master's link {old_repl.get('master_link_status')}"
          f" (a partial resync: {group.node(NEW[0]).info('stats').get('sync_partial_ok')} accepted on the new master,"
          f" full syncs {group.node(NEW[0]).info('stats').get('sync_full')})")


def test_06_site_refuses_the_old_master_in_the_inventory():
    members = STATE["members"]
    proc, out, _took = playbook("site", hosts=members, step="6-refused")
    assert proc.returncode != 0, out[-3000:]
    assert "Nothing was changed" in out and "cannot load a full sync from" in out, out[-3000:]
    assert f"{OLD[0]} (Redis 7.0, RDB 10) cannot load a full sync from {NEW[0]}" in out, out[-3000:]
    counts = recap(proc.stdout)
    assert counts and all(c.get("changed", 0) == 0 for c in counts.values()), counts


def test_07_old_master_removed(lab):
    members = STATE["members"]
    proc, out, took = playbook("remove_node", "-e", f"node={OLD[0]}", hosts=members, step="7-remove-old-master")
    assert proc.returncode == 0, out[-4000:]
    print(f"\n[remove] {OLD[0]}: {took:.0f}s")
    STATE["members"] = [m for m in members if m != OLD[0]]
    assert STATE["members"] == NEW
    lab["writer"].wait_acks(100, timeout=60)


def test_08_final_inventory_and_the_writer(lab):
    writer, sampler = lab["writer"], lab["sampler"]
    final = Group(NEW, engine=NEW_ENGINE)
    proc, out, took = playbook("site", hosts=NEW, step="8-final")
    assert proc.returncode == 0, out[-4000:]
    print(f"\n[final] site.yml on the final inventory: {took:.0f}s; changed "
          f"{ {h: c.get('changed') for h, c in recap(proc.stdout).items()} }: {changed_tasks(proc.stdout)}")
    proc, out, took = playbook("site", hosts=NEW, step="8-rerun")
    assert proc.returncode == 0, out[-4000:]
    counts = recap(proc.stdout)
    assert set(counts) == set(NEW), counts
    changed = {h: c["changed"] for h, c in counts.items() if c.get("changed") or c.get("failed")}
    assert not changed, f"the rerun changed {changed}\n{out[-4000:]}"
    assert final.wait_settled(timeout=60) == NEW[0]
    for n in NEW:
        assert final.engine_of(final.node(n)) == NEW_ENGINE and final.engine_of(final.sentinel(n)) == NEW_ENGINE, n
    for n in OLD:
        for unit in (f"redis-hardened@{INSTANCE}.service", f"redis-sentinel-hardened@{INSTANCE}.service"):
            active = final.docker(n, "systemctl", "is-active", unit, check=False).strip()
            enabled = final.docker(n, "systemctl", "is-enabled", unit, check=False).strip()
            assert active != "active" and enabled != "enabled", (n, unit, active, enabled)
    writer.wait_acks(200, timeout=60)
    writer.stop()
    sampler.stop()
    lost = final.missing(NEW[0], writer.acked)
    named = sampler.named_sequence()
    doubles = sampler.doubles()
    lo, hi = STATE["switch_window"]
    outside = [(round(t - STATE["t0"], 2), m) for t, m in doubles if not (lo <= t <= hi and OLD[0] in m)]
    # where the longest gap was: the step whose playbook ran then
    pairs_ = list(zip(writer.ack_times, writer.ack_times[1:]))
    gap_at = max(pairs_, key=lambda p: p[1] - p[0])[0] if pairs_ else 0.0
    gap_step = next((step for a, b, step in STATE["steps"] if a <= gap_at <= b), "between playbooks")
    print(f"\n[upgrade] {' -> '.join(named)}; acknowledged {len(writer.acked)}, lost {len(lost)};"
          f" longest gap between acknowledged writes {writer.longest_gap():.2f}s (during {gap_step}); client errors {writer.errors};"
          f" master samples {len(sampler.samples)}, with two nodes saying master {len(doubles)}"
          f" (all inside the switchover: {not outside}); playbooks: {'; '.join(STATE['playbooks'])}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {NEW[0]}: {lost[:10]}"
    assert named == [OLD[0], NEW[0]], f"the Sentinels named {named}: an unplanned failover"
    assert not outside, f"two masters outside the planned switchover: {outside[:10]}"
