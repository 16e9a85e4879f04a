"""The client drill's Celery application: kombu's Sentinel transport, the
settings docs/clients.md recommends, and one task that records each of its
runs durably in Redis.

The worker runs as ``celery -A celery_drill worker ...`` with this folder on
PYTHONPATH; the producer (tests/clients/clients_lab.py) builds the same
configuration with ``celery_config()``. Environment for the worker (passwords
never on a command line):
  DRILL_SENTINELS "ip:port ip:port ..."  DRILL_MASTER_NAME
  REDIS_APP_PASSWORD (data user ``app``)  REDIS_SENTINEL_CLIENT_PASSWORD (Sentinel user ``client``)
"""

from __future__ import annotations

import os
import time
import uuid
from urllib.parse import quote

import redis
from celery import Celery
from redis.sentinel import Sentinel

TASK = "drill.record"


def sentinel_list(spec: str) -> list[tuple[str, int]]:
    return [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in spec.split()]


def celery_config(sentinels: list[tuple[str, int]], master_name: str, app_password: str, client_password: str) -> dict:
    """Celery settings for a hardened.redis group (documented in docs/clients.md#celery)."""
    return {
        # One sentinel:// URL per Sentinel, joined by ';' (kombu's failover list).
        # The user and password in the URLs are the data user's (for the master
        # Sentinel names); each URL needs them: kombu tries the URLs one by one.
        "broker_url": ";".join(f"sentinel://app:{quote(app_password, safe='')}@{host}:{port}" for host, port in sentinels),
        "broker_transport_options": {
            "master_name": master_name,
            "sentinel_kwargs": {"username": "client", "password": client_password,
                                "socket_timeout": 0.5, "socket_connect_timeout": 0.5},
            "socket_connect_timeout": 0.5,
            "socket_timeout": 5.0,                  # above kombu's BRPOP timeout (1 s)
            # Unacknowledged messages come back to the queue only after this;
            # keep it above the longest task (and any ETA/countdown).
            "visibility_timeout": 3600,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,     # the worker reconnects for as long as it takes
        "broker_channel_error_retry": True,
        # Producer: retry publishing through the failover (about 10 s in all).
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 40, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5},
        # Acknowledge after the task ran: a message whose worker lost the broker is
        # delivered again (at least once), never dropped; tasks must be idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "worker_hijack_root_logger": False,
    }


app = Celery("drill")
if os.environ.get("DRILL_SENTINELS"):
    app.conf.update(celery_config(sentinel_list(os.environ["DRILL_SENTINELS"]), os.environ["DRILL_MASTER_NAME"],
                                  os.environ["REDIS_APP_PASSWORD"], os.environ["REDIS_SENTINEL_CLIENT_PASSWORD"]))

_CLIENT: dict = {}


def _master() -> redis.Redis:
    """A redis-py Sentinel client per worker process (made after the fork)."""
    if os.getpid() not in _CLIENT:
        sentinel = Sentinel(sentinel_list(os.environ["DRILL_SENTINELS"]),
                            sentinel_kwargs={"username": "client", "password": os.environ["REDIS_SENTINEL_CLIENT_PASSWORD"],
                                             "socket_timeout": 0.5, "socket_connect_timeout": 0.5},
                            username="app", password=os.environ["REDIS_APP_PASSWORD"],
                            socket_timeout=1.0, socket_connect_timeout=0.5)
        _CLIENT[os.getpid()] = sentinel.master_for(os.environ["DRILL_MASTER_NAME"])
    return _CLIENT[os.getpid()]


@app.task(name=TASK)
def record(runs_key: str, job: str) -> None:
    """Record this run of ``job``: HSET runs_key "<job>/<run id>" (idempotent, so a
    retried write counts once), durable once WAIT 1 says a replica has it."""
    run = f"{job}/{uuid.uuid4().hex}"
    deadline = time.monotonic() + 120
    while True:
        try:
            master = _master()
            master.hset(runs_key, run, time.time())
            if int(master.execute_command("WAIT", 1, 500)) >= 1:
                return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)
