# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_failover when something fails during the switchover, against a
real group (1 master, 2 replicas, 3 Sentinels) with a WAIT-acknowledged
writer: the target stalled (SIGSTOP) or killed right after Sentinel selected
it, the module itself killed (with and without its watchdog), Sentinels that
do not answer, a replica at priority 0 the module did not set.

Each test has a group of its own (a fault leaves it in its own state) and
asserts counts: acknowledged writes lost (0), masters (1), replicas left at
replica-priority 0 and nodes left fenced (0), journals left (0).

down-after-milliseconds 3000: the module's default write pause is then
2700 ms, and the stall (5 s) outlasts it. failover-timeout 8000: a Sentinel
that selected a dead target gives up after 8 s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from run_module import collections_root, run_module
from sentinels import start_group
from test_sentinel_failover import Writer

FENCE = "2147483647"
JOURNAL = "hardened-redis:switchover:main"


@pytest.fixture
def group(tmp_path):
    g = start_group(tmp_path, down_after=3000, failover_timeout=8000)
    try:
        g.wait_ready()
        yield g
    finally:
        for node in g.nodes + g.sentinels:
            if node.alive():
                os.kill(node.proc.pid, signal.SIGCONT)
        g.stop()


def _args(group, target, **kwargs):
    s = group.sentinels[0]
    args = dict(login_host="127.0.0.1", login_port=s.port, login_password=group.passwords["sentinel_requirepass"],
                master_name=group.name, redis_user="switchover", redis_password=group.passwords["switchover"],
                target_host="127.0.0.1", target_port=target.port, timeout=60, connect_timeout=1)
    args.update(kwargs)
    return args


def _on_event(group, channel, action):
    """Run action() once, in a thread, when the first Sentinel publishes ``channel``."""
    client = group.sentinel_client(group.sentinels[0])
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    seen = threading.Event()

    def watch(client=client):   # the client owns the pool that pubsub's connection comes from
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = pubsub.get_message(timeout=0.05)
            if msg and msg.get("type") == "message":
                seen.set()
                action()
                break
        pubsub.close()
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return seen


def _settle(group, timeout=60):
    """Wait until every Sentinel names one master that every other live node follows."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            master = group.current_master()
            ok = group.node_client(master, socket_timeout=1).info("replication")["role"] == "master"
            for n in group.nodes:
                if n is master or not n.alive():
                    continue
                i = group.node_client(n, socket_timeout=1).info("replication")
                ok = ok and i["role"] == "slave" and int(i["master_port"]) == master.port \
                    and i["master_link_status"] == "up"
            if ok:
                return master
            last = "not settled"
        except Exception as exc:  # nodes restarting, Sentinels converging
            last = repr(exc)
        time.sleep(0.2)
    raise AssertionError("group did not settle: %s" % last)


def _left_behind(group, master):
    """(masters, nodes at replica-priority 0, fenced nodes, journal) of the live nodes, live and in their files."""
    masters, prio0, fenced = [], [], []
    for n in group.nodes:
        if not n.alive():
            continue
        c = group.node_client(n, socket_timeout=2)
        if c.info("replication")["role"] == "master":
            masters.append(n.port)
        if c.config_get("replica-priority")["replica-priority"] == "0" or "replica-priority 0" in n.read_config():
            prio0.append(n.port)
        if c.config_get("min-replicas-to-write")["min-replicas-to-write"] == FENCE or FENCE in n.read_config():
            fenced.append(n.port)
    journal = group.node_client(master).get(JOURNAL)
    return masters, prio0, fenced, journal


def _lost(group, master, writer):
    c = group.node_client(master)
    pipe = c.pipeline(transaction=False)
    for key in writer.acked:
        pipe.exists(key)
    return [k for k, there in zip(writer.acked, pipe.execute()) if not there]


def _report(what, result, writer):
    print("\n%s: %s; writer %d acked, %d errors, longest gap %.3f s; module: changed %s failed %s msg %s "
          "write_pause %s write_refused %s timeline %s"
          % (what, "", len(writer.acked), writer.errors, writer.longest_gap() or 0, result.get("changed"),
             result.get("failed"), result.get("msg"), result.get("write_pause"), result.get("write_refused"),
             result.get("timeline")))


def _wait_clean(group, timeout=60):
    """The watchdog's work is asynchronous: wait until nothing is left behind."""
    deadline = time.monotonic() + timeout
    while True:
        master = _settle(group)
        left = _left_behind(group, master)
        if (len(left[0]), left[1], left[2], left[3]) == (1, [], [], None) or time.monotonic() > deadline:
            return master, left
        time.sleep(0.5)


def test_target_stalled_mid_switchover_loses_no_acknowledged_write(group):
    old = group.current_master()
    target = group.replicas[0]

    def stall():
        os.kill(target.proc.pid, signal.SIGSTOP)
        time.sleep(5)
        os.kill(target.proc.pid, signal.SIGCONT)
    writer = Writer(group)
    writer.start()
    try:
        time.sleep(1.0)
        seen = _on_event(group, "+selected-slave", stall)
        result = run_module("sentinel_failover", _args(group, target), timeout=120)
        assert seen.wait(10), "Sentinel never selected the target"
        master, left = _wait_clean(group)
        time.sleep(1.0)
    finally:
        writer.stop()
    _report("target stalled", result, writer)
    assert "Traceback" not in result.stderr, result.stderr
    masters, prio0, fenced, journal = left
    assert _lost(group, master, writer) == []
    assert masters == [master.port]
    assert (prio0, fenced, journal) == ([], [], None)
    assert len(writer.acked) > 0
    # either Sentinel promoted the target after it woke, or it gave up and the old master stayed
    if result.get("failed"):
        assert "aborted" in result["msg"] or "did not catch up" in result["msg"], result["msg"]
        assert master is old and result["changed"] is False
    else:
        assert master is target and result["changed"] is True
    assert result["write_pause"] <= 2.7


def test_target_killed_mid_switchover_aborts_and_restores(group):
    old = group.current_master()
    target, other = group.replicas
    writer = Writer(group)
    writer.start()
    try:
        time.sleep(1.0)
        seen = _on_event(group, "+selected-slave", lambda: os.kill(target.proc.pid, signal.SIGKILL))
        result = run_module("sentinel_failover", _args(group, target), timeout=120)
        assert seen.wait(10), result
        time.sleep(1.0)
        acked_after = len(writer.acked)
        time.sleep(1.0)
        master, left = _wait_clean(group)
    finally:
        writer.stop()
    _report("target killed", result, writer)
    assert result["failed"] is True and "aborted" in result["msg"], result["msg"]
    assert result["changed"] is False
    assert result["new_master"] == result["old_master"] == "127.0.0.1:%d" % old.port
    assert master is old
    masters, prio0, fenced, journal = left
    assert masters == [old.port] and (prio0, fenced, journal) == ([], [], None)
    assert _lost(group, master, writer) == []
    # writes go on at the old master once the module gave up
    assert len(writer.acked) > acked_after
    for secret in group.passwords.values():
        assert secret not in result.stdout + result.stderr


def _start_module(args):
    fd, path = tempfile.mkstemp(prefix="module-args-", suffix=".json")
    module_args = dict(args, _ansible_check_mode=False, _ansible_diff=False,
                       _ansible_remote_tmp=tempfile.gettempdir(), _ansible_keep_remote_files=False)
    with os.fdopen(fd, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": module_args}, f)
    env = dict(os.environ, PYTHONPATH=collections_root())
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.hardened.redis.plugins.modules.sentinel_failover",
                             path], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, path


def _module_processes(path):
    """PIDs of the module and its watchdog (same command line: the args file)."""
    out = subprocess.run(["pgrep", "-f", path], stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout
    return [int(x) for x in out.split()]


def test_module_killed_mid_switchover_is_undone_by_its_watchdog(group):
    target = group.replicas[0]
    writer = Writer(group)
    writer.start()
    proc, path = _start_module(_args(group, target))
    try:
        time.sleep(1.0)
        seen = _on_event(group, "+selected-slave", lambda: proc.send_signal(signal.SIGKILL))
        proc.wait(60)
        assert seen.wait(10)
        master, left = _wait_clean(group)
        time.sleep(1.0)
    finally:
        writer.stop()
        os.unlink(path)
    _report("module killed, watchdog", {}, writer)
    masters, prio0, fenced, journal = left
    assert masters == [master.port] and (prio0, fenced, journal) == ([], [], None)
    assert _lost(group, master, writer) == []
    assert _module_processes(path) == []


def test_module_and_watchdog_killed_next_run_restores(group):
    old = group.current_master()
    target, other = group.replicas
    writer = Writer(group)
    writer.start()
    try:
        time.sleep(1.0)
        proc, path = _start_module(_args(group, target))
        # kill everything of the run once it has made the other replica ineligible
        deadline = time.monotonic() + 30
        while group.node_client(other).config_get("replica-priority")["replica-priority"] != "0":
            assert time.monotonic() < deadline and proc.poll() is None, "priority never set"
            time.sleep(0.01)
        for pid in _module_processes(path):
            os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        os.unlink(path)
        # half-changed: the other replica cannot be promoted, and the journal says so
        assert group.node_client(other).config_get("replica-priority")["replica-priority"] == "0"
        assert group.node_client(old).get(JOURNAL) is not None
        result = run_module("sentinel_failover", _args(group, target), timeout=120)
        master, left = _wait_clean(group)
        time.sleep(1.0)
    finally:
        writer.stop()
    _report("module and watchdog killed, rerun", result, writer)
    assert result.get("failed") is not True, result
    assert any("replica-priority 100 restored on 127.0.0.1:%d" % other.port in r for r in result["recovered"])
    assert result["changed"] is True and master is target
    masters, prio0, fenced, journal = left
    assert masters == [target.port] and (prio0, fenced, journal) == ([], [], None)
    assert _lost(group, master, writer) == []


def test_refuses_without_a_majority_of_sentinels_and_names_each(group):
    master = group.current_master()
    target = group.replicas[0]
    stopped = group.sentinels[1:]
    for s in stopped:
        os.kill(s.proc.pid, signal.SIGSTOP)
    try:
        result = run_module("sentinel_failover", _args(group, target), timeout=60)
    finally:
        for s in stopped:
            os.kill(s.proc.pid, signal.SIGCONT)
    assert result["failed"] is True and result["changed"] is False
    assert "no agreed master" in result["msg"]
    for s in stopped:
        assert "127.0.0.1:%d did not answer" % s.port in result["msg"]
    assert "127.0.0.1:%d names 127.0.0.1:%d" % (group.sentinels[0].port, master.port) in result["msg"]
    assert group.node_client(master).get(JOURNAL) is None
    assert all(group.node_client(n).config_get("replica-priority")["replica-priority"] == "100" for n in group.nodes)


def test_names_a_replica_at_priority_0_it_did_not_set(group):
    target, other = group.replicas
    group.node_client(other).config_set("replica-priority", 0)
    try:
        result = run_module("sentinel_failover", _args(group, target), timeout=120)
        assert result.get("failed") is not True, result
        # warnings are structured (ansible-core 2.19): look in their text
        assert "127.0.0.1:%d has replica-priority 0, which this module did not set" % other.port \
            in json.dumps(result.get("warnings")), result
        # the default pause: 9/10 of down-after (3000 ms)
        assert 0 < result["write_pause"] <= 2.7
        # what the module did not set, it leaves alone
        assert group.node_client(other).config_get("replica-priority")["replica-priority"] == "0"
    finally:
        group.node_client(other).config_set("replica-priority", 100)
