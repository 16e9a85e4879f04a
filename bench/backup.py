# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: redis_backup against a plain `redis-cli --rdb` of the same server.

    .venv/bin/python bench/backup.py [--gb 1.0] [--runs 3]     (or: make bench-backup)

Starts a real redis-server on a loopback port in a temporary folder, fills it
with about --gb GiB of random (incompressible) 1 KiB string values, with
`repl-diskless-sync-delay 0` so that the fixed 5 s wait of a diskless sync
does not hide the data path, then times, --runs times each, in one run:

* `redis-cli --rdb FILE` (the plain copy of the RDB over the replication
  protocol: no check, no checksum, no manifest);
* the module, `method: sync`, `compression: none`, `verify: true`: the same
  stream plus redis-check-rdb, sha256, manifest and atomic publish;
* the module, `method: bgsave` (same verification), for comparison;
* a plain restart that loads an RDB of the dataset (shutdown + start until
  `loading:0`), and the module's `state: restored` of the same dataset
  (manifest and checksum check, redis-check-rdb, stop, swap files, start,
  key count confirmed).

Prints a Markdown table with medians and the ratio to the plain copy. Nothing
here is asserted: numbers depend on the machine; say which one you ran it on.
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from run_module import run_module  # noqa: E402  (the tests' module runner)
from servers import REDIS_SERVER, start_redis  # noqa: E402
from benchdocs import replace_section  # noqa: E402  (bench/benchdocs.py, beside this file)

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def timed(func):
    start = time.monotonic()
    result = func()
    return time.monotonic() - start, result


def wait_loaded(srv, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = srv.client(socket_timeout=5)
            if c.info("persistence").get("loading") == 0:
                return
        except Exception:  # still starting
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not finish loading")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--gb", type=float, default=1.0, help="dataset size in GiB of values (default 1.0)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (default 3)")
    parser.add_argument("--write-docs", action="store_true", help="also write the table into docs/benchmarks.md")
    args = parser.parse_args()

    value_size = 1024
    keys = int(args.gb * 1024 ** 3 / value_size)
    work = tempfile.mkdtemp(prefix="bench-backup-", dir=os.environ.get("BENCH_DIR"))
    srv = start_redis(work, extra_lines=["maxmemory 0", "repl-diskless-sync-delay 0"], timeout=30)
    try:
        client = srv.client(socket_timeout=600)
        print("filling %d keys x %d random bytes ..." % (keys, value_size), file=sys.stderr)
        pipe = client.pipeline(transaction=False)
        for i in range(keys):
            pipe.set("bench:%d" % i, os.urandom(value_size))
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        used = int(client.info("memory")["used_memory"])
        dest = os.path.join(work, "backups")
        os.makedirs(dest)
        conn = dict(login_host=srv.host, login_port=srv.port)

        plain, sync, bgsave, loads, restores = [], [], [], [], []
        rdb_size = 0
        backup_file = None
        for run in range(args.runs):
            target = os.path.join(work, "plain.rdb")
            seconds = timed(lambda: subprocess.run(
                [REDIS_CLI, "-h", srv.host, "-p", str(srv.port), "--rdb", target],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))[0]
            plain.append(seconds)
            rdb_size = os.path.getsize(target)
            os.unlink(target)

            for method, bucket in (("sync", sync), ("bgsave", bgsave)):
                seconds, result = timed(lambda: run_module("redis_backup", dict(
                    conn, state="present", dest=dest, method=method, compression="none", verify=True,
                    keep=1), timeout=1800))
                if result.get("failed"):
                    raise RuntimeError("redis_backup %s failed: %s" % (method, result.get("msg")))
                bucket.append(seconds)
                backup_file = result["path"]

        # Restore: a plain restart loading the RDB, then the module's restore.
        shutil.copy(backup_file, os.path.join(srv.dir, "dump.rdb"))
        for run in range(args.runs):
            seconds = timed(lambda: (srv.restart(timeout=600), wait_loaded(srv)))[0]
            loads.append(seconds)
            seconds, result = timed(lambda: run_module("redis_backup", dict(
                conn, state="restored", src=backup_file, data_dir=srv.dir, dbfilename="dump.rdb",
                stop_command=[REDIS_CLI, "-h", srv.host, "-p", str(srv.port), "shutdown", "nosave"],
                start_command=[REDIS_SERVER, srv.config_file, "--daemonize", "yes"], timeout=1200),
                timeout=1800))
            if result.get("failed"):
                raise RuntimeError("restore failed: %s" % result.get("msg"))
            restores.append(seconds)
            # The module started a daemonized server; stop it so srv can start its own again.
            subprocess.run([REDIS_CLI, "-h", srv.host, "-p", str(srv.port), "shutdown", "nosave"],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            srv.proc = None
            srv.start(timeout=600)
            wait_loaded(srv)
    finally:
        subprocess.run([REDIS_CLI, "-h", srv.host, "-p", str(srv.port), "shutdown", "nosave"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)

    mb = rdb_size / 1e6

    def row(name, samples, base=None):
        med = statistics.median(samples)
        ratio = "%.2f" % (med / statistics.median(base)) if base else "1.00"
        return "| %s | %.2f | %.2f | %.0f | %s |" % (name, med, max(samples), mb / med, ratio)

    redis_version = subprocess.run([REDIS_SERVER, "--version"], stdout=subprocess.PIPE,
                                   universal_newlines=True, check=False).stdout.split()[2]
    table = "\n".join([
        "`make bench-backup` (bench/backup.py): %d keys, %.0f MB in memory, RDB %.0f MB; Redis %s; %d cores, "
        "load average at the end %.1f, %s; median of %d runs."
        % (keys, used / 1e6, mb, redis_version, os.cpu_count(), os.getloadavg()[0], time.strftime("%Y-%m-%d"), args.runs),
        "",
        "| what | median s | max s | MB/s | x plain copy |",
        "|---|---|---|---|---|",
        row("redis-cli --rdb (plain copy)", plain),
        row("redis_backup method=sync, verify, sha256", sync, plain),
        row("redis_backup method=bgsave, verify, sha256", bgsave, plain),
        row("plain restart loading the RDB", loads),
        row("redis_backup state=restored", restores, loads),
    ])
    print(table)
    if args.write_docs:
        replace_section("Backup and restore", table)
        print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
