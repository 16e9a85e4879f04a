"""The Prometheus exporter (roles/redis_exporter) and its monitor ACL user (roles/redis,
redis_monitor_enabled): hardened unit, /metrics with redis_up 1, TLS on the Debian 12 node,
least privilege, no secret on a command line or in systemd, every metric the shipped rules
use, and removal when monitoring is switched off."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import testinfra
import yaml

from redis_lab import Instance, client, container_ip, credentials_dir, main_pid, password, run_converge

testinfra_hosts = ["docker://default-debian12", "docker://default-debian13"]

HOSTS = {"default-debian12": Instance("redis"), "default-debian13": Instance("valkey")}
ALL_USERS = ("admin", "app", "replication", "sentinel", "backup", "monitor")
MONITOR_COMMANDS = {"+ping", "+info", "+client|setname", "+latency|latest", "+latency|histogram",
                    "+slowlog|get", "+slowlog|len"}
RULES = Path(__file__).resolve().parents[3] / "roles" / "redis_exporter" / "files" / "hardened-redis.rules.yml"
# Series that exist only on a master with replicas or on a replica.
REPLICATION_ONLY = {"redis_master_link_up", "redis_connected_slave_offset_bytes", "redis_connected_slave_lag_seconds"}


def _unit(inst: Instance) -> str:
    return f"{inst.engine}-exporter-{inst.name}.service"


def _metrics(host) -> str:
    with urllib.request.urlopen(f"http://{container_ip(host)}:9121/metrics", timeout=10) as resp:
        return resp.read().decode()


def _names(metrics: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", metrics, re.M)}


def _redis_cli_as_monitor(host, *command: str) -> str:
    """redis-cli on the controller, password in REDISCLI_AUTH (never on a command line)."""
    env = dict(os.environ, REDISCLI_AUTH=password("monitor"))
    proc = subprocess.run(["redis-cli", "-h", container_ip(host), "-p", "6379", "--user", "monitor",
                           "--no-auth-warning", *command],
                          env=env, capture_output=True, text=True, timeout=10, check=False)
    return proc.stdout + proc.stderr


# Label lists (by/without/on/ignoring/group_left/group_right (...)) and label
# matchers ({...}) name labels, not metrics: e.g. the rules' redis_group.
_LABELS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\{[^}]*\}")


def _rule_metric_names() -> set[str]:
    exprs = [_LABELS.sub(" ", rule["expr"]) for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    return {name for expr in exprs for name in re.findall(r"\b(redis_[a-z_]+)\b", expr)
            if not name.startswith("redis_sentinel_")}


# --- unit, process, listener -------------------------------------------------

def test_exporter_unit_runs_as_its_own_user(host, inst):
    unit = _unit(inst)
    assert host.service(unit).is_running and host.service(unit).is_enabled
    # Debian's own unit (it would listen on *:9121) is masked.
    assert host.run("systemctl is-enabled prometheus-redis-exporter.service").stdout.strip() == "masked"
    pid = int(host.check_output(f"systemctl show -p MainPID --value {unit}"))
    assert host.check_output(f"ps -o user= -p {pid}").strip() == "redis-exporter"
    status = host.file(f"/proc/{pid}/status").content_string
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    user = host.user("redis-exporter")
    assert user.shell == "/usr/sbin/nologin" and not host.file(user.home).exists


def test_exporter_listens_only_on_the_host_address(host):
    local = [line.split()[3] for line in host.check_output("ss -Htln").splitlines()]
    assert [addr for addr in local if addr.endswith(":9121")] == [f"{container_ip(host)}:9121"], local


def test_metrics_answer_with_redis_up(host):
    metrics = _metrics(host)
    assert re.search(r"^redis_up 1$", metrics, re.M), metrics[:2000]
    assert 'redis_exporter_last_scrape_error{err=""} 0' in metrics
    # No CONFIG GET: the config-derived series are absent, and nothing was refused.
    assert "redis_config_maxmemory" not in metrics
    assert not re.search(r'^redis_errors_total\{err="NOPERM"\}', metrics, re.M)


def test_every_metric_of_the_rules_is_exported(host):
    """The shipped rules use real metric names of this exporter version (1.45 or 1.69)."""
    names = _names(_metrics(host))
    wanted = _rule_metric_names() - REPLICATION_ONLY
    assert wanted and wanted <= names, sorted(wanted - names)


def test_tls_node_is_scraped_over_tls(host, inst, tls):
    """Debian 12 has TLS with client certificates: the exporter uses rediss://127.0.0.1:6380."""
    execstart = host.check_output(f"systemctl show -p ExecStart {_unit(inst)}")
    port = 6380 if tls else 6379
    assert f"-redis.addr={'rediss' if tls else 'redis'}://127.0.0.1:{port} " in execstart, execstart
    assert ("-tls-client-key-file=${CREDENTIALS_DIRECTORY}/client.key" in execstart) == tls
    # The connection of a scrape is closed by the exporter: it waits in TIME-WAIT on that port.
    _metrics(host)
    waiting = host.check_output(f"ss -Htn state time-wait '( dport = :{port} )'")
    assert "127.0.0.1:" + str(port) in waiting, waiting
    key = host.file("/etc/hardened-redis-exporter/main.client.key")
    if tls:
        assert key.user == "root" and key.mode == 0o600
    else:
        assert not key.exists


# --- secrets -------------------------------------------------------------------

def test_no_password_in_ps_or_systemd(host, inst):
    cmdlines = host.check_output("ps -eo args=")
    shown = host.check_output(f"systemctl show {_unit(inst)}")
    unit_file = host.file(f"/etc/systemd/system/{_unit(inst)}").content_string
    for user in ALL_USERS:
        secret = password(user)
        assert secret not in cmdlines, f"password of {user} in ps"
        assert secret not in shown, f"password of {user} in systemctl show"
        assert secret not in unit_file, f"password of {user} in the unit"
    assert "-redis.password-file=${CREDENTIALS_DIRECTORY}/passwords.json" in shown
    assert host.check_output(f"systemctl show -p Environment --value {_unit(inst)}").strip() == ""


def test_password_file_is_root_only(host):
    conf_dir = host.file("/etc/hardened-redis-exporter")
    assert conf_dir.user == "root" and conf_dir.mode == 0o700
    pw_file = host.file("/etc/hardened-redis-exporter/main.passwords.json")
    assert pw_file.user == "root" and pw_file.mode == 0o600
    assert password("monitor") in pw_file.content_string
    cred = credentials_dir() / "monitor"
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600 and len(password("monitor")) >= 32


# --- the monitor ACL user -------------------------------------------------------

def test_monitor_user_rights(host):
    admin = client(host, "admin", password("admin"))
    acl = admin.acl_getuser("monitor")
    commands = set(acl["commands"].split() if isinstance(acl["commands"], str) else acl["commands"])
    assert commands == MONITOR_COMMANDS, commands
    # redis-py lists the categories apart: everything else is denied.
    assert list(acl.get("categories", [])) == ["-@all"], acl
    assert not acl["keys"] and not acl["channels"], acl
    assert "on" in acl["flags"]


@pytest.mark.parametrize("command", [
    ("SET", "hardened:monitor", "1"), ("GET", "hardened:monitor"), ("FLUSHALL",),
    ("CONFIG", "SET", "maxmemory-policy", "noeviction"), ("CONFIG", "GET", "masterauth"),
    ("KEYS", "*"), ("SCAN", "0"), ("ACL", "LIST"), ("PUBLISH", "c", "m"), ("CLIENT", "LIST"),
])
def test_monitor_user_is_refused(host, command):
    out = _redis_cli_as_monitor(host, *command)
    assert "NOPERM" in out, out


@pytest.mark.parametrize("command", [
    ("SHUTDOWN",), ("REPLICAOF", "NO", "ONE"), ("BGSAVE",), ("MONITOR",), ("CLIENT", "KILL", "ID", "1"),
    ("SLOWLOG", "RESET"), ("LATENCY", "RESET"), ("SUBSCRIBE", "c"), ("DEBUG", "SLEEP", "0"),
])
def test_monitor_user_dryrun_refused(host, command):
    verdict = client(host, "admin", password("admin")).execute_command("ACL", "DRYRUN", "monitor", *command)
    assert verdict != "OK" and "no permissions" in verdict, verdict


def test_monitor_user_positive_control(host):
    assert "# Server" in _redis_cli_as_monitor(host, "INFO", "server")
    assert _redis_cli_as_monitor(host, "PING").strip() == "PONG"


# --- replication metrics, promotion, removal (both hosts together) -------------

def _hosts():
    return {name: testinfra.get_host(f"docker://{name}") for name in HOSTS}


def _wait_for_metric(host, pattern: str, what: str, timeout: float = 30) -> str:
    """Scrape until a line matches; return the whole scrape."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = _metrics(host)
        if re.search(pattern, metrics, re.M):
            return metrics
        assert time.monotonic() < deadline, f"{what}: {metrics[-1500:]}"
        time.sleep(0.5)


def test_replication_metrics_and_promotion():
    """Valkey (Debian 13) replicates Redis (Debian 12) for a moment: the replica-side and
    master-side series the rules use exist, and the role label flips on promotion."""
    hosts = _hosts()
    master, replica = hosts["default-debian12"], hosts["default-debian13"]
    r = client(replica, "admin", password("admin"))
    r.replicaof(container_ip(master), 6379)
    try:
        rep = _wait_for_metric(replica, r"^redis_master_link_up\{.*\} 1$", "replica link up")
        assert re.search(r'^redis_instance_info\{.*role="slave".*\} 1$', rep, re.M)
        mas = _wait_for_metric(master, r'^redis_connected_slave_lag_seconds\{.*slave_state="online".*\}', "online replica")
        assert re.search(r"^redis_connected_slaves 1$", mas, re.M)
        names = _names(rep) | _names(mas)
        assert REPLICATION_ONLY <= names, sorted(REPLICATION_ONLY - names)
    finally:
        r.replicaof("NO", "ONE")
        r.config_rewrite()
    rep = _wait_for_metric(replica, r'^redis_instance_info\{.*role="master".*\} 1$', "promoted")
    assert "redis_master_link_up" not in rep


def test_monitoring_off_removes_user_and_exporter_then_on_again():
    """redis_monitor_enabled false + redis_exporter_state absent: the ACL user and the unit go
    (deleted live by redis_acl, and from the aclfile); the scenario's values bring both back. Runs last in this file."""
    hosts = _hosts()
    run_converge({"redis_monitor_enabled": False, "redis_exporter_state": "absent"})
    for name, h in hosts.items():
        assert client(h, "admin", password("admin")).acl_getuser("monitor") is None, name
        unit = _unit(HOSTS[name])
        assert not h.file(f"/etc/systemd/system/{unit}").exists
        assert not h.file("/etc/hardened-redis-exporter/main.passwords.json").exists
        assert "redis-exporter" not in h.check_output("ps -eo user=")
        assert h.run("systemctl is-enabled prometheus-redis-exporter.service").stdout.strip() == "masked"
    pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}
    recap = run_converge()
    for name, h in hosts.items():
        assert client(h, "admin", password("admin")).acl_getuser("monitor") is not None, name
        assert re.search(r"^redis_up 1$", _metrics(h), re.M), name
    assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids, recap
