#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_backup
short_description: Take verified RDB backups of one Redis node, prune old ones, and restore them
version_added: 0.1.0
description:
  - With O(state=present), takes a point-in-time backup of one Redis (or Valkey)
    node on the host where the module runs. It starts C(BGSAVE), waits for
    B(that) save to finish (a save already in progress is waited for first, and
    then a new one is started), checks C(rdb_last_bgsave_status), and copies the
    RDB file from the server's C(dir) and C(dbfilename). Run it on a replica so
    that the master never forks. With O(method=sync) the RDB is streamed over the
    connection instead, the way a replica receives it.
  - The copy is checked with C(redis-check-rdb) (or C(valkey-check-rdb)) before
    it is kept, compressed, and published atomically in O(dest) (temp file in the
    same directory, fsync, rename, fsync of the directory), so a partial file never
    has the final name. A JSON manifest is written beside it as C(<file>.json).
  - Old backups of the same O(prefix) and node in O(dest) are removed according
    to O(keep) and O(max_age); the backup just made is never removed.
  - With O(state=restored), checks the backup O(src) against its manifest
    (size, sha256, engine and major version) and with C(redis-check-rdb) before
    anything is touched, then stops the service, moves the current data files
    aside, writes the RDB (and, when C(appendonly) is on, a fresh AOF directory
    whose base part is that RDB), starts the service, waits until the data is
    loaded and compares the key count with the backup's. On any failure after the
    stop the previous files are put back and the service is started again.
  - Handles B(one) node. Restoring a Sentinel-managed group (master first,
    replicas resync, no failover) is the job of a playbook; the module refuses to
    restore onto a replica or onto a master with connected replicas unless
    O(force=true).
author:
  - hardened.redis developers (@hardened-redis)
options:
  state:
    description:
      - V(present) takes a backup; V(restored) restores O(src) into the node.
    type: str
    choices: [present, restored]
    default: present
  dest:
    description:
      - Directory in which the backup and its manifest are written. It must exist.
      - Required with O(state=present).
    type: path
  dest_file:
    description:
      - File name of the backup in O(dest), instead of the default
        C(<prefix>-<node_name>-<YYYYmmddTHHMMSS.mmmZ>.rdb[.gz|.zst]).
      - Retention only considers files with default names.
    type: str
  prefix:
    description:
      - First part of the default file name; retention applies to backups with
        the same O(prefix) and O(node_name).
    type: str
    default: redis
  node_name:
    description:
      - Node part of the default file name.
      - Defaults to C(<hostname>-<port>) (the short host name of the machine and
        the server's TCP port from C(INFO server)).
    type: str
  compression:
    description:
      - V(gzip) (Python's gzip module), V(zstd) (the C(zstandard) Python module
        or the C(zstd) program; the task fails if neither is there) or V(none).
    type: str
    choices: [gzip, zstd, none]
    default: gzip
  mode:
    description:
      - Mode of the backup and manifest files (O(state=present)), or of the
        restored data files (O(state=restored)).
      - Default V("0600") for backups; for a restore, the mode of the data file
        that is replaced (or V("0600") if there was none).
    type: raw
  owner:
    description:
      - Owner of the files written. For a restore the default is the owner of the
        replaced data file, else of the data directory.
    type: str
  group:
    description:
      - Group of the files written, with the same defaults as O(owner).
    type: str
  verify:
    description:
      - Run C(redis-check-rdb) (C(valkey-check-rdb) for Valkey) on the
        uncompressed RDB. A backup that fails the check is deleted and the task
        fails; a restore that fails it changes nothing.
      - The counts it prints (keys, keys with a TTL) go into the manifest.
    type: bool
    default: true
  check_rdb_bin:
    description:
      - Path of the RDB checker. By default C(valkey-check-rdb) or
        C(redis-check-rdb) (by engine) is searched in E(PATH) and the sbin dirs.
    type: path
  method:
    description:
      - V(bgsave) starts a C(BGSAVE) on the node (see O(trigger_save)) and copies the RDB file from its
        data directory; the module must run on the node's host as a user that can read that directory.
        It has no replication side effects, which is why it is the default.
      - V(sync) asks for a full resynchronisation like a replica (C(PSYNC ? -1), as C(redis-cli --rdb)
        does) and streams the RDB over the connection; it works from any host and needs no file access.
        With C(repl-diskless-sync yes) (the default since Redis 7.0) the node writes no RDB to its own disk.
        The node forks for it as for a replica, counts it as a replica for the duration (C(connected_slaves),
        C(min-replicas-to-write)), and drops it if the write stream buffered meanwhile exceeds
        C(client-output-buffer-limit replica). The replication offset recorded is the exact one of the snapshot.
    type: str
    choices: [bgsave, sync]
    default: bgsave
  trigger_save:
    description:
      - With V(true), start a C(BGSAVE) and back up the file it writes.
      - Only for O(method=bgsave).
      - With V(false), copy the RDB file as it is on disk (written by the
        server's C(save) rules or an earlier C(BGSAVE)); no C(BGSAVE) right needed.
    type: bool
    default: true
  data_dir:
    description:
      - The server's data directory (C(dir)). By default read with C(CONFIG GET dir);
        set it when the login user may not run C(CONFIG GET).
    type: path
  dbfilename:
    description:
      - The server's RDB file name. By default read with C(CONFIG GET dbfilename).
    type: str
  timeout:
    description:
      - Seconds to wait for a C(BGSAVE) to finish, for the service to stop, and
        for the server to load its data after a restore.
    type: int
    default: 600
  keep:
    description:
      - Keep at most this many backups of this prefix and node in O(dest) (the new one included).
      - Retention removes only files whose manifest names this node (O(node_name)) and this
        O(prefix), because names alone can collide (prefix V(redis) of node V(a-1), prefix V(redis-a)
        of node V(1)). A file without a readable manifest is never removed.
    type: int
  max_age:
    description:
      - Remove backups of this prefix and node older than this, for example
        V(7d), V(12h), V(30m), V(2w) or a number of seconds. Age is taken from the
        time in the file name.
      - With O(keep) too, a backup is removed when it is beyond O(keep) B(or) older than O(max_age).
    type: str
  src:
    description:
      - The backup file to restore; its manifest C(<src>.json) must be beside it.
      - Required with O(state=restored).
    type: path
  service:
    description:
      - systemd unit of the node, stopped and started with C(systemctl) during a restore.
    type: str
  stop_command:
    description:
      - Command (argv list, run without a shell) that stops the node, instead of O(service).
      - The module then waits until the server process (C(process_id) of
        C(INFO server)) has exited.
      - Do not put passwords here; the command line is visible to every local user.
    type: list
    elements: str
  start_command:
    description:
      - Command (argv list, no shell) that starts the node, instead of O(service);
        it must return once the server runs (for example a daemonizing start).
    type: list
    elements: str
  force:
    description:
      - Restore even onto a node that is a replica or a master with connected replicas.
    type: bool
    default: false
  keep_previous:
    description:
      - After a successful restore, keep the replaced data files as
        C(<name>.pre-restore-<timestamp>) instead of deleting them.
    type: bool
    default: false
extends_documentation_fragment:
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description:
      - O(state=present) takes no backup and reports the path it would write and RV(removed), the backups retention would remove.
      - O(state=restored) checks the backup (size, sha256, manifest, C(redis-check-rdb) in a temp dir) and reports
        what would be done; the service is not touched.
  diff_mode:
    support: none
    description: No diff is returned; RV(manifest), RV(removed) and RV(previous) say what was written or removed.
notes:
  - "ACL rights: O(state=present) needs C(+ping +info +bgsave +config|get) (C(+config|get) not if
    O(data_dir) and O(dbfilename) are set; C(+bgsave) not with O(trigger_save=false));
    with O(method=sync) it needs C(+ping +info +replconf +psync) instead.
    O(state=restored) needs C(+ping +info +config|get). C(CONFIG GET dir) works while
    C(enable-protected-configs) is V(no); only C(CONFIG SET) of protected configs is refused."
  - The module must run on the node's host as a user that can read the data
    directory (backup) or write it and control the service (restore), usually root.
  - A full disk (or another write error) while copying, compressing or writing the
    manifest fails with the path and the error (for example C(No space left on device (ENOSPC)));
    the temporary files and a backup without its manifest are removed.
  - "AOF: with C(appendonly yes), Redis 7.0 that finds no AOF starts with an B(empty)
    dataset and ignores C(dump.rdb) (verified on 7.0.15). The module therefore writes a new AOF
    directory (C(appenddirname)) whose manifest lists one base part, the restored RDB; Redis loads
    it, opens a new incr part, and later restarts load it again. The config file is not edited.
    Before Redis 7 (no C(appenddirname)), the RDB is written as C(appendfilename) (an AOF with an
    RDB preamble); that path is not tested here."
  - The backup records C(master_repl_offset) read just before C(BGSAVE); writes between that
    moment and the fork are in the file but not in the offset.
  - The key count loaded after a restore may be lower than the backup's by keys whose TTL
    ran out meanwhile; the task fails if it is outside that range.
  - Passwords are never put on a command line and never shown; C(redis-check-rdb) needs none.
seealso:
  - module: hardened.redis.redis_config
  - name: Redis persistence
    description: RDB and AOF, and how to back up and restore them.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
'''

EXAMPLES = r'''
- name: Back up this node (run it on a replica), keep 7 backups and none older than 14 days
  hardened.redis.redis_backup:
    login_unix_socket: /run/redis/redis-server.sock
    login_user: backup
    login_password: "{{ redis_backup_password }}"
    dest: /var/backups/redis
    compression: zstd
    keep: 7
    max_age: 14d
  register: backup

- name: Restore a backup onto this (master) node, service managed by systemd
  hardened.redis.redis_backup:
    state: restored
    src: /var/backups/redis/redis-redis-1-6379-20261122T051543.123Z.rdb.gz
    service: redis-main.service
    login_user: admin
    login_password: "{{ redis_admin_password }}"

- name: Restore with explicit commands instead of a systemd unit
  hardened.redis.redis_backup:
    state: restored
    src: /srv/backups/latest.rdb
    stop_command: [/usr/local/bin/redis-ctl, stop]
    start_command: [/usr/local/bin/redis-ctl, start]
'''

RETURN = r'''
path:
  description: The backup written (or that would be written), or the backup restored.
  returned: always
  type: str
  sample: /var/backups/redis/redis-redis-1-6379-20261122T051543.123Z.rdb.gz
size:
  description: Size of the backup file in bytes (0 in check mode for O(state=present)).
  returned: always
  type: int
sha256:
  description: sha256 of the backup file (empty in check mode for O(state=present)).
  returned: always
  type: str
keys:
  description:
    - O(state=present) - keys in the backup (counted by C(redis-check-rdb), else C(INFO keyspace) at save time).
    - O(state=restored) - keys the server holds after the restore (in check mode, keys in the backup).
  returned: always
  type: int
duration:
  description: Seconds the task took.
  returned: always
  type: float
manifest:
  description: The manifest of the backup (written, or read from beside O(src)).
  returned: always
  type: dict
  sample:
    format: 1
    file: redis-redis-1-6379-20261122T051543.123Z.rdb.gz
    time: "2026-11-22T05:15:43.123Z"
    node: "127.0.0.1:6379"
    hostname: redis-1
    role: slave
    master_repl_offset: 1234567
    engine: redis
    version: 7.0.15
    keys: 1000
    expires: 10
    keys_source: redis-check-rdb
    size: 4567
    sha256: 0f3c...
    compression: gzip
    rdb_size: 12345
    verified: true
removed:
  description: Backups (with their manifests) removed by retention, or that would be removed in check mode.
  returned: always
  type: list
  elements: str
verified:
  description: Whether C(redis-check-rdb) checked the RDB in this run.
  returned: always
  type: bool
previous:
  description: With O(state=restored), the data files moved aside (removed after success unless O(keep_previous=true)).
  returned: when O(state=restored)
  type: list
  elements: str
aof_rebuilt:
  description: With O(state=restored), whether a new AOF directory holding the restored data was written.
  returned: when O(state=restored)
  type: bool
rolled_back:
  description:
    - In the failed result of a restore that had to be undone, whether the previous data files
      were put back and the server started again (V(false) means the rollback was incomplete;
      the message says what is left to do). The result then has C(changed=true), because the server
      was stopped and started.
  returned: when a restore was rolled back
  type: bool
actions:
  description: In the failed result of a rolled-back restore, each step taken, in order.
  returned: when a restore was rolled back
  type: list
  elements: str
  sample:
    - stopped the server (pid 4242)
    - moved /var/lib/redis/dump.rdb aside to /var/lib/redis/dump.rdb.pre-restore-20261122T051543.123Z
    - placed the restored RDB at /var/lib/redis/dump.rdb
    - "rolling back: the server did not come back after the restore: ..."
    - removed the restored /var/lib/redis/dump.rdb
    - moved /var/lib/redis/dump.rdb back
    - started the server again (pid 4250)
'''

import errno
import json
import os
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.hardened.redis.plugins.module_utils import _backup as bk
from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    _client_kwargs,
    connect,
    connection_argument_spec,
    describe_target,
    fail,
    redis,
    run,
    safe_error,
)

try:
    import zstandard
    HAS_ZSTANDARD = True
except ImportError:
    zstandard = None
    HAS_ZSTANDARD = False

_SBIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']


class _WriteFailed(Exception):
    """An OSError while writing the destination (not while reading the source)."""

    def __init__(self, exc):
        Exception.__init__(self, to_native(exc))
        self.exc = exc


class _Sink(object):
    """A binary file opened for writing whose write errors are _WriteFailed, so that
    a full disk is told apart from a failing source (a socket, the server's RDB)."""

    def __init__(self, path):
        try:
            self._handle = open(path, 'wb')
        except (IOError, OSError) as exc:
            raise _WriteFailed(exc)

    def write(self, data):
        try:
            return self._handle.write(data)
        except (IOError, OSError) as exc:
            raise _WriteFailed(exc)

    def close(self):
        """Flush, fsync and close (where a full disk shows up last)."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        except (IOError, OSError) as exc:
            try:
                self._handle.close()
            except (IOError, OSError):
                pass
            raise _WriteFailed(exc)


def _os_error(exc):
    """``No space left on device (ENOSPC)`` for an OSError, else its text."""
    exc = getattr(exc, 'exc', exc)
    code = errno.errorcode.get(getattr(exc, 'errno', None))
    if code and getattr(exc, 'strerror', None):
        return '%s (%s)' % (exc.strerror, code)
    return to_native(exc)


def _copy_to(src_handle, dst_path):
    """Copy an open binary file to ``dst_path``; read errors are OSError, write errors _WriteFailed."""
    sink = _Sink(dst_path)
    total = 0
    try:
        for chunk in iter(lambda: src_handle.read(1024 * 1024), b''):
            sink.write(chunk)
            total += len(chunk)
    finally:
        sink.close()
    return total


class Backup(object):
    """State shared by both procedures; every helper fails the module with a clear message."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.started = time.monotonic()
        self.target = describe_target(module)
        self.actions = []  # what a restore did, in order (reported if it rolls back)

    # -- small helpers --------------------------------------------------------
    def fail(self, msg, **extra):
        extra.setdefault('duration', round(time.monotonic() - self.started, 3))
        self.module.fail_json(msg=msg, **extra)

    def err(self, exc):
        return safe_error(self.module, exc)

    def info(self, client, section):
        return run(self.module, 'read INFO %s' % section, client.info, section,
                   result=dict(duration=round(time.monotonic() - self.started, 3)))

    def disk_fail(self, action, path, exc, hint='nothing was kept', **extra):
        """Fail naming the file and the errno (ENOSPC: the disk is full)."""
        self.fail('Cannot %s %s: %s; %s' % (action, path, _os_error(exc), hint), **extra)

    def config_get(self, client, name, required=True):
        try:
            value = client.config_get(name).get(name)
        except Exception as exc:
            if not required:
                return None
            self.fail('Cannot read %s with CONFIG GET on %s: %s (set data_dir and dbfilename, or grant +config|get)'
                      % (name, self.target, self.err(exc)))
        if value is None and required:
            self.fail('CONFIG GET %s returned nothing on %s (renamed command?); set data_dir and dbfilename'
                      % (name, self.target))
        return value

    def data_location(self, client):
        data_dir = self.params['data_dir'] or self.config_get(client, 'dir')
        dbfilename = self.params['dbfilename'] or self.config_get(client, 'dbfilename')
        if os.sep in dbfilename:
            self.fail('dbfilename %r contains a path separator' % dbfilename)
        return data_dir, dbfilename

    def compression_tools(self, compression):
        """Fail early if zstd is asked for and unavailable; returns the zstd binary or None."""
        if compression != 'zstd' or HAS_ZSTANDARD:
            return None
        binary = self.module.get_bin_path('zstd')
        if not binary:
            self.fail('compression=zstd needs the zstandard Python module or the zstd program on this host; neither '
                      'was found (install zstd, or use compression=gzip)')
        return binary

    def check_rdb_bin(self, engine):
        if self.params['check_rdb_bin']:
            path = self.params['check_rdb_bin']
            if not os.access(path, os.X_OK):
                self.fail('check_rdb_bin %s is not an executable file' % path)
            return path
        names = ['valkey-check-rdb', 'redis-check-rdb'] if engine == 'valkey' else ['redis-check-rdb', 'valkey-check-rdb']
        for name in names:
            path = self.module.get_bin_path(name, opt_dirs=_SBIN)
            if path:
                return path
        self.fail('verify=true needs %s on this host (package redis-tools or valkey-tools); set check_rdb_bin, '
                  'or verify=false' % names[0])

    def run_check(self, binary, rdb_path):
        """Counts from the checker, or None and the error text."""
        rc, out, err = self.module.run_command([binary, rdb_path])
        text = (out or '') + (err or '')
        counts = bk.parse_check_rdb(text)
        if rc != 0 or not counts['ok']:
            return None, bk.check_rdb_error(text)
        return counts, None

    def compress(self, compression, src, dst, zstd_bin):
        if compression == 'gzip':
            bk.gzip_file(src, dst)
        elif compression == 'zstd':
            if HAS_ZSTANDARD:
                with open(src, 'rb') as inp:
                    with open(dst, 'wb') as out:
                        zstandard.ZstdCompressor(level=3).copy_stream(inp, out)
            else:
                rc, out, err = self.module.run_command([zstd_bin, '-q', '-f', '-3', '-o', dst, src])
                if rc != 0:
                    text = (err or out).strip()
                    if 'no space left' in text.lower():
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
                    raise bk.BackupError('zstd failed writing %s (rc=%s): %s' % (dst, rc, text))

    def decompress(self, compression, src, dst, zstd_bin):
        if compression == 'gzip':
            bk.gunzip_file(src, dst)
        elif compression == 'zstd':
            if HAS_ZSTANDARD:
                try:
                    with open(src, 'rb') as inp:
                        with open(dst, 'wb') as out:
                            zstandard.ZstdDecompressor().copy_stream(inp, out)
                except zstandard.ZstdError as exc:
                    raise bk.BackupError('cannot decompress %s: %s' % (src, exc))
            else:
                rc, out, err = self.module.run_command([zstd_bin, '-d', '-q', '-f', '-o', dst, src])
                if rc != 0:
                    raise bk.BackupError('cannot decompress %s: zstd rc=%s: %s' % (src, rc, (err or out).strip()))
        else:
            with open(src, 'rb') as inp:
                bk.copy_stream(inp, dst)

    def file_mode(self, default):
        mode = self.params['mode']
        if mode is None:
            return default
        if isinstance(mode, int):
            return mode
        try:
            return int(str(mode), 8)
        except ValueError:
            self.fail('mode must be an octal number such as "0600", not %r' % (mode,))

    def set_owner(self, path, owner, group):
        if owner is not None:
            self.module.set_owner_if_different(path, owner, False)
        if group is not None:
            self.module.set_group_if_different(path, group, False)


# -- state: present ---------------------------------------------------------------

def _bgsave(b, client):
    """Start a BGSAVE of our own and wait for it (_backup.own_bgsave); returns INFO replication read just before."""
    try:
        return bk.own_bgsave(lambda section: b.info(client, section), client.bgsave, b.params['timeout'], b.target)[0]
    except bk.BackupError as exc:
        b.fail(str(exc))
    except bk.StartSaveError as exc:
        fail(b.module, 'start BGSAVE', exc.cause, result=dict(duration=round(time.monotonic() - b.started, 3)))


def _sync_rdb(b, client, path):
    """Stream the RDB with PSYNC ? -1 on a connection of its own (authenticated like the others)."""
    conn = client.connection_pool.make_connection()
    try:
        conn.connect()
        # announce diskless support, as redis-cli --rdb does: the node then need not write an RDB to its disk
        conn.send_command('REPLCONF', 'capa', 'eof', 'capa', 'psync2')
        conn.read_response()
        conn.send_command('PSYNC', '?', '-1')
        sock = conn._sock  # the reply is read raw: it is not RESP after the first line
        sock.settimeout(b.params['timeout'])
        out = _Sink(path)
        try:
            size, replid, offset = bk.read_sync_payload(sock.recv, out)
        finally:
            out.close()
        return size, replid, offset
    except _WriteFailed as exc:
        b.disk_fail('write the RDB streamed from %s to' % b.target, path, exc)
    except bk.BackupError as exc:
        b.fail('Cannot stream the RDB from %s: %s' % (b.target, to_native(exc)))
    except Exception as exc:
        fail(b.module, 'stream the RDB (PSYNC)', exc, result=dict(duration=round(time.monotonic() - b.started, 3)))
    finally:
        try:
            conn.disconnect()
        except Exception:
            pass


def _made_here(path, prefix, node_name):
    """Whether the manifest beside ``path`` says that it is a backup of this node
    with this prefix. Names alone are ambiguous (prefix ``redis`` of node ``a-1``
    and prefix ``redis-a`` of node ``1`` give the same names); a file without a
    readable manifest is never removed."""
    try:
        with open(path + bk.MANIFEST_SUFFIX) as handle:
            manifest = json.load(handle)
    except (IOError, OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get('file') != os.path.basename(path):
        return False
    if bk.safe_component(manifest.get('node_name', '')) != bk.safe_component(node_name):
        return False
    return 'prefix' not in manifest or bk.safe_component(manifest['prefix']) == bk.safe_component(prefix)


def take_backup(b):
    module, params = b.module, b.params
    dest = params['dest']
    if not os.path.isdir(dest):
        b.fail('dest %s is not a directory (create it first, with the right owner and mode)' % dest)
    compression = params['compression']
    zstd_bin = b.compression_tools(compression)
    try:
        max_age = bk.parse_duration(params['max_age'])
    except ValueError as exc:
        b.fail('max_age: %s' % to_native(exc))
    if params['keep'] is not None and params['keep'] < 1:
        b.fail('keep must be at least 1 (the backup just made is always kept)')
    mode = b.file_mode(0o600)
    if params['dest_file'] and (os.sep in params['dest_file'] or params['dest_file'].startswith('.')):
        b.fail('dest_file must be a plain file name (no %s, not hidden)' % os.sep)

    client = connect(module)
    server = b.info(client, 'server')
    engine, version = bk.server_identity(server)
    checker = b.check_rdb_bin(engine) if params['verify'] else None
    sync = params['method'] == 'sync'
    data_dir, dbfilename = (None, None) if sync else b.data_location(client)
    hostname = socket.gethostname().split('.')[0]
    node_name = params['node_name'] or '%s-%s' % (hostname, server.get('tcp_port', params['login_port']))
    now = bk.utcnow()
    name = params['dest_file'] or bk.backup_name(params['prefix'], node_name, now, compression)
    path = os.path.join(dest, name)
    if os.path.exists(path):
        b.fail('%s already exists; refusing to overwrite a backup' % path)

    def plan_removal():
        entries = []
        for entry in os.listdir(dest):
            when = bk.parse_backup_name(params['prefix'], node_name, entry)
            if when is not None and entry != name and _made_here(os.path.join(dest, entry), params['prefix'], node_name):
                entries.append((entry, when))
        entries.append((name, now))
        if params['keep'] is None and max_age is None:
            return []
        return bk.plan_retention(entries, now, params['keep'], max_age, protect=[name])

    result = dict(changed=True, path=path, size=0, sha256='', keys=0, manifest={}, removed=[], verified=False)
    if module.check_mode:
        result['removed'] = [os.path.join(dest, n) for n in plan_removal()]
        result['duration'] = round(time.monotonic() - b.started, 3)
        module.exit_json(**result)

    replication = b.info(client, 'replication')
    if params['trigger_save'] and not sync:
        replication = _bgsave(b, client)
    persistence = b.info(client, 'persistence')
    keyspace = b.info(client, 'keyspace')
    rdb_file = 'PSYNC from %s' % b.target if sync else os.path.join(data_dir, dbfilename)
    try:
        raw_tmp = bk.temp_file_in(dest, name + '.rdb')
    except (IOError, OSError) as exc:
        b.fail('Cannot create a file in dest %s: %s' % (dest, to_native(exc)))
    final_tmp = None
    try:
        if sync:
            rdb_size, replid, offset = _sync_rdb(b, client, raw_tmp)
            replication = dict(replication, master_replid=replid, master_repl_offset=offset)
        else:
            try:
                with open(rdb_file, 'rb') as handle:
                    rdb_size = _copy_to(handle, raw_tmp)
            except _WriteFailed as exc:
                b.disk_fail('copy %s to' % rdb_file, raw_tmp, exc)
            except (IOError, OSError) as exc:
                b.fail('Cannot read the RDB file %s: %s (run the module on the node\'s host as a user that can '
                       'read its dir, or use method=sync)' % (rdb_file, _os_error(exc)))
        if not bk.is_rdb(raw_tmp):
            b.fail('%s is not an RDB file (it does not start with REDIS)' % rdb_file)
        counts = None
        if checker:
            counts, error = b.run_check(checker, raw_tmp)
            if counts is None:
                b.fail('The RDB copied from %s failed %s: %s; no backup was kept'
                       % (rdb_file, os.path.basename(checker), error))
        if compression == 'none':
            final_tmp, raw_tmp = raw_tmp, None
        else:
            try:
                final_tmp = bk.temp_file_in(dest, name)
                b.compress(compression, raw_tmp, final_tmp, zstd_bin)
            except bk.BackupError as exc:
                b.fail('Cannot compress the backup: %s' % to_native(exc))
            except (IOError, OSError) as exc:
                b.disk_fail('write the compressed backup (%s) to' % compression, final_tmp or dest, exc)
            bk.remove_quietly(raw_tmp)  # free its space before the manifest is written
            raw_tmp = None
        os.chmod(final_tmp, mode)
        b.set_owner(final_tmp, params['owner'], params['group'])
        manifest = bk.describe_backup(
            final_tmp, counts, checker, keyspace, replication,
            file=name, time=bk.iso_utc(now), node=b.target, node_name=node_name, hostname=socket.gethostname(),
            role=replication.get('role'), engine=engine, version=version,
            redis_version=server.get('redis_version'), compression=compression, rdb_size=rdb_size,
            rdb_saved_at=int(persistence.get('rdb_last_save_time', 0)), method=params['method'],
            bgsave=bool(params['trigger_save']) and not sync, prefix=params['prefix'])
        size, digest, keys = manifest['size'], manifest['sha256'], manifest['keys']
        manifest_tmp = None
        published = None
        try:
            manifest_tmp = bk.temp_file_in(dest, name + bk.MANIFEST_SUFFIX, mode)
            sink = _Sink(manifest_tmp)
            try:
                sink.write(to_bytes(json.dumps(manifest, indent=2, sort_keys=True) + '\n'))
            finally:
                sink.close()
            b.set_owner(manifest_tmp, params['owner'], params['group'])
            bk.publish(final_tmp, path)
            final_tmp, published = None, path
            bk.publish(manifest_tmp, path + bk.MANIFEST_SUFFIX)
        except (_WriteFailed, IOError, OSError) as exc:
            # A backup without its manifest is not a backup: nothing is left behind.
            for leftover in (manifest_tmp, published):
                if leftover:
                    bk.remove_quietly(leftover)
            b.disk_fail('write the manifest', path + bk.MANIFEST_SUFFIX, exc)
    finally:
        for tmp in (raw_tmp, final_tmp):
            if tmp:
                bk.remove_quietly(tmp)

    removed = []
    for old in plan_removal():
        for victim in (os.path.join(dest, old), os.path.join(dest, old + bk.MANIFEST_SUFFIX)):
            try:
                os.unlink(victim)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    b.fail('Backup %s written, but retention cannot remove %s: %s' % (path, victim, to_native(exc)),
                           path=path, manifest=manifest, removed=removed)
        removed.append(os.path.join(dest, old))
    if removed:
        bk.fsync_path(dest)
    result.update(size=size, sha256=digest, keys=keys, manifest=manifest, removed=removed,
                  verified=counts is not None, duration=round(time.monotonic() - b.started, 3))
    module.exit_json(**result)


# -- state: restored --------------------------------------------------------------

def _pid_gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[-1].split()
        return bool(fields) and fields[0] in ('Z', 'X')  # a zombie has exited already
    except (IOError, OSError):
        pass
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.ESRCH
    return False


def _run_control(b, action):
    params = b.params
    if params['service']:
        argv = ['systemctl', action, params['service']]
        systemctl = b.module.get_bin_path('systemctl', opt_dirs=_SBIN)
        if systemctl:
            argv[0] = systemctl
    else:
        argv = params['%s_command' % action]
    rc, out, err = b.module.run_command(argv)
    if rc != 0:
        return '%s exited with %s: %s' % (' '.join(argv[:2]), rc, ((err or '') + (out or '')).strip()[-500:])
    return None


def _stop(b, pid):
    error = _run_control(b, 'stop')
    if error:
        return error
    deadline = time.monotonic() + b.params['timeout']
    while not _pid_gone(pid):
        if time.monotonic() > deadline:
            return 'the server process %d still runs %ss after the stop command' % (pid, b.params['timeout'])
        time.sleep(0.05)
    return None


def _wait_loaded(b):
    """(client, INFO) once the restarted server answers and has loaded, or (None, error)."""
    deadline = time.monotonic() + b.params['timeout']
    last = 'no answer'
    while time.monotonic() < deadline:
        try:
            client = redis.Redis(**_client_kwargs(b.module))
            info = client.info()
            if int(info.get('loading', 0)) == 0 and int(info.get('async_loading', 0)) == 0:
                client.ping()
                return client, info
            last = 'still loading'
        except Exception as exc:
            last = b.err(exc)
        time.sleep(0.1)
    return None, 'the server did not answer with loading:0 within %ss (%s)' % (b.params['timeout'], last)


def _running_pid(b):
    """process_id of the server if it answers now, else None."""
    try:
        kwargs = _client_kwargs(b.module)
        kwargs['socket_connect_timeout'] = kwargs['socket_timeout'] = 2
        client = redis.Redis(**kwargs)
        return int(client.info('server')['process_id'])
    except Exception:
        return None


def _start_and_wait(b):
    error = _run_control(b, 'start')
    if error:
        return None, None, error
    client, info = _wait_loaded(b)
    if client is None:
        return None, None, info
    return client, info, None


def _copy_meta(path, mode, uid, gid):
    os.chmod(path, mode)
    if uid is not None and (os.geteuid() == 0 or uid == os.geteuid()):
        os.chown(path, uid, gid)


def restore_backup(b):
    module, params = b.module, b.params
    src = params['src']
    manifest_path = src + bk.MANIFEST_SUFFIX
    if not os.path.isfile(src):
        b.fail('src %s does not exist or is not a file' % src)
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except (IOError, OSError) as exc:
        b.fail('Refusing to restore %s; nothing was changed: cannot read its manifest %s (%s)'
               % (src, manifest_path, to_native(exc)))
    except ValueError as exc:
        b.fail('Refusing to restore %s; nothing was changed: its manifest %s is not valid JSON (%s)'
               % (src, manifest_path, to_native(exc)))
    size = os.path.getsize(src)
    digest = bk.sha256_file(src)
    problems = bk.check_manifest(manifest, size, digest, file_name=os.path.basename(src))
    if problems:
        b.fail('Refusing to restore %s; nothing was changed: %s' % (src, '; '.join(problems)), path=src)
    compression = manifest['compression']
    detected = bk.detect_compression(src)
    if detected != compression:
        b.fail('Refusing to restore %s; nothing was changed: the manifest says %s but the file looks like %s'
               % (src, compression, detected or 'neither gzip, zstd nor an RDB'), path=src)
    zstd_bin = b.compression_tools(compression)

    client = connect(module)
    server = b.info(client, 'server')
    engine, version = bk.server_identity(server)
    problems = bk.check_manifest(manifest, engine=engine, version=version)
    if problems:
        b.fail('Refusing to restore %s onto %s; nothing was changed: %s' % (src, b.target, '; '.join(problems)),
               path=src)
    replication = b.info(client, 'replication')
    role = replication.get('role')
    replicas = int(replication.get('connected_slaves', 0))
    if not params['force'] and (role != 'master' or replicas):
        what = 'a replica (role:%s)' % role if role != 'master' else 'a master with %d connected replica(s)' % replicas
        b.fail('Refusing to restore onto %s: it is %s. Restore one node at a time on a master without replicas '
               '(a Sentinel-managed group is restored by the restore playbook: master first, replicas resync), '
               'or set force=true' % (b.target, what), path=src)
    checker = b.check_rdb_bin(engine) if params['verify'] else None
    data_dir, dbfilename = b.data_location(client)
    persistence = b.info(client, 'persistence')
    aof_on = int(persistence.get('aof_enabled', 0)) == 1
    appenddirname = appendfilename = None
    if aof_on:
        appendfilename = b.config_get(client, 'appendfilename', required=not params['data_dir']) or 'appendonly.aof'
        appenddirname = b.config_get(client, 'appenddirname', required=False)
        if appenddirname is None and bk.engine_major(version) is not None and bk.engine_major(version) >= 7:
            appenddirname = 'appendonlydir'
    pid = int(server['process_id'])

    # -- unpack and check the RDB before anything changes ---------------------------------
    work_dir = module.tmpdir if module.check_mode else data_dir
    try:
        rdb_tmp = bk.temp_file_in(work_dir, dbfilename + '.restore')
    except (IOError, OSError) as exc:
        b.fail('Refusing to restore; nothing was changed: cannot create a file in %s: %s (run the module on the '
               'node\'s host as a user that can write its data directory)' % (work_dir, to_native(exc)))
    aof_tmp = None
    placed = []
    aside = []
    try:
        try:
            b.decompress(compression, src, rdb_tmp, zstd_bin)
        except (bk.BackupError, IOError, OSError) as exc:
            b.fail('Refusing to restore %s; nothing was changed: %s' % (src, to_native(exc)), path=src)
        rdb_size = os.path.getsize(rdb_tmp)
        if not bk.is_rdb(rdb_tmp) or rdb_size != manifest['rdb_size']:
            b.fail('Refusing to restore %s; nothing was changed: the unpacked RDB has %d bytes (manifest: %s) or '
                   'lacks the REDIS header' % (src, rdb_size, manifest['rdb_size']), path=src)
        counts = None
        if checker:
            counts, error = b.run_check(checker, rdb_tmp)
            if counts is None:
                b.fail('Refusing to restore %s; nothing was changed: %s failed: %s'
                       % (src, os.path.basename(checker), error), path=src)
        want_keys = counts['keys'] if counts and counts['keys'] is not None else int(manifest['keys'])
        want_expires = counts['expires'] if counts and counts['expires'] is not None else int(manifest.get('expires') or 0)
        result = dict(changed=True, path=src, size=size, sha256=digest, manifest=manifest, removed=[],
                      verified=counts is not None, aof_rebuilt=aof_on, previous=[], keys=want_keys)
        if module.check_mode:
            result['duration'] = round(time.monotonic() - b.started, 3)
            module.exit_json(**result)

        # ownership and mode of what we write: like the file we replace, else the dir's owner, 0600
        rdb_file = os.path.join(data_dir, dbfilename)
        ref = rdb_file if os.path.exists(rdb_file) else None
        st = os.stat(ref) if ref else os.stat(data_dir)
        mode = b.file_mode((st.st_mode & 0o7777) if ref else 0o600)
        uid, gid = st.st_uid, st.st_gid
        _copy_meta(rdb_tmp, mode, uid, gid)
        b.set_owner(rdb_tmp, params['owner'], params['group'])
        if aof_on:
            aof_tmp = _prepare_aof(b, data_dir, appenddirname, appendfilename, rdb_tmp, mode, uid, gid)

        # -- stop, swap, start ----------------------------------------------------
        try:
            client.close()
        except Exception:
            pass
        error = _stop(b, pid)
        if error:
            b.fail('Cannot stop %s for the restore: %s; nothing was changed (check the service!)' % (b.target, error))
        b.actions.append('stopped the server (pid %d)' % pid)
        stamp = bk.format_timestamp(bk.utcnow())
        targets = [rdb_file]
        aof_target = None
        if aof_on:
            aof_target = os.path.join(data_dir, appenddirname or appendfilename)
            targets.append(aof_target)
        try:
            for target in targets:
                if os.path.lexists(target):
                    os.rename(target, '%s.pre-restore-%s' % (target, stamp))
                    aside.append(target)
                    b.actions.append('moved %s aside to %s.pre-restore-%s' % (target, target, stamp))
            bk.publish(rdb_tmp, rdb_file)
            rdb_tmp = None
            placed.append(rdb_file)
            b.actions.append('placed the restored RDB at %s' % rdb_file)
            if aof_tmp:
                os.rename(aof_tmp, aof_target)
                aof_tmp = None
                placed.append(aof_target)
                b.actions.append('placed the rebuilt AOF at %s' % aof_target)
                bk.fsync_path(data_dir)
        except (IOError, OSError) as exc:
            _rollback(b, placed, aside, stamp, 'Cannot put the restored files in place: %s' % to_native(exc))
        client, info, error = _start_and_wait(b)
        if error:
            _rollback(b, placed, aside, stamp, 'the server did not come back after the restore: %s' % error,
                      stop_first=True)
        b.actions.append('started the server (pid %s)' % info.get('process_id'))
        keys = bk.keyspace_counts(b.info(client, 'keyspace'))[0]
        if not (want_keys - want_expires <= keys <= want_keys):
            _rollback(b, placed, aside, stamp, 'the server loaded %d keys, the backup holds %d (%d with a TTL)'
                      % (keys, want_keys, want_expires), stop_first=True, pid=int(info['process_id']))
        previous = ['%s.pre-restore-%s' % (t, stamp) for t in aside]
        if not params['keep_previous']:
            for old in previous:
                bk.remove_quietly(old)
        result.update(keys=keys, previous=previous, duration=round(time.monotonic() - b.started, 3))
        module.exit_json(**result)
    finally:
        for tmp in (rdb_tmp, aof_tmp):
            if tmp:
                bk.remove_quietly(tmp)


def _prepare_aof(b, data_dir, appenddirname, appendfilename, rdb_tmp, mode, uid, gid):
    """A temp copy of what the AOF must become: a directory whose manifest names the
    restored RDB as its base part (Redis 7), or the RDB as the AOF file (RDB preamble)."""
    try:
        if appenddirname:
            existing = os.path.join(data_dir, appenddirname)
            st = os.stat(existing) if os.path.isdir(existing) else os.stat(data_dir)
            dst = tempfile.mkdtemp(prefix='.%s.restore.' % appenddirname, suffix='.tmp', dir=data_dir)
            _copy_meta(dst, (st.st_mode & 0o7777) if os.path.isdir(existing) else 0o750, st.st_uid, st.st_gid)
            base = os.path.join(dst, '%s.1.base.rdb' % appendfilename)
            manifest = os.path.join(dst, '%s.manifest' % appendfilename)
            with open(rdb_tmp, 'rb') as inp:
                bk.copy_stream(inp, base)
            with open(manifest, 'w') as out:
                out.write(bk.aof_manifest_text(appendfilename))
                out.flush()
                os.fsync(out.fileno())
            for path in (base, manifest):
                _copy_meta(path, mode, uid, gid)
                b.set_owner(path, b.params['owner'], b.params['group'])
            bk.fsync_path(dst)
            return dst
        dst = bk.temp_file_in(data_dir, appendfilename + '.restore')
        with open(rdb_tmp, 'rb') as inp:
            bk.copy_stream(inp, dst)
        _copy_meta(dst, mode, uid, gid)
        b.set_owner(dst, b.params['owner'], b.params['group'])
        return dst
    except (bk.BackupError, IOError, OSError) as exc:
        b.fail('Cannot prepare the AOF for the restore; nothing was changed: %s' % to_native(exc))


def _rollback(b, placed, aside, stamp, reason, stop_first=False, pid=None):
    """Put the previous files back and start the service; always fails the module,
    reporting each step taken (``actions``) and whether the rollback completed."""
    notes = []
    b.actions.append('rolling back: %s' % reason)
    if stop_first:
        pid = pid or _running_pid(b)
        error = None
        if pid is not None:
            error = _stop(b, pid)
            if not error:
                b.actions.append('stopped the server (pid %d)' % pid)
        elif b.params['service']:
            error = _run_control(b, 'stop')  # a failed unit: harmless, resets it
        if error:
            notes.append('stop during rollback: %s' % error)
    for path in placed:
        bk.remove_quietly(path)
        if os.path.lexists(path):
            notes.append('cannot remove the restored %s' % path)
        else:
            b.actions.append('removed the restored %s' % path)
    for target in aside:
        try:
            os.rename('%s.pre-restore-%s' % (target, stamp), target)
            b.actions.append('moved %s back' % target)
        except OSError as exc:
            notes.append('cannot move %s back: %s' % (target, _os_error(exc)))
    client, info, error = _start_and_wait(b)
    if error:
        notes.append('start after rollback: %s' % error)
    else:
        b.actions.append('started the server again (pid %s)' % info.get('process_id'))
    status = 'rolled back: the previous data files were put back and the server started again' if not notes else \
        'ROLLBACK INCOMPLETE: ' + '; '.join(notes)
    # changed: the server was stopped and started, even when its data is as before.
    b.fail('Restore of %s onto %s failed: %s; %s' % (b.params['src'], b.target, reason, status),
           changed=True, rolled_back=not notes, actions=list(b.actions), path=b.params['src'])


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'restored']),
        dest=dict(type='path'),
        dest_file=dict(type='str'),
        prefix=dict(type='str', default='redis'),
        node_name=dict(type='str'),
        compression=dict(type='str', default='gzip', choices=['gzip', 'zstd', 'none']),
        mode=dict(type='raw'),
        owner=dict(type='str'),
        group=dict(type='str'),
        verify=dict(type='bool', default=True),
        check_rdb_bin=dict(type='path'),
        method=dict(type='str', default='bgsave', choices=['bgsave', 'sync']),
        trigger_save=dict(type='bool', default=True),
        data_dir=dict(type='path'),
        dbfilename=dict(type='str'),
        timeout=dict(type='int', default=600),
        keep=dict(type='int'),
        max_age=dict(type='str'),
        src=dict(type='path'),
        service=dict(type='str'),
        stop_command=dict(type='list', elements='str'),
        start_command=dict(type='list', elements='str'),
        force=dict(type='bool', default=False),
        keep_previous=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[
            ('state', 'present', ('dest',)),
            ('state', 'restored', ('src',)),
            ('state', 'restored', ('service', 'start_command'), True),
        ],
        required_together=[('stop_command', 'start_command')],
        mutually_exclusive=[('service', 'stop_command'), ('service', 'start_command')],
    )
    b = Backup(module)
    if module.params['state'] == 'present':
        take_backup(b)
    else:
        restore_backup(b)


if __name__ == '__main__':
    main()
