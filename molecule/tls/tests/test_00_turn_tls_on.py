"""Turning TLS on for a running group, step by step (issue #12 section 2).

prepare.yml deployed the group in plaintext. Under a WAIT-acknowledged writer
that asks Sentinel for the master's address again every few writes (as new
clients do), converge.yml runs:
  0. with the scenario's TLS-only variables at once: refused before any host
     is touched (the group still plaintext, nothing changed);
  1. TLS ports opened beside the plain ones (redis_tls_only,
     redis_tls_replication and their Sentinel twins false);
  2. replication and the Sentinels moved to the TLS ports (the _only flags
     false): Sentinel names the master at its TLS port, no failover;
  3. the clients move: a second writer talks TLS to the Sentinels' TLS ports;
  4. the scenario's own variables: the plain ports close (TLS only).
The first writer chooses TLS by the port Sentinel names (a client that
follows the group through the move). Per step: failed requests and
acknowledged writes, then every acknowledged key is looked up on the final
master. test_tls.py then runs its TLS-only tests unchanged on the result.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sentinel_lab import Group, Writer, recap, run_playbook

NODES = ["tls-node1", "tls-node2", "tls-node3"]
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
CONVERGE = os.path.join(SCENARIO, "converge.yml")
TLS_DIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
TLS = {"ssl_ca_certs": str(TLS_DIR / "ca.crt"), "ssl_certfile": str(TLS_DIR / "client.crt"),
       "ssl_keyfile": str(TLS_DIR / "client.key")}
OFF = {"redis_tls_only": False, "redis_sentinel_tls_only": False}
STEPS = [
    ("1 open the TLS ports beside the plain ones",
     dict(OFF, redis_tls_replication=False, redis_sentinel_tls_replication=False)),
    ("2 move replication and the Sentinels to TLS", OFF),
]


def _ports(group: Group, n: str) -> dict:
    cfg = group.node(n).config_get("port")
    cfg.update(group.node(n).config_get("tls-*"))
    return {k: cfg.get(k) for k in ("port", "tls-port", "tls-replication")}


def _step(name: str, extra: dict, writers: list[Writer], log: list) -> None:
    before = [(sum(w.errors.values()), len(w.acked)) for w in writers]
    started = time.monotonic()
    proc = run_playbook(CONVERGE, *(["-e", json.dumps(extra)] if extra else []))
    for w in writers:
        w.wait_acks(100, timeout=60)
    after = [(sum(w.errors.values()), len(w.acked)) for w in writers]
    row = {"step": name, "rc": proc.returncode,
           "failed requests": [a[0] - b[0] for a, b in zip(after, before)],
           "acknowledged": [a[1] - b[1] for a, b in zip(after, before)],
           "errors": [dict(w.errors) for w in writers],
           "longest gap s": [round(w.longest_gap(since=started), 2) for w in writers]}
    log.append(row)
    print(f"[step] {json.dumps(row)}")
    assert proc.returncode == 0, f"{name}: site.yml failed\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"


def test_turn_tls_on_step_by_step():
    plain = Group(NODES)
    tls = Group(NODES, data_port=6380, sentinel_port=26380, tls=TLS)
    master = plain.wait_settled(timeout=90)
    assert master == "tls-node1"
    log: list = []

    # 0. The attempt: TLS only in one run. Refused, nothing touched.
    refused = run_playbook(CONVERGE)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "Nothing was changed" in said and "redis_tls_only: false" in said, said[-3000:]
    assert all(_ports(plain, n)["port"] == "6379" and _ports(plain, n)["tls-port"] == "0" for n in NODES)
    counts = recap(refused.stdout)
    assert set(NODES) <= set(counts) and not any(c.get("changed") for c in counts.values()), counts

    follower = Writer(plain, "tls-on-follow", data_tls=TLS, tls_ports={6380}, reconnect_every=25)
    follower.start()
    moved = None
    try:
        follower.wait_acks(200, timeout=60)
        for name, extra in STEPS:
            _step(name, extra, [follower], log)
            if name.startswith("1"):
                assert all(_ports(plain, n) == {"port": "6379", "tls-port": "6380", "tls-replication": "no"} for n in NODES)
                assert all(int(plain.master_record(n)["port"]) == 6379 for n in NODES)
        # After step 2: Sentinel names the master at its TLS port; same master, replicas over TLS.
        assert tls.wait_settled(timeout=60) == master, "the move changed the master"
        for n in NODES:
            assert _ports(tls, n) == {"port": "6379", "tls-port": "6380", "tls-replication": "yes"}, n
            assert int(tls.master_record(n)["port"]) == 6380
            if n != master:
                assert int(tls.replication(n)["master_port"]) == 6380
        # 3. The clients move: TLS to the Sentinels' TLS ports and to the master.
        moved = Writer(tls, "tls-on-moved", reconnect_every=25)
        moved.start()
        moved.wait_acks(200, timeout=60)
        follower.stop()
        log.append({"step": "3 clients move (second writer over TLS, first stopped)", "rc": 0,
                    "failed requests": [sum(follower.errors.values()), sum(moved.errors.values())]})
        # 4. The scenario's own variables: TLS only.
        _step("4 close the plain ports", {}, [moved], log)
    finally:
        follower.stop() if follower.is_alive() else None
        if moved is not None and moved.is_alive():
            moved.stop()
    final = tls.wait_settled(timeout=60)
    keys = follower.acked + (moved.acked if moved else [])
    lost = tls.missing(final, keys)
    masters = tls.masters()
    summary = {"acknowledged": len(keys), "lost": len(lost), "master": f"{master} -> {final}",
               "follower errors": follower.errors, "moved errors": moved.errors if moved else None,
               "longest gap s": round(max(follower.longest_gap(), moved.longest_gap() if moved else 0.0), 2)}
    print(f"[summary] {json.dumps(summary)}")
    (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls-on-results.json").write_text(
        json.dumps({"steps": log, "summary": summary}, indent=1) + "\n", encoding="utf-8")
    assert final == master and masters == [master], f"masters {masters}, settled {final}"
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    assert not follower.errors, f"the writer that follows Sentinel failed requests: {follower.errors}"
    assert moved is not None and not moved.errors, f"the moved writer failed requests: {moved.errors}"
