# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's rule for scripts that run on a managed host outside Ansible.

The data node's start check (roles/redis) and the endpoint's master agent
(roles/redis_endpoint) decide who the master is by the same rule as the
modules: ``_sentinel.py``. The roles ship it, ``_values.py`` and this file
beside the script; ``load_rule(directory)`` loads them there under their
Ansible names, with a stand-in for ``ansible.module_utils.six`` where Ansible
is not installed (a host has only Python and redis-py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.util
import os
import sys
import types

PACKAGE = 'ansible_collections.hardened.redis.plugins.module_utils'


def load_rule(directory):
    """The module ``_sentinel`` loaded from ``directory`` (with ``_values`` beside it)."""
    try:
        importlib.import_module('ansible.module_utils.six')
    except ImportError:
        six = types.ModuleType('ansible.module_utils.six')
        six.integer_types = (int,)
        six.string_types = (str,)
        for name in ('ansible', 'ansible.module_utils'):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules['ansible.module_utils.six'] = six
    parts = PACKAGE.split('.')
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault('.'.join(parts[:i]), types.ModuleType('.'.join(parts[:i])))
    loaded = None
    for name in ('_values', '_sentinel'):
        spec = importlib.util.spec_from_file_location('%s.%s' % (PACKAGE, name), os.path.join(directory, name + '.py'))
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = loaded
        spec.loader.exec_module(loaded)
    return loaded
