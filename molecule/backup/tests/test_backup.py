"""Backup and restore proof on three containers (Redis + Sentinel each).

Order is pinned (pytest runs a file's tests in order; each needs the previous):
  1. the backup timer is on exactly one node, a replica; a manual start of its
     service writes a verified backup (manifest, sha256, second copy), the
     config holding the password is 0600 and the password is not in the journal;
  2. a dataset of every core type is written on the master and a digest of its
     content (type-specific reads) is the same on every node;
  3. playbooks/backup.yml backs up a replica and fetches the file;
  4. a truncated backup is refused by playbooks/restore.yml, the data untouched;
  5. FLUSHALL; restore.yml without confirm=yes refuses (still empty);
  6. restore.yml -e confirm=yes: the digest equals the one before on every
     node; same master; config-epoch unchanged; down-after-milliseconds back;
     CKQUORUM OK on every Sentinel.
Times are printed, never asserted.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import time

import pytest
import redis

from backup_lab import digest, fill, playbook
from sentinel_lab import MASTER_NAME, Group, recap, secret, wait_for

NODES = ["backup-node1", "backup-node2", "backup-node3"]
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
PLAYBOOKS = os.path.join(SCENARIO, "..", "..", "playbooks")
UNIT = "redis-backup-main"
STATE: dict = {}


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES)


def raw(group: Group, name: str) -> redis.Redis:
    return redis.Redis(host=group.ip[name], port=6379, username="admin", password=secret("admin"),
                       protocol=2, socket_timeout=10, decode_responses=False)


def digests(group: Group) -> dict[str, tuple[str, int]]:
    return {n: digest(raw(group, n)) for n in NODES}


def sentinel_state(group: Group) -> dict:
    out = {}
    for s in NODES:
        rec = group.master_record(s)
        out[s] = dict(master=group.sentinel_master(s), epoch=int(rec["config-epoch"]),
                      down_after=int(rec["down-after-milliseconds"]),
                      ckquorum=str(group.sentinel(s).execute_command("SENTINEL", "CKQUORUM", MASTER_NAME)),
                      # Events in the Sentinel's log: any failover attempt or a master seen down.
                      events={e: int(group.docker(s, "grep", "-c", "--", e, "/var/log/redis/sentinel-main.log",
                                                  check=False).strip() or 0)
                              for e in ("+sdown master", "+odown", "+try-failover", "+switch-master")})
    return out


def in_sync(group: Group, master: str):
    """Every replica online at the master's offset."""
    info = group.replication(master)
    offsets = [v.get("offset") for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
               and v.get("state") == "online"]
    return len(offsets) == len(NODES) - 1 and all(int(o) == int(info["master_repl_offset"]) for o in offsets)


def test_timer_on_one_replica_and_manual_run(group):
    master = group.wait_settled()
    STATE["master"] = master
    have = [n for n in NODES if group.docker(n, "systemctl", "is-enabled", f"{UNIT}.timer", check=False).strip() == "enabled"]
    assert len(have) == 1, f"backup timer enabled on {have}"
    node = have[0]
    assert node != master, f"the timer is on the master {master}"
    assert group.docker(node, "systemctl", "is-active", f"{UNIT}.timer").strip() == "active"
    assert group.docker(node, "stat", "-c", "%a %U", "/etc/hardened-redis-backup/main.json").strip() == "600 root"
    for n in NODES:
        if n != node:
            assert not group.docker(n, "ls", "/etc/systemd/system/", check=False).count(UNIT)

    t0 = time.monotonic()
    group.docker(node, "systemctl", "start", f"{UNIT}.service")
    print(f"\nmanual backup service run: {time.monotonic() - t0:.1f} s")
    assert group.docker(node, "systemctl", "show", "-p", "Result", "--value", f"{UNIT}.service").strip() == "success"
    files = group.docker(node, "sh", "-c", "ls /var/backups/redis/").split()
    backups = [f for f in files if f.endswith(".rdb.gz")]
    assert len(backups) == 1 and backups[0] + ".json" in files, files
    manifest = json.loads(group.docker(node, "cat", f"/var/backups/redis/{backups[0]}.json"))
    assert manifest["verified"] is True and manifest["role"] == "slave", manifest
    sha = group.docker(node, "sha256sum", f"/var/backups/redis/{backups[0]}").split()[0]
    assert sha == manifest["sha256"]
    copy = group.docker(node, "sha256sum", f"/var/backups/redis-copy/{backups[0]}").split()[0]
    assert copy == sha
    journal = group.docker(node, "journalctl", "-u", f"{UNIT}.service", "--no-pager")
    assert f"Backup /var/backups/redis/{backups[0]} written" in journal
    assert secret("backup") not in journal
    # The unit runs no ACL-privileged user: the backup user has no key access.
    denied = group.docker(node, "sh", "-c", "grep -c '^user backup .*-@all +ping +info +bgsave$' "
                          "/etc/redis/main/users.acl", check=False).strip()
    assert denied == "1"


def test_dataset_same_everywhere(group):
    master = STATE["master"]
    client = raw(group, master)
    t0 = time.monotonic()
    written = fill(client)
    wait_for("replicas at the master's offset", lambda: in_sync(group, master), 60)
    d = digests(group)
    print(f"\ndataset: {written} keys written in {time.monotonic() - t0:.1f} s, "
          f"used_memory {client.info('memory')['used_memory_human']}")
    assert d[master][1] == written
    assert len(set(d.values())) == 1, d
    STATE["digest"] = d[master]
    STATE["sentinels"] = sentinel_state(group)
    assert all(s["master"] == master and s["ckquorum"].startswith("OK") for s in STATE["sentinels"].values())


def test_backup_playbook(group, tmp_path_factory):
    fetch = tmp_path_factory.mktemp("fetched") / "copies"  # made by the playbook
    t0 = time.monotonic()
    proc = playbook(os.path.join(PLAYBOOKS, "backup.yml"), "-e", f"backup_fetch_dir={fetch}")
    print(f"\nbackup.yml: {time.monotonic() - t0:.1f} s")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert secret("backup") not in out and secret("admin") not in out
    files = sorted(glob.glob(str(fetch / "*.rdb.gz")))
    assert len(files) == 1, files
    # the whole dataset: private to the controller's user, like the credentials
    assert stat.S_IMODE(os.stat(str(fetch)).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(f).st_mode) for f in (files[0], files[0] + ".json")} == {0o600}
    manifest = json.load(open(files[0] + ".json", encoding="utf-8"))
    assert manifest["role"] == "slave" and manifest["verified"] is True
    assert manifest["keys"] == STATE["digest"][1], manifest
    print(f"backup: {manifest['size']} bytes compressed, rdb {manifest['rdb_size']} bytes, {manifest['keys']} keys")
    STATE["backup"] = files[0]


def test_truncated_backup_refused(group, tmp_path_factory):
    bad_dir = tmp_path_factory.mktemp("truncated")
    src = STATE["backup"]
    bad = bad_dir / os.path.basename(src)
    data = open(src, "rb").read()
    bad.write_bytes(data[: len(data) // 2])
    shutil.copy(src + ".json", str(bad) + ".json")
    proc = playbook(os.path.join(PLAYBOOKS, "restore.yml"), "-e", f"src={bad}", "-e", "confirm=yes")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "truncated" in out or "size is" in out, out[-4000:]
    assert digests(group)[STATE["master"]] == STATE["digest"]
    assert sentinel_state(group) == STATE["sentinels"]


def test_flush_and_refuse_without_confirm(group):
    master = STATE["master"]
    raw(group, master).flushall()
    wait_for("replicas flushed too", lambda: all(raw(group, n).dbsize() == 0 for n in NODES), 30)
    proc = playbook(os.path.join(PLAYBOOKS, "restore.yml"), "-e", f"src={STATE['backup']}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "confirm=yes" in out, out[-3000:]
    assert all(raw(group, n).dbsize() == 0 for n in NODES)


def test_restore_check_mode_changes_nothing(group):
    proc = playbook(os.path.join(PLAYBOOKS, "restore.yml"), "--check", "-e", f"src={STATE['backup']}", "-e", "confirm=yes")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Restore the backup on the master" in out
    assert all(raw(group, n).dbsize() == 0 for n in NODES)
    assert sentinel_state(group) == STATE["sentinels"]


def test_restore_playbook(group):
    master = STATE["master"]
    t0 = time.monotonic()
    proc = playbook(os.path.join(PLAYBOOKS, "restore.yml"), "-e", f"src={STATE['backup']}", "-e", "confirm=yes")
    out = proc.stdout + proc.stderr
    print(f"\nrestore.yml: {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, out[-6000:]
    for line in out.splitlines():
        if "Restored " in line:
            print(line.strip())
    assert secret("admin") not in out and secret("sentinel-admin") not in out
    wait_for("replicas at the master's offset", lambda: in_sync(group, master), 60)
    d = digests(group)
    assert d[master] == STATE["digest"], (d[master], STATE["digest"])
    assert all(v == STATE["digest"] for v in d.values()), d
    after = sentinel_state(group)
    assert after == STATE["sentinels"], (after, STATE["sentinels"])
    assert group.wait_settled() == master


def test_backup_role_check_mode_reports_nothing(group):
    """After the restore, the backup role in check mode has nothing to do (the
    timer stays where it is: the master did not change). site.yml's own check
    mode is proven by the sentinel and default scenarios."""
    proc = playbook(os.path.join(SCENARIO, "backup_role.yml"), "--check", "--diff")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    rec = recap(out)
    assert set(rec) == set(NODES), rec
    assert all(v.get("changed", 0) == 0 and v.get("failed", 0) == 0 for v in rec.values()), out[-4000:]
    assert secret("backup") not in out
