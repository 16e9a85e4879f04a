# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: converge_digest
short_description: One SHA-256 digest of a role's inputs and of this collection's code
version_added: 0.1.0
description:
  - The inputs half of the roles' fast path (M(hardened.redis.converge_stamp)). Returns the SHA-256 digest of
    the input (any data, such as the role's variables and the facts it uses, in canonical JSON with sorted keys)
    together with the digest of every file of this collection's C(roles) and C(plugins) directories, as
    installed on the controller. Another value of any variable, another fact, or another release (or any
    edit) of the collection gives another digest.
  - Runs on the controller. Only the digest leaves it; the variables (passwords among them) never do.
author:
  - hardened.redis developers (@hardened-redis)
options:
  _input:
    description: The inputs, as a dictionary (lists, strings, numbers, booleans inside).
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: The digest of this host's inputs
  ansible.builtin.set_fact:
    my_digest: "{{ {'redis_port': redis_port, 'memtotal_mb': ansible_facts['memtotal_mb']} | hardened.redis.converge_digest }}"
'''

RETURN = r'''
_value:
  description: 64 hexadecimal digits.
  type: str
'''

import hashlib
import json
import os

_CODE = {}
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def code_digest(root=_ROOT):
    """The digest of every file under the collection's roles/ and plugins/ (computed once per process)."""
    if root not in _CODE:
        sha = hashlib.sha256()
        for top in ('roles', 'plugins'):
            for directory, dirs, files in os.walk(os.path.join(root, top)):
                dirs[:] = sorted(d for d in dirs if d != '__pycache__')
                for name in sorted(files):
                    if name.endswith(('.pyc', '.pyo')):
                        continue
                    path = os.path.join(directory, name)
                    sha.update(os.path.relpath(path, root).encode('utf-8') + b'\0')
                    with open(path, 'rb') as f:
                        sha.update(hashlib.sha256(f.read()).digest())
        _CODE[root] = sha.hexdigest()
    return _CODE[root]


def _plain(value):
    """Lazy and tagged containers of ansible-core as plain JSON types."""
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def converge_digest(inputs):
    text = json.dumps(_plain(inputs), sort_keys=True, separators=(',', ':'))
    return hashlib.sha256((code_digest() + '\0' + text).encode('utf-8')).hexdigest()


class FilterModule(object):
    """hardened.redis.converge_digest: the inputs digest of the roles' fast path."""

    def filters(self):
        return {'converge_digest': converge_digest}
