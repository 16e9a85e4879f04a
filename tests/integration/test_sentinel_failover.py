# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_failover against a real group (1 master, 2 replicas, 3 Sentinels, ACL users)
with a Sentinel-aware writer that counts every acknowledged write.

down-after-milliseconds is 6000 here, not 1000: the module refuses a write
pause that is not below it (see the module's pause_timeout), and the tests
use pause_timeout 4000.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest
import redis
from redis.sentinel import Sentinel

from run_module import run_module
from sentinels import start_group

PAUSE_MS = 4000


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    g = start_group(tmp_path_factory.mktemp("sentinel-failover"), down_after=6000, failover_timeout=20000)
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


def _args(group, **kwargs):
    s = group.sentinels[0]
    args = dict(login_host="127.0.0.1", login_port=s.port, login_password=group.passwords["sentinel_requirepass"],
                master_name=group.name, redis_user="switchover", redis_password=group.passwords["switchover"],
                pause_timeout=PAUSE_MS, timeout=60)
    args.update(kwargs)
    return args


def _no_secret(result, group):
    for secret in group.passwords.values():
        assert secret not in result.stdout and secret not in result.stderr


def _priority(group, node):
    return group.node_client(node).config_get("replica-priority")["replica-priority"]


def _assert_group_follows(group, master):
    """Every Sentinel names master; every other node replicates from it with its link up."""
    for s in group.sentinels:
        assert group.sentinel_master_addr(s) == ("127.0.0.1", master.port)
    assert group.node_client(master).info("replication")["role"] == "master"
    for node in group.nodes:
        if node is master:
            continue
        info = group.node_client(node).info("replication")
        assert info["role"] == "slave"
        assert int(info["master_port"]) == master.port
        assert info["master_link_status"] == "up"


class Writer(threading.Thread):
    """Writes k<n> through a Sentinel-aware client, each write followed by
    WAIT 1 on the same connection; remembers every acknowledged key."""

    def __init__(self, group):
        threading.Thread.__init__(self, daemon=True)
        pw = group.passwords
        self.sentinel = Sentinel([("127.0.0.1", s.port) for s in group.sentinels],
                                 sentinel_kwargs=dict(password=pw["sentinel_requirepass"], socket_timeout=1),
                                 socket_timeout=2, socket_connect_timeout=1)
        self.client = self.sentinel.master_for(group.name, username="app", password=pw["app"],
                                               socket_timeout=2, socket_connect_timeout=1)
        self.acked = []
        self.acked_at = []
        self.errors = 0
        self.unacked = 0
        self.stop_flag = threading.Event()

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            key = "k%d" % n
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.set(key, n)
                pipe.execute_command("WAIT", 1, 1000)   # below the 2 s socket timeout
                ok, replicas = pipe.execute()
                if ok and int(replicas) >= 1:
                    self.acked.append(key)
                    self.acked_at.append(time.monotonic())
                else:
                    self.unacked += 1
            except (redis.exceptions.RedisError, OSError):
                self.errors += 1
                time.sleep(0.05)
            time.sleep(0.005)

    def longest_gap(self):
        """Longest time between two acknowledged writes (printed, never asserted)."""
        gaps = [b - a for a, b in zip(self.acked_at, self.acked_at[1:])]
        return max(gaps) if gaps else None

    def stop(self):
        self.stop_flag.set()
        self.join(10)


def test_refusals_change_nothing(group):
    master = group.current_master()
    unknown = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=1))
    assert unknown["failed"] is True and "not a replica" in unknown["msg"]
    too_long = run_module("sentinel_failover", _args(group, target_host="127.0.0.1",
                                                     target_port=group.replicas[0].port, pause_timeout=6000))
    assert too_long["failed"] is True and "down-after-milliseconds" in too_long["msg"]
    nowhere = run_module("sentinel_failover", _args(group, avoid_host="127.0.0.1"))
    assert nowhere["failed"] is True and "no eligible replica" in nowhere["msg"]
    both = run_module("sentinel_failover", _args(group, avoid_host="127.0.0.1", target_host="127.0.0.1"))
    assert both["failed"] is True and "mutually exclusive" in both["msg"]
    for r in (unknown, too_long, nowhere):
        _no_secret(r, group)
    assert group.current_master() is master
    assert all(_priority(group, n) == "100" for n in group.nodes)


def test_already_master_is_unchanged(group):
    master = group.current_master()
    same = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=master.port))
    assert same.get("failed") is not True, same
    assert same["changed"] is False and same["write_pause"] == 0
    assert same["old_master"] == same["new_master"] == "127.0.0.1:%d" % master.port
    elsewhere = run_module("sentinel_failover", _args(group, avoid_host="127.0.0.2"))
    assert elsewhere["changed"] is False


def test_target_not_in_sync_fails_unpauses_and_restores(group):
    master = group.current_master()
    target, other = [n for n in group.nodes if n is not master]
    tc = group.node_client(target)
    # The replica's own write pause also stalls its replication stream (verified on 7.0),
    # so the target stays behind the master.
    tc.execute_command("CLIENT", "PAUSE", 40000, "WRITE")
    try:
        group.node_client(master).set("behind", 1)
        result = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=target.port),
                            timeout=90)
    finally:
        tc.execute_command("CLIENT", "UNPAUSE")
    assert result["failed"] is True, result
    assert "did not catch up" in result["msg"], result["msg"]
    assert result["priorities_changed"] == ["127.0.0.1:%d" % other.port]
    assert 0 < result["write_pause"] <= PAUSE_MS / 1000.0
    _no_secret(result, group)
    # the old master keeps serving, unpaused, and nothing stays changed
    # (still paused, the write would block for the rest of pause_timeout and time out)
    assert group.node_client(master, socket_timeout=1).set("after-failure", 1) is True
    assert _priority(group, other) == "100"
    assert "replica-priority 0" not in other.read_config()
    assert group.current_master() is master
    group.wait_ready()


def test_switchover_loses_no_acknowledged_write(group):
    group.wait_ready()
    old = group.current_master()
    target, other = [n for n in group.nodes if n is not old]
    writer = Writer(group)
    writer.start()
    try:
        time.sleep(1.0)
        acked_before = len(writer.acked)
        checked = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=target.port),
                             check=True)
        assert checked.get("failed") is not True, checked
        assert checked["changed"] is True and checked["new_master"] == "127.0.0.1:%d" % target.port
        assert checked["write_pause"] == 0
        assert group.current_master() is old

        result = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=target.port))
        time.sleep(1.5)
    finally:
        writer.stop()
    assert result.get("failed") is not True, result
    _no_secret(result, group)
    print("\nswitchover: timeline %s\nswitchover: elapsed %.3f s, write_pause %.3f s, diverged_bytes %s; writer: %d acked, %d errors, "
          "%d unacked, longest gap between acknowledged writes %.3f s"
          % (result.get("timeline"), result["elapsed"], result["write_pause"], result.get("diverged_bytes"), len(writer.acked),
             writer.errors, writer.unacked, writer.longest_gap()))
    assert result["changed"] is True
    assert result["old_master"] == "127.0.0.1:%d" % old.port
    assert result["new_master"] == "127.0.0.1:%d" % target.port
    assert result["priorities_changed"] == ["127.0.0.1:%d" % other.port]
    assert 0 < result["write_pause"] <= PAUSE_MS / 1000.0
    assert result["diverged_bytes"] == 0
    assert acked_before > 0 and len(writer.acked) > acked_before

    _assert_group_follows(group, target)
    new = group.node_client(target)
    pipe = new.pipeline(transaction=False)
    for key in writer.acked:
        pipe.exists(key)
    missing = [k for k, there in zip(writer.acked, pipe.execute()) if not there]
    assert missing == [], "%d acknowledged keys lost" % len(missing)
    # the temporary priority is gone, live and in the file Sentinel rewrote
    assert _priority(group, other) == "100"
    assert "replica-priority 0" not in other.read_config()
    # the old master stays a replica after a restart
    assert "replicaof 127.0.0.1 %d" % target.port in old.read_config()

    again = run_module("sentinel_failover", _args(group, target_host="127.0.0.1", target_port=target.port))
    assert again.get("failed") is not True, again
    assert again["changed"] is False and again["write_pause"] == 0


def test_avoid_host_moves_the_master_away(group):
    group.wait_ready()
    current = group.current_master()
    result = run_module("sentinel_failover", _args(group, avoid_host="127.0.0.1", avoid_port=current.port))
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["old_master"] == "127.0.0.1:%d" % current.port
    new = group.current_master()
    assert new is not current
    assert result["new_master"] == "127.0.0.1:%d" % new.port
    _assert_group_follows(group, new)
    assert all(_priority(group, n) == "100" for n in group.nodes)
    again = run_module("sentinel_failover", _args(group, avoid_host="127.0.0.1", avoid_port=current.port))
    assert again.get("failed") is not True, again
    assert again["changed"] is False
