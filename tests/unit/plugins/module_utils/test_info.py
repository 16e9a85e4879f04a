# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_info: INFO dicts (as redis-py parses them) turned into redis_info's data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hardened.redis.plugins.module_utils import _info

# INFO server fields of Valkey 8 (it keeps redis_version at 7.2.4 for old clients)
VALKEY_SERVER = {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.1.1",
                 "redis_mode": "standalone", "server_mode": "standalone", "tcp_port": 6379,
                 "server_time_usec": 1796587940123456, "run_id": "abc"}
REDIS_SERVER = {"redis_version": "7.0.15", "redis_mode": "standalone", "tcp_port": 6379}


def test_engine_and_version():
    assert _info.engine_and_version(VALKEY_SERVER) == ("valkey", "8.1.1")
    assert _info.engine_and_version({"server_name": "valkey", "redis_version": "7.2.4"}) == ("valkey", "7.2.4")
    assert _info.engine_and_version(REDIS_SERVER) == ("redis", "7.0.15")
    assert _info.server_state(VALKEY_SERVER)["engine"] == "valkey"
    assert _info.server_now(VALKEY_SERVER) == 1796587940
    assert _info.server_now(REDIS_SERVER, 7) == 7


def test_master_replication_and_lag():
    state = _info.replication_state({
        "role": "master", "connected_slaves": 2, "master_repl_offset": 1000,
        "slave0": {"ip": "10.0.0.12", "port": 6379, "state": "online", "offset": 1000, "lag": 0},
        "slave1": "ip=10.0.0.13,port=6379,state=wait_bgsave,offset=400,lag=3",  # unparsed form
    })
    assert state["role"] == "master" and state["master"] is None and state["offset"] == 1000
    assert [(r["address"], r["lag_bytes"], r["lag_seconds"]) for r in state["replicas"]] == [
        ("10.0.0.12:6379", 0, 0), ("10.0.0.13:6379", 600, 3)]


def test_replica_replication():
    state = _info.replication_state({
        "role": "slave", "master_host": "fd00::1", "master_port": 6380, "master_link_status": "down",
        "master_sync_in_progress": 0, "slave_repl_offset": 42, "slave_read_only": 1, "slave_priority": 0,
        "master_repl_offset": 42})
    assert state["role"] == "replica" and state["master"] == "[fd00::1]:6380"
    assert (state["master_link_status"], state["offset"], state["priority"], state["read_only"]) == ("down", 42, 0, True)


def test_memory_against_maxmemory_or_system():
    assert _info.memory_state({"used_memory": 50, "maxmemory": 200, "total_system_memory": 1000})["used_pct"] == 25.0
    system = _info.memory_state({"used_memory": 50, "maxmemory": 0, "total_system_memory": 1000})
    assert (system["limit"], system["limit_source"], system["used_pct"]) == (1000, "system", 5.0)
    assert _info.memory_state({})["used_pct"] == 0.0


def test_persistence_ages_and_stats():
    p = _info.persistence_state({"rdb_last_save_time": 100, "aof_enabled": 1, "aof_last_write_status": "err",
                                 "rdb_last_bgsave_status": "ok"}, now=160)
    assert (p["rdb_last_save_age_seconds"], p["aof_enabled"], p["aof_last_write_status"]) == (60, True, "err")
    assert _info.persistence_state({"rdb_last_save_time": 100})["rdb_last_save_age_seconds"] is None
    s = _info.stats_state({"keyspace_hits": 3, "keyspace_misses": 1, "evicted_keys": 2})
    assert (s["hit_rate_pct"], s["evicted_keys"]) == (75.0, 2)
    assert _info.stats_state({})["hit_rate_pct"] is None


def test_config_state():
    assert _info.config_state({'min-replicas-to-write': '1', 'min-replicas-max-lag': '10', 'replica-priority': '0'}) == dict(
        min_replicas_to_write=1, min_replicas_max_lag=10, replica_priority=0)
    assert _info.config_state({}) == dict(min_replicas_to_write=None, min_replicas_max_lag=None, replica_priority=None)
