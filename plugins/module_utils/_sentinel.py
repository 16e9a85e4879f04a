# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning logic of the Sentinel modules (no I/O, no redis-py).

* ``pairs(reply)``: a SENTINEL reply that is a map (RESP3) or a flat list
  (RESP2) as a dict.
* ``server_mode(info_server)``: ``sentinel``, ``standalone`` or ``cluster``
  from INFO server (Redis says ``redis_mode``, Valkey 8 ``server_mode``).
* ``read_master_auth(text, name)``: ``auth-user`` / ``auth-pass`` of one
  monitored master from the text of a sentinel.conf (Sentinel rewrites that
  file after every SENTINEL SET, and SENTINEL MASTER does not show them).
* ``plan_master(...)`` / ``plan_globals(...)``: what SENTINEL SET / SENTINEL
  CONFIG SET must change, as a list of ``Change``.
* ``masked_pair(...)``, ``diff_lines(settings)``: output and diff helpers.
* ``unsafe_in_config_file(value)``: why a user name or password cannot be
  written to a config file that Redis/Sentinel reads back (or None).
* ``parse_replicas(info)``: the ``slaveN`` entries of INFO replication.
* ``select_target(...)``, ``sentinel_order(...)``: which replica a
  switchover promotes, the way Sentinel ranks replicas.
* ``group_verdict(answers, expected=0)``: THE rule for who the master of a
  group is, from every Sentinel's answer. Every module and playbook that
  needs "who is master" takes it from here (through ``sentinel_info``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

from ansible.module_utils.six import integer_types, string_types

from ansible_collections.hardened.redis.plugins.module_utils._values import (
    InvalidValue,
    split_config_args,
    to_bool,
)

# module option -> SENTINEL SET option, for the per-master integer settings
MASTER_INT_OPTIONS = (
    ('quorum', 'quorum'),
    ('down_after_milliseconds', 'down-after-milliseconds'),
    ('failover_timeout', 'failover-timeout'),
    ('parallel_syncs', 'parallel-syncs'),
)
MASTER_AUTH_OPTIONS = (
    ('auth_user', 'auth-user'),
    ('auth_pass', 'auth-pass'),
)
SECRET_OPTIONS = frozenset(['auth-pass', 'sentinel-pass'])
BOOL_GLOBALS = frozenset(['resolve-hostnames', 'announce-hostnames'])
INT_GLOBALS = frozenset(['announce-port'])
MASK = '********'


class Change(object):
    """One option whose running value differs from the desired one."""

    def __init__(self, option, before, after):
        self.option = option
        self.before = before
        self.after = after

    @property
    def secret(self):
        return self.option in SECRET_OPTIONS

    def shown(self):
        """before/after for output, secrets masked (but still visibly different)."""
        before, after = masked_pair(self.option, self.before, self.after)
        return dict(before=before, after=after)

    def __eq__(self, other):
        return isinstance(other, Change) and (self.option, self.before, self.after) == (
            other.option, other.before, other.after)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'Change(%r, %r, %r)' % (self.option, self.before, self.after)


def _mask(value, tag):
    if value is None or value == '':
        return value
    return '%s (%s)' % (MASK, tag)


def pairs(reply):
    """A reply that is a map in RESP3 and a flat [k, v, k, v] list in RESP2, as a dict."""
    if reply is None:
        return {}
    if isinstance(reply, dict):
        return dict(reply)
    reply = list(reply)
    return dict(zip(reply[0::2], reply[1::2]))


def server_mode(info_server):
    """The mode a server reports in INFO server: ``redis_mode`` on Redis,
    ``server_mode`` on Valkey 8 (which dropped ``redis_mode``), else None."""
    info_server = info_server or {}
    return info_server.get('redis_mode') or info_server.get('server_mode')


def read_master_auth(text, name):
    """``{'auth-user': str|None, 'auth-pass': str|None}`` of master ``name`` in a sentinel.conf text.

    The last line wins, as when Sentinel loads the file. Sentinel 7.0 writes
    these lines without quoting, so a value that does not split into one word
    is taken verbatim from the rest of the line.
    """
    found = {'auth-user': None, 'auth-pass': None}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        words = line.split(None, 3)
        if len(words) < 3 or words[0].lower() != 'sentinel' or words[1].lower() not in found:
            continue
        args = split_config_args(line)
        if args is not None and len(args) == 4:
            if args[2] == name:
                found[args[1].lower()] = args[3]
        elif len(words) == 4 and words[2] == name:
            found[words[1].lower()] = words[3]
    return found


def unsafe_in_config_file(value):
    """Why ``value`` (a user name or password) breaks a config file, or None.

    Sentinel writes ``auth-pass``, ``auth-user``, ``sentinel-pass`` and
    ``sentinel-user`` unquoted into sentinel.conf on every rewrite; a value with
    whitespace, a quote or a backslash is then read back as other words and the
    next start fails (FATAL CONFIG FILE ERROR). The roles' templates have the
    same limits. The value itself is never part of the answer.
    """
    if value is None:
        return None
    text = str(value)
    for label, chars in (('whitespace', ' \t\r\n\v\f'), ('a quote', '"\''), ('a backslash', '\\')):
        if any(c in text for c in chars):
            return ('contains %s, which Redis and Sentinel cannot read back from their config files (FATAL CONFIG '
                    'FILE ERROR at the next start); use letters, digits and punctuation other than quotes and '
                    'backslashes' % label)
    return None


def validate_master_options(params):
    """Raise InvalidValue naming the option for settings that Sentinel refuses or cannot keep."""
    for option, sentinel_name in MASTER_INT_OPTIONS:
        value = params.get(option)
        if value is not None and value < 1:
            raise InvalidValue('%s must be 1 or more (got %s)' % (option, value))
    settings = params.get('sentinel_settings') or {}
    for option, value in (('auth_user', params.get('auth_user')), ('auth_pass', params.get('auth_pass')),
                          ('sentinel_pass', params.get('sentinel_pass')),
                          ('sentinel_settings.sentinel-user', settings.get('sentinel-user'))):
        reason = unsafe_in_config_file(value)
        if reason:
            raise InvalidValue('%s %s. Nothing was changed.' % (option, reason))


def plan_master(current, current_auth, desired):
    """Changes for SENTINEL SET.

    current:      pairs(SENTINEL MASTER) or {} when not monitored yet.
    current_auth: read_master_auth(...) (values None when unknown/unset), or
                  None when the auth settings are not to be compared.
    desired:      module params (option names of MASTER_INT_OPTIONS and
                  MASTER_AUTH_OPTIONS; None = leave alone).
    """
    changes = []
    for option, name in MASTER_INT_OPTIONS:
        want = desired.get(option)
        if want is None:
            continue
        have = current.get(name)
        if have is None or int(have) != int(want):
            changes.append(Change(name, None if have is None else str(have), str(int(want))))
    if current_auth is not None:
        for option, name in MASTER_AUTH_OPTIONS:
            want = desired.get(option)
            if want is None:
                continue
            have = current_auth.get(name) or ''
            if have != want:
                changes.append(Change(name, have, want))
    return changes


def normalise_global(name, value):
    """The string SENTINEL CONFIG GET reports for ``value`` of global option ``name``."""
    if name in BOOL_GLOBALS:
        return 'yes' if to_bool(value) else 'no'
    if name in INT_GLOBALS:
        if isinstance(value, bool):
            raise InvalidValue('%s must be an integer' % name)
        try:
            number = int(str(value).strip())
        except ValueError:
            raise InvalidValue('%s must be an integer (got %r)' % (name, value))
        if number < 0 or number > 65535:
            raise InvalidValue('%s must be between 0 and 65535 (got %s)' % (name, number))
        return str(number)
    if value is None:
        return ''
    if isinstance(value, bool) or not isinstance(value, string_types + integer_types):
        raise InvalidValue('%s must be a string (got %r)' % (name, value))
    return str(value)


def plan_globals(current, desired):
    """Changes for SENTINEL CONFIG SET.

    current: pairs(SENTINEL CONFIG GET *); desired: {option: value}.
    Raises InvalidValue for an option this Sentinel does not know.
    """
    changes = []
    for name in sorted(desired):
        if name not in current:
            raise InvalidValue('unknown Sentinel setting %r (this Sentinel knows: %s)'
                               % (name, ', '.join(sorted(current))))
        want = normalise_global(name, desired[name])
        have = current.get(name)
        have = '' if have is None else str(have)
        if name in BOOL_GLOBALS:
            have = 'yes' if to_bool(have) else 'no'
        if have != want:
            changes.append(Change(name, have, want))
    return changes


def masked_pair(option, before, after):
    """before/after of one setting for output: secrets masked, yet different when they differ."""
    if option not in SECRET_OPTIONS:
        return before, after
    if before == after:
        return _mask(before, 'unchanged'), _mask(after, 'unchanged')
    return _mask(before, 'old'), _mask(after, 'new')


def diff_lines(settings):
    """``option value`` lines of a {option: value} dict (None = absent), sorted."""
    return ''.join('%s %s\n' % (name, settings[name]) for name in sorted(settings)
                   if settings[name] is not None)


# -- switchover ------------------------------------------------------------

def parse_replicas(info):
    """``[{'ip', 'port', 'state', 'offset', 'lag'}]`` from INFO replication (parsed by redis-py)."""
    found = []
    for key in sorted(info):
        if not (key.startswith('slave') and key[5:].isdigit()):
            continue
        value = info[key]
        if isinstance(value, string_types):  # not parsed: ip=..,port=..
            value = dict(item.split('=', 1) for item in value.split(',') if '=' in item)
        found.append(dict(ip=str(value.get('ip')), port=int(value.get('port')),
                          state=value.get('state'), offset=int(value.get('offset', 0)),
                          lag=value.get('lag')))
    return found


def sentinel_order(replica):
    """Sort key Sentinel uses to pick a replica: lower priority first, then
    higher replication offset, then lexicographically smaller run id."""
    return (int(replica.get('slave-priority', 100)), -int(replica.get('slave-repl-offset', 0)),
            replica.get('runid') or '')


def eligible(replica):
    """Whether Sentinel would consider this replica (as SENTINEL REPLICAS shows it) at all."""
    flags = set((replica.get('flags') or '').split(','))
    if flags & set(['s_down', 'o_down', 'disconnected']):
        return False
    if replica.get('master-link-status') != 'ok':
        return False
    return int(replica.get('slave-priority', 100)) != 0


def select_target(replicas, match_target=None, avoid=None):
    """The replica (a SENTINEL REPLICAS entry) to promote, or raise ValueError.

    match_target: a function(replica) -> bool for an explicit target; exactly
                  one replica must match.
    avoid:        a function(replica) -> bool for replicas that must not be
                  chosen (on the host being emptied); the best other eligible
                  replica is chosen in Sentinel's order.
    """
    if match_target is not None:
        matches = [r for r in replicas if match_target(r)]
        if not matches:
            raise ValueError('is not a replica of this master according to Sentinel (replicas: %s)'
                             % (', '.join(address(r) for r in replicas) or 'none'))
        if len(matches) > 1:
            raise ValueError('matches several replicas (%s): give target_port too'
                             % ', '.join(address(r) for r in matches))
        return matches[0]
    candidates = [r for r in replicas if not avoid(r) and eligible(r)]
    if not candidates:
        raise ValueError('no eligible replica outside avoid_host (replicas: %s)'
                         % (', '.join('%s %s priority %s' % (address(r), r.get('flags'), r.get('slave-priority'))
                                      for r in replicas) or 'none'))
    return sorted(candidates, key=sentinel_order)[0]


def address(item):
    """``ip:port`` of a SENTINEL MASTER/REPLICAS/SENTINELS entry."""
    ip = item.get('ip')
    if ip and ':' in ip:
        return '[%s]:%s' % (ip, item.get('port'))
    return '%s:%s' % (ip, item.get('port'))


def host_addresses(host):
    """``host`` and every address it resolves to (to compare a configured
    host name with the IP address Sentinel reports)."""
    found = set([host])
    try:
        for item in socket.getaddrinfo(host, None):
            found.add(item[4][0])
    except (socket.error, UnicodeError):
        pass
    return found


# -- the one rule: who is master ------------------------------------------

NO_AGREED_MASTER = 'no agreed master'

# A planned switchover pauses writes on the master for at most this share of
# the master's down-after-milliseconds: while writes are paused Sentinel's
# hello PUBLISH to the master waits and its PINGs queue behind it, so a pause
# as long as down-after would make the Sentinels start a failover of their own.
PAUSE_SHARE = (9, 10)


def default_pause_ms(down_after_ms):
    """The longest write pause (ms) of a switchover for a master's down-after-milliseconds."""
    return int(down_after_ms) * PAUSE_SHARE[0] // PAUSE_SHARE[1]


def group_verdict(answers, expected=0):
    """The group's master by one rule, from the Sentinels' answers.

    answers:  one dict per Sentinel asked: ``sentinel`` (``ip:port``),
              ``reachable`` (bool), ``master`` (``ip:port`` it names, or None
              when it does not monitor the group or did not answer),
              optionally ``known_sentinels`` (``num-other-sentinels`` + 1 as
              that Sentinel reports it) and ``error`` (text, no secret).
    expected: how many Sentinels the group has when the caller knows (for
              example the inventory's count); 0 when it does not.

    The group size is the largest of ``expected``, the number of Sentinels
    asked and what any Sentinel says it knows. The master is agreed when
    more than half of that size answered and named the same address. A
    majority that agrees while a minority names another address is still
    an agreed master (a Sentinel that missed the last failover catches up
    by itself), and ``unanimous`` is then false.

    Returns a dict: ``agreed`` (bool), ``master`` (``ip:port`` or None),
    ``votes`` ({``ip:port``: count}), ``size``, ``majority``, ``answered``,
    ``unanimous`` (every answering Sentinel named the master), ``reason``
    (one line: why there is or is not an agreed master, each Sentinel's
    answer named) and ``answers`` (as given, in the given order).
    """
    answers = list(answers)
    size = max([int(expected or 0), len(answers)]
               + [int(a.get('known_sentinels') or 0) for a in answers if a.get('reachable')])
    majority = size // 2 + 1
    votes = {}
    answered = 0
    for a in answers:
        if a.get('reachable'):
            answered += 1
            if a.get('master'):
                votes[a['master']] = votes.get(a['master'], 0) + 1
    best = None
    if votes:
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        if ranked[0][1] >= majority and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]):
            best = ranked[0][0]
    said = '; '.join(_answer_text(a) for a in answers) or 'no Sentinel asked'
    if best is not None:
        unanimous = votes[best] == answered
        reason = '%d of %d Sentinels name %s (majority %d): %s' % (votes[best], size, best, majority, said)
    else:
        unanimous = False
        reason = '%s: %d of %d Sentinels answered, a majority (%d) must name the same master: %s' % (
            NO_AGREED_MASTER, answered, size, majority, said)
    return dict(agreed=best is not None, master=best, votes=votes, size=size, majority=majority,
                answered=answered, unanimous=unanimous, reason=reason, answers=answers)


def _answer_text(answer):
    who = answer.get('sentinel') or '?'
    if not answer.get('reachable'):
        return '%s did not answer (%s)' % (who, answer.get('error') or 'unreachable')
    if not answer.get('master'):
        return '%s names no master (%s)' % (who, answer.get('error') or 'does not monitor the group')
    return '%s names %s' % (who, answer['master'])
