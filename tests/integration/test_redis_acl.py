# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_acl against real redis-server and redis-sentinel processes on loopback.

The claim under test: users converge in place, so a password rotation (phase
1: new beside old; phase 2: old removed) and a change of rules keep every
connection (clients, the replication link, a subscriber), unlike ACL LOAD.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
import secrets
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from servers import start_sentinel

HEX64 = re.compile(r"[0-9a-f]{64}")
SENTINEL_RULES = ("allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info "
                  "+client|setname +client|kill +script|kill")


def sha(password):
    return hashlib.sha256(password.encode()).hexdigest()


def pw():
    return secrets.token_hex(16)


class Users(object):
    """The role's users (roles/redis/templates/users.acl.j2) with fresh passwords."""

    def __init__(self):
        self.pw = dict((name, pw()) for name in ("admin", "app", "replication", "sentinel", "backup"))
        self.rules = {
            "default": "off resetpass resetkeys resetchannels -@all",
            "admin": "on resetpass ~* &* +@all",
            "app": "on resetpass ~* &* +@all -@dangerous",
            "replication": "on resetpass resetchannels -@all +psync +replconf +ping",
            "sentinel": "on resetpass " + SENTINEL_RULES,
            "backup": "on resetpass resetchannels resetkeys -@all +ping +info +bgsave",
        }

    def aclfile(self):
        """As the role writes it: the hash after ``on resetpass``."""
        lines = ["user default " + self.rules["default"]]
        for name in self.pw:
            lines.append("user %s on resetpass #%s %s" % (name, sha(self.pw[name]),
                                                          self.rules[name][len("on resetpass "):]))
        return "\n".join(lines)

    def spec(self, previous=None, **rules):
        previous = previous or {}
        out = []
        for name, default_rules in self.rules.items():
            passwords = [] if name == "default" else [self.pw[name]] + ([previous[name]] if name in previous else [])
            out.append({"name": name, "rules": rules.get(name, default_rules), "passwords": passwords})
        return out


def args(srv, users, login_password, **extra):
    out = {"login_unix_socket": srv.socket, "login_user": "admin", "login_password": login_password, "users": users}
    out.update(extra)
    return out


def no_retry():
    # redis-py >= 6 retries a refused login (AuthenticationError is a ConnectionError) and reconnects a
    # dropped connection by default: neither may hide what the server did.
    return Retry(NoBackoff(), 0)


def conn(srv, user, password):
    """One dedicated connection, never reconnected: its client id proves it was never dropped."""
    return redis.Redis(unix_socket_path=srv.socket, username=user, password=password, decode_responses=True,
                       single_connection_client=True, retry=no_retry(), socket_timeout=5)


def refused(srv, user, password):
    try:
        redis.Redis(unix_socket_path=srv.socket, username=user, password=password, socket_timeout=5,
                    retry=no_retry()).ping()
    except redis.AuthenticationError:
        return True
    return False


def no_secret(res, *passwords):
    text = res.stdout + res.stderr
    for p in passwords:
        assert p not in text
        assert sha(p) not in text
    assert not HEX64.search(text), "a password hash in the module's output"


@pytest.fixture
def users():
    return Users()


@pytest.fixture
def node(redis_factory, users):
    return redis_factory(aclfile=users.aclfile(), unix_socket=True, password=None)


def admin(srv, users):
    return srv.client(username="admin", password=users.pw["admin"])


def test_users_loaded_from_the_file_are_unchanged(node, users, module_runner):
    """The role's aclfile as ACL LOAD read it equals the same users given to the module (rules compared as the
    server normalises them; Redis 7.0's ACL LOAD and `reset` differ in sanitize-payload only)."""
    for check in (True, False):
        res = module_runner("redis_acl", args(node, users.spec(), users.pw["admin"], purge=True), check=check, diff=True)
        assert not res.get("failed"), res
        assert res["changed"] is False, res
        assert res["commands"] == [] and res["users"] == {}
        assert res["diff"]["before"] == res["diff"]["after"]
        assert "user app on #<password" in res["diff"]["after"]
        no_secret(res, *users.pw.values())
    assert "hardened-redis-probe" not in admin(node, users).acl_users()


def test_rotation_keeps_every_connection(redis_factory, users, module_runner):
    master = redis_factory(aclfile=users.aclfile(), unix_socket=True, name="master")
    master.client(username="admin", password=users.pw["admin"]).config_set("repl-diskless-sync-delay", 0)
    replica = redis_factory(["replicaof 127.0.0.1 %d" % master.port, "masteruser replication",
                             "masterauth %s" % users.pw["replication"]],
                            aclfile=users.aclfile(), unix_socket=True, name="replica")
    m = admin(master, users)
    r = admin(replica, users)  # the replica keeps its passwords: only the master is rotated here

    def link_up():
        return r.info("replication").get("master_link_status") == "up"
    deadline = time.monotonic() + 20
    while not link_up() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert link_up()
    syncs = (m.info("stats")["sync_full"], m.info("stats")["sync_partial_ok"])
    old = dict(users.pw)
    app = conn(master, "app", old["app"])
    app_id = app.client_id()
    sub = redis.Redis(unix_socket_path=master.socket, username="sentinel", password=old["sentinel"],
                      decode_responses=True).pubsub()
    sub.subscribe("__sentinel__:hello")
    assert sub.get_message(timeout=2)["type"] == "subscribe"

    # Phase 1: every user gets a new password beside the old one.
    users.pw = dict((k, pw()) for k in old)
    res = module_runner("redis_acl", args(master, users.spec(previous=old), users.pw["admin"],
                                          login_password_previous=old["admin"], purge=True), diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert set(res["users"]) == {"admin", "app", "replication", "sentinel", "backup"}
    assert all(u == {"action": "passwords", "passwords_added": 1, "passwords_removed": 0} for u in res["users"].values())
    assert "ACL SETUSER app #<password" in " ".join(res["commands"])
    no_secret(res, *old.values(), *users.pw.values())
    for name in old:
        assert not refused(master, name, old[name]) and not refused(master, name, users.pw[name]), name
    again = module_runner("redis_acl", args(master, users.spec(previous=old), users.pw["admin"], purge=True))
    assert again["changed"] is False, again

    # Phase 2: the old passwords go; connections made with them stay.
    res = module_runner("redis_acl", args(master, users.spec(), users.pw["admin"], purge=True))
    assert res["changed"] is True
    assert all(u["passwords_removed"] == 1 and u["passwords_added"] == 0 for u in res["users"].values()), res
    for name in old:
        assert refused(master, name, old[name]), "%s: old password still accepted" % name
        assert not refused(master, name, users.pw[name]), name
    assert app.client_id() == app_id and app.set("k", "v")
    m.publish("__sentinel__:hello", "still here")
    assert sub.get_message(timeout=2)["data"] == "still here"
    assert link_up()
    assert (m.info("stats")["sync_full"], m.info("stats")["sync_partial_ok"]) == syncs, "the replication link dropped"
    assert module_runner("redis_acl", args(master, users.spec(), users.pw["admin"], purge=True))["changed"] is False


def test_changed_rules_redefine_the_user_in_place(node, users, module_runner):
    app = conn(node, "app", users.pw["app"])
    app_id = app.client_id()
    assert app.eval("return 1", 0) == 1
    stricter = users.rules["app"] + " -@scripting"
    res = module_runner("redis_acl", args(node, users.spec(app=stricter), users.pw["admin"]), diff=True)
    assert not res.get("failed"), res
    assert res["users"] == {"app": {"action": "redefined", "passwords_added": 0, "passwords_removed": 0}}
    assert "-@scripting" in res["diff"]["after"] and "-@scripting" not in res["diff"]["before"]
    assert app.client_id() == app_id
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.eval("return 1", 0)
    assert module_runner("redis_acl", args(node, users.spec(app=stricter), users.pw["admin"]))["changed"] is False
    # on -> off is a change of rules too
    off = module_runner("redis_acl", args(node, users.spec(backup=users.rules["backup"].replace("on ", "off ", 1)),
                                          users.pw["admin"]))
    assert off["users"]["backup"]["action"] == "redefined"
    assert refused(node, "backup", users.pw["backup"])


def test_create_and_purge(node, users, module_runner):
    a = admin(node, users)
    a.execute_command("ACL", "SETUSER", "by-hand", "on", ">x" + pw(), "+ping")
    monitor = pw()
    spec = users.spec() + [{"name": "monitor", "rules": "on resetchannels resetkeys -@all +ping +info",
                            "passwords": [monitor]}]
    res = module_runner("redis_acl", args(node, spec, users.pw["admin"]))
    assert res["users"] == {"monitor": {"action": "created", "passwords_added": 1, "passwords_removed": 0}}
    assert "by-hand" in a.acl_users(), "without purge other users stay"
    assert not refused(node, "monitor", monitor)
    res = module_runner("redis_acl", args(node, users.spec(), users.pw["admin"], purge=True), check=True, diff=True)
    assert res["changed"] and set(res["users"]) == {"monitor", "by-hand"}
    assert "monitor" in a.acl_users(), "check mode changed nothing"
    assert "user monitor" in res["diff"]["before"] and "user monitor" not in res["diff"]["after"]
    res = module_runner("redis_acl", args(node, users.spec(), users.pw["admin"], purge=True))
    assert {u["action"] for u in res["users"].values()} == {"deleted"}
    assert sorted(a.acl_users()) == sorted(users.rules)


def test_rules_the_server_refuses_fail_and_leave_no_probe(node, users, module_runner):
    res = module_runner("redis_acl", args(node, users.spec(app="on ~* +nosuchcommand"), users.pw["admin"]))
    assert res.get("failed") and "nosuchcommand" in res["msg"], res
    assert "probe user" in res["msg"] and "rules of app" in res["msg"]
    assert "hardened-redis-probe" not in admin(node, users).acl_users()
    assert not refused(node, "app", users.pw["app"]), "the app user was changed"
    no_secret(res, *users.pw.values())


def test_check_mode_changes_nothing(node, users, module_runner):
    old = dict(users.pw)
    users.pw["app"] = pw()
    res = module_runner("redis_acl", args(node, users.spec(), users.pw["admin"]), check=True, diff=True)
    assert res["changed"] is True
    assert res["users"] == {"app": {"action": "passwords", "passwords_added": 1, "passwords_removed": 1}}
    assert res["diff"]["before"] != res["diff"]["after"]
    assert not refused(node, "app", old["app"]) and refused(node, "app", users.pw["app"])
    assert "hardened-redis-probe" not in admin(node, users).acl_users()
    no_secret(res, old["app"], users.pw["app"])


def test_login_falls_back_to_the_previous_password(node, users, module_runner):
    old = users.pw["admin"]
    users.pw["admin"] = pw()
    res = module_runner("redis_acl", args(node, users.spec(previous={"admin": old}), users.pw["admin"]))
    assert res.get("failed") and "authentication failed" in res["msg"], res
    assert "login_password_previous" not in res["msg"]
    wrong = module_runner("redis_acl", args(node, users.spec(previous={"admin": old}), users.pw["admin"],
                                            login_password_previous=pw()))
    assert wrong.get("failed") and "tried login_password and login_password_previous" in wrong["msg"], wrong
    res = module_runner("redis_acl", args(node, users.spec(previous={"admin": old}), users.pw["admin"],
                                          login_password_previous=old))
    assert not res.get("failed"), res
    assert res["users"] == {"admin": {"action": "passwords", "passwords_added": 1, "passwords_removed": 0}}
    no_secret(res, old, users.pw["admin"])
    # From now on the new one works, and the previous one is not needed.
    assert module_runner("redis_acl", args(node, users.spec(previous={"admin": old}), users.pw["admin"]))["changed"] is False


@pytest.mark.parametrize("bad,message", [
    ({"name": "extra", "rules": "on >PLAINSECRET ~*"}, "rules of user extra hold a password"),
    ({"name": "extra", "rules": "on #" + "a" * 64}, "rules of user extra hold a password"),
    ({"name": "extra", "rules": "on nopass", "passwords": ["PLAINSECRET"]}, "has nopass in its rules and passwords"),
    ({"name": "two words"}, "must not contain whitespace"),
    ({"name": "hardened-redis-probe"}, "the name of the probe user"),
    ({"name": "extra", "passwords": [""]}, "holds an empty password"),
])
def test_bad_users_refused_before_connecting(tmp_path, users, module_runner, bad, message):
    # No server at that socket: the refusal comes before any connection.
    fake = type("Fake", (), {"socket": str(tmp_path / "none.sock")})
    res = module_runner("redis_acl", args(fake, users.spec() + [bad], users.pw["admin"]))
    assert res.get("failed") and message in res["msg"], res
    assert "Invalid option users" in res["msg"]
    assert "PLAINSECRET" not in res.stdout + res.stderr and "a" * 64 not in res.stdout


def test_user_listed_twice_refused(tmp_path, users, module_runner):
    fake = type("Fake", (), {"socket": str(tmp_path / "none.sock")})
    twice = module_runner("redis_acl", args(fake, users.spec() + [{"name": "app"}], users.pw["admin"]))
    assert "user app is listed twice" in twice["msg"]


def test_sentinel_users_persist_in_its_config_file(tmp_path, module_runner):
    admin_pw, client_pw, new_client = pw(), pw(), pw()
    sentinel = start_sentinel(tmp_path, [
        "user default off resetpass resetkeys resetchannels -@all",
        "user admin on #%s ~* &* +@all" % sha(admin_pw),
        "user client on #%s -@all +ping +sentinel|get-master-addr-by-name" % sha(client_pw),
    ])
    try:
        spec = [{"name": "default", "rules": "off resetpass resetkeys resetchannels -@all"},
                {"name": "admin", "rules": "on ~* &* +@all", "passwords": [admin_pw]},
                {"name": "client", "rules": "on -@all +ping +sentinel|get-master-addr-by-name",
                 "passwords": [new_client, client_pw]}]
        base = {"login_host": "127.0.0.1", "login_port": sentinel.port, "login_user": "admin", "login_password": admin_pw,
                "purge": True}
        # One connection, no reconnects (retry=None): a drop would fail its next PING.
        held = redis.Redis(host="127.0.0.1", port=sentinel.port, username="client", password=client_pw,
                           single_connection_client=True, retry=no_retry(), decode_responses=True)
        assert held.ping()
        res = module_runner("redis_acl", dict(base, users=spec))
        assert not res.get("failed"), res
        assert res["sentinel"] is True and res["users"]["client"]["action"] == "passwords"
        with open(sentinel.config_file) as f:
            assert sha(new_client) in f.read(), "SENTINEL FLUSHCONFIG did not write the new password"
        assert held.ping(), "the client's connection was dropped"
        assert module_runner("redis_acl", dict(base, users=spec))["changed"] is False
        spec[2]["passwords"] = [new_client]
        assert module_runner("redis_acl", dict(base, users=spec))["users"]["client"]["passwords_removed"] == 1
        sentinel.restart()
        assert redis.Redis(host="127.0.0.1", port=sentinel.port, username="client", password=new_client).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=sentinel.port, username="client", password=client_pw,
                        retry=no_retry()).ping()
    finally:
        sentinel.stop()
