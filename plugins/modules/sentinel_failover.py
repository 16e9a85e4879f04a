#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sentinel_failover
short_description: Planned Sentinel switchover to a chosen replica without losing acknowledged writes
version_added: 0.1.0
description:
  - Moves the master of a Sentinel-monitored group to a chosen replica
    (O(target_host)/O(target_port)) or off a host (O(avoid_host)), through
    Sentinel's own C(SENTINEL FAILOVER), so that Sentinel stays the owner of
    who is master.
  - Does nothing (RV(changed=false)) when the target already is the master, or
    when the master is not on O(avoid_host).
  - "Steps: ask every Sentinel the one you connect to knows, and refuse unless a
    majority of them answer and every one that answers names the same master
    (each answer is named in the refusal); undo what an earlier run that did not
    finish left behind (see the journal below); check the target is a replica
    with its link up and Sentinel sees it so; write the journal; make the target
    the only replica Sentinel may choose by setting C(replica-priority) to V(0) on
    the other replicas and wait until Sentinel has read that (its C(INFO) period
    is 10 seconds); wait for Sentinel's next periodic C(INFO) of the target (up to
    10 seconds, see notes), then pause writes on the master with
    C(CLIENT PAUSE <pause_timeout> WRITE) and fence them (C(min-replicas-to-write)
    set above any replica count, so that the master refuses writes with
    C(NOREPLICAS) once the pause runs out); wait until the target's replication
    offset equals the master's; C(SENTINEL FAILOVER); watch the outcome; once the
    target is master of this failover, turn the old master into its replica
    (C(REPLICAOF), C(CONFIG REWRITE)), as Sentinel itself would only about 10
    seconds later, lift the fence and C(CLIENT UNPAUSE); wait until the old
    master and the other replicas replicate from the target with their link up
    and every reachable Sentinel names the target; restore every
    C(replica-priority) it changed; remove the journal."
  - "The old master never accepts a write the new master may not have: until the
    outcome is certain its writes are paused, and refused after the pause ran
    out. If the target stalls or dies and Sentinel gives up (C(-failover-abort-*),
    seen at once through Sentinel's events and flags), the fence is lifted, writes
    resume on the old master, every setting is restored and the task fails with
    Sentinel's cause and RV(changed=false)."
  - On any refusal or timeout before C(SENTINEL FAILOVER) (target not a replica or
    not in sync, C(INPROG), Sentinels that disagree or do not answer, ...) the task
    fails with the cause, unpauses the master and restores every setting it changed;
    the old master keeps serving. So is a target whose RDB format is newer than another node's (see O(retire_older)).
  - "The journal: before it changes anything, the module keeps what it will change
    (the replicas' original C(replica-priority) and the master's
    C(min-replicas-to-write)) in the key C(hardened-redis:switchover:<master_name>)
    on the master, so that it is replicated and survives a failover. A detached
    watchdog process undoes the switchover from it if the module's own process
    dies (it waits for Sentinel's outcome first); if the watchdog cannot, the next
    run of the module does it before anything else and reports it in RV(recovered).
    The key is removed at the end."
  - Every call to a data node while writes are paused is bounded by what is left of
    the pause, so a stalled node cannot stretch it.
author:
  - hardened.redis developers (@hardened-redis)
options:
  master_name:
    description:
      - Name of the monitored master, as in C(sentinel monitor).
    type: str
    required: true
  target_host:
    description:
      - Address of the replica to promote, as Sentinel reports it (an IP
        address, or a name that resolves to it).
      - Exactly one of O(target_host) and O(avoid_host) is required.
    type: str
  target_port:
    description:
      - Port of the replica to promote. Needed when several replicas share O(target_host).
    type: int
  avoid_host:
    description:
      - Move the master off this host (IP address or resolvable name); the best
        other replica in Sentinel's own order (C(replica-priority), then
        replication offset) is promoted.
    type: str
  avoid_port:
    description:
      - With O(avoid_host), only the instance on this port must stop being master.
    type: int
  redis_user:
    description:
      - ACL user for the data nodes (master and replicas).
      - Needs C(INFO), C(PING), C(CONFIG GET), C(CONFIG SET), C(CONFIG REWRITE),
        C(CLIENT PAUSE), C(CLIENT UNPAUSE), C(REPLICAOF), and C(GET), C(SET), C(DEL)
        on the key C(hardened-redis:switchover:*) (the journal), for example
        C(+info +ping +config|get +config|set +config|rewrite +client|pause
        +client|unpause +replicaof ~hardened-redis:* +get +set +del).
    type: str
  redis_password:
    description:
      - Password of O(redis_user) (or of the data nodes' C(default) user).
    type: str
  timeout:
    description:
      - Seconds the whole switchover may take, including the wait for Sentinel
        to read the changed replica priorities (up to about 10 seconds).
    type: float
    default: 60
  retire_older:
    description:
      - "After a switchover every other node, the old master included, replicates from the target, and a node
        cannot load a full sync from a master whose RDB format is newer than its own (for example Redis 7.0
        from Valkey 8.1 or Redis 8.0): it flushes its data, fails, and tries again every few seconds. The module
        reads every node's engine and version (C(INFO server)) and, by default, refuses such a switchover before
        it changes anything."
      - "V(true) is for the last step of a move to a newer version (see the operations guide): the switchover goes
        ahead, every node of an older format is left with C(replica-priority 0) (in its config file too) so that
        Sentinel never promotes it, the module does not wait for it to follow the target (it can only by a partial
        resync), and it is returned in RV(retired). Remove those nodes next (C(hardened.redis.remove_node))."
    type: bool
    default: false
  pause_timeout:
    description:
      - Longest time, in milliseconds, that writes on the master may be paused
        (C(CLIENT PAUSE <pause_timeout> WRITE)); Redis ends the pause by itself
        after that time even if this module dies.
      - Must be below the master's C(down-after-milliseconds), because while
        writes are paused Sentinel's C(PUBLISH) to the master waits and its
        C(PING)s queue behind it, so Sentinels would consider the master down
        and start a failover of their own.
      - The target must be in sync within half of it.
      - Defaults to 9/10 of the master's C(down-after-milliseconds) as Sentinel
        reports it (900 with the C(fast) profile, 4500 with C(default)).
      - If the outcome is still unknown when the pause runs out, the old master
        refuses writes (C(NOREPLICAS)) instead of accepting them, until Sentinel
        has promoted the target or given up.
    type: int
extends_documentation_fragment:
  - hardened.redis.connection.sentinel
  - hardened.redis.connection
attributes:
  check_mode:
    support: full
    description: Checks the group and reports the switchover it would do, without changing anything.
  diff_mode:
    support: none
    description: The result reports the old and the new master instead.
notes:
  - Sentinel refreshes what it knows of a replica every 10 seconds, so right
    after a replica (re)connected (for example after a failover) its view can
    still report the link down. The module waits up to 25 seconds (within
    O(timeout)) for Sentinel to see the target as a healthy replica before it
    refuses; nothing is changed while it waits.
  - Once C(SENTINEL FAILOVER) was sent, the module waits for its outcome at least
    until Sentinel's own C(failover-timeout) has passed (Sentinel gives up by then),
    even past O(timeout), because leaving earlier would leave the old master refusing writes.
  - The Sentinel user (O(login_user)) also needs C(PSUBSCRIBE) to see Sentinel's
    abort events at once; without it aborts are seen from Sentinel's flags.
  - The connection options (O(login_host), O(login_port) default V(26379),
    O(login_user), O(login_password), TLS) are those of a Sentinel. The other
    Sentinels are found with C(SENTINEL SENTINELS) and reached with the same
    credentials; the data nodes with O(redis_user)/O(redis_password) and the same TLS options.
  - C(CLIENT PAUSE WRITE) pauses writes from every client on the master. It does
    not block C(REPLICAOF), C(CONFIG REWRITE), C(CLIENT KILL) or C(MULTI)/C(EXEC)
    of those (verified on Redis 7.0), but it does block C(PUBLISH), which Sentinel uses for hello messages.
  - A replica that Sentinel reconfigures runs C(CONFIG REWRITE) while its
    C(replica-priority) is temporarily V(0); the module therefore runs C(CONFIG REWRITE)
    on those replicas again once it has restored their priority.
  - While a failover runs, Sentinel reads the promoted replica's C(INFO) once a
    second and names it master only after a read that shows the promotion. The
    module therefore sends C(SENTINEL FAILOVER) about half a second after
    Sentinel's periodic C(INFO) of the target (it waits up to 10 seconds for
    that, before pausing anything), so that Sentinel's next read comes just after
    the promotion. The result's RV(info_aligned) says whether that worked; if not,
    clients find the new master about a second later (the pause itself is not longer).
  - Clients that wait for replication (C(WAIT)) or use C(min-replicas-to-write)
    see a write either acknowledged on the new master or refused; writes sent
    during the pause get a C(READONLY) error from the old master once it has
    become a replica, and Sentinel-aware clients then reconnect to the new master.
seealso:
  - module: hardened.redis.sentinel_config
  - module: hardened.redis.redis_config
  - name: Redis Sentinel documentation
    description: How Sentinel selects a replica (replica-priority, offset) and SENTINEL FAILOVER.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
  - name: CLIENT PAUSE
    description: Pausing writes for a controlled switchover.
    link: https://redis.io/docs/latest/commands/client-pause/
'''

EXAMPLES = r'''
- name: Make redis-2 the master
  hardened.redis.sentinel_failover:
    login_password: "{{ redis_sentinel_password }}"
    master_name: main
    target_host: 10.0.0.12
    target_port: 6379
    redis_user: ansible
    redis_password: "{{ redis_ansible_password }}"
  register: switchover

- name: Move the master off a host before its maintenance
  hardened.redis.sentinel_failover:
    login_password: "{{ redis_sentinel_password }}"
    master_name: main
    avoid_host: "{{ ansible_default_ipv4.address }}"
    redis_user: ansible
    redis_password: "{{ redis_ansible_password }}"
    pause_timeout: 3000
    timeout: 90
'''

RETURN = r'''
changed:
  description: Whether the master was moved (or would be, in check mode).
  returned: always
  type: bool
old_master:
  description: The master before the task, as C(ip:port).
  returned: always
  type: str
  sample: 10.0.0.11:6379
new_master:
  description: The master after the task (or that would be, in check mode), as C(ip:port).
  returned: always
  type: str
  sample: 10.0.0.12:6379
elapsed:
  description: Seconds the task took, from connecting to the end.
  returned: always
  type: float
  sample: 9.8
write_pause:
  description:
    - Seconds writes were paused on the old master (from C(CLIENT PAUSE) until
      C(CLIENT UNPAUSE), or until the pause ran out).
    - V(0) when nothing was paused.
  returned: always
  type: float
  sample: 0.31
write_refused:
  description:
    - Seconds the old master refused writes (C(NOREPLICAS)) after the write pause ran
      out, while the outcome of the failover was unknown (a stalled target). V(0) in
      a clean switchover.
  returned: always
  type: float
  sample: 0.0
recovered:
  description: What the module undid of an earlier run that did not finish (from its journal), before its own switchover.
  returned: always
  type: list
  elements: str
  sample: ["replica-priority 100 restored on 10.0.0.13:6379"]
timeline:
  description:
    - Seconds from the start of the write pause to each step of the switchover.
  returned: when SENTINEL FAILOVER was sent
  type: dict
  contains:
    failover_sent:
      description: C(SENTINEL FAILOVER) sent (the target had every write).
      type: float
    target_master:
      description: The target reported role master.
      type: float
    unpaused:
      description: The old master was a replica of the target and writes were unpaused.
      type: float
    sentinel_named:
      description: The Sentinel the module talks to named the target master (clients asking it find the new master).
      type: float
  sample: {failover_sent: 0.004, target_master: 0.21, unpaused: 0.231, sentinel_named: 0.52}
info_aligned:
  description:
    - Whether C(SENTINEL FAILOVER) was sent at the planned moment after Sentinel's
      periodic C(INFO) of the target (see notes). Clients see the new master about
      a second later when V(false).
  returned: when a switchover was attempted
  type: bool
  sample: true
priorities_changed:
  description: Replicas (C(ip:port)) whose C(replica-priority) was set to 0 for the switchover and restored since.
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.13:6379"]
diverged_bytes:
  description:
    - Bytes of replication stream the old master had and the new master did not
      when the old master was made a replica (its C(master_repl_offset) minus the
      offset at which the target stopped following it).
    - V(0) in a clean switchover. Writes paused during the switchover are not
      counted; Redis's own replication C(PING) (every C(repl-ping-replica-period))
      can account for a few bytes.
  returned: always
  type: int
  sample: 0
retired:
  description:
    - With O(retire_older), the nodes (C(ip:port)) of an older RDB format than the new master, left with
      C(replica-priority 0) after the switchover (in check mode, those that would be). Empty otherwise.
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.11:6379"]
sentinels:
  description: The Sentinels (C(ip:port)) asked; after a switchover, all of them named RV(new_master).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.21:26379", "10.0.0.22:26379", "10.0.0.23:26379"]
'''

import json
import os
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._connection import (
    connect,
    connection_argument_spec,
    describe_target,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel import (
    address,
    default_pause_ms,
    group_verdict,
    host_addresses,
    pairs,
    select_target,
)
from ansible_collections.hardened.redis.plugins.module_utils._sentinel_group import survey
from ansible_collections.hardened.redis.plugins.module_utils._info import engine_and_version
from ansible_collections.hardened.redis.plugins.module_utils._versions import follow_problem

POLL = 0.02
# How long to wait for Sentinel's view of the target to catch up (it
# refreshes a replica's INFO every 10 s outside a failover).
STALE_VIEW_WAIT = 25
# While a failover runs, Sentinel reads a replica's INFO once a second and
# names the promoted replica master only after an INFO that says role:master.
# A FAILOVER sent when Sentinel's last INFO of the target is older than that
# second makes it read the target at once (still a replica) and see the
# promotion only a second later. Sent INFO_PHASE_MS after that last INFO, the
# next read (at 1000 ms) falls after the promotion, which takes Sentinel's
# timer two or three ticks (100-300 ms). INFO_ALIGN_WAIT bounds the wait for
# Sentinel's next periodic INFO (every 10 s outside a failover).
INFO_PHASE_MS = 550
INFO_ALIGN_WAIT = 12
# The fence: with min-replicas-to-write above any possible replica count the
# old master refuses every write (NOREPLICAS) until it is lifted. Unlike
# CLIENT PAUSE it does not run out by itself, so writes stay refused, not
# accepted and then discarded, while the outcome of the failover is unknown.
FENCE = 2147483647
# Longest single call to a node while the outcome is being watched.
CALL_LIMIT = 1.0
# The journal: what the switchover changed, kept on the master (replicated)
# so that a run killed half-way is undone by the next run or the watchdog.
JOURNAL_KEY = 'hardened-redis:switchover:%s'


class Abort(Exception):
    """Stops the switchover; the message is the task's failure message."""


class _Refused(Exception):
    """A refusal that waiting cannot change (passes through Switchover.wait)."""


class _Hung(Exception):
    """A call to a node did not answer within its budget."""


class _NodeModule(object):
    """What connect() needs, with the data-node credentials, raising Abort instead of exiting."""

    def __init__(self, module):
        self.params = dict(module.params)
        self.params['login_user'] = module.params['redis_user']
        self.params['login_password'] = module.params['redis_password']
        # The Sentinels' previous password is no password of a data node.
        self.params['login_password_previous'] = None
        self.params['login_unix_socket'] = None

    def fail_json(self, msg, **kwargs):
        raise Abort(msg)


class _SentinelPeerModule(_NodeModule):
    def __init__(self, module):
        self.params = dict(module.params)
        self.params['login_unix_socket'] = None


def _key(addr):
    return '%s:%s' % (addr[0], addr[1])


class Switchover(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.name = self.p['master_name']
        self.start = time.monotonic()
        self.deadline = self.start + self.p['timeout']
        self.node_module = _NodeModule(module)
        self.peer_module = _SentinelPeerModule(module)
        self.clients = {}
        self.changed_priorities = []   # [(ip, port, original)]
        self.retiring = set()          # (ip, port) of nodes older than the target (retire_older)
        self.fenced = None             # (ip, port, original min-replicas-to-write) while the fence is up
        self.journal = None            # what this run changed, as kept on the master
        self.paused_at = None
        self.pause_end = None
        self.unpaused_at = None
        self.failover_sent = False
        self.warnings = []
        self.sentinel = None
        self.sentinel_addrs = []
        self.old = None
        self.old_s = None
        self.switched = False
        self.promoted = False
        self.pause_ms = None
        self.failover_timeout = 60000
        self.watchdog_fd = None
        self.result = {}

    # -- plumbing ---------------------------------------------------------
    def node(self, ip, port):
        key = ('node', ip, int(port))
        if key not in self.clients:
            self.clients[key] = connect(self.node_module, host=ip, port=int(port))
        return self.clients[key]

    def cmd(self, client, what, *args):
        try:
            return client.execute_command(*args)
        except Exception as exc:
            raise Abort('%s: %s' % (what, self._text(exc)))

    def bounded(self, seconds, fn, *args):
        """fn(*args), or _Hung when it has not returned within ``seconds``.

        A node that is stopped (SIGSTOP) accepts connections and never
        answers: its call is left behind in a daemon thread, whose pooled
        connection is not reused, so the switchover keeps its own clock.
        """
        box = {}

        def call():
            try:
                box['value'] = fn(*args)
            except Exception as exc:  # handed to the caller
                box['error'] = exc
        worker = threading.Thread(target=call)
        worker.daemon = True
        worker.start()
        worker.join(max(0.01, seconds))
        if worker.is_alive():
            raise _Hung('no answer within %.2f s' % max(0.01, seconds))
        if 'error' in box:
            raise box['error']
        return box.get('value')

    def budget(self):
        """What a call may take now: the rest of the write pause while it runs, else CALL_LIMIT."""
        now = time.monotonic()
        if self.pause_end is not None and self.unpaused_at is None and now < self.pause_end:
            return min(CALL_LIMIT, self.pause_end - now)
        return CALL_LIMIT

    def _text(self, exc):
        text = to_native(exc)
        for secret in (self.p.get('login_password'), self.p.get('redis_password')):
            if secret:
                text = text.replace(secret, '********')
        return text

    def info(self, ip, port):
        return pairs(self.node(ip, port).info('replication'))

    def binfo(self, addr):
        """INFO replication of a node within budget()."""
        return self.bounded(self.budget(), self.info, addr[0], addr[1])

    def wait(self, what, check, until=None):
        """Poll check() (truthy = done) until ``until`` (default: the task deadline).

        Connection errors while polling (Sentinel kills normal clients of the
        nodes it reconfigures) are retried; the last one is reported.
        """
        until = min(until or self.deadline, self.deadline)
        last = None
        while True:
            try:
                done = check()
                if done:
                    return done
            except _Refused:
                raise
            except Abort as exc:
                last = to_native(exc)
            except Exception as exc:  # redis-py connection and reply errors, _Hung
                last = self._text(exc)
            if time.monotonic() >= until:
                raise Abort('timed out waiting until %s%s' % (what, ' (last error: %s)' % last if last else ''))
            time.sleep(POLL)

    def sentinel_master(self, client):
        addr = client.execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', self.name)
        return (addr[0], int(addr[1])) if addr else None

    def master_state(self):
        return pairs(self.sentinel.execute_command('SENTINEL', 'MASTER', self.name))

    # -- the Sentinels' verdict --------------------------------------------
    def survey(self, here):
        """group_verdict over this Sentinel and every Sentinel it leads to (_sentinel_group.survey); the peers' clients."""
        peers = []

        def connect_peer(host, port):
            client = connect(self.peer_module, host=host, port=int(port))
            peers.append(client)
            return client
        answers, dummy = survey(self.sentinel, connect_peer, self.name, here, error_text=self._text)
        self.sentinel_addrs[:] = [a['sentinel'] for a in answers]
        return group_verdict(answers), peers

    # -- who can follow the target (module_utils/_versions, the one rule) ---
    def release(self, addr):
        """engine and version of a data node (INFO server), named by its address."""
        engine, version = engine_and_version(self.node(*addr).info('server'))
        return dict(engine=engine, version=version, name=_key(addr))

    def check_versions(self, tgt, tgt_s, followers):
        """Refuse a target some follower could not load a full sync from, unless retire_older.

        With retire_older those followers are kept in self.retiring: they are
        left with replica-priority 0 and not waited for.
        """
        try:
            target = self.release(tgt)
            problems = [(key, follow_problem(self.release(key), target)) for key in followers]
        except Exception as exc:
            raise Abort('Cannot read the engine and version (INFO server) of the data nodes: %s' % self._text(exc))
        problems = [(key, text) for key, text in problems if text]
        if not problems:
            return
        if not self.p['retire_older']:
            raise Abort('Cannot switch %s over to %s: after a switchover every other node replicates from it, and %s. '
                        'Nothing was changed. Remove the older nodes first (hardened.redis.remove_node), or, as the last '
                        'step of a move to a newer version, switch over with retire_older (hardened.redis.switchover '
                        '-e switchover_retire_older=true): they are then left with replica-priority 0, and you remove '
                        'them next.' % (self.name, tgt_s, '; '.join(text for dummy, text in problems)))
        self.retiring = set(key for key, dummy in problems)
        self.warnings.append('retire_older: %s; left with replica-priority 0 (Sentinel never promotes them): remove them '
                             'next (hardened.redis.remove_node)' % '; '.join(text for dummy, text in problems))

    # -- the journal and recovery -----------------------------------------
    def read_journal(self, addr):
        try:
            raw = self.node(*addr).get(JOURNAL_KEY % self.name)
        except Exception as exc:
            raise Abort('Cannot read the switchover journal (key %s) on %s: %s (redis_user needs +get +set +del '
                        'on that key)' % (JOURNAL_KEY % self.name, _key(addr), self._text(exc)))
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            self.warnings.append('ignored an unreadable switchover journal (key %s) on %s' % (JOURNAL_KEY % self.name, _key(addr)))
            return None

    def write_journal(self, addr):
        self.cmd(self.node(*addr), 'Cannot write the switchover journal (key %s) on %s (redis_user needs +get +set '
                 '+del on that key)' % (JOURNAL_KEY % self.name, _key(addr)),
                 'SET', JOURNAL_KEY % self.name, json.dumps(self.journal, sort_keys=True))

    def recover(self, journal, until):
        """Undo what a switchover run that did not finish left behind (see the journal).

        Waits (until ``until``) for Sentinel to end a failover still in
        progress; then the old master follows the master of record if that
        is another node, its fence is lifted, writes are unpaused, the
        replica priorities are restored (also in their files) and the
        journal is removed. Returns what it did, as text.
        """
        done = []

        def settled():
            m = self.master_state()
            return 'failover_in_progress' not in m.get('flags', '') and self.sentinel_master(self.sentinel)
        record = self.wait('Sentinel ends the failover of %s' % self.name, settled, until=until)
        old = tuple(journal.get('old') or ())
        if old and tuple(record) != old:
            def follows():
                if self.bounded(CALL_LIMIT, self.info, old[0], old[1]).get('role') == 'master':
                    self.bounded(CALL_LIMIT, self.node(*old).execute_command, 'REPLICAOF', record[0], str(record[1]))
                    done.append('%s made a replica of %s' % (_key(old), _key(record)))
                return True
            self.wait('%s follows the master of record %s' % (_key(old), _key(record)), follows, until=until)
        # the fence first: the old master follows the master of record by now
        for ip, port, value in journal.get('fence') or []:
            self._restore(ip, port, 'min-replicas-to-write', value, str(FENCE), done)
        if old:
            try:
                self.node(*old).execute_command('CLIENT', 'UNPAUSE')
            except Exception as exc:
                self.warnings.append('CLIENT UNPAUSE on %s failed: %s' % (_key(old), self._text(exc)))
        # nodes older than a new master stay ineligible (retire_older)
        retired = set(tuple(k) for k in journal.get('retire') or []) if tuple(record) != old else set()
        for ip, port, value in journal.get('priorities') or []:
            if (ip, port) not in retired:
                self._restore(ip, port, 'replica-priority', value, '0', done)
        if old in retired:
            c = self.node(*old)
            if c.config_get('replica-priority').get('replica-priority') != '0':
                c.execute_command('CONFIG', 'SET', 'replica-priority', '0')
                c.execute_command('CONFIG', 'REWRITE')
                done.append('replica-priority 0 set on %s (older than the new master)' % _key(old))
        self.node(*record).delete(JOURNAL_KEY % self.name)
        return done

    def _restore(self, ip, port, name, value, left, done):
        """Set ``name`` back to ``value`` where a switchover left ``left``; rewrite the file either way
        (Sentinel's CONFIG REWRITE may have written the temporary value into it)."""
        c = self.node(ip, port)
        if c.config_get(name).get(name) == left and str(value) != left:
            c.execute_command('CONFIG', 'SET', name, str(value))
            done.append('%s %s restored on %s:%s' % (name, value, ip, port))
        try:
            c.execute_command('CONFIG', 'REWRITE')
        except Exception as exc:
            self.warnings.append('CONFIG REWRITE on %s:%s failed: %s' % (ip, port, self._text(exc)))

    # -- the watchdog -------------------------------------------------------
    def start_watchdog(self):
        """A detached process that undoes the switchover if this one dies.

        It holds the read end of a pipe; this process writes "done" to it
        once it has cleaned up. When the pipe closes without that (the
        module was killed), the watchdog runs recover() from the journal.
        """
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid:
            os.close(rfd)
            os.waitpid(pid, 0)
            self.watchdog_fd = wfd
            return
        try:
            os.close(wfd)
            os.setsid()
            if os.fork():
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            said = b''
            while True:
                chunk = os.read(rfd, 64)
                if not chunk:
                    break
                said += chunk
            if b'done' not in said:
                # the journal as this run wrote it; recover() reads the live state
                self.clients = {}
                self.sentinel = connect(self.module)
                self.deadline = time.monotonic() + self.failover_timeout / 1000.0 + 30
                self.recover(self.journal, self.deadline)
        except BaseException:  # nobody is left to tell
            pass
        os._exit(0)

    def stop_watchdog(self):
        if self.watchdog_fd is not None:
            try:
                os.write(self.watchdog_fd, b'done')
            finally:
                os.close(self.watchdog_fd)
                self.watchdog_fd = None

    # -- the switchover -------------------------------------------------------
    def run(self):
        p = self.p
        self.sentinel = connect(self.module)
        here = describe_target(self.module)
        self.sentinel_addrs = [here]
        try:
            master = self.master_state()
        except Exception as exc:
            raise Abort('Cannot read master %s from the Sentinel at %s: %s' % (self.name, here, self._text(exc)))
        # SENTINEL MASTER keeps the old address until the failover ends; clients use this one
        addr = self.sentinel_master(self.sentinel)
        if addr is not None and addr != (master['ip'], int(master['port'])):
            master['ip'], master['port'] = addr[0], str(addr[1])
        old = (master['ip'], int(master['port']))
        old_s = address(master)
        self.old, self.old_s = old, old_s
        flags = master.get('flags', '').split(',')
        result = dict(changed=False, old_master=old_s, new_master=old_s, write_pause=0.0, write_refused=0.0,
                      priorities_changed=[], sentinels=self.sentinel_addrs, diverged_bytes=0, recovered=[], retired=[])
        self.result = result
        down_after = int(master.get('down-after-milliseconds', 30000))
        self.failover_timeout = int(master.get('failover-timeout', 180000))
        self.pause_ms = p['pause_timeout'] if p['pause_timeout'] is not None else default_pause_ms(down_after)

        # the Sentinels must agree before anything is read as the truth
        verdict, peer_clients = self.survey(here)
        if not verdict['agreed'] or not verdict['unanimous']:
            raise Abort('Cannot switch %s over: the Sentinels do not agree on its master (%s)'
                        % (self.name, verdict['reason']))
        for a in verdict['answers']:
            if not a['reachable']:
                self.warnings.append('Sentinel %s did not answer (%s); the majority that did agrees'
                                     % (a['sentinel'], a.get('error')))

        if 'failover_in_progress' in flags:
            raise Abort('INPROG: Sentinel %s reports a failover of %s in progress' % (here, self.name))
        if set(flags) & set(['s_down', 'o_down']):
            raise Abort('Sentinel %s reports master %s down (%s): not a planned switchover' % (here, old_s, master['flags']))

        # a run that did not finish left its journal: undo it first
        journal = self.read_journal(old)
        if journal:
            if self.module.check_mode:
                self.warnings.append('an earlier switchover of %s did not finish (journal on %s); a run out of check '
                                     'mode undoes it first' % (self.name, old_s))
            else:
                result['recovered'] = self.recover(journal, self.deadline)
                self.warnings.append('an earlier switchover of %s did not finish; undone: %s'
                                     % (self.name, '; '.join(result['recovered']) or 'nothing was left'))

        # idempotence first: nothing to do is never an error
        if p['target_host']:
            wanted = host_addresses(p['target_host'])

            def is_target(item):
                return item.get('ip') in wanted and (p['target_port'] is None or int(item['port']) == p['target_port'])
            if is_target(master):
                return result
            avoid = None
        else:
            avoided = host_addresses(p['avoid_host'])

            def avoid(item):
                return item.get('ip') in avoided and (p['avoid_port'] is None or int(item['port']) == p['avoid_port'])
            if not avoid(master):
                return result
            is_target = None

        if self.pause_ms >= down_after:
            raise Abort('pause_timeout (%d ms) must be below the master\'s down-after-milliseconds (%d ms): while writes '
                        'are paused, Sentinel\'s hello PUBLISH to the master waits and its PINGs queue behind it, so '
                        'the Sentinels would see the master down and start a failover of their own'
                        % (self.pause_ms, down_after))

        def healthy_target():
            """(replicas, target) once Sentinel sees the target as a healthy replica.

            Sentinel refreshes what it knows of a replica every 10 s (every
            second during a failover), so right after a replica (re)connected
            its view can still say "master link err": that is waited for,
            within STALE_VIEW_WAIT seconds; an unknown target is refused at once.
            """
            replicas = [pairs(r) for r in self.sentinel.execute_command('SENTINEL', 'REPLICAS', self.name)]
            try:
                target = select_target(replicas, match_target=is_target, avoid=avoid)
            except ValueError as exc:
                what = ('target %s%s' % (p['target_host'], ':%s' % p['target_port'] if p['target_port'] else '')
                        if p['target_host'] else 'avoid_host %s' % p['avoid_host'])
                raise _Refused('Cannot switch %s over: %s %s' % (self.name, what, exc))
            tflags = set(target.get('flags', '').split(','))
            if tflags & set(['s_down', 'o_down', 'disconnected']) or target.get('master-link-status') != 'ok':
                raise Abort('target %s is not a healthy replica according to Sentinel %s (flags %s, master link %s)'
                            % (address(target), here, target.get('flags'), target.get('master-link-status')))
            return replicas, target

        try:
            replicas, target = self.wait('Sentinel %s sees the target as a healthy replica' % here, healthy_target,
                                         until=time.monotonic() + STALE_VIEW_WAIT)
        except _Refused as exc:
            raise Abort(to_native(exc))
        tgt = (target['ip'], int(target['port']))
        tgt_s = address(target)
        result['new_master'] = tgt_s

        # the data nodes as they see themselves
        minfo = self.info(*old)
        if minfo.get('role') != 'master':
            raise Abort('%s, which Sentinel names master, reports role %s' % (old_s, minfo.get('role')))
        tinfo = self.info(*tgt)
        if tinfo.get('role') != 'slave' or int(tinfo.get('master_port', 0)) != old[1] \
                or tinfo.get('master_link_status') != 'up':
            raise Abort('target %s is not a connected replica of %s (role %s, master %s:%s, link %s)' % (
                tgt_s, old_s, tinfo.get('role'), tinfo.get('master_host'), tinfo.get('master_port'),
                tinfo.get('master_link_status')))
        tprio = int(self.node(*tgt).config_get('replica-priority').get('replica-priority', 100))
        if tprio == 0:
            raise Abort('target %s has replica-priority 0: Sentinel never promotes it' % tgt_s)

        # every other replica must become ineligible (or already be)
        others = {}
        for r in replicas:
            if (r['ip'], int(r['port'])) != tgt:
                others[(r['ip'], int(r['port']))] = r
        for r in _connected(minfo):
            key = (r['ip'], int(r['port']))
            if key != tgt and key not in others:
                others[key] = dict(ip=r['ip'], port=r['port'], flags='slave', **{'slave-priority': '?'})
        plan = []
        followers = [old]
        for key in sorted(others):
            r = others[key]
            try:
                prio = int(self.node(*key).config_get('replica-priority').get('replica-priority', 100))
                followers.append(key)
            except Exception as exc:
                rflags = set((r.get('flags') or '').split(','))
                if rflags & set(['s_down', 'o_down', 'disconnected']):
                    self.warnings.append('replica %s is down for Sentinel and was left alone (%s)'
                                         % (address(r), self._text(exc)))
                    continue
                raise Abort('Cannot make replica %s ineligible (replica-priority 0): %s' % (address(r), self._text(exc)))
            if prio != 0:
                plan.append((key[0], key[1], prio))
            else:
                self.warnings.append('replica %s has replica-priority 0, which this module did not set: Sentinel '
                                     'never promotes it' % _key(key))

        self.check_versions(tgt, tgt_s, followers)

        if self.module.check_mode:
            result.update(changed=True, priorities_changed=['%s:%s' % (ip, port) for ip, port, dummy in plan],
                          retired=sorted(_key(k) for k in self.retiring))
            return result

        result['changed'] = True
        fence_before = self.node(*old).config_get('min-replicas-to-write').get('min-replicas-to-write', '0')
        self.journal = dict(version=1, old=list(old), target=list(tgt),
                            priorities=[list(x) for x in plan], fence=[[old[0], old[1], int(fence_before)]],
                            retire=[list(k) for k in sorted(self.retiring)])
        self.start_watchdog()
        self.write_journal(old)
        try:
            self._switch(old, old_s, tgt, tgt_s, plan, peer_clients, result)
        finally:
            self._cleanup(old, result)
        return result

    def _switch(self, old, old_s, tgt, tgt_s, plan, peer_clients, result):
        # 1. only the target stays eligible
        for ip, port, prio in plan:
            self.cmd(self.node(ip, port), 'Cannot set replica-priority 0 on %s:%s' % (ip, port),
                     'CONFIG', 'SET', 'replica-priority', '0')
            self.changed_priorities.append((ip, port, prio))
        result['priorities_changed'] = ['%s:%s' % (ip, port) for ip, port, dummy in plan]

        def sentinel_sees_priorities():
            seen = dict(((r['ip'], int(r['port'])), r) for r in
                        (pairs(x) for x in self.sentinel.execute_command('SENTINEL', 'REPLICAS', self.name)))
            for ip, port, dummy in self.changed_priorities:
                if (ip, port) in seen and seen[(ip, port)].get('slave-priority') != '0':
                    return False
            t = seen.get(tgt)
            return t is not None and t.get('slave-priority') != '0' and t.get('master-link-status') == 'ok'
        self.wait('Sentinel reports replica-priority 0 for %s' % ', '.join(result['priorities_changed'] or ['-']),
                  sentinel_sees_priorities)

        if self.sentinel_master(self.sentinel) != old:
            raise Abort('the master of %s changed while preparing (now %s): nothing switched by this task'
                        % (self.name, self.sentinel_master(self.sentinel)))

        self._align_with_sentinel_info(tgt, result)
        # every client the paused phase needs exists now: a connect to a
        # node that stops answering would otherwise take its own timeout
        master = self.node(*old)
        self.node(*tgt)

        # 2. pause writes, then fence them: the pause runs out by itself,
        # the fence (refused writes) holds until the outcome is known
        self.paused_at = time.monotonic()
        self.cmd(master, 'Cannot pause writes on %s' % old_s, 'CLIENT', 'PAUSE', str(self.pause_ms), 'WRITE')
        self.pause_end = self.paused_at + self.pause_ms / 1000.0
        try:
            self.bounded(self.budget(), master.execute_command, 'CONFIG', 'SET', 'min-replicas-to-write', str(FENCE))
        except Exception as exc:
            raise Abort('Cannot fence writes on %s (min-replicas-to-write): %s' % (old_s, self._text(exc)))
        self.fenced = (old[0], old[1], self.journal['fence'][0][2])

        # 3. the target has every write
        def in_sync():
            mo = int(self.binfo(old)['master_repl_offset'])
            to = int(self.binfo(tgt).get('slave_repl_offset', -1))
            return mo == to
        try:
            self.wait('target %s has the master\'s replication offset' % tgt_s, in_sync,
                      until=self.paused_at + self.pause_ms / 2000.0)
        except Abort as exc:
            raise Abort('target %s did not catch up with %s while writes were paused: %s' % (tgt_s, old_s, exc))

        # 4. Sentinel promotes the target (the only eligible replica), unless the
        # group changed meanwhile: a FAILOVER sent now would move the new master
        state = self.master_state()
        if self.sentinel_master(self.sentinel) != old or 'failover_in_progress' in state.get('flags', ''):
            raise Abort('the master of %s changed or a failover started while writes were paused (flags %s): '
                        'nothing switched by this task' % (self.name, state.get('flags')))
        events = self._subscribe_aborts()
        try:
            self.sentinel.execute_command('SENTINEL', 'FAILOVER', self.name)
        except Exception as exc:
            raise Abort('Sentinel refused the failover of %s: %s' % (self.name, self._text(exc)))
        self.failover_sent = True
        self._mark('failover_sent')

        # 5. the outcome: the target promoted, or Sentinel gave up. Until one
        # of them is certain the old master stays paused, then fenced.
        outcome = self._watch_outcome(old, tgt, tgt_s, events)
        if outcome != 'promoted':
            raise Abort('Sentinel aborted the failover of %s (%s): %s is still the master; writes were refused, not '
                        'lost, while the outcome was unknown' % (self.name, outcome, old_s))
        self.promoted = True
        self._mark('target_master')
        switched_at = -1
        try:
            switched_at = int(self.binfo(tgt).get('second_repl_offset', 0)) - 1
        except Exception:  # the target may be busy; diverged_bytes stays unknown
            pass

        def demoted():
            oinfo = self.binfo(old)
            if oinfo.get('role') == 'master':
                old_offset = int(oinfo.get('master_repl_offset', 0))
                self.bounded(CALL_LIMIT, master.execute_command, 'REPLICAOF', tgt[0], str(tgt[1]))
                if switched_at >= 0:
                    result['diverged_bytes'] = max(0, old_offset - switched_at)
            return True
        # the old master stays fenced until it follows the new one
        self.wait('%s is a replica of %s' % (old_s, tgt_s), demoted)
        if old in self.retiring:
            # never promoted again: it can follow the target by a partial resync only
            self.bounded(CALL_LIMIT, self.cmd, master, 'Cannot set replica-priority 0 on %s' % old_s,
                         'CONFIG', 'SET', 'replica-priority', '0')
        self._unfence(rewrite=True)
        self._unpause(old, result)
        self._mark('unpaused')

        # 6. everything agrees
        self.wait('Sentinel names %s master' % tgt_s, lambda: self.sentinel_master(self.sentinel) == tgt)
        self._mark('sentinel_named')

        def old_follows():
            i = self.binfo(old)
            # a retiring node may never get its link up (a full sync of a newer format fails)
            return i.get('role') == 'slave' and int(i.get('master_port', 0)) == tgt[1] and \
                (i.get('master_link_status') == 'up' or old in self.retiring)
        self.wait('%s replicates from %s with its link up' % (old_s, tgt_s), old_follows)
        for ip, port, dummy in self.changed_priorities:
            if (ip, port) in self.retiring:
                continue

            def follows(ip=ip, port=port):
                i = self.binfo((ip, port))
                return int(i.get('master_port', 0)) == tgt[1] and i.get('master_link_status') == 'up'
            self.wait('replica %s:%s replicates from %s with its link up' % (ip, port, tgt_s), follows)
        for c in [self.sentinel] + peer_clients:
            self.wait('every Sentinel names %s master' % tgt_s, lambda c=c: self.sentinel_master(c) == tgt)

        def failover_ended():
            m = self.master_state()
            return (m.get('ip'), int(m.get('port'))) == tgt and 'failover_in_progress' not in m.get('flags', '')
        self.wait('Sentinel ends the failover (+switch-master)', failover_ended)
        result['new_master'] = tgt_s
        self.switched = True

    def _subscribe_aborts(self):
        """A subscription to Sentinel's -failover-abort-* events (None if Sentinel refuses it)."""
        try:
            events = self.sentinel.pubsub(ignore_subscribe_messages=True)
            events.psubscribe('-failover-abort-*')
            return events
        except Exception as exc:
            self.warnings.append('could not subscribe to Sentinel\'s events (%s): aborts are seen from its flags only'
                                 % self._text(exc))
            return None

    def _watch_outcome(self, old, tgt, tgt_s, events):
        """'promoted' once the target is the master of this failover, or the abort's cause.

        The target reporting role master counts only while Sentinel still
        runs the failover (or names the target): a stalled target that
        wakes up after Sentinel gave up also says role master, and must
        not take the old master along. Waits at most until Sentinel's own
        failover-timeout has passed (it aborts by then), whatever the
        module's timeout: leaving earlier would leave the old master fenced.
        """
        until = max(self.deadline, time.monotonic() + self.failover_timeout / 1000.0 + 5)
        aborted = None
        while True:
            if events is not None and aborted is None:
                try:
                    msg = events.get_message(timeout=0)
                    while msg:
                        data = to_native(msg.get('data'))
                        if msg.get('type') == 'pmessage' and (' %s ' % self.name) in (' %s ' % data):
                            aborted = to_native(msg.get('channel'))
                        msg = events.get_message(timeout=0)
                except Exception:  # the subscription is a shortcut; the flags below decide too
                    events = None
            try:
                trole = self.binfo(tgt).get('role')
            except Exception:  # a stalled or dead target: Sentinel decides
                trole = None
            try:
                named = self.sentinel_master(self.sentinel)
                running = 'failover_in_progress' in self.master_state().get('flags', '')
            except Exception:
                named, running = None, True
            if named == tgt or (trole == 'master' and running):
                return 'promoted'
            if not running and named == old:
                return aborted or 'the failover ended without promoting %s' % tgt_s
            if time.monotonic() >= until:
                raise Abort('no outcome of the failover of %s within %.0f s (Sentinel names %s, failover %s): %s '
                            'stays fenced (min-replicas-to-write %d, writes refused) until a rerun of this module '
                            'or its watchdog finishes the switchover'
                            % (self.name, until - self.start, named and _key(named),
                               'running' if running else 'ended', _key(old), FENCE))
            time.sleep(POLL * 5)

    def _mark(self, event):
        """Seconds since the pause began, in the result's timeline."""
        self.result.setdefault('timeline', {})[event] = round(time.monotonic() - self.paused_at, 3)

    def _align_with_sentinel_info(self, tgt, result):
        """Return about INFO_PHASE_MS after Sentinel's latest INFO of the target.

        Reads the age of that INFO (C(info-refresh) of SENTINEL REPLICAS) until
        it is young enough, then sleeps the rest. Gives up after INFO_ALIGN_WAIT
        (the switchover then goes on; only its pause is about a second longer).
        """
        until = min(time.monotonic() + INFO_ALIGN_WAIT, self.deadline)
        while time.monotonic() < until:
            asked = time.monotonic()
            try:
                age = None
                for r in self.sentinel.execute_command('SENTINEL', 'REPLICAS', self.name):
                    r = pairs(r)
                    if (r['ip'], int(r['port'])) == tgt:
                        age = int(r.get('info-refresh', 0))
            except Exception as exc:
                self.warnings.append('could not read Sentinel\'s view of the target: %s' % self._text(exc))
                break
            if age is None:
                break
            if age <= INFO_PHASE_MS - 50:
                time.sleep(max(0.0, (INFO_PHASE_MS - age) / 1000.0 - (time.monotonic() - asked)))
                result['info_aligned'] = True
                return
            time.sleep(POLL)
        result['info_aligned'] = False

    def _unfence(self, rewrite=False):
        """Lift the fence (the old master's min-replicas-to-write back to what it was)."""
        if self.fenced is None:
            return
        ip, port, value = self.fenced
        c = self.node(ip, port)
        self.bounded(CALL_LIMIT, self.cmd, c, 'Cannot lift the write fence on %s:%s' % (ip, port),
                     'CONFIG', 'SET', 'min-replicas-to-write', str(value))
        self.fenced = None
        if self.result.get('write_pause') is not None and self.pause_end is not None:
            self.result['write_refused'] = round(max(0.0, time.monotonic() - self.pause_end), 3)
        if rewrite:
            try:
                self.bounded(CALL_LIMIT, c.execute_command, 'CONFIG', 'REWRITE')
            except Exception as exc:
                self.warnings.append('CONFIG REWRITE on %s:%s failed (%s): it is a replica now, but would restart as '
                                     'master until Sentinel converts it' % (ip, port, self._text(exc)))

    def _unpause(self, old, result):
        if self.paused_at is None or self.unpaused_at is not None:
            return
        try:
            self.bounded(CALL_LIMIT, self.node(*old).execute_command, 'CLIENT', 'UNPAUSE')
        except Exception as exc:
            self.warnings.append('CLIENT UNPAUSE on %s:%s failed (%s); the pause ends by itself after pause_timeout'
                                 % (old[0], old[1], self._text(exc)))
        self.unpaused_at = time.monotonic()
        result['write_pause'] = round(min(self.unpaused_at, self.pause_end) - self.paused_at, 3)
        if self.unpaused_at > self.pause_end:
            self.warnings.append('the write pause (pause_timeout %d ms) ran out before the switchover was done; '
                                 'writes were refused (not accepted) after it until the outcome was known'
                                 % self.pause_ms)

    def _cleanup(self, old, result):
        """After success or an abort: no fence, no pause, every priority back, no journal.

        A fence whose outcome is unknown (no answer from Sentinel) stays, and
        so does the journal: the watchdog or the next run undoes them.
        """
        errors = []
        if self.fenced is not None and not self.switched:
            try:
                still_master = self.sentinel_master(self.sentinel) == old and \
                    'failover_in_progress' not in self.master_state().get('flags', '')
            except Exception:
                still_master = False
            if still_master or not self.failover_sent:
                try:
                    self._unfence(rewrite=self.failover_sent)
                except Exception as exc:
                    errors.append('write fence on %s: %s' % (self.old_s, self._text(exc)))
        if self.fenced is not None:
            # outcome unknown: the watchdog goes on from the journal
            self.warnings.append('%s is still fenced (writes refused): the watchdog lifts the fence once Sentinel has '
                                 'decided, or rerun the module' % self.old_s)
            if self.watchdog_fd is not None:
                os.close(self.watchdog_fd)   # without "done": the watchdog goes on
                self.watchdog_fd = None
            return
        self._unpause(old, result)
        keep = self.retiring if (self.switched or self.promoted) else set()
        for ip, port, prio in self.changed_priorities:
            try:
                c = self.node(ip, port)
                if (ip, port) in keep:
                    # older than the new master: stays ineligible, in its file too
                    self.bounded(CALL_LIMIT, c.execute_command, 'CONFIG', 'REWRITE')
                    continue
                self.bounded(CALL_LIMIT, c.execute_command, 'CONFIG', 'SET', 'replica-priority', str(prio))
                if self.failover_sent:
                    # Sentinel's reconfiguration (REPLICAOF + CONFIG REWRITE) wrote the
                    # temporary priority 0 into the replica's config file
                    try:
                        self.bounded(CALL_LIMIT, c.execute_command, 'CONFIG', 'REWRITE')
                    except Exception as exc:
                        self.warnings.append('CONFIG REWRITE on %s:%s failed: %s' % (ip, port, self._text(exc)))
            except Exception as exc:
                errors.append('%s:%s (replica-priority %s): %s' % (ip, port, prio, self._text(exc)))
        if self.journal is not None and not errors:
            try:
                record = self.sentinel_master(self.sentinel)
                self.bounded(CALL_LIMIT, self.node(*record).delete, JOURNAL_KEY % self.name)
            except Exception as exc:
                errors.append('journal %s: %s' % (JOURNAL_KEY % self.name, self._text(exc)))
        if keep:
            result['retired'] = sorted(_key(k) for k in keep)
        if errors:
            self.warnings.append('could not restore ' + '; '.join(errors) + ' (kept in the journal: the next run '
                                 'restores them)')
        else:
            self.stop_watchdog()


def _connected(info):
    found = []
    for key in sorted(info):
        if key.startswith('slave') and key[5:].isdigit():
            value = info[key]
            if isinstance(value, dict):
                found.append(dict(ip=str(value.get('ip')), port=int(value.get('port'))))
    return found


def main():
    argument_spec = connection_argument_spec(default_port=26379)
    argument_spec.update(
        master_name=dict(type='str', required=True),
        target_host=dict(type='str'),
        target_port=dict(type='int'),
        avoid_host=dict(type='str'),
        avoid_port=dict(type='int'),
        redis_user=dict(type='str'),
        redis_password=dict(type='str', no_log=True),
        timeout=dict(type='float', default=60),
        pause_timeout=dict(type='int'),
        retire_older=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[('target_host', 'avoid_host'), ('target_port', 'avoid_host'),
                            ('target_port', 'avoid_port'), ('target_host', 'avoid_port')],
        required_one_of=[('target_host', 'avoid_host')],
        required_by={'target_port': 'target_host', 'avoid_port': 'avoid_host'},
    )
    if module.params['pause_timeout'] is not None and not 100 <= module.params['pause_timeout'] <= 60000:
        module.fail_json(msg='pause_timeout must be between 100 and 60000 milliseconds')
    if module.params['timeout'] <= 0:
        module.fail_json(msg='timeout must be more than 0 seconds')

    job = Switchover(module)
    try:
        result = job.run()
    except Exception as exc:  # Abort, or an unexpected reply/connection error (cleanup already ran)
        for warning in job.warnings:
            module.warn(warning)
        msg = to_native(exc) if isinstance(exc, Abort) else 'Switchover of %s failed: %s' % (
            module.params['master_name'], job._text(exc))
        if job.switched:
            pass
        elif job.fenced is not None:
            msg += ' (%s refuses writes until the outcome is known: the watchdog or a rerun lifts that)' % job.old_s
        elif job.failover_sent:
            msg += ' (writes unpaused, replica priorities restored)'
        elif job.paused_at is not None or job.changed_priorities:
            msg += ' (writes unpaused, replica priorities restored; %s is still the master)' % job.old_s
        out = dict(job.result)
        if not job.switched and 'old_master' in out:
            out['new_master'] = out['old_master']
        # changed: the master moved, or the group is left in a state this run made
        out.update(msg=msg, changed=job.switched or job.promoted or job.fenced is not None,
                   elapsed=round(time.monotonic() - job.start, 3),
                   priorities_changed=['%s:%s' % (ip, port) for ip, port, dummy in job.changed_priorities])
        if job.paused_at is not None and job.pause_end is not None:
            out['write_pause'] = round(min(job.unpaused_at or job.pause_end, job.pause_end) - job.paused_at, 3)
        module.fail_json(**out)
    for warning in job.warnings:
        module.warn(warning)
    result['elapsed'] = round(time.monotonic() - job.start, 3)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
