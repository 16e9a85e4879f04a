# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_info against real redis-server processes: a replicated pair with
ACL users, a unix socket, TLS, selectable sections, and read-only behaviour."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from run_module import run_module
from servers import HOST

PASSWORD = "admin-pw-for-redis-info"
ACL = "\n".join([
    "user default on >%s ~* &* +@all" % PASSWORD,
    "user admin on >%s ~* &* +@all" % PASSWORD,
    "user onlyinfo on >%s +info +ping" % PASSWORD,
])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from servers import start_redis
    tmp = tmp_path_factory.mktemp("redis-info")
    lines = ["masteruser admin", "masterauth %s" % PASSWORD, "repl-diskless-sync yes",
             "repl-diskless-sync-delay 0", "maxmemory 64mb"]
    master = start_redis(tmp, lines, aclfile=ACL, password=PASSWORD, unix_socket=True, name="master")
    replica = start_redis(tmp, lines + ["replicaof %s %d" % (HOST, master.port)], aclfile=ACL,
                          password=PASSWORD, name="replica")
    try:
        deadline = time.monotonic() + 20
        while master.client(username="admin").info("replication").get("slave0", {}).get("state") != "online":
            assert time.monotonic() < deadline, "replica never came online"
            time.sleep(0.1)
        yield master, replica
    finally:
        replica.stop()
        master.stop()


def _args(node, **kwargs):
    args = dict(login_host=HOST, login_port=node.port, login_user="admin", login_password=PASSWORD)
    args.update(kwargs)
    return args


def test_master_over_unix_socket(pair):
    master, replica = pair
    c = master.client(username="admin")
    c.set("k", "v")
    c.get("k")
    c.get("missing")
    result = run_module("redis_info", dict(login_unix_socket=master.socket, login_user="admin",
                                           login_password=PASSWORD), check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert (result["engine"], result["role"]) == ("redis", "master")
    assert result["version"] == c.info("server")["redis_version"]
    # the format this server writes, as the header of its own snapshot says (REDIS0010 on Redis 7.0)
    c.save()
    with open(os.path.join(c.config_get("dir")["dir"], c.config_get("dbfilename")["dbfilename"]), "rb") as rdb:
        header = rdb.read(9)
    assert header[:5] == b"REDIS" and result["rdb_format"] == int(header[5:]), (header, result["rdb_format"])
    assert result["server"]["engine"] == "redis" and result["server"]["tcp_port"] == master.port
    repl = result["replication"]
    assert repl["role"] == "master" and repl["master"] is None and repl["connected_replicas"] == 1
    assert [r["port"] for r in repl["replicas"]] == [replica.port]
    assert repl["replicas"][0]["state"] == "online" and repl["replicas"][0]["lag_bytes"] >= 0
    mem = result["memory"]
    assert (mem["maxmemory"], mem["limit"], mem["limit_source"]) == (64 * 1024 * 1024, 64 * 1024 * 1024, "maxmemory")
    assert mem["used_pct"] == round(mem["used_memory"] * 100.0 / mem["limit"], 1)
    assert result["persistence"]["rdb_last_bgsave_status"] == "ok"
    assert result["persistence"]["aof_enabled"] is False
    assert result["persistence"]["rdb_last_save_age_seconds"] >= 0
    assert result["clients"]["connected_clients"] >= 1
    assert result["stats"]["keyspace_hits"] >= 1 and result["stats"]["keyspace_misses"] >= 1
    assert result["acl"] == {"whoami": "admin", "error": None}
    assert PASSWORD not in result.stdout and PASSWORD not in result.stderr


def test_replica(pair):
    master, replica = pair
    c = master.client(username="admin")
    c.set("k2", "v")
    # WAIT: the replica acknowledged the write, so its offset is past it
    assert c.execute_command("WAIT", 1, 5000) == 1
    offset = int(c.info("replication")["master_repl_offset"])
    result = run_module("redis_info", _args(replica))
    assert not result.get("failed"), result.get("msg")
    repl = result["replication"]
    assert result["role"] == repl["role"] == "replica"
    assert repl["master"] == "%s:%d" % (HOST, master.port)
    assert (repl["master_host"], repl["master_port"]) == (HOST, master.port)
    assert repl["master_link_status"] == "up" and repl["read_only"] is True
    assert repl["offset"] >= offset > 0 and repl["replicas"] == []


def _calls(node):
    return dict((k, v["calls"]) for k, v in node.client(username="admin").info("commandstats").items())


def test_sections_and_read_only(pair):
    master, dummy = pair
    before = _calls(master)
    result = run_module("redis_info", _args(master, sections=["replication"]))
    assert not result.get("failed"), result.get("msg")
    assert set(result) & {"server", "memory", "persistence", "clients", "stats", "acl"} == set()
    assert result["replication"]["role"] == "master" and result["engine"] == "redis"
    after = _calls(master)
    ran = set(k for k in after if after[k] != before.get(k))
    # what this test's own client and the module sent, plus the replica's replication traffic
    assert ran <= {"cmdstat_info", "cmdstat_auth", "cmdstat_ping", "cmdstat_client|setinfo",
                   "cmdstat_replconf", "cmdstat_hello"}, ran
    assert "cmdstat_info" in ran

    bad = run_module("redis_info", _args(master, sections=["replication", "keyspace"]))
    assert bad["failed"] and "sections" in bad["msg"] and "keyspace" in bad["msg"]


def test_acl_whoami_refused_is_not_a_failure(pair):
    master, dummy = pair
    result = run_module("redis_info", _args(master, login_user="onlyinfo", sections=["acl", "memory"]))
    assert not result.get("failed"), result.get("msg")
    assert result["acl"]["whoami"] is None and "no permissions" in result["acl"]["error"]
    assert result["memory"]["maxmemory"] == 64 * 1024 * 1024


def test_config_section(pair):
    master, dummy = pair
    master.client(username="admin").config_set("min-replicas-to-write", 1)
    try:
        result = run_module("redis_info", _args(master, sections=["config"]))
    finally:
        master.client(username="admin").config_set("min-replicas-to-write", 0)
    assert not result.get("failed"), result.get("msg")
    assert result["config"] == dict(min_replicas_to_write=1, min_replicas_max_lag=10, replica_priority=100, error=None)
    assert "config" not in run_module("redis_info", _args(master))
    refused = run_module("redis_info", _args(master, login_user="onlyinfo", sections=["config"]))
    assert not refused.get("failed"), refused.get("msg")
    assert refused["config"]["min_replicas_to_write"] is None and "no permissions" in refused["config"]["error"]


def test_wrong_password(pair):
    master, dummy = pair
    result = run_module("redis_info", _args(master, login_password="not-the-password"))
    assert result["failed"] and "WRONGPASS" in result["msg"]
    assert "not-the-password" not in result.stdout


def test_tls(tmp_path, tls_files):
    from servers import start_redis
    srv = start_redis(tmp_path, tls=tls_files, tls_only=True, password=PASSWORD, name="tls")
    try:
        result = run_module("redis_info", dict(login_host=HOST, login_port=srv.tls_port, login_password=PASSWORD,
                                               tls=True, ca_certs=tls_files.ca_cert,
                                               client_cert_file=tls_files.client_cert,
                                               client_key_file=tls_files.client_key,
                                               sections=["server", "acl"]))
        assert not result.get("failed"), result.get("msg")
        assert result["role"] == "master" and result["server"]["tcp_port"] in (0, srv.tls_port)
        assert result["acl"]["whoami"] == "default"
        plain = run_module("redis_info", dict(login_host=HOST, login_port=srv.tls_port, login_password=PASSWORD))
        assert plain["failed"] and "Cannot connect" in plain["msg"]
    finally:
        srv.stop()
