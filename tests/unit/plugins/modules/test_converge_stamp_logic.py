# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of converge_stamp: how ACL users, config files and rewritten files are compared.

The real servers are in tests/integration/test_converge_stamp.py; here the
normalisers are held to what Redis 7.0.15 (Debian 12) prints.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.hardened.redis.plugins.modules.converge_stamp import (
    FORMAT, _acl_line, _digest, _file_state, _static_file_values, compare, read_stamp)

HASH = '#' + '5f' * 32

# ACL LIST of the same aclfile by four redis-server 7.0.15 processes (one
# after another): each process lists the single commands of a user in the
# order of its own command table's hash.
SENTINEL_USER = [
    'user sentinel on %s &* -@all +role +config|rewrite +subscribe +ping +client|kill +client|setname +exec +slaveof'
    ' +multi +publish +script|kill +info',
    'user sentinel on %s &* -@all +ping +exec +subscribe +publish +client|kill +client|setname +config|rewrite +multi'
    ' +script|kill +slaveof +role +info',
    'user sentinel on %s &* -@all +client|kill +client|setname +publish +info +script|kill +config|rewrite +exec +ping'
    ' +multi +slaveof +role +subscribe',
    'user sentinel on %s &* -@all +info +ping +subscribe +multi +script|kill +slaveof +role +client|kill +client|setname'
    ' +exec +publish +config|rewrite',
]
# aclfile: "user app on >... ~* &* +@all -@dangerous +role +info -get -set +config|get -flushall"
APP_USER = [
    'user app on %s ~* &* +@all -@admin +role +config|get -restore-asking -sort -flushdb -swapdb -restore -flushall'
    ' -sort_ro -migrate -keys -set -get',
    'user app on %s ~* &* +@all -@admin -migrate -swapdb -sort_ro -flushdb -sort -restore +config|get -keys'
    ' -restore-asking -set -flushall -get +role',
    'user app on %s ~* &* +@all -@admin -sort_ro -flushdb -keys -restore -flushall +config|get -restore-asking -set'
    ' -sort -swapdb -migrate -get +role',
    'user app on %s ~* &* +@all -@admin -restore-asking -flushdb -sort -swapdb -restore -sort_ro -set -flushall +role'
    ' -keys -get +config|get -migrate',
]
# aclfile: "user mix on >... ~* -@all +get +set -set +config -config|set +debug|help +@string -incr"
MIX_USER = [
    'user mix on %s ~* resetchannels -@all +@string +config -config|set -incr +debug|help',
    'user mix on %s ~* resetchannels -@all +@string +debug|help -incr +config -config|set',
    'user mix on %s ~* resetchannels -@all +@string -incr +config -config|set +debug|help',
]
# aclfile: "user sub on >... -@all +client|setname +client|kill +client|id +client|info +client|list +config|get
# +config|set +config|resetstat": the subcommands of a command come after it, in their own hash order
SUB_USER = [
    'user sub on %s resetchannels -@all +config|set +config|get +config|resetstat +client|id +client|kill'
    ' +client|setname +client|info +client|list',
    'user sub on %s resetchannels -@all +client|id +client|setname +client|list +client|kill +client|info +config|set'
    ' +config|get +config|resetstat',
    'user sub on %s resetchannels -@all +client|info +client|kill +client|list +client|setname +client|id +config|get'
    ' +config|resetstat +config|set',
]
# aclfile: "user sub2 on >... -@all +config -config|set -config|rewrite +client"
SUB2_USER = [
    'user sub2 on %s resetchannels -@all +config -config|rewrite -config|set +client',
    'user sub2 on %s resetchannels -@all +client +config -config|set -config|rewrite',
]


@pytest.mark.parametrize('listed', [SENTINEL_USER, APP_USER, MIX_USER, SUB_USER, SUB2_USER],
                         ids=['sentinel', 'app', 'mixed', 'subcommands', 'command-then-subcommands'])
def test_a_user_listed_by_another_process_is_the_same_user(listed):
    lines = [line % HASH for line in listed]
    assert len(set(lines)) == len(lines)
    assert len(set(_acl_line(line) for line in lines)) == 1, [_acl_line(line) for line in lines]


def test_single_commands_are_sorted_and_nothing_else_moves():
    assert _acl_line('user s on %s &* -@all +role +ping +info' % HASH) == 'user s on %s &* -@all +info +ping +role' % HASH
    # the words before the first command rule keep their place
    line = _acl_line(SENTINEL_USER[0] % HASH)
    assert line.startswith('user sentinel on %s &* -@all +client|kill +client|setname +config|rewrite' % HASH)
    assert (_acl_line('user s on +client|setname -config|set +config +client|kill -config|get +acl|whoami')
            == 'user s on +acl|whoami +client|kill +client|setname -config|set +config -config|get')
    # the flag Redis 7.0 adds by itself: a Sentinel's default user before and after a restart
    assert (_acl_line('user default on #%s ~* &* +@all' % ('91' * 32))
            == _acl_line('user default on sanitize-payload #%s ~* &* +@all' % ('91' * 32))
            == _acl_line('user default on skip-sanitize-payload #%s ~* &* +@all' % ('91' * 32)))
    # whitespace is not a difference
    assert _acl_line('user a  on   ~*  +get') == 'user a on ~* +get'


@pytest.mark.parametrize('one, other', [
    ('user a on -@all +a +b', 'user a on +b -@all +a'),          # a category is a barrier
    ('user a on ~* +@all -@dangerous', 'user a on ~* -@dangerous +@all'),
    ('user a on +get -@all', 'user a on -@all +get'),
    ('user a on ~a ~b +get', 'user a on ~b ~a +get'),             # patterns keep their place
    ('user a on %R~x %W~y +get', 'user a on %W~y %R~x +get'),
    ('user a on ~* +get', 'user a on ~* -get'),
    ('user a on ~* +config -config|set', 'user a on ~* -config|set +config'),  # the later rule wins
    ('user a on ~* +config|get -config|get', 'user a on ~* -config|get +config|get'),
    ('user a on ~* -config|set +config -config|get', 'user a on ~* -config|get +config -config|set'),
    ('user a on ~* +get', 'user a off ~* +get'),
    ('user a on ~* +get', 'user b on ~* +get'),
    ('user a on #%s ~* +get' % ('0' * 64), 'user a on #%s ~* +get' % ('1' * 64)),
    ('user a on ~* +get +set', 'user a on ~* +get'),
])
def test_rules_that_mean_something_else_stay_different(one, other):
    assert _acl_line(one) != _acl_line(other)


def test_compare_names_what_differs():
    items = {'file /a': 'x' * 64, 'live settings': 'y' * 64, 'package redis-server': 'z' * 64}
    stamp = {'format': FORMAT, 'inputs': 'i' * 64, 'items': dict(items)}
    assert compare(stamp, 'i' * 64, dict(items)) == []
    assert compare(None, 'i' * 64, dict(items)) == ['no stamp of an earlier converge']
    assert compare(stamp, 'j' * 64, dict(items)) == ['inputs (role variables, host facts or the collection changed)']
    changed = dict(items, **{'live settings': 'w' * 64})
    assert compare(stamp, 'i' * 64, changed) == ['live settings']
    fewer = dict(items)
    del fewer['file /a']
    more = dict(items, **{'unit redis.service': 'v' * 64})
    assert compare(stamp, 'i' * 64, fewer) == ['file /a']
    assert compare(stamp, 'i' * 64, more) == ['unit redis.service']
    both = dict(changed, **{'file /a': 'u' * 64})
    assert compare(stamp, 'j' * 64, both) == ['inputs (role variables, host facts or the collection changed)',
                                              'file /a', 'live settings']


def test_the_digest_of_an_item_is_canonical():
    assert _digest({'a': 1, 'b': [1, 2]}) == _digest({'b': [1, 2], 'a': 1})
    assert _digest({'a': 1}) != _digest({'a': '1'})
    assert _digest(['a', 'b']) != _digest(['b', 'a'])


def test_read_stamp_accepts_only_a_stamp(tmp_path):
    path = str(tmp_path / 'stamp.json')
    assert read_stamp(path) is None
    for text in ('', '{', '[]', 'null', '{"format": 1}', '{"format": 2, "items": {}}', '{"format": 1, "items": []}'):
        with open(path, 'w') as f:
            f.write(text)
        assert read_stamp(path) is None, text
    good = {'format': FORMAT, 'inputs': 'i' * 64, 'items': {'file /a': 'x' * 64}}
    with open(path, 'w') as f:
        json.dump(good, f)
    assert read_stamp(path) == good


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


REDIS_CONF = '''# written by the role
bind 127.0.0.1 -::1
port 6379
tcp-backlog 511
unixsocket /run/redis-main/redis.sock
unixsocketperm 660
logfile "/var/log/redis/redis main.log"
dir '/var/lib/redis/main'
SlaveOf 10.0.0.1 6379
maxmemory 256mb
maxmemory-policy allkeys-lru
enable-debug-command no
'''

# The same file after CONFIG REWRITE on another master: quotes added, the
# alias rewritten to its current name with another master, a default added.
REDIS_CONF_REWRITTEN = '''# written by the role
bind 127.0.0.1 -::1
port 6379
tcp-backlog 511
unixsocket "/run/redis-main/redis.sock"
unixsocketperm 660
logfile "/var/log/redis/redis main.log"
dir "/var/lib/redis/main"
maxmemory 512mb
maxmemory-policy allkeys-lru
enable-debug-command no

# Generated by CONFIG REWRITE
latency-tracking-info-percentiles 50 99 99.9
replicaof 10.0.0.2 6379
'''

KEYS = ['bind', 'port', 'tcp-backlog', 'unixsocket', 'unixsocketperm', 'logfile', 'dir', 'maxmemory',
        'maxmemory-policy', 'enable-debug-command', 'enable-module-command']


def test_static_file_values_reads_static_directives_only(tmp_path):
    path = write(tmp_path / 'redis.conf', REDIS_CONF)
    values = _static_file_values(path, KEYS + ['replicaof'])
    assert values == {
        'tcp-backlog': ['511'],
        'unixsocket': ['/run/redis-main/redis.sock'],
        'unixsocketperm': ['660'],
        'logfile': ['/var/log/redis/redis main.log'],     # double quotes, a space inside
        'dir': ['/var/lib/redis/main'],                   # single quotes
        'replicaof': ['10.0.0.1', '6379'],                # read under its alias, in any case
        'enable-debug-command': ['no'],
        'enable-module-command': None,                    # static, not in the file
    }
    assert _static_file_values(path, ['slaveof']) == {'slaveof': ['10.0.0.1', '6379']}
    # the last line of a directive is the one Redis applies
    path2 = write(tmp_path / 'twice.conf', REDIS_CONF + 'tcp-backlog 1024\nreplicaof 10.0.0.3 6380\n')
    assert _static_file_values(path2, ['tcp-backlog', 'replicaof']) == {
        'tcp-backlog': ['1024'], 'replicaof': ['10.0.0.3', '6380']}
    assert _static_file_values(str(tmp_path / 'missing.conf'), KEYS) == 'unreadable'


def test_config_rewrite_is_no_difference_for_the_role_s_keys(tmp_path):
    before = _static_file_values(write(tmp_path / 'a.conf', REDIS_CONF), KEYS)
    after = _static_file_values(write(tmp_path / 'b.conf', REDIS_CONF_REWRITTEN), KEYS)
    assert before == after
    # but a static directive edited by hand is
    edited = REDIS_CONF_REWRITTEN.replace('tcp-backlog 511', 'tcp-backlog 4096')
    assert _static_file_values(write(tmp_path / 'c.conf', edited), KEYS) != before
    # and who a server replicates from is, when it is asked for
    assert (_static_file_values(str(tmp_path / 'a.conf'), ['replicaof'])
            != _static_file_values(str(tmp_path / 'b.conf'), ['replicaof']))


SENTINEL_CONF = '''port 26379
bind 127.0.0.1
dir "/var/lib/redis-sentinel"
logfile "/var/log/redis/sentinel.log"
sentinel monitor main 10.0.0.1 6379 2
sentinel down-after-milliseconds main 5000

# Generated by CONFIG REWRITE
protected-mode no
user default on #%s ~* &* +@all
sentinel myid 2c88dde16ac23010b004e1f9b6be97a8e3566984
sentinel config-epoch main 0
sentinel current-epoch 0
''' % ('a1' * 32)

VOLATILE = [(b'sentinel',), (b'user',)]


def test_rewritten_files_leave_out_the_server_s_own_lines(tmp_path):
    path = write(tmp_path / 'sentinel.conf', SENTINEL_CONF)
    os.chmod(path, 0o600)
    base = _file_state(path, VOLATILE)
    assert base['type'] == 'file' and base['mode'] == '600' and len(base['content']) == 64
    failover = (SENTINEL_CONF.replace('monitor main 10.0.0.1', 'monitor main 10.0.0.2')
                .replace('config-epoch main 0', 'config-epoch main 1')
                .replace('# Generated by CONFIG REWRITE', '# Generated by CONFIG REWRITE\n\n')
                .replace('user default on #' + 'a1' * 32, 'user default on #' + 'b2' * 32)
                + 'sentinel known-replica main 10.0.0.1 6379\nsentinel known-sentinel main 10.0.0.3 26379 ab\n')
    write(path, failover.replace('port 26379', 'port  26379 '))
    assert _file_state(path, VOLATILE) == base
    # what the role put there and Sentinel never rewrites is compared
    for other in ('port 26380', 'protected-mode yes', 'bind 0.0.0.0'):
        key = other.split()[0]
        line = [x for x in SENTINEL_CONF.splitlines() if x.startswith(key + ' ')][0]
        write(path, SENTINEL_CONF.replace(line, other))
        assert _file_state(path, VOLATILE) != base, other
    # a directive whose name only starts like a volatile one is compared
    write(path, SENTINEL_CONF + 'sentinel-extra yes\n')
    assert _file_state(path, VOLATILE) != base
    # the mode and the file itself are part of it
    write(path, SENTINEL_CONF)
    assert _file_state(path, VOLATILE) == base
    os.chmod(path, 0o644)
    assert _file_state(path, VOLATILE) != base
    os.unlink(path)
    assert _file_state(path, VOLATILE) == 'absent'


def test_volatile_words_may_be_longer_than_one(tmp_path):
    path = write(tmp_path / 'sentinel.conf', SENTINEL_CONF)
    volatile = [(b'sentinel', b'known-replica'), (b'sentinel', b'config-epoch')]
    base = _file_state(path, volatile)
    write(path, SENTINEL_CONF.replace('config-epoch main 0', 'config-epoch main 7') + 'sentinel known-replica main x 1\n')
    assert _file_state(path, volatile) == base
    write(path, SENTINEL_CONF.replace('current-epoch 0', 'current-epoch 7'))
    assert _file_state(path, volatile) != base


def test_file_state_without_volatile_lines_is_the_whole_content(tmp_path):
    path = write(tmp_path / 'unit.service', '[Service]\nUMask=0077\n')
    base = _file_state(path)
    write(path, '[Service]\nUMask=0077\n\n')
    assert _file_state(path) != base
    write(path, '[Service]\nUMask=0077\n')
    assert _file_state(path) == base
    # content=False: only what the file is, not what it says
    bare = _file_state(path, content=False)
    assert 'content' not in bare
    write(path, 'other\n')
    assert _file_state(path, content=False) == bare
    # mode=False (a config file the server rewrites): not its mode either, but still what it is
    os.chmod(path, 0o640)
    server_s = _file_state(path, content=False, mode=False)
    os.chmod(path, 0o600)
    assert _file_state(path, content=False, mode=False) == server_s
    assert _file_state(path, content=False) != bare
    assert set(server_s) == {'type', 'uid', 'gid'}
    assert _file_state(str(tmp_path), content=True)['type'] == 'directory'
    os.symlink(path, str(tmp_path / 'link'))
    link = _file_state(str(tmp_path / 'link'))
    assert link['type'] == 'link' and link['target'] == path and 'content' not in link


def test_selectors_keep_their_rules_inside():
    one = _acl_line('user a on ~* +get (~k* +set +del) (~x* +hget)')
    assert one == _acl_line('user a on ~* +get (~k* +del +set) (~x* +hget)')
    assert one.endswith('(~k* +del +set) (~x* +hget)')
    assert one != _acl_line('user a on ~* +get (~k* +set) +del (~x* +hget)')
    assert one != _acl_line('user a on ~* +get (~k* +set +del +hget) (~x*)')
