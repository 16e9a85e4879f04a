# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_backup against real redis-server processes on loopback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from servers import REDIS_SERVER

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
HAS_ZSTD = bool(shutil.which("zstd"))


def populate(client):
    """A dataset with every core type, in two databases, and keys with a TTL."""
    client.set("s:plain", "hello")
    client.set("s:bin", b"\x00\xff\x10binary".decode("latin-1"))
    client.set("s:ttl", "expires later", ex=3600)
    client.hset("h:1", mapping={"a": "1", "b": "two", "c": "3.5"})
    client.rpush("l:1", "x", "y", "z", "x")
    client.sadd("set:1", "m1", "m2", "m3")
    client.zadd("z:1", {"alice": 1.5, "bob": -2, "carol": 1e10})
    client.xadd("st:1", {"field": "v1"}, id="1-1")
    client.xadd("st:1", {"field": "v2", "other": "o"}, id="2-0")
    client.hset("h:ttl", "k", "v")
    client.expire("h:ttl", 7200)
    for i in range(200):
        client.set("bulk:%d" % i, "value-%d" % i * 3)
    client.execute_command("SELECT", 1)
    client.set("db1:key", "in db 1")
    client.execute_command("SELECT", 0)


def digest(srv):
    """Content digest of every key of every database: type + value (type-specific reads), TTL presence."""
    import redis
    out = []
    for db in (0, 1):
        c = redis.Redis(host=srv.host, port=srv.port, db=db, decode_responses=False, socket_timeout=5)
        for key in sorted(c.scan_iter(count=1000)):
            kind = c.type(key).decode()
            if kind == "string":
                value = c.get(key)
            elif kind == "hash":
                value = sorted(c.hgetall(key).items())
            elif kind == "list":
                value = c.lrange(key, 0, -1)
            elif kind == "set":
                value = sorted(c.smembers(key))
            elif kind == "zset":
                value = c.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = [(i, sorted(f.items())) for i, f in c.xrange(key)]
            else:
                value = c.dump(key)
            out.append(repr((db, key, kind, value, c.ttl(key) > 0)))
        c.close()
    return hashlib.sha256("\n".join(out).encode()).hexdigest(), len(out)


def backups(dest):
    return sorted(n for n in os.listdir(str(dest)) if n.endswith(".gz") or n.endswith(".rdb") or n.endswith(".zst"))


def control_args(srv):
    """stop/start commands for a server of servers.py without systemd (no password on them)."""
    return dict(
        stop_command=[REDIS_CLI, "-h", srv.host, "-p", str(srv.port), "shutdown"],
        start_command=[REDIS_SERVER, srv.config_file, "--daemonize", "yes"],
    )


def shutdown_quietly(srv):
    try:
        srv.client(socket_timeout=2).shutdown(nosave=True)
    except Exception:
        pass


def base_args(srv, **extra):
    args = dict(login_host=srv.host, login_port=srv.port)
    args.update(extra)
    return args


@pytest.fixture
def data_server(redis_factory):
    srv = redis_factory()
    populate(srv.client())
    yield srv
    shutdown_quietly(srv)  # restore tests leave a daemonized server behind


def test_backup_writes_verified_file_and_manifest(data_server, tmp_path, module_runner):
    dest = tmp_path / "backups"
    dest.mkdir()
    before_saves = int(data_server.client().info("persistence")["rdb_saves"])
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest)))
    assert not res.get("failed"), res
    assert res["changed"] is True
    path = res["path"]
    assert os.path.dirname(path) == str(dest)
    assert os.path.isfile(path) and path.endswith(".rdb.gz")
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    with open(path, "rb") as f:
        data = f.read()
    assert res["sha256"] == hashlib.sha256(data).hexdigest()
    assert res["size"] == len(data)
    rdb = gzip.decompress(data)
    assert rdb.startswith(b"REDIS")
    assert int(data_server.client().info("persistence")["rdb_saves"]) == before_saves + 1  # our BGSAVE ran
    with open(path + ".json") as f:
        manifest = json.load(f)
    assert manifest == res["manifest"]
    assert manifest["sha256"] == res["sha256"] and manifest["size"] == len(data)
    assert manifest["rdb_size"] == len(rdb)
    assert manifest["engine"] == "redis"
    assert manifest["version"] == data_server.client().info("server")["redis_version"]
    assert manifest["role"] == "master"
    assert manifest["node"] == "%s:%s" % (data_server.host, data_server.port)
    assert manifest["compression"] == "gzip"
    assert manifest["verified"] is True and res["verified"] is True
    assert manifest["keys_source"] == "redis-check-rdb"
    assert manifest["keys"] == res["keys"] == 210  # 209 in db0 + 1 in db1
    assert manifest["expires"] == 2
    assert manifest["time"].endswith("Z")
    assert isinstance(manifest["master_repl_offset"], int)
    assert oct(os.stat(path + ".json").st_mode & 0o777) == oct(0o600)
    assert not [n for n in os.listdir(str(dest)) if n.startswith(".")], "temp files left behind"


def test_password_never_in_output_or_files(redis_factory, tmp_path, module_runner):
    secret = "s3cret-Backup-pw"
    srv = redis_factory(password=secret)
    populate(srv.client())
    dest = tmp_path / "b"
    dest.mkdir()
    res = module_runner("redis_backup", base_args(srv, dest=str(dest)), env={"REDISCLI_AUTH": secret})
    assert not res.get("failed"), res
    assert secret not in res.stdout and secret not in res.stderr
    with open(res["path"] + ".json") as f:
        assert secret not in f.read()
    wrong = module_runner("redis_backup", base_args(srv, dest=str(dest), login_password=secret + "x"))
    assert wrong.get("failed") and secret not in wrong.stdout


def test_least_privilege_acl_users(redis_factory, tmp_path, module_runner):
    """The rights documented in the module are enough: backup +ping +info +bgsave +config|get,
    restore +ping +info +config|get; CONFIG GET dir works with enable-protected-configs no."""
    acl = "\n".join([
        "user default on nopass ~* &* +@all",
        "user backup on >backup-pw -@all +ping +info +bgsave +config|get",
        "user restorer on >restore-pw -@all +ping +info +config|get",
        "user nosave on >nosave-pw -@all +ping +info +config|get",
        "user streamer on >stream-pw -@all +ping +info +replconf +psync",
    ])
    srv = redis_factory(aclfile=acl)
    try:
        assert srv.config_get("enable-protected-configs") == "no"
        populate(srv.client())
        want = digest(srv)
        dest = tmp_path / "b"
        dest.mkdir()
        res = module_runner("redis_backup", base_args(srv, dest=str(dest), login_user="backup"),
                            env={"REDISCLI_AUTH": "backup-pw"})
        assert not res.get("failed"), res
        denied = module_runner("redis_backup", base_args(srv, dest=str(dest), login_user="nosave"),
                               env={"REDISCLI_AUTH": "nosave-pw"})
        assert denied.get("failed") and "Cannot start BGSAVE" in denied["msg"], denied
        streamed = module_runner("redis_backup", base_args(srv, dest=str(dest), login_user="streamer", method="sync"),
                                 env={"REDISCLI_AUTH": "stream-pw"})
        assert not streamed.get("failed"), streamed
        assert streamed["keys"] == res["keys"]
        denied = module_runner("redis_backup", base_args(srv, dest=str(dest), login_user="nosave", method="sync"),
                               env={"REDISCLI_AUTH": "nosave-pw"})
        assert denied.get("failed") and "Cannot stream the RDB" in denied["msg"], denied
        assert "nosave-pw" not in denied.stdout
        srv.client().flushall()
        out = restore(module_runner, srv, res["path"], login_user="restorer", login_password="restore-pw")
        assert not out.get("failed"), out
        assert digest(srv) == want
    finally:
        shutdown_quietly(srv)


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_backup_other_compressions(data_server, tmp_path, module_runner, compression):
    if compression == "zstd" and not HAS_ZSTD:
        pytest.skip("no zstd program")
    res = module_runner("redis_backup", base_args(data_server, dest=str(tmp_path), compression=compression, mode="0640"))
    assert not res.get("failed"), res
    with open(res["path"], "rb") as f:
        head = f.read(5)
    assert head == b"REDIS" if compression == "none" else head[:4] == b"\x28\xb5\x2f\xfd"
    assert oct(os.stat(res["path"]).st_mode & 0o777) == oct(0o640)


def test_dest_file_owner_and_no_overwrite(data_server, tmp_path, module_runner):
    import pwd
    if os.geteuid() != 0:
        pytest.skip("changing the owner needs root")
    nobody = pwd.getpwnam("nobody")
    args = base_args(data_server, dest=str(tmp_path), dest_file="latest.rdb.gz", owner="nobody", group=str(nobody.pw_gid))
    res = module_runner("redis_backup", args)
    assert not res.get("failed"), res
    assert res["path"] == str(tmp_path / "latest.rdb.gz")
    for path in (res["path"], res["path"] + ".json"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    sha = res["sha256"]
    again = module_runner("redis_backup", args)
    assert again.get("failed") and "already exists" in again["msg"]
    with open(res["path"], "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha


def test_zstd_unavailable_is_a_clear_error(data_server, tmp_path, module_runner):
    """With no zstd program in PATH (and no zstandard module), compression=zstd fails before any save."""
    before = int(data_server.client().info("persistence")["rdb_saves"])
    res = module_runner("redis_backup", base_args(data_server, dest=str(tmp_path), compression="zstd", verify=False),
                        env={"PATH": "/nonexistent"})
    if not res.get("failed"):
        pytest.skip("the zstandard Python module is installed for the module's Python")
    assert "zstd" in res["msg"] and "compression=gzip" in res["msg"], res["msg"]
    assert not backups(tmp_path)
    assert int(data_server.client().info("persistence")["rdb_saves"]) == before


def test_verify_failure_keeps_nothing(data_server, tmp_path, module_runner):
    """A corrupt RDB (bytes flipped in the middle) fails redis-check-rdb: no backup is kept."""
    c = data_server.client()
    c.save()
    rdb = os.path.join(data_server.dir, "dump.rdb")
    with open(rdb, "r+b") as f:
        size = os.path.getsize(rdb)
        f.seek(size // 2)
        f.write(b"\xff" * 16)
    dest = tmp_path / "backups"
    dest.mkdir()
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), trigger_save=False))
    assert res.get("failed"), res
    assert "redis-check-rdb" in res["msg"] and "no backup was kept" in res["msg"]
    assert os.listdir(str(dest)) == []
    # and the same file without verify is copied as is (the check is what stopped it)
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), trigger_save=False, verify=False))
    assert not res.get("failed"), res
    assert res["verified"] is False and res["manifest"]["keys_source"] == "INFO keyspace"


def test_bgsave_in_progress_is_waited_for(redis_factory, tmp_path, module_runner):
    """A save already running is waited for, then a new one is taken."""
    srv = redis_factory(["rdb-key-save-delay 2000"])  # microseconds per key: a slow BGSAVE
    c = srv.client()
    for i in range(1000):
        c.set("k%d" % i, "v")
    c.bgsave()
    before = int(c.info("persistence")["rdb_saves"])
    assert int(c.info("persistence")["rdb_bgsave_in_progress"]) == 1
    c.set("written-during-first-save", "1")
    res = module_runner("redis_backup", base_args(srv, dest=str(tmp_path), verify=True, timeout=60), timeout=120)
    assert not res.get("failed"), res
    assert int(c.info("persistence")["rdb_saves"]) == before + 1  # rdb_saves counts a save when it starts
    assert res["keys"] == 1001  # the key written during the first save is in ours


@pytest.mark.parametrize("diskless", ["yes", "no"])
def test_sync_method_streams_the_rdb(redis_factory, tmp_path, module_runner, diskless):
    """method=sync: no file access needed; exact offset; restores to the same content."""
    srv = redis_factory(["repl-diskless-sync %s" % diskless, "repl-diskless-sync-delay 0"])
    try:
        populate(srv.client())
        want = digest(srv)
        dest = tmp_path / "b"
        dest.mkdir()
        res = module_runner("redis_backup", base_args(srv, dest=str(dest), method="sync", data_dir="/nonexistent",
                                                      dbfilename="none.rdb"))
        assert not res.get("failed"), res
        m = res["manifest"]
        assert m["method"] == "sync" and m["keys"] == 210 and m["verified"] is True
        assert m["master_replid"] == srv.client().info("replication")["master_replid"]
        assert isinstance(m["master_repl_offset"], int)
        with open(res["path"], "rb") as f:
            assert gzip.decompress(f.read()).startswith(b"REDIS")
        # diskless: the node wrote no dump.rdb; disk-based: it did
        assert os.path.exists(os.path.join(srv.dir, "dump.rdb")) == (diskless == "no")
        srv.client().flushall()
        out = restore(module_runner, srv, res["path"])
        assert not out.get("failed"), out
        assert digest(srv) == want
    finally:
        shutdown_quietly(srv)


def test_retention_keep_two(data_server, tmp_path, module_runner):
    dest = tmp_path / "backups"
    dest.mkdir()
    paths = []
    for dummy in range(4):
        res = module_runner("redis_backup", base_args(data_server, dest=str(dest), keep=2, node_name="n1"))
        assert not res.get("failed"), res
        assert res["path"] in backups_paths(dest)
        paths.append((res["path"], res["removed"]))
    # runs 1 and 2 removed nothing, 3 removed the first, 4 the second
    assert paths[0][1] == [] and paths[1][1] == []
    assert paths[2][1] == [paths[0][0]]
    assert paths[3][1] == [paths[1][0]]
    assert backups_paths(dest) == sorted([paths[2][0], paths[3][0]])
    assert sorted(os.listdir(str(dest))) == sorted(
        [os.path.basename(p) for p, dummy in paths[2:]] + [os.path.basename(p) + ".json" for p, dummy in paths[2:]])
    # a foreign file and another node's backup are never touched
    (dest / "notes.txt").write_text("keep me")
    (dest / "redis-other-20200101T000000.000Z.rdb.gz").write_bytes(b"x")
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), keep=1, node_name="n1"))
    assert not res.get("failed"), res
    assert sorted(res["removed"]) == sorted(p for p, dummy in paths[2:])
    assert sorted(os.listdir(str(dest))) == sorted([
        "notes.txt", "redis-other-20200101T000000.000Z.rdb.gz",
        os.path.basename(res["path"]), os.path.basename(res["path"]) + ".json"])


def backups_paths(dest):
    return sorted(os.path.join(str(dest), n) for n in backups(dest))


def test_retention_max_age_and_check_mode(data_server, tmp_path, module_runner):
    dest = tmp_path / "backups"
    dest.mkdir()
    old = dest / "redis-n1-20200101T000000.000Z.rdb.gz"
    old.write_bytes(b"old")
    # retention trusts the manifest, not the name alone
    (dest / (old.name + ".json")).write_text(json.dumps({"file": old.name, "node_name": "n1", "prefix": "redis"}))
    listing = sorted(os.listdir(str(dest)))
    before_saves = int(data_server.client().info("persistence")["rdb_saves"])
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), max_age="7d", node_name="n1"),
                        check=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["removed"] == [str(old)]
    assert sorted(os.listdir(str(dest))) == listing  # check mode wrote and removed nothing
    assert int(data_server.client().info("persistence")["rdb_saves"]) == before_saves  # and saved nothing
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), max_age="7d", node_name="n1"))
    assert not res.get("failed"), res
    assert res["removed"] == [str(old)]
    assert sorted(os.listdir(str(dest))) == sorted([os.path.basename(res["path"]), os.path.basename(res["path"]) + ".json"])
    res = module_runner("redis_backup", base_args(data_server, dest=str(dest), max_age="soon", node_name="n1"))
    assert res.get("failed") and "max_age" in res["msg"]


def take(module_runner, srv, dest, **extra):
    res = module_runner("redis_backup", base_args(srv, dest=str(dest), **extra))
    assert not res.get("failed"), res
    return res


def restore(module_runner, srv, src, check=False, **extra):
    args = base_args(srv, state="restored", src=src, timeout=30)
    args.update(control_args(srv))
    args.update(extra)
    return module_runner("redis_backup", args, check=check, timeout=120)


def test_restore_after_flushall(data_server, tmp_path, module_runner):
    want, nkeys = digest(data_server)
    res = take(module_runner, data_server, tmp_path)
    c = data_server.client()
    c.flushall()
    c.set("after-backup", "must disappear")
    pid = data_server.pid()
    res = restore(module_runner, data_server, res["path"])
    assert not res.get("failed"), res
    assert res["changed"] is True and res["keys"] == nkeys == 210
    assert data_server.pid() != pid  # really restarted
    assert digest(data_server) == (want, nkeys)
    assert res["previous"] and not any(os.path.exists(p) for p in res["previous"])  # removed after success
    assert res["aof_rebuilt"] is False
    rdb = os.path.join(data_server.dir, "dump.rdb")
    assert oct(os.stat(rdb).st_mode & 0o777) in (oct(0o644), oct(0o600), oct(0o640))


def test_restore_check_mode_changes_nothing(data_server, tmp_path, module_runner):
    res = take(module_runner, data_server, tmp_path)
    data_server.client().flushall()
    listing = sorted(os.listdir(data_server.dir))
    pid = data_server.pid()
    res = restore(module_runner, data_server, res["path"], check=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["keys"] == 210 and res["verified"] is True
    assert data_server.pid() == pid and data_server.client().dbsize() == 0
    assert sorted(os.listdir(data_server.dir)) == listing


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign-engine", "other-major", "no-manifest"])
def test_bad_backup_is_refused_and_nothing_changes(data_server, tmp_path, module_runner, damage):
    dest = tmp_path / "b"
    dest.mkdir()
    res = take(module_runner, data_server, dest)
    path = res["path"]
    manifest_path = path + ".json"
    if damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif damage == "flip":
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\x00\x01\x02\x03")
    elif damage in ("foreign-engine", "other-major"):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if damage == "foreign-engine":
            manifest["engine"] = "valkey"
        else:
            manifest["version"] = "6.2.14"
        with open(manifest_path, "w") as f:
            json.dump(manifest, f)
    else:
        os.unlink(manifest_path)
    c = data_server.client()
    c.set("live", "untouched")
    want = digest(data_server)
    listing = sorted(os.listdir(data_server.dir))
    pid = data_server.pid()
    res = restore(module_runner, data_server, path)
    assert res.get("failed"), res
    assert "Refusing to restore" in res["msg"] and "nothing was changed" in res["msg"]
    expect = {"truncate": "size", "flip": "sha256", "foreign-engine": "valkey", "other-major": "major",
              "no-manifest": "manifest"}[damage]
    assert expect in res["msg"]
    assert data_server.pid() == pid
    assert digest(data_server) == want
    assert sorted(os.listdir(data_server.dir)) == listing


def test_corrupt_rdb_with_matching_manifest_fails_check_rdb(data_server, tmp_path, module_runner):
    """A backup whose manifest was re-made for a damaged RDB: redis-check-rdb refuses it."""
    res = take(module_runner, data_server, tmp_path, compression="none")
    path = res["path"]
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\xff" * 8)
    with open(path + ".json") as f:
        manifest = json.load(f)
    with open(path, "rb") as f:
        manifest["sha256"] = hashlib.sha256(f.read()).hexdigest()
    with open(path + ".json", "w") as f:
        json.dump(manifest, f)
    pid = data_server.pid()
    res = restore(module_runner, data_server, path)
    assert res.get("failed") and "redis-check-rdb failed" in res["msg"], res
    assert data_server.pid() == pid and data_server.client().dbsize() == 209  # db0


def test_restore_refuses_master_with_replica(redis_factory, tmp_path, module_runner):
    master = redis_factory()
    populate(master.client())
    replica = redis_factory(["replicaof %s %d" % (master.host, master.port)])
    deadline = time.time() + 20
    while time.time() < deadline and int(master.client().info("replication")["connected_slaves"]) < 1:
        time.sleep(0.1)
    res = take(module_runner, replica, tmp_path)  # backups are taken on the replica
    assert res["manifest"]["role"] == "slave"
    for srv, words in ((master, "connected replica"), (replica, "a replica (role:slave)")):
        out = restore(module_runner, srv, res["path"])
        assert out.get("failed") and words in out["msg"] and "force=true" in out["msg"], out
    assert master.alive() and replica.alive()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_restore_with_aof_survives_second_restart(redis_factory, tmp_path, module_runner, compression):
    if compression == "zstd" and not HAS_ZSTD:
        pytest.skip("no zstd program")
    srv = redis_factory(["appendonly yes", "appendfsync always"])
    try:
        populate(srv.client())
        want, nkeys = digest(srv)
        res = take(module_runner, srv, tmp_path, compression=compression)
        c = srv.client()
        c.flushall()
        c.set("after-backup", "must disappear")
        res = restore(module_runner, srv, res["path"], keep_previous=True)
        assert not res.get("failed"), res
        assert res["aof_rebuilt"] is True and res["keys"] == nkeys
        assert digest(srv) == (want, nkeys)
        aside = [p for p in res["previous"] if p.startswith(os.path.join(srv.dir, "appendonlydir.pre-restore-"))]
        assert len(aside) == 1 and os.path.isdir(aside[0])
        info = srv.client().info("persistence")
        assert info["aof_enabled"] == 1
        # a write after the restore goes to the new AOF and both survive a restart
        srv.client().set("after-restore", "kept")
        subprocess.run(control_args(srv)["stop_command"], check=True, stdout=subprocess.DEVNULL)
        wait_down(srv)
        with open(os.path.join(srv.dir, "appendonlydir", "appendonly.aof.manifest")) as f:
            assert "type b" in f.read()
        subprocess.run(control_args(srv)["start_command"], check=True)
        wait_up(srv)
        assert srv.client().get("after-restore") == "kept"
        srv.client().delete("after-restore")
        assert digest(srv) == (want, nkeys)
    finally:
        shutdown_quietly(srv)


def wait_down(srv, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            srv.client(socket_timeout=0.5).ping()
        except Exception:
            return
        time.sleep(0.05)
    raise AssertionError("server did not stop")


def wait_up(srv, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = srv.client(socket_timeout=1)
            if int(c.info("persistence")["loading"]) == 0:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not start:\n" + srv.log())


def test_restore_start_failure_rolls_back(data_server, tmp_path, module_runner):
    """A start command that fails: the previous files come back and the server runs with its old data."""
    res = take(module_runner, data_server, tmp_path)
    c = data_server.client()
    c.flushall()
    c.set("live", "old data")
    c.save()
    args = control_args(data_server)
    real_start = list(args["start_command"])
    # The first start fails (unknown option); the module then restarts with the same command: give it a
    # script that fails once and works afterwards.
    flag = tmp_path / "failed-once"
    script = tmp_path / "start.sh"
    script.write_text("#!/bin/sh\nif [ ! -e %s ]; then touch %s; exit 3; fi\nexec %s\n"
                      % (flag, flag, " ".join(real_start)))
    script.chmod(0o755)
    out = restore(module_runner, data_server, res["path"], start_command=[str(script)], timeout=10)
    assert out.get("failed"), out
    assert "put back" in out["msg"], out["msg"]
    # what it did, step by step: the server was stopped and started (changed), and rolled back
    assert out["changed"] is True and out["rolled_back"] is True, out
    steps = [a.split(" ")[0] + " " + a.split(" ")[1] for a in out["actions"]]
    assert steps == ["stopped the", "moved %s" % os.path.join(data_server.dir, "dump.rdb"), "placed the",
                     "rolling back:", "removed the", "moved %s" % os.path.join(data_server.dir, "dump.rdb"),
                     "started the"], out["actions"]
    assert out["actions"][-1].startswith("started the server again (pid ")
    assert data_server.client().get("live") == "old data" and data_server.client().dbsize() == 1
    assert not [n for n in os.listdir(data_server.dir) if "pre-restore" in n or n.startswith(".")]
