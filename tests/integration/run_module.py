# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of this collection the way Ansible does, as a subprocess.

``run_module("redis_config", {...}, check=True, diff=True)`` writes
``{"ANSIBLE_MODULE_ARGS": {...}}`` to a 0600 temp file and runs
``python -m ansible_collections.hardened.redis.plugins.modules.<name> <file>``
with PYTHONPATH pointing at a folder that holds
``ansible_collections/hardened/redis``:

* ``$HARDENED_REDIS_COLLECTIONS`` if set (the Makefile points it at the
  installed, built artifact), else
* a temp folder with a symlink ``ansible_collections/hardened/redis`` -> this
  repository.

The module runs with ``$HARDENED_REDIS_MODULE_PYTHON`` if set (e.g. a
Python with Debian 12's redis-py 4.3.4, what managed hosts have), else with
the interpreter running the tests.

Secrets go in the args file, never on a command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LINK_ROOT = []


def collections_root():
    """The folder that contains ansible_collections/hardened/redis."""
    env = os.environ.get("HARDENED_REDIS_COLLECTIONS")
    if env:
        if not os.path.isdir(os.path.join(env, "ansible_collections", "hardened", "redis")):
            raise RuntimeError("HARDENED_REDIS_COLLECTIONS=%s holds no ansible_collections/hardened/redis" % env)
        return env
    if not _LINK_ROOT:
        root = tempfile.mkdtemp(prefix="hardened-redis-collections-")
        os.makedirs(os.path.join(root, "ansible_collections", "hardened"))
        os.symlink(REPO_ROOT, os.path.join(root, "ansible_collections", "hardened", "redis"))
        atexit.register(shutil.rmtree, root, True)
        _LINK_ROOT.append(root)
    return _LINK_ROOT[0]


def add_collections_to_sys_path():
    """Make ``import ansible_collections.hardened.redis...`` work in this process."""
    root = collections_root()
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


class ModuleResult(dict):
    """The module's JSON result (a dict) plus .rc, .stdout, .stderr of the process."""

    rc = None
    stdout = ""
    stderr = ""


def run_module(module_name, args, check=False, diff=False, env=None, timeout=60, python=None, wrapper=None):
    """Run plugins/modules/<module_name>.py with ``args``; return its result dict.

    ``wrapper`` (a list) is put in front of the command (for example to run
    the module in its own mount namespace, see syslog_capture.py).

    ``env`` adds to (or, with value None, removes from) the inherited
    environment. The returned dict also has ``.rc``, ``.stdout`` and
    ``.stderr``; if the module printed no JSON, the dict holds
    ``failed=True`` and ``msg`` describing that, plus ``_raw``.
    """
    module_args = dict(args)
    module_args["_ansible_check_mode"] = bool(check)
    module_args["_ansible_diff"] = bool(diff)
    module_args.setdefault("_ansible_remote_tmp", tempfile.gettempdir())
    module_args.setdefault("_ansible_keep_remote_files", False)
    fd, args_file = tempfile.mkstemp(prefix="module-args-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": module_args}, f)
        run_env = dict(os.environ)
        root = collections_root()
        run_env["PYTHONPATH"] = os.pathsep.join([root] + ([run_env["PYTHONPATH"]] if run_env.get("PYTHONPATH") else []))
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        command = [python or os.environ.get("HARDENED_REDIS_MODULE_PYTHON") or sys.executable, "-m",
                   "ansible_collections.hardened.redis.plugins.modules." + module_name, args_file]
        proc = subprocess.run(
            list(wrapper or []) + command,
            env=run_env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=timeout, universal_newlines=True, check=False)
    finally:
        os.unlink(args_file)
    try:
        result = ModuleResult(json.loads(proc.stdout))
    except ValueError:
        result = ModuleResult(failed=True, msg="module printed no JSON (rc=%s)" % proc.returncode, _raw=proc.stdout)
    result.rc = proc.returncode
    result.stdout = proc.stdout
    result.stderr = proc.stderr
    return result
