# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning of sentinel_reset: which Sentinels must forget what, and
whether that is safe (no I/O, no redis-py).

``SENTINEL RESET`` makes a Sentinel drop every replica and every other
Sentinel it knows of a master and learn them again: the replicas from the
master's INFO (within about 10 s), the Sentinels from their hello messages
(every 2 s). Whatever is not there to be learned again is forgotten: a node
that is down, a Sentinel that is down. That is the point for a node that was
removed, and the danger for one that is only down for a while.

* ``parse_forget(entries)``: ``ip``, ``ip:port``, ``[ipv6]`` or
  ``[ipv6]:port`` as ``(ip, port or None)`` pairs (raises ValueError).
* ``matches(forget, item)``: whether a replica or Sentinel entry (``ip``,
  ``port``) is one of them.
* ``glob_free(name)``: whether a master name is safe in ``SENTINEL RESET``,
  which takes a glob-style pattern.
* ``plan(views, myids, forget, remaining=0)``: from every Sentinel's view
  (``_sentinel_group.sentinel_view``) and each reachable one's Sentinel ID
  (``SENTINEL MYID``), what must be forgotten where, what every Sentinel
  must know afterwards, and every reason to refuse.
* ``still_up(views, forget_replicas)``: forgotten replicas some Sentinel
  still sees connected (flags without ``s_down``/``disconnected``).
* ``not_ready(view, myid, expected_nodes, kept_ids, names)``: what a
  Sentinel does not (yet) know as it should after its reset; empty when it
  knows exactly the expected replicas and Sentinels, flags the master
  ``master`` only, and passes CKQUORUM.
* ``known_lines(view)``: its known replicas and Sentinels as sorted text
  lines (for ``--diff``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

GLOB_CHARS = frozenset('*?[]\\')
BAD_FLAGS = frozenset(['s_down', 'o_down', 'disconnected'])


def _norm_ip(ip):
    text = str(ip or '').strip().lower()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    return text


def parse_forget(entries):
    """``[(ip, port or None)]`` from ``ip``, ``ip:port``, ``[ipv6]``, ``[ipv6]:port``; raises ValueError naming the entry."""
    found = []
    for entry in entries or []:
        text = str(entry).strip()
        port = None
        if text.startswith('['):
            host, sep, rest = text[1:].partition(']')
            if not sep or (rest and not rest.startswith(':')):
                raise ValueError('%r is not ip, ip:port, [ipv6] or [ipv6]:port' % entry)
            rest = rest[1:]
            if rest:
                port = rest
        elif text.count(':') == 1:
            host, port = text.split(':')
        elif ':' in text:
            host = text  # a bare IPv6 address
        else:
            host = text
        if port is not None:
            try:
                port = int(port)
            except ValueError:
                raise ValueError('%r: the port is not a number' % entry)
            if not 0 < port < 65536:
                raise ValueError('%r: the port is out of range' % entry)
        host = _norm_ip(host)
        if not host or any(c in host for c in ' \t*'):
            raise ValueError('%r is not ip, ip:port, [ipv6] or [ipv6]:port' % entry)
        found.append((host, port))
    return found


def show_forget(pair):
    host, port = pair
    shown = '[%s]' % host if ':' in host else host
    return shown if port is None else '%s:%s' % (shown, port)


def matches(forget, item):
    """Whether a replica or Sentinel entry (``ip``, ``port``) is one of ``forget``."""
    ip = _norm_ip(item.get('ip'))
    port = item.get('port')
    for host, fport in forget:
        if host == ip and (fport is None or int(fport) == int(port or 0)):
            return True
    return False


def split_address(addr):
    """``{'ip', 'port'}`` of an ``ip:port`` or ``[ipv6]:port`` text."""
    host, dummy, port = (addr or '').rpartition(':')
    try:
        port = int(port)
    except ValueError:
        port = None
    return dict(ip=_norm_ip(host), port=port)


def glob_free(name):
    """Whether ``name`` holds no glob character (SENTINEL RESET takes a pattern)."""
    return not any(c in GLOB_CHARS for c in name or '')


def _bad(flags):
    return sorted(BAD_FLAGS & set(flags or []))


def plan(views, myids, forget, remaining=0):
    """What to forget where, and why not.

    views:  every Sentinel's view (``_sentinel_group.sentinel_view`` or the
            unreachable ``_empty_view``), in the order they were asked.
    myids:  {view address: Sentinel ID} of the reachable ones (the ID their
            peers list them by in ``SENTINEL SENTINELS``).
    forget: ``parse_forget`` pairs.
    remaining: how many Sentinels stay, when the caller knows (0: unknown).

    Returns a dict: ``master`` (``ip:port`` every reachable Sentinel names, or
    None), ``kept`` (addresses of the reachable Sentinels, in order),
    ``kept_ids`` (their IDs), ``names`` ({ID: address} of every Sentinel
    seen), ``forget_sentinels`` ({ID: address}), ``forget_replicas``
    (sorted addresses), ``expected_nodes`` (sorted addresses of the data
    nodes every Sentinel must know afterwards, the master included),
    ``known`` ({view address: sorted forgotten entries it knows}),
    ``to_reset`` (addresses of the Sentinels that know one, in order),
    ``running`` (what the earlier steps of a removal put right: a Sentinel
    to forget that still answers, the master at a forgotten address;
    messages; check mode warns of them, a real run refuses), and
    ``refusals`` (messages; empty when it is safe).
    """
    refusals = []
    reachable = [v for v in views if v.get('reachable')]
    # The Sentinels to forget, by the ID their peers list them by.
    forget_sentinels = {}
    for v in reachable:
        for peer in v.get('sentinels') or []:
            if matches(forget, peer):
                forget_sentinels[peer.get('runid') or peer.get('address')] = peer.get('address')
    # One that still answers stays out of the plan (check mode shows it; a real run refuses).
    leaving = [v['sentinel'] for v in reachable
               if myids.get(v['sentinel']) in forget_sentinels or matches(forget, split_address(v['sentinel']))]
    running = ['Sentinel %s is to be forgotten but still answers: stop it first, or the others learn it again at '
               'once' % a for a in leaving]
    reachable = [v for v in reachable if v['sentinel'] not in leaving]
    kept = [v['sentinel'] for v in reachable]
    kept_ids = set(myids[a] for a in kept if myids.get(a))
    names = dict((myids[a], a) for a in kept if myids.get(a))
    for a in kept:
        if not myids.get(a):
            refusals.append('Sentinel %s did not tell its ID (SENTINEL MYID): the user needs +sentinel|myid' % a)

    known_peers = {}
    forget_replicas = set()
    replicas = {}
    known = {}
    for v in reachable:
        mine = []
        for peer in v.get('sentinels') or []:
            pid = peer.get('runid') or peer.get('address')
            names.setdefault(pid, peer.get('address'))
            known_peers.setdefault(pid, (peer, v['sentinel']))
            if pid in forget_sentinels:
                mine.append('sentinel %s' % peer.get('address'))
        for r in v.get('replicas') or []:
            replicas.setdefault(r['address'], []).append((v['sentinel'], r))
            if matches(forget, r):
                forget_replicas.add(r['address'])
                mine.append('replica %s' % r['address'])
        known[v['sentinel']] = sorted(mine)

    # Every Sentinel that stays answers; a known one that does not and is not forgotten would be forgotten too.
    for v in views:
        if v.get('reachable') or matches(forget, split_address(v['sentinel'])) or v.get('runid') in forget_sentinels:
            continue
        if v.get('runid') in known_peers:
            continue  # named below, with who knows it
        refusals.append('Sentinel %s does not answer (%s): every Sentinel that stays must answer'
                        % (v['sentinel'], v.get('error') or 'unreachable'))
    for pid in sorted(known_peers, key=lambda p: known_peers[p][0].get('address') or ''):
        peer, by = known_peers[pid]
        if pid in forget_sentinels or pid in kept_ids or pid in [myids.get(a) for a in leaving]:
            continue
        refusals.append('Sentinel %s (known to %s, flags %s) does not answer and is not to be forgotten: a reset '
                        'would forget it too; bring it back, or add its address to forget'
                        % (peer.get('address'), by, ','.join(peer.get('flags') or []) or '-'))

    # One master, named by every Sentinel that stays, healthy, no failover running.
    masters = set()
    for v in reachable:
        if not v.get('monitored'):
            refusals.append('Sentinel %s does not monitor this master (%s)' % (v['sentinel'], v.get('error') or '?'))
            continue
        masters.add(v.get('master'))
        if v.get('failover_in_progress') or (v.get('failover_state') not in (None, '', 'none')):
            refusals.append('a failover is in progress (Sentinel %s: flags %s, state %s): wait until it ends'
                            % (v['sentinel'], ','.join(v.get('master_flags') or []), v.get('failover_state')))
        elif v.get('master_flags') != ['master']:
            refusals.append('Sentinel %s flags the master %s (%s): it must be up and plainly master'
                            % (v['sentinel'], v.get('master'), ','.join(v.get('master_flags') or [])))
    master = None
    if len(masters) > 1:
        refusals.append('the Sentinels disagree on the master (%s)' % ', '.join(
            '%s names %s' % (v['sentinel'], v.get('master')) for v in reachable if v.get('monitored')))
    elif masters:
        master = masters.pop()
        if master and matches(forget, split_address(master)):
            running.append('the master %s is one to forget: move the master off it first '
                           '(hardened.redis.sentinel_failover avoid_host)' % master)

    # Replicas that stay must be up and linked, or a reset forgets them too.
    for addr in sorted(replicas):
        if addr in forget_replicas:
            continue
        for by, r in replicas[addr]:
            bad = _bad(r.get('flags'))
            if bad or r.get('master_link_status') not in (None, 'ok'):
                refusals.append('replica %s is not up and linked according to Sentinel %s (flags %s, master link %s): '
                                'a reset would forget it too; bring it back, or add its address to forget'
                                % (addr, by, ','.join(r.get('flags') or []), r.get('master_link_status')))
                break

    # Every Sentinel that stays found; quorum and majority of what stays.
    if remaining and len(kept) < int(remaining):
        refusals.append('%d of the %d Sentinels that stay were found (%s): one that no other Sentinel knows right now '
                        'is never asked nor reset; wait until the others know it again, or list it in '
                        'sentinel_addresses' % (len(kept), int(remaining), ', '.join(kept) or 'none'))
    size = len(kept) + len(set(forget_sentinels) | set(myids.get(a) or a for a in leaving))
    stay = len(kept)
    majority = size // 2 + 1
    if kept and stay < majority:
        refusals.append('only %d of the %d Sentinels stay, fewer than a majority (%d) of the group as it counts '
                        'now: no failover could be authorised while they forget' % (stay, size, majority))
    for v in reachable:
        if v.get('quorum') and int(v['quorum']) > stay:
            refusals.append('Sentinel %s has quorum %s, more than the %d Sentinels that stay: no failover could '
                            'ever be agreed; lower the quorum first' % (v['sentinel'], v['quorum'], stay))
            break

    expected_nodes = sorted(set(a for a in replicas if a not in forget_replicas) | (set([master]) if master else set()))
    to_reset = [a for a in kept if known.get(a)]
    return dict(master=master, kept=kept, kept_ids=sorted(kept_ids), names=names,
                forget_sentinels=forget_sentinels, forget_replicas=sorted(forget_replicas),
                expected_nodes=expected_nodes, known=known, to_reset=to_reset,
                running=running, refusals=refusals)


def still_up(views, forget_replicas):
    """``['<replica> (flags ..., per <sentinel>)']`` for forgotten replicas a Sentinel still sees connected."""
    found = []
    for v in views:
        if not v.get('reachable'):
            continue
        for r in v.get('replicas') or []:
            if r['address'] in forget_replicas and not ({'s_down', 'disconnected'} & set(r.get('flags') or [])):
                found.append('%s (flags %s, per Sentinel %s)' % (r['address'], ','.join(r.get('flags') or []), v['sentinel']))
    return found


def not_ready(view, myid, expected_nodes, kept_ids, names):
    """What keeps a Sentinel from being done after its reset (empty list: done)."""
    if not view.get('reachable'):
        return ['it does not answer (%s)' % (view.get('error') or 'unreachable')]
    if not view.get('monitored'):
        return ['no usable answer to SENTINEL MASTER (%s)' % (view.get('error') or '?')]
    why = []
    if view.get('master_flags') != ['master']:
        why.append('master flags %s' % ','.join(view.get('master_flags') or []))
    master = view.get('master')
    known_nodes = set(r['address'] for r in view.get('replicas') or []) | (set([master]) if master else set())
    missing = sorted(set(expected_nodes) - known_nodes)
    extra = sorted(known_nodes - set(expected_nodes))
    if missing:
        why.append('replicas not known yet: %s' % ', '.join(missing))
    if extra:
        why.append('data nodes it knows that are not expected: %s' % ', '.join(extra))
    for r in view.get('replicas') or []:
        if r['address'] in expected_nodes and (_bad(r.get('flags')) or r.get('master_link_status') not in (None, 'ok')):
            flags = ','.join(r.get('flags') or [])
            why.append('replica %s flags %s link %s' % (r['address'], flags, r.get('master_link_status')))
    seen = dict(((p.get('runid') or p.get('address')), p.get('address')) for p in view.get('sentinels') or [])
    peers = set(seen)
    want = set(kept_ids) - set([myid])
    if want - peers:
        why.append('Sentinels not known yet: %s' % ', '.join(sorted(names.get(i, i) for i in want - peers)))
    if peers - want:
        why.append('Sentinels it knows that are not expected: %s' % ', '.join(sorted(seen[i] for i in peers - want)))
    ck = view.get('ckquorum') or {}
    if not ck.get('ok'):
        why.append('CKQUORUM %s' % (ck.get('message') or 'not OK'))
    return why


def known_lines(view):
    """Sorted ``replica <addr>`` / ``sentinel <addr>`` lines of what a Sentinel knows."""
    return sorted(['replica %s' % r['address'] for r in view.get('replicas') or []]
                  + ['sentinel %s' % p['address'] for p in view.get('sentinels') or []])
