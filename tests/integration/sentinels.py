# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a real Sentinel-monitored group on loopback for tests.

One master, N replicas (redis-server) and M Sentinels (redis-sentinel), all
on free 127.0.0.1 ports, each in its own directory under ``tmp_path`` with a
writable config file (Sentinel rewrites its own). Authentication is set up
the way the collection deploys it:

* data nodes: ACL users from an aclfile (``default`` only for the
  launcher's readiness check, with the admin password):
  ``admin`` (everything), ``switchover`` (only what sentinel_failover
  documents; the tests use it as ``redis_user``),
  ``sentinel`` (exactly the rights Redis's Sentinel documentation lists),
  ``replication`` (psync/replconf/ping; used through ``masteruser`` /
  ``masterauth``) and ``app`` (the writer's user);
* Sentinels: ``requirepass`` plus ``sentinel sentinel-pass`` (so they can
  talk to each other), ``sentinel auth-user/auth-pass`` for the data nodes.

Passwords are random, written only to 0600/0640 files, never to a command
line. Use::

    from sentinels import start_group

    group = start_group(tmp_path)
    try:
        group.wait_ready()
        group.sentinels[0].client().execute_command("SENTINEL", "MASTER", group.name)
    finally:
        group.stop()
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets
import time

from servers import HOST, free_port, start_redis, start_sentinel

SENTINEL_ACL = ("+multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info "
                "+client|setname +client|kill +script|kill")

# what sentinel_failover documents for redis_user
SWITCHOVER_ACL = ("+info +ping +config|get +config|set +config|rewrite +client|pause +client|unpause "
                  "+replicaof ~hardened-redis:* +get +set +del")


def _pw():
    return secrets.token_hex(16)


class SentinelGroup:
    """A running master + replicas + sentinels (see start_group).

    Attributes: name (master name), master / replicas / sentinels
    (servers.RedisProcess), nodes (all data nodes, master first at start),
    passwords (dict: admin, sentinel, replication, app, switchover, sentinel_requirepass),
    quorum, down_after, failover_timeout.
    """

    def __init__(self, name):
        self.name = name
        self.master = None
        self.replicas = []
        self.sentinels = []
        self.passwords = {}
        self.quorum = None
        self.down_after = None
        self.failover_timeout = None

    @property
    def nodes(self):
        return [n for n in [self.master] + self.replicas if n is not None]

    def stop(self):
        for proc in self.sentinels + self.nodes:
            try:
                proc.stop()
            except Exception:  # keep stopping the others
                pass

    # -- clients -------------------------------------------------------
    def node_client(self, node, **kwargs):
        """A redis-py client to a data node as ``admin``."""
        return node.client(username="admin", password=self.passwords["admin"], **kwargs)

    def sentinel_client(self, sentinel, **kwargs):
        return sentinel.client(password=self.passwords["sentinel_requirepass"], **kwargs)

    def node_by_port(self, port):
        for node in self.nodes:
            if int(node.port) == int(port):
                return node
        raise KeyError(port)

    def sentinel_master_addr(self, sentinel):
        addr = self.sentinel_client(sentinel).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        return (addr[0], int(addr[1])) if addr else None

    def role(self, node):
        info = self.node_client(node).info("replication")
        return info

    def current_master(self):
        """The data node every Sentinel names as master (raises if they disagree)."""
        addrs = set(self.sentinel_master_addr(s) for s in self.sentinels)
        if len(addrs) != 1:
            raise AssertionError("Sentinels disagree on the master: %r" % sorted(addrs))
        return self.node_by_port(addrs.pop()[1])

    # -- waiting -------------------------------------------------------
    def wait_ready(self, timeout=30.0):
        """Wait until every replica is online (past wait_bgsave) on the
        master and every Sentinel knows every replica and every other Sentinel."""
        deadline = time.monotonic() + timeout
        last = "nothing checked"
        while time.monotonic() < deadline:
            try:
                last = self._not_ready()
            except Exception as e:  # still starting
                last = repr(e)
            if last is None:
                return self
            time.sleep(0.1)
        raise AssertionError("group not ready after %ss: %s" % (timeout, last))

    def _not_ready(self):
        master = self.current_master()
        info = self.node_client(master).info("replication")
        others = [n for n in self.nodes if n is not master]
        online = [k for k, v in info.items()
                  if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"]
        if len(online) != len(others):
            return "%d of %d replicas online" % (len(online), len(others))
        for node in others:
            rinfo = self.node_client(node).info("replication")
            if rinfo.get("master_link_status") != "up" or int(rinfo.get("master_port", 0)) != master.port:
                return "replica %s: link %s to %s" % (node.port, rinfo.get("master_link_status"), rinfo.get("master_port"))
        for s in self.sentinels:
            c = self.sentinel_client(s)
            m = _pairs(c.execute_command("SENTINEL", "MASTER", self.name))
            if int(m["num-slaves"]) != len(others):
                return "sentinel %s knows %s replicas" % (s.port, m["num-slaves"])
            if int(m["num-other-sentinels"]) != len(self.sentinels) - 1:
                return "sentinel %s knows %s other sentinels" % (s.port, m["num-other-sentinels"])
            flags = m["flags"].split(",")
            if flags != ["master"]:
                return "sentinel %s flags %s" % (s.port, m["flags"])
            for r in c.execute_command("SENTINEL", "REPLICAS", self.name):
                r = _pairs(r)
                if r["flags"] != "slave" or r.get("master-link-status") != "ok":
                    return "sentinel %s sees replica %s:%s %s link %s" % (
                        s.port, r["ip"], r["port"], r["flags"], r.get("master-link-status"))
        return None


def _pairs(flat):
    """A reply that is a map in RESP3 and a flat list in RESP2, as a dict."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[0::2], flat[1::2]))


def start_group(tmp_path, name="main", replicas=2, sentinels=3, quorum=2, down_after=1000,
                failover_timeout=20000, extra_node_lines=(), extra_sentinel_lines=()):
    """Start master + replicas + sentinels; returns a SentinelGroup.

    Call .wait_ready() before counting replicas, .stop() at the end.
    """
    group = SentinelGroup(name)
    group.quorum = quorum
    group.down_after = down_after
    group.failover_timeout = failover_timeout
    pw = dict(admin=_pw(), sentinel=_pw(), replication=_pw(), app=_pw(), switchover=_pw(),
              sentinel_requirepass=_pw())
    group.passwords = pw
    acl = "\n".join([
        # the launcher's readiness PING uses the default user and password
        "user default on >%s ~* &* +@all" % pw["admin"],
        "user admin on >%s ~* &* +@all" % pw["admin"],
        "user sentinel on >%s allchannels %s" % (pw["sentinel"], SENTINEL_ACL),
        "user replication on >%s +psync +replconf +ping" % pw["replication"],
        "user app on >%s ~* &* +@all -@dangerous +role" % pw["app"],
        "user switchover on >%s %s" % (pw["switchover"], SWITCHOVER_ACL),
    ])
    node_lines = [
        "masteruser replication",
        "masterauth %s" % pw["replication"],
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ] + list(extra_node_lines)
    try:
        group.master = start_redis(tmp_path, node_lines, aclfile=acl, password=pw["admin"], name="node0")
        for i in range(replicas):
            lines = node_lines + ["replicaof %s %d" % (HOST, group.master.port)]
            group.replicas.append(start_redis(tmp_path, lines, aclfile=acl, password=pw["admin"],
                                              name="node%d" % (i + 1)))
        for i in range(sentinels):
            lines = [
                "sentinel sentinel-pass %s" % pw["sentinel_requirepass"],
                "sentinel monitor %s %s %d %d" % (name, HOST, group.master.port, quorum),
                "sentinel auth-user %s sentinel" % name,
                "sentinel auth-pass %s %s" % (name, pw["sentinel"]),
                "sentinel down-after-milliseconds %s %d" % (name, down_after),
                "sentinel failover-timeout %s %d" % (name, failover_timeout),
                "sentinel parallel-syncs %s 1" % name,
            ] + list(extra_sentinel_lines)
            group.sentinels.append(start_sentinel(tmp_path, lines, port=free_port(), name="sentinel%d" % i,
                                                  password=pw["sentinel_requirepass"]))
    except Exception:
        group.stop()
        raise
    return group
