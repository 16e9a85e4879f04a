# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.hardened.redis.plugins.module_utils._values import (
    InvalidValue,
    expected,
    is_equal,
    parse_client_output_buffer_limit,
    parse_memory,
    parse_notify_keyspace_events,
    parse_save,
    quote_config_arg,
    render,
    render_config_line,
    split_config_args,
    to_bool,
)


@pytest.mark.parametrize('text, size', [
    ('1073741824', 1073741824),
    (1073741824, 1073741824),
    ('1gb', 1024 ** 3),
    ('1GB', 1024 ** 3),
    ('1Gb', 1024 ** 3),
    ('1g', 1000 ** 3),
    ('1k', 1000),
    ('1kb', 1024),
    ('100mb', 100 * 1024 * 1024),
    ('5m', 5000000),
    ('0', 0),
    ('12b', 12),
])
def test_parse_memory_uses_redis_units(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize('bad', ['1.5gb', '1tb', 'lots', '', '-1', True, '1 g b'])
def test_parse_memory_rejects_what_redis_rejects(bad):
    with pytest.raises(InvalidValue):
        parse_memory(bad)


@pytest.mark.parametrize('desired, current, equal', [
    ('1gb', '1073741824', True),
    (1073741824, '1073741824', True),
    ('1g', '1073741824', False),
    ('1GB', '1073741824', True),
    ('100mb', '104857600', True),
    ('100mb', '100000000', False),
])
def test_maxmemory_compares_in_bytes(desired, current, equal):
    assert is_equal('maxmemory', desired, current) is equal


def test_maxmemory_render_and_expected_are_bytes():
    assert render('maxmemory', '1gb') == '1073741824'
    assert expected('maxmemory', '1gb', '0') == '1073741824'
    # unchanged: expected is the running value itself, so diffs stay equal
    assert expected('maxmemory', '1gb', '1073741824') == '1073741824'


def test_maxmemory_clients_accepts_percent():
    assert is_equal('maxmemory-clients', '10%', '10%')
    assert not is_equal('maxmemory-clients', '10%', '0')
    assert render('maxmemory-clients', '5%') == '5%'
    assert render('maxmemory-clients', '1mb') == '1048576'


@pytest.mark.parametrize('value, result', [
    ('yes', True), ('no', False), ('YES', True), (True, True), (False, False),
    ('true', True), ('off', False),
])
def test_to_bool(value, result):
    assert to_bool(value) is result


@pytest.mark.parametrize('bad', ['maybe', 2, 1, '1', None])
def test_to_bool_rejects(bad):
    with pytest.raises(InvalidValue):
        to_bool(bad)


@pytest.mark.parametrize('desired, current, equal', [
    (True, 'yes', True),
    (False, 'yes', False),
    ('yes', 'yes', True),
    ('YES', 'yes', True),
    ('no', 'yes', False),
    (False, 'no', True),
])
def test_yes_no_directives(desired, current, equal):
    assert is_equal('appendonly', desired, current) is equal


def test_bool_renders_yes_no_for_any_yes_no_directive():
    assert render('appendonly', True) == 'yes'
    assert render('some-module.flag', 'true', 'no') == 'yes'
    assert expected('activedefrag', False, 'yes') == 'no'


@pytest.mark.parametrize('form', [
    '3600 1 300 100',
    [[3600, 1], [300, 100]],
    ['3600 1', '300 100'],
    [['3600', '1'], ['300', '100']],
    '300 100 3600 1',  # order does not matter to Redis
])
def test_save_forms_are_equal(form):
    assert parse_save(form) == ((300, 100), (3600, 1))
    assert is_equal('save', form, '3600 1 300 100')


@pytest.mark.parametrize('disabled', ['', [], '""'])
def test_save_disabled(disabled):
    assert parse_save(disabled) == ()
    assert is_equal('save', disabled, '')
    assert not is_equal('save', disabled, '3600 1')
    assert render('save', disabled) == ''


def test_save_render_keeps_order_given():
    assert render('save', [[3600, 1], [300, 100]]) == '3600 1 300 100'


@pytest.mark.parametrize('bad', ['3600', '3600 x', [[0, 1]], 'a b'])
def test_save_rejects_bad(bad):
    with pytest.raises(InvalidValue):
        parse_save(bad)


@pytest.mark.parametrize('name, desired, current', [
    ('maxmemory-policy', 'ALLKEYS-LRU', 'allkeys-lru'),
    ('appendfsync', 'EverySec', 'everysec'),
    ('loglevel', 'WARNING', 'warning'),
    ('appendfsync', False, 'no'),  # YAML "no" unquoted
    ('oom-score-adj', 'relative', 'yes'),  # synonyms: Redis reports "yes"
])
def test_enum_case_and_synonyms(name, desired, current):
    assert is_equal(name, desired, current)


def test_enum_renders_lower_case():
    assert render('maxmemory-policy', 'ALLKEYS-LRU') == 'allkeys-lru'
    assert not is_equal('maxmemory-policy', 'allkeys-lfu', 'allkeys-lru')


def test_plain_strings_stay_case_sensitive():
    assert not is_equal('logfile', '/var/log/Redis.log', '/var/log/redis.log')
    assert not is_equal('requirepass', 'Secret', 'secret')


@pytest.mark.parametrize('desired, current, equal', [
    ('127.0.0.1 -::1', '127.0.0.1 -::1', True),
    (['-::1', '127.0.0.1'], '127.0.0.1 -::1', True),
    (['127.0.0.1'], '127.0.0.1 -::1', False),
    ('127.0.0.1 10.0.0.1', '127.0.0.1', False),
])
def test_bind_is_a_set_of_addresses(desired, current, equal):
    assert is_equal('bind', desired, current) is equal


def test_bind_render_joins_list():
    assert render('bind', ['127.0.0.1', '-::1']) == '127.0.0.1 -::1'


COBL = 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60'


def test_client_output_buffer_limit_units_and_replica_alias():
    limits = parse_client_output_buffer_limit('replica 256mb 64mb 60')
    assert limits == {'slave': (268435456, 67108864, 60)}
    assert is_equal('client-output-buffer-limit', 'replica 256mb 64mb 60', COBL)
    assert is_equal('client-output-buffer-limit', ['pubsub 32mb 8mb 60', 'normal 0 0 0'], COBL)


def test_client_output_buffer_limit_compares_only_given_classes():
    assert not is_equal('client-output-buffer-limit', 'pubsub 64mb 16mb 90', COBL)
    after = expected('client-output-buffer-limit', 'pubsub 64mb 16mb 90', COBL)
    assert after == 'normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 90'
    assert render('client-output-buffer-limit', 'pubsub 64mb 16mb 90') == 'pubsub 67108864 16777216 90'


@pytest.mark.parametrize('bad', ['pubsub 64mb 16mb', 'master 0 0 0', 'normal 0 0 x', 'normal 1.5gb 0 0'])
def test_client_output_buffer_limit_rejects(bad):
    with pytest.raises(InvalidValue):
        parse_client_output_buffer_limit(bad)


@pytest.mark.parametrize('desired, current, equal', [
    ('KEA', 'AKE', True),
    ('AKE', 'AKE', True),
    ('Kg$lshzxetd', 'AK', True),
    ('Ex', 'xE', True),
    ('Ex', 'xEK', False),
    ('', '', True),
    ('ExKmn', 'xnKEm', True),
])
def test_notify_keyspace_events_is_a_letter_set(desired, current, equal):
    assert is_equal('notify-keyspace-events', desired, current) is equal


def test_notify_keyspace_events_rejects_unknown_letters():
    with pytest.raises(InvalidValue):
        parse_notify_keyspace_events('KEQ')


def test_integers_compare_as_numbers():
    assert is_equal('timeout', 300, '300')
    assert is_equal('timeout', '0300', '300')
    assert not is_equal('timeout', 301, '300')
    assert render('databases', 32) == '32'


def test_octal_directive():
    assert is_equal('unixsocketperm', '0700', '700')
    assert is_equal('unixsocketperm', '700', '700')
    assert not is_equal('unixsocketperm', '0770', '700')
    assert render('unixsocketperm', '0770') == '770'
    with pytest.raises(InvalidValue):
        render('unixsocketperm', '0999')


def test_replicaof():
    assert is_equal('replicaof', 'no one', '')
    assert is_equal('replicaof', 'NO ONE', '')
    assert is_equal('replicaof', '10.0.0.1 6379', '10.0.0.1 6379')
    assert not is_equal('replicaof', '10.0.0.1 6380', '10.0.0.1 6379')
    with pytest.raises(InvalidValue):
        render('replicaof', '10.0.0.1')


def test_number_lists_keep_order():
    assert is_equal('latency-tracking-info-percentiles', '50 99 99.9', '50 99 99.9')
    assert is_equal('latency-tracking-info-percentiles', [50, 99, 99.9], '50 99 99.9')
    assert not is_equal('oom-score-adj-values', '0 800 200', '0 200 800')


def test_none_is_not_a_value():
    with pytest.raises(InvalidValue):
        render('maxmemory', None)


@pytest.mark.parametrize('line, words', [
    ('dir /var/lib/redis', ['dir', '/var/lib/redis']),
    ('logfile ""', ['logfile', '']),
    ('logfile "/var/log/my redis.log"', ['logfile', '/var/log/my redis.log']),
    ("requirepass 'a\\'b'", ['requirepass', "a'b"]),
    ('save 3600 1 300 100', ['save', '3600', '1', '300', '100']),
    ('x "a\\x41\\n"', ['x', 'aA\n']),
    ('logfile "unbalanced', None),
])
def test_split_config_args_like_redis(line, words):
    assert split_config_args(line) == words


@pytest.mark.parametrize('word', ['plain', '', 'with space', 'quo"te', 'back\\slash', "it's", 'tab\there'])
def test_quote_round_trip(word):
    assert split_config_args('x ' + quote_config_arg(word)) == ['x', word]


def test_render_config_line():
    assert render_config_line('databases', 32) == 'databases 32'
    assert render_config_line('logfile', '') == 'logfile ""'
    assert render_config_line('logfile', '/var/log/my redis.log') == 'logfile "/var/log/my redis.log"'
    assert render_config_line('replicaof', '10.0.0.1 6379') == 'replicaof 10.0.0.1 6379'
    assert render_config_line('unixsocketperm', '0700') == 'unixsocketperm 700'
