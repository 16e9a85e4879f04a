"""Helpers for the rolling scenario, on top of sentinel_lab (imported, not copied).

TimedWriter is sentinel_lab.Writer whose error counter also keeps the wall-clock
time of every failed write, so a test can check that writes failed only inside
the switchover window the playbook reports (controller clock on both sides).
"""

from __future__ import annotations

import time

from sentinel_lab import UNIT, Group, Writer

SENTINEL_UNIT = "redis-sentinel-hardened@main.service"


class TimedCounts(dict):
    """The writer's {error kind: count}; each increment also records time.time()."""

    def __init__(self):
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def __setitem__(self, key, value):
        self.times.append((time.time(), key))
        super().__setitem__(key, value)


class TimedWriter(Writer):
    def __init__(self, group: Group, prefix: str, **kwargs):
        super().__init__(group, prefix, **kwargs)
        self.errors = TimedCounts()

    def failed_outside(self, start: float, end: float) -> list[tuple[float, str]]:
        return [(t, k) for t, k in self.errors.times if not start <= t <= end]


def main_pids(group: Group) -> dict[str, int]:
    """MainPID of every data node and Sentinel, keyed 'node/unit'."""
    pids = {}
    for n in group.names:
        for unit in (UNIT, SENTINEL_UNIT):
            pids[f"{n}/{unit}"] = int(group.docker(n, "systemctl", "show", "-p", "MainPID", "--value", unit).strip())
    return pids
