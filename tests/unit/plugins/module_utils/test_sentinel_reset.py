# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What sentinel_reset plans (module_utils/_sentinel_reset): which Sentinels
forget what, and every refusal before anything is reset. The module itself is
tested against real Sentinels in tests/integration/test_sentinel_reset.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hardened.redis.plugins.module_utils._sentinel_reset import (
    glob_free,
    known_lines,
    matches,
    not_ready,
    parse_forget,
    plan,
    show_forget,
    still_up,
)

M = '10.0.0.11:6379'
IDS = {'10.0.0.11:26379': 'id1', '10.0.0.12:26379': 'id2', '10.0.0.13:26379': 'id3'}


def replica(addr, flags='slave', link='ok'):
    ip, port = addr.rsplit(':', 1)
    return dict(address=addr, ip=ip, port=int(port), flags=flags.split(','), master_link_status=link)


def peer(addr, pid, flags='sentinel'):
    ip, port = addr.rsplit(':', 1)
    return dict(address=addr, ip=ip, port=int(port), flags=flags.split(','), runid=pid)


def view(addr, replicas, peers, master=M, flags='master', state=None, quorum=2, ck=True):
    return dict(sentinel=addr, reachable=True, monitored=True, master=master, master_flags=flags.split(','),
                failover_in_progress='failover_in_progress' in flags, failover_state=state, quorum=quorum,
                replicas=replicas, sentinels=peers, ckquorum=dict(ok=ck, message='OK' if ck else 'NOQUORUM'), error=None)


def down(addr, pid=None):
    return dict(sentinel=addr, reachable=False, runid=pid, error='connection refused', replicas=[], sentinels=[])


def group_after_host3_stopped():
    """Three hosts; host 3's data node and Sentinel were stopped."""
    def reps():
        return [replica('10.0.0.12:6379'), replica('10.0.0.13:6379', 's_down,slave,disconnected', 'err')]
    return [
        view('10.0.0.11:26379', reps(), [peer('10.0.0.12:26379', 'id2'), peer('10.0.0.13:26379', 'id3', 's_down,sentinel,disconnected')]),
        view('10.0.0.12:26379', reps(), [peer('10.0.0.11:26379', 'id1'), peer('10.0.0.13:26379', 'id3', 's_down,sentinel,disconnected')]),
        down('10.0.0.13:26379', 'id3'),
    ]


def test_parse_forget():
    assert parse_forget(['10.0.0.13', '10.0.0.14:6379', '[fe80::1]', '[fe80::1]:26379', 'fe80::2']) == [
        ('10.0.0.13', None), ('10.0.0.14', 6379), ('fe80::1', None), ('fe80::1', 26379), ('fe80::2', None)]
    assert [show_forget(f) for f in parse_forget(['10.0.0.13', '[fe80::1]:1'])] == ['10.0.0.13', '[fe80::1]:1']
    for bad in ['10.0.0.1:x', '10.0.0.1:0', '[fe80::1', '', '*', '10.0.0.1:70000']:
        with pytest.raises(ValueError):
            parse_forget([bad])


def test_matches_ip_or_ip_and_port():
    f = parse_forget(['10.0.0.13', '10.0.0.14:6380'])
    assert matches(f, dict(ip='10.0.0.13', port=6379)) and matches(f, dict(ip='10.0.0.13', port=26379))
    assert matches(f, dict(ip='10.0.0.14', port=6380)) and not matches(f, dict(ip='10.0.0.14', port=6379))
    assert not matches(f, dict(ip='10.0.0.1', port=6379))


def test_glob_names_are_refused():
    assert glob_free('main') and glob_free('my-group.1')
    for name in ['*', 'ma?n', 'm[ai]n', 'a\\b']:
        assert not glob_free(name)


def test_plan_a_removed_host():
    p = plan(group_after_host3_stopped(), IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert p['refusals'] == [] and p['running'] == []
    assert p['master'] == M
    assert p['to_reset'] == ['10.0.0.11:26379', '10.0.0.12:26379']
    assert p['known']['10.0.0.11:26379'] == ['replica 10.0.0.13:6379', 'sentinel 10.0.0.13:26379']
    assert p['expected_nodes'] == ['10.0.0.11:6379', '10.0.0.12:6379']
    assert p['kept_ids'] == ['id1', 'id2'] and p['forget_sentinels'] == {'id3': '10.0.0.13:26379'}


def test_nothing_to_forget():
    views = group_after_host3_stopped()
    p = plan(views, IDS, parse_forget(['10.9.9.9']), remaining=2)
    assert p['to_reset'] == []
    # ... but the stopped host is then a Sentinel and a replica that a reset would forget too
    assert any('10.0.0.13:26379' in r and 'does not answer and is not to be forgotten' in r for r in p['refusals'])
    assert any('replica 10.0.0.13:6379 is not up and linked' in r for r in p['refusals'])


def test_another_node_down_is_refused():
    views = group_after_host3_stopped()
    views[0]['replicas'][0] = replica('10.0.0.12:6379', 's_down,slave,disconnected', 'err')
    p = plan(views, IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert any(r.startswith('replica 10.0.0.12:6379 is not up and linked according to Sentinel 10.0.0.11:26379')
               for r in p['refusals'])


def test_failover_in_progress_and_disagreement_are_refused():
    views = group_after_host3_stopped()
    views[1] = dict(views[1], master_flags=['master', 'failover_in_progress'], failover_in_progress=True,
                    failover_state='wait_promotion')
    p = plan(views, IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert any(r.startswith('a failover is in progress (Sentinel 10.0.0.12:26379') for r in p['refusals'])
    views = group_after_host3_stopped()
    views[1] = dict(views[1], master='10.0.0.12:6379')
    p = plan(views, IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert any(r.startswith('the Sentinels disagree on the master') for r in p['refusals'])
    views = group_after_host3_stopped()
    views[0] = dict(views[0], master_flags=['s_down', 'master'])
    p = plan(views, IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert any('flags the master 10.0.0.11:6379 (s_down,master)' in r for r in p['refusals'])


def test_forgetting_the_master_is_refused():
    p = plan(group_after_host3_stopped(), IDS, parse_forget(['10.0.0.11:6379', '10.0.0.13']), remaining=2)
    assert any(r.startswith('the master 10.0.0.11:6379 is one to forget') for r in p['running'])


def test_quorum_and_majority():
    views = group_after_host3_stopped()
    for v in views[:2]:
        v['quorum'] = 3
    p = plan(views, IDS, parse_forget(['10.0.0.13']), remaining=2)
    assert any('has quorum 3, more than the 2 Sentinels that stay' in r for r in p['refusals'])
    # one of two Sentinels left is no majority of the group as it counts now
    views = group_after_host3_stopped()
    p = plan(views[:1], IDS, parse_forget(['10.0.0.13', '10.0.0.12:26379']), remaining=2)
    assert any(r.startswith('only 1 of the 3 Sentinels stay') for r in p['refusals'])


def test_a_running_sentinel_to_forget():
    views = group_after_host3_stopped()
    views[2] = view('10.0.0.13:26379', [replica('10.0.0.12:6379')], [peer('10.0.0.11:26379', 'id1'), peer('10.0.0.12:26379', 'id2')])
    for v in views[:2]:
        v['sentinels'][1]['flags'] = ['sentinel']
    p = plan(views, IDS, parse_forget(['10.0.0.13:26379']), remaining=2)
    assert p['running'] == ['Sentinel 10.0.0.13:26379 is to be forgotten but still answers: stop it first, '
                            'or the others learn it again at once']
    assert p['to_reset'] == ['10.0.0.11:26379', '10.0.0.12:26379'] and p['kept_ids'] == ['id1', 'id2']


def test_still_up():
    views = group_after_host3_stopped()
    assert still_up(views, ['10.0.0.13:6379']) == []
    views[0]['replicas'][1] = replica('10.0.0.13:6379')
    assert still_up(views, ['10.0.0.13:6379']) == ['10.0.0.13:6379 (flags slave, per Sentinel 10.0.0.11:26379)']


def test_not_ready_until_it_knows_exactly_the_group():
    names = {'id1': '10.0.0.11:26379', 'id2': '10.0.0.12:26379'}
    nodes = ['10.0.0.11:6379', '10.0.0.12:6379']
    just_reset = view('10.0.0.11:26379', [], [], flags='master,disconnected', ck=False)
    why = not_ready(just_reset, 'id1', nodes, ['id1', 'id2'], names)
    assert 'replicas not known yet: 10.0.0.12:6379' in why and 'Sentinels not known yet: 10.0.0.12:26379' in why
    assert 'master flags master,disconnected' in why and 'CKQUORUM NOQUORUM' in why
    done = view('10.0.0.11:26379', [replica('10.0.0.12:6379')], [peer('10.0.0.12:26379', 'id2')])
    assert not_ready(done, 'id1', nodes, ['id1', 'id2'], names) == []
    came_back = view('10.0.0.11:26379', [replica('10.0.0.12:6379'), replica('10.0.0.13:6379')],
                     [peer('10.0.0.12:26379', 'id2'), peer('10.0.0.13:26379', 'id3')])
    why = not_ready(came_back, 'id1', nodes, ['id1', 'id2'], names)
    assert why == ['data nodes it knows that are not expected: 10.0.0.13:6379',
                   'Sentinels it knows that are not expected: 10.0.0.13:26379']
    # a failover during the wait: the old master is now a replica, still the same data nodes
    moved = view('10.0.0.11:26379', [replica('10.0.0.11:6379')], [peer('10.0.0.12:26379', 'id2')], master='10.0.0.12:6379')
    assert not_ready(moved, 'id1', nodes, ['id1', 'id2'], names) == []
    assert not_ready(down('10.0.0.11:26379'), 'id1', nodes, ['id1', 'id2'], names) == ['it does not answer (connection refused)']


def test_known_lines():
    v = group_after_host3_stopped()[0]
    assert known_lines(v) == ['replica 10.0.0.12:6379', 'replica 10.0.0.13:6379', 'sentinel 10.0.0.12:26379',
                              'sentinel 10.0.0.13:26379']
