#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_info
short_description: One Redis or Valkey node's state as data
version_added: 0.1.0
description:
  - "Reads one data node's state with C(INFO) (and C(ACL WHOAMI)) and returns
    it as typed data, the same for Redis and Valkey: role, replication
    (master, link, offsets, each replica's lag), memory against C(maxmemory),
    persistence (last C(BGSAVE) and AOF status, ages), clients, statistics,
    version and engine."
  - RV(engine), RV(version), RV(rdb_format) and RV(role) are always returned; the other
    sections only when listed in O(sections).
  - Never changes anything.
author:
  - hardened.redis developers (@hardened-redis)
options:
  sections:
    description:
      - The sections to return. Each costs one C(INFO <section>) (C(acl) one
        C(ACL WHOAMI)).
      - V(config) (not in the default) reads the replication safety settings
        with three C(CONFIG GET); the user needs C(+config|get), which the
        collection's C(monitor) user lacks (the section then holds an C(error)).
    type: list
    elements: str
    choices: [server, replication, memory, persistence, clients, stats, acl, config]
    default: [server, replication, memory, persistence, clients, stats, acl]
extends_documentation_fragment:
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: The module only reads; it does the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
notes:
  - The user needs C(INFO) (and C(ACL WHOAMI) for the C(acl) section); the
    collection's C(monitor) and C(admin) ACL users have both.
  - Ages are computed with the server's own clock (C(server_time_usec)).
seealso:
  - module: hardened.redis.sentinel_info
  - module: hardened.redis.redis_config
  - name: INFO
    description: What each field means.
    link: https://redis.io/docs/latest/commands/info/
'''

EXAMPLES = r'''
- name: Read the node over its unix socket
  hardened.redis.redis_info:
    login_unix_socket: /run/redis-main/redis.sock
    login_user: admin
    login_password: "{{ redis_admin_password }}"
  register: node

- name: Warn when memory runs short
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} uses {{ node.memory.used_pct }} % of {{ node.memory.limit_source }}"
  when: node.memory.used_pct > 80

- name: Only the replication state, over TLS
  hardened.redis.redis_info:
    login_port: 6380
    tls: true
    ca_certs: /etc/redis/main/tls/ca.crt
    client_cert_file: /etc/redis/main/tls/redis.crt
    client_key_file: /etc/redis/main/tls/redis.key
    login_user: monitor
    login_password: "{{ redis_monitor_password }}"
    sections: [replication]
  register: repl
'''

RETURN = r'''
engine:
  description: C(redis) or C(valkey).
  returned: always
  type: str
  sample: redis
version:
  description: The engine's version (C(valkey_version) on Valkey, C(redis_version) on Redis).
  returned: always
  type: str
  sample: 7.0.15
rdb_format:
  description:
    - The RDB format this engine and version write, and the newest they load (V(null) when the collection does not know
      the release). A replica must not have an older format than its master, or its next full sync fails.
  returned: always
  type: int
  sample: 10
role:
  description: C(master) or C(replica).
  returned: always
  type: str
  sample: replica
server:
  description: Process and build facts.
  returned: when C(server) is in O(sections)
  type: dict
  contains:
    engine:
      description: As RV(engine).
      type: str
    version:
      description: As RV(version).
      type: str
    mode:
      description: "C(standalone), C(sentinel) or C(cluster)."
      type: str
    run_id:
      description: "The server's run id (new at each start)."
      type: str
    process_id:
      description: PID.
      type: int
    tcp_port:
      description: C(tcp_port) of INFO (Redis 7.0 reports the TLS port there when the plain port is closed).
      type: int
    uptime_seconds:
      description: Seconds since start.
      type: int
    executable:
      description: Path of the running binary.
      type: str
    config_file:
      description: Path of the config file.
      type: str
  sample: {engine: redis, version: 7.0.15, mode: standalone, run_id: 6c1f..., process_id: 812, tcp_port: 6379,
           uptime_seconds: 3600, executable: /usr/bin/redis-server, config_file: /etc/redis/main/redis.conf}
replication:
  description: Role, master link, offsets and replicas.
  returned: when C(replication) is in O(sections)
  type: dict
  contains:
    role:
      description: As RV(role).
      type: str
    master:
      description: The master this replica follows (C(host:port)), else V(null).
      type: str
    master_host:
      description: Its host, else V(null).
      type: str
    master_port:
      description: Its port, else V(null).
      type: int
    master_link_status:
      description: "C(up) or C(down) on a replica, else V(null)."
      type: str
    master_last_io_seconds:
      description: Seconds since the last exchange with the master (replica).
      type: int
    master_sync_in_progress:
      description: Whether a full sync is running (replica).
      type: bool
    offset:
      description: "This node's replication offset."
      type: int
    master_repl_offset:
      description: "C(master_repl_offset)."
      type: int
    replid:
      description: The replication id.
      type: str
    read_only:
      description: Whether a replica refuses writes.
      type: bool
    priority:
      description: "C(replica-priority) of a replica (V(0) is never promoted)."
      type: int
    connected_replicas:
      description: "Replicas connected to this node."
      type: int
    replicas:
      description: Each replica connected to this node.
      type: list
      elements: dict
      contains:
        ip:
          description: Its address as this node sees it.
          type: str
        port:
          description: Its announced port.
          type: int
        address:
          description: "C(ip:port)."
          type: str
        state:
          description: "C(online), C(wait_bgsave), C(send_bulk)."
          type: str
        offset:
          description: The offset it acknowledged.
          type: int
        lag_bytes:
          description: Bytes it is behind this node.
          type: int
        lag_seconds:
          description: Seconds since its last acknowledgement.
          type: int
  sample: {role: master, offset: 4242, connected_replicas: 1,
           replicas: [{ip: 10.0.0.12, port: 6379, address: "10.0.0.12:6379", state: online, offset: 4242,
                       lag_bytes: 0, lag_seconds: 0}]}
memory:
  description: Memory used against C(maxmemory) (against the host's memory when C(maxmemory) is 0).
  returned: when C(memory) is in O(sections)
  type: dict
  contains:
    used_memory:
      description: Bytes allocated.
      type: int
    used_memory_rss:
      description: "Resident bytes."
      type: int
    used_memory_peak:
      description: Peak of RV(memory.used_memory).
      type: int
    maxmemory:
      description: "C(maxmemory) (V(0) is no limit)."
      type: int
    maxmemory_policy:
      description: "C(maxmemory-policy)."
      type: str
    total_system_memory:
      description: "The host's memory."
      type: int
    limit:
      description: The bytes RV(memory.used_pct) is counted against.
      type: int
    limit_source:
      description: "C(maxmemory) or C(system)."
      type: str
    used_pct:
      description: Percent of RV(memory.limit) used.
      type: float
    fragmentation_ratio:
      description: "C(mem_fragmentation_ratio)."
      type: float
  sample: {used_memory: 1048576, maxmemory: 104857600, limit: 104857600, limit_source: maxmemory, used_pct: 1.0}
persistence:
  description: Last save and AOF status.
  returned: when C(persistence) is in O(sections)
  type: dict
  contains:
    loading:
      description: Whether the dataset is being loaded.
      type: bool
    rdb_bgsave_in_progress:
      description: Whether a C(BGSAVE) runs.
      type: bool
    rdb_last_bgsave_status:
      description: "C(ok) or C(err)."
      type: str
    rdb_last_save_time:
      description: Unix time of the last successful save.
      type: int
    rdb_last_save_age_seconds:
      description: Seconds since then.
      type: int
    rdb_changes_since_last_save:
      description: Writes since then.
      type: int
    aof_enabled:
      description: Whether AOF is on.
      type: bool
    aof_rewrite_in_progress:
      description: Whether an AOF rewrite runs.
      type: bool
    aof_last_bgrewrite_status:
      description: "C(ok) or C(err)."
      type: str
    aof_last_write_status:
      description: "C(ok) or C(err)."
      type: str
  sample: {rdb_last_bgsave_status: ok, rdb_last_save_age_seconds: 120, aof_enabled: true, aof_last_write_status: ok}
clients:
  description: Connected clients.
  returned: when C(clients) is in O(sections)
  type: dict
  contains:
    connected_clients:
      description: Connected clients (replicas excluded).
      type: int
    blocked_clients:
      description: Clients in a blocking command.
      type: int
    maxclients:
      description: "C(maxclients) (Redis 7 reports it in INFO)."
      type: int
  sample: {connected_clients: 12, blocked_clients: 0, maxclients: 10000}
stats:
  description: Keyspace hits, evictions and load.
  returned: when C(stats) is in O(sections)
  type: dict
  contains:
    keyspace_hits:
      description: Successful key lookups.
      type: int
    keyspace_misses:
      description: Failed key lookups.
      type: int
    hit_rate_pct:
      description: Hits in percent of lookups, V(null) before the first.
      type: float
    evicted_keys:
      description: Keys evicted for C(maxmemory).
      type: int
    expired_keys:
      description: Keys expired.
      type: int
    rejected_connections:
      description: Connections refused for C(maxclients).
      type: int
    total_commands_processed:
      description: Commands since start.
      type: int
    instantaneous_ops_per_sec:
      description: Commands per second now.
      type: int
    sync_full:
      description: Full resyncs this node served to replicas since it started.
      type: int
    sync_partial_ok:
      description: Partial resyncs it accepted since it started.
      type: int
  sample: {keyspace_hits: 90, keyspace_misses: 10, hit_rate_pct: 90.0, evicted_keys: 0}
acl:
  description: Who this module is logged in as.
  returned: when C(acl) is in O(sections)
  type: dict
  contains:
    whoami:
      description: "C(ACL WHOAMI), or V(null) when the user may not run it."
      type: str
    error:
      description: Why RV(acl.whoami) is V(null), else V(null).
      type: str
  sample: {whoami: admin, error: null}
config:
  description: The settings that decide how many replicas the master needs to accept writes, and which Sentinel promotes.
  returned: when C(config) is in O(sections)
  type: dict
  contains:
    min_replicas_to_write:
      description: C(min-replicas-to-write), or V(null) when it could not be read.
      type: int
    min_replicas_max_lag:
      description: C(min-replicas-max-lag) in seconds, or V(null).
      type: int
    replica_priority:
      description: C(replica-priority), or V(null).
      type: int
    error:
      description: Why the settings could not be read (C(CONFIG GET) refused), else V(null).
      type: str
  sample: {min_replicas_to_write: 1, min_replicas_max_lag: 10, replica_priority: 100, error: null}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    connect,
    connection_argument_spec,
    describe_target,
    safe_error,
)
from ansible_collections.hardened.redis.plugins.module_utils import _info
from ansible_collections.hardened.redis.plugins.module_utils._versions import rdb_format

ALL_SECTIONS = list(_info.SECTIONS)
DEFAULT_SECTIONS = [name for name in ALL_SECTIONS if name != 'config']


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        sections=dict(type='list', elements='str', choices=ALL_SECTIONS, default=DEFAULT_SECTIONS),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    wanted = set(module.params['sections'])
    client = connect(module)
    target = describe_target(module)

    def info(section):
        try:
            return client.info(section)
        except Exception as exc:
            module.fail_json(msg='Cannot read INFO %s from %s: %s' % (section, target, safe_error(module, exc)))

    server = info('server')
    repl = info('replication')
    engine, version = _info.engine_and_version(server)
    result = dict(changed=False, engine=engine, version=version, rdb_format=rdb_format(engine, version),
                  role=_info.role_name(repl.get('role')))
    if 'server' in wanted:
        result['server'] = _info.server_state(server)
    if 'replication' in wanted:
        result['replication'] = _info.replication_state(repl)
    if 'memory' in wanted:
        result['memory'] = _info.memory_state(info('memory'))
    if 'persistence' in wanted:
        result['persistence'] = _info.persistence_state(info('persistence'), _info.server_now(server))
    if 'clients' in wanted:
        result['clients'] = _info.clients_state(info('clients'))
    if 'stats' in wanted:
        result['stats'] = _info.stats_state(info('stats'))
    if 'acl' in wanted:
        try:
            result['acl'] = dict(whoami=to_native(client.execute_command('ACL', 'WHOAMI')), error=None)
        except Exception as exc:  # NOPERM, or ACL unknown: not a reason to fail a read
            result['acl'] = dict(whoami=None, error=safe_error(module, exc))
    if 'config' in wanted:
        values = {}
        try:
            for name, dummy in _info.CONFIG_SETTINGS:
                values.update(client.config_get(name))
            result['config'] = dict(_info.config_state(values), error=None)
        except Exception as exc:  # NOPERM: not a reason to fail a read
            result['config'] = dict(_info.config_state({}), error=safe_error(module, exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
