# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_config when something goes wrong (issue 10, section 2), against a
real redis-sentinel watching a real redis-server: passwords Sentinel cannot
keep in its config file are refused, a user without INFO gets a clear error,
and a failure after a MONITOR says that something changed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from run_module import run_module
from sentinels import _pairs
from servers import start_redis, start_sentinel

SENTINEL_PASSWORD = 'Sn4-sentinel-requirepass-8vB'
LIMITED_PASSWORD = 'Lm6-limited-user-secret-2dQ'


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('sentinel-config-failures')
    master = start_redis(tmp, name='master')
    try:
        sentinel = start_sentinel(tmp, ['sentinel monitor main 127.0.0.1 %d 1' % master.port],
                                  password=SENTINEL_PASSWORD, name='sentinel')
    except Exception:
        master.stop()
        raise
    yield master, sentinel
    sentinel.stop()
    master.stop()


def conn(sentinel, user=None, password=SENTINEL_PASSWORD):
    args = dict(login_host='127.0.0.1', login_port=sentinel.port, login_password=password)
    if user:
        args['login_user'] = user
    return args


def admin(sentinel):
    return sentinel.client()


def output(result):
    return result.stdout + result.stderr


@pytest.mark.parametrize('option', ['auth_pass', 'auth_user', 'sentinel_pass'])
@pytest.mark.parametrize('bad', ['two words', 'tab\there', 'quo"te', "quo'te", 'back\\slash'])
def test_value_sentinel_cannot_keep_in_its_file_is_refused(lab, option, bad):
    master, sentinel = lab
    secret = 'Zz9-%s-Xy' % bad
    config_before = sentinel.read_config()
    result = run_module('sentinel_config', dict(conn(sentinel), master_name='main', **{option: secret}))
    assert result.get('failed') is True, result
    assert option in result['msg']
    assert 'Nothing was changed' in result['msg']
    if option != 'auth_user':  # a user name is no secret
        assert secret not in output(result)
        assert repr(secret)[1:-1] not in output(result)
    assert sentinel.read_config() == config_before


def test_sentinel_user_in_settings_is_checked_too(lab):
    master, sentinel = lab
    result = run_module('sentinel_config', dict(conn(sentinel), master_name='main',
                                                sentinel_settings={'sentinel-user': 'two words'}))
    assert result.get('failed') is True, result
    assert 'sentinel-user' in result['msg'] and 'whitespace' in result['msg']


def test_user_without_info_rights_gets_a_clear_error(lab):
    master, sentinel = lab
    admin(sentinel).execute_command('ACL', 'SETUSER', 'noinfo', 'on', '>' + LIMITED_PASSWORD,
                                    '+ping', '+sentinel|master')
    result = run_module('sentinel_config', dict(conn(sentinel, 'noinfo', LIMITED_PASSWORD), master_name='main',
                                                quorum=1))
    assert result.get('failed') is True, result
    assert 'Traceback' not in output(result)
    assert result['msg'].startswith('Cannot read INFO server on the Sentinel at 127.0.0.1:%d: NOPERM'
                                    % sentinel.port), result['msg']
    assert LIMITED_PASSWORD not in output(result)


def test_failure_after_monitor_reports_changed(lab, redis_factory):
    master, sentinel = lab
    extra = redis_factory(name='extra')
    # may MONITOR but not SENTINEL SET: the second command fails
    admin(sentinel).execute_command('ACL', 'SETUSER', 'monitoronly', 'on', '>' + LIMITED_PASSWORD, '+ping', '+info',
                                    '+sentinel|config', '+sentinel|master', '+sentinel|monitor')
    args = dict(conn(sentinel, 'monitoronly', LIMITED_PASSWORD), master_name='extra', master_host='127.0.0.1',
                master_port=extra.port, quorum=1, down_after_milliseconds=2000)
    try:
        result = run_module('sentinel_config', args)
        assert result.get('failed') is True, result
        assert result['changed'] is True
        assert result['applied'] == ['SENTINEL MONITOR extra 127.0.0.1 %d 1' % extra.port]
        assert 'NOPERM' in result['msg'] and 'down-after-milliseconds' in result['msg']
        assert 'applied before: SENTINEL MONITOR' in result['msg']
        monitored = [_pairs(m)['name'] for m in admin(sentinel).execute_command('SENTINEL', 'MASTERS')]
        assert 'extra' in monitored
    finally:
        try:
            admin(sentinel).execute_command('SENTINEL', 'REMOVE', 'extra')
        except Exception:
            pass
