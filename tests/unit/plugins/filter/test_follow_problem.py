# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The follow_problem filter: site.yml's check, on the redis role's redis_node facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hardened.redis.plugins.filter.follow_problem import FilterModule

follow_problem = FilterModule().filters()['follow_problem']


def node(host, engine, version):
    # the keys of redis_node that matter here, beside others the filter ignores
    return {'host': host, 'engine': engine, 'version': version, 'service': '%s-hardened@main.service' % engine, 'repl_port': 6379}


def test_newer_replicas_of_an_older_master_are_fine():
    master = node('old-1', 'redis', '7.0')
    assert follow_problem(node('new-1', 'valkey', '8.1'), master) == ''
    assert follow_problem(node('new-2', 'redis', '8.0'), master) == ''
    assert follow_problem(node('old-2', 'redis', '7.0'), master) == ''


def test_an_older_replica_is_named_with_both_releases():
    assert follow_problem(node('old-1', 'redis', '7.0'), node('new-1', 'valkey', '8.1')) == (
        'old-1 (Redis 7.0, RDB 10) cannot load a full sync from new-1 (Valkey 8.1, RDB 11): '
        'no engine loads an RDB format newer than its own')
    assert 'cannot load a full sync from new-1 (Redis 8.0, RDB 12)' in follow_problem(
        node('new-2', 'valkey', '8.1'), node('new-1', 'redis', '8.0'))


def test_a_release_the_role_does_not_know_is_a_problem():
    # redis_node.version is '' when an OS vars file names no release
    assert 'does not know the RDB format' in follow_problem(node('x', 'redis', ''), node('y', 'valkey', '8.1'))


@pytest.mark.parametrize('bad', [None, 'redis', {}, {'version': '7.0'}])
def test_bad_input_says_what_it_needs(bad):
    with pytest.raises(AnsibleFilterError, match='must be a dictionary with engine and version'):
        follow_problem(bad, node('y', 'valkey', '8.1'))
    with pytest.raises(AnsibleFilterError, match='the master must be'):
        follow_problem(node('y', 'valkey', '8.1'), bad)
