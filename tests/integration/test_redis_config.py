# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_config against real redis-server processes (Debian's, on 127.0.0.1)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import stat

import pytest

from run_module import run_module
from servers import free_port

PASSWORD = 'Tq7-correct-horse-battery-9xZ'
WRONG_PASSWORD = 'Wk3-wrong-stapler-donkey-4qP'
ACL_PASSWORD = 'Ac5-ansible-user-secret-8mR'


def tcp(srv, **extra):
    args = dict(login_host='127.0.0.1', login_port=srv.port)
    args.update(extra)
    return args


def ok(result):
    assert not result.get('failed'), (result.get('msg'), result.stderr)
    return result


def failed(result):
    assert result.get('failed') is True, result
    assert result.rc != 0
    return result


def output(result):
    return result.stdout + result.stderr


# --------------------------------------------------------------------------
# live changes, idempotence, persistence
# --------------------------------------------------------------------------
def test_runtime_change_is_live_persisted_and_idempotent(redis_server):
    pid = redis_server.pid()
    args = tcp(redis_server, config={'maxmemory': '64mb', 'maxmemory-policy': 'allkeys-lru',
                                     'save': [[3600, 1], [300, 100]]})
    first = ok(run_module('redis_config', args))
    assert first['changed'] is True
    assert first['restart_required'] is False
    assert first['restart_required_directives'] == []
    assert first['rewritten'] is True
    assert first['changes']['maxmemory'] == {'before': '0', 'after': str(64 * 1024 * 1024)}
    assert sorted(first['set_live']) == ['maxmemory', 'maxmemory-policy', 'save']

    client = redis_server.client()
    assert client.config_get('maxmemory')['maxmemory'] == str(64 * 1024 * 1024)
    assert client.config_get('maxmemory-policy')['maxmemory-policy'] == 'allkeys-lru'
    assert client.config_get('save')['save'] == '3600 1 300 100'
    # same process: nothing was restarted
    assert redis_server.pid() == pid
    # CONFIG REWRITE wrote the values into the file
    text = redis_server.read_config()
    assert 'maxmemory 64mb' in text
    assert 'maxmemory-policy allkeys-lru' in text
    assert 'save 3600 1' in text and 'save 300 100' in text

    second = ok(run_module('redis_config', args))
    assert second['changed'] is False
    assert second['changes'] == {}
    assert second['rewritten'] is False

    # and the persisted file really brings the values back after a restart
    redis_server.restart()
    assert redis_server.pid() != pid
    assert redis_server.config_get('maxmemory') == str(64 * 1024 * 1024)
    assert ok(run_module('redis_config', args))['changed'] is False


def test_single_name_value(redis_server):
    result = ok(run_module('redis_config', tcp(redis_server, name='loglevel', value='warning')))
    assert result['changed'] is True
    assert redis_server.config_get('loglevel') == 'warning'


def test_persist_false_leaves_file_alone(redis_server):
    before = redis_server.read_config()
    result = ok(run_module('redis_config', tcp(redis_server, name='timeout', value=300, persist=False)))
    assert result['changed'] is True and result['rewritten'] is False
    assert redis_server.config_get('timeout') == '300'
    assert redis_server.read_config() == before


# --------------------------------------------------------------------------
# normalisation against a real server
# --------------------------------------------------------------------------
@pytest.mark.parametrize('directive, running, desired', [
    ('maxmemory', '1gb', 1073741824),
    ('maxmemory', '1073741824', '1GB'),
    ('save', '3600 1 300 100', [[3600, 1], [300, 100]]),
    ('save', '3600 1 300 100', ['300 100', '3600 1']),
    ('save', '', ''),
    ('maxmemory-policy', 'allkeys-lru', 'ALLKEYS-LRU'),
    ('appendfsync', 'everysec', 'EverySec'),
    ('appendonly', 'yes', True),
    ('bind', '127.0.0.1 -::1', ['-::1', '127.0.0.1']),
    ('client-output-buffer-limit', 'pubsub 32mb 8mb 60', 'pubsub 33554432 8388608 60'),
    ('notify-keyspace-events', 'KEA', 'AKE'),
    ('hash-max-listpack-value', '128', '128b'),
])
def test_equivalent_forms_change_nothing(redis_server, directive, running, desired):
    redis_server.client().config_set(directive, running)
    result = ok(run_module('redis_config', tcp(redis_server, name=directive, value=desired), diff=True))
    assert result['changed'] is False, result['changes']
    assert result['changes'] == {}
    assert result['diff']['before'] == result['diff']['after']


def test_different_value_does_change(redis_server):
    # the control for the test above: 1g (10**9) is not 1gb
    redis_server.client().config_set('maxmemory', '1gb')
    result = ok(run_module('redis_config', tcp(redis_server, name='maxmemory', value='1g')))
    assert result['changed'] is True
    assert redis_server.config_get('maxmemory') == '1000000000'


def test_bind_change_is_applied(redis_server):
    result = ok(run_module('redis_config', tcp(redis_server, name='bind', value=['127.0.0.1', '-::1'])))
    assert result['changed'] is True
    assert redis_server.config_get('bind') == '127.0.0.1 -::1'
    assert ok(run_module('redis_config', tcp(redis_server, name='bind', value='-::1 127.0.0.1')))['changed'] is False


# --------------------------------------------------------------------------
# check mode and diff
# --------------------------------------------------------------------------
def test_check_mode_reports_and_changes_nothing(redis_server):
    file_before = redis_server.read_config()
    args = tcp(redis_server, config={'maxmemory': '32mb', 'databases': 4})
    result = ok(run_module('redis_config', args, check=True, diff=True))
    assert result['changed'] is True
    assert result['set_live'] == ['maxmemory']
    assert result['file_changed'] == ['databases']
    assert result['restart_required'] is True
    assert result['diff']['before'] != result['diff']['after']
    assert 'maxmemory 0\n' in result['diff']['before']
    assert 'maxmemory 33554432\n' in result['diff']['after']
    assert 'databases 4\n' in result['diff']['after']
    # nothing written anywhere
    assert redis_server.config_get('maxmemory') == '0'
    assert redis_server.read_config() == file_before


def test_diff_without_check_mode(redis_server):
    result = ok(run_module('redis_config', tcp(redis_server, name='maxmemory-policy', value='volatile-lru'),
                           diff=True))
    assert result['diff'] == {'before': 'maxmemory-policy noeviction\n', 'after': 'maxmemory-policy volatile-lru\n'}


# --------------------------------------------------------------------------
# static directives: file edit, restart_required
# --------------------------------------------------------------------------
def test_static_directive_edits_file_and_requires_restart(redis_server):
    path = redis_server.config_file
    mode_before = stat.S_IMODE(os.stat(path).st_mode)
    owner_before = (os.stat(path).st_uid, os.stat(path).st_gid)
    pid = redis_server.pid()

    first = ok(run_module('redis_config', tcp(redis_server, config={'databases': 32, 'maxmemory': '16mb'})))
    assert first['changed'] is True
    assert first['restart_required'] is True
    assert first['restart_required_directives'] == ['databases']
    assert first['file_changed'] == ['databases']
    assert first['changes']['databases'] == {'before': '16', 'after': '32'}
    # the running value is untouched, the live one changed, the process is the same
    assert redis_server.config_get('databases') == '16'
    assert redis_server.config_get('maxmemory') == str(16 * 1024 * 1024)
    assert redis_server.pid() == pid
    text = redis_server.read_config()
    assert 'databases 32\n' in text
    # CONFIG REWRITE ran first; the file edit survived it
    assert first['rewritten'] is True and 'maxmemory 16mb' in text
    # CONFIG REWRITE alone would leave 0644 (Redis's umask): the module restores the mode
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == mode_before == 0o640
    assert (st.st_uid, st.st_gid) == owner_before
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith('.redis_config.')]

    second = ok(run_module('redis_config', tcp(redis_server, name='databases', value=32)))
    assert second['changed'] is False
    assert second['restart_required'] is True
    assert second['restart_required_directives'] == ['databases']

    redis_server.restart()
    assert redis_server.config_get('databases') == '32'
    third = ok(run_module('redis_config', tcp(redis_server, name='databases', value=32)))
    assert third['changed'] is False and third['restart_required'] is False


def test_pending_static_value_taken_back_is_put_right_in_the_file(redis_server):
    # databases 32 waits in the file for a restart; the user then wants 16
    # again (the running value). Without fixing the file, the next restart
    # would silently apply 32.
    ok(run_module('redis_config', tcp(redis_server, name='databases', value=32)))
    assert 'databases 32\n' in redis_server.read_config()
    pid = redis_server.pid()

    preview = ok(run_module('redis_config', tcp(redis_server, name='databases', value=16), check=True, diff=True))
    assert preview['changed'] is True and preview['restart_required'] is False
    assert preview['file_changed'] == ['databases']
    assert 'databases 32' in preview['diff']['before'] and 'databases 16' in preview['diff']['after']
    assert 'databases 32\n' in redis_server.read_config()  # check mode wrote nothing

    back = ok(run_module('redis_config', tcp(redis_server, name='databases', value=16)))
    assert back['changed'] is True and back['restart_required'] is False
    assert back['file_changed'] == ['databases']
    text = redis_server.read_config()
    assert 'databases 16\n' in text and 'databases 32' not in text
    assert redis_server.pid() == pid

    again = ok(run_module('redis_config', tcp(redis_server, name='databases', value=16)))
    assert again['changed'] is False and again['restart_required'] is False
    redis_server.restart()
    assert redis_server.config_get('databases') == '16'


def test_file_edit_alone_keeps_mode(redis_server):
    os.chmod(redis_server.config_file, 0o600)
    ok(run_module('redis_config', tcp(redis_server, name='databases', value=7)))
    assert 'databases 7\n' in redis_server.read_config()
    assert stat.S_IMODE(os.stat(redis_server.config_file).st_mode) == 0o600


def test_config_rewrite_alone_would_change_mode(redis_server):
    # documents the Redis behaviour the module corrects (if Redis changes it, revisit)
    redis_server.client().config_rewrite()
    assert stat.S_IMODE(os.stat(redis_server.config_file).st_mode) != 0o640


def test_static_directive_replaces_last_line(redis_factory):
    srv = redis_factory(['databases 8', 'databases 12'])
    ok(run_module('redis_config', tcp(srv, name='databases', value=20)))
    lines = srv.read_config().splitlines()
    assert lines.count('databases 8') == 1
    assert 'databases 12' not in lines
    assert lines.count('databases 20') == 1
    assert lines.index('databases 20') > lines.index('databases 8')


def test_protected_directive_goes_to_file(redis_factory, tmp_path):
    srv = redis_factory()
    newdir = tmp_path / 'data'
    newdir.mkdir()
    result = ok(run_module('redis_config', tcp(srv, name='dbfilename', value='other.rdb')))
    assert result['restart_required_directives'] == ['dbfilename']
    assert srv.config_get('dbfilename') == 'dump.rdb'
    assert 'dbfilename other.rdb\n' in srv.read_config()


def test_protected_directive_is_live_when_enabled(redis_factory):
    srv = redis_factory(['enable-protected-configs yes'])
    result = ok(run_module('redis_config', tcp(srv, name='dbfilename', value='other.rdb')))
    assert result['restart_required'] is False
    assert result['set_live'] == ['dbfilename']
    assert srv.config_get('dbfilename') == 'other.rdb'


def test_static_directive_needs_config_file(redis_server, tmp_path):
    # explicit config_file wins over INFO server's
    other = tmp_path / 'other.conf'
    other.write_text('port 1\n')
    result = ok(run_module('redis_config', tcp(redis_server, name='databases', value=3, config_file=str(other))))
    assert result['config_file'] == str(other)
    assert other.read_text() == 'port 1\ndatabases 3\n'
    assert 'databases 3' not in redis_server.read_config()


# --------------------------------------------------------------------------
# connection variants
# --------------------------------------------------------------------------
def test_unix_socket(redis_factory):
    srv = redis_factory(unix_socket=True)
    result = ok(run_module('redis_config', dict(login_unix_socket=srv.socket, name='maxmemory', value='8mb')))
    assert result['changed'] is True
    assert srv.config_get('maxmemory') == str(8 * 1024 * 1024)


def test_acl_user_with_password(redis_factory):
    srv = redis_factory(aclfile='user default off\nuser ansible on >%s ~* &* +@all' % ACL_PASSWORD)
    args = tcp(srv, login_user='ansible', login_password=ACL_PASSWORD, name='maxmemory', value='12mb')
    result = ok(run_module('redis_config', args))
    assert result['changed'] is True
    assert srv.client(username='ansible', password=ACL_PASSWORD).config_get('maxmemory')['maxmemory'] == \
        str(12 * 1024 * 1024)
    assert ACL_PASSWORD not in output(result)
    # the CONFIG REWRITE kept the ACL users out of redis.conf (aclfile in use)
    assert ACL_PASSWORD not in srv.read_config()


def test_acl_user_without_config_permission(redis_factory):
    srv = redis_factory(aclfile='user default on nopass ~* &* +@all\nuser reader on >%s ~* +@read +ping'
                        % ACL_PASSWORD)
    result = failed(run_module('redis_config', tcp(srv, login_user='reader', login_password=ACL_PASSWORD,
                                                   name='maxmemory', value='12mb')))
    assert 'NOPERM' in result['msg']
    assert srv.config_get('maxmemory') == '0'
    assert ACL_PASSWORD not in output(result)


def test_password_from_rediscli_auth(redis_factory):
    srv = redis_factory(password=PASSWORD)
    result = ok(run_module('redis_config', tcp(srv, name='maxmemory', value='4mb'), env={'REDISCLI_AUTH': PASSWORD}))
    assert result['changed'] is True
    assert srv.config_get('maxmemory') == str(4 * 1024 * 1024)
    assert PASSWORD not in output(result)


def test_tls_with_client_certificate(redis_factory, tls_files):
    srv = redis_factory(tls=tls_files, tls_only=True)
    args = dict(login_host='localhost', login_port=srv.tls_port, tls=True, ca_certs=tls_files.ca_cert,
                client_cert_file=tls_files.client_cert, client_key_file=tls_files.client_key,
                name='maxmemory', value='3mb')
    result = ok(run_module('redis_config', args))
    assert result['changed'] is True
    assert srv.config_get('maxmemory') == str(3 * 1024 * 1024)
    assert ok(run_module('redis_config', args))['changed'] is False


def test_tls_untrusted_server_certificate_fails(redis_factory, tls_files):
    srv = redis_factory(tls=tls_files, tls_only=True)
    args = dict(login_host='localhost', login_port=srv.tls_port, tls=True, ca_certs=tls_files.other_ca_cert,
                client_cert_file=tls_files.client_cert, client_key_file=tls_files.client_key,
                name='maxmemory', value='3mb')
    result = failed(run_module('redis_config', args))
    assert 'localhost:%d' % srv.tls_port in result['msg']
    assert 'TLS error' in result['msg']
    assert srv.config_get('maxmemory') == '0'


def test_plain_client_on_tls_port_fails_clearly(redis_factory, tls_files):
    srv = redis_factory(tls=tls_files, tls_only=True)
    result = failed(run_module('redis_config', dict(login_host='127.0.0.1', login_port=srv.tls_port,
                                                    connect_timeout=2, name='maxmemory', value='3mb')))
    assert '127.0.0.1:%d' % srv.tls_port in result['msg']
    assert srv.config_get('maxmemory') == '0'


# --------------------------------------------------------------------------
# failures leave the server unchanged and never show a password
# --------------------------------------------------------------------------
def test_unknown_directive_fails_and_changes_nothing(redis_server):
    result = failed(run_module('redis_config', tcp(redis_server, config={'maxmemory': '5mb',
                                                                         'no-such-directive': 'x'})))
    assert 'no-such-directive' in result['msg']
    assert 'Unknown directive' in result['msg']
    assert redis_server.config_get('maxmemory') == '0'


def test_invalid_value_fails_and_changes_nothing(redis_server):
    file_before = redis_server.read_config()
    result = failed(run_module('redis_config', tcp(redis_server, config={'maxmemory-policy': 'allkeys-lru',
                                                                         'maxmemory': '12 parsecs'})))
    assert result['msg'].startswith('Cannot set maxmemory: ')
    assert redis_server.config_get('maxmemory-policy') == 'noeviction'
    assert redis_server.read_config() == file_before


def test_value_refused_by_server_fails_and_changes_nothing(redis_server):
    # the module cannot know maxmemory-samples' range (1..64 / INT_MAX): Redis refuses,
    # and the multi-directive CONFIG SET is atomic, so maxmemory stays as it was
    file_before = redis_server.read_config()
    result = failed(run_module('redis_config', tcp(redis_server, config={'maxmemory': '5mb',
                                                                         'maxmemory-samples': 0})))
    assert result['msg'].startswith('Cannot set maxmemory-samples on 127.0.0.1:%d: ERR ' % redis_server.port)
    assert redis_server.config_get('maxmemory') == '0'
    assert redis_server.config_get('maxmemory-samples') == '5'
    assert redis_server.read_config() == file_before


def test_wrong_password_fails_without_echoing_it(redis_factory):
    srv = redis_factory(password=PASSWORD)
    result = failed(run_module('redis_config', tcp(srv, login_password=WRONG_PASSWORD, name='maxmemory',
                                                   value='5mb')))
    assert 'WRONGPASS' in result['msg']
    assert '127.0.0.1:%d' % srv.port in result['msg']
    assert WRONG_PASSWORD not in output(result)
    assert PASSWORD not in output(result)
    assert srv.config_get('maxmemory') == '0'


def test_wrong_password_from_env_is_not_echoed(redis_factory):
    srv = redis_factory(password=PASSWORD)
    result = failed(run_module('redis_config', tcp(srv, name='maxmemory', value='5mb'),
                               env={'REDISCLI_AUTH': WRONG_PASSWORD}))
    assert 'WRONGPASS' in result['msg']
    assert WRONG_PASSWORD not in output(result)


def test_missing_password_says_noauth(redis_factory):
    srv = redis_factory(password=PASSWORD)
    result = failed(run_module('redis_config', tcp(srv, name='maxmemory', value='5mb'),
                               env={'REDISCLI_AUTH': None}))
    assert 'NOAUTH' in result['msg']
    assert srv.config_get('maxmemory') == '0'


def test_unreachable_port_fails_naming_target():
    port = free_port()
    result = failed(run_module('redis_config', dict(login_host='127.0.0.1', login_port=port,
                                                    name='maxmemory', value='5mb')))
    assert 'Cannot connect to Redis at 127.0.0.1:%d: connection refused' % port in result['msg']


def test_silent_server_times_out():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)  # accepts the TCP handshake, never answers
    try:
        port = listener.getsockname()[1]
        result = failed(run_module('redis_config', dict(login_host='127.0.0.1', login_port=port,
                                                        connect_timeout=1, name='maxmemory', value='5mb')))
        assert '127.0.0.1:%d: timeout' % port in result['msg']
    finally:
        listener.close()


def test_sensitive_value_never_shown(redis_factory):
    srv = redis_factory()
    result = ok(run_module('redis_config', tcp(srv, name='masterauth', value=PASSWORD), diff=True))
    assert result['changed'] is True
    assert PASSWORD not in output(result)
    assert result['changes']['masterauth']['after'] == '********'
    assert result['diff']['before'] != result['diff']['after']
    assert srv.config_get('masterauth') == PASSWORD
    # idempotent too
    again = ok(run_module('redis_config', tcp(srv, name='masterauth', value=PASSWORD)))
    assert again['changed'] is False


def test_name_and_config_are_mutually_exclusive(redis_server):
    result = failed(run_module('redis_config', tcp(redis_server, name='maxmemory', value='1mb',
                                                   config={'timeout': 1})))
    assert 'mutually exclusive' in result['msg']


def test_file_only_directive_is_refused(redis_server):
    result = failed(run_module('redis_config', tcp(redis_server, name='rename-command', value='FLUSHALL ""')))
    assert 'rename-command' in result['msg'] and 'config-file-only' in result['msg']


def test_aliases_are_read_and_duplicates_refused(redis_server):
    result = ok(run_module('redis_config', tcp(redis_server, name='slave-read-only', value=False)))
    assert result['changed'] is True
    assert redis_server.config_get('replica-read-only') == 'no'
    assert ok(run_module('redis_config', tcp(redis_server, name='replica-read-only', value='no')))['changed'] is False
    dup = failed(run_module('redis_config', tcp(redis_server, config={'replica-read-only': 'yes',
                                                                      'slave-read-only': 'yes'})))
    assert 'given twice' in dup['msg']
    assert redis_server.config_get('replica-read-only') == 'no'


def test_requirepass_rotation(redis_factory):
    new_password = 'Np2-rotated-secret-value-6tY'
    srv = redis_factory(password=PASSWORD)
    result = ok(run_module('redis_config', tcp(srv, login_password=PASSWORD, name='requirepass',
                                               value=new_password), diff=True))
    assert result['changed'] is True and result['rewritten'] is True
    assert PASSWORD not in output(result) and new_password not in output(result)
    # the new password works, the old one does not, and CONFIG REWRITE persisted it
    assert srv.client(password=new_password).ping()
    assert 'WRONGPASS' in failed(run_module('redis_config', tcp(srv, login_password=PASSWORD, name='timeout',
                                                                value=0)))['msg']
    # CONFIG REWRITE persisted the new one (the config file is the place for it) and dropped the old
    assert new_password in srv.read_config() and PASSWORD not in srv.read_config()
    srv.password = new_password
    srv.restart()
    assert srv.client(password=new_password).ping()
    again = ok(run_module('redis_config', tcp(srv, login_password=new_password, name='requirepass',
                                              value=new_password)))
    assert again['changed'] is False


def test_protected_directive_live_with_enable_protected_configs_local(redis_factory, tmp_path):
    srv = redis_factory(['enable-protected-configs local'], unix_socket=True)
    newdir = tmp_path / 'newdir'
    newdir.mkdir()
    result = ok(run_module('redis_config', dict(login_unix_socket=srv.socket, name='dir', value=str(newdir))))
    assert result['set_live'] == ['dir'] and result['restart_required'] is False
    assert srv.config_get('dir') == str(newdir)
