"""Real client drills: Celery (kombu's Sentinel transport), Node.js ioredis and
Django django-redis, each with the settings docs/clients.md recommends, run
at the same time through one event (a kill -9 of the master or a planned
switchover) of a group deployed by hardened.redis.site.

Used by the backup scenario's light drill (molecule/backup/tests/test_clients.py,
one kill) and by the full drill (bench/clients.py, make bench-clients).
Needs sentinel_lab (molecule/resources/tests) on sys.path and, for ioredis,
``npm ci`` done in tests/clients/node (make deps).
"""

from __future__ import annotations

import base64
import faulthandler
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from sentinel_lab import MASTER_NAME, Group, secret, wait_for

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
sys.path.insert(0, str(HERE))

from celery_drill import TASK, celery_config  # noqa: E402  pylint: disable=wrong-import-position


def _longest_gap(times: list[float], since: float) -> float | None:
    """Longest gap between two successes that ends after ``since`` (seconds)."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:]) if b > since]
    return round(max(gaps), 3) if gaps else None


def _client_env(group: Group) -> dict:
    return dict(os.environ,
                DRILL_SENTINELS=" ".join(f"{group.ip[n]}:{group.sentinel_port}" for n in group.names),
                DRILL_MASTER_NAME=MASTER_NAME,
                REDIS_APP_PASSWORD=secret("app"),
                REDIS_SENTINEL_CLIENT_PASSWORD=secret("sentinel-client"))


class CeleryDrill:
    """A Celery worker (its own process, prefork pool) and a producer thread
    submitting one job every ``interval`` seconds. Each job records each of its
    runs in one hash (tests/clients/celery_drill.py), so that a job that ran
    twice is seen."""

    name = "Celery 5 (kombu sentinel://)"

    def __init__(self, group: Group, tag: str, workdir: Path, interval: float = 0.02, concurrency: int = 2):
        from celery import Celery  # pylint: disable=import-outside-toplevel
        self.group = group
        self.tag = tag
        self.queue = f"drill-{tag}"
        self.runs_key = f"drill:{tag}:runs"
        self.interval = interval
        self.concurrency = concurrency
        self.env = dict(_client_env(group), PYTHONPATH=str(HERE))
        self.log = workdir / f"celery-{tag}.log"
        sentinels = [(group.ip[n], group.sentinel_port) for n in group.names]
        self.app = Celery(f"producer-{tag}")
        self.app.conf.update(celery_config(sentinels, MASTER_NAME, secret("app"), secret("sentinel-client")))
        self.submitted: list[str] = []
        self.submit_times: dict[str, float] = {}
        self.submit_failed: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._watch = threading.Thread(target=self._supervise, daemon=True)
        self.worker: subprocess.Popen | None = None
        self.worker_exits: list[int] = []

    def start(self):
        self._spawn()
        self._thread.start()
        self._watch.start()
        return self

    def _spawn(self):
        with open(self.log, "a", encoding="utf-8") as log:
            self.worker = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "celery", "-A", "celery_drill", "worker", "-Q", self.queue,
                 "-c", str(self.concurrency), "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-l", "INFO"],
                cwd=HERE, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _supervise(self):
        """What systemd's Restart=always does for a worker that exits: start it again (counted)."""
        while not self._stop.is_set():
            if self.worker is not None and self.worker.poll() is not None and not self._stop.is_set():
                self.worker_exits.append(self.worker.returncode)
                self._spawn()
            self._stop.wait(0.5)

    def _produce(self):
        i = 0
        while not self._stop.is_set():
            job = f"{self.tag}-{i}"
            i += 1
            try:
                # Publishing retries by task_publish_retry_policy; what still
                # fails is known to the producer (not lost).
                self.app.send_task(TASK, args=[self.runs_key, job], queue=self.queue)
                self.submitted.append(job)
                self.submit_times[job] = time.time()
            except Exception as exc:  # pylint: disable=broad-except  # counted by kind
                kind = type(exc).__name__
                self.submit_failed[kind] = self.submit_failed.get(kind, 0) + 1
            self._stop.wait(self.interval)

    def runs(self) -> dict[str, list[float]]:
        """job -> the times (epoch s) of its recorded runs, read from the master as admin."""
        master = self.group.agreed_master()
        raw = self.group.node(master, timeout=10).hgetall(self.runs_key)
        out: dict[str, list[float]] = {}
        for field, value in raw.items():
            out.setdefault(field.rsplit("/", 1)[0], []).append(float(value))
        return out

    def progress(self) -> int:
        return len(self.runs())

    def stop(self, timeout: float = 180.0) -> dict:
        """Stop submitting, wait until every submitted job ran (or timeout), stop the worker, count."""
        self._stop.set()
        self._thread.join(timeout=60)
        self._watch.join(timeout=10)
        want = set(self.submitted)
        # Until every submitted job ran, or nothing ran for 30 s (the rest is lost).
        deadline, missing, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            now_missing = len(want - set(self.runs()))
            if now_missing == 0 or (now_missing == missing and time.monotonic() - since > 30):
                break
            if now_missing != missing:
                missing, since = now_missing, time.monotonic()
            time.sleep(1)
        runs = self.runs()
        # Messages left in kombu's unacked hash come back after visibility_timeout:
        # each is a job that would run (again) an hour later.
        master = self.group.node(self.group.agreed_master(), timeout=10)
        unacked = {job for job in (_job_of(v, self.queue) for v in master.hvals("unacked")) if job}
        if self.worker:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        master.unlink(self.runs_key, self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}")
        return {"submitted": len(self.submitted), "completed": len(want & set(runs)),
                "lost": len(want - set(runs) - unacked), "run_twice": sum(1 for j in want if len(runs.get(j, [])) > 1),
                "delayed": len(unacked - set(runs)), "rerun_later": len(unacked & set(runs)),
                "worker_exits": len(self.worker_exits),
                "submit_failed": sum(self.submit_failed.values()), "errors": dict(self.submit_failed),
                "lost_submitted_at": sorted(self.submit_times[j] for j in want - set(runs) - unacked),
                "times": sorted(t for job in want for t in runs.get(job, [])[:1])}

    def worker_log(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _job_of(raw: str, queue: str) -> str | None:
    """The job id of a message in kombu's unacked hash ([message, exchange, routing key]) of ``queue``."""
    try:
        message, _, routing_key = json.loads(raw)
        if routing_key != queue:
            return None
        args = json.loads(base64.b64decode(message["body"]))[0]
        return args[1]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class NodeDrill:
    """tests/clients/node/writer.js (ioredis) in its own process: SET + WAIT 1."""

    name = "Node.js ioredis"

    def __init__(self, group: Group, tag: str, workdir: Path, interval_ms: int = 5):
        self.group = group
        self.prefix = f"drill:{tag}:node"
        self.out = workdir / f"ioredis-{tag}.json"
        self.log = workdir / f"ioredis-{tag}.log"
        self.env = dict(_client_env(group), DRILL_PREFIX=self.prefix, DRILL_OUT=str(self.out),
                        DRILL_INTERVAL_MS=str(interval_ms))
        self.proc: subprocess.Popen | None = None

    def start(self):
        if not (NODE_DIR / "node_modules" / "ioredis").is_dir():
            raise AssertionError(f"ioredis is not installed in {NODE_DIR}: run make deps (npm ci there)")
        with open(self.log, "w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(["node", "writer.js"], cwd=NODE_DIR, env=self.env,  # pylint: disable=consider-using-with
                                         stdout=log, stderr=subprocess.STDOUT)
        return self

    def progress(self) -> int:
        """Acknowledged writes so far (the writer logs "acked N" every 50)."""
        counts = re.findall(r"^acked (\d+)$", self.log.read_text(encoding="utf-8", errors="replace"), re.M)
        return int(counts[-1]) if counts else 0

    def stop(self) -> dict:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not self.out.exists():
            raise AssertionError(f"writer.js wrote no result (exit {self.proc.returncode}): {self.log.read_text()[-2000:]}")
        result = json.loads(self.out.read_text())
        master = self.group.agreed_master()
        keys = [k for k, _ in result["acked"]]
        lost = self.group.missing(master, keys)
        node = self.group.node(master, timeout=10)
        leftover = list(node.scan_iter(match=f"{self.prefix}:*", count=1000))   # the drill's keys, written or not
        for i in range(0, len(leftover), 1000):
            node.unlink(*leftover[i:i + 1000])
        return {"submitted": result["attempts"], "completed": len(keys), "lost": len(lost),
                "failed": result["failed"], "errors": result["errors"], "reconnects": result["reconnects"], "ends": result.get("ends", 0),
                "times": [t / 1000.0 for _, t in result["acked"]]}


class DjangoDrill:
    """django-redis's SentinelClient (settings of docs/clients.md) in a thread:
    cache.set then cache.get of the same key, errors counted."""

    name = "Django django-redis"

    def __init__(self, group: Group, tag: str, interval: float = 0.01):
        self.group = group
        self.prefix = f"drill-{tag}-django"
        self.interval = interval
        self.cache = django_cache(group)
        self.set_ok: list[float] = []
        self.hits = 0
        self.misses = 0
        self.errors: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        i = 0
        while not self._stop.is_set():
            key = f"{self.prefix}:{i % 1000}"
            i += 1
            try:
                self.cache.set(key, i, timeout=600)
                self.set_ok.append(time.time())
                if self.cache.get(key) == i:
                    self.hits += 1
                else:
                    self.misses += 1   # a replica not yet up to date (reads go to replicas)
            except redis.RedisError as exc:
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                time.sleep(0.02)
            self._stop.wait(self.interval)

    def progress(self) -> int:
        return len(self.set_ok)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=30)
        self.cache.delete_pattern(f"{self.prefix}:*")   # SCAN + DEL: allowed for app
        return {"submitted": len(self.set_ok) + sum(self.errors.values()), "completed": len(self.set_ok),
                "lost": None, "failed": sum(self.errors.values()), "errors": dict(self.errors),
                "hits": self.hits, "stale_reads": self.misses, "times": list(self.set_ok)}


_DJANGO: dict = {}


def django_cache(group: Group):
    """Django configured once per process with the recommended django-redis settings; the cache."""
    import django  # pylint: disable=import-outside-toplevel
    from django.conf import settings  # pylint: disable=import-outside-toplevel
    key = tuple(sorted(group.ip.values()))
    if not settings.configured:
        settings.configure(
            DJANGO_REDIS_CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
            CACHES={"default": django_caches(group)})
        django.setup()
        _DJANGO["key"] = key
    if _DJANGO.get("key") != key:
        raise AssertionError("Django is configured for another group in this process")
    from django.core.cache import cache  # pylint: disable=import-outside-toplevel
    return cache


def django_caches(group: Group) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://app@{MASTER_NAME}/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "SENTINELS": [(group.ip[n], group.sentinel_port) for n in group.names],
            "SENTINEL_KWARGS": {"username": "client", "password": secret("sentinel-client"),
                                "socket_timeout": 0.5, "socket_connect_timeout": 0.5},
            "PASSWORD": secret("app"),
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 1.0,
        },
    }


def django_after_failover(cache, key: str, timeout: float = 30.0) -> dict:
    """Set/get work again (reads may hit a replica: retried until it has the value),
    and what needs @dangerous: cache.clear() (FLUSHDB) fails with NOPERM."""
    def works():
        cache.set(key, "after", timeout=60)
        return cache.get(key) == "after" or "get did not return the value yet"
    wait_for("django-redis set/get after the failover", works, timeout, 0.2)
    cache.delete(key)
    try:
        cache.clear()
    except redis.exceptions.NoPermissionError as exc:
        return {"set_get": True, "clear": f"NoPermissionError: {exc}"}
    return {"set_get": True, "clear": "succeeded"}


def start_all(group: Group, tag: str, workdir: Path) -> list:
    """The three drills, started. (The URL-only client through the endpoint has
    its own drill: molecule/sentinel's test_sentinel_endpoint.py, make bench-endpoint.)"""
    drills = [CeleryDrill(group, tag, workdir), NodeDrill(group, tag, workdir), DjangoDrill(group, tag)]
    for d in drills:
        d.start()
    return drills


def wait_progress(drills: list, count: int, timeout: float):
    """Each drill makes ``count`` more successes within ``timeout``."""
    start = {id(d): d.progress() for d in drills}
    for d in drills:
        wait_for(f"{d.name}: {count} more successes", lambda d=d: d.progress() - start[id(d)] >= count or
                 f"{d.progress() - start[id(d)]} more", timeout, 0.5)


def through_event(group: Group, tag: str, workdir: Path, event) -> list[dict]:
    """All drills under load, ``event(group, master)`` once (returns the new master),
    each drill makes progress after it, the group settles, the drills stop.
    One row per drill: client, submitted, completed, lost, run_twice, failed, outage."""
    old = group.wait_settled(timeout=120)
    drills = start_all(group, tag, workdir)
    try:
        wait_progress(drills, 50, 90)
        at = time.time()
        new, landed = event(group, old)
        done = time.time()
        wait_progress(drills, 50, 90)
        group.wait_rejoined(old, new, 120)
        group.wait_settled(timeout=120)
        wait_progress(drills, 20, 60)
    except Exception:
        faulthandler.dump_traceback(all_threads=True)
        for d in drills:
            if isinstance(d, CeleryDrill):
                print(f"--- Celery worker log ({d.log}):\n{d.worker_log()}")
        raise
    finally:
        results = []
        for d in drills:
            try:
                results.append((d, d.stop()))
            except Exception as exc:  # pylint: disable=broad-except  # reported in the row
                results.append((d, {"error": repr(exc)}))
    rows = []
    for d, r in results:
        times = r.pop("times", [])
        lost_at = [round(t - landed, 3) for t in r.pop("lost_submitted_at", [])]
        rows.append(dict(r, client=d.name, outage=_longest_gap(times, at), after=sum(1 for t in times if t > done),
                         event_landed=round(landed - at, 3), **({"lost_submitted_at": lost_at} if lost_at else {})))
    return rows


def kill_master(group: Group, old: str) -> tuple[str, float]:
    """kill -9 of the master's redis-server; (the new master, when the kill command returned)."""
    group.kill_data_node(old)
    landed = time.time()
    return group.wait_new_master(old, 60), landed
