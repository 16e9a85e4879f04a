"""Live convergence: a runtime setting changes without a restart, reports changed
once and 0 changed afterwards; check mode reports without applying; a static
setting never restarts a replicated node and restarts a standalone one.
Runs last (it re-runs converge.yml) and puts the scenario's settings back."""

from __future__ import annotations

import time

import redis
import testinfra

from redis_lab import Instance, client, container_ip, main_pid, password, run_converge

HOSTS = {"default-debian12": Instance("redis"), "default-debian13": Instance("valkey")}


def _hosts():
    return {name: testinfra.get_host(f"docker://{name}") for name in HOSTS}


def _changed(recap):
    return {name: recap[name]["changed"] for name in HOSTS}


def _config(hosts, key):
    return {name: client(h, "admin", password("admin")).config_get(key)[key] for name, h in hosts.items()}


def _can_eval(h):
    app = client(h, "app", password("app"))
    try:
        return app.eval("return 1", 0) == 1
    except redis.exceptions.NoPermissionError:
        return False


# The two tests run in this order and hand their state on, to keep the
# number of converge runs (about 15 s each) down.

def test_runtime_setting_and_acl_converge_live_then_idempotent():
    """maxmemory (CONFIG SET) and the app user's rights (redis_acl live + aclfile), no restart."""
    hosts = _hosts()
    pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}
    default_maxmemory = _config(hosts, "maxmemory")
    assert all(v != str(64 * 1024 * 1024) for v in default_maxmemory.values()), default_maxmemory
    assert all(_can_eval(h) for h in hosts.values())
    new = {"redis_maxmemory": "64mb", "redis_app_deny_scripting": True}

    # Check mode: reports the pending changes (redis_config, redis_acl, the aclfile), applies nothing.
    recap = run_converge(new, check=True)
    assert _changed(recap) == {name: 3 for name in HOSTS}, recap
    assert _config(hosts, "maxmemory") == default_maxmemory
    assert all(_can_eval(h) for h in hosts.values())

    # For real: redis_config, redis_acl (the app user changed live) and the aclfile; same process.
    recap = run_converge(new)
    assert _changed(recap) == {name: 3 for name in HOSTS}, recap
    assert _config(hosts, "maxmemory") == {name: str(64 * 1024 * 1024) for name in HOSTS}
    assert not any(_can_eval(h) for h in hosts.values())
    assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids
    for name, h in hosts.items():
        conf = h.file(HOSTS[name].conf_file)
        assert "maxmemory 64mb" in conf.content_string  # persisted by CONFIG REWRITE
        assert conf.mode in (0o640, 0o600) and conf.user == HOSTS[name].user

    # The next run with the same values changes nothing.
    recap = run_converge(new)
    assert _changed(recap) == {name: 0 for name in HOSTS}, recap


def test_static_setting_never_restarts_a_replicated_node():
    """tcp-backlog only applies at start. A master with a replica and the replica: both left
    running and warned, on every run, with 0 changed; once standalone again the pending restart
    happens (new PID), then nothing is pending. Ends on the scenario's values."""
    hosts = _hosts()
    master, replica = "default-debian12", "default-debian13"
    m = client(hosts[master], "admin", password("admin"))
    r = client(hosts[replica], "admin", password("admin"))
    before = _config(hosts, "tcp-backlog")
    r.replicaof(container_ip(hosts[master]), 6379)
    try:
        deadline = time.monotonic() + 20
        while m.info("replication")["connected_slaves"] < 1:
            assert time.monotonic() < deadline, m.info("replication")
            time.sleep(0.5)
        pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}

        # Also puts maxmemory and the app user's rights back (live) after the test above.
        recap = run_converge({"redis_tcp_backlog": 2048})
        assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids
        assert all(v != str(64 * 1024 * 1024) for v in _config(hosts, "maxmemory").values())
        assert all(_can_eval(h) for h in hosts.values())
        assert "not done: it is a master with replicas" in recap.output, recap.output[-3000:]
        assert "not done: it is a replica" in recap.output
        assert _config(hosts, "tcp-backlog") == before
        # Still pending, still reported, nothing changed.
        recap = run_converge({"redis_tcp_backlog": 2048})
        assert _changed(recap) == {name: 0 for name in HOSTS}, recap
        assert recap.output.count("needs a restart for tcp-backlog") == 2
        assert {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()} == pids
    finally:
        r.replicaof("NO", "ONE")
        r.config_rewrite()
    # Standalone again: the pending restart happens on the next run (new PID).
    recap = run_converge({"redis_tcp_backlog": 2048})
    assert recap.output.count("Restarting (standalone) for: tcp-backlog") == 2, recap
    assert _config(hosts, "tcp-backlog") == {name: "2048" for name in HOSTS}
    new_pids = {name: main_pid(h, HOSTS[name]) for name, h in hosts.items()}
    assert all(new_pids[name] != pids[name] for name in HOSTS), (pids, new_pids)
    # Back to the scenario's value: a standalone node restarts at once.
    recap = run_converge()
    assert recap.output.count("Restarting (standalone) for: tcp-backlog") == 2, recap
    assert _config(hosts, "tcp-backlog") == {name: "511" for name in HOSTS}
