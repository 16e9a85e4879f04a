"""Helpers for the backup scenario: a dataset of every core type and a content
digest computed by type-specific reads (DEBUG DIGEST is disabled by hardening)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import redis

TTL_SECONDS = 3600


def fill(client: redis.Redis, scale: int = 1000) -> int:
    """Write strings, hashes, lists, sets, sorted sets, streams (with a consumer
    group) and keys with a TTL; returns the number of keys written."""
    pipe = client.pipeline(transaction=False)
    n = 0
    for i in range(scale * 5):
        pipe.set(f"str:{i}", f"value-{i}-" + "x" * (i % 50))
        n += 1
    for i in range(scale):
        pipe.hset(f"hash:{i}", mapping={f"f{j}": f"v{i}-{j}" for j in range(10)})
        pipe.rpush(f"list:{i}", *[f"item-{i}-{j}" for j in range(20)])
        pipe.sadd(f"set:{i}", *[f"m{i * 7 + j}" for j in range(15)])
        pipe.zadd(f"zset:{i}", {f"z{j}": j * 1.5 + i for j in range(15)})
        pipe.set(f"ttl:{i}", f"expiring-{i}", ex=TTL_SECONDS)
        pipe.hset(f"ttlhash:{i}", mapping={"a": i})
        pipe.expire(f"ttlhash:{i}", TTL_SECONDS)
        n += 6
        if i % 200 == 0:
            pipe.execute()
    pipe.execute()
    for i in range(max(scale // 10, 1)):
        key = f"stream:{i}"
        for j in range(50):
            client.xadd(key, {"n": str(j), "who": f"s{i}"}, id=f"{1700000000000 + j}-{i}")
        client.xgroup_create(key, "readers", id="0")
        n += 1
    # A few binary-safe values.
    client.set("bin:0", bytes(range(256)))
    client.hset("bin:1", mapping={"k": b"\x00\xff\x10"})
    return n + 2


def digest(client: redis.Redis) -> tuple[str, int]:
    """sha256 over (key, type, has-ttl, canonical value) of every key, and the key count."""
    keys = sorted(client.scan_iter(count=1000))
    h = hashlib.sha256()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        pipe = client.pipeline(transaction=False)
        for k in chunk:
            pipe.type(k)
            pipe.pttl(k)
        meta = pipe.execute()
        pipe = client.pipeline(transaction=False)
        types = []
        for j, k in enumerate(chunk):
            kind = meta[2 * j]
            kind = kind.decode() if isinstance(kind, bytes) else kind
            types.append(kind)
            if kind == "string":
                pipe.get(k)
            elif kind == "hash":
                pipe.hgetall(k)
            elif kind == "list":
                pipe.lrange(k, 0, -1)
            elif kind == "set":
                pipe.smembers(k)
            elif kind == "zset":
                pipe.zrange(k, 0, -1, withscores=True)
            elif kind == "stream":
                pipe.xrange(k, "-", "+")
            else:
                raise AssertionError(f"unexpected type {kind} of {k!r}")
        values = pipe.execute()
        for j, k in enumerate(chunk):
            kind, ttl, value = types[j], meta[2 * j + 1], values[j]
            if kind == "hash":
                value = sorted(value.items())
            elif kind == "set":
                value = sorted(value)
            elif kind == "stream":
                groups = client.xinfo_groups(k)
                value = [value, sorted((g.get("name", g.get(b"name")), g.get("last-delivered-id", g.get(b"last-delivered-id")))
                                       for g in groups)]
            h.update(repr((k, kind, ttl > 0, value)).encode())
    return h.hexdigest(), len(keys)


def playbook(path: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The venv's ansible-playbook against the scenario's inventory (no secret in args)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE") or os.path.join(
        os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    local = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    binary = local if os.path.exists(local) else "ansible-playbook"
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="False", ANSIBLE_NOCOLOR="True")
    return subprocess.run([binary, "-i", inventory, path, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)
