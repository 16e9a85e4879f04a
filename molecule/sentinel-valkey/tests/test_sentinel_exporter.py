"""The Sentinels watched: each Sentinel's exporter (roles/redis_exporter, entry point sentinel,
enabled by redis_sentinel_monitor_enabled) and its Sentinel ACL user (roles/redis_sentinel).

Runs in the sentinel-valkey scenario (Valkey Sentinel 8.1, prometheus-redis-exporter 1.69 on
Debian 13) beside the sentinel scenario's tests, on the converged group:
  1. every Sentinel's /metrics (port 9355) names the group's master, the one the Sentinels
     agree on, with 2 replicas and 3 Sentinels (itself included), all ok, CKQUORUM ok, no TILT,
     and every redis_sentinel_* series the shipped rules use is there;
  2. no scrape is refused: a scrape adds no refusal of the monitor user to the Sentinel's ACL LOG;
  3. the monitor user has exactly the commands a scrape sends and is refused everything else
     (SENTINEL SET / FAILOVER / RESET / REMOVE / CONFIG SET, ACL, SHUTDOWN, SUBSCRIBE);
  4. its password is in no command line, unit or environment; the credential file is root-only.
"""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml

from sentinel_lab import MASTER_NAME, Group, secret

SCENARIO_NAME = os.environ.get("MOLECULE_SCENARIO_NAME", "sentinel-valkey")
NODES = [f"{SCENARIO_NAME}-node{i}" for i in (1, 2, 3)]
ENGINE = os.environ.get("HARDENED_REDIS_ENGINE", "valkey")
PORT = 9355
UNIT = f"{ENGINE}-sentinel-exporter-main.service"
MONITOR_COMMANDS = {"+info", "+client|setname", "+sentinel|masters", "+sentinel|sentinels", "+sentinel|slaves",
                    "+sentinel|ckquorum"}
RULES = Path(__file__).resolve().parents[3] / "roles" / "redis_exporter" / "files" / "hardened-redis.rules.yml"


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES, engine=ENGINE)


def _metrics(group: Group, name: str) -> str:
    with urllib.request.urlopen(f"http://{group.ip[name]}:{PORT}/metrics", timeout=10) as resp:
        return resp.read().decode()


def _series(metrics: str, name: str) -> list[tuple[dict, float]]:
    """(labels, value) of every sample of ``name``."""
    out = []
    for m in re.finditer(rf"^{name}(?:\{{(.*?)\}})? (\S+)$", metrics, re.M):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        out.append((labels, float(m.group(2))))
    return out


def _one(metrics: str, name: str, **labels) -> float:
    found = [v for lab, v in _series(metrics, name) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found}\n{metrics[-2000:]}"
    return found[0]


def _monitor(group: Group, name: str) -> redis.Redis:
    # driver_info=None: no CLIENT SETINFO on connect, only the commands of the test.
    return redis.Redis(host=group.ip[name], port=group.sentinel_port, username="monitor",
                       password=secret("sentinel-monitor"), protocol=2, socket_timeout=3, socket_connect_timeout=3,
                       decode_responses=True, driver_info=None)


def _monitor_log_entries(group: Group, name: str) -> list[dict]:
    return [e for e in group.sentinel(name).acl_log(count=128) if e.get("username") == "monitor"]


def test_01_every_sentinel_exports_the_group(group):
    master = group.wait_settled()
    master_address = f"{group.ip[master]}:{group.data_port}"
    addresses = set()
    for name in NODES:
        metrics = _metrics(group, name)
        assert re.search(r"^redis_up 1$", metrics, re.M), metrics[:2000]
        assert 'redis_exporter_last_scrape_error{err=""} 0' in metrics
        assert _one(metrics, "redis_sentinel_masters") == 1
        assert _one(metrics, "redis_sentinel_tilt") == 0
        status = _series(metrics, "redis_sentinel_master_status")
        assert len(status) == 1, status
        labels, value = status[0]
        assert (labels["master_name"], labels["master_status"], value) == (MASTER_NAME, "ok", 1), status
        addresses.add(labels["master_address"])
        where = {"master_name": MASTER_NAME, "master_address": master_address}
        assert _one(metrics, "redis_sentinel_master_slaves", **where) == 2
        assert _one(metrics, "redis_sentinel_master_ok_slaves", **where) == 2
        # INFO sentinel's "sentinels" counts this Sentinel too.
        assert _one(metrics, "redis_sentinel_master_sentinels", **where) == 3
        assert _one(metrics, "redis_sentinel_master_ok_sentinels", **where) == 3
        assert _one(metrics, "redis_sentinel_master_ckquorum_status", master_name=MASTER_NAME) == 1
    # What RedisSentinelsDisagreeOnMaster counts: one address, the agreed master's.
    assert addresses == {master_address}, addresses


def test_02_every_sentinel_metric_of_the_rules_is_exported(group):
    exprs = [rule["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for rule in g["rules"]]
    wanted = {n for e in exprs for n in re.findall(r"\b(redis_sentinel_[a-z_]+)\b", e)}
    names = {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", _metrics(group, NODES[0]), re.M)}
    assert wanted and wanted <= names, sorted(wanted - names)


def test_03_no_scrape_is_refused(group):
    """A scrape sends only what the monitor user may run: the ACL LOG counts no new refusal."""
    for name in NODES:
        before = sum(int(e["count"]) for e in _monitor_log_entries(group, name))
        for _scrape in range(2):
            assert re.search(r"^redis_up 1$", _metrics(group, name), re.M)
        assert sum(int(e["count"]) for e in _monitor_log_entries(group, name)) == before, _monitor_log_entries(group, name)


def test_04_monitor_user_rights(group):
    for name in NODES:
        acl = group.sentinel(name).acl_getuser("monitor")
        commands = set(acl["commands"].split() if isinstance(acl["commands"], str) else acl["commands"])
        assert commands == MONITOR_COMMANDS, (name, commands)
        assert list(acl.get("categories", [])) == ["-@all"], acl
        assert not acl["channels"] and "on" in acl["flags"], acl


@pytest.mark.parametrize("command", [
    ("SENTINEL", "SET", MASTER_NAME, "quorum", "1"),
    ("SENTINEL", "FAILOVER", MASTER_NAME),
    ("SENTINEL", "RESET", "*"),
    ("SENTINEL", "REMOVE", MASTER_NAME),
    ("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes"),
    ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME),
    ("ACL", "LIST"),
    ("SHUTDOWN",),
    ("SUBSCRIBE", "+switch-master"),
    ("PING",),
])
def test_05_monitor_user_is_refused(group, command):
    def refusals() -> int:
        # ACL LOG folds a repeated refusal into one entry and counts it.
        return sum(int(e["count"]) for e in _monitor_log_entries(group, NODES[0]))
    before = refusals()
    with pytest.raises(redis.exceptions.NoPermissionError):
        _monitor(group, NODES[0]).execute_command(*command)
    # Refused by the ACL (one more refusal logged), not by anything else.
    assert refusals() == before + 1


def test_06_monitor_user_positive_control(group):
    monitor = _monitor(group, NODES[0])
    assert "sentinel_masters" in monitor.execute_command("INFO", "sentinel")
    masters = monitor.execute_command("SENTINEL", "MASTERS")
    assert len(masters) == 1
    assert str(monitor.execute_command("SENTINEL", "CKQUORUM", MASTER_NAME)).startswith("OK 3 usable Sentinels")
    # Nothing the refusals above asked for happened.
    record = group.master_record(NODES[0])
    assert record["quorum"] == "2" and record["num-slaves"] == "2" and record["num-other-sentinels"] == "2", record


def test_07_no_password_in_ps_or_systemd(group):
    password = secret("sentinel-monitor")
    for name in NODES:
        assert password not in group.docker(name, "ps", "-eo", "args=")
        shown = group.docker(name, "systemctl", "show", UNIT)
        assert password not in shown and "ActiveState=active" in shown and "User=redis-exporter" in shown
        assert "-redis.password-file=${CREDENTIALS_DIRECTORY}/passwords.json" in shown
        assert "-redis.addr=redis://127.0.0.1:26379 " in shown
        assert group.docker(name, "systemctl", "show", "-p", "Environment", "--value", UNIT).strip() == ""
        assert password not in group.docker(name, "cat", f"/etc/systemd/system/{UNIT}")
        stat = group.docker(name, "stat", "-c", "%U %a", "/etc/hardened-redis-exporter/sentinel-main.passwords.json")
        assert stat.split() == ["root", "600"], stat
