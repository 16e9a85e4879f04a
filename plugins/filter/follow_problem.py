# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: follow_problem
short_description: Why a data node could not replicate from a master (engine, version and RDB format), or an empty string
version_added: 0.1.0
description:
  - "A replica that needs a full sync loads its master's RDB snapshot, and no engine loads an RDB format newer than
    its own (for example Redis 7.0 from Valkey 8.1 or Redis 8.0): it flushes its data, fails and tries again."
  - Returns an empty string when the node given as input can load a full sync from O(master), else a sentence that names
    both, their releases and RDB formats. The same engine and major.minor release always works; a release this
    collection does not know is a problem (it cannot be shown to work).
  - The rule is the one M(hardened.redis.sentinel_failover) applies before a switchover, and
    C(hardened.redis.site) applies to every data node of the inventory before it touches a host.
author:
  - hardened.redis developers (@hardened-redis)
options:
  _input:
    description:
      - The replica, as a dictionary with C(engine) (V(redis) or V(valkey)), C(version) (C(7.0.15) or a series such as
        C(7.0)) and optionally C(host) (its name in messages), for example the redis role's C(redis_node) fact.
    type: dict
    required: true
  master:
    description: The master, in the same form.
    type: dict
    required: true
seealso:
  - module: hardened.redis.sentinel_failover
  - module: hardened.redis.redis_info
'''

EXAMPLES = r'''
- name: Refuse a node that could not replicate from the master
  ansible.builtin.fail:
    msg: "{{ redis_node | hardened.redis.follow_problem(hostvars['redis-1'].redis_node) }}"
  when: redis_node | hardened.redis.follow_problem(hostvars['redis-1'].redis_node) | length > 0

- name: A Redis 7.0 replica of a Valkey 8.1 master
  ansible.builtin.debug:
    msg: "{{ {'engine': 'redis', 'version': '7.0'} | hardened.redis.follow_problem({'engine': 'valkey', 'version': '8.1'}) }}"
  # Redis 7.0 (RDB 10) cannot load a full sync from Valkey 8.1 (RDB 11): no engine loads an RDB format newer than its own
'''

RETURN = r'''
_value:
  description: Empty when the replica can load a full sync from the master; else why not.
  type: str
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._versions import follow_problem as _follow_problem


def _node(value, what):
    if not isinstance(value, dict) or not value.get('engine'):
        raise AnsibleFilterError('follow_problem: the %s must be a dictionary with engine and version, got %r'
                                 % (what, value))
    node = dict(engine=to_native(value['engine']), version=to_native(value.get('version') or ''))
    if value.get('host') or value.get('name'):
        node['name'] = to_native(value.get('host') or value.get('name'))
    return node


def follow_problem(replica, master):
    return _follow_problem(_node(replica, 'replica'), _node(master, 'master')) or ''


class FilterModule(object):
    """hardened.redis.follow_problem: the collection's replication-direction rule (module_utils/_versions)."""

    def filters(self):
        return {'follow_problem': follow_problem}
