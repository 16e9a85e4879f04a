"""What only a virtual machine shows: the kernel settings, THP, a startup
log without the warnings the host can fix, and the unit's sandbox enforced
while Redis rewrites its config, saves, rewrites its AOF and rotates its log."""

from __future__ import annotations

import re
import time

from conftest import VM, guest
from sentinel_lab import wait_for

UNIT = "redis-hardened@main.service"
LOG = "/var/log/redis/redis-main.log"
FIXABLE = ("Memory overcommit must be enabled", "TCP backlog setting of", "Transparent Huge Pages",
           "maximum open files")


def exposure(*unit: str) -> float:
    out = guest("systemd-analyze", "security", "--no-pager", *unit)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert m, f"systemd-analyze security {unit} printed no exposure level: {out[-300:]}"
    return float(m.group(1))


def test_kernel_settings_are_applied_on_the_guest():
    assert guest("sysctl", "-n", "vm.overcommit_memory").strip() == "1"
    assert guest("sysctl", "-n", "net.core.somaxconn").strip() == "4096"
    # Kept across a reboot: written to sysctl.d, not only set live.
    conf = guest("cat", "/etc/sysctl.d/60-redis-hardened.conf")
    assert "vm.overcommit_memory" in conf and "net.core.somaxconn" in conf


def test_transparent_huge_pages_are_not_always():
    enabled = guest("cat", "/sys/kernel/mm/transparent_hugepage/enabled").strip()
    assert "[always]" not in enabled, enabled
    assert "[madvise]" in enabled, enabled


def test_startup_log_has_no_warning_the_host_can_fix():
    log = guest("cat", LOG)
    last_start = log[log.rindex("is starting"):]
    found = [w for w in FIXABLE if w in last_start]
    assert found == [], f"{VM}: startup warnings the host can fix: {found}"


def test_sandbox_is_enforced_and_no_weaker_than_debians_unit():
    # The role masks Debian's unit (so it cannot start beside ours): its file is analysed offline.
    ours, stock = exposure(UNIT), exposure("--offline=true", "/lib/systemd/system/redis-server.service")
    print(f"\n[vm] systemd-analyze security: {UNIT} {ours}, Debian's redis-server.service {stock}")
    assert ours <= stock
    # Enforced, not only written: the service sees /usr and /etc read-only and
    # /home empty in its own mount namespace.
    pid = guest("systemctl", "show", "-P", "MainPID", UNIT).strip()
    assert pid not in ("", "0")
    mounts = guest("cat", f"/proc/{pid}/mountinfo")
    ro = {line.split()[4] for line in mounts.splitlines() if " ro," in f" {line.split()[5]},"}
    assert "/usr" in ro or "/" in ro, f"no read-only system mount in the service's namespace: {sorted(ro)}"
    assert guest("nsenter", "-t", pid, "-m", "ls", "-A", "/home").strip() == ""
    assert guest("ls", "-A", "/home").strip() != "", "the guest's own /home holds hrlab"


def test_config_rewrite_bgsave_aof_rewrite_and_log_rotation_work_under_the_sandbox(group):
    node = group.node(VM, timeout=10)
    node.set("vm:sandbox", "1")
    assert node.config_rewrite()
    before = node.lastsave()
    node.bgsave()
    wait_for("BGSAVE done", lambda: node.lastsave() != before and node.info("persistence")["rdb_last_bgsave_status"] == "ok",
             120, 0.5)
    node.bgrewriteaof()

    def rewritten():
        p = node.info("persistence")
        return p["aof_rewrite_in_progress"] == 0 and p["aof_rewrite_scheduled"] == 0 and p["aof_last_bgrewrite_status"] == "ok"
    wait_for("BGREWRITEAOF done", rewritten, 120, 0.5)
    guest("logrotate", "--force", "/etc/logrotate.d/redis-hardened-main")
    time.sleep(1)
    node.config_rewrite()  # logs a line into the new file
    assert guest("systemctl", "is-active", UNIT).strip() == "active"
    assert guest("sh", "-c", f"ls {LOG}*").count("redis-main.log") >= 2, "logrotate kept no rotated file"
    assert "CONFIG REWRITE executed with success" in guest("cat", LOG)
