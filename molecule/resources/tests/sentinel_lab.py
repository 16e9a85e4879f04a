"""Helpers for the Sentinel scenario: the group seen from the controller.

Containers are reached at their addresses on the scenario network (the host
routes to them), data nodes as the redis role's ``admin`` user, Sentinels as
the sentinel role's ``admin`` user, the application as ``app`` through
redis-py's Sentinel client (Sentinel user ``client``). Passwords come from the
controller-side files the roles generated; they never reach a command line.
A TLS-only group (the tls scenario) is reached on its TLS ports with the
redis-py SSL options given to ``Group`` (the writer uses them too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedSSLConnection

# The group's name in SENTINEL commands (redis_master_name; a scenario that
# sets another one says so in its verifier env) and the nodes' instance
# (redis_instance: unit names and paths), which are not the same thing.
MASTER_NAME = os.environ.get("HARDENED_REDIS_MASTER_NAME", "main")
INSTANCE = "main"
DATA_PORT = 6379
SENTINEL_PORT = 26379
UNIT = "redis-hardened@main.service"


def secret(name: str) -> str:
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials" / name
    return path.read_text().split()[0]


def container_ip(name: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[0]


def pairs(flat):
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[0::2], flat[1::2]))


def thread_stack(thread: threading.Thread) -> str:
    """Where a (stuck) thread is now: its innermost frames."""
    frame = sys._current_frames().get(thread.ident)
    return "".join(traceback.format_stack(frame)[-12:]) if frame else "(not running)"


def wait_for(what: str, probe, timeout: float, interval: float = 0.2):
    """Call probe() until it returns a truthy value; fail with its last answer after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last and not isinstance(last, str):
                return last
        except (redis.RedisError, OSError) as exc:
            last = repr(exc)
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout}s (last: {last})")


class Group:
    """The three containers: data node + Sentinel on each.

    ``tls``: redis-py SSL options (``ssl_ca_certs``, ``ssl_certfile``,
    ``ssl_keyfile``) for a group that listens with TLS on ``data_port`` and
    ``sentinel_port``; every client of the group, the writer's included, uses them.
    ``engine``: ``redis`` or ``valkey``, the roles' redis_engine (names the data node's unit); or a dict
    node -> engine for a group whose nodes differ (a move to Valkey), where ``engine`` and ``unit`` are None
    and ``unit_of(node)`` names each node's unit.
    """

    def __init__(self, names, data_port: int = DATA_PORT, sentinel_port: int = SENTINEL_PORT, tls: dict | None = None,
                 engine: str | dict = "redis", addresses: dict | None = None):
        self.names = list(names)
        self.engines = dict(engine) if isinstance(engine, dict) else {n: engine for n in self.names}
        self.engine = None if isinstance(engine, dict) else engine
        self.unit = None if isinstance(engine, dict) else f"{engine}-hardened@{INSTANCE}.service"
        # ``addresses``: nodes that are not containers (the vm scenario's guests), name -> address.
        self.ip = {n: (addresses or {}).get(n) or container_ip(n) for n in self.names}
        self.name_of = {ip: n for n, ip in self.ip.items()}
        self.data_port = data_port
        self.sentinel_port = sentinel_port
        self.ssl = dict(tls, ssl=True) if tls else {}

    def unit_of(self, name) -> str:
        """The data node's systemd unit on ``name``."""
        return f"{self.engines[name]}-hardened@{INSTANCE}.service"

    def sentinel_unit_of(self, name) -> str:
        """The Sentinel's systemd unit on ``name``."""
        return f"{self.engines[name]}-sentinel-hardened@{INSTANCE}.service"

    # -- clients ---------------------------------------------------------
    def node(self, name, timeout=2.0, fail_fast=False) -> redis.Redis:
        """``fail_fast``: no retry (redis-py retries three times with a growing
        backoff): one answer or one error within ``timeout``, for a probe of a
        node that may be gone."""
        return redis.Redis(host=self.ip[name], port=self.data_port, username="admin", password=secret("admin"),
                           protocol=2, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True,
                           **({"retry": Retry(NoBackoff(), 0)} if fail_fast else {}), **self.ssl)

    def sentinel(self, name) -> redis.Redis:
        return redis.Redis(host=self.ip[name], port=self.sentinel_port, username="admin", password=secret("sentinel-admin"),
                           protocol=2, socket_timeout=2, socket_connect_timeout=2, decode_responses=True, **self.ssl)

    # -- state -----------------------------------------------------------
    @staticmethod
    def engine_of(client: redis.Redis) -> str:
        """``valkey`` or ``redis``, from what the server says in INFO server."""
        server = client.info("server")
        return "valkey" if server.get("valkey_version") or server.get("server_name") == "valkey" else "redis"

    def sentinel_master(self, name) -> str | None:
        addr = self.sentinel(name).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return self.name_of.get(addr[0]) if addr else None

    def agreed_master(self) -> str | None:
        """The node every Sentinel names as master, or None while they disagree."""
        seen = {self.sentinel_master(s) for s in self.names}
        return seen.pop() if len(seen) == 1 else None

    def master_record(self, name) -> dict:
        return pairs(self.sentinel(name).execute_command("SENTINEL", "MASTER", MASTER_NAME))

    def replication(self, name) -> dict:
        return self.node(name).info("replication")

    def not_ready(self, expected_replicas: list[str] | None = None) -> str | None:
        """None when the group is settled: one agreed master, every other node
        its replica, online, link up; every Sentinel knows 2 replicas and 2
        other Sentinels, flags 'master', CKQUORUM OK."""
        master = self.agreed_master()
        if master is None:
            return "Sentinels disagree on the master"
        replicas = [n for n in self.names if n != master] if expected_replicas is None else expected_replicas
        info = self.replication(master)
        if info.get("role") != "master":
            return f"{master} says role {info.get('role')}"
        online = [v["ip"] for k, v in info.items()
                  if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"]
        for r in replicas:
            if self.ip[r] not in online:
                return f"{r} not online on {master} ({online})"
            rinfo = self.replication(r)
            if rinfo.get("master_host") != self.ip[master] or rinfo.get("master_link_status") != "up":
                return f"{r}: master {rinfo.get('master_host')} link {rinfo.get('master_link_status')}"
        for s in self.names:
            rec = self.master_record(s)
            # Sentinel keeps a node that is down in its table of replicas.
            if rec["flags"] != "master" or int(rec["num-slaves"]) != len(self.names) - 1 \
                    or int(rec["num-other-sentinels"]) != len(self.names) - 1:
                return f"sentinel {s}: flags {rec['flags']} replicas {rec['num-slaves']} others {rec['num-other-sentinels']}"
            ck = self.sentinel(s).execute_command("SENTINEL", "CKQUORUM", MASTER_NAME)
            if not str(ck).startswith("OK"):
                return f"sentinel {s}: CKQUORUM {ck}"
        return None

    def wait_settled(self, timeout=60.0) -> str:
        def probe():
            why = self.not_ready()
            return True if why is None else why
        wait_for("group settled", probe, timeout)
        return self.agreed_master()

    def masters(self) -> list[str]:
        """Nodes that answer and say role master (a node that is down is skipped)."""
        found = []
        for n in self.names:
            try:
                if self.replication(n).get("role") == "master":
                    found.append(n)
            except (redis.RedisError, OSError):  # the killed node may be down
                pass
        return found

    def wait_new_master(self, old: str, timeout: float = 30.0) -> str:
        """The master every Sentinel agrees on, once it is not ``old``."""
        return wait_for("Sentinels agree on a new master",
                        lambda: ([m] if (m := self.agreed_master()) not in (None, old) else f"master {m}"), timeout)[0]

    def rejoined(self, node: str, master: str):
        """Probe: ``node`` replicates from ``master`` with its link up (True), else what it says."""
        info = self.replication(node)
        if info.get("role") == "slave" and info.get("master_host") == self.ip[master] and info.get("master_link_status") == "up":
            return True
        return f"{node}: role {info.get('role')} master {info.get('master_host')} link {info.get('master_link_status')}"

    def wait_rejoined(self, node: str, master: str, timeout: float = 90.0):
        wait_for(f"{node} rejoins as a replica of {master}", lambda: self.rejoined(node, master), timeout, 0.1)

    def missing(self, master: str, keys: list[str]) -> list[str]:
        client = self.node(master)
        lost = []
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            pipe = client.pipeline(transaction=False)
            for k in chunk:
                pipe.exists(k)
            lost += [k for k, ok in zip(chunk, pipe.execute()) if not ok]
        return lost

    # -- actions ---------------------------------------------------------
    def docker(self, name, *argv, check=True) -> str:
        return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=check).stdout

    def kill_data_node(self, name):
        self.docker(name, "systemctl", "kill", "--signal=KILL", self.unit_of(name))


class PortTLSConnection(SentinelManagedSSLConnection):
    """A Sentinel-managed connection that speaks TLS when Sentinel names a
    port in ``tls_ports`` and plain otherwise: a client that follows a group
    through a change of transport (Sentinel names one address per master)."""

    tls_ports: frozenset = frozenset()

    def _connect(self):
        if self.port in self.tls_ports:
            return super()._connect()
        return Connection._connect(self)


class Writer(threading.Thread):
    """A continuous writer through redis-py's Sentinel client. A key counts
    as acknowledged only when WAIT 1 reports at least one replica; every
    acknowledged key and the time of its acknowledgement are kept.

    ``tls_ports`` with ``data_tls`` (redis-py SSL options): TLS to the master
    only when Sentinel names one of those ports (PortTLSConnection).
    ``reconnect_every`` n: drop the connections every n writes, so that the
    writer asks Sentinel for the master's address again (as new clients do).
    ``reconnect_sentinels``: with ``reconnect_every``, drop the connections to
    the Sentinels too (each reconnect then logs in to a Sentinel again).
    ``app_password`` / ``client_password``: the ``app`` user's and Sentinel's
    ``client`` user's passwords (default: the current ones), for a writer that
    keeps an old password through a rotation.
    ``interval``: seconds to sleep after each acknowledged write (0: as fast as
    it can), for a writer that runs through long playbook runs.
    ``sentinel_retries``: how often redis-py retries a call to one Sentinel
    (None: its default, three times with a growing backoff). With a Sentinel
    host that lost power the default stalls every write for minutes (each
    master lookup waits on the dead Sentinel first); 0 moves on to the next
    Sentinel at once, as docs/clients.md recommends."""

    def __init__(self, group: Group, prefix: str, wait_ms: int = 500, socket_timeout: float = 1.0,
                 data_tls: dict | None = None, tls_ports=(), reconnect_every: int = 0, reconnect_sentinels: bool = False,
                 app_password: str | None = None, client_password: str | None = None, interval: float = 0.0,
                 sentinel_retries: int | None = None):
        super().__init__(daemon=True)
        assert wait_ms / 1000.0 < socket_timeout, "WAIT's timeout must stay below the socket timeout"
        self.prefix = prefix
        self.wait_ms = wait_ms
        self.reconnect_every = reconnect_every
        self.interval = interval
        sentinel = Sentinel([(group.ip[n], group.sentinel_port) for n in group.names],
                            sentinel_kwargs={"username": "client", "password": client_password or secret("sentinel-client"),
                                             "socket_timeout": 0.5, "socket_connect_timeout": 0.5, "protocol": 2, **group.ssl,
                                             **({} if sentinel_retries is None
                                                else {"retry": Retry(NoBackoff(), sentinel_retries)})},
                            username="app", password=app_password or secret("app"), protocol=2,
                            socket_timeout=socket_timeout, socket_connect_timeout=0.5,
                            **({} if data_tls else group.ssl))
        extra = {}
        if data_tls:
            extra = dict(data_tls, connection_class=type("Ports", (PortTLSConnection,), {"tls_ports": frozenset(tls_ports)}))
        self.master = sentinel.master_for(MASTER_NAME, decode_responses=True, **extra)
        self.sentinels = sentinel.sentinels if reconnect_sentinels else []
        self.acked: list[str] = []
        self.ack_times: list[float] = []
        self.errors: dict[str, int] = {}
        self._stop_event = threading.Event()
        self.i = 0

    def run(self):
        while not self._stop_event.is_set():
            key = f"{self.prefix}:{self.i}"
            if self.reconnect_every and self.i % self.reconnect_every == 0:
                self.master.connection_pool.disconnect()
                for client in self.sentinels:
                    client.connection_pool.disconnect()
            try:
                self.master.set(key, self.i)
                if int(self.master.execute_command("WAIT", 1, self.wait_ms)) >= 1:
                    self.acked.append(key)
                    self.ack_times.append(time.monotonic())
                self.i += 1
                if self.interval:
                    self._stop_event.wait(self.interval)
            except redis.RedisError as exc:
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.i += 1
                time.sleep(0.02)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)
        assert not self.is_alive(), "the writer did not stop"

    def wait_acks(self, count: int, timeout: float):
        start = len(self.acked)
        try:
            wait_for(f"{count} more acknowledged writes", lambda: len(self.acked) - start >= count or
                     f"{len(self.acked) - start} acknowledged, errors {self.errors}", timeout, 0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the writer is at:\n{thread_stack(self)}") from None

    def longest_gap(self, since: float = 0.0) -> float:
        times = [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


# Runs on the endpoint host (its python3): HAProxy's runtime API every 20 ms, one line per
# sample: "<monotonic> <UP servers of redis_write, comma-separated>".
ENDPOINT_SAMPLER = r"""
import socket, sys, time
while True:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect('/run/haproxy/admin.sock')
        s.sendall(b'show servers state redis_write\n')
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        up = [f[3] for f in (l.split() for l in data.decode().splitlines()[1:]) if len(f) > 5 and not f[0].startswith('#') and f[5] == '2']
        print('%.3f %s' % (time.monotonic(), ','.join(up) or '-'), flush=True)
    except OSError as exc:
        print('%.3f error %s' % (time.monotonic(), exc), flush=True)
    finally:
        s.close()
    time.sleep(0.02)
"""


class EndpointSampler(threading.Thread):
    """HAProxy's view of the write backend (hardened.redis.redis_endpoint), sampled on ``host`` all along:
    ``samples`` holds the UP servers of each sample."""

    def __init__(self, host: str):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(["docker", "exec", host, "python3", "-u", "-c", ENDPOINT_SAMPLER],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.samples: list[list[str]] = []
        self.errors = 0

    def run(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) >= 2 and parts[1] == "error":
                self.errors += 1
            elif len(parts) == 2:
                self.samples.append([] if parts[1] == "-" else parts[1].split(","))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.join(timeout=10)


class UrlWriter(threading.Thread):
    """A client that only knows a URL: SET, WAIT 1 and CLIENT INFO in one
    pipeline per key, through the endpoint. A key counts as acknowledged only
    when WAIT reports a replica; every reply records the node that served it
    (CLIENT INFO's laddr, the server's own address of the connection)."""

    def __init__(self, url: str, prefix: str):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5, decode_responses=True)
        self.prefix = prefix
        self.acked: list[str] = []
        self.ack_times: list[float] = []
        self.served: list[tuple[str, str]] = []   # (phase, node address) of every reply, in order
        self.phase = "start"
        self.errors: dict[str, int] = {}
        self._stop_event = threading.Event()
        self.i = 0

    def run(self):
        while not self._stop_event.is_set():
            key = f"{self.prefix}:{self.i}"
            self.i += 1
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.set(key, self.i)
                pipe.execute_command("WAIT", 1, 250)
                pipe.execute_command("CLIENT", "INFO")
                acks, info = pipe.execute()[1:]
                laddr = dict(f.split("=", 1) for f in str(info).split() if "=" in f).get("laddr", "?")
                self.served.append((self.phase, laddr.rsplit(":", 1)[0]))
                if int(acks) >= 1:
                    self.acked.append(key)
                    self.ack_times.append(time.monotonic())
            except redis.RedisError as exc:
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                time.sleep(0.02)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)
        assert not self.is_alive(), "the writer did not stop"

    def wait_acks(self, count: int, timeout: float):
        start = len(self.acked)
        wait_for(f"{count} more acknowledged writes through the endpoint",
                 lambda: len(self.acked) - start >= count or f"{len(self.acked) - start} acknowledged, errors {self.errors}",
                 timeout, 0.05)

    def longest_gap(self, since: float, until: float) -> float:
        times = [t for t in self.ack_times if since <= t <= until]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def run_playbook(playbook: str, *args: str, inventories: tuple = ()) -> subprocess.CompletedProcess:
    """ansible-playbook against the scenario's inventory, plus ``inventories`` (extra args: no secret)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE") or os.path.join(
        os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    cmd = ["ansible-playbook", "-i", inventory, *[a for i in inventories for a in ("-i", i)], playbook, *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="False", ANSIBLE_NOCOLOR="True")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)


def recap(output: str) -> dict[str, dict[str, int]]:
    result = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            result[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return result


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
