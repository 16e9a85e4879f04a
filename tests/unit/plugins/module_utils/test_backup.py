# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure helpers of redis_backup (module_utils/_backup.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import os

import pytest

from ansible_collections.hardened.redis.plugins.module_utils import _backup as bk

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0)


# -- durations ----------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    ("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("45s", 45), ("2w", 1209600),
    ("3600", 3600), (3600, 3600), (" 5D ", 5 * 86400), ("0", 0), (None, None),
])
def test_parse_duration(value, seconds):
    assert bk.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "7 days", "-1", "1.5h", "d", "7y", True, -5, "12hh"])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        bk.parse_duration(value)


# -- names --------------------------------------------------------------------

def test_backup_name_round_trip():
    when = datetime.datetime(2026, 11, 22, 5, 15, 43, 123456)
    name = bk.backup_name("redis", "host-1-6379", when, "gzip")
    assert name == "redis-host-1-6379-20261122T051543.123Z.rdb.gz"
    assert bk.parse_backup_name("redis", "host-1-6379", name) == when.replace(microsecond=123000)
    assert bk.backup_name("redis", "n", when, "none").endswith(".rdb")
    assert bk.backup_name("redis", "n", when, "zstd").endswith(".rdb.zst")


def test_parse_backup_name_ignores_other_files():
    good = "redis-n1-20261122T051543.123Z.rdb"
    assert bk.parse_backup_name("redis", "n1", good) is not None
    for other in (good + ".json", "." + good + ".abc.tmp", "redis-n2-20261122T051543.123Z.rdb",
                  "redis-n1-20261122T051543Z.rdb", "redis-n1-20261399T051543.123Z.rdb", "notes.txt",
                  "other-n1-20261122T051543.123Z.rdb.gz", "redis-n1-20261122T051543.123Z.rdb.bz2"):
        assert bk.parse_backup_name("redis", "n1", other) is None, other


def test_node_name_is_made_safe_and_prefix_is_literal():
    name = bk.backup_name("re.dis", "host/with space:6379", NOW, "none")
    assert "/" not in name and " " not in name and ":" not in name
    assert bk.parse_backup_name("re.dis", "host/with space:6379", name) == NOW
    # the dot in the prefix is not a regex wildcard
    assert bk.parse_backup_name("re.dis", "n", "reXdis-n-20261122T120000.000Z.rdb") is None


# -- retention ----------------------------------------------------------------

def _entries(*ages_hours):
    return [("b%d" % i, NOW - datetime.timedelta(hours=h)) for i, h in enumerate(ages_hours)]


def test_keep_two_of_four_removes_the_two_oldest():
    entries = _entries(0, 1, 2, 3)  # b0 newest
    assert bk.plan_retention(entries, NOW, keep=2, protect=["b0"]) == ["b3", "b2"]


def test_protected_backup_never_removed_even_if_it_looks_oldest():
    entries = _entries(0, 1, 2, 3)
    # clock skew: the one just made has the oldest time
    entries[3] = ("new", NOW - datetime.timedelta(days=30))
    removed = bk.plan_retention(entries, NOW, keep=1, max_age=3600, protect=["new"])
    assert "new" not in removed
    assert removed == ["b2", "b1"]  # oldest first; b0 is the newest and kept by keep=1


def test_max_age_only():
    entries = _entries(0, 10, 30, 200)
    assert bk.plan_retention(entries, NOW, max_age=bk.parse_duration("1d"), protect=["b0"]) == ["b3", "b2"]


def test_keep_or_max_age_either_removes():
    entries = _entries(0, 1, 50)
    assert bk.plan_retention(entries, NOW, keep=5, max_age=86400, protect=["b0"]) == ["b2"]
    assert bk.plan_retention(entries, NOW, keep=2, max_age=10 * 86400, protect=["b0"]) == ["b2"]


def test_no_limits_removes_nothing_and_keep_zero_is_refused():
    assert bk.plan_retention(_entries(0, 1000), NOW, protect=["b0"]) == []
    with pytest.raises(ValueError):
        bk.plan_retention(_entries(0), NOW, keep=0)


# -- manifest -----------------------------------------------------------------

def _manifest(**over):
    m = bk.build_manifest(file="f.rdb.gz", time="2026-11-22T05:15:43.123Z", node="127.0.0.1:6379", engine="redis",
                          version="7.0.15", keys=3, expires=1, size=100, sha256="ab" * 32, compression="gzip",
                          rdb_size=300)
    m.update(over)
    return m


def test_manifest_ok():
    assert bk.check_manifest(_manifest(), 100, "ab" * 32, "redis", "7.0.11", "f.rdb.gz") == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(file_size=50), "truncated"),
    (dict(file_sha256="cd" * 32), "sha256"),
    (dict(engine="valkey"), "made by redis"),
    (dict(version="8.0.2"), "major versions differ"),
    (dict(version="6.2.14"), "major versions differ"),
    (dict(file_name="g.rdb.gz"), "describes f.rdb.gz"),
])
def test_manifest_problems(kwargs, words):
    problems = bk.check_manifest(_manifest(), **kwargs)
    assert len(problems) == 1 and words in problems[0], problems


def test_manifest_structure_problems():
    assert bk.check_manifest([]) == ["the manifest is not a JSON object"]
    m = _manifest()
    del m["sha256"]
    assert "lacks sha256" in bk.check_manifest(m)[0]
    assert "unknown manifest format" in bk.check_manifest(_manifest(format=99))[0]
    assert "unknown compression" in bk.check_manifest(_manifest(compression="lz4"))[0]
    assert bk.check_manifest(_manifest(version="unknown"), version="7.0.15")


def test_server_identity_and_keyspace():
    assert bk.server_identity({"redis_version": "7.0.15"}) == ("redis", "7.0.15")
    assert bk.server_identity({"redis_version": "7.2.4", "valkey_version": "8.1.1", "server_name": "valkey"}) == \
        ("valkey", "8.1.1")
    assert bk.keyspace_counts({"db0": {"keys": 5, "expires": 2, "avg_ttl": 9}, "db3": "keys=1,expires=0,avg_ttl=0"}) \
        == (6, 2)
    assert bk.keyspace_counts({}) == (0, 0)
    assert bk.engine_major("7.0.15") == 7 and bk.engine_major("") is None


def test_parse_check_rdb():
    ok = ("[offset 0] Checking RDB file x\n[offset 118] \\o/ RDB looks OK! \\o/\n[info] 2 keys read\n"
          "[info] 1 expires\n[info] 0 already expired\n")
    assert bk.parse_check_rdb(ok) == dict(ok=True, keys=2, expires=1, already_expired=0)
    bad = ("--- RDB ERROR DETECTED ---\n[offset 42] Invalid object type: 88\n[additional info] While doing: read-type\n"
           "[info] 0 keys read\n")
    assert bk.parse_check_rdb(bad)["ok"] is False
    assert "Invalid object type" in bk.check_rdb_error(bad)


# -- files --------------------------------------------------------------------

def test_publish_and_compression_round_trip(tmp_path):
    src = tmp_path / "dump.rdb"
    src.write_bytes(b"REDIS0010" + os.urandom(5000))
    tmp = bk.temp_file_in(str(tmp_path), "x.rdb.gz")
    assert os.path.basename(tmp).startswith(".x.rdb.gz.") and oct(os.stat(tmp).st_mode & 0o777) == oct(0o600)
    bk.gzip_file(str(src), tmp)
    final = str(tmp_path / "x.rdb.gz")
    bk.publish(tmp, final)
    assert not os.path.exists(tmp)
    assert bk.detect_compression(final) == "gzip" and bk.detect_compression(str(src)) == "none"
    out = str(tmp_path / "back.rdb")
    bk.gunzip_file(final, out)
    assert open(out, "rb").read() == src.read_bytes()
    assert bk.sha256_file(out) == bk.sha256_file(str(src))


def test_truncated_gzip_is_a_backup_error(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(os.urandom(100000))[:5000])
    with pytest.raises(bk.BackupError):
        bk.gunzip_file(str(path), str(tmp_path / "out"))


def test_aof_manifest_text():
    assert bk.aof_manifest_text("appendonly.aof") == "file appendonly.aof.1.base.rdb seq 1 type b\n"
    with pytest.raises(bk.BackupError):
        bk.aof_manifest_text("append only.aof")


# -- replication stream -----------------------------------------------------------

class _Stream(object):
    """recv(n) over fixed chunks (how a socket may split the reply)."""

    def __init__(self, data, size):
        self.chunks = [data[i:i + size] for i in range(0, len(data), size)]

    def recv(self, n):
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if len(chunk) > n:
            self.chunks.insert(0, chunk[n:])
            chunk = chunk[:n]
        return chunk


RDB = b"REDIS0010" + bytes(range(256)) * 20


@pytest.mark.parametrize("chunk", [1, 7, 41, 4096, 100000])
def test_sync_payload_disk_framing(tmp_path, chunk):
    wire = b"\n\n+FULLRESYNC 0123abcd 4242\r\n$%d\r\n" % len(RDB) + RDB + b"*1\r\n$4\r\nPING\r\n"
    with open(str(tmp_path / "o"), "wb") as out:
        assert bk.read_sync_payload(_Stream(wire, chunk).recv, out) == (len(RDB), "0123abcd", 4242)
    assert (tmp_path / "o").read_bytes() == RDB


@pytest.mark.parametrize("chunk", [1, 39, 40, 41, 4096, 100000])
def test_sync_payload_diskless_framing(tmp_path, chunk):
    mark = b"m" * 20 + b"0123456789abcdefghij"
    wire = b"+FULLRESYNC x 7\r\n\n$EOF:" + mark + b"\r\n" + RDB + mark
    with open(str(tmp_path / "o"), "wb") as out:
        assert bk.read_sync_payload(_Stream(wire, chunk).recv, out) == (len(RDB), "x", 7)
    assert (tmp_path / "o").read_bytes() == RDB


@pytest.mark.parametrize("wire, words", [
    (b"-NOPERM this user has no permissions to run the 'psync' command\r\n", "refused the sync: NOPERM"),
    (b"+FULLRESYNC x 1\r\n$100\r\nREDIS", "after 5 of 100 bytes"),
    (b"+FULLRESYNC x 1\r\n$EOF:" + b"a" * 40 + b"\r\nREDIS", "before the end of the RDB"),
    (b"\n\n", "closed the connection"),
    (b"+CONTINUE\r\n", "unexpected sync reply"),
])
def test_sync_payload_errors(tmp_path, wire, words):
    with open(str(tmp_path / "o"), "wb") as out:
        with pytest.raises(bk.BackupError) as err:
            bk.read_sync_payload(_Stream(wire, 3).recv, out)
    assert words in str(err.value)


class _Server:
    """INFO answers in the order a server gives them while a save runs: the
    wait logic of own_bgsave, with the clock advanced by its own sleeps."""

    def __init__(self, persistence, refuse=None):
        self.persistence = list(persistence)
        self.refuse = list(refuse or [])
        self.started = 0
        self.now = 0.0

    def read_info(self, section):
        if section == 'replication':
            return {'role': 'slave', 'master_repl_offset': 42}
        return self.persistence.pop(0) if len(self.persistence) > 1 else self.persistence[0]

    def start(self):
        if self.refuse:
            raise self.refuse.pop(0)
        self.started += 1

    def sleep(self, seconds):
        self.now += seconds


def _run(server, timeout=10):
    return bk.own_bgsave(server.read_info, server.start, timeout, 'node1', clock=lambda: server.now,
                         sleep=server.sleep, wall=lambda: 1000 + server.now)


def test_own_bgsave_waits_for_a_running_save_then_for_its_own():
    busy = {'rdb_bgsave_in_progress': 1, 'rdb_saves': 3, 'rdb_last_bgsave_status': 'ok'}
    idle = {'rdb_bgsave_in_progress': 0, 'rdb_saves': 4, 'rdb_last_bgsave_status': 'ok'}
    ours_running = dict(busy, rdb_saves=4)
    done = dict(idle, rdb_saves=5)
    server = _Server([busy, busy, idle, ours_running, ours_running, done])
    replication, persistence = _run(server)
    assert server.started == 1 and persistence['rdb_saves'] == 5 and replication['master_repl_offset'] == 42


def test_own_bgsave_retries_when_another_save_started_meanwhile():
    idle = {'rdb_bgsave_in_progress': 0, 'rdb_saves': 4, 'rdb_last_bgsave_status': 'ok'}
    server = _Server([idle, idle, dict(idle, rdb_saves=5)],
                     refuse=[Exception('ERR Background save already in progress')])
    _run(server)
    assert server.started == 1


def test_own_bgsave_without_rdb_saves_compares_lastsave():
    """Redis < 7: no rdb_saves; a save counts once LASTSAVE moved past the one before ours."""
    old = {'rdb_bgsave_in_progress': 0, 'rdb_last_save_time': 1000, 'rdb_last_bgsave_status': 'ok'}
    server = _Server([old, old, old, dict(old, rdb_last_save_time=1001)])
    assert _run(server)[1]['rdb_last_save_time'] == 1001


@pytest.mark.parametrize('persistence, text', [
    ({'rdb_bgsave_in_progress': 0, 'rdb_saves': 1, 'rdb_last_bgsave_status': 'err'}, 'failed (rdb_last_bgsave_status:err)'),
    ({'rdb_bgsave_in_progress': 1, 'rdb_saves': 0, 'rdb_last_bgsave_status': 'ok'}, 'still running after 10s'),
])
def test_own_bgsave_failures_name_the_node_and_cause(persistence, text):
    first = {'rdb_bgsave_in_progress': 0, 'rdb_saves': 0, 'rdb_last_bgsave_status': 'ok'}
    server = _Server([first if 'err' in text else persistence, persistence])
    with pytest.raises(bk.BackupError) as err:
        _run(server)
    assert 'node1' in str(err.value) and text in str(err.value)


def test_own_bgsave_passes_other_refusals_on():
    idle = {'rdb_bgsave_in_progress': 0, 'rdb_saves': 0}
    cause = Exception("NOPERM User backup has no permissions to run the 'bgsave' command")
    with pytest.raises(bk.StartSaveError) as err:
        _run(_Server([idle], refuse=[cause]))
    assert err.value.cause is cause
