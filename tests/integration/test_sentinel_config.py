# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sentinel_config against a real group: 1 master, 2 replicas, 3 Sentinels on loopback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from run_module import run_module
from sentinels import _pairs, start_group


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    g = start_group(tmp_path_factory.mktemp("sentinel-config"), down_after=1000)
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


def _conn(group, sentinel=None):
    sentinel = sentinel or group.sentinels[0]
    return dict(login_host="127.0.0.1", login_port=sentinel.port,
                login_password=group.passwords["sentinel_requirepass"])


def _master(group, name=None, sentinel=None):
    c = group.sentinel_client(sentinel or group.sentinels[0])
    return _pairs(c.execute_command("SENTINEL", "MASTER", name or group.name))


def _no_secret(result, group):
    for secret in group.passwords.values():
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_converge_master_settings_check_diff_then_apply_then_idempotent(group):
    before = _master(group)
    args = dict(_conn(group), master_name=group.name, quorum=3, down_after_milliseconds=1500,
                failover_timeout=25000, parallel_syncs=2)

    checked = run_module("sentinel_config", args, check=True, diff=True)
    assert checked.get("failed") is not True, checked
    assert checked["changed"] is True
    assert set(checked["changes"]) == {"quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs"}
    assert checked["changes"]["quorum"] == {"before": "2", "after": "3"}
    assert checked["diff"]["before"] != checked["diff"]["after"]
    assert "quorum 2\n" in checked["diff"]["before"] and "quorum 3\n" in checked["diff"]["after"]
    now = _master(group)
    for key in ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs"):
        assert now[key] == before[key], "check mode changed %s" % key

    applied = run_module("sentinel_config", args, diff=True)
    assert applied.get("failed") is not True, applied
    assert applied["changed"] is True
    assert len(applied["commands"]) == 4
    now = _master(group)
    assert (now["quorum"], now["down-after-milliseconds"], now["failover-timeout"], now["parallel-syncs"]) == \
        ("3", "1500", "25000", "2")
    # the other Sentinels have their own configuration: untouched
    assert _master(group, sentinel=group.sentinels[1])["quorum"] == "2"

    again = run_module("sentinel_config", args, diff=True)
    assert again.get("failed") is not True, again
    assert again["changed"] is False
    assert again["changes"] == {} and again["commands"] == []
    assert again["diff"]["before"] == again["diff"]["after"]

    # back to the group's settings
    restore = dict(args, quorum=2, down_after_milliseconds=1000, failover_timeout=20000, parallel_syncs=1)
    assert run_module("sentinel_config", restore)["changed"] is True
    assert _master(group)["quorum"] == "2"


def test_auth_compared_with_the_sentinel_config_file(group):
    s = group.sentinels[1]
    conn = _conn(group, s)
    same = run_module("sentinel_config", dict(conn, master_name=group.name, auth_user="sentinel",
                                              auth_pass=group.passwords["sentinel"]), diff=True)
    assert same.get("failed") is not True, same
    assert same["changed"] is False
    assert same["config_file"] == s.config_file
    _no_secret(same, group)

    new_pass = "not-the-real-one-%s" % group.passwords["app"][:6]
    checked = run_module("sentinel_config", dict(conn, master_name=group.name, auth_pass=new_pass),
                         check=True, diff=True)
    assert checked["changed"] is True
    assert set(checked["changes"]) == {"auth-pass"}
    assert checked["changes"]["auth-pass"]["before"] != checked["changes"]["auth-pass"]["after"]
    assert checked["diff"]["before"] != checked["diff"]["after"]
    assert new_pass not in checked.stdout
    _no_secret(checked, group)
    assert group.passwords["sentinel"] in s.read_config()

    changed = run_module("sentinel_config", dict(conn, master_name=group.name, auth_pass=new_pass))
    assert changed["changed"] is True
    assert new_pass in s.read_config() and new_pass not in changed.stdout

    back = run_module("sentinel_config", dict(conn, master_name=group.name, auth_pass=group.passwords["sentinel"]))
    assert back["changed"] is True
    assert group.passwords["sentinel"] in s.read_config()
    assert run_module("sentinel_config", dict(conn, master_name=group.name,
                                              auth_pass=group.passwords["sentinel"]))["changed"] is False


def test_auth_unreadable_config_file_fails_unless_on_create(group, tmp_path):
    conn = _conn(group, group.sentinels[2])
    missing = str(tmp_path / "nope.conf")
    failed = run_module("sentinel_config", dict(conn, master_name=group.name, auth_pass="x", config_file=missing))
    assert failed["failed"] is True
    assert "auth_pass" in failed["msg"] and missing in failed["msg"]
    on_create = run_module("sentinel_config", dict(conn, master_name=group.name, auth_pass="x",
                                                   config_file=missing, auth_pass_update="on_create"))
    assert on_create.get("failed") is not True, on_create
    assert on_create["changed"] is False


def test_global_settings_and_sentinel_pass(group):
    s = group.sentinels[2]
    conn = _conn(group, s)
    args = dict(conn, master_name=group.name, sentinel_settings={"resolve-hostnames": True},
                sentinel_pass=group.passwords["sentinel_requirepass"])
    checked = run_module("sentinel_config", args, check=True, diff=True)
    assert checked["changed"] is True and set(checked["changes"]) == {"resolve-hostnames"}
    assert "resolve-hostnames no\n" in checked["diff"]["before"]
    assert "resolve-hostnames yes\n" in checked["diff"]["after"]
    _no_secret(checked, group)
    applied = run_module("sentinel_config", args)
    assert applied["changed"] is True
    c = group.sentinel_client(s)
    assert _pairs(c.execute_command("SENTINEL", "CONFIG", "GET", "resolve-hostnames"))["resolve-hostnames"] == "yes"
    assert run_module("sentinel_config", dict(args, sentinel_settings={"resolve-hostnames": "yes"}))["changed"] is False
    back = run_module("sentinel_config", dict(args, sentinel_settings={"resolve-hostnames": False}))
    assert back["changed"] is True

    unknown = run_module("sentinel_config", dict(conn, master_name=group.name, sentinel_settings={"no-such": 1}))
    assert unknown["failed"] is True and "no-such" in unknown["msg"]
    secret_in_dict = run_module("sentinel_config", dict(conn, master_name=group.name,
                                                        sentinel_settings={"sentinel-pass": "x"}))
    assert secret_in_dict["failed"] is True and "sentinel_pass" in secret_in_dict["msg"]


def test_monitor_and_remove_a_new_master(group, redis_factory):
    extra = redis_factory(name="extra")
    conn = _conn(group)
    args = dict(conn, master_name="extra", master_host="127.0.0.1", master_port=extra.port, quorum=1,
                down_after_milliseconds=2000)

    missing_host = run_module("sentinel_config", dict(conn, master_name="extra", quorum=1))
    assert missing_host["failed"] is True and "master_host" in missing_host["msg"]
    missing_quorum = run_module("sentinel_config", dict(args, quorum=None))
    assert missing_quorum["failed"] is True and "quorum" in missing_quorum["msg"]

    checked = run_module("sentinel_config", args, check=True, diff=True)
    assert checked["changed"] is True and checked["monitored"] is True
    assert checked["changes"]["monitor"] == {"before": None, "after": "127.0.0.1 %d" % extra.port}
    assert checked["diff"]["before"] != checked["diff"]["after"]
    c = group.sentinel_client(group.sentinels[0])
    assert "extra" not in [_pairs(m)["name"] for m in c.execute_command("SENTINEL", "MASTERS")]

    created = run_module("sentinel_config", args)
    assert created.get("failed") is not True, created
    assert created["changed"] is True
    m = _master(group, "extra")
    assert (m["port"], m["quorum"], m["down-after-milliseconds"]) == (str(extra.port), "1", "2000")
    assert run_module("sentinel_config", args)["changed"] is False

    # An already monitored master is never moved by master_host/master_port
    moved = run_module("sentinel_config", dict(args, master_port=extra.port + 1))
    assert moved["changed"] is False
    assert moved["master"] == {"host": "127.0.0.1", "port": extra.port}
    assert "only used to start monitoring" in str(moved.get("warnings")), moved

    removed_check = run_module("sentinel_config", dict(conn, master_name="extra", state="absent"), check=True, diff=True)
    assert removed_check["changed"] is True and removed_check["monitored"] is False
    assert removed_check["diff"]["before"] != removed_check["diff"]["after"]
    assert _master(group, "extra")["port"] == str(extra.port)
    removed = run_module("sentinel_config", dict(conn, master_name="extra", state="absent"))
    assert removed["changed"] is True
    assert "extra" not in [_pairs(m)["name"] for m in c.execute_command("SENTINEL", "MASTERS")]
    assert run_module("sentinel_config", dict(conn, master_name="extra", state="absent"))["changed"] is False


@pytest.mark.parametrize("option", ["quorum", "down_after_milliseconds", "failover_timeout", "parallel_syncs"])
def test_values_below_one_fail_naming_the_option(group, option):
    result = run_module("sentinel_config", dict(_conn(group), master_name=group.name, **{option: 0}))
    assert result["failed"] is True
    assert option in result["msg"]


def test_not_a_sentinel_fails(group):
    result = run_module("sentinel_config", dict(login_host="127.0.0.1", login_port=group.master.port,
                                                login_user="admin", login_password=group.passwords["admin"],
                                                master_name=group.name, quorum=2))
    assert result["failed"] is True and "not a Sentinel" in result["msg"]
    _no_secret(result, group)
