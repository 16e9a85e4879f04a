# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACL users: desired definitions, the server's view of them, and the plan between the two.

Pure functions (no connection); the module ``redis_acl`` runs them against a
server. Passwords are handled as SHA-256 hashes (``ACL SETUSER name #<hash>``
adds one, ``!<hash>`` removes one), so a plaintext password never travels to
the server and none is kept here.

Why not ``ACL LOAD``: on Redis 7.0 it disconnects every authenticated client
(measured: applications, Sentinel, and the replicas, which then resync in
full), even when the file did not change. ``ACL SETUSER`` changes a user in
place and keeps every connection (Redis 7.0 and Valkey 8.1), so a password
can be added beside the one in use and removed later.

Public API:

* ``validate_users(users, probe)``: the ``users`` option checked and
  normalised into ``DesiredUser`` objects, or ``InvalidUsers`` naming the
  user and the cause (never a password).
* ``passwords_in_rules(params)``: what to mask of a password given in rules by mistake.
* ``view(reply)``: an ``ACL GETUSER`` reply (flat list or dict) as a dict.
* ``same_rules(live, probe, tokens)``: whether a live user's rules equal the
  rules of the probe (a throwaway user the server built from the same tokens).
* ``plan_user(desired, live, probe)``: the ``Action`` for one user;
  ``plan_delete(name, live)`` for a user that is not listed.
* ``expected_view(probe, desired)``: the view the user has once planned.
* ``describe(name, view, labels)``: one masked line of a diff.
* ``Labels``: stable masks ``<password N>`` for hashes in results and diffs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.module_utils.six import string_types

# The probe user the module creates (disabled, no password) and deletes at once.
PROBE = 'hardened-redis-probe'
# Flags the server may add by itself (Redis 7.0's `reset` sets
# sanitize-payload, a user created by ACL LOAD has neither): compared only when
# the rules name one of them.
_SANITIZE = ('sanitize-payload', 'skip-sanitize-payload')
_PASSWORD_TOKEN = re.compile(r'^[><#!]')
_NAME = re.compile(r'^[^\s"\'\\]+$')
_HEX64 = re.compile(r'(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])')


class InvalidUsers(ValueError):
    """A bad ``users`` option; the message names the user and never holds a password."""


def sha256(password):
    return hashlib.sha256(to_bytes(password, errors='surrogate_or_strict')).hexdigest()


class DesiredUser(object):
    """One user as the module should leave it: ``name``, rule ``tokens``, password ``hashes``."""

    def __init__(self, name, tokens, hashes):
        self.name = name
        self.tokens = tokens
        self.hashes = hashes

    @property
    def enabled(self):
        """``on`` or ``off`` as the rules leave the user (a new or reset user is off)."""
        state = 'off'
        for token in self.tokens:
            if token.lower() in ('on', 'off'):
                state = token.lower()
        return state == 'on'

    def probe_tokens(self):
        """The rules for the probe user, always disabled: nobody can log in as it."""
        return list(self.tokens) + ['off']


def validate_users(users, probe=PROBE):
    """``users`` (a list of dicts: name, rules, passwords) as DesiredUser objects."""
    result = []
    seen = set()
    for i, user in enumerate(users or []):
        if not isinstance(user, dict):
            raise InvalidUsers('users[%d] must be a dict with name, rules and passwords' % i)
        name = user.get('name')
        if not isinstance(name, string_types) or not name:
            raise InvalidUsers('users[%d] has no name' % i)
        if not _NAME.match(name):
            raise InvalidUsers('users[%d]: the user name must not contain whitespace, a quote or a backslash' % i)
        if name == probe:
            raise InvalidUsers('users[%d]: %s is the name of the probe user the module creates and deletes' % (i, name))
        if name in seen:
            raise InvalidUsers('user %s is listed twice in users' % name)
        seen.add(name)
        rules = user.get('rules') or ''
        if not isinstance(rules, string_types):
            raise InvalidUsers('rules of user %s must be a string of ACL rules' % name)
        tokens = rules.split()
        if any(_PASSWORD_TOKEN.match(t) for t in tokens):
            # Never echo the token: it would be a password or its hash.
            raise InvalidUsers('rules of user %s hold a password (a token starting with >, <, # or !): give passwords '
                               'in passwords, never in rules' % name)
        lowered = [t.lower() for t in tokens]
        passwords = user.get('passwords') or []
        if isinstance(passwords, string_types) or not isinstance(passwords, (list, tuple)):
            raise InvalidUsers('passwords of user %s must be a list' % name)
        hashes = []
        for password in passwords:
            if password is None or to_native(password) == '':
                raise InvalidUsers('passwords of user %s holds an empty password' % name)
            digest = sha256(to_native(password))
            if digest not in hashes:
                hashes.append(digest)
        if 'nopass' in lowered and hashes:
            raise InvalidUsers('user %s has nopass in its rules and passwords: give one or the other' % name)
        result.append(DesiredUser(name, tokens, hashes))
    return result


def passwords_in_rules(params):
    """Tokens of every user's rules that hold a password or a hash (``>pw``, ``<pw``, ``#hash``, ``!hash``),
    with and without their sign: secrets to mask before anything is logged (SecretModule)."""
    found = []
    for user in (params or {}).get('users') or []:
        rules = user.get('rules') if isinstance(user, dict) else None
        if isinstance(rules, string_types):
            for token in rules.split():
                if _PASSWORD_TOKEN.match(token):
                    found += [token, token[1:]]
    return found


def _freeze(value):
    """Lists (selectors nest them) as tuples, so views compare with ==."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def view(reply):
    """An ``ACL GETUSER`` reply as a dict (flags, passwords, commands, keys, channels, selectors), or None."""
    if reply is None:
        return None
    if isinstance(reply, dict):
        fields = dict(reply)
    else:
        reply = list(reply)
        fields = dict(zip(reply[0::2], reply[1::2]))
    result = {}
    for key, value in fields.items():
        key = to_native(key)
        if isinstance(value, (bytes, bytearray)):
            value = to_native(value)
        elif isinstance(value, (list, tuple)):
            value = [to_native(v) if isinstance(v, (bytes, bytearray)) else v for v in value]
        result[key] = value
    result.setdefault('flags', [])
    result.setdefault('passwords', [])
    return result


def _rules_key(user_view, tokens, enabled=None):
    """What is compared of a user: everything but its passwords (and the sanitize flags unless the rules name one)."""
    lowered = set(t.lower() for t in tokens)
    flags = set(to_native(f) for f in user_view.get('flags') or [])
    if not lowered.intersection(_SANITIZE):
        flags.difference_update(_SANITIZE)
    if enabled is not None:  # the probe is always off: compare with the state the rules ask for
        flags.discard('on')
        flags.discard('off')
        flags.add('on' if enabled else 'off')
    key = dict((k, _freeze(v)) for k, v in user_view.items() if k not in ('flags', 'passwords'))
    key['flags'] = tuple(sorted(flags))
    return key


def same_rules(live, probe, desired):
    """Whether ``live`` (a view) has the rules the server built for the probe from ``desired``'s tokens."""
    if live is None or probe is None:
        return False
    return _rules_key(live, desired.tokens) == _rules_key(probe, desired.tokens, enabled=desired.enabled)


def expected_view(probe, desired):
    """The view the user will have once planned: the probe's, with the rules' on/off and the desired passwords."""
    result = dict(probe)
    flags = [f for f in probe.get('flags') or [] if f not in ('on', 'off')]
    result['flags'] = ['on' if desired.enabled else 'off'] + flags
    result['passwords'] = list(desired.hashes)
    return result


class Action(object):
    """What to do with one user: ``kind`` is create, redefine, passwords, delete or none.

    ``args``: the command (with hashes); ``added`` / ``removed``: hashes."""

    def __init__(self, name, kind, args=None, added=(), removed=()):
        self.name = name
        self.kind = kind
        self.args = list(args or [])
        self.added = list(added)
        self.removed = list(removed)

    @property
    def changed(self):
        return self.kind != 'none'


def plan_user(desired, live, probe):
    """The Action that makes the live user (a view, or None) equal ``desired``.

    A changed password alone is added and removed in place (``#new !old``); a
    change of rules redefines the user in one command (``reset``, the rules,
    every password). Neither disconnects a client of that user."""
    setuser = ['ACL', 'SETUSER', desired.name]
    redefine = ['reset'] + list(desired.tokens) + ['#' + h for h in desired.hashes]
    if live is None:
        return Action(desired.name, 'create', setuser + redefine, added=desired.hashes)
    live_hashes = [to_native(h) for h in live.get('passwords') or []]
    added = [h for h in desired.hashes if h not in live_hashes]
    removed = [h for h in live_hashes if h not in desired.hashes]
    if not same_rules(live, probe, desired):
        return Action(desired.name, 'redefine', setuser + redefine, added=added, removed=removed)
    if added or removed:
        return Action(desired.name, 'passwords', setuser + ['#' + h for h in added] + ['!' + h for h in removed],
                      added=added, removed=removed)
    return Action(desired.name, 'none')


def plan_delete(name, live):
    """ACL DELUSER of a user that is not listed (purge); it disconnects that user's clients."""
    return Action(name, 'delete', ['ACL', 'DELUSER', name], removed=(live or {}).get('passwords') or [])


class Labels(object):
    """``<password N>`` for each hash, numbered in the order first seen: equal
    hashes get equal labels, and nothing of a hash is shown."""

    def __init__(self):
        self._labels = {}

    def __call__(self, digest):
        if digest not in self._labels:
            self._labels[digest] = '<password %d>' % (len(self._labels) + 1)
        return self._labels[digest]

    def text(self, text):
        """Any text (a server's error message) with every SHA-256 hex digest masked."""
        return _HEX64.sub(lambda m: self(m.group(0)), to_native(text))

    def command(self, args):
        """A command as text with every hash token masked."""
        shown = []
        for arg in args:
            arg = to_native(arg)
            if len(arg) == 65 and arg[0] in '#!' and re.match(r'^[0-9a-f]{64}$', arg[1:]):
                arg = arg[0] + self(arg[1:])
            shown.append(arg)
        return ' '.join(shown)


def describe(name, user_view, labels, hashes=None):
    """One line for a diff: ``user NAME flags <password N>... keys channels commands`` (no hash shown)."""
    if user_view is None:
        return None
    parts = ['user', name] + [to_native(f) for f in user_view.get('flags') or []]
    parts += ['#' + labels(h) for h in (user_view.get('passwords') or [] if hashes is None else hashes)]
    for field in ('keys', 'channels', 'commands'):
        value = user_view.get(field)
        if value:
            parts.append(to_native(value))
    for selector in user_view.get('selectors') or []:
        parts.append('(%s)' % ' '.join(to_native(s) for s in (selector if isinstance(selector, (list, tuple)) else [selector])))
    return ' '.join(parts)
