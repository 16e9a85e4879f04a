#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_config
short_description: Converge Redis configuration directives live, idempotently
version_added: 0.1.0
description:
  - Reads the running value of each requested directive with C(CONFIG GET),
    compares it with the desired value after normalising both (memory units
    such as V(1gb) and V(1073741824), V(yes)/V(no) and booleans, both forms of
    C(save), the case of enum values, address lists, event letters), and
    changes only what differs.
  - Directives that Redis can change at runtime are set with one atomic
    C(CONFIG SET) and, with O(persist=true), written to the config file with
    C(CONFIG REWRITE). The process keeps running; nothing is restarted.
  - Directives that Redis cannot change at runtime (C(IMMUTABLE) ones such as
    C(databases), C(unixsocket), C(aclfile), C(logfile); C(PROTECTED) ones such
    as C(dir) and C(dbfilename) while C(enable-protected-configs) is V(no)) are
    edited in O(config_file) instead and reported in RV(restart_required) and
    RV(restart_required_directives). The module never restarts Redis; a safe
    restart (replicas first, the master after a switchover) is the caller's job.
  - Every directive and value is checked before anything is changed. An unknown
    directive, an invalid value or a value the server refuses fails the task
    and leaves the server as it was.
author:
  - hardened.redis developers (@hardened-redis)
options:
  name:
    description:
      - Name of one directive, for example V(maxmemory).
      - Use with O(value). Use O(config) to set several directives in one call.
    type: str
  value:
    description:
      - Desired value of O(name).
      - A string, number, boolean (written V(yes)/V(no)) or list (for
        directives that take several words, such as C(save), C(bind) or
        C(client-output-buffer-limit)).
      - C(save) accepts V("3600 1 300 100"), V([[3600, 1], [300, 100]]),
        V(["3600 1", "300 100"]), and V("") to disable snapshots.
      - Octal values such as C(unixsocketperm) should be quoted (V("0700")).
    type: raw
  config:
    description:
      - Desired values of several directives, as a dict of directive name to value
        (same value forms as O(value)).
      - All of them are read in one round trip and set in one atomic C(CONFIG SET).
    type: dict
  persist:
    description:
      - After a runtime change, run C(CONFIG REWRITE) so that the change survives
        a restart.
      - Fails before changing anything if the server runs without a config file
        (also when O(config_file) is given, because C(CONFIG REWRITE) writes only
        the server's own file).
      - If C(CONFIG REWRITE) fails after a change, the module fails and notes the
        directives in C(.<file>.unpersisted) next to the server's config file; the
        next run then runs C(CONFIG REWRITE) again (and reports a change) even if
        the running values are already the desired ones.
    type: bool
    default: true
  config_file:
    description:
      - Config file in which directives that need a restart are edited (the last
        line of the directive is replaced, or a line is appended), keeping the
        file's owner and mode, with an atomic rename.
      - Defaults to the C(config_file) that C(INFO server) reports, which is right
        when the module runs on the Redis host (the usual case).
    type: path
extends_documentation_fragment:
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: Reports what would be set live and which file edits would be made; changes nothing.
  diff_mode:
    support: full
    description: Returns C(before) and C(after) as C(directive value) lines, also in check mode.
notes:
  - O(value) and O(config) values of C(requirepass), C(masterauth),
    C(masteruser) and the TLS key passwords are never shown in RV(changes),
    the diff, a failed result or the invocation that Ansible logs to the
    managed host's syslog.
  - After C(CONFIG SET), the module reads the values back with C(CONFIG GET), and
    RV(changes) and the diff show what Redis stored (C(hz) clamped to 500,
    C(dir) without a trailing slash, event letters in Redis's order), and a
    C(CONFIG SET) that reads back as the value before counts as no change. In
    check mode the module can only predict that value.
  - Config-file-only directives (C(include), C(rename-command), C(loadmodule),
    C(user)) are not visible through C(CONFIG GET) and are not managed here;
    the redis role templates them.
  - A later C(CONFIG REWRITE) (by this module, an operator or Sentinel) writes the
    running value of a static directive back into the file until Redis has been
    restarted; the next run of this module then edits the file again.
  - In check mode, values are validated by the module only; the server validates
    them when they are really set.
  - Redis's C(CONFIG REWRITE) writes a new file with the server's umask (a 0640
    file became 0644 on Redis 7.0); the module puts the previous mode and owner
    back when it can (it runs on the Redis host as a user allowed to).
seealso:
  - module: hardened.redis.sentinel_config
  - module: hardened.redis.sentinel_failover
  - name: Redis configuration
    description: The redis.conf documentation, including units and CONFIG SET.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/config/
  - name: CONFIG SET
    description: Which directives can be changed at runtime and how.
    link: https://redis.io/docs/latest/commands/config-set/
'''

EXAMPLES = r'''
- name: Limit memory (no restart, persisted with CONFIG REWRITE)
  hardened.redis.redis_config:
    name: maxmemory
    value: 1gb

- name: Converge several directives in one round trip
  hardened.redis.redis_config:
    login_unix_socket: /run/redis/redis-server.sock
    login_user: ansible
    login_password: "{{ redis_ansible_password }}"
    config:
      maxmemory: 2gb
      maxmemory-policy: allkeys-lru
      save: [[3600, 1], [300, 100]]
      appendonly: true
      notify-keyspace-events: Ex
  register: redis_conf

- name: Restart later, safely, when a directive needs it
  ansible.builtin.debug:
    msg: "restart needed for {{ redis_conf.restart_required_directives | join(', ') }}"
  when: redis_conf.restart_required

- name: Over TLS with a client certificate
  hardened.redis.redis_config:
    login_host: redis-1.example.net
    login_port: 6380
    login_password: "{{ redis_password }}"
    tls: true
    ca_certs: /etc/redis/tls/ca.crt
    client_cert_file: /etc/redis/tls/client.crt
    client_key_file: /etc/redis/tls/client.key
    name: loglevel
    value: warning

- name: A directive that needs a restart (edited in the config file)
  hardened.redis.redis_config:
    name: databases
    value: 32
    config_file: /etc/redis/redis.conf
'''

RETURN = r'''
changed:
  description: Whether something was set live or the config file was edited (or would be, in check mode).
  returned: always
  type: bool
restart_required:
  description:
    - Whether a directive that only applies at start has a running value that differs from the desired one.
    - Stays V(true) on later runs (with RV(changed=false)) until Redis has been restarted.
  returned: always
  type: bool
  sample: false
restart_required_directives:
  description: The directives behind RV(restart_required), sorted.
  returned: always
  type: list
  elements: str
  sample: [databases]
changes:
  description:
    - Every requested directive whose running value differed from the desired one,
      with the running value (C(before)) and the value Redis reports once the change
      applies (C(after)), as CONFIG GET strings.
    - Includes directives that wait for a restart. Sensitive values are masked.
  returned: always
  type: dict
  sample: {"maxmemory": {"before": "0", "after": "1073741824"}}
set_live:
  description: Directives changed with CONFIG SET (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [maxmemory, maxmemory-policy]
file_changed:
  description: Directives edited in RV(config_file) (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [databases]
rewritten:
  description: Whether CONFIG REWRITE ran.
  returned: always
  type: bool
config_file:
  description: The config file used for static directives and CONFIG REWRITE (empty if the server has none).
  returned: always
  type: str
  sample: /etc/redis/redis.conf
diff:
  description: C(before) and C(after) as C(directive value) lines, one per requested directive.
  returned: when diff mode is on
  type: dict
  sample: {"before": "maxmemory 0\n", "after": "maxmemory 1073741824\n"}
'''

import json
import os
import re
import tempfile

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.common.validation import check_type_dict

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    SecretModule,
    connect,
    connection_argument_spec,
    describe_target,
    error_text,
    fail,
    run,
)
from ansible_collections.hardened.redis.plugins.module_utils._directives import (
    directive_from_error,
    is_file_only,
    is_sensitive,
    is_static,
    names_in_file,
    refusal_reason,
)
from ansible_collections.hardened.redis.plugins.module_utils._values import (
    InvalidValue,
    expected,
    is_equal,
    render,
    render_config_line,
    split_config_args,
)

_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9._-]*$')
_MASK = '********'
_LOCAL_HOSTS = ('localhost', '127.0.0.1', '::1')


def _secrets_in(params):
    """The values of sensitive directives in the raw ``name``/``value`` or ``config``.

    Called by SecretModule before the invocation is logged and before the
    arguments are checked: a secret never reaches syslog nor a failed result.
    """
    pairs = []
    if params.get('name') is not None:
        pairs.append((params.get('name'), params.get('value')))
    config = params.get('config')
    if config is not None and not isinstance(config, dict):
        try:
            config = check_type_dict(config)
        except Exception:  # the argument check reports it (its message does not echo the value)
            config = None
    if isinstance(config, dict):
        pairs.extend(config.items())
    secrets = []
    for key, value in pairs:
        if value in (None, '') or not is_sensitive(to_native(key).strip().lower()):
            continue
        secrets.append(to_native(value))
        if isinstance(value, (list, tuple)):
            secrets.extend(to_native(v) for v in value)
            secrets.append(' '.join(to_native(v) for v in value))
    return secrets


def _to_dict(reply):
    if isinstance(reply, dict):
        return dict((to_native(k), to_native(v)) for k, v in reply.items())
    reply = list(reply or [])
    return dict((to_native(reply[i]), to_native(reply[i + 1])) for i in range(0, len(reply) - 1, 2))


def _config_get(module, client, names):
    """{name: value} for names CONFIG GET knows (one round trip on Redis 7+)."""
    try:
        return _to_dict(client.execute_command('CONFIG GET', *names))
    except Exception as exc:
        text = error_text(module, exc)
        if len(names) > 1 and ('wrong number of arguments' in text.lower() or 'unknown subcommand' in text.lower()):
            result = {}
            for name in names:  # Redis < 7: one pattern per call
                result.update(_config_get(module, client, [name]))
            return result
        fail(module, 'read the configuration (CONFIG GET)', exc)


def _read_lines(module, path):
    try:
        with open(path, 'rb') as f:
            return to_native(f.read(), errors='surrogate_or_strict').splitlines(True)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot read config_file %s: %s' % (path, to_native(exc)))


def _file_value(lines, name):
    """(index, value) of the last line that sets ``name`` (any alias), or (None, None)."""
    spellings = names_in_file(name)
    found = (None, None)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        words = split_config_args(stripped)
        if words and words[0].lower() in spellings:
            found = (index, ' '.join(words[1:]))
    return found


def _plan_file_edits(lines, static_names, desired, current, settled=()):
    """New lines and the directives whose file value differs from the desired one.

    ``settled`` names run with the desired value already: their line is put
    right only when the file holds another value (a change that was never
    applied and is no longer wanted); a missing line stays missing.
    """
    lines = list(lines)
    edited = []
    for name in static_names:
        index, value = _file_value(lines, name)
        if value is not None and is_equal(name, desired[name], value):
            continue
        if name in settled and value is None:
            continue
        new_line = render_config_line(name, desired[name], current.get(name)) + '\n'
        if index is None:
            if lines and not lines[-1].endswith('\n'):
                lines[-1] += '\n'
            lines.append(new_line)
        else:
            lines[index] = new_line
        edited.append(name)
    return lines, edited


def _write_file(module, path, lines):
    directory = os.path.dirname(path) or '.'
    try:
        fd, tmp = tempfile.mkstemp(prefix='.redis_config.', dir=directory)
    except (IOError, OSError):
        fd, tmp = tempfile.mkstemp(prefix='.redis_config.', dir=module.tmpdir)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(''.join(lines).encode('utf-8', 'surrogateescape'))
        module.atomic_move(tmp, path)  # keeps owner, group, mode (and SELinux context) of path
    except Exception as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg='Cannot write config_file %s: %s' % (path, to_native(exc)))


def _stat(path):
    try:
        return os.stat(path)
    except (IOError, OSError):
        return None


def _restore_attributes(module, path, before):
    """CONFIG REWRITE writes a new file with the server's umask (0644 for a
    0640 file, seen on Redis 7.0): put the previous mode and owner back."""
    after = _stat(path)
    if before is None or after is None:
        return
    try:
        if (after.st_mode & 0o7777) != (before.st_mode & 0o7777):
            os.chmod(path, before.st_mode & 0o7777)
        if (after.st_uid, after.st_gid) != (before.st_uid, before.st_gid):
            os.chown(path, before.st_uid, before.st_gid)
    except (IOError, OSError) as exc:
        module.warn('CONFIG REWRITE changed the mode or owner of %s and they could not be restored: %s'
                    % (path, to_native(exc)))


def _show(name, value):
    return _MASK if is_sensitive(name) and value else value


def _lines(pairs):
    return ''.join('%s %s\n' % (name, value if value != '' else '""') for name, value in pairs)


def _marker_path(server_file):
    """Where a failed CONFIG REWRITE is remembered, next to the server's own config file."""
    return os.path.join(os.path.dirname(server_file), '.%s.unpersisted' % os.path.basename(server_file))


def _read_marker(module, server_file):
    """Directives set live by an earlier run whose CONFIG REWRITE failed."""
    path = _marker_path(server_file)
    try:
        with open(path) as f:
            names = json.load(f).get('directives', [])
        return [to_native(n) for n in names if isinstance(n, str) and _NAME_RE.match(n)]
    except (IOError, OSError):
        return []
    except (ValueError, AttributeError):
        module.warn('Ignoring %s: not the list of directives this module writes there' % path)
        return []


def _write_marker(server_file, names):
    """Remember ``names`` for the next run; the error text if that failed, else None."""
    path = _marker_path(server_file)
    try:
        fd, tmp = tempfile.mkstemp(prefix='.redis_config.', dir=os.path.dirname(path))
        with os.fdopen(fd, 'w') as f:
            json.dump({'directives': sorted(set(names))}, f)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        return '%s: %s' % (path, to_native(exc))
    return None


def _remove_marker(module, server_file):
    path = _marker_path(server_file)
    try:
        os.unlink(path)
    except (IOError, OSError) as exc:
        if os.path.exists(path):
            module.warn('Cannot remove %s: %s; the next run will run CONFIG REWRITE again' % (path, to_native(exc)))


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type='str'),
        value=dict(type='raw'),
        config=dict(type='dict'),
        persist=dict(type='bool', default=True),
        config_file=dict(type='path'),
    )
    module = SecretModule(
        secrets_in=_secrets_in,
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[('name', 'config'), ('value', 'config')],
        required_one_of=[('name', 'config')],
        required_together=[('name', 'value')],
    )
    params = module.params

    # --- what is wanted (validated before connecting) -----------------------
    raw = {params['name']: params['value']} if params['name'] is not None else params['config']
    if not raw:
        module.fail_json(msg='config is empty: give at least one directive')
    desired = {}
    order = []
    for key, value in raw.items():
        name = to_native(key).strip().lower()
        if not _NAME_RE.match(name):
            module.fail_json(msg='Invalid directive name %r' % (key,))
        if name in desired or any(name in names_in_file(other) for other in order):
            module.fail_json(msg='Directive %s is given twice (names are case-insensitive, aliases count)' % name)
        if is_file_only(name):
            module.fail_json(msg='Cannot set %s: it is a config-file-only directive that CONFIG GET cannot read; '
                                 'manage it with the config file template' % name)
        if value is None:
            module.fail_json(msg='Cannot set %s: a value is required' % name)
        desired[name] = value
        order.append(name)

    # --- what is running -------------------------------------------------------
    client = connect(module)
    info = run(module, 'read INFO server', client.info, 'server')
    server_file = to_native(info.get('config_file') or '')  # the file CONFIG REWRITE writes
    config_file = params['config_file'] or server_file      # the file static directives are edited in
    local = bool(params['login_unix_socket']) or params['login_host'] in _LOCAL_HOSTS
    unpersisted_before = _read_marker(module, server_file) if server_file else []
    extra = [n for n in unpersisted_before if n not in order]
    current = _config_get(module, client, order + extra + ['enable-protected-configs'])
    epc = current.pop('enable-protected-configs', None) if 'enable-protected-configs' not in desired else \
        current.get('enable-protected-configs')
    if epc is None:
        epc = 'yes'  # Redis < 7 has no protected configs
    unknown = [name for name in order if name not in current]
    if unknown:
        module.fail_json(msg='Unknown directive%s on %s: %s (nothing was changed)'
                             % ('s' if len(unknown) > 1 else '', describe_target(module), ', '.join(unknown)),
                         unknown_directives=unknown)

    # --- compare ---------------------------------------------------------------
    changes = {}
    live, static = [], []
    settled = []  # static directives already running with the desired value
    rendered = {}
    after_values = {}
    for name in order:
        want, have = desired[name], current[name]
        try:
            rendered[name] = render(name, want, have)
            equal = is_equal(name, want, have)
            after_values[name] = expected(name, want, have)
        except InvalidValue as exc:
            reason = 'hidden' if is_sensitive(name) else to_native(exc)
            module.fail_json(msg='Cannot set %s: invalid value: %s (nothing was changed)' % (name, reason))
        if is_sensitive(name) and rendered[name]:
            module.no_log_values.add(rendered[name])
        if equal:
            if is_static(name, epc, local):
                settled.append(name)
            continue
        changes[name] = dict(before=_show(name, have), after=_show(name, after_values[name]))
        if is_static(name, epc, local):
            static.append(name)
        else:
            live.append(name)

    # Set live by an earlier run whose CONFIG REWRITE failed: the file still
    # lacks them, so this run persists them (a restart would lose them).
    unpersisted = []
    if params['persist'] and server_file:
        for name in unpersisted_before:
            if name in current and name not in live and name not in static:
                unpersisted.append(name)
                if name in order:
                    changes[name] = dict(before='%s (running, not yet written to %s)'
                                         % (_show(name, current[name]), server_file),
                                         after=_show(name, current[name]))

    if live and params['persist'] and not server_file:
        module.fail_json(msg='Cannot persist %s: the server at %s runs without a config file, and CONFIG REWRITE '
                             'writes only that file (config_file serves directives that need a restart). Set '
                             'persist: false, or start the server with a config file. Nothing was changed.'
                             % (', '.join(live), describe_target(module)))

    def file_plan(names):
        if not names:
            return None, []
        if not config_file:
            module.fail_json(msg='Cannot set %s: it needs a restart and the server runs without a config file; '
                                 'give config_file. Nothing was changed.' % ', '.join(names))
        return _plan_file_edits(_read_lines(module, config_file), names, desired, current, settled)

    # A static directive that runs with the desired value may still have
    # another value waiting in the file (changed earlier, never applied by a
    # restart, and wanted back now): the next restart would apply it, so the
    # file is put right too. Not a restart: the running value is the right one.
    if settled and config_file:
        file_lines = _read_lines(module, config_file)
        for name in settled:
            value = _file_value(file_lines, name)[1]
            if value is not None and not is_equal(name, desired[name], value):
                changes[name] = dict(before='%s (in %s, not applied)' % (_show(name, value), config_file),
                                     after=_show(name, after_values[name]))
    else:
        settled = []

    # --- apply -----------------------------------------------------------------
    set_live = []
    rewritten = False
    file_changed = []
    if module.check_mode:
        set_live = list(live)
        file_changed = file_plan(static + settled)[1]
    else:
        if static:
            file_plan(static)  # fail on an unreadable file before any live change
        pending = list(live)
        while pending:
            args = []
            for name in pending:
                args.extend([name, rendered[name]])
            try:
                client.execute_command('CONFIG SET', *args)
                set_live = list(pending)
                pending = []
            except Exception as exc:
                text = error_text(module, exc)
                culprit = directive_from_error(text)
                reason = refusal_reason(text)
                if reason and culprit in pending:
                    # The server knows better than our tables: needs a restart.
                    pending.remove(culprit)
                    static.append(culprit)
                    file_plan([culprit])
                    continue
                if len(pending) > 1 and ('wrong number of arguments' in text.lower()
                                         or 'unknown subcommand' in text.lower()):
                    set_live = _set_one_by_one(module, client, pending, rendered, current)
                    pending = []
                    continue
                names = culprit if culprit in pending else ', '.join(pending)
                fail(module, 'set %s' % names, text, hint='(nothing was changed)')
        if set_live:
            # Redis may store another form than the one sent (hz clamped to
            # 500, dir without its trailing slash, event letters reordered or
            # dropped): what CONFIG GET gives back is the "after", and a SET
            # that reads back as the value before changed nothing.
            read_back = _config_get(module, client, set_live)
            for name in set_live:
                if name in read_back:
                    after_values[name] = read_back[name]
                    changes[name]['after'] = _show(name, read_back[name])
            set_live = [n for n in set_live if read_back.get(n, after_values[n]) != current[n]]
            for name in list(changes):
                if name in live and name not in set_live:
                    del changes[name]
        to_persist = set_live + [n for n in unpersisted if n not in set_live]
        if to_persist and params['persist']:
            before_stat = _stat(server_file)
            try:
                client.execute_command('CONFIG REWRITE')
                rewritten = True
            except Exception as exc:
                marker_error = _write_marker(server_file, unpersisted_before + to_persist)
                if marker_error:
                    hint = ('(the running values were changed; the next run cannot know that they are not '
                            'persisted: writing %s failed)' % marker_error)
                else:
                    hint = '(the running values were changed; the next run retries CONFIG REWRITE)'
                fail(module, 'persist %s with CONFIG REWRITE' % ', '.join(to_persist), exc, hint=hint,
                     result=dict(changed=bool(set_live), set_live=set_live))
            _restore_attributes(module, server_file, before_stat)
            if unpersisted_before:
                _remove_marker(module, server_file)
        if static or settled:
            # After CONFIG REWRITE, which would otherwise overwrite the edit.
            new_lines, file_changed = file_plan(static + settled)
            if file_changed:
                _write_file(module, config_file, new_lines)

    restart_directives = sorted(static)
    result = dict(
        changed=bool(set_live or file_changed or unpersisted),
        restart_required=bool(restart_directives),
        restart_required_directives=restart_directives,
        changes=changes,
        set_live=set_live,
        file_changed=file_changed,
        rewritten=rewritten,
        config_file=config_file,
    )
    if module._diff:
        def before_of(n):
            if n in changes and (n in settled or n in unpersisted):
                return changes[n]['before']
            return _show(n, current[n])
        result['diff'] = dict(
            before=_lines((n, before_of(n)) for n in order),
            after=_lines((n, _show(n, after_values[n]) if n in changes else _show(n, current[n])) for n in order),
        )
        for name in order:
            if name in changes and is_sensitive(name):  # both masked: say that it changes
                result['diff']['after'] = result['diff']['after'].replace(
                    '%s %s\n' % (name, _MASK), '%s %s (changed)\n' % (name, _MASK), 1)
    module.exit_json(**result)


def _set_one_by_one(module, client, names, rendered, current):
    """Redis < 7 (one directive per CONFIG SET): set in turn, roll back on failure."""
    done = []
    for name in names:
        try:
            client.execute_command('CONFIG SET', name, rendered[name])
            done.append(name)
        except Exception as exc:
            text = error_text(module, exc)
            for previous in reversed(done):
                try:
                    client.execute_command('CONFIG SET', previous, current[previous])
                except Exception:
                    fail(module, 'set %s' % name, text, hint='; and rolling back %s failed' % previous,
                         result=dict(changed=True))
            fail(module, 'set %s' % name, text, hint='(nothing was changed)')
    return done


if __name__ == '__main__':
    main()
