#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: converge_stamp
short_description: Tell in one read whether a host still is as its last full converge left it
version_added: 0.1.0
description:
  - The fast path of the roles C(hardened.redis.redis) and C(hardened.redis.redis_sentinel).
  - With O(state=record), run as the last task of a full converge that succeeded, it observes the host (the
    files the role manages, its units, packages and kernel settings, and the live settings and ACL users of
    the running server) and writes a stamp, the digest of the role's inputs (O(inputs)) and one digest per
    observed item. No value is written, only SHA-256 digests; the stamp is readable by root only.
  - With O(state=check) it observes the same items again and compares. RV(in_sync) is true only when the
    inputs are the same and every item is as recorded; anything else (a file edited, a mode, a unit stopped
    or disabled, a package removed, a kernel setting, a live setting changed with CONFIG SET, an ACL user,
    a server that does not answer, no stamp) is drift, named in RV(drift), and the role takes its full path,
    which corrects it.
  - O(state=check) only reads, also outside check mode. O(state=record) changes nothing in check mode.
  - A server's own rewrites of its config file (C(CONFIG REWRITE) after a failover, Sentinel's state lines)
    are not drift; O(rewritten_files) names the directives to leave out of a file's digest.
author:
  - hardened.redis developers (@hardened-redis)
extends_documentation_fragment:
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return changed status prediction without modifying target.
    details: O(state=check) reads only; O(state=record) reports what it would write.
  diff_mode:
    support: none
    description: No diff; the stamp holds digests only.
options:
  path:
    description: The stamp file (its directory is created, mode 0700).
    type: path
    required: true
  state:
    description: V(check) compares the host with the stamp; V(record) writes the stamp.
    type: str
    choices: [check, record]
    default: check
  inputs:
    description:
      - The digest of everything the full converge depends on (role variables, the facts it uses, the
        collection's code), computed on the controller (filter C(hardened.redis.converge_digest)).
    type: str
    required: true
  files:
    description: Files and directories whose content (of files), type, mode and owner are part of the state. A missing one is recorded as absent.
    type: list
    elements: path
    default: []
  rewritten_files:
    description:
      - Files the server rewrites itself. Their comments, blank lines and the lines whose first words are
        in the list are left out of their digest.
    type: dict
    default: {}
  units:
    description: systemd units whose load, active and enablement states (and whether they need a daemon-reload) are part of the state.
    type: list
    elements: str
    default: []
  packages:
    description: Debian packages whose installed state is part of the state (not their version).
    type: list
    elements: str
    default: []
  kernel:
    description: Files under C(/proc/sys) or C(/sys) whose content is part of the state.
    type: list
    elements: path
    default: []
  live:
    description:
      - V(redis) reads the running server's O(config_keys) (C(CONFIG GET)) and its users (C(ACL LIST)).
      - V(sentinel) reads the running Sentinel's settings (C(SENTINEL CONFIG GET *)), the monitored group's
        settings O(config_keys) (C(SENTINEL MASTER)) and its users.
      - V(none) reads no server.
    type: str
    choices: [redis, sentinel, none]
    default: none
  config_keys:
    description: With O(live=redis), the directives to read; with O(live=sentinel), the fields of C(SENTINEL MASTER) to read.
    type: list
    elements: str
    default: []
  config_file:
    description:
      - With O(live=redis), the server's config file. Of its content only the values of the O(config_keys)
        that need a restart are compared (what the full path would put right there); its type and owner
        are compared as a file of O(files) without content, not its mode (C(CONFIG REWRITE) writes a new file
        with the server's umask). The server's own rewrites (C(CONFIG REWRITE), also after every failover)
        are no difference.
    type: path
  master_name:
    description: With O(live=sentinel), the monitored group.
    type: str
notes:
  - What it cannot observe stays covered by O(inputs) only, for example the password Sentinel uses towards
    the data nodes (C(auth-pass) cannot be read back). Run the role with its fast path off to force the full
    converge.
requirements:
  - redis (redis-py) on the managed host, for O(live) (without it the live state counts as unreadable, which is drift)
'''

EXAMPLES = r'''
- name: Compare the host with its last converge
  hardened.redis.converge_stamp:
    path: /var/lib/hardened-redis/stamps/redis-main.json
    inputs: "{{ my_inputs | hardened.redis.converge_digest }}"
    files: [/etc/systemd/system/redis-hardened@.service]
    units: [redis-hardened@main.service]
    packages: [redis-server]
    live: redis
    config_keys: [maxmemory, maxmemory-policy]
    login_unix_socket: /run/redis-main/redis.sock
    login_user: admin
    login_password: "{{ admin_password }}"
  register: stamp
  no_log: true
'''

RETURN = r'''
in_sync:
  description: Whether the host is as the stamp recorded it, for the same inputs (V(false) after O(state=record)).
  returned: always
  type: bool
drift:
  description: What differs (item names, never values), or why there is nothing to compare with.
  returned: always
  type: list
  elements: str
  sample: ["live settings", "file /etc/logrotate.d/redis-hardened-main"]
notes:
  description: Why the live state or the units could not be read, with every secret masked.
  returned: always
  type: list
  elements: str
items:
  description: How many items were observed.
  returned: always
  type: int
'''

import hashlib
import json
import os
import stat
import tempfile

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    SecretModule, connection_argument_spec, safe_error, try_connect)
from ansible_collections.hardened.redis.plugins.module_utils._directives import is_static, names_in_file
from ansible_collections.hardened.redis.plugins.module_utils._values import split_config_args

FORMAT = 1
# ACL flags Redis sets by itself (as in module_utils/_acl.py)
_SANITIZE = ('sanitize-payload', 'skip-sanitize-payload')


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode('utf-8')).hexdigest()


def _file_state(path, volatile=None, content=True, mode=True):
    try:
        st = os.lstat(path)
    except OSError:
        return 'absent'
    state = {'uid': st.st_uid, 'gid': st.st_gid}
    if mode:
        state['mode'] = '%o' % stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        state['type'] = 'directory'
    elif stat.S_ISLNK(st.st_mode):
        state['type'] = 'link'
        state['target'] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode) and not content:
        state['type'] = 'file'
    elif stat.S_ISREG(st.st_mode):
        state['type'] = 'file'
        sha = hashlib.sha256()
        with open(path, 'rb') as f:
            if volatile is None:
                for block in iter(lambda: f.read(65536), b''):
                    sha.update(block)
            else:
                for line in f:
                    words = line.split()
                    if not words or words[0].startswith(b'#'):
                        continue
                    if any(tuple(words[:len(v)]) == v for v in volatile):
                        continue
                    sha.update(b' '.join(words) + b'\n')
        state['content'] = sha.hexdigest()
    else:
        state['type'] = 'other'
    return state


def _units(module, names):
    """The units' states, and why systemctl could not tell them (or None)."""
    if not names:
        return {}, None
    props = 'Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload'
    rc, out, err = module.run_command(['systemctl', 'show', '--property=' + props, '--'] + list(names))
    if rc != 0:
        cause = 'systemctl show failed (rc=%d): %s' % (rc, ' '.join(err.split()) or 'no message')
        return dict(('unit ' + n, 'systemctl failed') for n in names), cause
    blocks = out.strip().split('\n\n')
    result = {}
    for name, block in zip(names, blocks):
        fields = dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
        fields.pop('Id', None)
        result['unit ' + name] = fields
    for name in names[len(blocks):]:
        result['unit ' + name] = 'unknown'
    return result, None


def _packages(module, names):
    if not names:
        return {}
    rc, out, err = module.run_command(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Abbrev}\n', '--'] + list(names))
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if parts:
            found[parts[0]] = parts[1].strip() if len(parts) > 1 else ''
    return dict(('package ' + n, found.get(n, 'absent')) for n in names)


def _kernel(paths):
    result = {}
    for path in paths:
        try:
            with open(path) as f:
                result['kernel ' + path] = ' '.join(f.read().split())
        except (IOError, OSError):
            result['kernel ' + path] = 'unreadable'
    return result


def _command_rules(run):
    """A run of single-command rules in one order that keeps its meaning.

    Rules for different commands do not depend on each other: they are
    grouped by command, the commands sorted. Within a command, a rule for the
    whole command (C(+config)) and the rules for its subcommands after it
    (C(-config|set)) keep their order, which is their meaning; rules for
    different subcommands between two such rules are sorted (stably: the
    same subcommand twice keeps its order).
    """
    by_command = {}
    for rule in run:
        by_command.setdefault(rule[1:].split('|', 1)[0], []).append(rule)
    out = []
    for command in sorted(by_command):
        subcommands = []
        for rule in by_command[command]:
            if '|' in rule:
                subcommands.append(rule)
                continue
            out.extend(sorted(subcommands, key=lambda r: r[1:]))
            subcommands = []
            out.append(rule)
        out.extend(sorted(subcommands, key=lambda r: r[1:]))
    return out


def _acl_line(line):
    """An ACL LIST line with each run of single-command rules in one order.

    Redis 7.0 lists the commands a user was given or denied one by one, C(+cmd)
    and C(-cmd) mixed, and the subcommands of a command after it, in the order
    of its command tables' hashes, which differs between processes (after a
    restart). Each run of such rules is put in one order (_command_rules).
    Categories, patterns and everything else keep their place, and a
    selector's closing parenthesis ends a run. The sanitize-payload flags are
    left out, as redis_acl leaves them out: Redis 7.0 sets one by itself (a
    user of a config file's C(user) line has it after a restart, one defined
    live with C(ACL SETUSER) does not) and the roles never ask for one.
    """
    out, run = [], []

    def flush():
        out.extend(_command_rules(run))
        del run[:]

    for word in line.split():
        if word in _SANITIZE:
            continue
        closing = word.endswith(')') and not word.startswith('(')
        rule = word[:-1] if closing else word
        if rule[:1] in ('+', '-') and '@' not in rule:
            run.append(rule)
        else:
            flush()
            out.append(rule)
        if closing:
            flush()
            out[-1] += ')'
    flush()
    return ' '.join(out)


def _static_file_values(path, names):
    """The last value of each static directive of ``names`` in a config file.

    What the full path would put right in the file (redis_config edits the
    file only for directives that need a restart); the server's own
    rewrites (who it replicates from, its layout, defaults it adds) are not
    part of it.
    """
    names = [n for n in names if is_static(n)]
    values = dict((n, None) for n in names)
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'surrogateescape').splitlines()
    except (IOError, OSError):
        return 'unreadable'
    spellings = dict((n, names_in_file(n)) for n in names)
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        words = split_config_args(stripped) or []
        for name in names:
            if words and words[0].lower() in spellings[name]:
                values[name] = words[1:]
    return values


def _pairs(reply):
    """CONFIG GET answers a dict (redis-py) or a flat list."""
    if isinstance(reply, dict):
        return dict(reply)
    reply = list(reply or [])
    return dict(zip(reply[0::2], reply[1::2]))


def _live(module):
    p = module.params
    if p['live'] == 'none':
        return {}, None
    client, cause = try_connect(module)
    if client is None:
        # Not an error: the full path starts the server or reports the cause.
        return {'live server': 'unreachable'}, cause
    try:
        items = {}
        if p['live'] == 'redis':
            keys = sorted(set(p['config_keys']))
            values = {}
            if keys:
                values = _pairs(client.execute_command('CONFIG', 'GET', *keys))
            items['live settings'] = dict((k, values.get(k)) for k in keys)
            if p['config_file']:
                items['static directives in ' + p['config_file']] = _static_file_values(p['config_file'], keys)
        else:
            items['live Sentinel settings'] = _pairs(client.execute_command('SENTINEL', 'CONFIG', 'GET', '*'))
            master = _pairs(client.execute_command('SENTINEL', 'MASTER', p['master_name']))
            items['live group settings'] = dict((k, master.get(k)) for k in sorted(set(p['config_keys'])))
        items['live ACL users'] = sorted(_acl_line(line) for line in client.execute_command('ACL', 'LIST'))
        return items, None
    except Exception as exc:  # redis-py raises several families; all are drift here
        return {'live server': 'unreadable'}, 'cannot read the live state: %s' % safe_error(module, exc)
    finally:
        client.close()


def observe(module):
    p = module.params
    items = {}
    unsettled = []
    for path in p['files']:
        items['file ' + path] = _file_state(path)
    for path, volatile in (p['rewritten_files'] or {}).items():
        words = [tuple(w.encode('utf-8') for w in str(v).split()) for v in (volatile or [])]
        items['file ' + path] = _file_state(path, words)
    notes = []
    units, cause = _units(module, p['units'])
    items.update(units)
    if cause:
        notes.append(cause)
    if p['config_file']:
        # Its mode is the server's: CONFIG REWRITE (Sentinel's after a failover
        # too) writes a new file with the server's umask (0640 became 0600).
        items['file ' + p['config_file']] = _file_state(p['config_file'], content=False, mode=False)
    # A unit on its way up or down (a crash, a restart) is never a state to
    # keep: the full path looks at it.
    unsettled.extend(name for name, value in units.items()
                     if not isinstance(value, dict) or value.get('ActiveState') in ('activating', 'deactivating', 'reloading', None))
    items.update(_packages(module, p['packages']))
    items.update(_kernel(p['kernel']))
    if p['live'] != 'none':
        live, cause = _live(module)
        items.update(live)
        if cause:
            notes.append(cause)
            unsettled.append('live server')
    return dict((name, _digest(value)) for name, value in items.items()), unsettled, notes


def read_stamp(path):
    try:
        with open(path) as f:
            stamp = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get('format') != FORMAT or not isinstance(stamp.get('items'), dict):
        return None
    return stamp


def compare(stamp, inputs, observed):
    """The names of what differs, empty when in sync."""
    if stamp is None:
        return ['no stamp of an earlier converge']
    drift = []
    if stamp.get('inputs') != inputs:
        drift.append('inputs (role variables, host facts or the collection changed)')
    recorded = stamp['items']
    for name in sorted(set(recorded) | set(observed)):
        if recorded.get(name) != observed.get(name):
            drift.append(name)
    return drift


def write_stamp(path, stamp):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.stamp-')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(stamp, f, sort_keys=True, indent=1)
            f.write('\n')
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        path=dict(type='path', required=True),
        state=dict(type='str', choices=['check', 'record'], default='check'),
        inputs=dict(type='str', required=True, no_log=False),
        files=dict(type='list', elements='path', default=[]),
        rewritten_files=dict(type='dict', default={}),
        units=dict(type='list', elements='str', default=[]),
        packages=dict(type='list', elements='str', default=[]),
        kernel=dict(type='list', elements='path', default=[]),
        live=dict(type='str', choices=['redis', 'sentinel', 'none'], default='none'),
        config_keys=dict(type='list', elements='str', default=[], no_log=False),
        config_file=dict(type='path'),
        master_name=dict(type='str'),
    )
    module = SecretModule(argument_spec=argument_spec, supports_check_mode=True,
                          required_if=[('live', 'sentinel', ['master_name'])])
    p = module.params
    observed, unsettled, notes = observe(module)
    if p['state'] == 'check':
        drift = compare(read_stamp(p['path']), p['inputs'], observed)
        drift += ['%s (not settled)' % name for name in unsettled if name not in drift]
        module.exit_json(changed=False, in_sync=not drift, drift=drift, notes=notes, items=len(observed))
    if unsettled:
        module.fail_json(msg='Nothing recorded: not settled after the converge: %s. %s'
                         % (', '.join(unsettled), ' '.join(notes)), drift=unsettled, notes=notes)
    stamp = {'format': FORMAT, 'inputs': p['inputs'], 'items': observed}
    old = read_stamp(p['path'])
    changed = old != stamp
    if changed and not module.check_mode:
        try:
            write_stamp(p['path'], stamp)
        except (IOError, OSError) as exc:
            module.fail_json(msg='Cannot write the stamp %s: %s' % (p['path'], exc))
    module.exit_json(changed=changed, in_sync=False, drift=[], notes=notes, items=len(observed))


if __name__ == '__main__':
    main()
