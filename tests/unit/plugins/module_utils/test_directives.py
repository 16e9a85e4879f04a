# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hardened.redis.plugins.module_utils._directives import (
    canonical,
    directive_from_error,
    is_sensitive,
    is_static,
    names_in_file,
    protected_settable,
    refusal_reason,
)


@pytest.mark.parametrize('name', ['databases', 'unixsocket', 'aclfile', 'logfile', 'daemonize',
                                  'replicaof', 'slaveof', 'io-threads', 'enable-protected-configs'])
def test_immutable_are_static(name):
    assert is_static(name, 'yes')


@pytest.mark.parametrize('name', ['maxmemory', 'save', 'bind', 'appendonly', 'requirepass', 'port'])
def test_runtime_directives_are_not_static(name):
    assert not is_static(name, 'no')


def test_protected_depend_on_enable_protected_configs():
    assert is_static('dir', 'no')
    assert is_static('dbfilename', 'no')
    assert not is_static('dir', 'yes')
    assert not is_static('dir', 'local', local=True)
    assert is_static('dir', 'local', local=False)
    assert protected_settable('LOCAL', True)


def test_aliases():
    assert canonical('slave-read-only') == 'replica-read-only'
    assert names_in_file('replicaof') == {'replicaof', 'slaveof'}
    assert 'hash-max-ziplist-value' in names_in_file('hash-max-listpack-value')


def test_sensitive():
    assert is_sensitive('requirepass')
    assert is_sensitive('masterauth')
    assert not is_sensitive('maxmemory')


def test_error_parsing_of_redis_7_messages():
    text = "CONFIG SET failed (possibly related to argument 'unixsocketperm') - can't set immutable config"
    assert refusal_reason(text) == 'immutable'
    assert directive_from_error(text) == 'unixsocketperm'
    text = "CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    assert refusal_reason(text) == 'protected'
    text = "CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    assert refusal_reason(text) is None
    assert directive_from_error(text) == 'maxmemory'
