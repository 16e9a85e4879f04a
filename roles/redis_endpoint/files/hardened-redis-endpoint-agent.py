# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Master agent of the endpoint (hardened.redis.redis_endpoint): HAProxy asks it, per data node, "may this one take writes?".

    hardened-redis-endpoint-agent.py /etc/hardened-redis-endpoint/agent.json

It follows the group's Sentinels: it polls each one (SENTINEL MASTER <name>)
every ``poll_ms`` and listens to each one's ``+switch-master`` channel, and
decides by the collection's one rule (``group_verdict`` of
module_utils/_sentinel.py, shipped beside this file by the role) which
address is the master: only an address that a majority of the Sentinels
name. It listens on 127.0.0.1, one port per data node (``check_port``);
HAProxy's health check of that node connects there after it has checked the
node itself (AUTH, ROLE says master) and the agent answers ``up`` or ``down``
at once and closes. Fail closed: no majority, no answer, the agent down (the
check cannot connect) - every node is down.

Never two nodes up at once: HAProxy acts on each node's own check, so when
the master moves from A to B, B is answered ``up`` only once A can no longer
be up in HAProxy: the agent has answered ``down`` for A since it last
answered ``up`` for A, or A's last ``up`` is older than ``hold_ms`` (one check
interval plus the check timeout and a margin: a check of A has run since and
failed before it reached the agent).

The Sentinel client user's password is read from ``password_file`` (0640
root:<the agent's group>) at start and again on SIGHUP (the role reloads the
agent when the password changes: a rotation does not stop the endpoint).
Nothing here prints a password.
"""

from __future__ import absolute_import, division, print_function

import importlib
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print('hardened-redis-endpoint-agent: %s' % msg, flush=True)


def load_rule(directory=HERE):
    """The collection's rule (module_utils/_sentinel.py), loaded by module_utils/_standalone.py:
    the roles ship both, with _values.py, beside this script."""
    spec = importlib.util.spec_from_file_location('hardened_redis_standalone', os.path.join(directory, '_standalone.py'))
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    return standalone.load_rule(directory)


class Gate(object):
    """Who may take writes: the Sentinels' answers, the verdict and what HAProxy was told."""

    def __init__(self, conf, rule, now=time.monotonic):
        self.conf = conf
        self.rule = rule
        self.now = now
        self.lock = threading.Lock()
        self.poll = float(conf.get('poll_ms', 250)) / 1000.0
        self.stale = float(conf.get('stale_ms', 0)) / 1000.0 or (3 * self.poll + 1.0)
        self.hold = float(conf['hold_ms']) / 1000.0
        self.margin = float(conf.get('margin_ms', 50)) / 1000.0
        self.answers = {}   # sentinel "host:port" -> (time, answer dict)
        started = self.now()
        # At start the agent does not know what HAProxy was told before it:
        # every node counts as answered "up" just now.
        self.last_up = dict((s, started) for s in self.server_keys())
        self.last_down = {}
        self.said = None

    def server_keys(self):
        return ['%s:%s' % (s['host'], s['port']) for s in self.conf['servers']]

    def record(self, who, answer):
        with self.lock:
            self.answers[who] = (self.now(), answer)
            self._log_verdict()

    def verdict(self):
        now = self.now()
        answers = []
        for s in self.conf['sentinels']:
            who = '%s:%s' % (s['host'], s['port'])
            seen = self.answers.get(who)
            if seen is None or now - seen[0] > self.stale:
                answers.append({'sentinel': who, 'reachable': False, 'master': None, 'error': 'no recent answer'})
            else:
                answers.append(seen[1])
        return self.rule.group_verdict(answers, expected=len(self.conf['sentinels']))

    def _log_verdict(self):
        v = self.verdict()
        said = v['master'] if v['agreed'] else None
        if said != self.said:
            self.said = said
            log('master %s (%s)' % (said or 'none: every node down', v['reason']))

    def ask(self, key):
        """'up' or 'down <why>' for the data node ``key`` (host:port), recorded as told."""
        with self.lock:
            now = self.now()
            v = self.verdict()
            if not v['agreed']:
                why = 'no agreed master'
            elif v['master'] != key:
                why = 'not the master (%s is)' % v['master']
            else:
                why = None
                for other in self.server_keys():
                    if other == key:
                        continue
                    up = self.last_up.get(other)
                    if up is None or now - up > self.hold:
                        continue
                    down = self.last_down.get(other)
                    if down is not None and down > up and now - down >= self.margin:
                        continue
                    why = 'waiting until %s is down in HAProxy' % other
                    break
            if why is None:
                self.last_up[key] = now
                return 'up'
            self.last_down[key] = now
            return 'down %s' % why


class Follower(threading.Thread):
    """One Sentinel: SENTINEL MASTER every poll interval, +switch-master at once."""

    def __init__(self, sentinel, conf, gate, secrets):
        super(Follower, self).__init__(daemon=True)
        self.sentinel = sentinel
        self.conf = conf
        self.gate = gate
        self.secrets = secrets
        self.who = '%s:%s' % (sentinel['host'], sentinel['port'])

    def client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        timeout = float(self.conf.get('timeout_ms', 500)) / 1000.0
        kwargs = dict(host=self.sentinel['host'], port=int(self.sentinel['port']), username=self.conf['user'] or None,
                      password=self.secrets.password or None, socket_timeout=timeout, socket_connect_timeout=timeout,
                      decode_responses=True, retry=Retry(NoBackoff(), 0), client_name='hardened-redis-endpoint')
        if self.sentinel.get('tls'):
            kwargs.update(ssl=True, ssl_ca_certs=self.conf.get('tls_ca'), ssl_certfile=self.conf.get('tls_cert') or None,
                          ssl_keyfile=self.conf.get('tls_key') or None)
        return redis.Redis(**kwargs)

    def poll(self, client):
        import redis
        answer = {'sentinel': self.who, 'reachable': True, 'master': None}
        try:
            record = self.gate.rule.pairs(client.execute_command('SENTINEL', 'MASTER', self.conf['master_name']))
        except redis.ResponseError as exc:
            answer['error'] = str(exc).split('\n', maxsplit=1)[0]
            return answer
        if record.get('ip'):
            answer['master'] = self.gate.rule.address(record)
            answer['known_sentinels'] = int(record.get('num-other-sentinels') or 0) + 1
        return answer

    def run(self):
        import redis
        generation = None
        client = pubsub = None
        while True:
            try:
                if generation != self.secrets.generation or client is None:
                    for old in (pubsub, client):
                        if old is not None:
                            try:
                                old.close()
                            except Exception:
                                pass
                    generation = self.secrets.generation
                    client = self.client()
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe('+switch-master')
                self.gate.record(self.who, self.poll(client))
                deadline = time.monotonic() + self.gate.poll
                while generation == self.secrets.generation:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    msg = pubsub.get_message(timeout=left)
                    if msg and msg.get('type') == 'message':
                        # "<name> <old ip> <old port> <new ip> <new port>"
                        parts = str(msg.get('data', '')).split()
                        if len(parts) == 5 and parts[0] == self.conf['master_name']:
                            log('%s: +switch-master %s:%s -> %s:%s' % (self.who, parts[1], parts[2], parts[3], parts[4]))
                            self.gate.record(self.who, self.poll(client))
            except (redis.RedisError, OSError, ValueError) as exc:
                self.gate.record(self.who, {'sentinel': self.who, 'reachable': False, 'master': None,
                                            'error': type(exc).__name__})
                for old in (pubsub, client):
                    if old is not None:
                        try:
                            old.close()
                        except Exception:
                            pass
                client = pubsub = None
                time.sleep(self.gate.poll)


class Secrets(object):
    """The Sentinel client user's password, read again on SIGHUP."""

    def __init__(self, path):
        self.path = path
        self.generation = 0
        self.password = ''
        self.load()

    def load(self):
        with open(self.path, encoding='utf-8') as f:
            self.password = f.read().strip()
        self.generation += 1


def serve(gate, server):
    key = '%s:%s' % (server['host'], server['port'])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((gate.conf.get('listen', '127.0.0.1'), int(server['check_port'])))
    listener.listen(64)

    def loop():
        while True:
            conn, _peer = listener.accept()
            try:
                conn.sendall((gate.ask(key) + '\n').encode('ascii', 'replace'))
            except OSError:
                pass
            finally:
                conn.close()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def main(argv):
    with open(argv[1], encoding='utf-8') as f:
        conf = json.load(f)
    rule = load_rule()
    import redis  # noqa: F401  (python3-redis, installed by the role)
    secrets = Secrets(conf['password_file'])
    gate = Gate(conf, rule)
    reload_asked = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: reload_asked.set())
    for server in conf['servers']:
        serve(gate, server)
    for sentinel in conf['sentinels']:
        Follower(sentinel, conf, gate, secrets).start()
    log('answering for %s on %s; following %d Sentinel(s) of %s' % (
        ', '.join('%s:%s (port %s)' % (s['host'], s['port'], s['check_port']) for s in conf['servers']),
        conf.get('listen', '127.0.0.1'), len(conf['sentinels']), conf['master_name']))
    while True:
        if reload_asked.wait(3600):
            reload_asked.clear()
            try:
                secrets.load()
                log('password file read again')
            except OSError as exc:
                log('cannot read the password file: %s' % type(exc).__name__)


if __name__ == '__main__':
    main(sys.argv)
