"""Turning TLS off again, step by step, after test_tls.py (issue #12 section 2).

The group is TLS only (test_00_turn_tls_on.py and test_tls.py). Under a
WAIT-acknowledged writer that asks Sentinel (TLS port) for the master again
every few writes and picks TLS by the port Sentinel names, converge.yml runs:
  1. the plain ports open beside the TLS ones (the _tls_only flags false);
  2. replication and the Sentinels move to the plain ports (the
     _tls_replication flags false): Sentinel names the master at 6379;
  3. the clients move: a second writer in plaintext to Sentinel's plain port;
  4. the TLS ports close (redis_tls_enabled and redis_sentinel_tls_enabled false).
Per step: failed requests and acknowledged writes; then every acknowledged
key is looked up on the final master; the master never changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_00_turn_tls_on import NODES, TLS, _ports, _step

from sentinel_lab import Group, Writer

# test_tls.py left redis_app_deny_scripting on: kept, so that the only change
# is the transport.
OFF = {"redis_tls_only": False, "redis_sentinel_tls_only": False, "redis_app_deny_scripting": True}
NO_REPL = dict(OFF, redis_tls_replication=False, redis_sentinel_tls_replication=False)
STEPS = [
    ("1 open the plain ports beside the TLS ones", OFF),
    ("2 move replication and the Sentinels to the plain ports", NO_REPL),
]
CLOSE = ("4 close the TLS ports", dict(NO_REPL, redis_tls_enabled=False, redis_sentinel_tls_enabled=False))


def test_turn_tls_off_step_by_step():
    tls = Group(NODES, data_port=6380, sentinel_port=26380, tls=TLS)
    plain = Group(NODES)
    master = tls.wait_settled(timeout=90)
    log: list = []
    follower = Writer(tls, "tls-off-follow", data_tls=TLS, tls_ports={6380}, reconnect_every=25)
    follower.start()
    moved = None
    try:
        follower.wait_acks(200, timeout=60)
        for name, extra in STEPS:
            _step(name, extra, [follower], log)
        assert plain.wait_settled(timeout=60) == master, "the move changed the master"
        for n in NODES:
            assert _ports(plain, n) == {"port": "6379", "tls-port": "6380", "tls-replication": "no"}, n
            assert int(plain.master_record(n)["port"]) == 6379
            if n != master:
                assert int(plain.replication(n)["master_port"]) == 6379
        moved = Writer(plain, "tls-off-moved", reconnect_every=25)
        moved.start()
        moved.wait_acks(200, timeout=60)
        follower.stop()
        log.append({"step": "3 clients move (second writer in plaintext, first stopped)", "rc": 0,
                    "failed requests": [sum(follower.errors.values()), sum(moved.errors.values())]})
        _step(*CLOSE, [moved], log)
    finally:
        if follower.is_alive():
            follower.stop()
        if moved is not None and moved.is_alive():
            moved.stop()
    final = plain.wait_settled(timeout=60)
    assert all(_ports(plain, n)["tls-port"] == "0" for n in NODES)
    keys = follower.acked + (moved.acked if moved else [])
    lost = plain.missing(final, keys)
    masters = plain.masters()
    summary = {"acknowledged": len(keys), "lost": len(lost), "master": f"{master} -> {final}",
               "follower errors": follower.errors, "moved errors": moved.errors if moved else None,
               "longest gap s": round(max(follower.longest_gap(), moved.longest_gap() if moved else 0.0), 2)}
    print(f"[summary] {json.dumps(summary)}")
    (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls-off-results.json").write_text(
        json.dumps({"steps": log, "summary": summary}, indent=1) + "\n", encoding="utf-8")
    assert final == master and masters == [master], f"masters {masters}, settled {final}"
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    assert not follower.errors, f"the writer that follows Sentinel failed requests: {follower.errors}"
    assert moved is not None and not moved.errors, f"the moved writer failed requests: {moved.errors}"
