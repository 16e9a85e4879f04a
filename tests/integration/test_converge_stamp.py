# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""converge_stamp against a real redis-server (aclfile, ACL users) and a real redis-sentinel.

What a user of the roles' fast path relies on: a rerun on an unchanged host
is in sync; every kind of drift takes the full path and is named (never its
value); a restart, a failover and the servers' own rewrites of their files
are no drift; the stamp holds digests only and no password ever shows.

The servers run with umask 0077, as the roles' units start them (UMask=0077).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import re
import secrets
import time

import pytest

from ansible_collections.hardened.redis.plugins.filter.converge_digest import converge_digest
from sentinels import start_group

HEX64 = re.compile(r'^[0-9a-f]{64}$')
MISSING_PACKAGE = 'hardened-redis-no-such-package'
# The redis role's sentinel user, and an app user that may also run INFO and ROLE:
# Redis 7.0 lists their single commands in another order after every restart
# (the app user's with + and - mixed: +@all -@admin -keys ... +role ... +info ...).
SENTINEL_RULES = ('allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info '
                  '+client|setname +client|kill +script|kill')
APP_RULES = '~* &* +@all -@dangerous +info +role'
# what the redis role compares live (a part of its settings), static ones among them
CONFIG_KEYS = ['maxmemory', 'maxmemory-policy', 'masteruser', 'masterauth', 'tcp-backlog', 'unixsocketperm',
               'enable-debug-command', 'min-replicas-to-write']
GROUP_KEYS = ['quorum', 'down-after-milliseconds', 'failover-timeout', 'parallel-syncs']
# the redis_sentinel role's client user: subcommands of two commands, each listed in its own hash order
SENTINEL_CLIENT_RULES = ('resetchannels &* -@all +ping +auth +hello +client|setname +client|getname +client|id '
                         '+subscribe +psubscribe +unsubscribe +punsubscribe +sentinel|get-master-addr-by-name '
                         '+sentinel|masters +sentinel|master +sentinel|slaves +sentinel|replicas +sentinel|sentinels')


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def unit_umask():
    """Processes started inside get the umask of the roles' units."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def wait_for(what, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError('not within %ss: %s' % (timeout, what))


def run(module_runner, args, secrets_=(), check=False):
    """converge_stamp with ``args``; no secret (nor its SHA-256) on its result or stderr."""
    res = module_runner('converge_stamp', args, check=check)
    text = res.stdout + res.stderr
    for secret in secrets_:
        assert secret not in text
        assert sha(secret) not in text
    assert res.get('failed') or res.rc == 0, res
    return res


def in_sync(res):
    assert not res.get('failed'), res
    assert res['changed'] is False and res['drift'] == [] and res['notes'] == [], res
    return res['in_sync'] is True


def drift_of(res):
    assert not res.get('failed'), res
    assert res['changed'] is False and res['in_sync'] is False, res
    return res['drift']


class Host(object):
    """A data node as the redis role leaves it, with the files of the stamp under tmp_path."""

    def __init__(self, tmp_path, redis_factory):
        self.tmp = str(tmp_path)
        self.pw = dict((name, secrets.token_hex(16)) for name in ('admin', 'app', 'sentinel', 'replication'))
        self.acl = '\n'.join([
            'user default off resetpass resetkeys resetchannels -@all',
            'user admin on #%s ~* &* +@all' % sha(self.pw['admin']),
            'user app on #%s %s' % (sha(self.pw['app']), APP_RULES),
            'user sentinel on #%s %s' % (sha(self.pw['sentinel']), SENTINEL_RULES),
            'user replication on #%s resetchannels -@all +psync +replconf +ping' % sha(self.pw['replication']),
        ])
        self.lines = ['maxmemory 64mb', 'maxmemory-policy noeviction', 'tcp-backlog 128', 'unixsocketperm 700',
                      'masteruser replication', 'masterauth %s' % self.pw['replication'],
                      'repl-diskless-sync yes', 'repl-diskless-sync-delay 0']
        self.factory = redis_factory
        with unit_umask():
            self.node = redis_factory(self.lines, aclfile=self.acl, unix_socket=True, name='node')
        etc = os.path.join(self.tmp, 'etc')
        self.unit = self.write(os.path.join(etc, 'redis-hardened@.service'), '[Service]\nUMask=0077\n', 0o644)
        self.tls_dir = os.path.join(etc, 'tls')
        os.makedirs(self.tls_dir)
        os.chmod(self.tls_dir, 0o750)
        self.key = self.write(os.path.join(self.tls_dir, 'server.key'), 'not a key\n', 0o600)
        self.absent = os.path.join(etc, 'logrotate.d', 'redis-hardened-main')
        self.stamp = os.path.join(self.tmp, 'stamps', 'redis-main.json')
        self.options = {'redis_port': self.node.port, 'redis_maxmemory_policy': 'noeviction',
                        'redis_admin_password': self.pw['admin']}
        self.inputs = converge_digest({'options': self.options, 'facts': {'distribution': 'Debian'}})

    @staticmethod
    def write(path, text, mode):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def secrets(self):
        return list(self.pw.values())

    def args(self, state='check', **extra):
        out = dict(path=self.stamp, state=state, inputs=self.inputs,
                   files=[self.unit, self.tls_dir, self.key, self.absent], units=[],
                   packages=['python3', 'redis-server', MISSING_PACKAGE], kernel=['/proc/sys/net/core/somaxconn'],
                   live='redis', config_keys=CONFIG_KEYS, config_file=self.node.config_file,
                   login_unix_socket=self.node.socket, login_user='admin', login_password=self.pw['admin'])
        out.update(extra)
        return out

    def admin(self):
        return self.node.client(username='admin', password=self.pw['admin'])

    def acl_list(self):
        return sorted(self.admin().execute_command('ACL', 'LIST'))

    def stamp_bytes(self):
        with open(self.stamp, 'rb') as f:
            return f.read()


@pytest.fixture
def host(tmp_path, redis_factory):
    return Host(tmp_path, redis_factory)


def test_record_then_check(host, module_runner):
    rs = host.secrets()
    # check mode: nothing written, not even the directory, and a write announced
    res = run(module_runner, host.args('record'), rs, check=True)
    assert res['changed'] is True and not res.get('failed'), res
    assert not os.path.exists(os.path.dirname(host.stamp))
    assert drift_of(run(module_runner, host.args(), rs)) == ['no stamp of an earlier converge']

    res = run(module_runner, host.args('record'), rs)
    assert res['changed'] is True and res['in_sync'] is False and res['drift'] == [], res
    assert oct(os.stat(host.stamp).st_mode & 0o7777) == '0o600'
    assert oct(os.stat(os.path.dirname(host.stamp)).st_mode & 0o7777) == '0o700'

    # digests only: the item names and one SHA-256 each
    text = host.stamp_bytes().decode()
    stamp = json.loads(text)
    assert sorted(stamp) == ['format', 'inputs', 'items'] and stamp['inputs'] == host.inputs
    names = ['file ' + p for p in (host.unit, host.tls_dir, host.key, host.absent, host.node.config_file)]
    names += ['package python3', 'package redis-server', 'package ' + MISSING_PACKAGE,
              'kernel /proc/sys/net/core/somaxconn', 'live settings', 'live ACL users',
              'static directives in ' + host.node.config_file]
    assert sorted(stamp['items']) == sorted(names)
    assert res['items'] == len(names)
    assert all(HEX64.match(v) for v in stamp['items'].values())
    for value in rs + [sha(p) for p in rs] + ['noeviction', '67108864', 'UMask', 'not a key', 'replication']:
        assert value not in text, value

    assert in_sync(run(module_runner, host.args(), rs))
    assert in_sync(run(module_runner, host.args(), rs, check=True))
    # the same state recorded again: no change, the stamp not even rewritten
    before = os.stat(host.stamp)
    for check in (True, False):
        res = run(module_runner, host.args('record'), rs, check=check)
        assert res['changed'] is False and not res.get('failed'), res
    after = os.stat(host.stamp)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert host.stamp_bytes().decode() == text


def test_each_drift_is_named_and_put_back(host, module_runner):
    rs = host.secrets()
    assert run(module_runner, host.args('record'), rs)['changed'] is True
    recorded = host.stamp_bytes()
    admin = host.admin()
    with open(host.node.config_file) as f:
        config_text = f.read()

    def chmod(path, mode):
        return lambda: os.chmod(path, mode)

    def config_set(name, value):
        return lambda: admin.config_set(name, value)

    def edit_config(text):
        def do():
            with open(host.node.config_file, 'w') as f:
                f.write(text)
        return do

    cases = [
        ('file ' + host.unit, lambda: host.write(host.unit, '[Service]\nUMask=0022\n', 0o644),
         lambda: host.write(host.unit, '[Service]\nUMask=0077\n', 0o644)),
        ('file ' + host.key, chmod(host.key, 0o644), chmod(host.key, 0o600)),
        ('file ' + host.tls_dir, chmod(host.tls_dir, 0o755), chmod(host.tls_dir, 0o750)),
        ('file ' + host.absent, lambda: host.write(host.absent, '', 0o644), lambda: os.unlink(host.absent)),
        ('live settings', config_set('maxmemory-policy', 'allkeys-lru'), config_set('maxmemory-policy', 'noeviction')),
        ('live ACL users', lambda: admin.execute_command('ACL', 'SETUSER', 'app', '-get'),
         lambda: admin.execute_command('ACL', 'LOAD')),
        ('live ACL users', lambda: admin.execute_command('ACL', 'SETUSER', 'intruder', 'on', 'nopass', '+@all'),
         lambda: admin.execute_command('ACL', 'DELUSER', 'intruder')),
        # a restart would apply it: what the full path puts right in the file
        ('static directives in ' + host.node.config_file,
         edit_config(config_text.replace('tcp-backlog 128', 'tcp-backlog 4096')), edit_config(config_text)),
        # its owner (its mode is the server's: see test_config_rewrite_after_replicaof_is_no_drift)
        ('file ' + host.node.config_file, lambda: os.chown(host.node.config_file, 65534, 65534),
         lambda: os.chown(host.node.config_file, 0, 0)),
    ]
    for index, (name, do, undo) in enumerate(cases):
        do()
        try:
            assert drift_of(run(module_runner, host.args(), rs)) == [name]
            if index in (0, 4):  # record in check mode: announces the write, writes nothing
                res = run(module_runner, host.args('record'), rs, check=True)
                assert res['changed'] is True and not res.get('failed'), res
                assert host.stamp_bytes() == recorded
        finally:
            undo()
        assert in_sync(run(module_runner, host.args(), rs)), name

    # other inputs (a role variable, a fact or the code): named as such, nothing else
    other = converge_digest({'options': dict(host.options, redis_maxmemory_policy='allkeys-lru'),
                             'facts': {'distribution': 'Debian'}})
    assert other != host.inputs
    assert drift_of(run(module_runner, host.args(inputs=other), rs)) == [
        'inputs (role variables, host facts or the collection changed)']

    # no stamp, or one that is not a stamp
    for text in (None, b'{"format": 1, "inputs": "', b'{"format": 2, "inputs": "x", "items": {}}'):
        if os.path.exists(host.stamp):
            os.unlink(host.stamp)
        if text is not None:
            with open(host.stamp, 'wb') as f:
                f.write(text)
        assert drift_of(run(module_runner, host.args(), rs)) == ['no stamp of an earlier converge'], text
    with open(host.stamp, 'wb') as f:
        f.write(recorded)
    assert in_sync(run(module_runner, host.args(), rs))


def test_a_server_down_is_drift_and_its_restart_is_not(host, module_runner):
    rs = host.secrets()
    run(module_runner, host.args('record'), rs)
    recorded = host.stamp_bytes()
    before = dict((line.split()[1], line) for line in host.acl_list())

    # a wrong password: the server's answer, with no password in it
    res = run(module_runner, host.args(login_password='wrong-' + host.pw['app']), rs + ['wrong-' + host.pw['app']])
    assert 'live server' in drift_of(res)
    assert any('authentication failed' in note for note in res['notes']), res

    host.node.stop()
    res = run(module_runner, host.args(), rs)
    drift = drift_of(res)
    assert 'live server' in drift and 'live settings' in drift and 'live ACL users' in drift, drift
    assert len(res['notes']) == 1 and host.node.socket in res['notes'][0], res
    # and nothing is recorded while it is down, neither over the stamp nor as a new one
    for path in (host.stamp, os.path.join(host.tmp, 'other', 'stamp.json')):
        res = run(module_runner, host.args('record', path=path), rs)
        assert res.get('failed') and not res.get('changed'), res
        assert 'Nothing recorded' in res['msg'] and 'live server' in res['msg'], res
        assert 'no such socket' in res['msg'] or 'connection refused' in res['msg'], res
    assert host.stamp_bytes() == recorded
    assert not os.path.exists(os.path.join(host.tmp, 'other'))

    # started again: the users come back from the aclfile, their single commands in
    # another order, and that is no drift (a few restarts until the order differs)
    restarts = 0
    while True:
        with unit_umask():
            host.node.start()
        restarts += 1
        assert in_sync(run(module_runner, host.args(), rs)), restarts
        now = dict((line.split()[1], line) for line in host.acl_list())
        if now['app'] != before['app'] and now['sentinel'] != before['sentinel']:
            break
        assert restarts < 5, 'ACL LIST kept its order over 5 restarts'
        host.node.stop()
    for name in ('app', 'sentinel'):
        assert sorted(now[name].split()) == sorted(before[name].split())
    singles = [w[0] for w in now['app'].split() if w[:1] in '+-' and '@' not in w]
    assert '+' in singles and '-' in singles, now['app']
    assert host.stamp_bytes() == recorded


def test_config_rewrite_after_replicaof_is_no_drift(host, module_runner):
    """Sentinel moves a data node to another master with REPLICAOF and CONFIG REWRITE."""
    rs = host.secrets()
    with unit_umask():
        other = host.factory(host.lines, aclfile=host.acl, unix_socket=True, name='other')
    run(module_runner, host.args('record'), rs)
    mode_before = os.stat(host.node.config_file).st_mode & 0o7777
    admin = host.admin()
    admin.execute_command('REPLICAOF', other.host, str(other.port))
    admin.execute_command('CONFIG', 'REWRITE')
    wait_for('the replication link', lambda: admin.info('replication').get('master_link_status') == 'up')
    with open(host.node.config_file) as f:
        rewritten = f.read()
    assert 'replicaof %s %d' % (other.host, other.port) in rewritten and '# Generated by CONFIG REWRITE' in rewritten
    assert 'masterauth' in rewritten
    # Redis writes a new file with the server's umask: the role's 0640 became 0600
    assert (mode_before, os.stat(host.node.config_file).st_mode & 0o7777) == (0o640, 0o600)
    assert in_sync(run(module_runner, host.args(), rs))
    admin.execute_command('REPLICAOF', 'NO', 'ONE')
    admin.execute_command('CONFIG', 'REWRITE')
    assert in_sync(run(module_runner, host.args(), rs))


def systemd_runs():
    return os.path.isdir('/run/systemd/system')


def test_a_unit_that_does_not_exist(host, module_runner):
    """Without systemd (these test machines) nothing can be recorded about a unit; with it, it is stable."""
    rs = host.secrets()
    unit = 'hardened-redis-no-such-unit.service'
    res = run(module_runner, host.args('record', units=[unit]), rs)
    if systemd_runs():
        assert res['changed'] is True and not res.get('failed'), res
        assert in_sync(run(module_runner, host.args(units=[unit]), rs))
        assert run(module_runner, host.args('record', units=[unit]), rs)['changed'] is False
    else:
        assert res.get('failed') and 'unit ' + unit in res['msg'], res
        assert 'systemctl' in res['msg'] and 'booted with systemd' in res['msg'], res
        assert not os.path.exists(host.stamp)
        assert drift_of(run(module_runner, host.args(units=[unit]), rs)) == [
            'no stamp of an earlier converge', 'unit %s (not settled)' % unit]


@pytest.fixture
def group(tmp_path):
    with unit_umask():
        g = start_group(tmp_path, replicas=1, sentinels=1, quorum=1, down_after=1000, failover_timeout=10000)
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


def sentinel_args(g, tmp_path, state='check', **extra):
    s = g.sentinels[0]
    out = dict(path=os.path.join(str(tmp_path), 'stamps', 'sentinel.json'), state=state, inputs='1' * 64,
               files=[s.dir], rewritten_files={s.config_file: ['sentinel', 'user']}, live='sentinel',
               master_name=g.name, config_keys=GROUP_KEYS, login_host=s.host, login_port=s.port,
               login_password=g.passwords['sentinel_requirepass'])
    out.update(extra)
    return out


def node_args(g, tmp_path, node, state='check'):
    return dict(path=os.path.join(str(tmp_path), 'stamps', 'node-%d.json' % node.port), state=state, inputs='2' * 64,
                live='redis', config_keys=CONFIG_KEYS, config_file=node.config_file, login_host=node.host,
                login_port=node.port, login_user='admin', login_password=g.passwords['admin'])


def test_sentinel_rewrites_and_a_failover_are_no_drift(group, tmp_path, module_runner):
    g = group
    client_pw = secrets.token_hex(16)
    rs = list(g.passwords.values()) + [client_pw]
    s = g.sentinels[0]
    sc = g.sentinel_client(s)
    new = g.replicas[0]
    sc.execute_command('ACL', 'SETUSER', 'client', 'on', '>' + client_pw, *SENTINEL_CLIENT_RULES.split())
    sc.execute_command('SENTINEL', 'FLUSHCONFIG')
    client_before = [line for line in sc.execute_command('ACL', 'LIST') if line.startswith('user client ')]
    for args in (sentinel_args(g, tmp_path, 'record'), node_args(g, tmp_path, new, 'record')):
        res = run(module_runner, args, rs)
        assert res['changed'] is True and not res.get('failed'), res
    with open(os.path.join(str(tmp_path), 'stamps', 'sentinel.json')) as f:
        text = f.read()
    assert all(HEX64.match(v) for v in json.loads(text)['items'].values())
    assert sorted(json.loads(text)['items']) == sorted([
        'file ' + s.dir, 'file ' + s.config_file, 'live Sentinel settings', 'live group settings', 'live ACL users'])
    for value in rs + [sha(p) for p in rs]:
        assert value not in text

    # a failover: Sentinel rewrites its file, the promoted replica's (REPLICAOF NO ONE, CONFIG REWRITE)
    with open(s.config_file) as f:
        sentinel_conf = f.read()
    sc.execute_command('SENTINEL', 'FAILOVER', g.name)
    wait_for('the failover', lambda: g.sentinel_master_addr(s) == (new.host, new.port)
             and g.role(new).get('role') == 'master')
    wait_for('the promoted replica\'s CONFIG REWRITE', lambda: 'replicaof' not in new.read_config())
    with open(s.config_file) as f:
        assert f.read() != sentinel_conf
    assert in_sync(run(module_runner, sentinel_args(g, tmp_path), rs))
    assert in_sync(run(module_runner, node_args(g, tmp_path, new), rs))

    # a field the stamp cannot read back (auth-pass) set again: Sentinel rewrites its file
    sc.execute_command('SENTINEL', 'SET', g.name, 'auth-pass', g.passwords['sentinel'])
    assert in_sync(run(module_runner, sentinel_args(g, tmp_path), rs))
    # the group's settings and Sentinel's own are compared
    for command, undo, name in [
            (('SENTINEL', 'SET', g.name, 'quorum', '2'), ('SENTINEL', 'SET', g.name, 'quorum', '1'),
             'live group settings'),
            (('SENTINEL', 'SET', g.name, 'down-after-milliseconds', '1500'),
             ('SENTINEL', 'SET', g.name, 'down-after-milliseconds', '1000'), 'live group settings'),
            (('SENTINEL', 'CONFIG', 'SET', 'resolve-hostnames', 'yes'),
             ('SENTINEL', 'CONFIG', 'SET', 'resolve-hostnames', 'no'), 'live Sentinel settings'),
            (('ACL', 'SETUSER', 'default', '-info'), ('ACL', 'SETUSER', 'default', '+info'), 'live ACL users')]:
        sc.execute_command(*command)
        try:
            assert drift_of(run(module_runner, sentinel_args(g, tmp_path), rs)) == [name], command
        finally:
            sc.execute_command(*undo)
        assert in_sync(run(module_runner, sentinel_args(g, tmp_path), rs)), command

    # what the role wrote there and Sentinel keeps is compared
    with open(s.config_file) as f:
        conf = f.read()
    with open(s.config_file, 'w') as f:
        f.write(conf.replace('logfile ', 'loglevel warning\nlogfile ', 1))
    assert drift_of(run(module_runner, sentinel_args(g, tmp_path), rs)) == ['file ' + s.config_file]
    with open(s.config_file, 'w') as f:
        f.write(conf)
    assert in_sync(run(module_runner, sentinel_args(g, tmp_path), rs))

    # restarted, it reads its users back and lists their subcommands in another order
    for restarts in range(1, 6):
        s.stop()
        with unit_umask():
            s.start()
        assert in_sync(run(module_runner, sentinel_args(g, tmp_path), rs)), restarts
        client_now = [line for line in g.sentinel_client(s).execute_command('ACL', 'LIST')
                      if line.startswith('user client ')]
        if client_now != client_before:
            break
    assert client_now != client_before, 'ACL LIST kept its order over 5 restarts'
    assert sorted(client_now[0].split()) == sorted(client_before[0].split())

    # a Sentinel that does not answer
    s.stop()
    res = run(module_runner, sentinel_args(g, tmp_path), rs)
    assert 'live server' in drift_of(res) and 'connection refused' in res['notes'][0], res
