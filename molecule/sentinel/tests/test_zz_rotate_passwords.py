"""Password rotation in two phases on the converged group (runs after test_sentinel.py).

The operator's procedure for generated passwords (docs/operations.md, "Rotate
passwords"): rename a credential file to <name>.previous and rerun site.yml
(phase 1: every user accepts the new and the old password, every internal
consumer moves to the new one); once the applications have moved, delete the
.previous files and rerun (phase 2: the old passwords are refused).

Rotated here: the data nodes' app, admin, replication, sentinel and backup
users and the Sentinels' admin, peer and client users. Under two
WAIT-acknowledged writers, each reconnecting every 50 writes through the
Sentinels (so each reconnect logs in again, to a Sentinel and to the master):
one keeps the old app and Sentinel client passwords until phase 2, the other
uses the new ones from phase 1 on. Counted: failed requests (0 for both),
acknowledged writes lost (0), failovers (none: same master, same config
epoch, no +switch-master), restarts (none: same redis-server and Sentinel
PIDs), replication links (never dropped: the master's full and partial
resync counters unchanged), changed tasks of a second run of each phase (0).
Afterwards every old password is refused on every node and Sentinel, and the
internal links, cut on purpose, come back with the new ones. Times are
printed, never asserted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redis_lab import changed_tasks
from sentinel_lab import Group, Writer, recap, run_playbook, secret, wait_for

SCENARIO_NAME = os.environ.get("MOLECULE_SCENARIO_NAME", "sentinel")
NODES = [f"{SCENARIO_NAME}-node{i}" for i in (1, 2, 3)]
ENGINE = os.environ.get("HARDENED_REDIS_ENGINE", "redis")
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
CONVERGE = os.path.join(SCENARIO, "converge.yml")
CREDENTIALS = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "credentials"
DATA_USERS = {"app": "app", "admin": "admin", "replication": "replication", "sentinel": "sentinel", "backup": "backup"}
SENTINEL_USERS = {"sentinel-admin": "admin", "sentinel-peer": "sentinel-peer", "sentinel-client": "client"}
ROTATED = list(DATA_USERS) + list(SENTINEL_USERS)
SENTINEL_UNIT = f"{ENGINE}-sentinel-hardened@main.service"


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES, engine=ENGINE)


def _login(host, port, user, password) -> bool:
    """Whether a new connection logs in (no retries: redis-py >= 6 retries a refused login)."""
    try:
        redis.Redis(host=host, port=port, username=user, password=password, socket_timeout=3,
                    socket_connect_timeout=3, retry=Retry(NoBackoff(), 0)).ping()
        return True
    except redis.AuthenticationError:
        return False


def _pids(group: Group) -> dict:
    return {n: (group.docker(n, "systemctl", "show", "-p", "MainPID", "--value", group.unit).strip(),
                group.docker(n, "systemctl", "show", "-p", "MainPID", "--value", SENTINEL_UNIT).strip())
            for n in NODES}


def _switches(group: Group) -> int:
    return sum(int(group.docker(n, "sh", "-c", f"grep -c switch-master /var/log/{ENGINE}/sentinel-main.log || true")
                   .strip() or 0) for n in NODES)


def _syncs(group: Group, master: str) -> tuple:
    stats = group.node(master).info("stats")
    return stats["sync_full"], stats["sync_partial_ok"]


def _converge(label: str, outputs: list) -> dict:
    started = time.monotonic()
    proc = run_playbook(CONVERGE)
    outputs.append(proc.stdout + proc.stderr)
    counts = recap(proc.stdout)
    print(f"\n[rotate] {label}: {time.monotonic() - started:.1f}s, recap {counts}")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert set(counts) == set(NODES), counts
    return {h: c.get("changed", 0) for h, c in counts.items()}


def _links_use_new_passwords(group: Group, master: str):
    """Probe: every Sentinel pings the master, each replica and each other Sentinel successfully again
    (after their connections were cut), and the replicas' links are up."""
    why = group.not_ready()
    if why:
        return why
    for s in NODES:
        client = group.sentinel(s)
        rec = group.master_record(s)
        if rec["flags"] != "master" or int(rec["last-ok-ping-reply"]) > 900:
            return f"{s}: master flags {rec['flags']} last-ok-ping-reply {rec['last-ok-ping-reply']}"
        for kind in ("REPLICAS", "SENTINELS"):
            for entry in client.execute_command("SENTINEL", kind, "main"):
                entry = entry if isinstance(entry, dict) else dict(zip(entry[0::2], entry[1::2]))
                if "disconnected" in entry["flags"] or "s_down" in entry["flags"] \
                        or int(entry["last-ok-ping-reply"]) > 1900:
                    return f"{s}: {kind.lower()} {entry['ip']} flags {entry['flags']} last-ok {entry['last-ok-ping-reply']}"
    return True


def test_refusals_change_nothing_and_print_no_secret(group):
    """A previous password for a user that does not exist is refused, naming the option; an admin password
    changed without its previous one is refused before the aclfile is written (the issue: the file was
    rewritten, then every host failed, and the file and the server disagreed)."""
    master = group.wait_settled(timeout=60)
    admin = CREDENTIALS / "admin"
    current = secret("admin")
    acl_before = {n: group.docker(n, "cat", f"/etc/{ENGINE}/main/users.acl") for n in NODES}
    extra = CREDENTIALS.parent / "rotate-extra.json"
    extra.write_text('{"redis_previous_passwords": {"nosuchuser": "Prev1ousSecretX"}}')
    extra.chmod(0o600)
    try:
        proc = run_playbook(CONVERGE, "-e", f"@{extra}")
    finally:
        extra.unlink()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "redis_previous_passwords.nosuchuser" in out, out[-3000:]
    assert "Prev1ousSecretX" not in out and current not in out, "a secret in the refusal's output"
    assert all(c.get("changed", 0) == 0 for c in recap(proc.stdout).values()), recap(proc.stdout)

    admin.write_text("NewAdminWithoutItsPrevious0123456\n")
    try:
        proc = run_playbook(CONVERGE)
    finally:
        admin.write_text(current + "\n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"changed: {changed_tasks(proc.stdout)}\n{out[-3000:]}"
    assert "give the old one as redis_previous_passwords.admin" in out, out[-3000:]
    assert "NewAdminWithoutItsPrevious" not in out and current not in out
    assert all(c.get("changed", 0) == 0 for c in recap(proc.stdout).values()), recap(proc.stdout)
    assert {n: group.docker(n, "cat", f"/etc/{ENGINE}/main/users.acl") for n in NODES} == acl_before
    assert group.wait_settled(timeout=30) == master


def test_rotate_passwords_in_two_phases(group):
    master = group.wait_settled(timeout=60)
    old = {name: secret(name) for name in ROTATED}
    pids = _pids(group)
    epochs = {n: group.master_record(n)["config-epoch"] for n in NODES}
    switches = _switches(group)
    syncs = _syncs(group, master)
    outputs: list[str] = []
    started = time.monotonic()

    old_writer = Writer(group, "rotate-old", reconnect_every=50, reconnect_sentinels=True, interval=0.01,
                        app_password=old["app"], client_password=old["sentinel-client"])
    new_writer = None
    old_writer.start()
    try:
        old_writer.wait_acks(200, timeout=30)

        # Phase 1: the operator renames the generated files; site.yml generates new ones.
        for name in ROTATED:
            (CREDENTIALS / name).rename(CREDENTIALS / f"{name}.previous")
        phase1 = _converge("phase 1", outputs)
        new = {name: secret(name) for name in ROTATED}
        assert all(new[n] != old[n] for n in ROTATED)
        assert all(phase1.values()), f"phase 1 changed nothing on some host: {phase1}"
        old_writer.wait_acks(200, timeout=30)
        new_writer = Writer(group, "rotate-new", reconnect_every=50, reconnect_sentinels=True, interval=0.01,
                            app_password=new["app"], client_password=new["sentinel-client"])
        new_writer.start()
        new_writer.wait_acks(200, timeout=30)
        assert _converge("phase 1 again", outputs) == {n: 0 for n in NODES}
        old_writer.wait_acks(200, timeout=30)
        for name, user in DATA_USERS.items():
            for n in NODES:
                assert _login(group.ip[n], 6379, user, old[name]) and _login(group.ip[n], 6379, user, new[name]), (n, user)
    finally:
        old_writer.stop()
    phase2_at = time.monotonic()
    try:
        # Phase 2, the applications have moved: the .previous files go.
        for name in ROTATED:
            (CREDENTIALS / f"{name}.previous").unlink()
        _converge("phase 2", outputs)
        new_writer.wait_acks(200, timeout=30)
        assert _converge("phase 2 again", outputs) == {n: 0 for n in NODES}
        new_writer.wait_acks(200, timeout=30)
    finally:
        if new_writer:
            new_writer.stop()
    took = time.monotonic() - started

    lost_old = group.missing(master, old_writer.acked)
    lost_new = group.missing(master, new_writer.acked)
    print(f"\n[rotate] {took:.0f}s in all; old-password writer: {len(old_writer.acked)} acknowledged, errors "
          f"{old_writer.errors}, lost {len(lost_old)}, longest gap {old_writer.longest_gap():.2f}s; new-password writer: "
          f"{len(new_writer.acked)} acknowledged, errors {new_writer.errors}, lost {len(lost_new)}, longest gap "
          f"{new_writer.longest_gap():.2f}s ({new_writer.longest_gap(since=phase2_at):.2f}s from phase 2 on)")
    assert old_writer.errors == {}, f"the old-password client failed before phase 2: {old_writer.errors}"
    assert new_writer.errors == {}, f"the new-password client failed from phase 1 on: {new_writer.errors}"
    assert not lost_old and not lost_new, (lost_old[:10], lost_new[:10])

    # No restart, no failover, the replication links never dropped.
    assert _pids(group) == pids, "a redis-server or Sentinel was restarted"
    assert group.wait_settled(timeout=30) == master
    assert {n: group.master_record(n)["config-epoch"] for n in NODES} == epochs
    assert _switches(group) == switches, "a +switch-master was logged"
    assert _syncs(group, master) == syncs, "a replica resynchronised (its link dropped)"

    # The old passwords are refused everywhere, the new ones accepted.
    for n in NODES:
        for name, user in DATA_USERS.items():
            assert not _login(group.ip[n], 6379, user, old[name]), f"{n}: {user} still accepts its old password"
            assert _login(group.ip[n], 6379, user, new[name]), f"{n}: {user} refuses its new password"
        for name, user in SENTINEL_USERS.items():
            assert not _login(group.ip[n], 26379, user, old[name]), f"Sentinel {n}: {user} still accepts its old password"
            assert _login(group.ip[n], 26379, user, new[name]), f"Sentinel {n}: {user} refuses its new password"

    # The internal consumers use the new passwords: cut their connections and
    # they come back (replicas with masterauth, Sentinels with auth-pass to the
    # nodes and sentinel-pass to each other); a refused one would show as
    # s_down, and three of them as a failover.
    for n in NODES:
        group.node(n).execute_command("CLIENT", "KILL", "USER", "sentinel")
        group.sentinel(n).execute_command("CLIENT", "KILL", "USER", "sentinel-peer")
    group.node(master).execute_command("CLIENT", "KILL", "TYPE", "replica")
    time.sleep(3)
    wait_for("links back with the new passwords", lambda: _links_use_new_passwords(group, master), 60, 0.5)
    assert group.agreed_master() == master
    assert {n: group.master_record(n)["config-epoch"] for n in NODES} == epochs
    assert _pids(group) == pids

    # Never in Ansible's output, the journal or the servers' logs.
    secrets = list(old.values()) + list(new.values())
    for out in outputs:
        assert not [s for s in secrets if s in out], "a password in Ansible's output"
    for n in NODES:
        logs = group.docker(n, "sh", "-c", f"journalctl --no-pager -o cat; cat /var/log/{ENGINE}/*.log", check=False)
        assert not [s for s in secrets if s in logs], f"{n}: a password in the journal or a log"
