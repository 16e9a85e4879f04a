# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One data node's INFO as data (pure functions, no I/O).

``redis_info`` reads ``INFO <section>`` with redis-py (which parses it into a
dict) and hands the dicts to these functions; they turn Redis's names and
encodings into the shape the module returns, the same for Redis and Valkey.

* ``SECTIONS``: the sections ``redis_info`` can return.
* ``engine_and_version(server)``: ``('redis'|'valkey', version)``.
* ``server_state(server)``, ``replication_state(repl)``,
  ``memory_state(memory)``, ``persistence_state(persistence, now)``,
  ``clients_state(clients, stats)``, ``stats_state(stats)``.
* ``server_now(server)``: the server's own clock (seconds), for ages.
* ``config_state(values)``: the replication safety settings (``CONFIG GET``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six import string_types

SECTIONS = ('server', 'replication', 'memory', 'persistence', 'clients', 'stats', 'acl', 'config')

# The settings the ``config`` section reads (CONFIG GET), as returned.
CONFIG_SETTINGS = (('min-replicas-to-write', 'min_replicas_to_write'), ('min-replicas-max-lag', 'min_replicas_max_lag'),
                   ('replica-priority', 'replica_priority'))


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _flag(value):
    """INFO's 0/1 (redis-py parses them to int) as a bool."""
    return str(value).strip().lower() in ('1', 'yes', 'true')


def role_name(role):
    """INFO's ``slave`` is a ``replica`` here (Redis's own newer word)."""
    return 'replica' if role in ('slave', 'replica') else (role or 'unknown')


def engine_and_version(server):
    """``('valkey', '8.1.1')`` or ``('redis', '7.0.15')`` from INFO server.

    Valkey reports ``server_name:valkey`` and ``valkey_version`` and keeps a
    ``redis_version`` (7.2.4) for old clients; Redis has neither of the first two.
    """
    if server.get('valkey_version') or str(server.get('server_name', '')).lower() == 'valkey':
        return 'valkey', str(server.get('valkey_version') or server.get('redis_version') or '')
    return 'redis', str(server.get('redis_version') or '')


def server_now(server, fallback=None):
    """The server's clock in seconds (INFO server ``server_time_usec``, Redis 6.2+)."""
    usec = server.get('server_time_usec')
    if usec is not None:
        return _int(usec) // 1000000
    return fallback


def server_state(server):
    engine, version = engine_and_version(server)
    return dict(
        engine=engine,
        version=version,
        mode=server.get('redis_mode') or server.get('server_mode') or 'standalone',
        run_id=server.get('run_id'),
        process_id=_int(server.get('process_id'), None),
        tcp_port=_int(server.get('tcp_port'), None),
        uptime_seconds=_int(server.get('uptime_in_seconds')),
        executable=server.get('executable') or None,
        config_file=server.get('config_file') or None,
    )


def _replica_entries(repl, master_offset):
    """``slaveN`` entries of INFO replication (parsed or not) as dicts, in N order."""
    found = []
    keys = [k for k in repl if k.startswith('slave') and k[5:].isdigit()]
    for key in sorted(keys, key=lambda k: int(k[5:])):
        value = repl[key]
        if isinstance(value, string_types):
            value = dict(item.split('=', 1) for item in value.split(',') if '=' in item)
        offset = _int(value.get('offset'))
        found.append(dict(
            ip=str(value.get('ip')),
            port=_int(value.get('port')),
            address='%s:%s' % (value.get('ip'), value.get('port')),
            state=value.get('state'),
            offset=offset,
            lag_bytes=max(master_offset - offset, 0),
            lag_seconds=_int(value.get('lag'), None),
        ))
    return found


def replication_state(repl):
    """Role, master link, offsets and each replica's lag from INFO replication."""
    role = role_name(repl.get('role'))
    master_offset = _int(repl.get('master_repl_offset'))
    state = dict(
        role=role,
        master_repl_offset=master_offset,
        replid=repl.get('master_replid'),
        connected_replicas=_int(repl.get('connected_slaves')),
        replicas=_replica_entries(repl, master_offset),
    )
    if role == 'replica':
        host = repl.get('master_host')
        port = _int(repl.get('master_port'), None)
        state.update(
            master_host=host,
            master_port=port,
            master=('[%s]:%s' % (host, port) if host and ':' in str(host) else '%s:%s' % (host, port)) if host else None,
            master_link_status=repl.get('master_link_status'),
            master_last_io_seconds=_int(repl.get('master_last_io_seconds_ago'), None),
            master_sync_in_progress=_flag(repl.get('master_sync_in_progress')),
            offset=_int(repl.get('slave_repl_offset')),
            read_only=_flag(repl.get('slave_read_only', 1)),
            priority=_int(repl.get('slave_priority', repl.get('replica_priority')), None),
        )
    else:
        state.update(master_host=None, master_port=None, master=None, master_link_status=None,
                     master_last_io_seconds=None, master_sync_in_progress=False, offset=master_offset,
                     read_only=False, priority=None)
    return state


def memory_state(memory):
    """Memory used against ``maxmemory`` (against the host's memory when it is 0)."""
    used = _int(memory.get('used_memory'))
    maxmemory = _int(memory.get('maxmemory'))
    system = _int(memory.get('total_system_memory'))
    limit, source = (maxmemory, 'maxmemory') if maxmemory > 0 else (system, 'system')
    return dict(
        used_memory=used,
        used_memory_rss=_int(memory.get('used_memory_rss')),
        used_memory_peak=_int(memory.get('used_memory_peak')),
        maxmemory=maxmemory,
        maxmemory_policy=memory.get('maxmemory_policy'),
        total_system_memory=system,
        limit=limit,
        limit_source=source,
        used_pct=round(used * 100.0 / limit, 1) if limit > 0 else 0.0,
        fragmentation_ratio=_float(memory.get('mem_fragmentation_ratio')),
    )


def persistence_state(persistence, now=None):
    """Last BGSAVE / AOF status and ages (seconds, by the server's clock when given)."""
    last_save = _int(persistence.get('rdb_last_save_time'), None)
    aof_enabled = _flag(persistence.get('aof_enabled'))
    return dict(
        loading=_flag(persistence.get('loading')),
        rdb_bgsave_in_progress=_flag(persistence.get('rdb_bgsave_in_progress')),
        rdb_last_bgsave_status=persistence.get('rdb_last_bgsave_status'),
        rdb_last_save_time=last_save,
        rdb_last_save_age_seconds=(max(now - last_save, 0) if now is not None and last_save else None),
        rdb_changes_since_last_save=_int(persistence.get('rdb_changes_since_last_save')),
        aof_enabled=aof_enabled,
        aof_rewrite_in_progress=_flag(persistence.get('aof_rewrite_in_progress')),
        aof_last_bgrewrite_status=persistence.get('aof_last_bgrewrite_status'),
        aof_last_write_status=persistence.get('aof_last_write_status'),
    )


def clients_state(clients):
    return dict(
        connected_clients=_int(clients.get('connected_clients')),
        blocked_clients=_int(clients.get('blocked_clients')),
        maxclients=_int(clients.get('maxclients'), None),
    )


def stats_state(stats):
    hits = _int(stats.get('keyspace_hits'))
    misses = _int(stats.get('keyspace_misses'))
    return dict(
        keyspace_hits=hits,
        keyspace_misses=misses,
        hit_rate_pct=round(hits * 100.0 / (hits + misses), 1) if hits + misses > 0 else None,
        evicted_keys=_int(stats.get('evicted_keys')),
        expired_keys=_int(stats.get('expired_keys')),
        rejected_connections=_int(stats.get('rejected_connections')),
        total_commands_processed=_int(stats.get('total_commands_processed')),
        sync_full=_int(stats.get('sync_full')),
        sync_partial_ok=_int(stats.get('sync_partial_ok')),
        instantaneous_ops_per_sec=_int(stats.get('instantaneous_ops_per_sec')),
    )


def config_state(values):
    """The replication safety settings from ``CONFIG GET`` replies (a dict), as integers (None when absent)."""
    return dict((key, _int(values.get(name), None)) for name, key in CONFIG_SETTINGS)
