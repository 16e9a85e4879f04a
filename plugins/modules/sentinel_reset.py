#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_reset
short_description: Make every Sentinel of a group forget removed replicas and Sentinels, one Sentinel at a time
version_added: 0.1.0
description:
  - Sentinel remembers every replica and every other Sentinel it has ever seen
    of a master, for ever, and counts them in its quorum and majority maths.
    C(SENTINEL RESET) makes one Sentinel drop them all and learn again what is
    there (the replicas from the master's C(INFO) within about 10 seconds, the
    other Sentinels from their hello messages within about 2 seconds). Until it
    has, that Sentinel knows no replica and no other Sentinel and answers
    C(NOQUORUM). Resetting every Sentinel at once leaves the group without
    failover for that time, and forgets every node that happens to be down.
  - This module asks the Sentinel it connects to, every Sentinel that one
    knows and O(sentinel_addresses) what they know (as
    M(hardened.redis.sentinel_info) does), and resets only the Sentinels that
    know a replica or Sentinel at one of the O(forget) addresses, B(one at a
    time). After each reset it waits, at most O(timeout) seconds, until that
    Sentinel knows exactly the data nodes and Sentinels that stay, flags the
    master C(master) and passes C(SENTINEL CKQUORUM), before it resets the next.
  - "Refuses before resetting anything (nothing changed) when: a Sentinel that
    stays does not answer; a known Sentinel does not answer and is not to be
    forgotten (a reset would forget it too); a replica that stays is down or not
    linked (same); a failover is in progress; the Sentinels do not all name the
    same master, or flag it down; the master is at a forgotten address; a
    forgotten Sentinel still answers or a forgotten replica is still connected
    (it would be learned again at once; the module first waits up to O(timeout)
    seconds for Sentinel to see it down); fewer Sentinels stay than the quorum
    or than a majority of the group as it counts now."
  - "Before each reset it asks every Sentinel again and stops, with what was
    reset so far, when a failover started, the Sentinels no longer agree, or a
    Sentinel stopped answering. A Sentinel that does not learn the group again
    within O(timeout) stops the module too; the Sentinels after it are not
    reset. Rerun it once the cause is gone: a Sentinel that forgot already is
    not reset again."
author:
  - hardened.redis developers (@hardened-redis)
options:
  master_name:
    description:
      - Name of the monitored master, as in C(sentinel monitor).
      - C(SENTINEL RESET) takes a glob-style pattern, so a name with C(*), C(?),
        C([), C(]) or a backslash is refused.
    type: str
    required: true
  forget:
    description:
      - The addresses of what the Sentinels must forget, each C(ip), C(ip:port),
        C([ipv6]) or C([ipv6]:port), as Sentinel knows them (C(SENTINEL REPLICAS),
        C(SENTINEL SENTINELS)). An address without a port forgets the replica and
        the Sentinel at that address, whatever their port (a host that left).
      - At least one.
    type: list
    elements: str
    required: true
  sentinel_addresses:
    description:
      - More Sentinels to ask, as C(host:port) (C([ipv6]:port)), reached with the
        same credentials and TLS options (only Sentinels that stay).
    type: list
    elements: str
    default: []
  remaining_sentinels:
    description:
      - How many Sentinels stay (for example the inventory's count less the
        removed host); V(0) means unknown.
      - When set, the module refuses unless it finds that many Sentinels that
        stay answering, since one that no other Sentinel knows right now (it was
        just restarted after a reset, say) would be neither asked nor reset.
    type: int
    default: 0
  timeout:
    description:
      - Seconds to wait, for each Sentinel, until it has learned the group again
        after its reset; also how long to wait for Sentinel to see a forgotten
        replica down before refusing.
    type: int
    default: 60
extends_documentation_fragment:
  - hardened.redis.connection.sentinel
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description:
      - Asks every Sentinel, checks everything and reports in RV(reset) the Sentinels it
        would reset; resets none. What the earlier steps of a removal put right (a
        forgotten Sentinel that still runs, the master at a forgotten address) is
        reported as a warning instead of a refusal.
  diff_mode:
    support: full
    description: C(before) and C(after) list what each Sentinel knows, one C(<sentinel> replica|sentinel <address>) per line.
notes:
  - The user needs C(SENTINEL RESET), C(SENTINEL MYID) and what M(hardened.redis.sentinel_info)
    needs, on every Sentinel (the collection's Sentinel C(admin) user; C(client) may not).
  - The other Sentinels are reached at the address they announce, with the
    credentials and TLS options given here.
  - Stop what is to be forgotten first; the playbook C(hardened.redis.remove_node)
    does it in that order (move the master away, stop the node, then this module).
seealso:
  - module: hardened.redis.sentinel_info
  - module: hardened.redis.sentinel_failover
  - name: Redis Sentinel documentation, adding or removing Sentinels
    description: Why Sentinels never forget and how SENTINEL RESET is meant to be used.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
'''

EXAMPLES = r'''
- name: Forget the host 10.0.0.13 (its data node and its Sentinel were stopped)
  hardened.redis.sentinel_reset:
    login_user: admin
    login_password: "{{ redis_sentinel_admin_password }}"
    master_name: main
    forget: [10.0.0.13]
    remaining_sentinels: 2

- name: Forget one replica only, and see first what would be reset
  hardened.redis.sentinel_reset:
    login_user: admin
    login_password: "{{ redis_sentinel_admin_password }}"
    master_name: main
    forget: ["10.0.0.14:6379"]
  check_mode: true
  diff: true
'''

RETURN = r'''
changed:
  description: Whether a Sentinel was reset (or would be, in check mode); also in a failed result.
  returned: always
  type: bool
master:
  description: The master every Sentinel names (C(ip:port)).
  returned: when the Sentinels were asked
  type: str
  sample: 10.0.0.12:6379
forget:
  description: O(forget) as understood (C(ip) or C(ip:port)).
  returned: always
  type: list
  elements: str
  sample: [10.0.0.13]
known:
  description: For each Sentinel that stays, the forgotten replicas and Sentinels it knew when asked first.
  returned: when the Sentinels were asked
  type: dict
  sample: {"10.0.0.11:26379": ["replica 10.0.0.13:6379", "sentinel 10.0.0.13:26379"]}
expected:
  description: What every Sentinel must know afterwards.
  returned: when the Sentinels were asked
  type: dict
  contains:
    nodes:
      description: The data nodes (C(ip:port)), the master included.
      type: list
      elements: str
    sentinels:
      description: The Sentinels (as reached), the one asked included.
      type: list
      elements: str
  sample: {nodes: ["10.0.0.11:6379", "10.0.0.12:6379"], sentinels: ["127.0.0.1:26379", "10.0.0.12:26379"]}
reset:
  description:
    - The Sentinels reset (or that would be, in check mode), in order, each with
      C(sentinel), C(forgot) (what it knew of O(forget)), C(polls) (how many
      times it was asked before it knew the group again) and C(waited) (seconds).
    - In a failed result, those reset before the failure (the last one may not have learned the group again).
  returned: always
  type: list
  elements: dict
  sample: [{sentinel: "10.0.0.12:26379", forgot: ["replica 10.0.0.13:6379"], polls: 23, waited: 8.1}]
not_reset:
  description: In a failed result, the Sentinels that still know a forgotten address and were not reset.
  returned: when a step failed
  type: list
  elements: str
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    connect,
    connection_argument_spec,
    describe_target,
    safe_error,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel_group import sentinel_view, survey
from ansible_collections.hardened.redis.plugins.module_utils._sentinel_reset import (
    glob_free,
    known_lines,
    not_ready,
    parse_forget,
    plan,
    show_forget,
    still_up,
)

POLL_SECONDS = 0.25


class _Unreachable(Exception):
    pass


class _QuietModule(object):
    """What connect() needs, raising instead of failing the task."""

    def __init__(self, module):
        self.params = module.params

    def fail_json(self, msg, **kwargs):
        raise _Unreachable(msg)


def _split_address(text):
    text = text.strip()
    if text.startswith('['):
        host, dummy, port = text[1:].partition(']:')
    else:
        host, dummy, port = text.rpartition(':')
    try:
        port = int(port)
    except ValueError:
        port = None
    if not host or port is None or not 0 < port < 65536:
        raise ValueError(text)
    return host, port


class Group(object):
    """The Sentinels the module reaches: one client per address, kept for the whole run."""

    def __init__(self, module, seeds):
        self.module = module
        self.quiet = _QuietModule(module)
        self.seeds = seeds
        self.here = describe_target(module)
        self.clients = {}
        self.login_error = None

    def text(self, exc):
        return safe_error(self.module, exc)

    def _peer(self, host, port):
        addr = '[%s]:%s' % (host, port) if ':' in str(host) else '%s:%s' % (host, port)
        client = self.clients.get(addr)
        if client is not None:
            try:
                client.ping()
                return client
            except Exception as exc:  # stalled or gone since: unreachable for now
                raise _Unreachable('Cannot connect to Redis at %s: %s' % (addr, self.text(exc)))
        client = connect(self.quiet, host=host, port=port)
        self.clients[addr] = client
        return client

    def ask(self):
        """(views, myids): every Sentinel's view, and each reachable one's ID."""
        client = self.clients.get(self.here)
        if client is None:
            try:
                client = connect(self.quiet)
                self.clients[self.here] = client
            except _Unreachable as exc:
                self.login_error = self.text(exc)
        dummy, views = survey(client, self._peer, self.module.params['master_name'], self.here,
                              seeds=self.seeds, error_text=self.text)
        if client is None:
            views[0]['error'] = self.login_error
        myids = {}
        for v in views:
            if v['reachable'] and v['sentinel'] in self.clients:
                try:
                    myids[v['sentinel']] = self.clients[v['sentinel']].execute_command('SENTINEL', 'MYID')
                except Exception:  # reported by plan() as a refusal
                    pass
        return views, myids

    def view(self, addr):
        try:
            return sentinel_view(self.clients[addr], self.module.params['master_name'], addr, self.text)
        except Exception as exc:  # a stalled or killed Sentinel: not reachable for now
            return dict(sentinel=addr, reachable=False, error=self.text(exc))


def main():
    argument_spec = connection_argument_spec(default_port=26379)
    argument_spec.update(
        master_name=dict(type='str', required=True),
        forget=dict(type='list', elements='str', required=True),
        sentinel_addresses=dict(type='list', elements='str', default=[]),
        remaining_sentinels=dict(type='int', default=0),
        timeout=dict(type='int', default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p['master_name']
    result = dict(changed=False, forget=[], reset=[])

    if not name or not glob_free(name):
        module.fail_json(msg='master_name %r is refused: SENTINEL RESET takes a glob-style pattern and would reset every '
                             'master it matches; a name without *, ?, [, ] or a backslash is needed' % name, **result)
    try:
        forget = parse_forget(p['forget'])
    except ValueError as exc:
        module.fail_json(msg='forget: %s' % exc, **result)
    if not forget:
        module.fail_json(msg='forget: give at least one address to forget', **result)
    result['forget'] = [show_forget(f) for f in forget]
    if p['timeout'] < 1:
        module.fail_json(msg='timeout must be 1 or more seconds (got %s)' % p['timeout'], **result)
    if p['remaining_sentinels'] < 0:
        module.fail_json(msg='remaining_sentinels must be 0 (unknown) or more (got %s)' % p['remaining_sentinels'], **result)
    seeds = []
    for item in p['sentinel_addresses']:
        try:
            seeds.append(_split_address(item))
        except ValueError:
            module.fail_json(msg='sentinel_addresses: %r is not host:port' % item, **result)

    group = Group(module, seeds)
    views, myids = group.ask()
    if not any(v['reachable'] for v in views):
        module.fail_json(msg='No Sentinel answered (%s); nothing was reset.' % '; '.join(
            '%s: %s' % (v['sentinel'], v.get('error')) for v in views), **result)
    first = plan(views, myids, forget, remaining=p['remaining_sentinels'])
    result.update(master=first['master'], known=dict((a, first['known'][a]) for a in first['kept']),
                  expected=dict(nodes=first['expected_nodes'], sentinels=first['kept']))

    def refuse(reasons, what='nothing was reset'):
        module.fail_json(msg='Cannot make the Sentinels of %s forget %s, %s: %s.'
                             % (name, ', '.join(result['forget']), what, '; '.join(reasons)), **result)

    if first['refusals']:
        refuse(first['refusals'])
    if first['running']:
        if module.check_mode:
            for text in first['running']:
                module.warn(text)
        else:
            refuse(first['running'])

    # A forgotten replica must be seen down before a reset (else the master's INFO brings it back).
    if first['forget_replicas'] and not module.check_mode:
        deadline = time.monotonic() + p['timeout']
        up = still_up(views, first['forget_replicas'])
        while up and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS * 2)
            views, myids = group.ask()
            up = still_up(views, first['forget_replicas'])
        if up:
            refuse(['a replica to forget is still connected after %d s: %s; stop it first, or the master\'s INFO '
                    'brings it back at once' % (p['timeout'], '; '.join(up))])

    planned = [dict(sentinel=a, forgot=first['known'][a]) for a in first['to_reset']]
    if module._diff:
        before, after = [], []
        for v in views:
            if v['reachable']:
                lines = known_lines(v)
                before += ['%s %s' % (v['sentinel'], line) for line in lines]
                forgot = set(first['known'].get(v['sentinel'], []))
                after += ['%s %s' % (v['sentinel'], line) for line in lines if line not in forgot]
        result['diff'] = dict(before='\n'.join(before) + '\n', after='\n'.join(after) + '\n')
    if not planned:
        module.exit_json(**result)
    if module.check_mode:
        result.update(changed=True, reset=planned)
        module.exit_json(**result)

    done = []
    for index, step in enumerate(planned):
        addr = step['sentinel']
        left = [s['sentinel'] for s in planned[index:]]
        # Ask everyone again: nothing may have started or stopped since.
        views, myids = group.ask()
        now = plan(views, myids, forget, remaining=p['remaining_sentinels'])
        result.update(changed=bool(done), reset=done)
        if now['refusals'] or now['running']:
            result['not_reset'] = left
            refuse(now['refusals'] + now['running'],
                   what='stopped after %d of %d Sentinels (reset: %s; not reset: %s)'
                   % (len(done), len(planned), ', '.join(d['sentinel'] for d in done) or 'none', ', '.join(left)))
        if addr not in now['to_reset']:
            continue  # it forgot already (a rerun, or it never learned it again)
        try:
            count = group.clients[addr].execute_command('SENTINEL', 'RESET', name)
        except Exception as exc:
            result['not_reset'] = left
            refuse(['SENTINEL RESET on %s failed: %s' % (addr, group.text(exc))],
                   what='stopped after %d of %d Sentinels' % (len(done), len(planned)))
        started = time.monotonic()
        record = dict(sentinel=addr, forgot=now['known'][addr], polls=0, waited=0.0)
        done.append(record)
        result.update(changed=True, reset=done)
        if int(count or 0) != 1:
            result['not_reset'] = left[1:]
            refuse(['SENTINEL RESET %s on %s reset %s masters, not 1' % (name, addr, count)],
                   what='stopped after %d of %d Sentinels' % (len(done), len(planned)))
        expected_nodes = now['expected_nodes']
        deadline = started + p['timeout']
        while True:
            record['polls'] += 1
            view = group.view(addr)
            why = not_ready(view, myids.get(addr), expected_nodes, now['kept_ids'], now['names'])
            if not why:
                break
            if time.monotonic() >= deadline:
                record['waited'] = round(time.monotonic() - started, 3)
                result['not_reset'] = left[1:]
                module.fail_json(
                    msg='Sentinel %s was reset (SENTINEL RESET %s) but did not learn the group again within %d s: %s. '
                        'The Sentinels after it were not reset (%s); the ones before it were (%s). Find out why '
                        '(a Sentinel or a node down, a partition), then rerun.'
                        % (addr, name, p['timeout'], '; '.join(why), ', '.join(left[1:]) or 'none',
                           ', '.join(d['sentinel'] for d in done[:-1]) or 'none'), **result)
            time.sleep(POLL_SECONDS)
        record['waited'] = round(time.monotonic() - started, 3)

    result.update(changed=bool(done), reset=done)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
