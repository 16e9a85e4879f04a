"""Fixtures of the default scenario: one Redis (Debian 12) and one Valkey (Debian 13) container."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "resources", "tests"))

from redis_lab import Instance  # noqa: E402

# Container name -> engine, as molecule.yml's host_vars set it.
ENGINE_OF = {"default-debian12": "redis", "default-debian13": "valkey"}
# Hosts with redis_tls_enabled (tls-port 6380 next to 6379).
TLS_HOSTS = {"default-debian12"}


@pytest.fixture
def inst(host) -> Instance:
    return Instance(ENGINE_OF[host.backend.get_hostname()])


@pytest.fixture
def tls(host) -> bool:
    return host.backend.get_hostname() in TLS_HOSTS
