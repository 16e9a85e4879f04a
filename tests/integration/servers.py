# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start real redis-server / redis-sentinel processes on loopback for tests.

Reusable by every integration test of the collection::

    from servers import start_redis, start_sentinel

    srv = start_redis(tmp_path, ["maxmemory 10mb"], unix_socket=True)
    try:
        srv.client().ping()
    finally:
        srv.stop()

or as a context manager: ``with start_redis(tmp_path) as srv: ...``.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import random
import shutil
import signal
import socket
import subprocess
import time

REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = os.environ.get("REDIS_SENTINEL_BIN") or shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
HOST = "127.0.0.1"


# Ports are handed out below the kernel's ephemeral range (outgoing
# connections never take them), in a slice of their own for each pytest-xdist
# worker (gw0, gw1, ...), so parallel workers never pick the same port.
_PORT_SLICE = 2000
_PORT_BASE = 20000


def _port_candidates():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    first = _PORT_BASE + (index % 6) * _PORT_SLICE
    offset = random.randrange(_PORT_SLICE)
    while True:
        for step in range(_PORT_SLICE):
            yield first + (offset + step) % _PORT_SLICE
        offset = random.randrange(_PORT_SLICE)


_PORTS = _port_candidates()


def free_port():
    """A TCP port of this worker's slice that was free on 127.0.0.1 a moment ago."""
    for port in _PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, port))
        except OSError:
            continue
        finally:
            s.close()
        return port


class TLSFiles:
    """Paths of a throwaway CA and server/client certificates (see make_tls_files)."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert = os.path.join(directory, "ca.crt")
        self.ca_key = os.path.join(directory, "ca.key")
        self.server_cert = os.path.join(directory, "server.crt")
        self.server_key = os.path.join(directory, "server.key")
        self.client_cert = os.path.join(directory, "client.crt")
        self.client_key = os.path.join(directory, "client.key")
        self.other_ca_cert = os.path.join(directory, "other-ca.crt")


def _openssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_tls_files(directory):
    """Make a CA, a server cert (SAN 127.0.0.1, localhost), a client cert
    and an unrelated CA (to test verification failures) with the openssl CLI."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    t = TLSFiles(directory)
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=hardened.redis test CA", "-keyout", t.ca_key, "-out", t.ca_cert], directory)
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=unrelated CA", "-keyout", os.path.join(directory, "other-ca.key"),
              "-out", t.other_ca_cert], directory)
    ext = os.path.join(directory, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        key = os.path.join(directory, name + ".key")
        csr = os.path.join(directory, name + ".csr")
        crt = os.path.join(directory, name + ".crt")
        _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                  "-keyout", key, "-out", csr], directory)
        _openssl(["x509", "-req", "-in", csr, "-CA", t.ca_cert, "-CAkey", t.ca_key,
                  "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt], directory)
    return t


class RedisProcess:
    """A running redis-server (or redis-sentinel) started by start_redis/start_sentinel.

    Attributes: host, port (the plain TCP port, 0 if disabled), tls_port,
    socket (unix socket path or None), dir (working dir), config_file,
    log_file, password (of the default user, or None), tls (TLSFiles or None),
    proc (the Popen).
    """

    def __init__(self, workdir, config_file, port, tls_port=0, unix_socket=None,
                 password=None, tls=None, sentinel=False, args=None, user=None):
        self.host = HOST
        self.args = list(args) if args is not None else [config_file]  # argv after the binary
        self.user = user  # run as this user (tests that need a server that is not root)
        self.dir = workdir
        self.config_file = config_file
        self.port = port
        self.tls_port = tls_port
        self.socket = unix_socket
        self.password = password
        self.tls = tls
        self.sentinel = sentinel
        self.log_file = os.path.join(workdir, "server.log")
        self.proc = None

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout=10.0):
        binary = REDIS_SENTINEL if self.sentinel else REDIS_SERVER
        extra = dict(user=self.user) if self.user else {}
        self.proc = subprocess.Popen([binary] + self.args, cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, **extra)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (binary, self.proc.returncode, self.log()))
            try:
                # No retries: redis-py >= 6 retries a refused login (an AuthenticationError
                # is a ConnectionError) with backoff, 4 s per probe of a server with auth.
                from redis.backoff import NoBackoff
                from redis.retry import Retry
                c = self.client(socket_timeout=1, retry=Retry(NoBackoff(), 0))
                c.ping()
                c.close()
                return self
            except Exception as e:  # still starting, or up but refusing these credentials
                if _answered(e):
                    return self
                last = e
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not answer within %ss (%r):\n%s" % (binary, timeout, last, self.log()))

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def restart(self, timeout=10.0):
        """Stop and start again with the (possibly edited) config file."""
        self.stop()
        return self.start(timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers ---------------------------------------------------------
    def log(self):
        try:
            with open(self.log_file) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def read_config(self):
        with open(self.config_file) as f:
            return f.read()

    def client(self, username=None, password=None, **kwargs):
        """A redis-py client to this process (decode_responses=True).

        Uses the unix socket if there is no TCP port, TLS if only tls_port is
        open; password defaults to the one the process was started with.
        """
        import redis  # imported late: servers.py is importable without redis-py
        if password is None:
            password = self.password
        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("socket_timeout", 5)
        if username is not None:
            kwargs["username"] = username
        if password is not None:
            kwargs["password"] = password
        if self.port:
            return redis.Redis(host=self.host, port=self.port, **kwargs)
        if self.tls_port:
            return redis.Redis(host=self.host, port=self.tls_port, ssl=True,
                               ssl_ca_certs=self.tls.ca_cert, ssl_certfile=self.tls.client_cert,
                               ssl_keyfile=self.tls.client_key, **kwargs)
        return redis.Redis(unix_socket_path=self.socket, **kwargs)

    def pid(self):
        """process_id as the server itself reports it (INFO server)."""
        return int(self.client().info("server")["process_id"])

    def config_get(self, name):
        return self.client().config_get(name).get(name)


def _answered(exc):
    """True when the error came from a running server (auth refused), not from a
    server that is not listening yet."""
    if any(k.__name__ in ("AuthenticationError", "NoPermissionError") for k in type(exc).__mro__):
        return True
    text = str(exc).lower()
    return any(k in text for k in ("noauth", "wrongpass", "invalid username-password", "authentication required",
                                   "user is disabled", "noperm"))


def _write_config(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def start_redis(tmp_path, extra_lines=(), unix_socket=False, password=None, aclfile=None,
                tls=False, tls_only=False, port=None, name="redis", timeout=10.0):
    """Start a redis-server in ``tmp_path/<name>`` and wait until it answers PING.

    extra_lines: config lines appended to the generated redis.conf.
    unix_socket: also listen on ``<dir>/redis.sock``.
    password:    requirepass for the default user (written to the config file,
                 never on a command line).
    aclfile:     text of an ACL file (written to ``<dir>/users.acl``).
    tls:         also listen with TLS on a second port (certs from
                 make_tls_files in ``<dir>/tls``), or a TLSFiles to reuse.
    tls_only:    with tls, disable the plain TCP port.
    Returns a started RedisProcess; call .stop() (or use it with ``with``).
    """
    workdir = os.path.join(str(tmp_path), name)
    os.makedirs(workdir, exist_ok=True)
    port = free_port() if port is None else port
    lines = [
        "bind 127.0.0.1",
        "port %d" % (0 if (tls and tls_only) else port),
        "dir %s" % workdir,
        "daemonize no",
        "logfile %s" % os.path.join(workdir, "server.log"),
        "save \"\"",
        "appendonly no",
        "protected-mode yes",
    ]
    sock = None
    if unix_socket:
        sock = os.path.join(workdir, "redis.sock")
        lines += ["unixsocket %s" % sock, "unixsocketperm 700"]
    if password is not None:
        lines.append("requirepass %s" % password)
    if aclfile is not None:
        acl_path = os.path.join(workdir, "users.acl")
        with open(acl_path, "w") as f:
            f.write(aclfile.rstrip("\n") + "\n")
        os.chmod(acl_path, 0o600)
        lines.append("aclfile %s" % acl_path)
    tls_files = None
    tls_port = 0
    if tls:
        tls_files = tls if isinstance(tls, TLSFiles) else make_tls_files(os.path.join(workdir, "tls"))
        tls_port = free_port()
        lines += [
            "tls-port %d" % tls_port,
            "tls-cert-file %s" % tls_files.server_cert,
            "tls-key-file %s" % tls_files.server_key,
            "tls-ca-cert-file %s" % tls_files.ca_cert,
            "tls-auth-clients yes",
        ]
    lines += list(extra_lines)
    config_file = os.path.join(workdir, "redis.conf")
    _write_config(config_file, lines)
    os.chmod(config_file, 0o640)
    proc = RedisProcess(workdir, config_file, 0 if (tls and tls_only) else port, tls_port=tls_port,
                        unix_socket=sock, password=password, tls=tls_files)
    return proc.start(timeout)


def start_sentinel(tmp_path, extra_lines=(), port=None, name="sentinel", password=None, timeout=10.0):
    """Start a redis-sentinel in ``tmp_path/<name>`` (config file writable, as
    Sentinel requires). extra_lines typically hold ``sentinel monitor ...``."""
    workdir = os.path.join(str(tmp_path), name)
    os.makedirs(workdir, exist_ok=True)
    port = free_port() if port is None else port
    lines = [
        "bind 127.0.0.1",
        "port %d" % port,
        "dir %s" % workdir,
        "daemonize no",
        "logfile %s" % os.path.join(workdir, "server.log"),
    ]
    if password is not None:
        lines.append("requirepass %s" % password)
    lines += list(extra_lines)
    config_file = os.path.join(workdir, "sentinel.conf")
    _write_config(config_file, lines)
    proc = RedisProcess(workdir, config_file, port, password=password, sentinel=True)
    return proc.start(timeout)
