"""The endpoint for URL-only clients (hardened.redis.redis_endpoint) on the converged group.

Runs after test_sentinel.py (file order) and before the password rotation.
node1 (group redis_endpoints) runs HAProxy and the master agent; the
application connects ONLY through it, the way a client that knows nothing
but REDIS_URL does: redis-py ``Redis.from_url("redis://app:...@node1:6390")``.

  1. bad input is refused by the role, naming the option, printing no secret,
     changing nothing;
  2. under a WAIT-acknowledged writer through the endpoint, a kill -9 of the
     master's redis-server and then a planned switchover (the scenario's
     switchover.yml): 0 acknowledged writes lost; every reply came from the
     master of its time (each write's pipeline asks CLIENT INFO, whose laddr
     names the node that served it: the writer's nodes go old -> new once per
     fault and never back); HAProxy never has two servers UP at once in the
     write backend (its runtime API, sampled on node1 all along).
The longest gap between acknowledged writes is printed, never asserted.

The endpoint is deployed by the sentinel scenario only (molecule.yml puts
node1 in redis_endpoints); the sentinel-valkey scenario shares this directory,
deploys no endpoint and deselects this file (-k in its molecule.yml).
"""

from __future__ import annotations

import os
import time

import pytest
import redis

from sentinel_lab import EndpointSampler, Group, UrlWriter, read_json, recap, run_playbook, secret, wait_for

SCENARIO_NAME = os.environ.get("MOLECULE_SCENARIO_NAME", "sentinel")
NODES = [f"{SCENARIO_NAME}-node{i}" for i in (1, 2, 3)]
ENDPOINT_HOST = NODES[0]
ENDPOINT_PORT = 6390
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES)


def _role_refuses(extra: str, *expected: str, hidden: str = ""):
    """The endpoint role alone (the scenario's endpoint.yml) with bad input: it fails before any change."""
    proc = run_playbook(os.path.join(SCENARIO, "endpoint.yml"), "-e", extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"the endpoint role accepted {extra}:\n{out[-3000:]}"
    for text in expected:
        assert text in out, f"message lacks {text!r}:\n{out[-3000:]}"
    if hidden:
        assert hidden not in out, "the refusal printed the secret"
    counts = recap(proc.stdout)
    assert counts and all(c.get("changed", 0) == 0 for c in counts.values()), counts
    assert "Install HAProxy" not in out, out[-3000:]


def test_01_bad_input_refused():
    _role_refuses('{"redis_endpoint_bind": ["0.0.0.0"]}', "redis_endpoint_bind must list explicit addresses, no wildcard")
    # A password HAProxy could not send as one word: the option is named, the value never printed.
    _role_refuses('{"redis_endpoint_probe_password": "Secret With Spaces 4711"}',
                  "redis_endpoint_probe_user and redis_endpoint_probe_password may only hold", hidden="Secret With Spaces 4711")
    _role_refuses('{"redis_endpoint_port": "not-a-port"}', "redis_endpoint_port")


def test_02_url_client_through_kill_and_switchover(group):
    first = group.wait_settled(timeout=90)
    url = f"redis://app:{secret('app')}@{group.ip[ENDPOINT_HOST]}:{ENDPOINT_PORT}/0"
    # The endpoint leads to the master (app may not run ROLE: CLIENT INFO's laddr names the node).
    probe = redis.Redis.from_url(url, socket_timeout=2, decode_responses=True)

    def served_by():
        laddr = dict(f.split("=", 1) for f in str(probe.execute_command("CLIENT", "INFO")).split() if "=" in f)["laddr"]
        return True if laddr.rsplit(":", 1)[0] == group.ip[first] else f"served by {laddr}"
    wait_for("the endpoint leads to the master", served_by, 30)
    sampler = EndpointSampler(ENDPOINT_HOST)
    sampler.start()
    writer = UrlWriter(url, "endpoint")
    writer.start()
    marks = {}
    try:
        writer.wait_acks(200, timeout=30)
        # 1. kill -9 of the master's redis-server.
        writer.phase = "kill"
        marks["kill"] = time.monotonic()
        group.kill_data_node(first)
        second = group.wait_new_master(first, timeout=30)
        writer.wait_acks(200, timeout=60)
        marks["kill_end"] = time.monotonic()
        group.wait_rejoined(first, second, timeout=90)
        assert group.wait_settled(timeout=60) == second
        writer.wait_acks(50, timeout=30)
        # 2. planned switchover to the other replica.
        target = sorted(n for n in NODES if n not in (second,))[0]
        writer.phase = "switchover"
        marks["switchover"] = time.monotonic()
        proc = run_playbook(os.path.join(SCENARIO, "switchover.yml"), "-e", f"target_host={group.ip[target]}")
        result = read_json(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "switchover.json"))
        assert proc.returncode == 0, f"switchover failed: {result.get('msg')}\n{proc.stdout[-2000:]}"
        writer.wait_acks(200, timeout=60)
        marks["switchover_end"] = time.monotonic()
    finally:
        writer.stop()
        sampler.stop()
    final = group.wait_settled(timeout=60)
    assert final == target

    lost = group.missing(final, writer.acked)
    both_up = [s for s in sampler.samples if len(s) > 1]
    seen_up = {n for s in sampler.samples for n in s}
    print(f"\n[endpoint] kill {first} -> {second}: longest gap {writer.longest_gap(marks['kill'], marks['kill_end']):.2f}s;"
          f" switchover {second} -> {target}: longest gap {writer.longest_gap(marks['switchover'], marks['switchover_end']):.2f}s"
          f" (sentinel_failover write_pause {result.get('write_pause')}s);"
          f" acknowledged {len(writer.acked)}, lost {len(lost)}; client errors {writer.errors};"
          f" HAProxy samples {len(sampler.samples)} ({sampler.errors} errors), with two servers UP {len(both_up)}")
    assert not lost, f"{len(lost)} acknowledged writes missing on {final}: {lost[:10]}"
    # HAProxy: never two servers UP at once; the sampler saw the UP server move.
    assert len(sampler.samples) > 100, f"too few samples of HAProxy's state: {len(sampler.samples)}"
    assert not both_up, f"two servers UP at once in redis_write: {both_up[:5]}"
    assert {first, second, target} <= seen_up, f"UP servers seen: {seen_up}"
    # The writer: every reply of a phase came from the master before the
    # fault, then from the new one, never back and never a third node.
    for phase, old, new in (("kill", first, second), ("switchover", second, target)):
        nodes = [group.name_of.get(addr, addr) for p, addr in writer.served if p == phase]
        runs = [n for i, n in enumerate(nodes) if i == 0 or nodes[i - 1] != n]
        assert runs == [old, new], f"{phase}: the writer was served by {runs} (expected {old} then {new})"
