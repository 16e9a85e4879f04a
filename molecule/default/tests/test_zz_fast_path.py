"""The fast path of a rerun: a host that is as its last full converge left it
costs one read-only check per role and reports 0 changed; drift anywhere (a
live setting, an ACL user, a file's mode, a unit) takes the full path, which
corrects it; check mode reports the drift and corrects nothing."""

from __future__ import annotations

import testinfra

from redis_lab import Instance, client, password, run_converge

HOSTS = {"default-debian12": Instance("redis"), "default-debian13": Instance("valkey")}


def _hosts():
    return {name: testinfra.get_host(f"docker://{name}") for name in HOSTS}


def _admin(h):
    return client(h, "admin", password("admin"))


def _logrotate(inst: Instance) -> str:
    return f"/etc/logrotate.d/{inst.engine}-hardened-{inst.name}"


def _state(hosts):
    """What the drift below changes, per host."""
    h12, h13 = hosts["default-debian12"], hosts["default-debian13"]
    return {
        "policy": _admin(h12).config_get("maxmemory-policy")["maxmemory-policy"],
        "logrotate mode": h12.file(_logrotate(HOSTS["default-debian12"])).mode,
        "app can GET": _admin(h13).execute_command("ACL", "DRYRUN", "app", "GET", "k") == "OK",
        "unit enabled": h13.service(HOSTS["default-debian13"].unit).is_enabled,
    }


def test_rerun_of_a_converged_host_takes_the_fast_path():
    recap = run_converge()
    assert {name: recap[name]["changed"] for name in HOSTS} == {name: 0 for name in HOSTS}, recap
    assert recap.full_paths() == {}, recap.full_paths()


def test_drift_anywhere_takes_the_full_path_and_is_corrected():
    hosts = _hosts()
    before = _state(hosts)
    assert before == {"policy": "noeviction", "logrotate mode": 0o644, "app can GET": True, "unit enabled": True}, before

    # Drift: a live setting and a file's mode on one host, an ACL user and
    # the unit's enablement on the other.
    h12, h13 = hosts["default-debian12"], hosts["default-debian13"]
    _admin(h12).config_set("maxmemory-policy", "allkeys-lru")
    h12.check_output(f"chmod 0600 {_logrotate(HOSTS['default-debian12'])}")
    _admin(h13).acl_setuser("app", enabled=True, commands=["-get"])
    h13.check_output(f"systemctl disable {HOSTS['default-debian13'].unit}")
    drifted = _state(hosts)
    assert drifted == {"policy": "allkeys-lru", "logrotate mode": 0o600, "app can GET": False, "unit enabled": False}, drifted

    # Check mode: the full path reports the corrections and applies none.
    recap = run_converge(check=True)
    assert all(recap[name]["changed"] >= 1 for name in HOSTS), recap
    assert _state(hosts) == drifted

    recap = run_converge()
    reasons = recap.full_paths()
    assert "live settings" in " ".join(reasons.get("default-debian12", [])), reasons
    assert "file " + _logrotate(HOSTS["default-debian12"]) in " ".join(reasons.get("default-debian12", [])), reasons
    assert "live ACL users" in " ".join(reasons.get("default-debian13", [])), reasons
    assert "unit " + HOSTS["default-debian13"].unit in " ".join(reasons.get("default-debian13", [])), reasons
    assert all(recap[name]["changed"] >= 1 for name in HOSTS), recap
    assert _state(hosts) == before

    # Corrected and recorded: the next rerun is fast again, 0 changed.
    recap = run_converge()
    assert {name: recap[name]["changed"] for name in HOSTS} == {name: 0 for name in HOSTS}, recap
    assert recap.full_paths() == {}, recap.full_paths()
