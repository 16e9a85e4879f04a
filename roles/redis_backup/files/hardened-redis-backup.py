# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side backup runner of the hardened.redis.redis_backup role (no Ansible needed).

    hardened-redis-backup.py /etc/hardened-redis-backup/<instance>.json

Run by <engine>-backup-<instance>.service (a systemd timer starts it). It takes
the same backup as the hardened.redis.redis_backup module (O(method=bgsave)):
BGSAVE and wait for *that* save, copy the RDB from the data directory, check it
with redis-check-rdb, compress, sha256, write the same JSON manifest beside it
(so that redis_backup state=restored and playbooks/restore.yml accept it),
publish atomically, then prune by keep / max_age and optionally copy to a
second directory. The file helpers, the names, the manifest and the retention
planner are the module's own (_backup.py, shipped beside this file by the role).

The password is read from the config file (root only, 0600), never from argv
or the environment of another process, and never printed. Any failure exits
non-zero, so the unit is marked failed in the journal.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _backup as bk  # noqa: E402  (shipped beside this file by the role)

try:
    import redis
except ImportError:  # pragma: no cover
    redis = None


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def info(client, section):
    try:
        return client.info(section)
    except redis.RedisError as exc:
        raise Failure('cannot read INFO %s: %s' % (section, exc))


def bgsave(client, timeout):
    """Start a BGSAVE of our own and wait until it (not an older save) finished: the module's own wait."""
    try:
        return bk.own_bgsave(lambda section: info(client, section), client.bgsave, timeout, 'this node')
    except bk.BackupError as exc:
        raise Failure(str(exc))
    except bk.StartSaveError as exc:
        raise Failure('cannot start BGSAVE: %s' % exc.cause)


def check_rdb(checker, path):
    proc = subprocess.run([checker, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    counts = bk.parse_check_rdb(proc.stdout)
    if proc.returncode != 0 or not counts['ok']:
        raise Failure('%s refused the RDB: %s' % (os.path.basename(checker), bk.check_rdb_error(proc.stdout)))
    return counts


def compress(compression, src, dst):
    if compression == 'gzip':
        bk.gzip_file(src, dst)
    elif compression == 'zstd':
        zstd = shutil.which('zstd')
        if not zstd:
            raise Failure('compression zstd: the zstd program is not installed')
        with open(dst, 'wb') as out:
            proc = subprocess.run([zstd, '-q', '-c', src], stdout=out, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise Failure('zstd failed (rc=%s): %s' % (proc.returncode, proc.stderr.decode(errors='replace').strip()))


def prune(directory, prefix, node_name, now, keep, max_age, protect):
    entries = []
    for entry in os.listdir(directory):
        when = bk.parse_backup_name(prefix, node_name, entry)
        if when is not None:
            entries.append((entry, when))
    if keep is None and max_age is None:
        return []
    removed = []
    for old in bk.plan_retention(entries, now, keep, max_age, protect=[protect]):
        for victim in (old, old + bk.MANIFEST_SUFFIX):
            try:
                os.unlink(os.path.join(directory, victim))
            except FileNotFoundError:
                pass
        removed.append(os.path.join(directory, old))
    if removed:
        bk.fsync_path(directory)
    return removed


def copy_atomic(src, directory, name):
    tmp = bk.temp_file_in(directory, name)
    try:
        with open(src, 'rb') as handle:
            bk.copy_stream(handle, tmp)
        os.chmod(tmp, 0o600)
        bk.publish(tmp, os.path.join(directory, name))
    finally:
        bk.remove_quietly(tmp)


def run(cfg):
    started = time.monotonic()
    if redis is None:
        raise Failure('python3-redis is not installed')
    dest = cfg['dest']
    if not os.path.isdir(dest):
        raise Failure('dest %s is not a directory' % dest)
    keep = cfg.get('keep') or None
    max_age = bk.parse_duration(cfg.get('max_age') or None)
    client = redis.Redis(unix_socket_path=cfg['socket'], username=cfg['user'], password=cfg['password'],
                         socket_timeout=30, socket_connect_timeout=10, decode_responses=True)
    server = info(client, 'server')
    engine, version = bk.server_identity(server)
    replication = info(client, 'replication')
    role = replication.get('role')
    if role == 'master':
        policy = cfg.get('on_master', 'fail')
        if policy == 'skip':
            log('This node is currently the master: backup skipped (on_master=skip).')
            return 0
        if policy == 'fail':
            raise Failure('this node is currently the master; refusing to fork it for a backup '
                          '(re-run the hardened.redis.redis_backup role to move the timer to a replica, '
                          'or set redis_backup_on_master)')
    elif role == 'slave' and replication.get('master_link_status') != 'up':
        raise Failure('this replica is not in sync with its master (master_link_status:%s); '
                      'its data may be stale' % replication.get('master_link_status'))
    checker = None
    if cfg.get('verify', True):
        checker = shutil.which('%s-check-rdb' % engine) or shutil.which('redis-check-rdb')
        if not checker:
            raise Failure('%s-check-rdb not found (install the engine tools package)' % engine)
    compression = cfg.get('compression', 'gzip')
    node_name = cfg.get('node_name') or '%s-%s' % (socket.gethostname().split('.')[0], server.get('tcp_port'))
    prefix = cfg.get('prefix', 'redis')
    now = bk.utcnow()
    name = bk.backup_name(prefix, node_name, now, compression)
    path = os.path.join(dest, name)

    replication, pers = bgsave(client, int(cfg.get('timeout', 3600)))
    keyspace = info(client, 'keyspace')
    rdb_file = os.path.join(cfg['data_dir'], cfg['dbfilename'])
    raw_tmp = bk.temp_file_in(dest, name + '.rdb')
    final_tmp = manifest_tmp = None
    try:
        with open(rdb_file, 'rb') as handle:
            rdb_size = bk.copy_stream(handle, raw_tmp)
        if not bk.is_rdb(raw_tmp):
            raise Failure('%s is not an RDB file' % rdb_file)
        counts = check_rdb(checker, raw_tmp) if checker else None
        if compression == 'none':
            final_tmp, raw_tmp = raw_tmp, None
        else:
            final_tmp = bk.temp_file_in(dest, name)
            compress(compression, raw_tmp, final_tmp)
        os.chmod(final_tmp, 0o600)
        manifest = bk.describe_backup(
            final_tmp, counts, checker, keyspace, replication,
            file=name, time=bk.iso_utc(now), node='unix:%s' % cfg['socket'], node_name=node_name,
            hostname=socket.gethostname(), role=role, engine=engine, version=version,
            redis_version=server.get('redis_version'), compression=compression, rdb_size=rdb_size,
            rdb_saved_at=int(pers.get('rdb_last_save_time', 0)), method='bgsave', bgsave=True,
            runner='hardened.redis.redis_backup role')
        size, digest, keys, expires = manifest['size'], manifest['sha256'], manifest['keys'], manifest['expires']
        manifest_tmp = bk.temp_file_in(dest, name + bk.MANIFEST_SUFFIX)
        with open(manifest_tmp, 'w') as out:
            json.dump(manifest, out, indent=2, sort_keys=True)
            out.write('\n')
        bk.publish(final_tmp, path)
        final_tmp = None
        bk.publish(manifest_tmp, path + bk.MANIFEST_SUFFIX)
        manifest_tmp = None
    finally:
        for tmp in (raw_tmp, final_tmp, manifest_tmp):
            if tmp:
                bk.remove_quietly(tmp)
    log('Backup %s written: %d bytes, %d keys (%d with a TTL), sha256 %s, verified=%s, role=%s'
        % (path, size, keys, expires, digest, counts is not None, role))
    removed = prune(dest, prefix, node_name, now, keep, max_age, name)
    copy_to = cfg.get('copy_to')
    if copy_to:
        if not os.path.isdir(copy_to):
            raise Failure('backup %s written, but copy_to %s is not a directory (not mounted?)' % (path, copy_to))
        copy_atomic(path, copy_to, name)
        copy_atomic(path + bk.MANIFEST_SUFFIX, copy_to, name + bk.MANIFEST_SUFFIX)
        if bk.sha256_file(os.path.join(copy_to, name)) != digest:
            raise Failure('the copy in %s does not match the backup\'s sha256' % copy_to)
        log('Copied to %s' % copy_to)
        removed += prune(copy_to, prefix, node_name, now, keep, max_age, name)
    for old in removed:
        log('Retention removed %s' % old)
    log('Done in %.1f s' % (time.monotonic() - started))
    return 0


def main(argv):
    if len(argv) != 2:
        print('usage: %s CONFIG.json' % argv[0], file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as handle:
            cfg = json.load(handle)
        return run(cfg)
    except Failure as exc:
        print('Backup FAILED: %s' % exc, file=sys.stderr, flush=True)
    except (bk.BackupError, ValueError, OSError, redis.RedisError) as exc:
        print('Backup FAILED: %s: %s' % (type(exc).__name__, exc), file=sys.stderr, flush=True)
    return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
