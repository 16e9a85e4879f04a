# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start check of a Sentinel-managed data node (ExecStartPre of the hardened.redis.redis unit).

    hardened-redis-start.py ${CREDENTIALS_DIRECTORY}/start.json

Runs before every start of redis-server (systemd's first start, a restart by
Restart=always after a crash or a kill, a reboot). It asks the group's
Sentinels which node is the master (SENTINEL MASTER <name>) and decides by
the collection's one rule, ``group_verdict`` of module_utils/_sentinel.py
(shipped beside this file by the role):

* a majority of the Sentinels names another node: this node must not come
  back as a master nobody elected. ``replicaof <that master>`` is written into
  the node's config file (what Sentinel itself leaves there when it converts a
  node: REPLICAOF + CONFIG REWRITE), so redis-server starts as its replica;
* they name this node, or there is no agreed master (Sentinels not running
  yet at a first deploy, every node restarted at once, no majority reachable):
  the node starts as its config file says, as it did before this check.

It never stops the start: any error is printed and the node starts as
configured. The JSON file (root only; systemd hands the service a private
copy, LoadCredential=) holds the Sentinels' addresses and the password of
their client user (and, during a password rotation, the one before it, tried
when a Sentinel refuses the first); nothing here prints a password.
"""

from __future__ import absolute_import, division, print_function

import importlib
import importlib.util
import json
import os
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print('hardened-redis-start: %s' % msg, flush=True)


def load_rule(directory=HERE):
    """The collection's rule (module_utils/_sentinel.py), loaded by module_utils/_standalone.py:
    the roles ship both, with _values.py, beside this script."""
    spec = importlib.util.spec_from_file_location('hardened_redis_standalone', os.path.join(directory, '_standalone.py'))
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    return standalone.load_rule(directory)


def ask(sentinel, conf, rule):
    """One Sentinel's answer in the form group_verdict takes."""
    import redis  # python3-redis, installed by the role
    who = '%s:%s' % (sentinel['host'], sentinel['port'])
    answer = {'sentinel': who, 'reachable': False, 'master': None}
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    # No retries (redis-py >= 6 retries a refused login with backoff): one
    # timeout for all the Sentinels, asked in parallel.
    kwargs = dict(host=sentinel['host'], port=int(sentinel['port']), username=conf.get('username') or None,
                  password=conf.get('password') or None, socket_timeout=float(conf.get('timeout', 0.5)),
                  socket_connect_timeout=float(conf.get('timeout', 0.5)), decode_responses=True,
                  retry=Retry(NoBackoff(), 0))
    if sentinel.get('tls'):
        kwargs.update(ssl=True, ssl_ca_certs=conf.get('tls_ca'), ssl_certfile=conf.get('tls_cert'),
                      ssl_keyfile=conf.get('tls_key'))
    client = redis.Redis(**kwargs)
    try:
        try:
            record = rule.pairs(client.execute_command('SENTINEL', 'MASTER', conf['master_name']))
        except redis.AuthenticationError:
            # A password rotation the Sentinels have not seen yet: the one before it.
            if not conf.get('previous_password'):
                raise
            client.close()
            client = redis.Redis(**dict(kwargs, password=conf['previous_password']))
            record = rule.pairs(client.execute_command('SENTINEL', 'MASTER', conf['master_name']))
    except redis.ResponseError as exc:
        # A Sentinel that does not monitor the group (yet) answered.
        answer.update(reachable=True, error=str(exc).split('\n', maxsplit=1)[0])
        return answer
    except (redis.RedisError, OSError) as exc:
        answer['error'] = type(exc).__name__
        return answer
    finally:
        try:
            client.close()
        except Exception:
            pass
    answer['reachable'] = True
    if record.get('ip'):
        answer['master'] = rule.address(record)
        answer['known_sentinels'] = int(record.get('num-other-sentinels') or 0) + 1
    return answer


def ask_all(conf, rule):
    """Every Sentinel asked at the same time, all within one timeout: the node's start waits no longer.

    A master that starts late after every node restarted (a power cut) is
    failed over to a replica that may lack writes only the other replica
    acknowledged; so a Sentinel that has not answered by then counts as down."""
    # The client library is imported here, before the clock starts: importing
    # it took 0.18-0.28 s at load average 7, and inside the threads it ate
    # most of the budget (2 of 3 Sentinels 'timed out' on a loaded host, and
    # a killed master came back as a master nobody elected).
    import redis  # noqa: F401  (python3-redis, installed by the role)
    answers = [None] * len(conf['sentinels'])

    def one(i, sentinel):
        try:
            answers[i] = ask(sentinel, conf, rule)
        except Exception as exc:
            answers[i] = {'sentinel': '%s:%s' % (sentinel['host'], sentinel['port']), 'reachable': False,
                          'master': None, 'error': type(exc).__name__}
    threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(conf['sentinels'])]
    for thread in threads:
        thread.daemon = True
        thread.start()
    deadline = time.monotonic() + float(conf.get('timeout', 0.5)) + 0.1
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [a or {'sentinel': '%s:%s' % (s['host'], s['port']), 'reachable': False, 'master': None, 'error': 'timeout'}
            for a, s in zip(answers, conf['sentinels'])]


def split_address(addr):
    """``ip:port`` or ``[ipv6]:port`` -> (host, port)."""
    host, port = addr.rsplit(':', 1)
    return host.strip('[]'), int(port)


def is_local(ip):
    """Whether ``ip`` is an address of this host (a socket can bind to it)."""
    family = socket.AF_INET6 if ':' in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((ip, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def is_self(addr, own_addresses, own_port, local=is_local):
    host, port = split_address(addr)
    return port == int(own_port) and (host in own_addresses or local(host))


def decide(verdict, own_addresses, own_port, local=is_local):
    """(master_host, master_port) to replicate, or None to start as configured; and why."""
    if not verdict['agreed']:
        return None, 'starting as configured: %s' % verdict['reason']
    if is_self(verdict['master'], own_addresses, own_port, local):
        return None, 'starting as configured: this node is the master the Sentinels name (%s)' % verdict['reason']
    host, port = split_address(verdict['master'])
    return (host, port), 'starting as a replica of %s:%s, the master the Sentinels name (%s)' % (host, port, verdict['reason'])


def set_replicaof(text, host, port):
    """The config text with exactly one ``replicaof host port``, or None when it already says so."""
    want = 'replicaof %s %s' % (host, port)
    lines = text.splitlines(True)
    found = [i for i, line in enumerate(lines)
             if line.split() and line.split()[0].lower() in ('replicaof', 'slaveof')]
    if len(found) == 1 and lines[found[0]].split()[1:] == [host, str(port)]:
        return None
    out = []
    for i, line in enumerate(lines):
        if i == (found[0] if found else None):
            out.append(want + '\n')
        elif i not in found:
            out.append(line)
    if not found:
        if out and not out[-1].endswith('\n'):
            out[-1] += '\n'
        out.append(want + '\n')
    return ''.join(out)


def rewrite(path, text):
    """Replace the file atomically, keeping its mode (the directory is the service's, ReadWritePaths)."""
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix='.start-', dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'w') as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv):
    if len(argv) != 2:
        log('usage: hardened-redis-start.py CONFIG.json')
        return 0
    try:
        with open(argv[1]) as f:
            conf = json.load(f)
        if not conf.get('sentinels'):
            log('no Sentinel configured: starting as configured')
            return 0
        rule = load_rule()
        answers = ask_all(conf, rule)
        verdict = rule.group_verdict(answers, expected=len(conf['sentinels']))
        target, why = decide(verdict, set(conf.get('own_addresses') or []), conf['port'])
        if target is None:
            log(why)
            return 0
        with open(conf['config_file']) as f:
            text = f.read()
        new = set_replicaof(text, target[0], target[1])
        if new is None:
            log('%s; %s already says so' % (why, conf['config_file']))
        else:
            rewrite(conf['config_file'], new)
            log('%s; replicaof written to %s' % (why, conf['config_file']))
    except Exception as exc:
        # Never keep the node down: start as configured (Sentinel converts it later).
        log('check failed (%s: %s): starting as configured' % (type(exc).__name__, exc))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
