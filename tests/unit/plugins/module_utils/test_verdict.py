# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for who the master is (module_utils/_sentinel.group_verdict)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hardened.redis.plugins.module_utils._sentinel import NO_AGREED_MASTER, group_verdict


def ans(who, master='10.0.0.1:6379', reachable=True, known=3, error=None):
    return dict(sentinel=who, master=master if reachable else None, reachable=reachable,
                known_sentinels=known if reachable else None, error=error)


def test_all_agree():
    v = group_verdict([ans('s1'), ans('s2'), ans('s3')])
    assert v['agreed'] and v['unanimous'] and v['master'] == '10.0.0.1:6379'
    assert (v['size'], v['majority'], v['answered']) == (3, 2, 3)


def test_majority_with_one_down_is_agreed():
    v = group_verdict([ans('s1'), ans('s2'), ans('s3', reachable=False, error='connection refused')])
    assert v['agreed'] and v['unanimous'] and v['answered'] == 2
    assert 's3 did not answer (connection refused)' in v['reason']


def test_majority_down_is_no_agreed_master():
    # the one Sentinel that answers still knows two others: size 3
    v = group_verdict([ans('s1'), ans('s2', reachable=False), ans('s3', reachable=False)])
    assert not v['agreed'] and v['master'] is None
    assert v['reason'].startswith(NO_AGREED_MASTER)
    assert 's1 names 10.0.0.1:6379' in v['reason']


def test_a_lone_sentinel_cannot_shrink_the_group():
    # asked one Sentinel only, but it knows of two more
    v = group_verdict([ans('s1')])
    assert v['size'] == 3 and not v['agreed']
    # the caller's inventory count counts too
    v = group_verdict([ans('s1', known=1)], expected=3)
    assert v['size'] == 3 and not v['agreed']


def test_split_is_no_agreed_master():
    v = group_verdict([ans('s1'), ans('s2', master='10.0.0.2:6379'),
                       ans('s3', reachable=False)])
    assert not v['agreed']
    assert v['votes'] == {'10.0.0.1:6379': 1, '10.0.0.2:6379': 1}


def test_majority_against_a_stale_minority_is_agreed_not_unanimous():
    v = group_verdict([ans('s1'), ans('s2'), ans('s3', master='10.0.0.2:6379')])
    assert v['agreed'] and not v['unanimous'] and v['master'] == '10.0.0.1:6379'


def test_sentinel_that_does_not_monitor_counts_as_no_vote():
    v = group_verdict([ans('s1'), ans('s2', master=None), ans('s3', master=None)])
    assert not v['agreed'] and 's2 names no master' in v['reason']


def test_single_sentinel_group():
    v = group_verdict([ans('s1', known=1)])
    assert v['agreed'] and v['size'] == 1


def test_nothing_asked():
    v = group_verdict([])
    assert not v['agreed'] and 'no Sentinel asked' in v['reason']
