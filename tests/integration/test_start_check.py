# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data node's start check (roles/redis/files/hardened-redis-start.py, the
unit's ExecStartPre) against a real Sentinel group on loopback.

The script runs as systemd runs it: its own process, laid out as the role
ships it (the script with _sentinel.py, _values.py and _standalone.py beside it), without
Ansible importable, reading a JSON file that holds the Sentinel password.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sentinels import start_group
from servers import HOST, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "redis", "files", "hardened-redis-start.py")
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    g = start_group(tmp_path_factory.mktemp("start-check"), down_after=1000, failover_timeout=10000)
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """The script and the two module_utils files it loads, as the role lays them out on a host."""
    d = tmp_path_factory.mktemp("lib")
    shutil.copy(SCRIPT, str(d / "hardened-redis-start.py"))
    for name in ("_sentinel.py", "_values.py", "_standalone.py"):
        shutil.copy(os.path.join(MODULE_UTILS, name), str(d / name))
    return d


def run_check(lib, tmp_path, group, node, sentinels=None, password=None, previous=None):
    conf = {
        "master_name": group.name,
        "sentinels": sentinels if sentinels is not None else [{"host": HOST, "port": s.port} for s in group.sentinels],
        "username": "",
        "password": password or group.passwords["sentinel_requirepass"],
        "timeout": 1,
        "config_file": node.config_file,
        "own_addresses": [HOST],
        "port": node.port,
    }
    if previous is not None:
        conf["previous_password"] = previous
    path = tmp_path / "start.json"
    path.write_text(json.dumps(conf))
    os.chmod(str(path), 0o600)
    # No Ansible on a managed host: the script must not need it.
    code = ("import runpy, sys; sys.modules['ansible'] = None; sys.argv = sys.argv[1:];"
            " runpy.run_path(sys.argv[0], run_name='__main__')")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(lib / "hardened-redis-start.py"), str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert conf["password"] not in proc.stdout + proc.stderr
    assert not previous or previous not in proc.stdout + proc.stderr
    return proc.stdout + proc.stderr, time.monotonic() - started


def replicaof_lines(node):
    return [line for line in node.read_config().splitlines() if line.split()[:1] in (["replicaof"], ["slaveof"])]


def test_a_replica_stays_a_replica_of_the_named_master(group, lib, tmp_path):
    replica = group.replicas[0]
    before = replica.read_config()
    out = run_check(lib, tmp_path, group, replica)[0]
    assert "starting as a replica of %s:%d" % (HOST, group.master.port) in out
    assert "already says so" in out, out
    assert replica.read_config() == before


def test_the_named_master_starts_as_configured(group, lib, tmp_path):
    before = group.master.read_config()
    out = run_check(lib, tmp_path, group, group.master)[0]
    assert "this node is the master the Sentinels name" in out, out
    assert group.master.read_config() == before


def test_no_sentinel_reachable_starts_as_configured(group, lib, tmp_path):
    before = group.master.read_config()
    dead = [{"host": HOST, "port": port} for port in (free_port(), free_port(), free_port())]
    out, took = run_check(lib, tmp_path, group, group.master, sentinels=dead)
    assert "no agreed master" in out and "did not answer" in out, out
    assert group.master.read_config() == before
    assert took < 15, "the check must not hold the start for long"


def test_a_minority_is_not_enough(group, lib, tmp_path):
    replica = group.replicas[1]
    text = replica.read_config()
    # A config that names another master: one Sentinel of three must not change it.
    elsewhere = "".join(line for line in text.splitlines(True) if line.split()[:1] != ["replicaof"])
    elsewhere += "replicaof %s %d\n" % (HOST, free_port())
    with open(replica.config_file, "w") as f:
        f.write(elsewhere)
    try:
        one = [{"host": HOST, "port": group.sentinels[0].port}] + [{"host": HOST, "port": port} for port in (free_port(), free_port())]
        out = run_check(lib, tmp_path, group, replica, sentinels=one)[0]
        assert "no agreed master" in out, out
        assert replica.read_config() == elsewhere
        # With every Sentinel it is pointed at the master they name.
        out = run_check(lib, tmp_path, group, replica)[0]
        assert "replicaof written" in out, out
        assert replicaof_lines(replica) == ["replicaof %s %d" % (HOST, group.master.port)]
    finally:
        with open(replica.config_file, "w") as f:
            f.write(text)


def test_a_wrong_password_changes_nothing(group, lib, tmp_path):
    before = group.master.read_config()
    out = run_check(lib, tmp_path, group, group.master, password="not-the-password")[0]
    assert "no agreed master" in out, out
    assert group.master.read_config() == before


def test_during_a_rotation_the_previous_password_is_tried(group, lib, tmp_path):
    """The data nodes get the new client password before the Sentinels know it (site.yml's order):
    the check falls back to the previous one, at once (no retry with backoff of the refused login)."""
    right = group.passwords["sentinel_requirepass"]
    out, took = run_check(lib, tmp_path, group, group.master, password="new-not-known-yet", previous=right)
    assert "this node is the master the Sentinels name" in out, out
    assert took < 5, took
    out = run_check(lib, tmp_path, group, group.master, password="new-not-known-yet", previous="wrong-too")[0]
    assert "no agreed master" in out, out


def test_a_killed_master_comes_back_as_a_replica_of_the_new_one(group, lib, tmp_path):
    old = group.master
    assert replicaof_lines(old) == []
    old.proc.send_signal(signal.SIGKILL)
    old.proc.wait(10)
    deadline = time.monotonic() + 30
    new = None
    while time.monotonic() < deadline:
        try:
            named = {group.sentinel_master_addr(s) for s in group.sentinels}
            if len(named) == 1 and named != {(HOST, old.port)}:
                new = group.node_by_port(named.pop()[1])
                break
        except Exception:
            pass
        time.sleep(0.1)
    assert new is not None, "no failover"
    out = run_check(lib, tmp_path, group, old)[0]
    assert "replicaof written to %s" % old.config_file in out, out
    assert replicaof_lines(old) == ["replicaof %s %d" % (HOST, new.port)]
    old.start()
    # Its first answer already says replica: it never served as a master.
    info = group.node_client(old).info("replication")
    assert info["role"] == "slave" and int(info["master_port"]) == new.port, info
    group.master, group.replicas = new, [n for n in group.nodes if n is not new]
    group.wait_ready(timeout=30)
    # A second check changes nothing (idempotent).
    before = old.read_config()
    out = run_check(lib, tmp_path, group, old)[0]
    assert "already says so" in out, out
    assert old.read_config() == before
