# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_config when something goes wrong (issue 10, section 2), against real redis-server processes:
secrets never in syslog nor in a failed result, a failed CONFIG REWRITE retried
by the next run, persist refused without a config file, values that Redis
rewrites compared as CONFIG GET gives them back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

import pytest

from run_module import run_module
from servers import RedisProcess, free_port
from syslog_capture import capture_syslog
from test_redis_config import failed, ok, output, tcp  # the module's own suite's helpers

SECRET = 'Sy5-syslog-must-never-see-this-3kQ'
OTHER_SECRET = 'Kp2-second-secret-in-the-dict-7wN'


# --------------------------------------------------------------------------
# secrets: never in syslog, never in a failed result
# --------------------------------------------------------------------------
@pytest.mark.parametrize('form', ['name_value', 'config'])
def test_secret_directives_never_reach_syslog(redis_server, form):
    if form == 'name_value':
        args = dict(name='masterauth', value=SECRET)
    else:
        args = dict(config={'masterauth': SECRET, 'tls-client-key-file-pass': OTHER_SECRET, 'maxmemory': '2mb'})
    result, logged = capture_syslog('redis_config', tcp(redis_server, **args))
    ok(result)
    assert result['changed'] is True
    invoked = [m for m in logged if 'Invoked with' in m]
    assert len(invoked) == 1, logged  # the module did log its invocation, through the real socket
    assert 'masterauth' in invoked[0]
    everything = ''.join(logged) + output(result)
    assert SECRET not in everything
    assert OTHER_SECRET not in everything
    assert redis_server.config_get('masterauth') == SECRET  # and it was really set


@pytest.mark.parametrize('bad', [
    dict(config={'Bad Name!': 1, 'masterauth': SECRET}),                 # invalid name before the secret
    dict(config={'maxmemory': '12 parsecs', 'requirepass': SECRET}),     # invalid value of another key
    dict(config={'no-such-directive': 1, 'masterauth': SECRET}),         # refused after connecting
    dict(config={'masterauth': SECRET}, name='maxmemory', value='1mb'),  # argument check in AnsibleModule
])
def test_failed_result_never_echoes_a_secret(redis_server, bad):
    result, logged = capture_syslog('redis_config', tcp(redis_server, **bad))
    failed(result)
    assert SECRET not in output(result)
    assert SECRET not in ''.join(logged)
    assert redis_server.config_get('masterauth') == ''
    assert redis_server.config_get('requirepass') == ''


# --------------------------------------------------------------------------
# a failed CONFIG REWRITE is retried by the next run
# --------------------------------------------------------------------------
@pytest.fixture
def unprivileged_redis():
    """redis-server running as the redis user, its config file in a root-owned
    0755 directory: it can read its config but CONFIG REWRITE cannot write it
    (the usual cause: a hardened /etc/redis)."""
    root = tempfile.mkdtemp(prefix='redis-config-rewrite-')
    os.chmod(root, 0o755)
    etc = os.path.join(root, 'etc')
    data = os.path.join(root, 'data')
    os.mkdir(etc, 0o755)
    os.mkdir(data, 0o750)
    shutil.chown(data, 'redis', 'redis')
    port = free_port()
    config_file = os.path.join(etc, 'redis.conf')
    with open(config_file, 'w') as f:
        f.write('bind 127.0.0.1\nport %d\ndir %s\nlogfile %s/server.log\nsave ""\nappendonly no\n'
                % (port, data, data))
    os.chmod(config_file, 0o644)
    srv = RedisProcess(data, config_file, port, user='redis')
    srv.log_file = os.path.join(data, 'server.log')
    srv.start()
    yield srv, etc
    srv.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_failed_rewrite_is_retried_by_the_next_run(unprivileged_redis):
    srv, etc = unprivileged_redis
    args = tcp(srv, name='maxmemory', value='7mb')
    first = failed(run_module('redis_config', args))
    assert first['changed'] is True  # the running value was changed
    assert 'CONFIG REWRITE' in first['msg'] and 'next run retries' in first['msg'], first['msg']
    assert srv.config_get('maxmemory') == str(7 * 1024 * 1024)
    assert 'maxmemory' not in srv.read_config()

    # still not writable: the next run tries again (and fails again), never "ok, 0 changed"
    again = failed(run_module('redis_config', args))
    assert 'CONFIG REWRITE' in again['msg']

    # check mode and diff say what the next run will do
    shutil.chown(etc, 'redis', 'redis')
    check = ok(run_module('redis_config', args, check=True, diff=True))
    assert check['changed'] is True
    assert 'not yet written to %s' % srv.config_file in check['diff']['before']
    assert 'maxmemory' not in srv.read_config()

    fixed = ok(run_module('redis_config', args, diff=True))
    assert fixed['changed'] is True
    assert fixed['rewritten'] is True
    assert 'maxmemory 7mb' in srv.read_config()
    assert not [n for n in os.listdir(etc) if n.endswith('.unpersisted')]

    assert ok(run_module('redis_config', args))['changed'] is False


# --------------------------------------------------------------------------
# persist without a config file: refused before anything changes
# --------------------------------------------------------------------------
@pytest.fixture
def redis_without_config_file(tmp_path):
    port = free_port()
    workdir = str(tmp_path)
    srv = RedisProcess(workdir, None, port, args=['--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                                  '--dir', workdir, '--logfile', os.path.join(workdir, 'server.log')])
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize('with_config_file', [False, True])
def test_persist_without_server_config_file_changes_nothing(redis_without_config_file, tmp_path, with_config_file):
    srv = redis_without_config_file
    args = tcp(srv, config={'maxmemory': '3mb', 'timeout': 77})
    if with_config_file:
        other = tmp_path / 'other.conf'
        other.write_text('# not the file the server runs with\n')
        args['config_file'] = str(other)
    result = failed(run_module('redis_config', args))
    assert 'runs without a config file' in result['msg']
    assert 'Nothing was changed' in result['msg']
    assert result.get('changed') is not True
    assert srv.config_get('maxmemory') == '0'
    assert srv.config_get('timeout') == '0'
    if with_config_file:
        assert (tmp_path / 'other.conf').read_text() == '# not the file the server runs with\n'
    # persist: false is the way to change such a server
    assert ok(run_module('redis_config', dict(args, persist=False)))['changed'] is True
    assert srv.config_get('maxmemory') == str(3 * 1024 * 1024)


# --------------------------------------------------------------------------
# values that Redis rewrites: compared as CONFIG GET gives them back
# --------------------------------------------------------------------------
@pytest.mark.parametrize('name,value,modes', [
    ('hz', 1000, (True, False)),                           # clamped to 500
    ('notify-keyspace-events', 'KEmA', (True, False)),     # reordered: "AKEm"
    ('notify-keyspace-events', 'xE', (True, False)),       # reordered: "xE" / "Ex"
    ('dir', 'SUBDIR/', (True, False)),                     # reported without the trailing slash
    # Redis 7.0 accepts "n" but drops it from the value it reports: only a
    # real CONFIG SET can tell, so check mode still announces that SET
    ('notify-keyspace-events', 'KEnmA', (False,)),
])
def test_value_redis_rewrites_changes_once_and_shows_the_read_back(redis_factory, name, value, modes):
    srv = redis_factory(['enable-protected-configs yes'])
    if value == 'SUBDIR/':
        os.mkdir(os.path.join(srv.dir, 'sub'))
        value = os.path.join(srv.dir, 'sub') + '/'
    args = tcp(srv, name=name, value=value)
    first = ok(run_module('redis_config', args, diff=True))
    assert first['changed'] is True
    running = srv.config_get(name)
    assert first['changes'][name]['after'] == running
    assert '%s %s\n' % (name, running) in first['diff']['after']
    for check in modes:
        again = ok(run_module('redis_config', args, check=check, diff=True))
        assert again['changed'] is False, again['changes']
        assert again['set_live'] == []
        assert again['rewritten'] is False
