#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_config
short_description: Converge one Redis Sentinel's live configuration for one monitored master
version_added: 0.1.0
description:
  - Reads what one Sentinel runs now (C(SENTINEL MASTER), C(SENTINEL CONFIG GET)
    and, for the master's credentials, the Sentinel's own config file), compares
    it with the desired state and changes only what differs, live, with
    C(SENTINEL MONITOR), C(SENTINEL SET), C(SENTINEL CONFIG SET) or
    C(SENTINEL REMOVE). Sentinel writes every change to its config file itself;
    nothing is restarted.
  - B(Who is master belongs to Sentinel.) O(master_host) and O(master_port) are
    used only to start monitoring a master that this Sentinel does not monitor
    yet (bootstrap). They are never used to move an already monitored master;
    after a failover Sentinel reports another node as master, and this module
    keeps that, reports the address Sentinel uses in RV(master) and warns
    that it differs. Use M(hardened.redis.sentinel_failover) to move the master.
  - Never touches epochs, known replicas or known Sentinels (Sentinel's own
    state). O(state=absent) removes the monitored master with
    C(SENTINEL REMOVE), which drops that state for this master.
  - Each Sentinel has its own configuration; run the module against every
    Sentinel of the group (for example on each Sentinel host).
author:
  - hardened.redis developers (@hardened-redis)
options:
  master_name:
    description:
      - Name of the monitored master (the C(<master-name>) of C(sentinel monitor)).
    type: str
    required: true
  state:
    description:
      - V(present) monitors the master (C(SENTINEL MONITOR) if it is not
        monitored yet) and converges the given settings.
      - V(absent) stops monitoring it (C(SENTINEL REMOVE)).
    type: str
    choices: [present, absent]
    default: present
  master_host:
    description:
      - Address of the master, used B(only) with C(SENTINEL MONITOR) when this
        Sentinel does not monitor O(master_name) yet.
      - Required in that case. Ignored (with a warning if it differs) once the
        master is monitored, because Sentinel then owns who is master.
      - A host name needs O(sentinel_settings) C(resolve-hostnames=yes).
    type: str
  master_port:
    description:
      - Port of the master, used only with O(master_host) (see there).
    type: int
    default: 6379
  quorum:
    description:
      - Number of Sentinels that must agree the master is down before a failover.
      - Required when the master is not monitored yet. 1 or more.
    type: int
  down_after_milliseconds:
    description:
      - Milliseconds without a valid reply before Sentinel considers an instance down. 1 or more.
    type: int
  failover_timeout:
    description:
      - Sentinel's C(failover-timeout) in milliseconds. 1 or more.
    type: int
  parallel_syncs:
    description:
      - Number of replicas reconfigured at the same time after a failover. 1 or more.
    type: int
  auth_user:
    description:
      - ACL user Sentinel authenticates as on the master and replicas
        (C(sentinel auth-user)). V("") removes it.
      - Not shown by C(SENTINEL MASTER); compared with the Sentinel's config file, see O(auth_pass_update).
      - Refused, before anything is changed, if it contains whitespace, a quote
        or a backslash (Sentinel writes it unquoted to its config file and then
        fails at its next start); the same holds for O(auth_pass), O(sentinel_pass)
        and C(sentinel-user) in O(sentinel_settings).
    type: str
  auth_pass:
    description:
      - Password Sentinel uses on the master and replicas (C(sentinel auth-pass)). V("") removes it.
      - Not shown by C(SENTINEL MASTER); compared with the Sentinel's config file, see O(auth_pass_update).
      - No whitespace, quotes or backslashes (see O(auth_user)).
    type: str
  auth_pass_update:
    description:
      - How O(auth_user) and O(auth_pass) are compared on a master that is already monitored.
      - V(compare) reads them from the Sentinel's config file (O(config_file)),
        which Sentinel rewrites after every change, and sets them only when they
        differ. The module must be able to read that file (it runs on the
        Sentinel host, as root or as the Sentinel user); if it cannot, the task
        fails rather than guess.
      - V(on_create) sets them only when the module starts monitoring the master.
    type: str
    choices: [compare, on_create]
    default: compare
  config_file:
    description:
      - The Sentinel's config file, read to compare O(auth_user) and O(auth_pass).
      - Defaults to the C(config_file) that C(INFO server) of the Sentinel reports,
        which is right when the module runs on the Sentinel host.
    type: path
  sentinel_settings:
    description:
      - Global Sentinel settings set with C(SENTINEL CONFIG SET), as a dict of
        setting name (as C(SENTINEL CONFIG GET) shows it) to value, for example
        C(resolve-hostnames), C(announce-hostnames), C(announce-ip),
        C(announce-port), C(sentinel-user).
      - Booleans are written V(yes)/V(no). Only the names this Sentinel reports
        are accepted.
      - Use O(sentinel_pass) for C(sentinel-pass).
    type: dict
  sentinel_pass:
    description:
      - Password this Sentinel uses to authenticate to the other Sentinels
        (C(sentinel-pass)). V("") removes it.
    type: str
extends_documentation_fragment:
  - hardened.redis.connection.sentinel
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: Reads and compares everything, reports the changes it would make, writes nothing.
  diff_mode:
    support: full
    description:
      - Returns C(before) and C(after) as C(setting value) lines for the
        managed settings, also in check mode. Secrets are masked but differ
        between before and after when they change.
notes:
  - O(login_port) defaults to V(26379) here.
  - The user the module logs in as needs C(SENTINEL) and C(INFO) rights on the Sentinel.
  - A later failover changes the master's address, not these settings, so a
    second run after a failover reports no change.
seealso:
  - module: hardened.redis.sentinel_failover
  - module: hardened.redis.redis_config
  - name: Redis Sentinel documentation
    description: Sentinel configuration, runtime reconfiguration and ACL for Sentinel.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
'''

EXAMPLES = r'''
- name: Monitor the group once, converge its settings on every run
  hardened.redis.sentinel_config:
    login_password: "{{ redis_sentinel_password }}"
    master_name: main
    master_host: 10.0.0.11        # used only if this Sentinel does not monitor "main" yet
    master_port: 6379
    quorum: 2
    down_after_milliseconds: 5000
    failover_timeout: 60000
    parallel_syncs: 1
    auth_user: sentinel
    auth_pass: "{{ redis_sentinel_auth_pass }}"
    sentinel_settings:
      resolve-hostnames: false
      announce-ip: 10.0.0.21
    sentinel_pass: "{{ redis_sentinel_password }}"

- name: Preview the changes
  hardened.redis.sentinel_config:
    master_name: main
    quorum: 3
  check_mode: true
  diff: true

- name: Stop monitoring a group
  hardened.redis.sentinel_config:
    master_name: old-group
    state: absent
'''

RETURN = r'''
changed:
  description:
    - Whether something was changed (or would be, in check mode).
    - Also in a failed result, V(true) when commands before the failing one were applied.
  returned: always
  type: bool
applied:
  description: In a failed result, the commands applied before the one that failed (secrets masked).
  returned: when a command failed
  type: list
  elements: str
  sample: ["SENTINEL MONITOR extra 127.0.0.1 6380 1"]
master_name:
  description: O(master_name).
  returned: always
  type: str
  sample: main
monitored:
  description: Whether the Sentinel monitors the master after the task (or would, in check mode).
  returned: always
  type: bool
master:
  description:
    - Address of the master as this Sentinel reports it (after a failover, the
      new master), or O(master_host)/O(master_port) when the module starts
      monitoring it. Empty when not monitored.
  returned: always
  type: dict
  sample: {"host": "10.0.0.12", "port": 6379}
changes:
  description:
    - Every setting that differed, with C(before) and C(after) values as Sentinel
      reports them (secrets masked). C(monitor) stands for the monitoring itself.
  returned: always
  type: dict
  sample: {"quorum": {"before": "2", "after": "3"}, "monitor": {"before": null, "after": "10.0.0.11 6379"}}
commands:
  description: The commands run (or that would be), with secrets masked.
  returned: always
  type: list
  elements: str
  sample: ["SENTINEL SET main quorum 3"]
config_file:
  description: The Sentinel config file used to compare O(auth_user) and O(auth_pass) (empty if not read).
  returned: always
  type: str
  sample: /etc/redis/sentinel.conf
diff:
  description: C(before) and C(after) as C(setting value) lines of the managed settings.
  returned: when diff mode is on
  type: dict
  sample: {"before": "quorum 2\n", "after": "quorum 3\n"}
'''


from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    connect,
    connection_argument_spec,
    describe_target,
    fail as fail_on,
    run as run_on,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel import (
    host_addresses,
    MASK,
    MASTER_AUTH_OPTIONS,
    MASTER_INT_OPTIONS,
    SECRET_OPTIONS,
    diff_lines,
    masked_pair,
    pairs,
    plan_globals,
    plan_master,
    read_master_auth,
    server_mode,
    validate_master_options,
)
from ansible_collections.hardened.redis.plugins.module_utils._values import InvalidValue


def _is_no_such_master(exc):
    return 'no such master' in to_native(exc).lower()


def main():
    argument_spec = connection_argument_spec(default_port=26379)
    argument_spec.update(
        master_name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        master_host=dict(type='str'),
        master_port=dict(type='int', default=6379),
        quorum=dict(type='int'),
        down_after_milliseconds=dict(type='int'),
        failover_timeout=dict(type='int'),
        parallel_syncs=dict(type='int'),
        auth_user=dict(type='str'),
        auth_pass=dict(type='str', no_log=True),
        auth_pass_update=dict(type='str', default='compare', choices=['compare', 'on_create'], no_log=False),
        config_file=dict(type='path'),
        sentinel_settings=dict(type='dict'),
        sentinel_pass=dict(type='str', no_log=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p['master_name']

    try:
        validate_master_options(p)
    except InvalidValue as exc:
        module.fail_json(msg='Invalid option: %s' % to_native(exc))
    desired_globals = dict(p['sentinel_settings'] or {})
    if 'sentinel-pass' in desired_globals:
        module.fail_json(msg='sentinel_settings: set sentinel-pass with the sentinel_pass option (no_log)')
    if p['sentinel_pass'] is not None:
        desired_globals['sentinel-pass'] = p['sentinel_pass']

    client = connect(module)
    target = describe_target(module)
    where = 'the Sentinel at %s' % target

    def fail(msg, **kwargs):
        module.fail_json(msg=msg, target=target, **kwargs)

    def run(*args):
        return run_on(module, 'run %s' % ' '.join(str(a) for a in args[:3]), client.execute_command, *args,
                      target=where, result=dict(target=target))

    try:
        server = pairs(client.info('server'))
    except Exception as exc:
        denied = 'noperm' in to_native(exc).lower() or type(exc).__name__ == 'NoPermissionError'
        fail_on(module, 'read INFO server', exc, target=where, result=dict(target=target),
                hint='(login_user needs +info on the Sentinel)' if denied else None)
    mode = server_mode(server)
    if mode != 'sentinel':
        fail('%s is not a Sentinel (mode %s); point login_host/login_port at redis-sentinel or valkey-sentinel'
             ' (default port 26379)' % (target, mode))

    current_globals = pairs(run('SENTINEL', 'CONFIG', 'GET', '*'))
    try:
        global_changes = plan_globals(current_globals, desired_globals)
    except InvalidValue as exc:
        fail('Invalid option sentinel_settings: %s' % to_native(exc))

    try:
        current = pairs(client.execute_command('SENTINEL', 'MASTER', name))
    except Exception as exc:
        if not _is_no_such_master(exc):
            fail_on(module, 'read master %s' % name, exc, target=where, result=dict(target=target))
        current = None

    changes = []          # list of Change, in the order they are applied
    commands = []         # list of argument tuples
    shown_commands = []
    before, after = {}, {}
    warnings = []
    config_file = ''
    master = {}

    for change in global_changes:
        changes.append(change)
        commands.append(('SENTINEL', 'CONFIG', 'SET', change.option, change.after))
        before[change.option] = change.before
        after[change.option] = change.after
    for name_ in desired_globals:
        if name_ not in before:
            before[name_] = after[name_] = str(current_globals.get(name_, ''))

    if p['state'] == 'present' and current is None:
        if not p['master_host']:
            fail('master %s is not monitored by the Sentinel at %s: master_host (and quorum) are needed to start '
                 'monitoring it' % (name, target))
        if p['quorum'] is None:
            fail('master %s is not monitored by the Sentinel at %s: quorum is needed to start monitoring it'
                 % (name, target))
        monitor = '%s %s' % (p['master_host'], p['master_port'])
        changes.append(_Monitor(monitor))
        commands.append(('SENTINEL', 'MONITOR', name, p['master_host'], p['master_port'], p['quorum']))
        before['monitor'], after['monitor'] = None, monitor
        # After MONITOR only the given settings are set; Sentinel's defaults stay for the others.
        desired = dict((opt, p[opt]) for opt, dummy in MASTER_INT_OPTIONS + MASTER_AUTH_OPTIONS if opt != 'quorum')
        for change in plan_master({}, {}, desired):
            changes.append(change)
            commands.append(('SENTINEL', 'SET', name, change.option, change.after))
            before[change.option], after[change.option] = None, change.after
        after['quorum'] = str(p['quorum'])
        master = dict(host=p['master_host'], port=p['master_port'])
    elif p['state'] == 'present':
        master = dict(host=current.get('ip'), port=int(current.get('port')))
        if p['master_host'] and (master['host'] not in host_addresses(p['master_host']) or p['master_port'] != master['port']):
            warnings.append('master %s is monitored at %s:%s (Sentinel owns who is master after bootstrap); '
                            'master_host/master_port (%s:%s) are only used to start monitoring and were ignored'
                            % (name, master['host'], master['port'], p['master_host'], p['master_port']))
        auth_wanted = [opt for opt, dummy in MASTER_AUTH_OPTIONS if p[opt] is not None]
        current_auth = None
        if auth_wanted and p['auth_pass_update'] == 'compare':
            config_file = p['config_file'] or server.get('config_file') or ''
            if not config_file:
                fail('Cannot compare %s: the Sentinel at %s reports no config file; set config_file or '
                     'auth_pass_update=on_create' % (', '.join(auth_wanted), target))
            try:
                with open(config_file) as f:
                    current_auth = read_master_auth(f.read(), name)
            except (IOError, OSError) as exc:
                fail('Cannot compare %s: cannot read the Sentinel config file %s (%s). Run the module on the '
                     'Sentinel host as a user that can read it, set config_file, or use auth_pass_update=on_create'
                     % (', '.join(auth_wanted), config_file, exc.strerror or exc))
        desired = dict((opt, p[opt]) for opt, dummy in MASTER_INT_OPTIONS + MASTER_AUTH_OPTIONS)
        for change in plan_master(current, current_auth, desired):
            changes.append(change)
            commands.append(('SENTINEL', 'SET', name, change.option, change.after))
        for opt, sname in MASTER_INT_OPTIONS:
            if p[opt] is not None:
                before[sname] = str(current.get(sname))
                after[sname] = str(p[opt])
        if current_auth is not None:
            for opt, sname in MASTER_AUTH_OPTIONS:
                if p[opt] is not None:
                    before[sname] = current_auth.get(sname) or ''
                    after[sname] = p[opt]
        before['monitor'] = after['monitor'] = '%s %s' % (master['host'], master['port'])
    elif current is not None:  # absent, monitored
        monitor = '%s %s' % (current.get('ip'), current.get('port'))
        changes.append(_Monitor(None, monitor))
        commands.append(('SENTINEL', 'REMOVE', name))
        before['monitor'], after['monitor'] = monitor, None
        for opt, sname in MASTER_INT_OPTIONS:
            before[sname] = str(current.get(sname))

    for args in commands:
        shown = [str(a) for a in args]
        if len(args) == 5 and args[3] in SECRET_OPTIONS and args[4]:
            shown[4] = MASK
        shown_commands.append(' '.join('""' if a == '' else a for a in shown))

    if not module.check_mode:
        applied = []
        for args, change, shown in zip(commands, changes, shown_commands):
            try:
                client.execute_command(*args)
            except Exception as exc:
                # What was applied stays applied (a MONITOR is not undone): say so.
                fail_on(module, 'set %s of %s' % (change.option, name), exc, target=where,
                        hint='(applied before: %s)' % ('; '.join(applied) if applied else 'nothing'),
                        result=dict(changed=bool(applied), target=target, applied=applied,
                                    changes=dict((c.option, c.shown()) for c in changes), commands=shown_commands))
            applied.append(shown)

    result = dict(
        changed=bool(changes),
        master_name=name,
        monitored=(p['state'] == 'present'),
        master=master if p['state'] == 'present' else {},
        changes=dict((c.option, c.shown()) for c in changes),
        commands=shown_commands,
        config_file=config_file,
    )
    if module._diff:
        for option in SECRET_OPTIONS:
            if option in before or option in after:
                before[option], after[option] = masked_pair(option, before.get(option), after.get(option))
        result['diff'] = dict(before=diff_lines(before), after=diff_lines(after))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


class _Monitor(object):
    """A pseudo-change for starting (before None) or stopping (after None) monitoring."""

    option = 'monitor'

    def __init__(self, after, before=None):
        self.before = before
        self.after = after

    def shown(self):
        return dict(before=self.before, after=self.after)


if __name__ == '__main__':
    main()
