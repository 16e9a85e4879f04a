"""Bad input and failing modules in roles/redis: the run fails with a message
that says why (even from a no_log task), prints no secret, and changes nothing."""

from __future__ import annotations

import re

from redis_lab import converge_process, credentials_dir

HOSTS = ("default-debian12", "default-debian13")
HIDDEN = "the output has been hidden"


def _changed(stdout: str) -> dict[str, int]:
    recap = stdout.split("PLAY RECAP", 1)[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+:.*?changed=(\d+)", recap, re.M)}


def test_value_a_config_file_cannot_keep_is_refused():
    bad = "two words"
    proc = converge_process({"redis_sentinel_password": bad})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "redis_sentinel_password must not contain whitespace, a quote or a backslash" in out, out[-3000:]
    assert bad not in out
    assert _changed(proc.stdout) == {h: 0 for h in HOSTS}, proc.stdout[-3000:]


def test_failing_redis_config_says_why():
    # The module checks the form, Redis refuses the range: the no_log task's
    # failure reaches the operator as the module's own message.
    proc = converge_process({"redis_extra_config": {"maxmemory-samples": 0}})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Cannot set maxmemory-samples on unix:" in out, out[-3000:]
    assert "(nothing was changed)" in out
    assert HIDDEN not in out, out[-3000:]
    assert _changed(proc.stdout) == {h: 0 for h in HOSTS}, proc.stdout[-3000:]


def test_argument_error_prints_no_password():
    # A failed argument spec validation prints the spec it checked against;
    # the password options have no default there (the role's defaults hold the
    # lookups), so none of the generated passwords reaches the output.
    proc = converge_process({"redis_port": "abc"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "argument 'redis_port' is of type str" in out, out[-3000:]
    secrets = {f.name: f.read_text().split()[0] for f in credentials_dir().iterdir() if f.is_file()}
    assert len(secrets) >= 5, sorted(secrets)
    assert [name for name, secret in secrets.items() if secret in out] == []
    assert _changed(proc.stdout) == {h: 0 for h in HOSTS}, proc.stdout[-3000:]
