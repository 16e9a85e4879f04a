# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_versions: which node can load a full sync from which (engine, version -> RDB format)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hardened.redis.plugins.module_utils import _info, _versions

REDIS_70 = {'engine': 'redis', 'version': '7.0.15'}
VALKEY_81 = {'engine': 'valkey', 'version': '8.1.1'}
REDIS_80 = {'engine': 'redis', 'version': '8.0.2'}


@pytest.mark.parametrize('engine, version, fmt', [
    # measured: the header of each engine's dump.rdb (REDIS0010 / 0011 / 0012)
    ('redis', '7.0.15', 10),
    ('valkey', '8.1.1', 11),
    ('redis', '8.0.2', 12),
    # a series as the roles know it before anything is installed
    ('redis', '7.0', 10),
    ('Valkey', '8.1', 11),
    ('redis', '7.2.4', 11),
    ('redis', '7.4.0', 12),
    ('valkey', '8.0.0', 11),
    # unknown releases and nonsense are not guessed
    ('redis', '9.0.0', None),
    ('valkey', '9.0.0', None),
    ('keydb', '6.3.4', None),
    ('redis', '', None),
    ('redis', None, None),
    ('redis', 'seven', None),
])
def test_rdb_format(engine, version, fmt):
    assert _versions.rdb_format(engine, version) == fmt


# The direction table of docs/operations.md: replica (follower) from master (leader).
@pytest.mark.parametrize('follower, leader, works', [
    (REDIS_70, REDIS_70, True),
    (VALKEY_81, REDIS_70, True),
    (REDIS_80, REDIS_70, True),
    (REDIS_70, VALKEY_81, False),
    (VALKEY_81, VALKEY_81, True),
    (REDIS_80, VALKEY_81, True),
    (REDIS_70, REDIS_80, False),
    (VALKEY_81, REDIS_80, False),
    (REDIS_80, REDIS_80, True),
])
def test_follow_direction_table(follower, leader, works):
    problem = _versions.follow_problem(follower, leader)
    assert (problem is None) is works, problem
    if not works:
        assert 'cannot load a full sync from' in problem
        assert _versions.label(follower) in problem and _versions.label(leader) in problem


def test_same_release_always_works_even_when_unknown():
    future = {'engine': 'redis', 'version': '9.2.1'}
    assert _versions.follow_problem(future, dict(future, version='9.2.7')) is None


def test_unknown_format_is_a_problem_that_says_so():
    future = {'engine': 'valkey', 'version': '9.0.0', 'name': 'new-1'}
    problem = _versions.follow_problem(future, REDIS_70)
    assert problem is not None
    assert 'does not know the RDB format of new-1 (Valkey 9.0.0, RDB format unknown)' in problem
    # a different engine in the same series is not "the same release"
    assert _versions.follow_problem({'engine': 'redis', 'version': '7.2.4'}, {'engine': 'valkey', 'version': '7.2.4'}) is None
    assert _versions.follow_problem({'engine': 'keydb', 'version': '6.3'}, {'engine': 'redis', 'version': '6.3'}) is not None


def test_labels_name_the_node():
    assert _versions.label(REDIS_70) == 'Redis 7.0.15 (RDB 10)'
    assert _versions.label(dict(VALKEY_81, name='new-1')) == 'new-1 (Valkey 8.1.1, RDB 11)'
    problem = _versions.follow_problem(dict(REDIS_70, name='old-1'), dict(VALKEY_81, name='new-1'))
    assert problem.startswith('old-1 (Redis 7.0.15, RDB 10) cannot load a full sync from new-1 (Valkey 8.1.1, RDB 11)')


def test_engine_and_version_of_info_feed_the_rule():
    # what redis_info and sentinel_failover read from INFO server
    valkey = dict(zip(('engine', 'version'), _info.engine_and_version(
        {'redis_version': '7.2.4', 'server_name': 'valkey', 'valkey_version': '8.1.1'})))
    redis = dict(zip(('engine', 'version'), _info.engine_and_version({'redis_version': '7.0.15'})))
    assert _versions.follow_problem(redis, valkey) is not None
    assert _versions.follow_problem(valkey, redis) is None
    # Valkey's redis_version (7.2.4) must not be read as its version: 7.2 and 8.1 write the same format,
    # but the label must name the real release
    assert _versions.label(valkey) == 'Valkey 8.1.1 (RDB 11)'
