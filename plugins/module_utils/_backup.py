# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the redis_backup module: names, retention, manifest,
compression, atomic writes. No Redis client and no AnsibleModule here, so
that all of it can be unit tested.

Public API:

* ``parse_duration(value)``: V(7d), V(12h), V(90m), V(30s), V(3600) -> seconds.
* ``backup_name(prefix, node, when, compression)`` /
  ``parse_backup_name(prefix, node, filename)``: file names
  ``<prefix>-<node>-<YYYYmmddTHHMMSS.mmmZ>.rdb[.gz|.zst]``.
* ``plan_retention(entries, now, keep, max_age, protect)``: names to remove.
* ``build_manifest(...)`` / ``check_manifest(...)``: the JSON beside a backup.
* ``parse_check_rdb(output)``: counts printed by redis-check-rdb.
* ``sha256_file``, ``detect_compression``, ``gzip_file``, ``gunzip_file``.
* ``temp_file_in(directory, name)``, ``fsync_path``, ``publish(tmp, final)``:
  write to a temp file in the target directory, fsync, rename, fsync the directory.
* ``read_sync_payload(recv, out)``: the RDB a server sends after
  ``PSYNC ? -1`` (replica protocol), written to ``out``.
* ``aof_manifest_text(appendfilename)``: a Redis 7 multi-part AOF manifest
  whose only part is an RDB base file.
* ``own_bgsave(read_info, start, timeout, target)``: start a BGSAVE of our
  own and wait until *that* save finished (the module and the role's timer
  runner both call it; the client is theirs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import hashlib
import os
import re
import shutil
import tempfile
import time

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = '.json'
COMPRESSION_SUFFIX = {'gzip': '.gz', 'zstd': '.zst', 'none': ''}
_CHUNK = 1024 * 1024
_TS_FORMAT = '%Y%m%dT%H%M%S'
_TS_RE = r'(\d{8}T\d{6})\.(\d{3})Z'
_DURATION_RE = re.compile(r'^\s*(\d+)\s*([smhdw]?)\s*$', re.IGNORECASE)
_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_SAFE_RE = re.compile(r'[^A-Za-z0-9._-]+')


class BackupError(Exception):
    """A refusal or failure whose text is meant for the user."""


class StartSaveError(Exception):
    """The server refused BGSAVE for a reason other than a save already running; ``cause`` is its error."""

    def __init__(self, cause):
        super(StartSaveError, self).__init__(str(cause))
        self.cause = cause


# -- our own BGSAVE ---------------------------------------------------------------

def _busy(persistence):
    return int(persistence.get('rdb_bgsave_in_progress', 0)) or int(persistence.get('aof_rewrite_in_progress', 0))


def own_bgsave(read_info, start, timeout, target, clock=time.monotonic, sleep=time.sleep, wall=time.time):
    """Start a BGSAVE of our own and wait until it, not an older save, has finished.

    ``read_info(section)`` returns INFO <section> as a dict; ``start()`` sends
    BGSAVE and raises the client's error on a refusal. A save or AOF rewrite
    that is already running is waited for first (the server refuses a second
    one). Returns (INFO replication read just before our BGSAVE, INFO
    persistence once it finished). Raises BackupError on a failed or overdue
    save (the text names ``target``), StartSaveError when BGSAVE is refused
    for another reason."""
    deadline = clock() + timeout
    while True:
        persistence = read_info('persistence')
        if _busy(persistence):
            if clock() > deadline:
                raise BackupError('A save or AOF rewrite on %s was still running after %ss' % (target, timeout))
            sleep(0.1)
            continue
        saves = persistence.get('rdb_saves')
        before_saves = int(saves) if saves is not None else None
        before_lastsave = int(persistence.get('rdb_last_save_time', 0))
        if before_saves is None:
            # Redis < 7 has no rdb_saves and LASTSAVE counts seconds: start in a later second.
            while int(wall()) <= before_lastsave:
                sleep(0.05)
        replication = read_info('replication')
        try:
            start()
        except Exception as exc:
            low = str(exc).lower()
            if 'in progress' in low or "can't bgsave right now" in low:
                continue  # someone else's save or rewrite started meanwhile: wait, then start ours
            raise StartSaveError(exc)
        while True:
            persistence = read_info('persistence')
            if not int(persistence.get('rdb_bgsave_in_progress', 0)):
                saves = persistence.get('rdb_saves')
                newer = (int(saves) > before_saves) if saves is not None and before_saves is not None \
                    else int(persistence.get('rdb_last_save_time', 0)) > before_lastsave
                if newer:
                    if persistence.get('rdb_last_bgsave_status') != 'ok':
                        raise BackupError('BGSAVE on %s failed (rdb_last_bgsave_status:%s); see the server log (disk '
                                          'full? permissions of dir?)' % (target, persistence.get('rdb_last_bgsave_status')))
                    return replication, persistence
            if clock() > deadline:
                raise BackupError('BGSAVE on %s did not finish within %ss' % (target, timeout))
            sleep(0.1)


# -- names and durations ------------------------------------------------------

def parse_duration(value):
    """Seconds from V(7d), V(12h), V(90m), V(30s), V(2w) or a number of seconds.

    Raises ValueError for anything else (including negative or empty values).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError('not a duration: %r' % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError('a duration cannot be negative: %r' % (value,))
        return value
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError('not a duration: %r (use a number of seconds or a number with s, m, h, d or w)' % (value,))
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def safe_component(text):
    """``text`` made safe for a file name component (letters, digits, ``._-``)."""
    cleaned = _SAFE_RE.sub('_', str(text)).strip('._')
    return cleaned or 'redis'


def format_timestamp(when):
    """``YYYYmmddTHHMMSS.mmmZ`` of an aware or naive-UTC datetime."""
    if when.tzinfo is not None:
        when = when.astimezone(_UTC).replace(tzinfo=None)
    return '%s.%03dZ' % (when.strftime(_TS_FORMAT), when.microsecond // 1000)


def backup_name(prefix, node, when, compression):
    """File name of a backup: ``<prefix>-<node>-<timestamp>.rdb[.gz|.zst]``."""
    return '%s-%s-%s.rdb%s' % (safe_component(prefix), safe_component(node), format_timestamp(when),
                               COMPRESSION_SUFFIX[compression])


def parse_backup_name(prefix, node, filename):
    """The UTC datetime (naive) encoded in ``filename`` if it is a backup of
    ``prefix``/``node`` made by this module, else None. Manifests and temp
    files are not backups."""
    pattern = r'^%s-%s-%s\.rdb(\.gz|\.zst)?$' % (re.escape(safe_component(prefix)),
                                                 re.escape(safe_component(node)), _TS_RE)
    match = re.match(pattern, filename)
    if not match:
        return None
    try:
        when = datetime.datetime.strptime(match.group(1), _TS_FORMAT)
    except ValueError:
        return None
    return when.replace(microsecond=int(match.group(2)) * 1000)


class _Utc(datetime.tzinfo):
    def utcoffset(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        return 'UTC'

    def dst(self, dt):
        return datetime.timedelta(0)


_UTC = _Utc()


def utcnow():
    """Naive UTC now (works on every Python the modules support)."""
    return datetime.datetime.now(_UTC).replace(tzinfo=None)


def iso_utc(when):
    """ISO 8601 UTC with a ``Z``, millisecond resolution."""
    return when.strftime('%Y-%m-%dT%H:%M:%S') + '.%03dZ' % (when.microsecond // 1000)


# -- retention ----------------------------------------------------------------

def plan_retention(entries, now, keep=None, max_age=None, protect=()):
    """Names of the backups to remove.

    ``entries``: iterable of ``(name, when)`` (naive UTC datetimes).
    ``keep``: keep at most this many (newest first); None: no count limit.
    ``max_age``: seconds; older backups are removed; None: no age limit.
    ``protect``: names never removed (the backup just made). A protected name
    still counts toward ``keep``.
    Returns the names to remove, oldest first.
    """
    if keep is not None and keep < 1:
        raise ValueError('keep must be at least 1 (the backup just made is always kept)')
    protect = set(protect)
    ordered = sorted(entries, key=lambda e: (e[1], e[0]), reverse=True)
    remove = []
    for index, (name, when) in enumerate(ordered):
        if name in protect:
            continue
        too_many = keep is not None and index >= keep
        too_old = max_age is not None and (now - when).total_seconds() > max_age
        if too_many or too_old:
            remove.append(name)
    return list(reversed(remove))


# -- manifest -----------------------------------------------------------------

def engine_major(version):
    """Major version number of ``7.0.15`` -> 7; None if unknown."""
    match = re.match(r'^\s*(\d+)', str(version or ''))
    return int(match.group(1)) if match else None


def server_identity(info_server):
    """``(engine, version)`` from INFO server: ``valkey`` when ``valkey_version``
    or ``server_name: valkey`` is there, else ``redis``."""
    name = str(info_server.get('server_name') or '').lower()
    if info_server.get('valkey_version') or name == 'valkey':
        return 'valkey', str(info_server.get('valkey_version') or info_server.get('redis_version') or '')
    return name or 'redis', str(info_server.get('redis_version') or '')


def keyspace_counts(info_keyspace):
    """``(keys, expires)`` summed over every database of INFO keyspace."""
    keys = expires = 0
    for name, value in (info_keyspace or {}).items():
        if not str(name).startswith('db'):
            continue
        if isinstance(value, dict):
            keys += int(value.get('keys', 0))
            expires += int(value.get('expires', 0))
        else:  # "keys=1,expires=0,avg_ttl=0"
            fields = dict(part.split('=', 1) for part in str(value).split(',') if '=' in part)
            keys += int(fields.get('keys', 0))
            expires += int(fields.get('expires', 0))
    return keys, expires


def build_manifest(**fields):
    """The manifest dict (format version added); values are kept as given."""
    manifest = dict(format=MANIFEST_FORMAT)
    manifest.update(fields)
    return manifest


def describe_backup(path, counts, checker, keyspace, replication, **fields):
    """The manifest of a finished backup file: its size and sha256, the key
    counts (from redis-check-rdb's ``counts`` when it gave them, else from
    INFO ``keyspace``), the replication position from INFO ``replication``,
    and the caller's other ``fields``."""
    if counts is not None and counts.get('keys') is not None:
        keys, expires, source = counts['keys'], counts['expires'] or 0, os.path.basename(checker)
    else:
        keys, expires = keyspace_counts(keyspace)
        source = 'INFO keyspace'
    offset = replication.get('master_repl_offset')
    return build_manifest(
        size=os.path.getsize(path), sha256=sha256_file(path), keys=keys, expires=expires, keys_source=source,
        master_repl_offset=int(offset) if offset is not None else None,
        master_replid=replication.get('master_replid'), verified=counts is not None, **fields)


_REQUIRED = ('format', 'time', 'node', 'engine', 'version', 'keys', 'size', 'sha256', 'compression', 'rdb_size')


def check_manifest(manifest, file_size=None, file_sha256=None, engine=None, version=None, file_name=None):
    """Problems (a list of strings, empty when all is well) of a backup and its
    manifest: missing fields, unknown format or compression, size or checksum
    that differ, a file name that is not the one the manifest describes, or an
    engine / major version different from the live server's."""
    if not isinstance(manifest, dict):
        return ['the manifest is not a JSON object']
    problems = []
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        problems.append('the manifest lacks %s' % ', '.join(missing))
        return problems
    if manifest['format'] != MANIFEST_FORMAT:
        problems.append('unknown manifest format %r (this module writes %d)' % (manifest['format'], MANIFEST_FORMAT))
    if manifest['compression'] not in COMPRESSION_SUFFIX:
        problems.append('unknown compression %r' % (manifest['compression'],))
    if file_name is not None and manifest.get('file') and manifest['file'] != file_name:
        problems.append('the manifest describes %s, not %s' % (manifest['file'], file_name))
    if file_size is not None and manifest['size'] != file_size:
        problems.append('size is %d bytes, the manifest says %s (truncated or replaced?)' % (file_size, manifest['size']))
    if file_sha256 is not None and str(manifest['sha256']).lower() != file_sha256:
        problems.append('sha256 is %s, the manifest says %s' % (file_sha256, manifest['sha256']))
    if engine is not None and str(manifest['engine']).lower() != str(engine).lower():
        problems.append('the backup was made by %s, the server here is %s' % (manifest['engine'], engine))
    if version is not None:
        have, want = engine_major(manifest['version']), engine_major(version)
        if have is None or want is None or have != want:
            problems.append('the backup was made by %s %s, the server here runs %s (major versions differ)'
                            % (manifest['engine'], manifest['version'], version))
    return problems


def parse_check_rdb(output):
    """``{'keys': n, 'expires': n, 'already_expired': n, 'ok': bool}`` from
    redis-check-rdb / valkey-check-rdb output (counts are None when absent)."""
    result = dict(keys=None, expires=None, already_expired=None, ok='RDB looks OK' in (output or ''))
    for key, pattern in (('keys', r'\[info\]\s+(\d+)\s+keys read'),
                         ('expires', r'\[info\]\s+(\d+)\s+expires'),
                         ('already_expired', r'\[info\]\s+(\d+)\s+already expired')):
        match = re.search(pattern, output or '')
        if match:
            result[key] = int(match.group(1))
    return result


def check_rdb_error(output):
    """The lines that say what redis-check-rdb found wrong (for messages)."""
    lines = [ln.strip() for ln in (output or '').splitlines()]
    picked = [ln for ln in lines if ln.startswith('--- RDB ERROR') or 'ERROR' in ln or ln.startswith('[additional info]')
              or (ln.startswith('[offset') and ('Unexpected' in ln or 'Invalid' in ln or 'Wrong' in ln or 'failed' in ln))]
    return '; '.join(picked[:4]) or (lines[-1] if lines else 'no output')


# -- files --------------------------------------------------------------------

def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def detect_compression(path):
    """``gzip``, ``zstd``, ``none`` (an RDB: starts with ``REDIS``) or None."""
    with open(path, 'rb') as handle:
        head = handle.read(5)
    if head[:2] == b'\x1f\x8b':
        return 'gzip'
    if head[:4] == b'\x28\xb5\x2f\xfd':
        return 'zstd'
    if head[:5] == b'REDIS':
        return 'none'
    return None


def is_rdb(path):
    return detect_compression(path) == 'none'


def temp_file_in(directory, name, mode=0o600):
    """A new empty temp file ``.<name>.<random>.tmp`` in ``directory`` (so the
    final rename stays on one file system), with ``mode``; returns its path."""
    fd, path = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    os.close(fd)
    os.chmod(path, mode)
    return path


def fsync_path(path):
    """fsync a file or a directory (a directory's fsync makes its renames durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp, final):
    """fsync ``tmp``, rename it to ``final`` and fsync the directory: the final
    name never points at a partial file."""
    fsync_path(tmp)
    os.rename(tmp, final)
    fsync_path(os.path.dirname(os.path.abspath(final)))


def remove_quietly(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
    except OSError:
        pass


def copy_stream(src_handle, dst_path):
    """Copy an open binary file to ``dst_path`` (truncated), return bytes copied."""
    total = 0
    with open(dst_path, 'wb') as out:
        for chunk in iter(lambda: src_handle.read(_CHUNK), b''):
            out.write(chunk)
            total += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return total


def gzip_file(src, dst, level=6):
    with open(src, 'rb') as inp:
        with open(dst, 'wb') as raw:
            with gzip.GzipFile(filename='', mode='wb', fileobj=raw, compresslevel=level, mtime=0) as out:
                for chunk in iter(lambda: inp.read(_CHUNK), b''):
                    out.write(chunk)
            raw.flush()
            os.fsync(raw.fileno())


def gunzip_file(src, dst):
    """Decompress; raises BackupError on a damaged or truncated gzip stream."""
    try:
        with gzip.open(src, 'rb') as inp:
            with open(dst, 'wb') as out:
                for chunk in iter(lambda: inp.read(_CHUNK), b''):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
    except (OSError, EOFError, ValueError) as exc:
        raise BackupError('cannot decompress %s: %s' % (src, exc))


def aof_manifest_text(appendfilename):
    """A Redis 7 multi-part AOF manifest with one base part in RDB format,
    ``<appendfilename>.1.base.rdb``; Redis creates the incr part on start."""
    if re.search(r'\s', appendfilename):
        raise BackupError('appendfilename %r contains white space; not supported' % appendfilename)
    return 'file %s.1.base.rdb seq 1 type b\n' % appendfilename


# -- replication stream ----------------------------------------------------------

def _read_line(recv, buf, limit=4096):
    while b'\n' not in buf:
        if len(buf) > limit:
            raise BackupError('the server sent an over-long line instead of a sync reply')
        data = recv(65536)
        if not data:
            raise BackupError('the server closed the connection during the sync handshake')
        buf += data
    line, buf = buf.split(b'\n', 1)
    return line.rstrip(b'\r'), buf


def read_sync_payload(recv, out):
    """Read the reply to ``PSYNC ? -1`` (or ``SYNC``) from ``recv(n)`` and write
    the RDB payload to the binary file ``out``.

    Handles the keep-alive newlines sent while the server prepares the RDB,
    ``+FULLRESYNC <replid> <offset>``, disk-based framing (``$<length>``) and
    diskless framing (``$EOF:<40-byte mark>`` ... mark). Bytes after the payload
    (the replication stream) are ignored. Returns ``(size, replid, offset)``
    (replid/offset None after a plain SYNC). Raises BackupError.
    """
    buf = b''
    replid = offset = None
    while True:
        line, buf = _read_line(recv, buf)
        if not line:
            continue  # keep-alive while the server forks and saves
        if line.startswith(b'+FULLRESYNC'):
            parts = line.split()
            if len(parts) >= 3:
                replid, offset = parts[1].decode('ascii', 'replace'), int(parts[2])
            continue
        if line.startswith(b'-'):
            raise BackupError('the server refused the sync: %s' % line[1:].decode('utf-8', 'replace'))
        if line.startswith(b'$'):
            break
        raise BackupError('unexpected sync reply %r' % line[:80])
    size = 0
    if line.startswith(b'$EOF:'):
        mark = line[5:]
        if len(mark) != 40:
            raise BackupError('bad diskless sync mark')
        pending = buf
        while True:
            index = pending.find(mark)
            if index >= 0:
                out.write(pending[:index])
                return size + index, replid, offset
            keep = len(pending) - len(mark)
            if keep > 0:
                out.write(pending[:keep])
                size += keep
                pending = pending[keep:]
            data = recv(_CHUNK)
            if not data:
                raise BackupError('the connection closed before the end of the RDB (%d bytes read)' % size)
            pending += data
    try:
        length = int(line[1:])
    except ValueError:
        raise BackupError('unexpected sync reply %r' % line[:80])
    if length < 0:
        raise BackupError('the server sent no RDB ($%d)' % length)
    data = buf[:length]
    out.write(data)
    size = len(data)
    while size < length:
        data = recv(min(_CHUNK, length - size))
        if not data:
            raise BackupError('the connection closed after %d of %d bytes of the RDB' % (size, length))
        out.write(data)
        size += len(data)
    return size, replid, offset
