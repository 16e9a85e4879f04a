# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Redis / Valkey let CONFIG SET change, and what only a restart applies.

Sources: the ``static_configs`` tables of ``src/config.c`` (flags
IMMUTABLE_CONFIG, PROTECTED_CONFIG, SENSITIVE_CONFIG) in Redis 7.0, 7.2,
8.0 and Valkey 8.x, and a check against Debian 12's redis-server 7.0.15
(CONFIG SET of every directive to its own value: exactly these were refused).
Names are listed together with their aliases. A server may know more
(module configs, newer releases): callers also trust the server's own
"can't set immutable config" / "can't set protected config" answers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# IMMUTABLE_CONFIG: CONFIG SET always refuses these; they apply at start only.
IMMUTABLE_DIRECTIVES = frozenset([
    # Redis 7.0 (Debian 12) and later
    'aclfile', 'always-show-logo', 'appenddirname', 'appendfilename',
    'aof_rewrite_cpulist', 'bgsave_cpulist', 'bio_cpulist', 'server_cpulist',
    'cluster-config-file', 'cluster-enabled', 'cluster-port', 'daemonize', 'databases',
    'disable-thp', 'enable-debug-command', 'enable-module-command', 'enable-protected-configs',
    'io-threads', 'io-threads-do-reads', 'logfile', 'pidfile', 'rdbchecksum',
    'replicaof', 'slaveof', 'set-proc-title', 'socket-mark-id', 'supervised',
    'syslog-enabled', 'syslog-facility', 'syslog-ident', 'tcp-backlog',
    'unixsocket', 'unixsocketperm',
    # Valkey 8: dashed names of the cpulist configs (the underscored ones are aliases)
    'aof-rewrite-cpulist', 'bgsave-cpulist', 'bio-cpulist', 'server-cpulist',
    'debug-assert-enabled',
    # Valkey 8.1: unix socket group
    'unixsocketgroup',
])

# PROTECTED_CONFIG: CONFIG SET refuses these unless enable-protected-configs
# is "yes" (or "local" for a local connection).
PROTECTED_DIRECTIVES = frozenset(['dir', 'dbfilename'])

# SENSITIVE_CONFIG (and friends): values never shown in output or diffs.
SENSITIVE_DIRECTIVES = frozenset([
    'requirepass', 'masterauth', 'primaryauth', 'masteruser', 'primaryuser',
    'tls-key-file-pass', 'tls-client-key-file-pass',
])

# Config-file-only directives that CONFIG GET does not report at all.
FILE_ONLY_DIRECTIVES = frozenset([
    'include', 'rename-command', 'loadmodule', 'user', 'sentinel',
])

# Aliases (old name -> current name); both are accepted by CONFIG GET/SET.
ALIASES = {
    'slaveof': 'replicaof',
    'slave-serve-stale-data': 'replica-serve-stale-data',
    'slave-read-only': 'replica-read-only',
    'slave-lazy-flush': 'replica-lazy-flush',
    'slave-ignore-maxmemory': 'replica-ignore-maxmemory',
    'slave-announce-ip': 'replica-announce-ip',
    'slave-announce-port': 'replica-announce-port',
    'slave-priority': 'replica-priority',
    'repl-ping-slave-period': 'repl-ping-replica-period',
    'min-slaves-to-write': 'min-replicas-to-write',
    'min-slaves-max-lag': 'min-replicas-max-lag',
    'cluster-slave-validity-factor': 'cluster-replica-validity-factor',
    'cluster-slave-no-failover': 'cluster-replica-no-failover',
    'hash-max-ziplist-entries': 'hash-max-listpack-entries',
    'hash-max-ziplist-value': 'hash-max-listpack-value',
    'zset-max-ziplist-entries': 'zset-max-listpack-entries',
    'zset-max-ziplist-value': 'zset-max-listpack-value',
    'list-max-ziplist-size': 'list-max-listpack-size',
    'lua-time-limit': 'busy-reply-threshold',
    'server_cpulist': 'server-cpulist',
    'bio_cpulist': 'bio-cpulist',
    'aof_rewrite_cpulist': 'aof-rewrite-cpulist',
    'bgsave_cpulist': 'bgsave-cpulist',
}


def canonical(name):
    """The current name of a directive (aliases resolved), lower case."""
    name = name.lower()
    return ALIASES.get(name, name)


def names_in_file(name):
    """Every spelling of ``name`` that a config file line may use."""
    target = canonical(name)
    names = set([name.lower(), target])
    names.update(alias for alias, current in ALIASES.items() if current == target)
    return names


def is_immutable(name):
    name = name.lower()
    return name in IMMUTABLE_DIRECTIVES or canonical(name) in IMMUTABLE_DIRECTIVES


def is_protected(name):
    return canonical(name) in PROTECTED_DIRECTIVES


def is_sensitive(name):
    return canonical(name) in SENSITIVE_DIRECTIVES or name.lower() in SENSITIVE_DIRECTIVES


def is_file_only(name):
    return name.lower() in FILE_ONLY_DIRECTIVES


def protected_settable(enable_protected_configs, local=True):
    """Whether CONFIG SET may change PROTECTED configs, from the value of
    ``enable-protected-configs`` (no / yes / local) and whether the
    connection is local (unix socket or loopback)."""
    value = (enable_protected_configs or 'no').strip().lower()
    return value == 'yes' or (value == 'local' and local)


def is_static(name, enable_protected_configs='no', local=True):
    """True when a change of ``name`` needs the config file and a restart."""
    if is_immutable(name):
        return True
    if is_protected(name):
        return not protected_settable(enable_protected_configs, local)
    return False


def refusal_reason(error_text):
    """'immutable' / 'protected' when a CONFIG SET error says the directive
    cannot be set live, else None."""
    text = (error_text or '').lower()
    if "can't set immutable config" in text or 'immutable' in text and 'config' in text:
        return 'immutable'
    if "can't set protected config" in text or 'protected config' in text:
        return 'protected'
    return None


def directive_from_error(error_text):
    """The directive a CONFIG SET error names ("... related to argument 'x' ..."), or None."""
    text = error_text or ''
    marker = "argument '"
    start = text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = text.find("'", start)
    if end < 0:
        return None
    return text[start:end].lower()
