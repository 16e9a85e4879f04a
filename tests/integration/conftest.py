# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for integration tests against real redis-server processes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_module import add_collections_to_sys_path, run_module  # noqa: E402
from servers import make_tls_files, start_redis  # noqa: E402

add_collections_to_sys_path()


@pytest.fixture
def redis_server(tmp_path):
    """A plain redis-server on a free loopback port (no auth)."""
    srv = start_redis(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def redis_factory(tmp_path):
    """start_redis(...) bound to this test's tmp_path; stops every server at the end."""
    started = []

    def factory(extra_lines=(), **kwargs):
        kwargs.setdefault("name", "redis%d" % len(started))
        srv = start_redis(tmp_path, extra_lines, **kwargs)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway CA with server and client certificates (openssl CLI)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def module_runner():
    return run_module
