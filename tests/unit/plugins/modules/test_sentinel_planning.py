# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning logic behind sentinel_config and sentinel_failover (module_utils/_sentinel.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hardened.redis.plugins.module_utils._sentinel import (
    Change,
    diff_lines,
    masked_pair,
    pairs,
    parse_replicas,
    plan_globals,
    plan_master,
    read_master_auth,
    select_target,
    server_mode,
    validate_master_options,
)
from ansible_collections.hardened.redis.plugins.module_utils._values import InvalidValue


def test_pairs_accepts_resp2_and_resp3():
    assert pairs(['name', 'main', 'port', '6379']) == {'name': 'main', 'port': '6379'}
    assert pairs({'name': 'main'}) == {'name': 'main'}
    assert pairs(None) == {}


def test_server_mode_of_redis_and_valkey():
    # Redis 7/8 INFO server; Valkey 8.1 has no redis_mode, only server_mode
    # (seen on valkey-sentinel 8.1.1, Debian 13).
    assert server_mode({'redis_version': '7.0.15', 'redis_mode': 'sentinel'}) == 'sentinel'
    assert server_mode({'redis_version': '7.2.4', 'server_name': 'valkey', 'valkey_version': '8.1.1',
                        'server_mode': 'sentinel'}) == 'sentinel'
    assert server_mode({'server_name': 'valkey', 'server_mode': 'standalone'}) == 'standalone'
    assert server_mode({}) is None
    assert server_mode(None) is None


SENTINEL_CONF = """port 26379
sentinel monitor main 10.0.0.1 6379 2
sentinel auth-user main sentinel
sentinel auth-pass main first
# sentinel auth-pass main commented
sentinel auth-pass other nope
sentinel auth-pass main "with space"
sentinel monitor unquoted 10.0.0.2 6379 2
sentinel auth-pass unquoted a"b c
"""


def test_read_master_auth_last_line_wins_and_other_masters_ignored():
    assert read_master_auth(SENTINEL_CONF, 'main') == {'auth-user': 'sentinel', 'auth-pass': 'with space'}
    assert read_master_auth(SENTINEL_CONF, 'other') == {'auth-user': None, 'auth-pass': 'nope'}
    assert read_master_auth(SENTINEL_CONF, 'absent') == {'auth-user': None, 'auth-pass': None}


def test_read_master_auth_takes_unquoted_values_verbatim():
    # Sentinel 7.0 writes the password without quoting
    assert read_master_auth(SENTINEL_CONF, 'unquoted')['auth-pass'] == 'a"b c'


@pytest.mark.parametrize('option', ['quorum', 'down_after_milliseconds', 'failover_timeout', 'parallel_syncs'])
def test_values_below_one_are_refused_naming_the_option(option):
    with pytest.raises(InvalidValue, match=option):
        validate_master_options({option: 0})
    validate_master_options({option: 1})


CURRENT = {'quorum': '2', 'down-after-milliseconds': '30000', 'failover-timeout': '180000', 'parallel-syncs': '1'}


def test_plan_master_only_what_differs():
    desired = dict(quorum=2, down_after_milliseconds=5000, failover_timeout=None, parallel_syncs=1,
                   auth_user=None, auth_pass=None)
    assert plan_master(CURRENT, None, desired) == [Change('down-after-milliseconds', '30000', '5000')]


def test_plan_master_auth_compared_only_when_known():
    desired = dict(auth_user='sentinel', auth_pass='s3cr3t-new')
    assert plan_master(CURRENT, None, desired) == []
    assert plan_master(CURRENT, {'auth-user': 'sentinel', 'auth-pass': 's3cr3t-new'}, desired) == []
    changes = plan_master(CURRENT, {'auth-user': None, 'auth-pass': 's3cr3t-old'}, desired)
    assert changes == [Change('auth-user', '', 'sentinel'), Change('auth-pass', 's3cr3t-old', 's3cr3t-new')]
    assert changes[1].shown()['before'] != changes[1].shown()['after']
    assert 's3cr3t' not in str(changes[1].shown())


def test_plan_master_empty_string_removes_auth():
    assert plan_master(CURRENT, {'auth-user': None, 'auth-pass': 'x'}, dict(auth_pass='')) == [Change('auth-pass', 'x', '')]
    assert plan_master(CURRENT, {'auth-user': None, 'auth-pass': None}, dict(auth_pass='')) == []


GLOBALS = {'resolve-hostnames': 'no', 'announce-hostnames': 'no', 'announce-ip': '', 'announce-port': '0',
           'sentinel-user': '', 'sentinel-pass': 'pw'}


def test_plan_globals_normalises_booleans_and_ports():
    assert plan_globals(GLOBALS, {'resolve-hostnames': False, 'announce-port': '0', 'sentinel-pass': 'pw'}) == []
    assert plan_globals(GLOBALS, {'resolve-hostnames': True, 'announce-port': 26380, 'announce-ip': '10.0.0.9'}) == [
        Change('announce-ip', '', '10.0.0.9'), Change('announce-port', '0', '26380'),
        Change('resolve-hostnames', 'no', 'yes')]


@pytest.mark.parametrize('desired, error', [
    ({'no-such': 1}, 'no-such'),
    ({'announce-port': 70000}, 'announce-port'),
    ({'announce-port': 'x'}, 'announce-port'),
    ({'resolve-hostnames': 'maybe'}, 'boolean'),
])
def test_plan_globals_refuses_bad_input(desired, error):
    with pytest.raises(InvalidValue, match=error):
        plan_globals(GLOBALS, desired)


def test_masked_pair_and_diff_lines():
    assert masked_pair('quorum', '2', '3') == ('2', '3')
    before, after = masked_pair('sentinel-pass', 'pw-one', 'pw-two')
    assert before != after and 'pw-' not in before + after
    assert masked_pair('auth-pass', 'a', 'a')[0] == masked_pair('auth-pass', 'a', 'a')[1]
    assert masked_pair('auth-pass', '', 'x')[0] == ''
    assert diff_lines({'quorum': '2', 'monitor': None, 'announce-ip': ''}) == 'announce-ip \nquorum 2\n'


def test_parse_replicas_from_parsed_and_raw_info():
    info = {'role': 'master', 'connected_slaves': 2,
            'slave0': {'ip': '10.0.0.2', 'port': 6379, 'state': 'online', 'offset': 100, 'lag': 0},
            'slave1': 'ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=1',
            'slave_read_only': 1}
    assert parse_replicas(info) == [
        dict(ip='10.0.0.2', port=6379, state='online', offset=100, lag=0),
        dict(ip='10.0.0.3', port=6380, state='wait_bgsave', offset=0, lag='1')]


def _replica(ip, port, priority='100', offset='10', flags='slave', link='ok', runid='r'):
    return {'ip': ip, 'port': str(port), 'slave-priority': priority, 'slave-repl-offset': offset,
            'flags': flags, 'master-link-status': link, 'runid': runid}


REPLICAS = [
    _replica('10.0.0.2', 6379, offset='50'),
    _replica('10.0.0.3', 6379, offset='90'),
    _replica('10.0.0.3', 6380, priority='10', offset='1'),
    _replica('10.0.0.4', 6379, priority='0', offset='999'),
    _replica('10.0.0.5', 6379, priority='1', flags='slave,s_down'),
]


def test_select_explicit_target():
    assert select_target(REPLICAS, match_target=lambda r: r['ip'] == '10.0.0.2')['port'] == '6379'
    with pytest.raises(ValueError, match='several'):
        select_target(REPLICAS, match_target=lambda r: r['ip'] == '10.0.0.3')
    with pytest.raises(ValueError, match='not a replica'):
        select_target(REPLICAS, match_target=lambda r: r['ip'] == '10.9.9.9')


def test_select_avoiding_a_host_follows_sentinel_order():
    # lower non-zero priority first; priority 0 and down replicas never
    best = select_target(REPLICAS, avoid=lambda r: False)
    assert (best['ip'], best['port']) == ('10.0.0.3', '6380')
    # without it, higher offset wins between equal priorities
    best = select_target(REPLICAS, avoid=lambda r: r['ip'] == '10.0.0.3' and r['port'] == '6380')
    assert (best['ip'], best['port']) == ('10.0.0.3', '6379')
    with pytest.raises(ValueError, match='no eligible replica'):
        select_target(REPLICAS, avoid=lambda r: r['ip'] in ('10.0.0.2', '10.0.0.3'))
