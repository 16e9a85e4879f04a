# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which node can replicate from which: THE rule, by engine, version and RDB format (pure, no I/O).

A replica that needs a full resynchronisation loads its master's RDB
snapshot, and no engine loads an RDB format newer than its own: the replica
logs "Can't handle RDB format version N", has already flushed its dataset
by then, and tries again every few seconds (the master forks and sends a
snapshot each time). A partial resynchronisation (PSYNC) carries no RDB and
works across formats, so a node of an older format that follows a newer
master keeps working only until its next full resynchronisation.

Measured on Debian packages (2026-12): Redis 7.0.15 writes RDB 10, Valkey
8.1.1 RDB 11, Redis 8.0.2 RDB 12. Valkey 8.1 and Redis 8.0 replicas loaded a
full sync from a Redis 7.0 master; Redis 8.0 from Valkey 8.1; Redis 7.0 from
Valkey 8.1 or Redis 8.0, and Valkey 8.1 from Redis 8.0, failed as above.
The other rows are the engines' own RDB_VERSION for that release.

* ``rdb_format(engine, version)``: the RDB format a release writes, or None.
* ``label(node)``: "redis-1 (Redis 7.0.15, RDB 10)", for messages.
* ``follow_problem(follower, leader)``: None when ``follower`` can load a full
  sync from ``leader``, else why not (a sentence naming both). Nodes are
  dicts with ``engine``, ``version`` and optionally ``name``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# (engine, major, minor) -> RDB format that release writes (and the newest it loads)
RDB_FORMATS = {
    ('redis', 5, 0): 9,
    ('redis', 6, 0): 9,
    ('redis', 6, 2): 9,
    ('redis', 7, 0): 10,
    ('redis', 7, 2): 11,
    ('redis', 7, 4): 12,
    ('redis', 8, 0): 12,
    ('valkey', 7, 2): 11,
    ('valkey', 8, 0): 11,
    ('valkey', 8, 1): 11,
}
ENGINE_LABELS = {'redis': 'Redis', 'valkey': 'Valkey'}


def _series(version):
    """(major, minor) of '7.0.15' or '8.1', or None."""
    m = re.match(r'^\s*(\d+)\.(\d+)', str(version or ''))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _engine(engine):
    return str(engine or '').strip().lower()


def rdb_format(engine, version):
    """The RDB format ``engine`` at ``version`` writes, or None when this collection does not know it."""
    series = _series(version)
    if series is None:
        return None
    return RDB_FORMATS.get((_engine(engine),) + series)


def label(node):
    """``Redis 7.0.15 (RDB 10)``, or ``redis-1 (Redis 7.0.15, RDB 10)`` for a node with a name."""
    engine = _engine(node.get('engine'))
    fmt = rdb_format(engine, node.get('version'))
    what = '%s %s' % (ENGINE_LABELS.get(engine, engine or '?'), node.get('version') or '?')
    rdb = 'RDB %s' % fmt if fmt is not None else 'RDB format unknown'
    return '%s (%s, %s)' % (node['name'], what, rdb) if node.get('name') else '%s (%s)' % (what, rdb)


def follow_problem(follower, leader):
    """None when ``follower`` can load a full resynchronisation from ``leader``; else why not.

    Same engine and same major.minor always works. Otherwise both RDB formats
    must be known and the follower's must not be older than the leader's.
    """
    same_engine = _engine(follower.get('engine')) == _engine(leader.get('engine'))
    f_series, l_series = _series(follower.get('version')), _series(leader.get('version'))
    if same_engine and f_series is not None and f_series == l_series:
        return None
    f_fmt = rdb_format(follower.get('engine'), follower.get('version'))
    l_fmt = rdb_format(leader.get('engine'), leader.get('version'))
    if f_fmt is None or l_fmt is None:
        return ('%s cannot be shown to load a full sync from %s: this collection does not know the RDB format of %s'
                % (label(follower), label(leader),
                   ' and '.join(label(n) for n, fmt in ((follower, f_fmt), (leader, l_fmt)) if fmt is None)))
    if f_fmt < l_fmt:
        return ('%s cannot load a full sync from %s: no engine loads an RDB format newer than its own'
                % (label(follower), label(leader)))
    return None
