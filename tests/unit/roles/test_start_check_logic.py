# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of the data node's start check (roles/redis/files/hardened-redis-start.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

from ansible_collections.hardened.redis.plugins.module_utils._sentinel import group_verdict

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'redis', 'files',
                      'hardened-redis-start.py')
_spec = importlib.util.spec_from_file_location('hardened_redis_start', SCRIPT)
start = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(start)

CONF = 'port 6379\nmasteruser replication\nmasterauth "x"\n'


def ans(who, master='10.0.0.2:6379', reachable=True):
    return dict(sentinel=who, master=master if reachable else None, reachable=reachable,
                known_sentinels=3 if reachable else None)


def never_local(_ip):
    return False


def test_another_master_named_by_a_majority_is_replicated():
    v = group_verdict([ans('s1'), ans('s2'), ans('s3', reachable=False)], expected=3)
    target, why = start.decide(v, {'10.0.0.1', '127.0.0.1'}, 6379, local=never_local)
    assert target == ('10.0.0.2', 6379)
    assert 'replica of 10.0.0.2:6379' in why


def test_this_node_named_starts_as_configured():
    v = group_verdict([ans('s1', '10.0.0.1:6379'), ans('s2', '10.0.0.1:6379'), ans('s3', '10.0.0.1:6379')], expected=3)
    target, why = start.decide(v, {'10.0.0.1'}, 6379, local=never_local)
    assert target is None and 'this node is the master' in why


def test_same_host_other_port_is_another_node():
    v = group_verdict([ans('s1', '10.0.0.1:6380'), ans('s2', '10.0.0.1:6380')], expected=3)
    target = start.decide(v, {'10.0.0.1'}, 6379, local=never_local)[0]
    assert target == ('10.0.0.1', 6380)


def test_an_address_the_host_can_bind_is_this_node():
    v = group_verdict([ans('s1', '192.0.2.7:6379'), ans('s2', '192.0.2.7:6379')], expected=3)
    target = start.decide(v, set(), 6379, local=lambda ip: ip == '192.0.2.7')[0]
    assert target is None


def test_no_majority_starts_as_configured():
    v = group_verdict([ans('s1'), ans('s2', reachable=False), ans('s3', reachable=False)], expected=3)
    target, why = start.decide(v, set(), 6379, local=never_local)
    assert target is None and 'no agreed master' in why


def test_ipv6_master():
    v = group_verdict([ans('s1', '[fd00::2]:6379'), ans('s2', '[fd00::2]:6379')], expected=3)
    target = start.decide(v, set(), 6379, local=never_local)[0]
    assert target == ('fd00::2', 6379)


def test_replicaof_added_to_a_master_config():
    out = start.set_replicaof(CONF, '10.0.0.2', 6379)
    assert out == CONF + 'replicaof 10.0.0.2 6379\n'


def test_replicaof_added_after_a_last_line_without_newline():
    assert start.set_replicaof('port 6379', '10.0.0.2', 6379) == 'port 6379\nreplicaof 10.0.0.2 6379\n'


def test_replicaof_replaced_in_place_and_duplicates_dropped():
    text = 'port 6379\nslaveof 10.0.0.9 6379\n# replicaof 1.2.3.4 1\nREPLICAOF 10.0.0.8 6379\nsave ""\n'
    out = start.set_replicaof(text, '10.0.0.2', 6379)
    assert out == 'port 6379\nreplicaof 10.0.0.2 6379\n# replicaof 1.2.3.4 1\nsave ""\n'


def test_replicaof_already_right_is_unchanged():
    assert start.set_replicaof(CONF + 'replicaof 10.0.0.2 6379\n', '10.0.0.2', 6379) is None


def test_rewrite_keeps_the_mode(tmp_path):
    path = tmp_path / 'redis.conf'
    path.write_text(CONF)
    os.chmod(str(path), 0o640)
    start.rewrite(str(path), CONF + 'replicaof 10.0.0.2 6379\n')
    assert path.read_text().endswith('replicaof 10.0.0.2 6379\n')
    assert os.stat(str(path)).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ['redis.conf']
