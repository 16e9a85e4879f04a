"""Live convergence: a runtime setting changes without a restart, reports changed
once and 0 changed afterwards; check mode reports without applying; a static
setting restarts a standalone node. Runs last (it re-runs converge.yml) and
puts the scenario's settings back at the end."""

from __future__ import annotations

import testinfra

from redis_lab import Instance, client, main_pid, password, run_converge

HOSTS = {"default-debian12": Instance("redis"), "default-debian13": Instance("valkey")}


def _hosts():
    return {name: testinfra.get_host(f"docker://{name}") for name in HOSTS}


def _changed(recap):
    return {name: recap[name]["changed"] for name in HOSTS}


def _config(hosts, key):
    return {name: client(h, "admin", password("admin")).config_get(key)[key] for name, h in hosts.items()}


def test_runtime_setting_converges_live_then_idempotent():
    hosts = _hosts()
    pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}
    default_maxmemory = _config(hosts, "maxmemory")
    assert all(v != str(64 * 1024 * 1024) for v in default_maxmemory.values()), default_maxmemory

    # Check mode: reports the pending change, applies nothing.
    recap = run_converge({"redis_maxmemory": "64mb"}, check=True)
    assert _changed(recap) == {name: 1 for name in HOSTS}, recap
    assert _config(hosts, "maxmemory") == default_maxmemory

    # For real: exactly one change per host (the module), same process.
    recap = run_converge({"redis_maxmemory": "64mb"})
    assert _changed(recap) == {name: 1 for name in HOSTS}, recap
    assert _config(hosts, "maxmemory") == {name: str(64 * 1024 * 1024) for name in HOSTS}
    assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids
    for name, h in hosts.items():
        conf = h.file(HOSTS[name].conf_file)
        assert "maxmemory 64mb" in conf.content_string  # persisted by CONFIG REWRITE
        assert conf.mode == 0o640 and conf.user == HOSTS[name].user

    # The next run with the same value changes nothing.
    recap = run_converge({"redis_maxmemory": "64mb"})
    assert _changed(recap) == {name: 0 for name in HOSTS}, recap

    # Back to the scenario's value, still live.
    recap = run_converge()
    assert _changed(recap) == {name: 1 for name in HOSTS}, recap
    assert _config(hosts, "maxmemory") == default_maxmemory
    assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids


def test_static_setting_restarts_a_standalone_node():
    """tcp-backlog only applies at start: a standalone master is restarted (new PID)."""
    hosts = _hosts()
    pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}

    recap = run_converge({"redis_tcp_backlog": 1024})
    assert all(recap[name]["changed"] >= 2 for name in HOSTS), recap  # file edit + restart
    new_pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}
    assert all(new_pids[name] != pids[name] and new_pids[name] > 0 for name in HOSTS), (pids, new_pids)
    assert _config(hosts, "tcp-backlog") == {name: "1024" for name in HOSTS}
    recap = run_converge({"redis_tcp_backlog": 1024})
    assert _changed(recap) == {name: 0 for name in HOSTS}, recap

    recap = run_converge()
    assert _config(hosts, "tcp-backlog") == {name: "511" for name in HOSTS}
