"""Helpers for the chaos scenario, on top of sentinel_lab and rolling_lab (imported, not copied).

Faults are injected from the controller with docker (kill, start, restart,
exec of kill/systemctl/iptables inside a container); the group is observed
through its data nodes and Sentinels as sentinel_lab.Group does. Every test
adds one row of facts to <ephemeral>/chaos-results.json (bench/reliability.py
turns those rows into docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import redis

from rolling_lab import TimedWriter
from sentinel_lab import DATA_PORT, UNIT, Group, secret, wait_for

RESULTS_FILE = "chaos-results.json"


def results_path() -> str:
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], RESULTS_FILE)


def reset_results():
    with open(results_path(), "w", encoding="utf-8") as f:
        json.dump([], f)


def add_result(row: dict):
    """Append one fault's row to the results file (rewritten whole, so it is valid JSON after every test)."""
    path = results_path()
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    rows = [r for r in rows if r.get("fault") != row["fault"]] + [row]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)


def refusal(exc: redis.RedisError) -> str:
    """The server's error code (NOREPLICAS, READONLY, ...), else the client's exception name."""
    if isinstance(exc, redis.ResponseError):
        return exc.status_code or str(exc).split(" ", 1)[0]
    return type(exc).__name__


_CODED: dict[str, type] = {}


class _CodedErrors:
    """A redis client whose server refusals are raised as a ResponseError
    subclass named after the error code (NOREPLICAS, ...), so that Writer
    counts them by code instead of as 'ResponseError'."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except redis.ResponseError as exc:
                code = refusal(exc)
                if code not in _CODED:
                    _CODED[code] = type(code, (redis.ResponseError,), {})
                raise _CODED[code](str(exc)) from exc
        return call


class ChaosWriter(TimedWriter):
    """sentinel_lab.Writer (through rolling_lab.TimedWriter: failed writes
    keep their time) with server refusals counted by error code."""

    def __init__(self, group: Group, prefix: str, **kwargs):
        super().__init__(group, prefix, **kwargs)
        self.master = _CodedErrors(self.master)


def agreed_master(group: Group, among: list[str]) -> str | None:
    """The node that the Sentinels of `among` all name as master, or None while they disagree."""
    seen = {group.sentinel_master(s) for s in among}
    return seen.pop() if len(seen) == 1 else None


def settle_watching(group: Group, old: str, timeout: float) -> tuple[str, float | None]:
    """Group.wait_settled, also noting when every Sentinel first named a
    master other than `old` (None: the master never moved)."""
    moved: list[float] = []

    def probe():
        if not moved:
            try:
                if agreed_master(group, group.names) not in (None, old):
                    moved.append(time.monotonic())
            except (redis.RedisError, OSError):
                pass
        why = group.not_ready()
        return True if why is None else why
    wait_for("group settled", probe, timeout)
    return group.agreed_master(), (moved[0] if moved else None)


def masters(group: Group) -> list[str]:
    """Nodes that answer and say role master (a node that is down or loading is skipped)."""
    found = []
    for n in group.names:
        try:
            if group.replication(n).get("role") == "master":
                found.append(n)
        except (redis.RedisError, OSError):
            pass
    return found


class SwitchWatcher(threading.Thread):
    """Every ``+switch-master`` each Sentinel publishes while it runs (one per
    failover it takes part in): how many failovers really happened, also a
    quick extra one that polling for the agreed master would miss."""

    def __init__(self, group: Group):
        super().__init__(daemon=True)
        self.seen: dict[str, list[str]] = {n: [] for n in group.names}
        self._subs = []
        for n in group.names:
            ps = group.sentinel(n).pubsub(ignore_subscribe_messages=True)
            ps.subscribe("+switch-master")
            self._subs.append((n, ps))
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            for n, ps in self._subs:
                try:
                    msg = ps.get_message(timeout=0.02)
                except (redis.RedisError, OSError):
                    continue
                if msg and msg.get("type") == "message":
                    self.seen[n].append(msg["data"])

    def stop(self) -> int:
        """Stop watching; the number of failovers (the most any Sentinel saw)."""
        self._stop_event.set()
        self.join(timeout=5)
        for _n, ps in self._subs:
            ps.close()
        return max(len(v) for v in self.seen.values())


def dbsizes(group: Group) -> dict[str, int | None]:
    """DBSIZE of every node; None for a node that does not answer (down, loading)."""
    sizes: dict[str, int | None] = {}
    for n in group.names:
        try:
            sizes[n] = int(group.node(n, timeout=0.5).dbsize())
        except (redis.RedisError, OSError):
            sizes[n] = None
    return sizes


def main_pid(group: Group, name: str, unit: str = UNIT) -> int:
    return int(group.docker(name, "systemctl", "show", "-p", "MainPID", "--value", unit).strip())


def restarts(group: Group, name: str, unit: str = UNIT) -> int:
    return int(group.docker(name, "systemctl", "show", "-p", "NRestarts", "--value", unit).strip())


def restart_usec(group: Group, name: str, unit: str = UNIT) -> str:
    return group.docker(name, "systemctl", "show", "-p", "RestartUSec", "--value", unit).strip()


class DbsizeSampler(threading.Thread):
    """DBSIZE of every node every `interval` seconds; keeps the smallest
    answer per node (a node that does not answer is not sampled)."""

    def __init__(self, group: Group, interval: float = 0.05):
        super().__init__(daemon=True)
        self.group = group
        self.interval = interval
        self.smallest: dict[str, int] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            for n, size in dbsizes(self.group).items():
                if size is not None:
                    self.smallest[n] = min(size, self.smallest.get(n, size))
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self._stop_event.set()
        self.join(timeout=10)
        return self.smallest


class DirectWriter(threading.Thread):
    """SET as the application user straight to one node's address (no
    Sentinel): records when each write was accepted or refused, and why."""

    def __init__(self, group: Group, name: str, prefix: str):
        super().__init__(daemon=True)
        self.client = redis.Redis(host=group.ip[name], port=DATA_PORT, username="app", password=secret("app"),
                                  protocol=2, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self.accepted: list[float] = []
        self.refused: list[tuple[float, str]] = []
        self._stop_event = threading.Event()

    def run(self):
        i = 0
        while not self._stop_event.is_set():
            try:
                self.client.set(f"{self.prefix}:{i}", i)
                self.accepted.append(time.monotonic())
            except redis.RedisError as exc:
                self.refused.append((time.monotonic(), refusal(exc)))
            i += 1
            time.sleep(0.02)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)

    def first_refusal(self, since: float, reason: str) -> float | None:
        return next((t for t, why in self.refused if t >= since and why == reason), None)

    def accepted_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.accepted if start <= t <= end)


def resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        data = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class QueuedWrite:
    """A SET that waits in the kernel while the node's process is stopped,
    answered once it resumes (+OK: executed as a master).

    connect() opens and authenticates the connection (before the freeze, for
    a client with a pooled connection; during it, for a new client: the
    kernel accepts it and keeps the bytes); send() sends the SET."""

    def __init__(self, ip: str, key: str):
        self.ip = ip
        self.key = key
        self.sock: socket.socket | None = None
        self.authenticated = False

    def connect(self, wait_auth: bool) -> QueuedWrite:
        self.sock = socket.create_connection((self.ip, DATA_PORT), timeout=5)
        self.sock.sendall(resp("AUTH", "admin", secret("admin")))
        if wait_auth:
            self.authenticated = self._read(1) == ["+OK"]
        return self

    def send(self) -> QueuedWrite:
        self.sock.sendall(resp("SET", self.key, "queued"))
        return self

    def _read(self, replies: int, timeout: float = 5.0) -> list[str]:
        self.sock.settimeout(timeout)
        buf = b""
        while buf.count(b"\r\n") < replies:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        return [line.decode(errors="replace") for line in buf.split(b"\r\n") if line]

    def answer(self, timeout: float = 10.0) -> tuple[str, str | None]:
        """The SET's answer (after AUTH's, when that was not read yet) and,
        when the SET was executed, the answer of WAIT 1 100 on the same connection."""
        try:
            got = self._read(1 if self.authenticated else 2, timeout)
            if not self.authenticated:
                if got[:1] != ["+OK"]:
                    return f"AUTH refused: {got}", None
                got = got[1:]
            answer = got[0] if got else "no answer"
            if answer != "+OK":
                return answer, None
            self.sock.sendall(resp("WAIT", "1", "100"))
            waited = self._read(1, timeout)
            return answer, waited[0] if waited else "no answer"
        finally:
            self.sock.close()


def partition(group: Group, name: str, heal: bool = False):
    """Drop traffic between `name` and the other nodes (both directions),
    inside `name`'s container; the controller (the network's gateway) still
    reaches it. heal=True deletes exactly those rules."""
    op = "-D" if heal else "-I"
    for other in group.names:
        if other == name:
            continue
        group.docker(name, "iptables", op, "INPUT", "-s", group.ip[other], "-j", "DROP")
        group.docker(name, "iptables", op, "OUTPUT", "-d", group.ip[other], "-j", "DROP")


def docker_parallel(*argvs: list[str]) -> list[subprocess.CompletedProcess]:
    """Run several docker commands at the same time; wait for all."""
    procs = [subprocess.Popen(["docker", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv in argvs]
    done = []
    for argv, p in zip(argvs, procs):
        out, err = p.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, p.returncode, out, err))
    return done
