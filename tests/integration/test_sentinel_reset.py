# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_reset against real groups (1 master, 2 replicas, 3 Sentinels on
loopback): one replica and one Sentinel are stopped, as remove_node does,
and the two Sentinels that stay must forget them, one at a time.

Counted, never timed: SENTINEL RESETs (each Sentinel publishes
+reset-master), Sentinels caught in their just-reset state (no quorum, or
fewer Sentinels known than stay) when another one is reset (0), acknowledged
writes lost (0), failovers (config epoch unchanged), what each Sentinel
knows afterwards (exactly the replica and the Sentinel that stay).

Faults: the Sentinel being reset stalls (SIGSTOP), or the next one is killed,
right after the first SENTINEL RESET: the module stops with a message that
names what is missing, the other Sentinel is not reset; after SIGCONT (or a
restart) a rerun completes and does not reset the first one again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import threading
import time

import pytest

from run_module import run_module
from sentinels import _pairs, start_group
from servers import HOST
from test_sentinel_failover import Writer


@pytest.fixture
def group(tmp_path):
    g = start_group(tmp_path, failover_timeout=10000)
    try:
        g.wait_ready()
        yield g
    finally:
        for proc in g.nodes + g.sentinels:
            if proc.alive():
                os.kill(proc.proc.pid, signal.SIGCONT)
        g.stop()


def _addr(proc):
    return "%s:%d" % (HOST, proc.port)


def _args(group, **kwargs):
    s = group.sentinels[0]
    args = dict(login_host=HOST, login_port=s.port, login_password=group.passwords["sentinel_requirepass"],
                master_name=group.name, remaining_sentinels=2, timeout=30, connect_timeout=1)
    args.update(kwargs)
    return args


def _no_secret(result, group):
    for secret in group.passwords.values():
        assert secret not in result.stdout and secret not in result.stderr


def _master(group, sentinel):
    return _pairs(group.sentinel_client(sentinel).execute_command("SENTINEL", "MASTER", group.name))


def _knows(group, sentinel):
    """(sorted replica addresses, sorted Sentinel addresses) one Sentinel knows."""
    c = group.sentinel_client(sentinel)
    reps = sorted("%s:%s" % (r["ip"], r["port"]) for r in map(_pairs, c.execute_command("SENTINEL", "REPLICAS", group.name)))
    sents = sorted("%s:%s" % (s["ip"], s["port"]) for s in map(_pairs, c.execute_command("SENTINEL", "SENTINELS", group.name)))
    return reps, sents


class Resets(object):
    """Counts +reset-master per Sentinel; at each one, checks that every other
    Sentinel of ``kept`` is not itself in a just-reset state (CKQUORUM OK and
    it knows every other Sentinel that stays). ``on_first`` runs once, at the
    first reset, in the listening thread."""

    def __init__(self, group, kept, on_first=None):
        self.group = group
        self.kept = list(kept)
        self.count = dict((s.port, 0) for s in kept)
        self.overlaps = []
        self.on_first = on_first
        self._stop = threading.Event()
        self._threads = []
        for s in self.kept:
            pubsub = group.sentinel_client(s).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe("+reset-master")
            t = threading.Thread(target=self._listen, args=(s, pubsub), daemon=True)
            t.start()
            self._threads.append(t)

    def _listen(self, sentinel, pubsub):
        while not self._stop.is_set():
            try:
                msg = pubsub.get_message(timeout=0.05)
            except Exception:  # this Sentinel was killed or stalled: nothing more to count here
                return
            if not msg or msg.get("type") != "message":
                continue
            first = sum(self.count.values()) == 0
            self.count[sentinel.port] += 1
            if first and self.on_first:
                self.on_first(sentinel)
                continue
            for other in self.kept:
                if other is sentinel or not other.alive():
                    continue
                try:
                    c = self.group.sentinel_client(other, socket_timeout=1)
                    ck = c.execute_command("SENTINEL", "CKQUORUM", self.group.name)
                    others = int(_master(self.group, other)["num-other-sentinels"])
                    if not str(ck).startswith("OK") or others < len(self.kept) - 1:
                        self.overlaps.append((sentinel.port, other.port, ck, others))
                except Exception as exc:  # NOQUORUM comes back as an error reply
                    self.overlaps.append((sentinel.port, other.port, repr(exc)))
        pubsub.close()

    def stop(self):
        time.sleep(0.3)  # let the last event arrive
        self._stop.set()
        for t in self._threads:
            t.join(5)


def _remove_one_of_each(group):
    """Stop replica 2 and Sentinel 3, as remove_node does; return their addresses and what stays."""
    gone_replica, gone_sentinel = group.replicas[1], group.sentinels[2]
    gone_replica.stop()
    gone_sentinel.stop()
    return [_addr(gone_replica), _addr(gone_sentinel)], group.sentinels[:2]


def _assert_forgotten(group, kept):
    for s in kept:
        reps, sents = _knows(group, s)
        assert reps == [_addr(group.replicas[0])], (s.port, reps)
        assert sents == sorted(_addr(o) for o in kept if o is not s), (s.port, sents)
        m = _master(group, s)
        assert (m["flags"], int(m["num-slaves"]), int(m["num-other-sentinels"])) == ("master", 1, len(kept) - 1), m
        assert str(group.sentinel_client(s).execute_command("SENTINEL", "CKQUORUM", group.name)).startswith("OK")


def _assert_master_kept(group, kept):
    for s in kept:
        assert group.sentinel_master_addr(s) == (HOST, group.master.port)


def test_forget_one_at_a_time_under_writes(group):
    epoch = int(_master(group, group.sentinels[0])["config-epoch"])
    forget, kept = _remove_one_of_each(group)
    resets = Resets(group, kept)
    writer = Writer(group)
    writer.start()
    try:
        preview = run_module("sentinel_reset", _args(group, forget=forget), check=True, diff=True)
        result = run_module("sentinel_reset", _args(group, forget=forget), diff=True)
        again = run_module("sentinel_reset", _args(group, forget=forget))
        time.sleep(1)
    finally:
        writer.stop()
        resets.stop()
    print("\nreset: %s; writer: %d acknowledged, %d errors, longest gap %.3f s; resets %s, overlaps %s"
          % (result.get("reset"), len(writer.acked), writer.errors, writer.longest_gap() or 0, resets.count, resets.overlaps))
    for r in (preview, result, again):
        assert not r.get("failed"), r.get("msg")
        _no_secret(r, group)
    # check mode: what would be reset, nothing reset
    assert preview["changed"] is True and [s["sentinel"] for s in preview["reset"]] == [_addr(s) for s in kept]
    assert "%s replica %s" % (_addr(kept[0]), forget[0]) in preview["diff"]["before"]
    assert forget[0] not in preview["diff"]["after"] and forget[1] not in preview["diff"]["after"]
    # the real run: both, in order, each once
    assert result["changed"] is True and [s["sentinel"] for s in result["reset"]] == [_addr(s) for s in kept]
    assert result["reset"][0]["forgot"] == sorted(["replica %s" % forget[0], "sentinel %s" % forget[1]])
    assert resets.count == dict((s.port, 1) for s in kept), resets.count
    assert resets.overlaps == [], "a Sentinel was reset while another had not learned the group again"
    assert result["expected"]["nodes"] == sorted([_addr(group.master), _addr(group.replicas[0])])
    _assert_forgotten(group, kept)
    # idempotent
    assert again["changed"] is False and again["reset"] == []
    # no failover, no acknowledged write lost
    _assert_master_kept(group, kept)
    assert int(_master(group, kept[0])["config-epoch"]) == epoch
    assert len(writer.acked) > 100
    lost = [k for k in writer.acked if not group.node_client(group.master).exists(k)]
    assert lost == []


def test_refusals_reset_nothing(group):
    master, replica, gone = group.master, group.replicas[1], group.sentinels[2]
    resets = Resets(group, group.sentinels)

    def refused(args, *words):
        r = run_module("sentinel_reset", _args(group, **args))
        assert r["failed"] is True and r["changed"] is False and r["reset"] == [], r
        for w in words:
            assert w in r["msg"], r["msg"]
        _no_secret(r, group)
        return r

    try:
        refused(dict(master_name="*", forget=[_addr(replica)]), "master_name '*' is refused", "glob-style pattern")
        refused(dict(forget=["127.0.0.1:x"]), "forget: '127.0.0.1:x': the port is not a number")
        refused(dict(forget=[_addr(master)]), "the master %s is one to forget: move the master off it first" % _addr(master))
        refused(dict(forget=[_addr(gone)]), "Sentinel %s is to be forgotten but still answers: stop it first" % _addr(gone))
        refused(dict(forget=[_addr(replica)], timeout=2), "a replica to forget is still connected after 2 s",
                "%s (flags slave, per Sentinel" % _addr(replica))
        # a Sentinel down that is not to be forgotten, a replica down that is not: a reset would forget them
        gone.stop()
        replica.stop()
        time.sleep(3)  # down-after-milliseconds 1000: every Sentinel flags the replica down
        refused(dict(forget=[_addr(replica)]),
                "Sentinel %s (known to" % _addr(gone), "does not answer and is not to be forgotten")
        refused(dict(forget=[_addr(gone)]), "replica %s is not up and linked" % _addr(replica))
        # quorum above what stays
        for s in group.sentinels[:2]:
            group.sentinel_client(s).execute_command("SENTINEL", "SET", group.name, "quorum", 3)
        refused(dict(forget=[_addr(gone), _addr(replica)]), "has quorum 3, more than the 2 Sentinels that stay")
        for s in group.sentinels[:2]:
            group.sentinel_client(s).execute_command("SENTINEL", "SET", group.name, "quorum", 2)
        # a minority would stay
        group.sentinels[1].stop()
        refused(dict(forget=[_addr(gone), _addr(group.sentinels[1]), _addr(replica)]),
                "only 1 of the 3 Sentinels stay, fewer than a majority (2)")
    finally:
        resets.stop()
    assert sum(resets.count.values()) == 0, resets.count


def test_refused_while_a_failover_is_in_progress(group):
    """The replica Sentinel selects stalls: the failover stays in progress until failover-timeout (10 s)."""
    gone = group.sentinels[2]
    gone.stop()
    stalled = []

    def stall_target():
        for r in group.replicas:  # whichever it selected: it never reports its promotion
            os.kill(r.proc.pid, signal.SIGSTOP)
            stalled.append(r)
    c = group.sentinel_client(group.sentinels[0])
    pubsub = c.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("+selected-slave")
    c.execute_command("SENTINEL", "FAILOVER", group.name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stalled:
        msg = pubsub.get_message(timeout=0.05)
        if msg and msg.get("type") == "message":
            stall_target()
    pubsub.close()
    assert stalled, "Sentinel selected no replica"
    try:
        r = run_module("sentinel_reset", _args(group, forget=[_addr(gone)]))
        assert r["failed"] is True and r["changed"] is False and r["reset"] == [], r
        assert "a failover is in progress (Sentinel" in r["msg"], r["msg"]
    finally:
        for proc in stalled:
            os.kill(proc.proc.pid, signal.SIGCONT)


def test_a_stalled_sentinel_stops_it_and_a_rerun_completes(group):
    forget, kept = _remove_one_of_each(group)
    stalled = []

    def stall(sentinel):
        os.kill(sentinel.proc.pid, signal.SIGSTOP)
        stalled.append(sentinel)
    resets = Resets(group, kept, on_first=stall)
    try:
        r = run_module("sentinel_reset", _args(group, forget=forget, timeout=12), timeout=120)
    finally:
        for s in stalled:
            os.kill(s.proc.pid, signal.SIGCONT)
    print("\nstalled: %s" % r.get("msg"))
    assert stalled == [kept[0]]
    assert r["failed"] is True and r["changed"] is True
    assert "Sentinel %s was reset (SENTINEL RESET main) but did not learn the group again within 12 s" % _addr(kept[0]) in r["msg"]
    assert "it does not answer" in r["msg"] or "no usable answer" in r["msg"], r["msg"]
    assert "The Sentinels after it were not reset (%s)" % _addr(kept[1]) in r["msg"], r["msg"]
    assert [s["sentinel"] for s in r["reset"]] == [_addr(kept[0])] and r["not_reset"] == [_addr(kept[1])]
    assert resets.count == {kept[0].port: 1, kept[1].port: 0}, resets.count
    _no_secret(r, group)
    # the rerun resets only the one left, after the first learned the group again
    again = run_module("sentinel_reset", _args(group, forget=forget), timeout=120)
    resets.stop()
    assert not again.get("failed"), again.get("msg")
    assert [s["sentinel"] for s in again["reset"]] == [_addr(kept[1])]
    assert resets.count == {kept[0].port: 1, kept[1].port: 1}, resets.count
    assert resets.overlaps == []
    _assert_forgotten(group, kept)
    _assert_master_kept(group, kept)


def test_a_killed_sentinel_stops_it_and_a_rerun_completes(group):
    forget, kept = _remove_one_of_each(group)
    killed = []

    def kill_next(sentinel):
        other = [s for s in kept if s is not sentinel][0]
        other.proc.kill()
        other.proc.wait(5)
        killed.append(other)
    resets = Resets(group, kept, on_first=kill_next)
    r = run_module("sentinel_reset", _args(group, forget=forget, timeout=12), timeout=120)
    print("\nkilled: %s" % r.get("msg"))
    assert killed == [kept[1]]
    assert r["failed"] is True and r["changed"] is True
    # Either the first one never learns the killed one again, or it had and the killed one no longer answers.
    assert ("Sentinels not known yet: %s" % _addr(kept[1]) in r["msg"]
            or "Sentinel %s (known to" % _addr(kept[1]) in r["msg"]), r["msg"]
    assert [s["sentinel"] for s in r["reset"]] == [_addr(kept[0])] and r["not_reset"] == [_addr(kept[1])]
    assert resets.count[kept[0].port] == 1
    # back from its config file, which still names what is to be forgotten; until the first one knows it
    # again (its hello, within 2 s) the module does not find it and refuses
    kept[1].start()
    early = run_module("sentinel_reset", _args(group, forget=forget))
    if early.get("failed"):
        assert "1 of the 2 Sentinels that stay were found" in early["msg"], early["msg"]
        assert early["changed"] is False and early["reset"] == []
    deadline = time.monotonic() + 10
    while int(_master(group, kept[0])["num-other-sentinels"]) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    again = run_module("sentinel_reset", _args(group, forget=forget), timeout=120)
    resets.stop()
    assert not again.get("failed"), again.get("msg")
    assert [s["sentinel"] for s in (early.get("reset") or []) + again["reset"]] == [_addr(kept[1])]
    _assert_forgotten(group, kept)
    _assert_master_kept(group, kept)
