# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.hardened.redis`` importable for plain pytest runs.

Under ``ansible-test units`` the collection is already importable and nothing
is done; otherwise the same folder as the integration tests use is added to
sys.path ($HARDENED_REDIS_COLLECTIONS, or a temp symlink to this checkout).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import sys


def _ensure_collection_importable():
    try:
        importlib.import_module('ansible_collections.hardened.redis.plugins.module_utils')
        return
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), 'integration'))
    from run_module import add_collections_to_sys_path
    add_collections_to_sys_path()


_ensure_collection_importable()
