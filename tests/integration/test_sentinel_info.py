# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_info against real groups (1 master, 2 replicas, 3 Sentinels):
agreement, a Sentinel down, a majority down, disagreement, TLS."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from run_module import run_module
from sentinels import start_group
from servers import HOST, RedisProcess, free_port, start_redis, start_sentinel


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    g = start_group(tmp_path_factory.mktemp("sentinel-info"))
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


def _args(group, sentinel=None, **kwargs):
    s = sentinel or group.sentinels[0]
    args = dict(login_host=HOST, login_port=s.port, login_password=group.passwords["sentinel_requirepass"],
                master_name=group.name)
    args.update(kwargs)
    return args


def _no_secret(result, group):
    for secret in group.passwords.values():
        assert secret not in result.stdout and secret not in result.stderr


def _addr(node):
    return "%s:%d" % (HOST, node.port)


def test_agreement(group):
    result = run_module("sentinel_info", _args(group), check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["agreed"] is True and result["refusal"] == ""
    assert result["master"] == _addr(group.master)
    assert (result["master_host"], result["master_port"]) == (HOST, group.master.port)
    verdict = result["verdict"]
    assert (verdict["size"], verdict["majority"], verdict["answered"], verdict["unanimous"]) == (3, 2, 3, True)
    assert verdict["votes"] == {_addr(group.master): 3}
    assert sorted(v["sentinel"] for v in result["sentinels"]) == sorted(_addr(s) for s in group.sentinels)
    for view in result["sentinels"]:
        assert view["reachable"] and view["monitored"] and view["error"] is None
        assert view["master"] == _addr(group.master)
        assert view["master_flags"] == ["master"]
        assert view["failover_in_progress"] is False
        assert (view["known_sentinels"], view["known_replicas"], view["quorum"]) == (3, 2, 2)
        assert sorted(r["port"] for r in view["replicas"]) == sorted(r.port for r in group.replicas)
        assert len(view["sentinels"]) == 2
        assert view["ckquorum"]["ok"] is True and view["ckquorum"]["message"].startswith("OK")
    assert set(result["masters"]) == {group.name}
    _no_secret(result, group)


def test_every_master_and_a_seed_counted_once(group):
    # No master_name: every master; the same Sentinel given again as "localhost" is asked once.
    result = run_module("sentinel_info", _args(group, master_name=None,
                                               sentinel_addresses=["localhost:%d" % group.sentinels[0].port]))
    assert not result.get("failed"), result.get("msg")
    assert list(result["masters"]) == [group.name]
    assert "agreed" not in result
    entry = result["masters"][group.name]
    assert entry["verdict"]["agreed"] is True and entry["verdict"]["size"] == 3
    assert len(entry["sentinels"]) == 3


def test_unknown_master_name(group):
    result = run_module("sentinel_info", _args(group, master_name="nosuch"))
    assert not result.get("failed"), result.get("msg")
    assert result["agreed"] is False and result["master"] is None
    assert result["sentinels"][0]["error"] == "does not monitor nosuch"
    assert result["verdict"]["reason"].startswith("no agreed master")
    refused = run_module("sentinel_info", _args(group, master_name="nosuch", require_agreed_master=True))
    assert refused["failed"] and refused["msg"].startswith("No agreed master of 'nosuch', nothing done: no agreed master")
    assert refused["msg"] == result["refusal"]


def test_bad_options(group):
    result = run_module("sentinel_info", _args(group, sentinel_addresses=["nonsense"]))
    assert result["failed"] and "sentinel_addresses" in result["msg"]
    result = run_module("sentinel_info", _args(group, expected_sentinels=-1))
    assert result["failed"] and "expected_sentinels" in result["msg"]
    result = run_module("sentinel_info", _args(group, login_password="wrong-password"))
    assert result["failed"] and "WRONGPASS" in result["msg"] and "wrong-password" not in result.stdout


def test_one_sentinel_down(group):
    down = group.sentinels[2]
    down.stop()
    try:
        result = run_module("sentinel_info", _args(group))
        assert not result.get("failed"), result.get("msg")
        verdict = result["verdict"]
        assert verdict["agreed"] is True and verdict["master"] == _addr(group.master)
        assert (verdict["size"], verdict["answered"]) == (3, 2)
        unreachable = [v for v in result["sentinels"] if not v["reachable"]]
        assert [v["sentinel"] for v in unreachable] == [_addr(down)]
        assert "connection refused" in unreachable[0]["error"]
        assert "%s did not answer" % _addr(down) in verdict["reason"]

        # the login Sentinel itself down: the others are found through sentinel_addresses
        result = run_module("sentinel_info", _args(group, sentinel=down,
                                                   sentinel_addresses=[_addr(group.sentinels[0])]))
        assert not result.get("failed"), result.get("msg")
        assert result["agreed"] is True and result["verdict"]["answered"] == 2
        assert result["sentinels"][0]["sentinel"] == _addr(down) and not result["sentinels"][0]["reachable"]
        # ... and without any other address the module cannot ask anyone
        result = run_module("sentinel_info", _args(group, sentinel=down))
        assert result["failed"] and "connection refused" in result["msg"]
    finally:
        down.start()
        group.wait_ready()


def test_majority_down(group):
    downs = group.sentinels[1:]
    for s in downs:
        s.stop()
    try:
        result = run_module("sentinel_info", _args(group))
        assert not result.get("failed"), result.get("msg")
        verdict = result["verdict"]
        assert verdict["agreed"] is False and result["master"] is None
        assert (verdict["size"], verdict["majority"], verdict["answered"]) == (3, 2, 1)
        assert verdict["reason"].startswith("no agreed master: 1 of 3 Sentinels answered")
        refused = run_module("sentinel_info", _args(group, require_agreed_master=True))
        assert refused["failed"] is True
        assert refused["msg"] == "No agreed master of '%s', nothing done: %s." % (group.name, verdict["reason"])
        assert refused["msg"] == result["refusal"]
        assert refused["agreed"] is False
        _no_secret(refused, group)
    finally:
        for s in downs:
            s.start()
        group.wait_ready()


@pytest.fixture
def rogue_group(tmp_path):
    """A group whose third Sentinel was made to monitor another server under
    the same name, and a lone Sentinel (no peer knows it) monitoring that server too."""
    g = start_group(tmp_path)
    other = lone = None
    try:
        g.wait_ready()
        other = start_redis(tmp_path, name="other", password=g.passwords["sentinel"])
        rogue = g.sentinel_client(g.sentinels[2])
        rogue.execute_command("SENTINEL", "REMOVE", g.name)
        rogue.execute_command("SENTINEL", "MONITOR", g.name, HOST, other.port, 2)
        lone = start_sentinel(tmp_path, ["sentinel monitor %s %s %d 2" % (g.name, HOST, other.port)],
                              name="lone", password=g.passwords["sentinel_requirepass"])
        yield g, other, lone
    finally:
        g.stop()
        for proc in (lone, other):
            if proc is not None:
                proc.stop()


def test_disagreement(rogue_group):
    group, other, lone = rogue_group
    # From a Sentinel of the majority: the rogue one is still known to it, and asked.
    result = run_module("sentinel_info", _args(group))
    assert not result.get("failed"), result.get("msg")
    verdict = result["verdict"]
    assert verdict["agreed"] is True and verdict["unanimous"] is False
    assert verdict["votes"] == {_addr(group.master): 2, _addr(other): 1}
    assert "%s names %s" % (_addr(group.sentinels[2]), _addr(other)) in verdict["reason"]

    # From a Sentinel that knows no peer: alone it agrees with itself;
    # expected_sentinels (the inventory's count) refuses that.
    alone = run_module("sentinel_info", _args(group, sentinel=lone))
    assert alone["verdict"]["size"] == 1 and alone["master"] == _addr(other)
    result = run_module("sentinel_info", _args(group, sentinel=lone, expected_sentinels=3,
                                               require_agreed_master=True))
    assert result.get("failed") is True, result.get("verdict")
    assert result["msg"].startswith("No agreed master of '%s', nothing done: no agreed master: 1 of 3 Sentinels answered"
                                    % group.name)
    # ... given the group's addresses it asks all four: two name each address, a tie, no agreed master.
    result = run_module("sentinel_info", _args(group, sentinel=lone, expected_sentinels=3,
                                               sentinel_addresses=[_addr(s) for s in group.sentinels[:2]]))
    assert result["agreed"] is False, result["verdict"]
    assert (result["verdict"]["answered"], result["verdict"]["size"]) == (4, 4)
    assert result["verdict"]["votes"] == {_addr(group.master): 2, _addr(other): 2}

    # Three Sentinels of the group naming three addresses: no majority names one master.
    second = group.sentinel_client(group.sentinels[1])
    second.execute_command("SENTINEL", "REMOVE", group.name)
    second.execute_command("SENTINEL", "MONITOR", group.name, HOST, group.replicas[0].port, 2)
    result = run_module("sentinel_info", _args(group, expected_sentinels=3,
                                               sentinel_addresses=[_addr(s) for s in group.sentinels]))
    assert result["agreed"] is False
    assert sorted(result["verdict"]["votes"].values()) == [1, 1, 1]


def _start_tls_sentinel(tmp_path, name, tls, lines, password):
    workdir = os.path.join(str(tmp_path), name)
    os.makedirs(workdir)
    port = free_port()
    config = os.path.join(workdir, "sentinel.conf")
    with open(config, "w") as f:
        f.write("\n".join([
            "bind 127.0.0.1", "port 0", "tls-port %d" % port, "dir %s" % workdir, "daemonize no",
            "logfile %s" % os.path.join(workdir, "server.log"),
            "tls-cert-file %s" % tls.server_cert, "tls-key-file %s" % tls.server_key,
            "tls-ca-cert-file %s" % tls.ca_cert, "tls-auth-clients yes", "tls-replication yes",
            "requirepass %s" % password,
        ] + lines) + "\n")
    return RedisProcess(workdir, config, 0, tls_port=port, password=password, tls=tls, sentinel=True).start()


def test_tls(tmp_path, tls_files):
    """Sentinels and data nodes reachable over TLS only: the survey goes over TLS too."""
    password = "tls-sentinel-%d" % free_port()
    procs = []
    try:
        common = ["tls-replication yes"]
        master = start_redis(tmp_path, common, tls=tls_files, tls_only=True, name="m")
        procs.append(master)
        procs.append(start_redis(tmp_path, common + ["replicaof %s %d" % (HOST, master.tls_port)],
                                 tls=tls_files, tls_only=True, name="r"))
        sentinels = []
        for i in range(3):
            s = _start_tls_sentinel(tmp_path, "s%d" % i, tls_files, [
                "sentinel sentinel-pass %s" % password,
                "sentinel monitor tlsgroup %s %d 2" % (HOST, master.tls_port),
                "sentinel down-after-milliseconds tlsgroup 1000"], password)
            procs.append(s)
            sentinels.append(s)
        args = dict(login_host=HOST, login_port=sentinels[0].tls_port, login_password=password,
                    master_name="tlsgroup", tls=True, ca_certs=tls_files.ca_cert,
                    client_cert_file=tls_files.client_cert, client_key_file=tls_files.client_key,
                    expected_sentinels=3)
        deadline = time.monotonic() + 30
        while True:
            result = run_module("sentinel_info", args)
            assert not result.get("failed"), result.get("msg")
            if result["verdict"]["answered"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # Sentinels find each other through hello messages
        assert result["agreed"] is True and result["master"] == "%s:%d" % (HOST, master.tls_port)
        wanted = sorted("%s:%d" % (HOST, s.tls_port) for s in sentinels)
        assert sorted(v["sentinel"] for v in result["sentinels"]) == wanted
        assert result["verdict"]["unanimous"] is True
        assert password not in result.stdout

        plain = run_module("sentinel_info", dict(args, tls=False))
        assert plain["failed"] is True and "Cannot connect" in plain["msg"]
    finally:
        for proc in reversed(procs):
            proc.stop()
