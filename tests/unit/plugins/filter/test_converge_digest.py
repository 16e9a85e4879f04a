# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge_digest filter: one digest of a role's inputs and of the collection's code.

The fast path relies on it twice: the same inputs must give the same digest
(else every rerun takes the full path), and any other value, key or release
of the code must give another one (else a change is skipped).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil

import pytest
from ansible.parsing.dataloader import DataLoader

from ansible_collections.hardened.redis.plugins.filter import converge_digest as module
from ansible_collections.hardened.redis.plugins.filter.converge_digest import FilterModule, code_digest

digest = FilterModule().filters()['converge_digest']

INPUTS = {
    'options': {
        'redis_port': 6379,
        'redis_bind': ['127.0.0.1', '::1'],
        'redis_maxmemory': '256mb',
        'redis_tls_enabled': False,
        'redis_extra_config': {'hz': '10', 'save': ''},
        'redis_admin_password': 'not-a-real-secret',
        'redis_monitor_user': None,
    },
    'facts': {'distribution': 'Debian', 'major': '12', 'ipv4': ['10.0.0.5', '192.168.1.5'], 'memtotal_mb': 3900},
}


def copy(value):
    """A deep copy with every dict rebuilt in reverse key order."""
    if isinstance(value, dict):
        return dict((k, copy(value[k])) for k in reversed(list(value)))
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value


def test_same_inputs_give_the_same_digest():
    first = digest(INPUTS)
    assert re.match(r'^[0-9a-f]{64}$', first)
    assert digest(copy(INPUTS)) == first
    assert digest(INPUTS) == first


def test_key_order_does_not_matter():
    forward = {'a': 1, 'b': {'x': 1, 'y': 2}}
    backward = {'b': {'y': 2, 'x': 1}, 'a': 1}
    assert list(forward) != list(backward)
    assert digest(forward) == digest(backward)


def changed(path, value):
    """INPUTS with the value at ``path`` (a tuple of keys and indexes) replaced."""
    out = copy(INPUTS)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


@pytest.mark.parametrize('path, value', [
    (('options', 'redis_port'), 6380),
    (('options', 'redis_port'), '6379'),            # a string is not the number
    (('options', 'redis_maxmemory'), '256MB'),
    (('options', 'redis_tls_enabled'), True),
    (('options', 'redis_tls_enabled'), None),
    (('options', 'redis_monitor_user'), ''),
    (('options', 'redis_monitor_user'), 'None'),
    (('options', 'redis_bind'), ['::1', '127.0.0.1']),  # a list keeps its order
    (('options', 'redis_bind'), ['127.0.0.1']),
    (('options', 'redis_extra_config', 'save'), '3600 1'),
    (('options', 'redis_admin_password'), 'another-secret'),
    (('facts', 'memtotal_mb'), 3901),
    (('facts', 'major'), '13'),
])
def test_any_other_value_gives_another_digest(path, value):
    assert digest(changed(path, value)) != digest(INPUTS)


def test_another_key_or_nesting_gives_another_digest():
    base = digest(INPUTS)
    renamed = copy(INPUTS)
    renamed['options']['redis_port2'] = renamed['options'].pop('redis_port')
    assert digest(renamed) != base
    added = changed(('options', 'redis_new_option'), None)
    assert digest(added) != base
    removed = copy(INPUTS)
    del removed['facts']['ipv4']
    assert digest(removed) != base
    # the same leaves at another depth
    assert digest({'a': {'b': 1}}) != digest({'a': 1, 'b': 1})
    assert digest({'a': {'b': 1}}) != digest({'b': {'a': 1}})
    assert digest({'a': [1, [2]]}) != digest({'a': [1, 2]})
    assert digest({'a': {'b': 1}}) != digest({'a.b': 1})
    assert digest({}) != digest([])


def test_sets_do_not_depend_on_their_order():
    words = ['sentinel-%d' % i for i in range(40)]
    one, other = set(), set()
    for w in words:
        one.add(w)
    for w in reversed(words):
        other.add(w)
    assert digest({'users': one}) == digest({'users': other}) == digest({'users': frozenset(words)})
    # a set is compared as its sorted members: the same as that sorted list
    assert digest({'users': one}) == digest({'users': sorted(words)})
    assert digest({'users': one}) != digest({'users': set(words[1:])})
    # sets of structures too
    a = {'k': set([('x', 1), ('y', 2)])}
    b = {'k': set([('y', 2), ('x', 1)])}
    assert digest(a) == digest(b)


def test_values_as_ansible_core_loads_them_are_plain_values():
    # the role's variables reach the filter as ansible-core's tagged containers and strings
    loaded = DataLoader().load('a: x\nb: [1, "y", true]\nc: {d: e}\n', file_name='/roles/redis/defaults/main.yml')
    assert loaded['a'].__class__ is not str and loaded['c'].__class__ is not dict
    assert digest(loaded) == digest({'a': 'x', 'b': [1, 'y', True], 'c': {'d': 'e'}})


def fake_tree(root):
    """A small collection: what code_digest reads (roles/, plugins/) and what it does not."""
    files = {
        'roles/redis/tasks/main.yml': '- name: Converge\n  ansible.builtin.import_tasks: converge.yml\n',
        'roles/redis/templates/redis.conf.j2': 'port {{ redis_port }}\n',
        'plugins/modules/redis_config.py': 'print("hello")\n',
        'plugins/module_utils/_values.py': 'X = 1\n',
        'docs/operations.md': '# Operations\n',
        'README.md': 'hardened.redis\n',
    }
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    return str(root)


def edited(tmp_path, name, change):
    """A copy of the fake tree in tmp_path/name with ``change(root)`` applied."""
    root = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(str(tmp_path), 'original'), root)
    change(root)
    return code_digest(root=root)


def write(root, rel, text, mode='w'):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


def test_the_code_digest_follows_roles_and_plugins(tmp_path):
    original = fake_tree(tmp_path / 'original')
    base = code_digest(root=original)
    assert re.match(r'^[0-9a-f]{64}$', base)
    # the same tree elsewhere: the same digest (paths count relative to the collection)
    assert edited(tmp_path, 'copy', lambda r: None) == base

    # any edit of a file under roles/ or plugins/ is another release of the code
    different = [
        edited(tmp_path, 'task', lambda r: write(r, 'roles/redis/tasks/main.yml', '\n', 'a')),
        edited(tmp_path, 'template', lambda r: write(r, 'roles/redis/templates/redis.conf.j2', 'port 6380\n')),
        edited(tmp_path, 'module', lambda r: write(r, 'plugins/modules/redis_config.py', 'print("hello!")\n')),
        edited(tmp_path, 'new_file', lambda r: write(r, 'plugins/filter/new.py', '')),
        edited(tmp_path, 'removed', lambda r: os.unlink(os.path.join(r, 'plugins/module_utils/_values.py'))),
        edited(tmp_path, 'renamed', lambda r: os.rename(os.path.join(r, 'roles/redis/templates/redis.conf.j2'),
                                                        os.path.join(r, 'roles/redis/templates/other.conf.j2'))),
    ]
    assert base not in different
    assert len(set(different)) == len(different)

    # files outside roles/ and plugins/, and Python's byte-code caches, are not the code
    assert edited(tmp_path, 'docs', lambda r: write(r, 'docs/operations.md', 'edited\n')) == base
    assert edited(tmp_path, 'readme', lambda r: write(r, 'README.md', 'edited\n')) == base
    assert edited(tmp_path, 'pycache', lambda r: (write(r, 'plugins/modules/__pycache__/redis_config.cpython-311.pyc', 'x'),
                                                  write(r, 'plugins/modules/stale.pyc', 'x'))) == base


def test_the_inputs_digest_changes_with_the_code(tmp_path, monkeypatch):
    original = fake_tree(tmp_path / 'original')
    other = edited(tmp_path, 'other', lambda r: write(r, 'plugins/modules/redis_config.py', '# edited\n', 'a'))
    monkeypatch.setattr(module, 'code_digest', lambda: code_digest(root=original))
    before = digest(INPUTS)
    assert digest(INPUTS) == before
    monkeypatch.setattr(module, 'code_digest', lambda: other)
    assert digest(INPUTS) != before


def test_the_installed_collection_has_one_code_digest():
    # computed once per controller process; the digest of the code the tests run
    assert code_digest() == code_digest() == code_digest(root=module._ROOT)
    assert os.path.isdir(os.path.join(module._ROOT, 'roles', 'redis'))
