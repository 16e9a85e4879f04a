# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_backup when the disk is full and when names collide (issue 10, section 2),
against a real redis-server. The full disk is a real one: a small tmpfs mounted
for the test (root only) and filled to leave a chosen number of bytes free."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import pytest

PAGE = 4096


def base_args(srv, **extra):
    args = dict(login_host=srv.host, login_port=srv.port)
    args.update(extra)
    return args


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def leave_free(mount, free_bytes):
    """Fill the file system at ``mount`` so that exactly ``free_bytes`` (whole pages) stay free."""
    st = os.statvfs(str(mount))
    available = st.f_bavail * st.f_frsize
    filler = available - free_bytes
    assert filler > 0
    with open(os.path.join(str(mount), "filler"), "wb") as f:
        f.write(b"\0" * filler)  # tmpfs: zeros take real pages
    st = os.statvfs(str(mount))
    assert st.f_bavail * st.f_frsize == free_bytes, (st.f_bavail * st.f_frsize, free_bytes)


def pages(n):
    return -(-n // PAGE) * PAGE


@pytest.fixture
def big_server(redis_factory):
    """About 2 MiB of incompressible values, so that copy and compression each need that much."""
    srv = redis_factory()
    c = srv.client()
    for i in range(32):
        c.set("blob:%d" % i, os.urandom(64 * 1024))
    return srv


def rdb_size_of(module_runner, srv, tmp_path):
    """The RDB size a backup of ``srv`` has (a first backup with compression none)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    res = module_runner("redis_backup", base_args(srv, dest=str(probe), compression="none", node_name="probe"))
    assert not res.get("failed"), res
    return res["manifest"]["rdb_size"]


@pytest.mark.parametrize("stage,compression,method", [
    ("copy", "gzip", "bgsave"),
    ("copy", "gzip", "sync"),
    ("compression", "gzip", "bgsave"),
    ("manifest", "none", "bgsave"),
])
def test_full_disk_names_path_and_enospc_and_leaves_nothing(big_server, small_disk, tmp_path, module_runner,
                                                            stage, compression, method):
    size = rdb_size_of(module_runner, big_server, tmp_path)
    assert size > 2 * 1024 * 1024
    dest = small_disk / "backups"
    dest.mkdir()
    free = {"copy": pages(size // 2),                  # the RDB does not fit
            "compression": pages(size) + pages(size // 2),  # the RDB fits, its compressed copy does not
            "manifest": pages(size)}[stage]            # the backup fits, its manifest does not
    leave_free(small_disk, free)
    res = module_runner("redis_backup", base_args(big_server, dest=str(dest), compression=compression,
                                                  method=method, node_name="n1"))
    assert res.get("failed") is True, res
    assert "Traceback" not in res.stdout + res.stderr
    assert "No space left on device (ENOSPC)" in res["msg"], res["msg"]
    assert str(dest) in res["msg"], res["msg"]
    expected = {"copy": "Cannot copy" if method == "bgsave" else "Cannot write the RDB streamed",
                "compression": "Cannot write the compressed backup (gzip)",
                "manifest": "Cannot write the manifest"}[stage]
    assert res["msg"].startswith(expected), res["msg"]
    assert os.listdir(str(dest)) == [], os.listdir(str(dest))  # nothing left behind, no temp file either


def write_fake_backup(dest, name, manifest):
    (dest / name).write_bytes(b"REDIS0009 old")
    (dest / (name + ".json")).write_text(json.dumps(manifest))


def test_retention_removes_only_its_own_node_and_prefix(redis_factory, tmp_path, module_runner):
    srv = redis_factory()
    srv.client().set("k", "v")
    dest = tmp_path / "backups"
    dest.mkdir()
    # prefix "redis", node "a-1" and prefix "redis-a", node "1" give the same file names
    theirs = "redis-a-1-20200101T000000.000Z.rdb.gz"
    write_fake_backup(dest, theirs, {"file": theirs, "node_name": "1", "prefix": "redis-a"})
    # a file of our name whose manifest is missing: not ours to judge, kept
    orphan = "redis-a-1-20200102T000000.000Z.rdb.gz"
    (dest / orphan).write_bytes(b"REDIS0009 orphan")
    # ours, old: removed
    mine = "redis-a-1-20200103T000000.000Z.rdb.gz"
    write_fake_backup(dest, mine, {"file": mine, "node_name": "a-1", "prefix": "redis"})

    res = module_runner("redis_backup", base_args(srv, dest=str(dest), prefix="redis", node_name="a-1",
                                                  max_age="7d"))
    assert not res.get("failed"), res
    assert res["removed"] == [str(dest / mine)]
    assert res["manifest"]["prefix"] == "redis" and res["manifest"]["node_name"] == "a-1"
    left = sorted(os.listdir(str(dest)))
    assert left == sorted([theirs, theirs + ".json", orphan, os.path.basename(res["path"]),
                           os.path.basename(res["path"]) + ".json"])
