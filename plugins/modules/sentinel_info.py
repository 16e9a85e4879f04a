#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_info
short_description: Every Sentinel's view of a monitored group, and who the master is by one rule
version_added: 0.1.0
description:
  - Asks the Sentinel it connects to, every Sentinel that one knows
    (C(SENTINEL SENTINELS)), every Sentinel those know, and O(sentinel_addresses),
    what each sees of a monitored master (or of every master, without
    O(master_name)); each Sentinel is asked once.
  - Each Sentinel's view holds the master address it gives clients
    (C(SENTINEL GET-MASTER-ADDR-BY-NAME)), the master's flags, config epoch,
    the replicas and Sentinels it knows, C(SENTINEL CKQUORUM) and whether a
    failover is in progress.
  - "The group's verdict is decided by the collection's one rule: the master
    is agreed when more than half of the group's Sentinels answer and name the
    same address. The group's size is the largest of O(expected_sentinels), the
    number of Sentinels asked and the number any Sentinel says it knows.
    Without an agreed master the verdict says C(no agreed master) and names
    each Sentinel's answer."
  - Never changes anything.
author:
  - hardened.redis developers (@hardened-redis)
options:
  master_name:
    description:
      - Name of the monitored master, as in C(sentinel monitor).
      - When not set, every master the first reachable Sentinel monitors is surveyed.
    type: str
  expected_sentinels:
    description:
      - How many Sentinels the group has (for example the inventory's count).
        Sentinels that are down and that no reachable Sentinel knows of then
        still count, so that a minority cut off from the rest never makes a verdict.
      - V(0) means unknown.
    type: int
    default: 0
  sentinel_addresses:
    description:
      - More Sentinels to ask, as C(host:port) (C([ipv6]:port)), reached with the
        same credentials and TLS options.
      - Useful when the Sentinel at O(login_host) may be down or may not know
        its peers (it monitors another address under the same name).
    type: list
    elements: str
    default: []
  require_agreed_master:
    description:
      - Fail with RV(refusal) as the message when a surveyed master has no
        agreed master. Playbooks use it (or RV(refusal)) to refuse to act.
    type: bool
    default: false
extends_documentation_fragment:
  - hardened.redis.connection.sentinel
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: The module only reads; it does the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
notes:
  - The other Sentinels are reached at the address they announce, with the
    credentials and TLS options given here (TLS certificates must then be
    valid for those addresses, or O(validate_certs=false)).
  - Needs, on every Sentinel, a user allowed C(SENTINEL MASTER), C(SENTINEL MASTERS),
    C(SENTINEL REPLICAS), C(SENTINEL SENTINELS), C(SENTINEL GET-MASTER-ADDR-BY-NAME),
    C(SENTINEL CKQUORUM) and C(INFO) (the last only to recognise a Sentinel reached
    at two addresses).
seealso:
  - module: hardened.redis.redis_info
  - module: hardened.redis.sentinel_config
  - module: hardened.redis.sentinel_failover
  - name: Redis Sentinel documentation
    description: Quorum, majority and the SENTINEL commands.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
'''

EXAMPLES = r'''
- name: Who is the master of group main
  hardened.redis.sentinel_info:
    login_password: "{{ redis_sentinel_password }}"
    master_name: main
    expected_sentinels: "{{ groups['redis_sentinels'] | length }}"
  register: group

- name: Print it
  ansible.builtin.debug:
    msg: "{{ group.master if group.agreed else group.verdict.reason }}"

- name: Refuse to go on without an agreed master
  hardened.redis.sentinel_info:
    login_password: "{{ redis_sentinel_password }}"
    master_name: main
    require_agreed_master: true

- name: Every group this Sentinel monitors, over TLS
  hardened.redis.sentinel_info:
    login_port: 26380
    tls: true
    ca_certs: /etc/redis/sentinel-main/tls/ca.crt
    client_cert_file: /etc/redis/sentinel-main/tls/sentinel.crt
    client_key_file: /etc/redis/sentinel-main/tls/sentinel.key
    login_user: admin
    login_password: "{{ redis_sentinel_admin_password }}"
  register: all_groups
'''

RETURN = r'''
master_name:
  description: O(master_name), when given.
  returned: when O(master_name) is set
  type: str
  sample: main
agreed:
  description: Whether the group of O(master_name) has an agreed master.
  returned: when O(master_name) is set
  type: bool
  sample: true
master:
  description: The agreed master as C(ip:port), or V(null).
  returned: when O(master_name) is set
  type: str
  sample: 10.0.0.11:6379
master_host:
  description: IP address of the agreed master, or V(null).
  returned: when O(master_name) is set
  type: str
  sample: 10.0.0.11
master_port:
  description: Port of the agreed master, or V(null).
  returned: when O(master_name) is set
  type: int
  sample: 6379
refusal:
  description:
    - "The message to refuse with when the group of O(master_name) has no agreed
      master (C(No agreed master of '<name>', nothing done: <reason>.)); empty when it has one."
  returned: when O(master_name) is set
  type: str
  sample: ''
verdict:
  description: The group's verdict for O(master_name) (see RV(masters)).
  returned: when O(master_name) is set
  type: dict
  sample: {agreed: true, master: 10.0.0.11:6379, size: 3, majority: 2, answered: 3, unanimous: true}
sentinels:
  description: Each Sentinel's view for O(master_name) (see RV(masters)).
  returned: when O(master_name) is set
  type: list
  elements: dict
masters:
  description: For each master name surveyed, the verdict and each Sentinel's view.
  returned: always
  type: dict
  contains:
    verdict:
      description: The group's verdict by the one rule.
      type: dict
      contains:
        agreed:
          description: Whether a majority of the group's Sentinels answered and named the same master.
          type: bool
        master:
          description: The agreed master (C(ip:port)), or V(null).
          type: str
        votes:
          description: How many Sentinels named each address.
          type: dict
        size:
          description: The group's size the majority is counted from.
          type: int
        majority:
          description: How many Sentinels must name the same master.
          type: int
        answered:
          description: How many Sentinels answered.
          type: int
        unanimous:
          description: Whether every Sentinel that answered named the agreed master.
          type: bool
        reason:
          description:
            - One line that says why there is (or is not) an agreed master and
              what each Sentinel answered. Starts with C(no agreed master) when there is none.
          type: str
        answers:
          description: Each Sentinel's answer (C(sentinel), C(reachable), C(master), C(known_sentinels), C(error)).
          type: list
          elements: dict
    refusal:
      description: As RV(refusal), for this master name.
      type: str
    sentinels:
      description: Each Sentinel's view, in the order they were asked.
      type: list
      elements: dict
      contains:
        sentinel:
          description: The Sentinel's address as it was reached (C(ip:port)).
          type: str
        reachable:
          description: Whether it answered.
          type: bool
        runid:
          description: Its run id (new at each start).
          type: str
        process_id:
          description: Its PID (C(INFO server)).
          type: int
        version:
          description: Its version (Valkey's own version on Valkey).
          type: str
        monitored:
          description: Whether it monitors this master name.
          type: bool
        master:
          description: The master address it gives clients (C(ip:port)).
          type: str
        master_flags:
          description: Its flags for the master (C(master), C(s_down), C(o_down), C(failover_in_progress), ...).
          type: list
          elements: str
        config_epoch:
          description: The master's configuration epoch.
          type: int
        failover_in_progress:
          description: Whether it runs a failover of this master.
          type: bool
        failover_state:
          description: The failover's state, when one runs.
          type: str
        quorum:
          description: Its quorum for this master.
          type: int
        down_after_milliseconds:
          description: Its C(down-after-milliseconds) for this master.
          type: int
        failover_timeout:
          description: Its C(failover-timeout) for this master.
          type: int
        parallel_syncs:
          description: Its C(parallel-syncs) for this master.
          type: int
        known_sentinels:
          description: How many Sentinels it knows, itself included.
          type: int
        known_replicas:
          description: How many replicas it knows.
          type: int
        replicas:
          description: The replicas it knows (C(address), C(ip), C(port), C(flags), C(master_link_status), C(priority), C(offset), C(runid)).
          type: list
          elements: dict
        sentinels:
          description: The other Sentinels it knows (C(address), C(ip), C(port), C(flags), C(runid), C(voted_leader_epoch)).
          type: list
          elements: dict
        ckquorum:
          description: C(SENTINEL CKQUORUM)'s answer (C(ok), C(message)).
          type: dict
        error:
          description: Why it did not answer or does not monitor the master, else V(null).
          type: str
  sample:
    main:
      verdict: {agreed: true, master: 10.0.0.11:6379, size: 3, majority: 2, answered: 3, unanimous: true}
      sentinels: [{sentinel: 127.0.0.1:26379, reachable: true, master: 10.0.0.11:6379, quorum: 2}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    connect,
    connection_argument_spec,
    describe_target,
    safe_error,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel import group_verdict
from ansible_collections.hardened.redis.plugins.module_utils._sentinel_group import (
    QuietModule,
    Unreachable,
    master_names,
    split_address,
    survey,
)


def refusal(name, verdict):
    """The one message every playbook refuses with when a group has no agreed master ('' when it has)."""
    if verdict['agreed']:
        return ''
    return "No agreed master of '%s', nothing done: %s." % (name, verdict['reason'])


def main():
    argument_spec = connection_argument_spec(default_port=26379)
    argument_spec.update(
        master_name=dict(type='str'),
        expected_sentinels=dict(type='int', default=0),
        sentinel_addresses=dict(type='list', elements='str', default=[]),
        require_agreed_master=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p['expected_sentinels'] < 0:
        module.fail_json(msg='expected_sentinels must be 0 (unknown) or more (got %s)' % p['expected_sentinels'])
    seeds = []
    for item in p['sentinel_addresses']:
        try:
            seeds.append(split_address(item))
        except ValueError:
            module.fail_json(msg='sentinel_addresses: %r is not host:port' % item)

    quiet = QuietModule(module)

    def peer(host, port):
        return connect(quiet, host=host, port=port)

    def text(exc):
        return safe_error(module, exc)

    here = describe_target(module)
    try:
        client = connect(quiet)
        login_error = None
    except Unreachable as exc:
        client, login_error = None, text(exc)
    if client is None and not seeds:
        module.fail_json(msg=login_error)

    names = [p['master_name']] if p['master_name'] else None
    if names is None:
        lister = client
        tried = [here]
        for host, port in seeds if lister is None else []:
            try:
                lister = peer(host, port)
                break
            except Unreachable:
                tried.append('%s:%s' % (host, port))
        if lister is None:
            module.fail_json(msg='No Sentinel answered to list its masters (asked %s): %s' % (', '.join(tried), login_error))
        try:
            names = master_names(lister)
        except Exception as exc:
            module.fail_json(msg='Cannot list the masters Sentinel monitors (SENTINEL MASTERS): %s' % text(exc))

    masters = {}
    for name in names:
        answers, views = survey(client, peer, name, here, seeds=seeds, error_text=text)
        if client is None:
            views[0]['error'] = answers[0]['error'] = login_error
        verdict = group_verdict(answers, expected=p['expected_sentinels'])
        masters[name] = dict(verdict=verdict, sentinels=views, refusal=refusal(name, verdict))

    result = dict(changed=False, masters=masters)
    if p['master_name']:
        verdict = masters[p['master_name']]['verdict']
        host, port = (None, None)
        if verdict['master']:
            host, port = split_address(verdict['master'])
        result.update(master_name=p['master_name'], agreed=verdict['agreed'], master=verdict['master'],
                      master_host=host, master_port=port, verdict=verdict,
                      sentinels=masters[p['master_name']]['sentinels'], refusal=masters[p['master_name']]['refusal'])
    if p['require_agreed_master']:
        refused = [masters[name]['refusal'] for name in sorted(masters) if masters[name]['refusal']]
        if refused:
            module.fail_json(msg=' '.join(refused), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
