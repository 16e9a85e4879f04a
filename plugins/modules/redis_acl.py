#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_acl
short_description: Converge the ACL users of a running Redis, Valkey or Sentinel without disconnecting anyone
version_added: 0.1.0
description:
  - Compares the users a running server has (C(ACL GETUSER)) with the given
    ones and changes only what differs, in place with C(ACL SETUSER). A
    password is added beside the others (C(#<sha256>)) or removed
    (C(!<sha256>)); a user whose rules differ is redefined in one command
    (C(reset), its rules and its passwords); a missing user is created; with
    O(purge), a user that is not listed is deleted (C(ACL DELUSER)).
  - B(No client is disconnected) by an added or removed password or by a
    redefinition (measured on Redis 7.0 and Valkey 8.1), unlike C(ACL LOAD),
    which on Redis 7.0 disconnects every authenticated client, the replicas'
    links included, even when nothing changed. So a user can hold the old and
    the new password through a rotation, and lose the old one later, while
    its clients keep working.
  - Rules are compared as the server itself normalises them. For that the
    module creates a probe user (C(hardened-redis-probe), always disabled,
    without a password, so nobody can log in as it) with the same rules, reads
    it back and deletes it at once, also in check mode.
  - Passwords are sent as SHA-256 hashes; a plaintext password never reaches
    the server, the result or a log.
  - The module changes the running server only. On a data node, keep its
    C(aclfile) in step (the C(hardened.redis.redis) role writes it from the
    same users), or the next start loads the file. On a Sentinel, whose users
    live in its config file, the module runs C(SENTINEL FLUSHCONFIG) after a
    change so that Sentinel writes them there.
author:
  - hardened.redis developers (@hardened-redis)
options:
  users:
    description:
      - The users as they should be, in the order they are applied.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The user name. No whitespace, quotes or backslashes.
        type: str
        required: true
      rules:
        description:
          - "The user's ACL rules without its passwords, as in an C(aclfile)
            line after the name, for example V(on ~* &* +@all -@dangerous).
            A user that the rules do not switch V(on) is off."
          - A token that starts with C(>), C(<), C(#) or C(!) (a password or
            its hash) is refused; give passwords in O(users[].passwords).
        type: str
        default: ''
      passwords:
        description:
          - Every password the user accepts, in plaintext (hashed with SHA-256
            before use). Usually one; two during a password rotation, the new
            and the previous one.
          - An empty list leaves the user without a password (no one can log in as
            it unless its rules say C(nopass)).
        type: list
        elements: str
        default: []
  purge:
    description:
      - Delete the users the server has and O(users) does not list (C(ACL
        DELUSER), which disconnects that user's clients). The C(default) user
        is never deleted.
    type: bool
    default: false
extends_documentation_fragment:
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description:
      - Compares and reports what would change, without changing a user. The
        disabled probe user used for the comparison is created and deleted
        as in a normal run.
  diff_mode:
    support: full
    description:
      - C(before) and C(after) as one C(user ...) line per user, in the
        server's own notation, with every password shown as C(<password N>)
        (equal passwords get equal labels, nothing of a password or its hash
        is shown), also in check mode.
notes:
  - The login user needs C(ACL) and C(INFO) rights (the collection's C(admin) users have them).
  - A user with a changed password keeps its connections, and a client that
    authenticated with a removed password stays logged in until it
    reconnects; from then on the server refuses that password.
seealso:
  - module: hardened.redis.redis_config
  - module: hardened.redis.sentinel_config
  - name: ACL SETUSER
    description: The rules, and how passwords are added and removed.
    link: https://redis.io/docs/latest/commands/acl-setuser/
'''

EXAMPLES = r'''
- name: Rotation, phase 1 - app accepts the new and the previous password
  hardened.redis.redis_acl:
    login_unix_socket: /run/redis-main/redis.sock
    login_user: admin
    login_password: "{{ vault_redis_admin_password }}"
    users:
      - name: app
        rules: on ~* &* +@all -@dangerous
        passwords:
          - "{{ vault_redis_app_password }}"
          - "{{ vault_redis_app_password_previous }}"

- name: Rotation, phase 2 - only the new password (clients stay connected)
  hardened.redis.redis_acl:
    login_unix_socket: /run/redis-main/redis.sock
    login_user: admin
    login_password: "{{ vault_redis_admin_password }}"
    users:
      - name: app
        rules: on ~* &* +@all -@dangerous
        passwords: ["{{ vault_redis_app_password }}"]

- name: A Sentinel's own users (written to sentinel.conf with SENTINEL FLUSHCONFIG)
  hardened.redis.redis_acl:
    login_port: 26379
    login_user: admin
    login_password: "{{ sentinel_admin_password }}"
    # the admin password before its rotation, tried if the new one is refused
    login_password_previous: "{{ sentinel_admin_password_previous }}"
    purge: true
    users:
      - {name: default, rules: off resetpass resetkeys resetchannels -@all}
      - {name: admin, rules: on ~* &* +@all, passwords: ["{{ sentinel_admin_password }}"]}
'''

RETURN = r'''
changed:
  description:
    - Whether a user was (or, in check mode, would be) changed.
    - Also in a failed result, V(true) when commands before the failing one were applied.
  returned: always
  type: bool
users:
  description:
    - What happened to each user that changed, by name. C(action) is
      C(created), C(redefined) (its rules changed), C(passwords) (only
      passwords were added or removed) or C(deleted); C(passwords_added) and
      C(passwords_removed) count passwords.
  returned: always
  type: dict
  sample: {"app": {"action": "passwords", "passwords_added": 1, "passwords_removed": 0}}
commands:
  description: The commands run (or that would be), every password hash shown as C(<password N>).
  returned: always
  type: list
  elements: str
  sample: ["ACL SETUSER app #<password 2>"]
applied:
  description: In a failed result, the commands applied before the one that failed (masked as RV(commands)).
  returned: when a command failed
  type: list
  elements: str
sentinel:
  description: Whether the server is a Sentinel (then its config file is written with C(SENTINEL FLUSHCONFIG) after a change).
  returned: always
  type: bool
diff:
  description: C(before) and C(after), one C(user ...) line per listed (or purged) user, passwords as C(<password N>).
  returned: when diff mode is on
  type: dict
  sample: {"before": "user app on #<password 1> ~* &* +@all -@dangerous\n", "after": "user app on #<password 1> #<password 2> ~* &* +@all -@dangerous\n"}
'''

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._acl import (
    PROBE,
    InvalidUsers,
    Labels,
    describe,
    expected_view,
    passwords_in_rules,
    plan_delete,
    plan_user,
    validate_users,
    view,
)
from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    SecretModule,
    connect,
    connection_argument_spec,
    describe_target,
    error_text,
    fail as fail_on,
    run as run_on,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel import pairs, server_mode

_ACTION_NAMES = {'create': 'created', 'redefine': 'redefined', 'passwords': 'passwords', 'delete': 'deleted'}


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        users=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            rules=dict(type='str', default=''),
            passwords=dict(type='list', elements='str', default=[], no_log=True),
        )),
        purge=dict(type='bool', default=False),
    )
    # A password put into rules by mistake is masked everywhere (the invocation
    # logged to syslog included) before the module refuses it.
    module = SecretModule(secrets_in=passwords_in_rules, argument_spec=argument_spec, supports_check_mode=True)
    try:
        desired = validate_users(module.params['users'])
    except InvalidUsers as exc:
        module.fail_json(msg='Invalid option users: %s' % to_native(exc))

    client = connect(module)
    target = describe_target(module)

    def run(what, *args):
        return run_on(module, what, client.execute_command, *args, result=dict(target=target))

    sentinel = server_mode(pairs(run('read INFO server', 'INFO', 'server'))) == 'sentinel'
    live_names = [to_native(n) for n in run('list the ACL users', 'ACL', 'USERS')]
    live = {}
    probes = {}
    probe_error = []
    try:
        for user in desired:
            live[user.name] = view(run('read ACL user %s' % user.name, 'ACL', 'GETUSER', user.name))
            # The server's own normal form of the rules: a disabled probe user built from them.
            run('create the probe user %s (rules of %s)' % (PROBE, user.name),
                'ACL', 'SETUSER', PROBE, 'reset', *user.probe_tokens())
            probes[user.name] = view(run('read the probe user %s' % PROBE, 'ACL', 'GETUSER', PROBE))
    finally:
        # Also when a step above failed (fail_json raised SystemExit): never leave the probe behind.
        try:
            client.execute_command('ACL', 'DELUSER', PROBE)
        except Exception as exc:  # redis-py raises several families
            probe_error.append(exc)
    if probe_error:
        fail_on(module, 'delete the probe user %s' % PROBE, probe_error[0], result=dict(target=target))

    actions = [plan_user(user, live[user.name], probes[user.name]) for user in desired]
    wanted = set(u.name for u in desired)
    purged = []
    if module.params['purge']:
        purged = [n for n in live_names if n not in wanted and n not in ('default', PROBE)]
        for name in purged:
            live[name] = view(run('read ACL user %s' % name, 'ACL', 'GETUSER', name))
            actions.append(plan_delete(name, live[name]))

    labels = Labels()
    # Labels in a stable order: the live passwords first, then the new ones.
    for name in [u.name for u in desired] + purged:
        for digest in (live.get(name) or {}).get('passwords') or []:
            labels(digest)
    changes = [a for a in actions if a.changed]
    shown = [labels.command(a.args) for a in changes]

    if changes and not module.check_mode:
        applied = []
        for action, text in zip(changes, shown):
            try:
                client.execute_command(*action.args)
            except Exception as exc:
                # The server's error may quote the modifier: no hash in the message.
                fail_on(module, 'change ACL user %s' % action.name, labels.text(error_text(module, exc)),
                        hint='(applied before: %s)' % ('; '.join(applied) if applied else 'nothing'),
                        result=dict(changed=bool(applied), applied=applied, commands=shown, target=target,
                                    sentinel=sentinel))
            applied.append(text)
        if sentinel:
            # Sentinel keeps its users in its config file: write it now.
            run('write the Sentinel config file (SENTINEL FLUSHCONFIG)', 'SENTINEL', 'FLUSHCONFIG')

    result = dict(
        changed=bool(changes),
        users=dict((a.name, dict(action=_ACTION_NAMES[a.kind], passwords_added=len(a.added),
                                 passwords_removed=len(a.removed))) for a in changes),
        commands=shown,
        sentinel=sentinel,
    )
    if module._diff:
        before, after = [], []
        for user, action in zip(desired, actions):
            before.append(describe(user.name, live[user.name], labels))
            if action.kind in ('none', 'passwords'):  # the rules stay as the server has them
                after.append(describe(user.name, dict(live[user.name], passwords=user.hashes), labels))
            else:
                after.append(describe(user.name, expected_view(probes[user.name], user), labels))
        for name in purged:
            before.append(describe(name, live[name], labels))
        result['diff'] = dict(before=''.join(line + '\n' for line in before if line),
                              after=''.join(line + '\n' for line in after if line))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
