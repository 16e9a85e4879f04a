"""Runs inside the tls-attacker container: each attack is one fresh connection.

Python's standard library only (socket, ssl): a minimal RESP client, so that
what is recorded is the server's own reply line, not a client library's
rewording. Reads one JSON document on stdin:

  {"tls_dir": "/opt/attack/tls", "secrets": {"name": "value", ...},
   "attacks": [{"id": ..., "host": ..., "port": ..., "tls": true,
                "client_cert": true, "login": {"user": ..., "secret": name of a secret
                | "password": a guess} or null,
                "command": ["CONFIG", "SET", "dir", "/tmp"] or null,
                "raw": "PING\\r\\n" or null}, ...]}

and prints one JSON document: {"results": [{"id": ..., "outcome": ..., "reply": ...}]}.
outcome is one of: reply (the server answered), refused (TCP connection
refused), closed (the server closed or reset the connection without a reply),
tls_error (the TLS handshake failed), timeout. Secrets come only from stdin,
never from argv or the environment, and are never printed.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys

TIMEOUT = 5.0


def encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else bytes(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Closed(Exception):
    """The server closed the connection."""


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed()
        self.buf += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        """One RESP2 reply: errors as '(error) <line>', nil as None."""
        line = self.line()
        kind, rest = line[:1], line[1:].decode(errors="replace")
        if kind == b"-":
            return "(error) " + rest
        if kind == b"+":
            return rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.exact(int(rest)).decode(errors="replace")
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for dummy in range(int(rest))]
        return "(unparsed) " + line.decode(errors="replace")


def connect(attack, tls_dir):
    sock = socket.create_connection((attack["host"], attack["port"]), timeout=TIMEOUT)
    if not attack.get("tls"):
        return sock
    ctx = ssl.create_default_context(cafile=f"{tls_dir}/ca.crt")
    if attack.get("client_cert"):
        ctx.load_cert_chain(f"{tls_dir}/client.crt", f"{tls_dir}/client.key")
    return ctx.wrap_socket(sock, server_hostname=attack["host"])


def run(attack, tls_dir, secrets):
    try:
        sock = connect(attack, tls_dir)
    except ConnectionRefusedError as exc:
        return "refused", str(exc)
    except ssl.SSLError as exc:
        return "tls_error", str(exc)
    except (socket.timeout, TimeoutError) as exc:
        return "timeout", str(exc)
    except (ConnectionResetError, BrokenPipeError) as exc:
        return "closed", str(exc)
    reader = Reader(sock)
    try:
        if attack.get("raw") is not None:
            sock.sendall(attack["raw"].encode())
            return "reply", reader.line().decode(errors="replace")
        if attack.get("login"):
            login = attack["login"]
            password = secrets[login["secret"]] if "secret" in login else login["password"]
            sock.sendall(encode(["AUTH", login["user"], password]))
            auth = reader.reply()
            if auth != "OK":
                return "reply", auth
        sock.sendall(encode(attack["command"]))
        return "reply", reader.reply()
    except Closed:
        return "closed", "connection closed by the server without a reply"
    except ssl.SSLError as exc:
        # TLS 1.3: a refused client certificate is reported at the first read.
        return "tls_error", str(exc)
    except (ConnectionResetError, BrokenPipeError) as exc:
        return "closed", str(exc)
    except (socket.timeout, TimeoutError) as exc:
        return "timeout", str(exc)
    finally:
        sock.close()


def main():
    job = json.load(sys.stdin)
    secrets = job.get("secrets", {})
    results = []
    for attack in job["attacks"]:
        outcome, reply = run(attack, job["tls_dir"], secrets)
        for value in secrets.values():
            if isinstance(reply, str) and value:
                reply = reply.replace(value, "********")
        results.append({"id": attack["id"], "outcome": outcome, "reply": reply})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
