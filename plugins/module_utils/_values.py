# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalise Redis configuration values so that desired and running values compare.

Pure functions, no I/O. The running value is always the string CONFIG GET
returns; the desired value is whatever a playbook passes (str, int, bool,
list, dict). The public entry points are:

* ``render(name, desired)``: the string to send with CONFIG SET (or to write
  in a config file); raises InvalidValue for values that cannot be right.
* ``is_equal(name, desired, current)``: True when setting ``desired`` would
  change nothing.
* ``expected(name, desired, current)``: the string CONFIG GET should report
  once ``desired`` is applied (used for diffs).

Memory units follow Redis: ``1k`` = 1000, ``1kb`` = 1024, ``1m`` = 10**6,
``1mb`` = 2**20, ``1g`` = 10**9, ``1gb`` = 2**30, case-insensitive, ``b``
= bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

binary_type = bytes
integer_types = (int,)
string_types = (str,)


class InvalidValue(ValueError):
    """A desired value that Redis would refuse (message says why)."""


# Directives whose value is a memory size (MEMORY_CONFIG in Redis / Valkey config.c).
MEMORY_DIRECTIVES = frozenset([
    'maxmemory', 'maxmemory-clients', 'repl-backlog-size', 'proto-max-bulk-len',
    'client-query-buffer-limit', 'active-defrag-ignore-bytes',
    'hash-max-listpack-value', 'hash-max-ziplist-value',
    'zset-max-listpack-value', 'zset-max-ziplist-value',
    'stream-node-max-bytes', 'hll-sparse-max-bytes', 'auto-aof-rewrite-min-size',
    'cluster-link-sendbuf-limit', 'set-max-listpack-value',
])

# Memory directives that also accept a percentage of maxmemory.
PERCENT_DIRECTIVES = frozenset(['maxmemory-clients'])

# Enum directives: Redis matches their values case-insensitively and reports lower case.
ENUM_DIRECTIVES = frozenset([
    'loglevel', 'maxmemory-policy', 'appendfsync', 'oom-score-adj', 'acl-pubsub-default',
    'sanitize-dump-payload', 'enable-protected-configs', 'enable-debug-command',
    'enable-module-command', 'cluster-preferred-endpoint-type', 'repl-diskless-load',
    'supervised', 'syslog-facility', 'tls-auth-clients', 'propagation-error-behavior',
])

# Enum values that are synonyms (Redis reports the first name of each value).
ENUM_SYNONYMS = {
    'oom-score-adj': {'relative': 'yes'},
}

# Multi-word enum flag sets (order does not matter).
FLAG_SET_DIRECTIVES = frozenset(['shutdown-on-sigint', 'shutdown-on-sigterm'])

# Lists whose order does not matter.
UNORDERED_LIST_DIRECTIVES = frozenset(['bind'])

# Lists of numbers whose order matters.
NUMBER_LIST_DIRECTIVES = frozenset(['oom-score-adj-values', 'latency-tracking-info-percentiles'])

# Octal numbers (like file modes).
OCTAL_DIRECTIVES = frozenset(['unixsocketperm', 'unixsocketgroupperm'])

# Directives that take several words on one line (a list value is joined with spaces).
MULTI_ARG_DIRECTIVES = frozenset([
    'save', 'client-output-buffer-limit', 'oom-score-adj-values', 'bind', 'replicaof', 'slaveof',
    'latency-tracking-info-percentiles', 'shutdown-on-sigint', 'shutdown-on-sigterm',
])

# notify-keyspace-events: what the class alias "A" stands for.
_NOTIFY_ALL = 'g$lshzxetd'
_NOTIFY_LETTERS = frozenset(_NOTIFY_ALL + 'AKEmn')

_MEMORY_RE = re.compile(r'^\s*(-?\d+)\s*(b|k|kb|m|mb|g|gb)?\s*$', re.IGNORECASE)
_INT_RE = re.compile(r'^\s*[-+]?\d+\s*$')
_MULTIPLIERS = {
    '': 1, 'b': 1,
    'k': 1000, 'kb': 1024,
    'm': 1000 * 1000, 'mb': 1024 * 1024,
    'g': 1000 * 1000 * 1000, 'gb': 1024 * 1024 * 1024,
}
_TRUE = frozenset(['yes', 'true', 'on'])
_FALSE = frozenset(['no', 'false', 'off'])
_COBL_CLASSES = {'normal': 'normal', 'replica': 'slave', 'slave': 'slave', 'pubsub': 'pubsub'}


def _text(value):
    if isinstance(value, binary_type):
        return value.decode('utf-8', 'replace')
    return value


def _words(value):
    """A list of words from a string ("a b c"), a list (of strings or lists) or a scalar."""
    value = _text(value)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_words(item))
        return out
    if isinstance(value, bool):
        return ['yes' if value else 'no']
    return str(value).split()


# ---------------------------------------------------------------------------
# scalar parsers
# ---------------------------------------------------------------------------
def parse_memory(value):
    """Bytes from a Redis memory value: 1073741824, "1gb", "1GB", "1g" (10**9), "100mb"."""
    value = _text(value)
    if isinstance(value, bool):
        raise InvalidValue('%r is not a memory value' % (value,))
    if isinstance(value, integer_types):
        if value < 0:
            raise InvalidValue('%r is not a memory value (negative)' % (value,))
        return int(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    m = _MEMORY_RE.match(str(value))
    if not m:
        raise InvalidValue('%r is not a memory value (use bytes or a unit: k, kb, m, mb, g, gb)' % (value,))
    number = int(m.group(1))
    if number < 0:
        raise InvalidValue('%r is not a memory value (negative)' % (value,))
    return number * _MULTIPLIERS[(m.group(2) or '').lower()]


def parse_memory_or_percent(value):
    """('%', n) for "10%", else ('b', bytes)."""
    text = str(_text(value)).strip()
    if text.endswith('%'):
        number = text[:-1].strip()
        if not number.isdigit():
            raise InvalidValue('%r is not a percentage' % (value,))
        return ('%', int(number))
    return ('b', parse_memory(value))


def to_bool(value):
    """True/False from yes/no, true/false, on/off (any case) or a bool."""
    value = _text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, string_types):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise InvalidValue('%r is not a boolean (use yes or no)' % (value,))


def is_boolish(value):
    try:
        to_bool(value)
    except InvalidValue:
        return False
    return True


def render_bool(value):
    return 'yes' if to_bool(value) else 'no'


def parse_octal(value):
    """An int from an octal mode written like Redis reads it: "700", "0700", 700."""
    value = _text(value)
    if isinstance(value, bool):
        raise InvalidValue('%r is not an octal mode' % (value,))
    text = str(value).strip()
    try:
        number = int(text, 8)
    except ValueError:
        raise InvalidValue('%r is not an octal mode (quote it, e.g. "0700")' % (value,))
    if number < 0 or number > 0o777:
        raise InvalidValue('%r is not an octal mode between 0 and 777' % (value,))
    return number


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------
def parse_save(value):
    """Sorted tuple of (seconds, changes) pairs; () means snapshots disabled.

    Accepts "3600 1 300 100", [[3600, 1], [300, 100]], ["3600 1", "300 100"],
    [] and "" (disabled).
    """
    words = _words(value)
    if words == ['""'] or words == ["''"]:
        words = []
    if len(words) % 2:
        raise InvalidValue('save needs pairs of <seconds> <changes>, got %r' % (value,))
    pairs = []
    for i in range(0, len(words), 2):
        try:
            seconds, changes = int(words[i]), int(words[i + 1])
        except ValueError:
            raise InvalidValue('save needs pairs of integers <seconds> <changes>, got %r' % (value,))
        if seconds < 1 or changes < 0:
            raise InvalidValue('save needs seconds >= 1 and changes >= 0, got %r' % (value,))
        pairs.append((seconds, changes))
    return tuple(sorted(set(pairs)))


def render_save(value):
    """The CONFIG SET form: "3600 1 300 100" (the order given), "" when disabled."""
    parse_save(value)  # validates
    words = _words(value)
    if words == ['""'] or words == ["''"]:
        return ''
    return ' '.join(str(int(w)) for w in words)


# ---------------------------------------------------------------------------
# client-output-buffer-limit
# ---------------------------------------------------------------------------
def parse_client_output_buffer_limit(value):
    """{class: (hard_bytes, soft_bytes, soft_seconds)}; class "replica" is "slave"."""
    value = _text(value)
    if isinstance(value, dict):
        words = []
        for cls, limits in value.items():
            words.append(str(cls))
            words.extend(_words(limits))
    else:
        words = _words(value)
    if not words or len(words) % 4:
        raise InvalidValue('client-output-buffer-limit needs groups of <class> <hard> <soft> <seconds>, got %r' % (value,))
    limits = {}
    for i in range(0, len(words), 4):
        cls = _COBL_CLASSES.get(words[i].lower())
        if cls is None:
            raise InvalidValue('client-output-buffer-limit: unknown class %r (normal, replica, pubsub)' % (words[i],))
        try:
            seconds = int(words[i + 3])
        except ValueError:
            raise InvalidValue('client-output-buffer-limit: %r is not a number of seconds' % (words[i + 3],))
        if seconds < 0:
            raise InvalidValue('client-output-buffer-limit: seconds must be >= 0')
        limits[cls] = (parse_memory(words[i + 1]), parse_memory(words[i + 2]), seconds)
    return limits


def _render_cobl(limits):
    order = ['normal', 'slave', 'pubsub']
    return ' '.join('%s %d %d %d' % ((cls,) + limits[cls]) for cls in order if cls in limits)


# ---------------------------------------------------------------------------
# notify-keyspace-events
# ---------------------------------------------------------------------------
def parse_notify_keyspace_events(value):
    """Frozenset of event letters, "A" expanded."""
    value = _text(value)
    if isinstance(value, bool) and not value:
        value = ''
    text = ''.join(_words(value)) if isinstance(value, (list, tuple)) else str(value or '')
    if text in ('""', "''"):
        text = ''
    bad = [c for c in text if c not in _NOTIFY_LETTERS]
    if bad:
        raise InvalidValue('notify-keyspace-events: invalid event class %r (use letters of "%sAKEmn")'
                           % (''.join(bad), _NOTIFY_ALL))
    letters = set(text.replace('A', _NOTIFY_ALL))
    return frozenset(letters)


# ---------------------------------------------------------------------------
# per-directive dispatch
# ---------------------------------------------------------------------------
def normalize(name, value):
    """A comparable form of ``value`` for directive ``name`` (raises InvalidValue)."""
    name = name.lower()
    value = _text(value)
    if value is None:
        raise InvalidValue('a value is required')
    if isinstance(value, dict) and name != 'client-output-buffer-limit':
        raise InvalidValue('a dict is not a value for %s' % name)
    if name == 'save':
        return ('save', parse_save(value))
    if name == 'client-output-buffer-limit':
        return ('cobl', tuple(sorted(parse_client_output_buffer_limit(value).items())))
    if name == 'notify-keyspace-events':
        return ('notify', parse_notify_keyspace_events(value))
    if name in ('replicaof', 'slaveof'):
        words = _words(value)
        if not words or [w.lower() for w in words] == ['no', 'one'] or words in (['""'], ["''"]):
            return ('replicaof', ())
        if len(words) != 2 or not _INT_RE.match(words[1]):
            raise InvalidValue('%s needs "<host> <port>" or "no one", got %r' % (name, value))
        return ('replicaof', (words[0].lower(), int(words[1])))
    if name in UNORDERED_LIST_DIRECTIVES:
        words = [w for w in _words(value) if w not in ('""', "''")]
        return ('set', tuple(sorted(set(words))))
    if name in FLAG_SET_DIRECTIVES:
        return ('set', tuple(sorted(set(w.lower() for w in _words(value)))))
    if name in NUMBER_LIST_DIRECTIVES:
        words = [w for w in _words(value) if w not in ('""', "''")]
        try:
            return ('numbers', tuple(float(w) for w in words))
        except ValueError:
            raise InvalidValue('%s needs numbers, got %r' % (name, value))
    if name == 'hz':
        # Redis clamps hz to 1..500 (CONFIG_MIN_HZ, CONFIG_MAX_HZ) and reports the clamped value.
        text = str(value).strip()
        if isinstance(value, bool) or not _INT_RE.match(text):
            raise InvalidValue('hz needs an integer, got %r' % (value,))
        return ('int', min(max(int(text), 1), 500))
    if name == 'dir':
        # Redis chdirs and reports getcwd(): no trailing slash.
        text = str(value)
        return ('str', text.rstrip('/') or text[:1])
    if name in PERCENT_DIRECTIVES:
        return ('memory', parse_memory_or_percent(value))
    if name in MEMORY_DIRECTIVES:
        return ('memory', ('b', parse_memory(value)))
    if name in OCTAL_DIRECTIVES:
        return ('octal', parse_octal(value))
    if name in ENUM_DIRECTIVES:
        if isinstance(value, bool):
            text = render_bool(value)
        else:
            text = str(value).strip().lower()
        return ('enum', ENUM_SYNONYMS.get(name, {}).get(text, text))
    # Generic rules, safe for any directive (including module configs):
    if isinstance(value, bool):
        return ('bool', value)
    if isinstance(value, (list, tuple)):
        return ('str', ' '.join(_words(value)))
    if isinstance(value, integer_types):
        return ('int', int(value))
    if isinstance(value, float):
        return ('float', value)
    text = str(value)
    if _INT_RE.match(text):
        return ('int', int(text))
    return ('str', text)


def _generic_equal(desired, current):
    d = normalize('', desired)
    c = normalize('', current)
    if d == c:
        return True
    # yes/no against a yes/no running value
    if _is_yes_no(current) and is_boolish(desired):
        return to_bool(desired) == to_bool(current)
    if d[0] in ('int', 'float') and c[0] in ('int', 'float'):
        return float(d[1]) == float(c[1])
    if d[0] == 'float' and c[0] == 'str':
        try:
            return float(c[1]) == d[1]
        except ValueError:
            return False
    return False


def is_equal(name, desired, current):
    """True when CONFIG SET ``name`` ``desired`` would leave ``current`` as it is.

    client-output-buffer-limit compares only the classes given in ``desired``
    (CONFIG SET leaves the others as they are).
    """
    name = name.lower()
    if name == 'client-output-buffer-limit':
        want = parse_client_output_buffer_limit(desired)
        have = parse_client_output_buffer_limit(current) if str(current).strip() else {}
        return all(have.get(cls) == limits for cls, limits in want.items())
    if _is_specific(name):
        return normalize(name, desired) == normalize(name, current)
    return _generic_equal(desired, current)


def _is_specific(name):
    return (name in ('save', 'notify-keyspace-events', 'replicaof', 'slaveof', 'hz', 'dir') or name in UNORDERED_LIST_DIRECTIVES
            or name in FLAG_SET_DIRECTIVES or name in NUMBER_LIST_DIRECTIVES or name in MEMORY_DIRECTIVES
            or name in PERCENT_DIRECTIVES or name in OCTAL_DIRECTIVES or name in ENUM_DIRECTIVES)


def render(name, desired, current=None):
    """The value string for CONFIG SET ``name`` (validates what it can).

    ``current`` (the running value) helps directives unknown here: when it is
    yes/no, a boolean-like desired value is sent as yes/no.
    """
    name = name.lower()
    value = _text(desired)
    if value is None:
        raise InvalidValue('a value is required')
    normalize(name, value)  # validates the shape
    if not _is_specific(name) and _is_yes_no(current) and is_boolish(value):
        return render_bool(value)
    if name == 'save':
        return render_save(value)
    if name == 'client-output-buffer-limit':
        return _render_cobl(parse_client_output_buffer_limit(value))
    if name == 'notify-keyspace-events':
        text = ''.join(_words(value)) if isinstance(value, (list, tuple)) else str(value)
        return '' if text in ('""', "''") or (isinstance(value, bool) and not value) else text
    if name in ('replicaof', 'slaveof'):
        kind, target = normalize(name, value)
        return 'no one' if not target else '%s %d' % (_words(value)[0], target[1])
    if name in PERCENT_DIRECTIVES or name in MEMORY_DIRECTIVES:
        norm = normalize(name, value)[1]
        return '%d%%' % norm[1] if norm[0] == '%' else str(norm[1])
    if name in OCTAL_DIRECTIVES:
        return '%o' % parse_octal(value)
    if name in ENUM_DIRECTIVES:
        return normalize(name, value)[1]
    if name in MULTI_ARG_DIRECTIVES or isinstance(value, (list, tuple)):
        return ' '.join(w for w in _words(value) if w not in ('""', "''"))
    if isinstance(value, bool):
        return render_bool(value)
    return str(value)


def expected(name, desired, current):
    """What CONFIG GET ``name`` should report after CONFIG SET ``desired`` (for diffs)."""
    name = name.lower()
    if is_equal(name, desired, current):
        return current
    if name == 'client-output-buffer-limit':
        have = parse_client_output_buffer_limit(current) if str(current).strip() else {}
        have.update(parse_client_output_buffer_limit(desired))
        return _render_cobl(have)
    if name in ('replicaof', 'slaveof'):
        rendered = render(name, desired)
        return '' if rendered == 'no one' else rendered
    if name in OCTAL_DIRECTIVES:
        return '%o' % parse_octal(desired)
    return render(name, desired, current)


def _is_yes_no(value):
    return isinstance(value, string_types) and value.strip().lower() in ('yes', 'no')


def split_config_args(line):
    """Split a redis.conf line like Redis does (sdssplitargs): quotes and escapes.

    Returns a list of words, or None for unbalanced quotes.
    """
    args = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current = []
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    return None
                c = line[i]
                if c == '\\' and i + 3 < n and line[i + 1] == 'x' and _is_hex(line[i + 2]) and _is_hex(line[i + 3]):
                    current.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 3
                elif c == '\\' and i + 1 < n:
                    i += 1
                    current.append({'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}.get(line[i], line[i]))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    in_dq = False
                    i += 1
                    break
                else:
                    current.append(c)
            elif in_sq:
                if i >= n:
                    return None
                c = line[i]
                if c == '\\' and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    current.append("'")
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    in_sq = False
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c.isspace():
                    break
                if c == '"':
                    in_dq = True
                elif c == "'":
                    in_sq = True
                else:
                    current.append(c)
            i += 1
        args.append(''.join(current))


def _is_hex(c):
    return c in '0123456789abcdefABCDEF'


def quote_config_arg(word):
    """Quote one argument for redis.conf when it needs it (like CONFIG REWRITE does)."""
    if word and not any(c.isspace() or c in '"\'\\' for c in word) and all(32 < ord(c) < 127 for c in word):
        return word
    out = ['"']
    for c in word:
        if c in '"\\':
            out.append('\\' + c)
        elif c == '\n':
            out.append('\\n')
        elif c == '\r':
            out.append('\\r')
        elif c == '\t':
            out.append('\\t')
        elif ord(c) < 32 or ord(c) == 127:
            out.append('\\x%02x' % ord(c))
        else:
            out.append(c)
    out.append('"')
    return ''.join(out)


def render_config_line(name, desired, current=None):
    """``name value`` as a redis.conf line (multi-word directives unquoted)."""
    name = name.lower()
    value = render(name, desired, current)
    if name in MULTI_ARG_DIRECTIVES:
        words = value.split()
        if not words:
            return '%s ""' % name
        return '%s %s' % (name, ' '.join(quote_config_arg(w) for w in words))
    return '%s %s' % (name, quote_config_arg(value))
