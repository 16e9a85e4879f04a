"""Host-level checks of the hardened redis role (default scenario)."""

from __future__ import annotations

import hashlib
import re
import stat

import pytest
import redis

from redis_lab import (FIXABLE_WARNINGS, SKIPPED_IN_CONTAINER, client, container_ip,
                       credentials_dir, log_since_last_start, main_pid, password)

testinfra_hosts = ["docker://default-debian12", "docker://default-debian13"]

USERS = ("admin", "app", "replication", "sentinel")


# --- files, users, credentials ----------------------------------------------

def test_service_user_is_not_root(host, inst):
    user = host.user(inst.user)
    assert user.exists
    assert user.uid != 0 and user.gid != 0
    assert user.shell in ("/usr/sbin/nologin", "/bin/false")


@pytest.mark.parametrize("attr, mode", [
    ("conf_dir", 0o750), ("conf_file", 0o640), ("acl_file", 0o640), ("data_dir", 0o750),
])
def test_file_modes_and_owners(host, inst, attr, mode):
    f = host.file(getattr(inst, attr))
    assert f.exists, f.path
    assert f.user == inst.user and f.group == inst.user, f.path
    if attr == "conf_file":
        # The role writes 0640; a CONFIG REWRITE that is not the module's (an
        # operator's, Sentinel's after a failover) leaves 0600 under UMask=0077.
        assert f.mode in (0o640, 0o600), f"{f.path}: {oct(f.mode)}"
    else:
        assert f.mode == mode, f"{f.path}: {oct(f.mode)} != {oct(mode)}"


def test_log_file_is_private(host, inst):
    f = host.file(inst.log_file)
    assert f.is_file and f.user == inst.user
    assert f.mode & 0o007 == 0, f"{f.path} is world-accessible: {oct(f.mode)}"


def test_unix_socket_mode(host, inst):
    f = host.file(inst.socket)
    assert f.is_socket
    assert f.mode == 0o660 and f.user == inst.user and f.group == inst.user


def test_controller_credentials_are_private():
    cdir = credentials_dir()
    assert stat.S_IMODE(cdir.stat().st_mode) & 0o077 == 0, f"{cdir} is group/world-accessible"
    for user in USERS:
        path = cdir / user
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path}: {oct(path.stat().st_mode)}"
        assert len(password(user)) >= 32


def test_acl_file_holds_hashes_not_passwords(host, inst):
    content = host.file(inst.acl_file).content_string
    for user in USERS:
        secret = password(user)
        assert secret not in content, f"plaintext password of {user} in {inst.acl_file}"
        assert f"#{hashlib.sha256(secret.encode()).hexdigest()}" in content
    assert re.search(r"^user default off\b", content, re.M)


def test_config_file_has_no_secret_but_masterauth(host, inst):
    content = host.file(inst.conf_file).content_string
    for user in ("admin", "app", "sentinel"):
        assert password(user) not in content
    # masterauth (the replication password) is why the file is 0640.
    assert password("replication") in content


# --- processes and sockets ---------------------------------------------------

def test_our_unit_runs_and_the_distribution_unit_is_masked(host, inst):
    ours = host.service(inst.unit)
    assert ours.is_running and ours.is_enabled
    assert host.run(f"systemctl is-enabled {inst.distro_unit}").stdout.strip() == "masked"
    procs = [line for line in host.check_output("ps -eo pid=,comm=").splitlines()
             if line.split()[1] in ("redis-server", "valkey-server")]
    assert len(procs) == 1, procs


def test_process_runs_as_service_user(host, inst):
    pid = main_pid(host, inst)
    assert pid > 0
    assert host.check_output(f"ps -o user= -p {pid}").strip() == inst.user


def test_process_has_no_privileges(host, inst):
    """What the sandbox really enforces in the process (not only what systemd lists)."""
    status = host.file(f"/proc/{main_pid(host, inst)}/status").content_string
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapBnd"], 16) == 0
    assert int(fields["CapAmb"], 16) == 0
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"


def test_listens_only_on_configured_addresses(host, inst, tls):
    # ss cannot name the owner of another user's socket in a container (no
    # CAP_SYS_PTRACE): select the listeners by port instead.
    out = host.check_output("ss -Htln")
    local = [line.split()[3] for line in out.splitlines()]
    mine = [addr for addr in local if addr.rsplit(":", 1)[1] in ("6379", "6380", "16379")]
    ports = ("6379", "6380") if tls else ("6379",)
    expected = [f"{addr}:{port}" for addr in (container_ip(host), "127.0.0.1") for port in ports]
    assert sorted(mine) == sorted(expected), local
    wildcard = [addr for addr in local if addr.startswith(("0.0.0.0:", "*:", "[::]:"))]
    assert wildcard == [], wildcard


def test_no_password_on_any_command_line(host):
    cmdlines = host.check_output("ps -eo args=")
    for user in USERS:
        assert password(user) not in cmdlines, f"password of {user} visible in ps"


# --- systemd sandbox ---------------------------------------------------------

SANDBOX = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectHome": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
    "LimitNOFILE": "65535",
    "Type": "notify",
    "Restart": "always",
    "User": None,
}


def test_sandbox_directives(host, inst):
    props = ",".join(list(SANDBOX) + ["SystemCallFilter", "ReadWritePaths", "PrivateUsers", "DropInPaths"])
    out = host.check_output(f"systemctl show -p {props} {inst.unit}")
    shown = dict(line.split("=", 1) for line in out.splitlines())
    expected = dict(SANDBOX, User=inst.user)
    for key, value in expected.items():
        if key == "CapabilityBoundingSet":
            assert shown[key] in ("", "0"), (key, shown[key])
        elif key == "ProtectHome":
            assert shown[key] in ("yes", "true"), (key, shown[key])
        else:
            assert shown[key] == value, (key, shown[key])
    # The deny list (~@privileged @resources) is applied: setrlimit/mount are not allowed.
    allowed = shown["SystemCallFilter"]
    assert not allowed.startswith("~") and "execve" in allowed
    assert " mount " not in f" {allowed} " and " setrlimit " not in f" {allowed} "
    for path in (inst.data_dir, inst.log_dir, inst.conf_dir):
        assert path in shown["ReadWritePaths"].split(), (path, shown["ReadWritePaths"])


def test_container_relaxes_only_private_users(host, inst):
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    dropin = host.file(f"/etc/systemd/system/{inst.engine}-hardened@.service.d/10-container.conf")
    unit = host.file(f"/etc/systemd/system/{inst.engine}-hardened@.service").content_string
    assert "PrivateUsers=true" in unit
    if virt in ("", "none"):
        assert not dropin.exists
        return
    settings = [line for line in dropin.content_string.splitlines()
                if line and not line.startswith(("#", "["))]
    assert settings == ["PrivateUsers=no"], settings


def test_kernel_settings_skipped_in_container_as_reported(host):
    """In a container the role writes no sysctl or THP file (it says so); on a VM it applies them."""
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    sysctl = host.file("/etc/sysctl.d/60-redis-hardened.conf")
    thp = host.file("/etc/tmpfiles.d/redis-hardened-thp.conf")
    if virt not in ("", "none"):
        assert not sysctl.exists and not thp.exists
    else:
        assert host.sysctl("vm.overcommit_memory") == 1
        assert "[always]" not in host.file("/sys/kernel/mm/transparent_hugepage/enabled").content_string


def test_no_fixable_startup_warning(host, inst):
    log = log_since_last_start(host, inst)
    assert "Ready to accept connections" in log
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    accepted = SKIPPED_IN_CONTAINER if virt not in ("", "none") else set()
    found = {key for key, text in FIXABLE_WARNINGS.items() if text in log}
    assert found <= accepted, f"fixable startup warnings: {sorted(found - accepted)}"


def test_logrotate_config(host, inst):
    path = f"/etc/logrotate.d/{inst.engine}-hardened-main"
    assert inst.log_file in host.file(path).content_string
    assert host.run(f"logrotate --debug {path}").rc == 0


# --- Redis behaviour, from the controller over the network -------------------

def test_admin_ping_and_noauth(host):
    assert client(host, "admin", password("admin")).ping() is True
    # A NOAUTH reply: redis-py strips the error code and raises AuthenticationError.
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        client(host).get("x")


def test_default_user_is_refused(host):
    with pytest.raises(redis.AuthenticationError):
        client(host, "default", password("admin")).ping()
    acl = client(host, "admin", password("admin")).acl_getuser("default")
    assert "off" in acl["flags"]


@pytest.mark.parametrize("command", [("FLUSHALL",), ("CONFIG", "GET", "maxmemory"), ("DEBUG", "SLEEP", "0"),
                                     ("KEYS", "*"), ("SHUTDOWN",), ("ACL", "LIST"), ("MODULE", "LIST")])
def test_app_user_cannot_run_dangerous_commands(host, command):
    # The ACL itself (ACL DRYRUN), independent of enable-debug-command & co.
    admin = client(host, "admin", password("admin"))
    verdict = admin.execute_command("ACL", "DRYRUN", "app", *command)
    assert verdict != "OK" and "no permissions" in verdict, verdict
    # And for real, on commands that would not harm a running test.
    if command[0] in ("FLUSHALL", "CONFIG", "KEYS", "ACL"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client(host, "app", password("app")).execute_command(*command)


def test_app_user_dryrun_positive_control(host):
    """ACL DRYRUN says OK for what the app user may do, so the test above can tell."""
    admin = client(host, "admin", password("admin"))
    assert admin.execute_command("ACL", "DRYRUN", "app", "SET", "k", "v") == "OK"


def test_app_user_can_use_data(host):
    app = client(host, "app", password("app"))
    assert app.set("hardened:probe", "1") is True
    assert app.get("hardened:probe") == "1"
    assert app.delete("hardened:probe") == 1


def test_protected_config_and_disabled_commands(host, inst):
    admin = client(host, "admin", password("admin"))
    with pytest.raises(redis.ResponseError, match="(?i)protected"):
        admin.config_set("dir", "/tmp")
    with pytest.raises(redis.ResponseError, match="(?i)DEBUG command not allowed"):
        admin.execute_command("DEBUG", "SLEEP", "0")
    with pytest.raises(redis.ResponseError, match="(?i)MODULE command not allowed"):
        admin.execute_command("MODULE", "LOAD", "/nonexistent.so")


def _words(value):
    return set(value.split() if isinstance(value, str) else value)


def test_sentinel_and_replication_users_rights(host):
    admin = client(host, "admin", password("admin"))
    sentinel = admin.acl_getuser("sentinel")
    cmds = _words(sentinel["commands"])
    assert cmds == {"+multi", "+slaveof", "+ping", "+exec", "+subscribe", "+config|rewrite", "+role",
                    "+publish", "+info", "+client|setname", "+client|kill", "+script|kill"}, cmds
    assert _words(sentinel["channels"]) == {"&*"}, sentinel["channels"]
    repl = admin.acl_getuser("replication")
    assert _words(repl["commands"]) == {"+psync", "+replconf", "+ping"}
    # The sentinel user really is limited.
    with pytest.raises(redis.exceptions.NoPermissionError):
        client(host, "sentinel", password("sentinel")).set("k", "v")


def test_running_configuration(host):
    admin = client(host, "admin", password("admin"))
    cfg = admin.config_get("*")
    assert cfg["protected-mode"] == "yes"
    assert cfg["bind"].split() == [container_ip(host), "127.0.0.1"]
    assert cfg["appendonly"] == "yes" and cfg["aof-use-rdb-preamble"] == "yes"
    assert cfg["appendfsync"] == "everysec"
    assert cfg["save"] == "3600 1 300 100 60 10000"
    assert cfg["maxmemory-policy"] == "noeviction"
    assert int(cfg["maxmemory"]) > 0
    assert cfg["masteruser"] == "replication"
    assert cfg["enable-protected-configs"] == "no"
    assert cfg["enable-debug-command"] == "no"
    assert cfg["enable-module-command"] == "no"
    assert int(cfg["slowlog-log-slower-than"]) == 10000 and int(cfg["latency-monitor-threshold"]) == 100


# --- TLS (hosts with redis_tls_enabled) ----------------------------------------

def _tls_client(host, with_client_cert=True):
    tls_dir = credentials_dir().parent / "tls"
    extra = {"ssl_certfile": str(tls_dir / "client.crt"), "ssl_keyfile": str(tls_dir / "client.key")} \
        if with_client_cert else {}
    return redis.Redis(host=container_ip(host), port=6380, username="admin", password=password("admin"),
                       ssl=True, ssl_ca_certs=str(tls_dir / "ca.crt"), protocol=2,
                       socket_timeout=5, socket_connect_timeout=5, decode_responses=True, **extra)


def test_tls_with_client_certificate(host, tls):
    if not tls:
        assert host.run("ss -Htln '( sport = :6380 )'").stdout.strip() == ""
        return
    conn = _tls_client(host)
    assert conn.ping() is True
    assert conn.config_get("tls-auth-clients")["tls-auth-clients"] == "yes"
    assert conn.config_get("tls-replication")["tls-replication"] == "yes"


def test_tls_refuses_a_client_without_certificate(host, tls):
    if not tls:
        pytest.skip("TLS is not enabled on this host")
    with pytest.raises(redis.ConnectionError):
        _tls_client(host, with_client_cert=False).ping()


@pytest.mark.parametrize("name, mode", [("server.crt", 0o640), ("server.key", 0o600), ("ca.crt", 0o640)])
def test_tls_files(host, inst, tls, name, mode):
    f = host.file(f"{inst.conf_dir}/tls/{name}")
    if not tls:
        assert not f.exists
        return
    assert f.user == inst.user and f.group == inst.user and f.mode == mode, (f.path, oct(f.mode))
