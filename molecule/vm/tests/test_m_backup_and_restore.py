"""A scheduled backup and a restore on the guest, each under a sandbox the
guest enforces: the backup unit (ProtectSystem=strict, writes only to the
backup directory, no capabilities) writes and verifies a backup of the guest,
which is the master; then restore.yml puts that backup back onto it (the
server's unit stopped and started under its own sandbox, its files replaced)
and the replicas resync from it. Runs before the power cut (tests/test_zz_*)."""

from __future__ import annotations

import json

from conftest import NODES, VM, guest
from sentinel_lab import run_playbook, secret, wait_for

BACKUP_UNIT = "redis-backup-main"
DEST = "/var/backups/redis"


def test_scheduled_backup_then_restore_on_the_guest(group):
    master = group.wait_settled(120)
    assert master == VM, f"the guest is the master before the power cut, found {master}"
    node = group.node(VM, timeout=10)
    node.set("vm:restore", "in the backup")
    assert int(node.execute_command("WAIT", 2, 5000)) == 2

    assert guest("systemctl", "is-enabled", f"{BACKUP_UNIT}.timer").strip() == "enabled"
    guest("systemctl", "start", f"{BACKUP_UNIT}.service")
    assert guest("systemctl", "show", "-p", "Result", "--value", f"{BACKUP_UNIT}.service").strip() == "success"
    backups = [f for f in guest("ls", DEST).split() if f.endswith(".rdb.gz")]
    assert len(backups) == 1, backups
    path = f"{DEST}/{backups[0]}"
    manifest = json.loads(guest("cat", f"{path}.json"))
    assert manifest["verified"] is True and manifest["role"] == "master", manifest
    assert guest("sha256sum", path).split()[0] == manifest["sha256"]
    assert secret("backup") not in guest("journalctl", "-u", f"{BACKUP_UNIT}.service", "--no-pager")

    node.set("vm:restore", "written after the backup")
    node.set("vm:after", "1")
    assert int(node.execute_command("WAIT", 2, 5000)) == 2
    pid_before = guest("systemctl", "show", "-P", "MainPID", "redis-hardened@main.service").strip()

    run = run_playbook("hardened.redis.restore", "-e", f"src={path}", "-e", "src_remote=true", "-e", "confirm=yes")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    assert secret("admin") not in out and secret("sentinel-admin") not in out
    print("\n[vm] " + " ".join(line.strip() for line in out.splitlines() if "Restored " in line)[:400])

    assert guest("systemctl", "show", "-P", "MainPID", "redis-hardened@main.service").strip() != pid_before, \
        "the restore did not restart the guest's server"
    assert group.wait_settled(120) == VM, "the restore moved the master"

    def restored_everywhere():
        values = {n: (group.node(n).get("vm:restore"), group.node(n).exists("vm:after")) for n in NODES}
        return all(v == ("in the backup", 0) for v in values.values()) or f"{values}"
    wait_for("the backup's data on every node", restored_everywhere, 120, 0.5)
    assert group.masters() == [VM]
