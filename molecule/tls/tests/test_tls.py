"""TLS end to end and the attack suite on a TLS-only group (issue #6, sections 2 and 3).

Three nodes (Redis + Sentinel each, TLS only: plain ports closed, client
certificates required, replication and Sentinel links over TLS) and one
attacker host on the same network. Order is pinned (each test needs the
previous ones' state):
  1. the group is TLS only: port 0, replicas, Sentinels and their peers on the TLS ports;
  2. the attacks, run on tls-attacker (secrets on stdin), each refused as expected;
  3. kill -9 of the master under a WAIT-acknowledged writer over TLS (redis-py
     Sentinel client): 0 acknowledged writes lost, the old master rejoins;
  4. planned switchover with sentinel_failover over TLS under the writer: 0 lost;
  5. a day-2 change at -vvv (redis_app_deny_scripting: the app user changed
     live with hardened.redis.redis_acl and the ACL file) while every
     node's process list is sampled: only that changes, app's EVAL is NOPERM,
     no secret in Ansible's output or on any command line;
  6. converge again: 0 changed, the master and Sentinel epochs kept;
  7. no secret in any node's process list, journal or log files;
  8. modes and owners of the config, ACL, TLS and credential files.
Every check is a row of <ephemeral>/security-results.json (a safe file of the
scenario), which bench/security.py renders into docs/security.md. Times are
printed and recorded, never asserted.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pytest
import redis

from sentinel_lab import Group, Writer, read_json, recap, run_playbook, secret

NODES = ["tls-node1", "tls-node2", "tls-node3"]
ATTACKER = "tls-attacker"
DATA_PORT, DATA_TLS_PORT = 6379, 6380
SENTINEL_PORT, SENTINEL_TLS_PORT = 26379, 26380
UNIT = "redis-hardened@main.service"
SCENARIO = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
TLS_DIR = EPHEMERAL / "tls"
CONVERGE = os.path.join(SCENARIO, "converge.yml")
# The day-2 change of test 5 (the app user loses EVAL and friends).
DENY_SCRIPTING = {"redis_app_deny_scripting": True}
ROWS: list[dict] = []
STATE: dict = {}


def record(section: str, attack: str, expected: str, observed, passed: bool) -> bool:
    ROWS.append({"section": section, "attack": attack, "expected": expected, "observed": str(observed),
                 "pass": bool(passed)})
    print(f"[{'PASS' if passed else 'FAIL'}] {section}: {attack}: {observed}")
    return bool(passed)


def failed_rows(section: str) -> list[dict]:
    return [r for r in ROWS if r["section"] == section and not r["pass"]]


def _machine() -> dict:
    """The controller the containers run on (they share its kernel and CPUs)."""
    info = {}
    for path, key, field in (("/proc/cpuinfo", "cpu", "model name"), ("/proc/meminfo", "memory", "MemTotal")):
        try:
            info[key] = next((line.split(":", 1)[1].strip() for line in Path(path).read_text().splitlines()
                              if line.startswith(field)), "")
        except OSError:
            info[key] = ""
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return dict(info, host=platform.node(), kernel=platform.release(), cpus=os.cpu_count(), docker=docker,
                python=platform.python_version(), loadavg=" ".join(f"{x:.2f}" for x in os.getloadavg()))


@pytest.fixture(scope="module", autouse=True)
def results_file():
    """Writes every recorded row, also when a test failed."""
    started = datetime.now(timezone.utc)
    machine = _machine()
    yield
    doc = {"scenario": "tls", "started": started.isoformat(timespec="seconds"),
           "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": machine, "versions": STATE.get("versions", {}), "rows": ROWS,
           "passed": sum(r["pass"] for r in ROWS), "failed": sum(not r["pass"] for r in ROWS)}
    (EPHEMERAL / "security-results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def group() -> Group:
    return Group(NODES, data_port=DATA_TLS_PORT, sentinel_port=SENTINEL_TLS_PORT,
                 tls={"ssl_ca_certs": str(TLS_DIR / "ca.crt"), "ssl_certfile": str(TLS_DIR / "client.crt"),
                      "ssl_keyfile": str(TLS_DIR / "client.key")})


def passwords() -> dict[str, str]:
    """Every password the roles generated (one file each in redis_credentials_dir), by name."""
    return {p.name: secret(p.name) for p in sorted((EPHEMERAL / "credentials").iterdir())}


def secrets() -> dict[str, str]:
    """Every password the roles generated, plus the private keys' base64 lines."""
    found = passwords()
    for key in sorted(TLS_DIR.glob("*.key")):
        lines = [ln for ln in key.read_text().splitlines() if ln and not ln.startswith("-----")]
        for i, line in enumerate(lines):
            if len(line) >= 40:
                found[f"{key.name} line {i + 1}"] = line
    return found


def leaked(text: str, values: dict[str, str]) -> list[str]:
    return sorted(name for name, value in values.items() if value and value in text)


def docker_exec(name: str, *argv: str) -> str:
    proc = subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, f"{name}: {argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


def run_attacker(attacks: list[dict]) -> dict[str, dict]:
    """Runs attacker.py on the attacker host; the passwords travel on its stdin
    only (never in argv, the environment or a file there, nor in this
    function's arguments, which a failing test's traceback would print)."""
    subprocess.run(["docker", "cp", os.path.join(os.path.dirname(__file__), "attacker.py"),
                    f"{ATTACKER}:/opt/attack/attacker.py"], check=True, capture_output=True)
    job = {"tls_dir": "/opt/attack/tls", "secrets": passwords(),
           "attacks": [{k: a[k] for k in ("id", "host", "port", "tls", "client_cert", "login", "command", "raw")}
                       for a in attacks]}
    with subprocess.Popen(["docker", "exec", "-i", ATTACKER, "python3", "/opt/attack/attacker.py"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        out, err = proc.communicate(json.dumps(job), timeout=300)
    del job
    assert proc.returncode == 0, f"attacker.py failed ({proc.returncode}): {err[-2000:]}"
    assert not leaked(out + err, passwords()), "the attacker's output holds a secret"
    return {r["id"]: r for r in json.loads(out)["results"]}


# -- 1. TLS only ------------------------------------------------------------
def test_01_tls_only_topology(group):
    master = group.wait_settled(timeout=90)
    assert master == "tls-node1", f"bootstrap master should be tls-node1 (redis_role=master), is {master}"
    problems = []
    for n in NODES:
        cfg = group.node(n).config_get("port")
        cfg.update(group.node(n).config_get("tls-*"))
        want = {"port": "0", "tls-port": str(DATA_TLS_PORT), "tls-replication": "yes", "tls-auth-clients": "yes"}
        problems += [f"{n} {k}={cfg.get(k)}" for k, v in want.items() if cfg.get(k) != v]
        rec = group.master_record(n)
        if int(rec["port"]) != DATA_TLS_PORT:
            problems.append(f"sentinel {n} monitors port {rec['port']}")
        peers = [dict(zip(s[0::2], s[1::2])) for s in group.sentinel(n).execute_command("SENTINEL", "SENTINELS", "main")]
        problems += [f"sentinel {n} knows peer {p['ip']}:{p['port']}" for p in peers if int(p["port"]) != SENTINEL_TLS_PORT]
        if n != master and int(group.replication(n).get("master_port", 0)) != DATA_TLS_PORT:
            problems.append(f"{n} replicates from port {group.replication(n).get('master_port')}")
    server = group.node(master).info("server")
    STATE["versions"] = {"Redis": server.get("redis_version"), "redis-py (writer)": redis.__version__,
                         "ansible-core": metadata.version("ansible-core")}
    record("TLS end to end", "Topology: data nodes, replication, Sentinels and Sentinel peers",
           "plain ports 0; every link on a TLS port (6380, 26380)",
           "; ".join(problems) or "port 0 on 3 nodes; 2 replicas and 3 Sentinels on 6380, 2 peers each on 26380",
           not problems)
    assert not problems, problems


# -- 2. attacks ---------------------------------------------------------------
def _attacks(group, master: str) -> list[dict]:
    """What the attacker tries, and what must happen. 'expect' is (regex on the outcome, regex on the reply).

    Without a client certificate the server's TLS 1.3 alert can be overtaken
    by its closing the connection: both mean no session and no reply."""
    m = group.ip[master]
    attacker_ip = docker_exec(ATTACKER, "hostname", "-I").split()[0]
    noauth = ("reply", r"^\(error\) NOAUTH ")
    wrongpass = ("reply", r"^\(error\) WRONGPASS .*disabled")
    noperm = ("reply", r"^\(error\) NOPERM ")
    no_lua_global = ("reply", r"nonexistent global variable|^None$")
    items = [
        ("Data node", "unauthenticated PING", None, ["PING"], noauth, "NOAUTH"),
        ("Data node", "unauthenticated CONFIG GET masterauth", None, ["CONFIG", "GET", "masterauth"], noauth, "NOAUTH"),
        ("Data node", "AUTH as the `default` user (empty password)", {"user": "default", "password": ""}, ["PING"],
         wrongpass, "WRONGPASS (user disabled)"),
        ("Data node", "AUTH as the `default` user (guessed password)", {"user": "default", "password": "redis"}, ["PING"],
         wrongpass, "WRONGPASS (user disabled)"),
        ("Data node", "admin: CONFIG SET dir /root/.ssh", {"user": "admin", "secret": "admin"},
         ["CONFIG", "SET", "dir", "/root/.ssh"], ("reply", r"can't set protected config"), "refused: protected config"),
        ("Data node", "admin: CONFIG SET dbfilename authorized_keys", {"user": "admin", "secret": "admin"},
         ["CONFIG", "SET", "dbfilename", "authorized_keys"], ("reply", r"can't set protected config"),
         "refused: protected config"),
        ("Data node", "admin: MODULE LOAD /tmp/evil.so", {"user": "admin", "secret": "admin"},
         ["MODULE", "LOAD", "/tmp/evil.so"], ("reply", r"^\(error\) ERR MODULE command not allowed"),
         "refused: enable-module-command no"),
        ("Data node", "admin: DEBUG SLEEP 0", {"user": "admin", "secret": "admin"}, ["DEBUG", "SLEEP", "0"],
         ("reply", r"^\(error\) ERR DEBUG command not allowed"), "refused: enable-debug-command no"),
        ("Data node", "app: EVAL \"return type(package)\" 0", {"user": "app", "secret": "app"},
         ["EVAL", "return type(package)", "0"], no_lua_global, "no `package` in the Lua sandbox (nil or error)"),
        ("Data node", "app: EVAL \"return type(os)\" 0", {"user": "app", "secret": "app"},
         ["EVAL", "return type(os)", "0"], no_lua_global, "no `os` in the Lua sandbox (nil or error)"),
        ("Data node", "app: FLUSHALL", {"user": "app", "secret": "app"}, ["FLUSHALL"], noperm, "NOPERM"),
        ("Data node", "app: CONFIG GET masterauth", {"user": "app", "secret": "app"}, ["CONFIG", "GET", "masterauth"],
         noperm, "NOPERM"),
        ("Data node", "app: KEYS *", {"user": "app", "secret": "app"}, ["KEYS", "*"], noperm, "NOPERM"),
        ("Data node", "app: REPLICAOF <attacker> 6379", {"user": "app", "secret": "app"},
         ["REPLICAOF", attacker_ip, "6379"], noperm, "NOPERM"),
        ("Data node", "app: ACL SETUSER app +@all", {"user": "app", "secret": "app"}, ["ACL", "SETUSER", "app", "+@all"],
         noperm, "NOPERM"),
        ("Data node", "replication: GET a key", {"user": "replication", "secret": "replication"}, ["GET", "k"],
         noperm, "NOPERM"),
        ("Data node", "sentinel (its password is in sentinel.conf): FLUSHALL", {"user": "sentinel", "secret": "sentinel"},
         ["FLUSHALL"], noperm, "NOPERM"),
        ("Data node", "backup: CONFIG GET masterauth", {"user": "backup", "secret": "backup"},
         ["CONFIG", "GET", "masterauth"], noperm, "NOPERM"),
        ("Sentinel", "unauthenticated PING", None, ["PING"], noauth, "NOAUTH", SENTINEL_TLS_PORT),
        ("Sentinel", "unauthenticated SENTINEL MASTERS", None, ["SENTINEL", "MASTERS"], noauth, "NOAUTH",
         SENTINEL_TLS_PORT),
        ("Sentinel", "AUTH as the `default` user", {"user": "default", "password": ""}, ["PING"], wrongpass,
         "WRONGPASS (user disabled)", SENTINEL_TLS_PORT),
        ("Sentinel", "admin: SENTINEL SET main notification-script /tmp/x", {"user": "admin", "secret": "sentinel-admin"},
         ["SENTINEL", "SET", "main", "notification-script", "/tmp/x"],
         ("reply", r"Reconfiguration of scripts path is denied"), "refused: deny-scripts-reconfig", SENTINEL_TLS_PORT),
        ("Sentinel", "admin: SENTINEL SET main client-reconfig-script /tmp/x", {"user": "admin", "secret": "sentinel-admin"},
         ["SENTINEL", "SET", "main", "client-reconfig-script", "/tmp/x"],
         ("reply", r"Reconfiguration of scripts path is denied"), "refused: deny-scripts-reconfig", SENTINEL_TLS_PORT),
        ("Sentinel", "client (applications' user): SENTINEL SET main quorum 1", {"user": "client", "secret": "sentinel-client"},
         ["SENTINEL", "SET", "main", "quorum", "1"], noperm, "NOPERM", SENTINEL_TLS_PORT),
        ("Sentinel", "client (applications' user): SENTINEL FAILOVER main", {"user": "client", "secret": "sentinel-client"},
         ["SENTINEL", "FAILOVER", "main"], noperm, "NOPERM", SENTINEL_TLS_PORT),
    ]
    attacks = []
    for i, item in enumerate(items):
        section, label, login, command, expect, expected = item[:6]
        port = item[6] if len(item) > 6 else DATA_TLS_PORT
        attacks.append({"id": f"a{i}", "section": section, "label": label,
                        "host": m, "port": port, "tls": True, "client_cert": True, "login": login,
                        "command": command, "raw": None, "expect": expect, "expected": expected})
    # On every node: the plain ports are closed, the TLS ports answer nothing
    # in plaintext, and no client certificate means no session.
    per_node = [
        ("Network", f"plaintext PING to the plain port {DATA_PORT}", DATA_PORT, False, False,
         ("refused", ""), "connection refused (port 0)"),
        ("Network", f"plaintext PING to the plain Sentinel port {SENTINEL_PORT}", SENTINEL_PORT, False, False,
         ("refused", ""), "connection refused (port 0)"),
        ("Network", f"plaintext PING to the TLS port {DATA_TLS_PORT}", DATA_TLS_PORT, False, False,
         ("closed", ""), "connection closed, no answer"),
        ("Network", f"plaintext PING to the Sentinel TLS port {SENTINEL_TLS_PORT}", SENTINEL_TLS_PORT, False, False,
         ("closed", ""), "connection closed, no answer"),
        ("Network", f"TLS without a client certificate to {DATA_TLS_PORT}", DATA_TLS_PORT, True, False,
         ("tls_error|closed", "certificate required|EOF occurred|reset"), "no session: handshake refused (or closed), no reply"),
        ("Network", f"TLS without a client certificate to {SENTINEL_TLS_PORT}", SENTINEL_TLS_PORT, True, False,
         ("tls_error|closed", "certificate required|EOF occurred|reset"), "no session: handshake refused (or closed), no reply"),
    ]
    for j, (section, label, port, tls, cert, expect, expected) in enumerate(per_node):
        for n in NODES:
            attacks.append({"id": f"n{j}:{n}", "group": f"n{j}", "section": section, "label": f"{label} (every node)",
                            "host": group.ip[n], "node": n, "port": port, "tls": tls, "client_cert": cert,
                            "login": None, "command": ["PING"] if tls else None, "raw": None if tls else "PING\r\n",
                            "expect": expect, "expected": expected})
    return attacks


def _matches(result: dict, expect: tuple[str, str]) -> bool:
    outcome, pattern = expect
    return re.fullmatch(outcome, result["outcome"]) is not None and re.search(pattern, str(result["reply"])) is not None


def _short(text, limit: int = 110) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def test_02_attacks_from_another_host(group):
    master = group.wait_settled(timeout=60)
    attacks = _attacks(group, master)
    results = run_attacker(attacks)
    done = set()
    for a in attacks:
        key = a.get("group", a["id"])
        if key in done:
            continue
        done.add(key)
        same = [x for x in attacks if x.get("group", x["id"]) == key]
        observed = []
        for x in same:
            r = results[x["id"]]
            reply = f"{r['outcome']}: {_short(r['reply'])}" if r["outcome"] != "reply" else _short(r["reply"])
            observed.append(f"{x['node']}: {reply}" if "node" in x else reply)
        if len(same) > 1 and len({o.split(': ', 1)[1] for o in observed}) == 1:
            observed = [f"{len(same)}/{len(same)} nodes: {observed[0].split(': ', 1)[1]}"]
        record(f"Attack: {a['section']}", a["label"], a["expected"], "; ".join(observed),
               all(_matches(results[x["id"]], x["expect"]) for x in same))
    bad = [r for r in ROWS if r["section"].startswith("Attack") and not r["pass"]]
    assert not bad, json.dumps(bad, indent=1)
    # Nothing an attack tried has changed the group.
    assert group.wait_settled(timeout=30) == master


# -- 3. kill -9 over TLS --------------------------------------------------------
def _restarts(group, name) -> int:
    return int(group.docker(name, "systemctl", "show", "-p", "NRestarts", "--value", UNIT))


def test_03_kill_master_over_tls(group):
    old = group.wait_settled(timeout=60)
    old_restarts = _restarts(group, old)
    writer = Writer(group, "kill")
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        killed_at = time.monotonic()
        group.kill_data_node(old)
        new = group.wait_new_master(old)
        switched_at = time.monotonic()
        writer.wait_acks(200, timeout=60)
        group.wait_rejoined(old, new, 90)
        rejoined_at = time.monotonic()
        group.wait_settled(timeout=60)
        masters = group.masters()
        writer.wait_acks(100, timeout=30)
    finally:
        writer.stop()
    restarts = _restarts(group, old) - old_restarts
    lost = group.missing(new, writer.acked)
    observed = (f"{old} -> {new}; acknowledged {len(writer.acked)}, lost {len(lost)}; Sentinels agreed "
                f"{switched_at - killed_at:.1f} s after the kill; longest gap between acknowledged writes "
                f"{writer.longest_gap():.1f} s; {old} restarted {restarts}x by systemd, back as a replica "
                f"{rejoined_at - killed_at:.1f} s after the kill; client errors {writer.errors}")
    ok = not lost and masters == [new] and restarts == 1
    record("TLS end to end", "kill -9 of the master's redis-server under a WAIT-acknowledged writer "
           "(redis-py Sentinel client over TLS)",
           "one new master, 0 acknowledged writes lost, the old master back as a replica over TLS", observed, ok)
    assert not lost, f"{len(lost)} acknowledged writes missing on {new}: {lost[:10]}"
    assert masters == [new], f"masters seen: {masters}"
    assert restarts == 1, f"systemd restarted {old} {restarts} times"
    STATE["after_kill"] = new


# -- 4. planned switchover over TLS ------------------------------------------------
def test_04_switchover_over_tls(group):
    master = group.wait_settled(timeout=60)
    assert master == STATE.get("after_kill")
    target = sorted(n for n in NODES if n != master)[0]
    pause = int(group.master_record(master)["down-after-milliseconds"]) * 9 // 10
    result_file = EPHEMERAL / "switchover.json"
    result_file.unlink(missing_ok=True)
    writer = Writer(group, "switchover")
    writer.start()
    try:
        writer.wait_acks(200, timeout=30)
        proc = run_playbook(os.path.join(SCENARIO, "switchover.yml"), "-e", f"target_host={group.ip[target]}",
                            "-e", f"pause_timeout={pause}")
        STATE["outputs"] = STATE.get("outputs", []) + [proc.stdout + proc.stderr]
        result = read_json(str(result_file))
        if proc.returncode == 0:
            writer.wait_acks(200, timeout=60)
    finally:
        writer.stop()
    settled = group.wait_settled(timeout=60) if proc.returncode == 0 else None
    lost = group.missing(settled or master, writer.acked)
    observed = (f"{result.get('old_master')} -> {result.get('new_master')} ({master} -> {target}); write_pause "
                f"{result.get('write_pause')} s (pause_timeout {pause} ms), elapsed {result.get('elapsed')} s; "
                f"acknowledged {len(writer.acked)}, lost {len(lost)}; client errors {writer.errors};"
                f" timeline (s after the pause began) {result.get('timeline')}"
                + (f"; FAILED: {result.get('msg')}" if proc.returncode else ""))
    ok = proc.returncode == 0 and result.get("changed") is True and settled == target and not lost
    record("TLS end to end", "planned switchover with hardened.redis.sentinel_failover over TLS (Sentinel on "
           "127.0.0.1:26380, other Sentinels and data nodes at the addresses Sentinel reports) under the writer",
           "the chosen replica is master, 0 acknowledged writes lost", observed, ok)
    assert proc.returncode == 0, f"switchover failed: {result.get('msg')}\n{proc.stdout[-2000:]}"
    assert settled == target, f"master is {settled}, wanted {target}"
    assert not lost, f"{len(lost)} acknowledged writes missing on {target}: {lost[:10]}"
    STATE["after_switchover"] = target


# -- 5. a live ACL change at -vvv, 6. converge again -------------------------------
class PsSampler:
    """Every process command line seen on the nodes while Ansible runs.

    One shell loop per node runs `ps -eo args` every 0.2 s inside the node
    and streams it out: one `docker exec` per node for the whole run, not one
    per sample (those would load the 2-core controller and slow the converge)."""

    STOP = "/run/.hardened-redis-ps-sampler-stop"
    LOOP = f"rm -f {STOP}; while [ ! -e {STOP} ]; do ps -eo args; sleep 0.2; done; rm -f {STOP}"

    def __init__(self):
        self.seen: set[str] = set()
        self.samples = 0
        self._lock = threading.Lock()
        self._procs = [subprocess.Popen(["docker", "exec", n, "sh", "-c", self.LOOP], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True) for n in NODES]
        self._readers = [threading.Thread(target=self._read, args=(p,), daemon=True) for p in self._procs]
        for reader in self._readers:
            reader.start()

    def _read(self, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                if line.strip() == "COMMAND":
                    self.samples += 1
                else:
                    self.seen.add(line)

    def stop(self):
        for n in NODES:
            subprocess.run(["docker", "exec", n, "touch", self.STOP], check=False, capture_output=True)
        for proc, reader in zip(self._procs, self._readers):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(timeout=10)


def _changed_tasks(output: str) -> dict[str, list[str]]:
    """Host -> names of the tasks and handlers that reported changed (any verbosity)."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        m = re.match(r"^(?:TASK|RUNNING HANDLER) \[(?:[^:\]]+ : )?(.*?)\]", line)
        if m:
            current = m.group(1)
        m = re.match(r"^changed: \[([^\]]+)\]", line)
        if m:
            found.setdefault(m.group(1), []).append(current)
    return found


def test_05_live_acl_change_at_vvv_leaks_nothing(group):
    """An operator tightens the app user (redis_app_deny_scripting): the user
    changes live (hardened.redis.redis_acl, the admin password in the module's
    payload) and the ACL file is written. Run at -vvv while every node's
    process list is sampled."""
    master = group.wait_settled(timeout=60)
    assert master == STATE.get("after_switchover")
    before = {n: group.master_record(n) for n in NODES}
    sampler = PsSampler()
    started = time.monotonic()
    try:
        proc = run_playbook(CONVERGE, "-vvv", "-e", json.dumps(DENY_SCRIPTING))
    finally:
        sampler.stop()
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    STATE["outputs"] = STATE.get("outputs", []) + [output]
    changed = _changed_tasks(proc.stdout)
    wanted = {n: ["Converge the ACL users live", "Write the ACL users (password hashes only)"] for n in NODES}
    epochs_kept = all(group.master_record(n)["config-epoch"] == before[n]["config-epoch"] for n in NODES)
    ok = proc.returncode == 0 and changed == wanted and epochs_kept and group.agreed_master() == master
    record("TLS end to end", "converge with redis_app_deny_scripting: true (-vvv), after the kill and the switchover",
           "only the app user (live) and the ACL file change, no restart; the master and Sentinel epochs kept",
           f"rc {proc.returncode}; changed: {changed or 'nothing'}; master {group.agreed_master()}, "
           f"epochs {'kept' if epochs_kept else 'CHANGED'}; {took:.0f} s", ok)
    result = run_attacker([{"id": "eval", "host": group.ip[master], "port": DATA_TLS_PORT, "tls": True,
                            "client_cert": True, "login": {"user": "app", "secret": "app"},
                            "command": ["EVAL", "return type(package)", "0"], "raw": None}])["eval"]
    refused = _matches(result, ("reply", r"^\(error\) NOPERM "))
    record("Attack: Data node", "app with redis_app_deny_scripting: true: EVAL \"return type(package)\" 0", "NOPERM",
           _short(result["reply"]), refused)
    values = secrets()
    in_output = leaked(output, values)
    record("Secrets", "Ansible output at -vvv of that converge (the live ACL change included)",
           "no password and no private key line", f"{len(output.splitlines())} lines searched for {len(values)} "
           f"secrets: {', '.join(in_output) or 'none found'}", not in_output)
    in_ps = leaked("\n".join(sampler.seen), values)
    record("Secrets", "process command lines on every node while that converge ran (ps -eo args, sampled)",
           "no password", f"{sampler.samples} samples on 3 nodes, {len(sampler.seen)} distinct command lines: "
           f"{', '.join(in_ps) or 'none found'}", not in_ps)
    assert ok, f"changed {changed}, wanted {wanted}; epochs kept {epochs_kept}\n{proc.stdout[-3000:]}"
    assert refused, result
    assert not in_output, f"secrets in Ansible's output: {in_output}"
    assert not in_ps, f"secrets on a command line: {in_ps}"


def test_05b_operator_playbooks_over_tls(group):
    """status and switchover, the operator's playbooks, reach TLS-only Sentinels and nodes."""
    master = group.wait_settled(timeout=60)
    target = sorted(n for n in NODES if n != master)[0]
    status_json = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "status.json")
    status = run_playbook("hardened.redis.status", "-e", f"status_json={status_json}")
    report = read_json(status_json) if os.path.exists(status_json) else {}
    switch = run_playbook("hardened.redis.switchover", "-e", f"target={target}")
    STATE["outputs"] = STATE.get("outputs", []) + [status.stdout + status.stderr, switch.stdout + switch.stderr]
    now = group.wait_settled(timeout=60)
    ok = (status.returncode == 0 and report.get("master_host") == master and report.get("worst") != "CRIT"
          and switch.returncode == 0 and now == target)
    record("TLS end to end", "hardened.redis.status, then hardened.redis.switchover -e target=HOST (TLS-only Sentinels)",
           "the report names the master, nothing CRIT; the target becomes master",
           f"status rc {status.returncode}, master {report.get('master_host')}, worst {report.get('worst')}; "
           f"switchover rc {switch.returncode}, {master} -> {now}", ok)
    assert status.returncode == 0 and report.get("master_host") == master, status.stdout[-4000:]
    assert report.get("worst") != "CRIT", report.get("checks")
    assert switch.returncode == 0 and now == target, switch.stdout[-4000:]


def test_06_converge_again_changes_nothing(group):
    master = group.wait_settled(timeout=60)
    before = {n: group.master_record(n) for n in NODES}
    started = time.monotonic()
    proc = run_playbook(CONVERGE, "-e", json.dumps(DENY_SCRIPTING))
    took = time.monotonic() - started
    STATE["outputs"] = STATE.get("outputs", []) + [proc.stdout + proc.stderr]
    counts = recap(proc.stdout)
    changed = {h: c.get("changed", 0) for h, c in counts.items() if c.get("changed") or c.get("failed")}
    epochs_kept = all(group.master_record(n)["config-epoch"] == before[n]["config-epoch"] for n in NODES)
    ok = proc.returncode == 0 and set(counts) == set(NODES) and not changed and epochs_kept
    record("TLS end to end", "converge again (site.yml, same variables)",
           "0 changed, the master and Sentinel epochs kept",
           f"rc {proc.returncode}, changed {changed or 0} on {len(counts)} hosts, master {group.agreed_master()}, "
           f"epochs {'kept' if epochs_kept else 'CHANGED'}; {took:.0f} s", ok and group.agreed_master() == master)
    values = secrets()
    outputs = STATE.get("outputs", [])
    in_output = leaked("\n".join(outputs), values)
    record("Secrets", "Ansible output of every playbook the tests ran (switchover, both converges)",
           "no password and no private key line", f"{sum(len(o.splitlines()) for o in outputs)} lines: "
           f"{', '.join(in_output) or 'none found'}", not in_output)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not changed, f"changed: {changed}\n{proc.stdout[-4000:]}"
    assert epochs_kept and group.agreed_master() == master
    assert not in_output, f"secrets in Ansible's output: {in_output}"


# -- 7. no secret on the hosts ------------------------------------------------------
def test_07_no_secret_in_processes_journal_or_logs(group):
    values = secrets()
    where = {
        "process command lines on every node (ps -eo args)": ["ps", "-eo", "args"],
        "journal of every node (journalctl -o verbose: messages and command-line fields)":
            ["journalctl", "--no-pager", "-o", "verbose"],
        "Redis and Sentinel log files of every node": ["sh", "-c", "cat /var/log/redis/*.log"],
    }
    problems = []
    for label, argv in where.items():
        found, size = [], 0
        for n in NODES:
            text = group.docker(n, *argv)
            size += len(text.splitlines())
            found += [f"{n}: {s}" for s in leaked(text, values)]
        record("Secrets", label, "no password and no private key line",
               f"{size} lines on 3 nodes: {', '.join(found) or 'none found'}", not found)
        problems += found
    assert not problems, problems


# -- 8. file modes ------------------------------------------------------------------------
# path -> (mode, owner, group) as the roles set them; None: only "nothing for others".
EXPECTED_MODES = {
    "/etc/redis/main": ("750", "redis", "redis"),
    # The role writes it 0640; Redis's CONFIG REWRITE writes it back 0644 & ~umask:
    # 0600 under the unit's UMask=0077.
    "/etc/redis/main/redis.conf": ("640|600", "redis", "redis"),
    "/etc/redis/main/users.acl": ("640", "redis", "redis"),
    "/etc/redis/main/tls": ("750", "redis", "redis"),
    "/etc/redis/main/tls/server.key": ("600", "redis", "redis"),
    "/etc/redis/main/tls/server.crt": ("640", "redis", "redis"),
    "/etc/redis/sentinel-main": ("700", "redis", "redis"),
    "/etc/redis/sentinel-main/sentinel.conf": ("600", "redis", "redis"),
    "/etc/redis/sentinel-main/tls": ("750", "redis", "redis"),
    "/etc/redis/sentinel-main/tls/sentinel.key": ("600", "redis", "redis"),
    "/var/lib/redis/main": ("750", "redis", "redis"),
}
OTHERS_NOTHING = ["/var/lib/redis/main/*", "/var/lib/redis/main/*/*", "/var/log/redis/*"]


def test_08_file_modes(group):
    problems = []
    stat_fmt = "%a %U %G %n"
    for n in NODES:
        out = group.docker(n, "stat", "-c", stat_fmt, *EXPECTED_MODES)
        for line in out.splitlines():
            mode, owner, grp, path = line.split(" ", 3)
            want_modes, want_owner, want_group = EXPECTED_MODES[path]
            if mode not in want_modes.split("|") or (owner, grp) != (want_owner, want_group):
                problems.append(f"{n}:{path} {mode} {owner}:{grp}, wanted {' '.join(EXPECTED_MODES[path])}")
        others = group.docker(n, "sh", "-c", f"stat -c '{stat_fmt}' {' '.join(OTHERS_NOTHING)} 2>/dev/null", check=False)
        for line in others.splitlines():
            mode, owner, grp, path = line.split(" ", 3)
            if int(mode, 8) & 0o007:
                problems.append(f"{n}:{path} {mode} {owner}:{grp} (others have access)")
    record("Files", "config, ACL, TLS key and Sentinel files (stat on every node)",
           "no access for others; modes and owners as the roles set them (0640/0600 redis:redis, directories 0750/0700)",
           "; ".join(problems) or f"{len(EXPECTED_MODES)} paths x 3 nodes as set; data and log files: nothing for others",
           not problems)
    creds = EPHEMERAL / "credentials"
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in [creds, *sorted(creds.iterdir())]}
    bad = {k: v for k, v in modes.items() if int(v, 8) & 0o077}
    record("Files", "generated passwords on the controller (redis_credentials_dir)", "directory 0700, files 0600",
           f"{', '.join(f'{k} {v}' for k, v in bad.items()) or f'{len(modes) - 1} files 0600 in a 0700 directory'}",
           not bad)
    assert not problems, problems
    assert not bad, bad
