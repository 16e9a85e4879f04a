# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the cost of hardening (issue #6, section 4).

    .venv/bin/python bench/hardening.py [--runs 3] [--seconds 8] [--explain] [--write-docs]
    (or: make bench-hardening [RUNS=3] [EXPLAIN=1])

redis-benchmark (SET and GET, -c 50, -P 1 and -P 16, random keys) against:

* stock:    a second redis-server in the same container, started from the
            redis.conf that Debian's package ships (checked unmodified against
            dpkg's conffile checksum), adjusted only for port 6390, dir,
            pidfile and logfile; no password (Debian's default);
* hardened: the node that hardened.redis.site deployed (systemd unit and its
            sandbox, ACL, AOF everysec + RDB, latency monitor, maxmemory) on
            its plaintext port, as a user with the `app` user's ACL rules;
* TLS:      the same hardened node on its TLS port (client certificate, as
            tls-auth-clients yes requires).

Both servers run in one container of the lab (tests/lab/lab.sh, LAB_NAME
hredis-hbench, one host with Redis and Sentinel) on the same kernel and CPUs,
and redis-benchmark runs inside that container over loopback, so Docker's
network is not measured. Each test runs --runs times per target, the targets
interleaved and their order rotated from run to run, so the load of a shared
machine hits all of them alike. The table shows medians and the ratios
hardened / stock (target >= 0.95) and TLS / stock (target >= 0.7).

--explain adds servers that differ from stock by one hardened setting each
(ACL user, AOF, latency monitor, maxmemory, the hardened systemd unit and its
sandbox) and the hardened configuration started without the unit, and prints
their ratios to stock: where the cost comes from.

The password: redis-benchmark takes it only on its command line (-a or -u; it
does not read REDISCLI_AUTH). So the script never gives it a real credential:
it creates a throwaway ACL user (random name and password, the `app` user's
rules copied from ACL LIST) through the admin user (password through the
environment and stdin, never argv), uses it only for the benchmark, and
deletes it (ACL DELUSER) before the lab is removed.

Prints its Markdown section; --write-docs also puts it into docs/benchmarks.md
(replacing only "## Cost of hardening"). Removes the lab unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import math
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB_NAME = "hredis-hbench"
STATE = ROOT / "lab" / f".state-{LAB_NAME}"  # as tests/lab/lab.sh names it
HOST = f"{LAB_NAME}-1"
SOCKET = "/run/redis-main/redis.sock"  # the role's unix socket of instance main
TLS_DIR = "/root/hbench-tls"  # the client certificate inside the container
TESTS = [("SET", 1), ("GET", 1), ("SET", 16), ("GET", 16)]
KEYSPACE = 100000
CLIENTS = 50
HEADING = "Cost of hardening"


def log(msg: str):
    print(f"[hbench] {msg}", file=sys.stderr, flush=True)


def run(argv, **kw):
    kw.setdefault("cwd", ROOT)
    return subprocess.run(argv, check=True, text=True, **kw)


def dexec(argv, stdin: str | None = None, env: dict | None = None, check=True) -> str:
    """Run argv inside the lab host; env values reach it through the docker
    client's environment (-e NAME), never the docker command line."""
    names = sorted(env or {})
    cmd = ["docker", "exec", "-i"] + [a for n in names for a in ("-e", n)] + [HOST] + list(argv)
    res = subprocess.run(cmd, input=stdin or "", capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})), check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed in {HOST}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def admin_password() -> str:
    return (STATE / "credentials" / "main" / "admin").read_text().split()[0]


# --- servers and targets -------------------------------------------------------------
@dataclass
class Server:
    """A redis-server in the lab host. login: 'socket' (the role's admin over
    the unix socket), 'admin' (admin over TCP) or '' (no password, stock)."""
    key: str
    port: int
    login: str = ""
    extra: list = field(default_factory=list)  # directives after Debian's file (stock-like servers)

    def cli(self, commands: str) -> str:
        """Commands, one a line, through redis-cli's stdin."""
        if not self.login:
            return dexec(["redis-cli", "-p", str(self.port)], stdin=commands)
        where = ["-s", SOCKET] if self.login == "socket" else ["-p", str(self.port)]
        return dexec(["redis-cli", "--no-auth-warning", *where, "--user", "admin"],
                     stdin=commands, env={"REDISCLI_AUTH": admin_password()})


@dataclass
class Target:
    key: str
    label: str
    server: Server
    auth: bool = False  # as the throwaway benchmark user
    tls: bool = False


STOCK = Server("stock", 6390)
HARDENED = Server("hardened", 6379, login="socket")
MAIN_TARGETS = [Target("stock", "stock", STOCK), Target("hardened", "hardened", HARDENED, auth=True),
                Target("tls", "hardened, TLS", Server("hardened", 6380, login="socket"), auth=True, tls=True)]

# --explain: one hardened difference at a time on top of Debian's file.
AOF = Server("aof", 6393, extra=["appendonly yes", "appendfsync everysec"])
LATENCY = Server("latency", 6394, extra=["latency-monitor-threshold 100"])
MAXMEMORY = Server("maxmemory", 6395, extra=["maxmemory {maxmemory}", "maxmemory-policy noeviction"])
UNIT = Server("unit", 6392)  # Debian's file, run by redis-hardened@sbx.service
NOUNIT = Server("nounit", 6391, login="admin")  # the node's own file, run by hand
NOAOF = Server("noaof", 6396, login="admin", extra=["appendonly no"])  # the same, without its AOF
EXPLAIN_TARGETS = [
    Target("acl", "stock + ACL user (the app user's rules)", STOCK, auth=True),
    Target("aof", "stock + appendonly yes, appendfsync everysec", AOF),
    Target("latency", "stock + latency-monitor-threshold 100", LATENCY),
    Target("maxmemory", "stock + maxmemory (the node's), noeviction", MAXMEMORY),
    Target("unit", "stock config in the hardened systemd unit (sandbox)", UNIT),
    Target("nounit", "hardened config and ACL user, without the unit", NOUNIT, auth=True),
    Target("noaof", "the same, appendonly no", NOAOF, auth=True),
]


def start_stock_like(server: Server, maxmemory: str):
    """Debian's file unchanged, then only what keeps the servers apart (a
    later directive overrides an included one), then server.extra."""
    name = f"redis-{server.key}"
    conf = "\n".join(["include /etc/redis/redis.conf", f"port {server.port}", f"dir /var/lib/{name}",
                      f"pidfile /run/{name}/redis-server.pid", f"logfile /var/log/redis/{name}.log",
                      "daemonize yes"] + [x.format(maxmemory=maxmemory) for x in server.extra]) + "\n"
    dexec(["sh", "-c", f"install -d -o redis -g redis -m 0750 /var/lib/{name} /run/{name}"
                       f" && cat > /etc/{name}.conf"
                       f" && setpriv --reuid=redis --regid=redis --init-groups /usr/bin/redis-server /etc/{name}.conf"],
          stdin=conf)


def start_unit_instance(server: Server):
    """Debian's file under the node's own unit: instance sbx of redis-hardened@
    (the same sandbox, drop-in, limits and user), supervised by systemd."""
    conf = "\n".join(["include /etc/redis/redis.conf", f"port {server.port}", "dir /var/lib/redis/sbx",
                      "pidfile /run/redis-sbx/redis-server.pid", "logfile /var/log/redis/redis-sbx.log",
                      "daemonize no", "supervised systemd"]) + "\n"
    dexec(["sh", "-c", "install -d -o redis -g redis -m 0750 /etc/redis/sbx"
                       " && cat > /etc/redis/sbx/redis.conf && chown redis:redis /etc/redis/sbx/redis.conf"
                       " && systemctl start redis-hardened@sbx.service"], stdin=conf)


def start_nounit(server: Server):
    """The node's own redis.conf (its aclfile, AOF, ...), started by hand
    outside systemd: no TLS port, its own dir, socket and log; then
    server.extra."""
    name = f"redis-{server.key}"
    conf = "\n".join(["include /etc/redis/main/redis.conf", f"port {server.port}", "tls-port 0",
                      f"dir /var/lib/{name}", f"unixsocket /run/{name}/redis.sock", f"pidfile /run/{name}/redis.pid",
                      f"logfile /var/log/redis/{name}.log", "supervised no", "daemonize yes"] + server.extra) + "\n"
    dexec(["sh", "-c", f"install -d -o redis -g redis -m 0750 /var/lib/{name} /run/{name}"
                       f" && cat > /etc/{name}.conf"
                       f" && setpriv --reuid=redis --regid=redis --init-groups /usr/bin/redis-server /etc/{name}.conf"],
          stdin=conf)


def wait_ping(server: Server):
    for _ in range(100):
        if server.cli("PING\n").strip() == "PONG":
            return
        time.sleep(0.2)
    raise RuntimeError(f"the {server.key} redis-server on port {server.port} did not answer PING")


# --- lab ------------------------------------------------------------------------
def lab(action: str, release: str):
    env = dict(os.environ, LAB_NAME=LAB_NAME, LAB_NODES="1", LAB_DEPLOY="0", LAB_RELEASE=release)
    run(["bash", "tests/lab/lab.sh", action], env=env,
        stdout=subprocess.DEVNULL, stderr=None if action == "up" else subprocess.DEVNULL)


def make_certs():
    """A CA, a server certificate (loopback and the host's name) and a client
    certificate, EC P-256, valid for 2 days, in the lab's state directory."""
    tls = STATE / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    os.chmod(STATE, 0o700)

    def ssl(*args):
        run(["openssl", *args], cwd=tls, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ssl("req", "-x509", "-new", *newkey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=hbench-ca")
    exts = {"server": f"subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:{HOST}\nextendedKeyUsage=serverAuth,clientAuth\n",
            "client": "extendedKeyUsage=clientAuth\n"}
    for name, ext in exts.items():
        (tls / f"{name}.ext").write_text(ext)
        ssl("req", "-new", *newkey, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=hbench-{name}")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext")
    # Inventory-adjacent group_vars: lab.sh writes the inventory, Ansible
    # reads these next to it. One node, no replica: TLS replication stays
    # off, so the Sentinel needs no certificate.
    gv = STATE / "group_vars"
    gv.mkdir(exist_ok=True)
    (gv / "redis_servers.yml").write_text(
        "# Written by bench/hardening.py\n"
        "redis_tls_enabled: true\n"
        "redis_tls_replication: false\n"
        f"redis_tls_cert_src: {tls / 'server.crt'}\n"
        f"redis_tls_key_src: {tls / 'server.key'}\n"
        f"redis_tls_ca_src: {tls / 'ca.crt'}\n"
    )


def deploy():
    logfile = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-hardening-deploy.log"
    t0 = time.monotonic()
    with open(logfile, "w", encoding="utf-8") as out:
        res = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(STATE / "inventory.yml"),
                              "hardened.redis.site"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if res.returncode != 0:
        tail = logfile.read_text(encoding="utf-8").splitlines()[-40:]
        raise RuntimeError("hardened.redis.site failed:\n" + "\n".join(tail))
    log(f"deployed hardened.redis.site in {time.monotonic() - t0:.0f} s (log: {logfile})")


def conffile_state() -> str:
    """How /etc/redis/redis.conf compares to the package's conffile checksum."""
    pristine = dexec(["sh", "-c", "dpkg-query -W -f='${Conffiles}\\n' redis-server"
                                  " | awk '$1==\"/etc/redis/redis.conf\"{print $2}'"]).strip()
    actual = dexec(["md5sum", "/etc/redis/redis.conf"]).split()[0]
    return "unmodified: its md5 is dpkg's record" if actual == pristine else f"MODIFIED: md5 {actual}, dpkg {pristine}"


def install_client_certs():
    tls = STATE / "tls"
    dexec(["install", "-d", "-m", "0700", TLS_DIR])
    for name in ("ca.crt", "client.crt", "client.key"):
        dexec(["sh", "-c", f"umask 077 && cat > {TLS_DIR}/{name}"], stdin=(tls / name).read_text())


def app_rules() -> list:
    """The app user's rules from ACL LIST, without its state and password."""
    app = next((line for line in HARDENED.cli("ACL LIST\n").splitlines() if line.startswith("user app ")), None)
    if app is None:
        raise RuntimeError("no ACL user 'app' on the hardened node")
    return [t for t in app.split()[2:] if t not in ("on", "off") and not t.startswith(("#", ">", "<", "!"))]


def create_bench_user(servers, rules) -> tuple[str, str]:
    name, password = f"hbench-{secrets.token_hex(4)}", secrets.token_hex(24)
    for server in servers:
        reply = server.cli(f"ACL SETUSER {name} reset on >{password} {' '.join(rules)}\n").strip()
        if reply != "OK":
            raise RuntimeError(f"ACL SETUSER on {server.key} failed: {reply}")
    log(f"throwaway benchmark user {name}: {' '.join(rules)} (the app user's rules)")
    return name, password


# --- measuring -------------------------------------------------------------------
def bench(target: Target, test: str, pipeline: int, n: int, user: tuple[str, str]) -> float:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(target.server.port), "-c", str(CLIENTS),
            "-n", str(n), "-r", str(KEYSPACE), "-P", str(pipeline), "-t", test.lower(), "--csv"]
    env = None
    if target.tls:
        argv += ["--tls", "--cacert", f"{TLS_DIR}/ca.crt", "--cert", f"{TLS_DIR}/client.crt",
                 "--key", f"{TLS_DIR}/client.key"]
    if target.auth:
        # redis-benchmark reads a password only from argv: the throwaway
        # user's, through the environment as far as the container.
        argv = ["sh", "-c", 'exec "$@" --user "$HBENCH_USER" -a "$HBENCH_PASS"', "sh"] + argv
        env = {"HBENCH_USER": user[0], "HBENCH_PASS": user[1]}
    out = dexec(argv, env=env)
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] == test]
    if not rows:
        raise RuntimeError(f"no {test} result from redis-benchmark against {target.key}: {out.strip()}")
    return float(rows[0][1])


def info_fields(server: Server, section: str) -> dict:
    return dict(line.strip().split(":", 1) for line in server.cli(f"INFO {section}\n").splitlines()
                if ":" in line and not line.startswith("#"))


def counters(server: Server) -> dict:
    """SET/GET calls with failed and rejected calls (every request must have
    been served: an ACL or OOM error would make a fast, wrong number), and
    the forks (RDB saves, AOF rewrites) and the writes the server held back
    because an fsync of the AOF had taken more than 2 s (a busy disk)."""
    out = {}
    stats = info_fields(server, "commandstats")
    for cmd in ("set", "get"):
        fields = dict(kv.split("=") for kv in stats.get(f"cmdstat_{cmd}", "").split(",") if "=" in kv)
        for k in ("calls", "rejected_calls", "failed_calls"):
            out[f"{cmd}_{k}"] = int(float(fields.get(k, 0)))
    persistence = info_fields(server, "persistence")
    for k in ("rdb_saves", "aof_rewrites", "aof_delayed_fsync"):
        out[k] = int(persistence.get(k, 0))
    return out


def config_diff() -> list:
    """Settings whose values differ between the stock and the hardened server
    (paths, ports, TLS files, supervision and secrets left out)."""
    skip = re.compile(r"^(port|tls-.*|dir|pidfile|logfile|unixsocket.*|aclfile|bind|supervised|daemonize|"
                      r"masteruser|masterauth|requirepass|proc-title-template|set-proc-title|always-show-logo)$")

    def parse(text):
        lines = text.splitlines()
        return dict(zip(lines[0::2], lines[1::2]))

    def shown(value):
        return value if value else '""'

    stock, hard = parse(STOCK.cli("CONFIG GET *\n")), parse(HARDENED.cli("CONFIG GET *\n"))
    return [f"`{k}` {shown(stock.get(k, '-'))} -> {shown(hard.get(k, '-'))}"
            for k in sorted(set(stock) | set(hard)) if not skip.match(k) and stock.get(k) != hard.get(k)]


def sized(rate: float, seconds: float) -> int:
    """Requests for about `seconds` at `rate`, rounded up to 2 significant digits."""
    n = rate * seconds
    step = 10 ** max(0, int(math.log10(n)) - 1)
    return int(math.ceil(n / step) * step)


def cpu_seconds(server: Server) -> float:
    """CPU time of the server process (all its threads, forks excluded)."""
    fields = info_fields(server, "cpu")
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def measure(targets, runs: int, seconds: float, user) -> tuple[dict, dict, dict]:
    """ops/s and the server's CPU microseconds per request of every run."""
    # Size each test on the stock server (the fastest target; the faster of
    # two probes), so that every run lasts about --seconds or longer.
    sizes = {}
    for test, p in TESTS:
        probe = 50000 if p == 1 else 400000
        rate = max(bench(targets[0], test, p, probe, user) for _ in range(2))
        sizes[(test, p)] = sized(rate, seconds)
        log(f"probe {test} -P {p}: {rate:,.0f} ops/s on stock -> -n {sizes[(test, p)]:,}")
    rates = {(t, p, tg.key): [] for t, p in TESTS for tg in targets}
    cpu = {(t, p, tg.key): [] for t, p in TESTS for tg in targets}
    for r in range(runs):
        shift = r % len(targets)
        order = targets[shift:] + targets[:shift]  # rotated: no target always runs first
        for test, p in TESTS:
            n = sizes[(test, p)]
            for target in order:
                c0 = cpu_seconds(target.server)
                rate = bench(target, test, p, n, user)
                us = (cpu_seconds(target.server) - c0) / n * 1e6
                rates[(test, p, target.key)].append(rate)
                cpu[(test, p, target.key)].append(us)
                log(f"run {r + 1}/{runs} {test} -P {p:<2} {target.key:9s} {rate:11,.0f} ops/s "
                    f"({n / rate:4.1f} s) {us:5.2f} us CPU/request  load {os.getloadavg()[0]:.2f}")
    return rates, cpu, sizes


# --- report ------------------------------------------------------------------------
def ratio(value: float, target: float | None = None) -> str:
    return f"{value:.2f}" + ("" if target is None or value >= target else f" (below {target})")


def report(rates, cpu, sizes, info, explain) -> str:
    med = {k: statistics.median(v) for k, v in rates.items()}
    mcpu = {k: statistics.median(v) for k, v in cpu.items()}
    shared = max(info["load_start"], info["load_end"]) > 0.5 * info["nproc"]
    lines = [
        f"`make bench-hardening RUNS={info['runs']}{' EXPLAIN=1' if explain else ''}`, {info['date']}: "
        f"{info['machine']}. Load average (1 min) {info['load_start']:.2f} at the start, "
        f"{info['load_end']:.2f} at the end"
        + (": a shared machine (other jobs ran beside it), so the numbers are noisy. The targets ran "
           "interleaved, in a rotating order, so that each ratio compares runs under the same load."
           if shared else "."),
        "",
        f"redis-benchmark inside the container over loopback, `-c {CLIENTS} -r {KEYSPACE}`, 3-byte values, "
        f"median of {info['runs']} runs per target (each run took {info['min_s']:.1f} to {info['max_s']:.1f} s). "
        "Ratio = hardened / stock (target >= 0.95); TLS ratio = hardened over TLS / stock (target >= 0.7).",
        "",
        "| test | stock ops/s | hardened ops/s | ratio | TLS ops/s | TLS ratio |",
        "|---|---|---|---|---|---|",
    ]
    for test, p in TESTS:
        s, h, t = (med[(test, p, k)] for k in ("stock", "hardened", "tls"))
        lines.append(f"| {test} -P {p} (-n {sizes[(test, p)]:,}) | {s:,.0f} | {h:,.0f} | {ratio(h / s, 0.95)} | "
                     f"{t:,.0f} | {ratio(t / s, 0.7)} |")
    lines += [
        "",
        "The server's CPU time per request (user + sys of the redis-server process, all threads, "
        "from INFO cpu around each run; medians). It depends much less on what else runs on the "
        "machine than ops/s does. Ratio = stock / hardened, so that it reads like the one above "
        "(1.00: no extra work per request).",
        "",
        "| test | stock us | hardened us | ratio | TLS us | TLS ratio |",
        "|---|---|---|---|---|---|",
    ]
    for test, p in TESTS:
        s, h, t = (mcpu[(test, p, k)] for k in ("stock", "hardened", "tls"))
        lines.append(f"| {test} -P {p} | {s:.2f} | {h:.2f} | {ratio(s / h, 0.95)} | {t:.2f} | {ratio(s / t, 0.7)} |")
    alone = "; ".join(f"{t} -P {p} {med[(t, p, 'tls')] / med[(t, p, 'hardened')]:.2f} "
                      f"({mcpu[(t, p, 'hardened')] / mcpu[(t, p, 'tls')]:.2f})" for t, p in TESTS)
    lines += ["", "TLS alone (TLS / plaintext port of the same node; ops/s, then CPU per request): " + alone + "."]
    lines += [
        "",
        f"Stock: Debian's /etc/redis/redis.conf ({info['conf_state']}), only port, dir, pidfile and "
        "logfile changed, no password, started by hand as user redis. Hardened: the node as "
        "`hardened.redis.site` deploys it (its systemd unit and sandbox, PrivateUsers relaxed in a "
        "container), driven by a throwaway ACL user with the `app` user's rules; TLS: the same node's "
        "tls-port, EC P-256 certificates, client certificate required. Settings that differ "
        "(CONFIG GET; paths, ports, TLS files and secrets left out): " + "; ".join(info["diff"]) + ". "
        f"During the runs (INFO persistence): stock {info['forks']['stock']}; "
        f"hardened {info['forks']['hardened']}.",
    ]
    if explain:
        lines += ["", "### Where the cost comes from", "",
                  "Servers in the same container that differ from stock by one thing, measured interleaved "
                  "with the three above. Each cell: ops/s ratio to stock, then the CPU-per-request ratio "
                  "(stock / server) in brackets.", "",
                  "| server | " + " | ".join(f"{t} -P {p}" for t, p in TESTS) + " |",
                  "|---|" + "---|" * len(TESTS)]
        for target in info["targets"][1:]:
            cells = [f"{med[(t, p, target.key)] / med[(t, p, 'stock')]:.2f} "
                     f"({mcpu[(t, p, 'stock')] / mcpu[(t, p, target.key)]:.2f})" for t, p in TESTS]
            lines.append(f"| {target.label} | " + " | ".join(cells) + " |")
    lines += ["", "Every run, ops/s (CPU us per request) in the order measured:", ""]
    for test, p in TESTS:
        def runs(key, test=test, p=p):
            return ", ".join(f"{v:,.0f} ({c:.2f})" for v, c in zip(rates[(test, p, key)], cpu[(test, p, key)]))
        lines.append(f"- {test} -P {p}: " + "; ".join(f"{tg.key} {runs(tg.key)}" for tg in info["targets"]))
    return "\n".join(lines)


def replace_section(doc: Path, heading: str, body: str):
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\nEach section is written by the command it names.\n"
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    doc.write_text(text.rstrip() + "\n")


def machine() -> tuple[str, int]:
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal:"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    version = dexec(["redis-server", "--version"]).split()[2].removeprefix("v=")
    release = dexec(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]).strip()
    nproc = os.cpu_count() or 0
    return (f"{nproc} cores ({cpu}), {mem / 1048576:.1f} GiB, kernel {platform.release()}, "
            f"container {release}, Redis {version}"), nproc


def benchmark(args) -> str:
    targets = MAIN_TARGETS + (EXPLAIN_TARGETS if args.explain else [])
    load_start = os.getloadavg()[0]
    make_certs()
    lab("up", args.release)
    deploy()
    conf_state = conffile_state()
    maxmemory = HARDENED.cli("CONFIG GET maxmemory\n").split()[1]
    start_stock_like(STOCK, maxmemory)
    servers = [STOCK, HARDENED]
    if args.explain:
        for server in (AOF, LATENCY, MAXMEMORY):
            start_stock_like(server, maxmemory)
        start_unit_instance(UNIT)
        start_nounit(NOUNIT)
        start_nounit(NOAOF)
        servers += [AOF, LATENCY, MAXMEMORY, UNIT, NOUNIT, NOAOF]
    for server in servers:
        wait_ping(server)
    install_client_certs()
    with_user = [s for s in servers if any(t.auth and t.server.key == s.key for t in targets)]
    user = create_bench_user(with_user, app_rules())
    try:
        before = {s.key: counters(s) for s in servers}
        rates, cpu, sizes = measure(targets, args.runs, args.seconds, user)
        after = {s.key: counters(s) for s in servers}
    finally:
        for server in with_user:
            server.cli(f"ACL DELUSER {user[0]}\n")
    for key, stats in after.items():
        bad = {k: v - before[key][k] for k, v in stats.items() if k.endswith(("rejected_calls", "failed_calls"))}
        if any(bad.values()):
            raise RuntimeError(f"{key}: {bad}: not every request was served")
    kinds = ("rdb_saves", "aof_rewrites", "aof_delayed_fsync")
    forks = {k: ", ".join(f"{after[k][c] - before[k][c]} {c}" for c in kinds) for k in ("stock", "hardened")}
    desc, nproc = machine()
    durations = [sizes[(t, p)] / v for (t, p, _k), vs in rates.items() for v in vs]
    info = {"runs": args.runs, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": desc, "nproc": nproc, "load_start": load_start, "load_end": os.getloadavg()[0],
            "min_s": min(durations), "max_s": max(durations), "conf_state": conf_state, "diff": config_diff(),
            "forks": forks, "targets": targets}
    return report(rates, cpu, sizes, info, args.explain)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each test per target (default 3)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="size -n for about this long per run at the stock rate (default 8)")
    parser.add_argument("--explain", action="store_true",
                        help="also measure servers that differ from stock by one hardened setting each")
    parser.add_argument("--release", default=os.environ.get("LAB_RELEASE", "bookworm"),
                        help="Debian release of the lab host (default bookworm)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    parser.add_argument("--write-docs", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args()
    if "ANSIBLE_COLLECTIONS_PATH" not in os.environ:
        sys.exit("run through make bench-hardening (it builds the collection and sets ANSIBLE_COLLECTIONS_PATH)")

    lab("down", args.release)
    try:
        body = benchmark(args)
    finally:
        if not args.keep:
            lab("down", args.release)
    print(f"## {HEADING}\n\n{body}")
    if args.write_docs:
        replace_section(ROOT / "docs" / "benchmarks.md", HEADING, body)
        log("wrote the section into docs/benchmarks.md")


if __name__ == "__main__":
    main()
