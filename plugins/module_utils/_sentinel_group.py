# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask every Sentinel of a group what it sees (the I/O half of "who is master").

``_sentinel.group_verdict`` is the rule; this file gathers what it judges.

* ``survey(client, connect, master_name, address, seeds=(), error_text=str)``
  asks the Sentinel ``client`` (already connected, reached as ``address``,
  ``ip:port``; or None when it did not answer), every Sentinel it knows
  (``SENTINEL SENTINELS``), every Sentinel those know, and the ``seeds``
  (``(host, port)`` pairs), each once (the same run id reached at two
  addresses counts once). ``connect(host, port)`` returns a connected client
  or raises. Returns ``(answers, views)``: ``answers`` is the list
  ``group_verdict`` takes, ``views`` is each Sentinel's full view (same
  order), see ``sentinel_view``.
* ``sentinel_view(client, master_name, address)``: one Sentinel's view.
* ``master_names(client)``: the names a Sentinel monitors.

Nothing here writes: only SENTINEL MASTER(S) / REPLICAS / SENTINELS /
GET-MASTER-ADDR-BY-NAME / CKQUORUM and INFO server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hardened.redis.plugins.module_utils._sentinel import address, pairs


class Unreachable(Exception):
    """A Sentinel that could not be reached (connect() of a QuietModule failed)."""


class QuietModule(object):
    """What _connection.connect() needs from a module, raising Unreachable instead of failing the task."""

    def __init__(self, module):
        self.params = module.params

    def fail_json(self, msg, **kwargs):
        raise Unreachable(msg)


def split_address(text):
    """``host:port`` or ``[ipv6]:port`` -> (host, port); ValueError when it is neither."""
    text = text.strip()
    if text.startswith('['):
        host, dummy, port = text[1:].partition(']:')
    else:
        host, dummy, port = text.rpartition(':')
    try:
        port = int(port)
    except ValueError:
        port = None
    if not host or port is None or not 0 < port < 65536:
        raise ValueError(text)
    return host, port


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _join(host, port):
    if host and ':' in str(host):
        return '[%s]:%s' % (host, port)
    return '%s:%s' % (host, port)


def master_names(client):
    """Sorted names of the masters this Sentinel monitors."""
    return sorted(pairs(m).get('name') for m in client.execute_command('SENTINEL', 'MASTERS'))


def _flags(text):
    return [f for f in (text or '').split(',') if f]


def _replica(entry):
    r = pairs(entry)
    return dict(address=address(r), ip=r.get('ip'), port=_int(r.get('port')), flags=_flags(r.get('flags')),
                master_link_status=r.get('master-link-status'), priority=_int(r.get('slave-priority')),
                offset=_int(r.get('slave-repl-offset'), 0), runid=r.get('runid') or None)


def _peer(entry):
    s = pairs(entry)
    return dict(address=address(s), ip=s.get('ip'), port=_int(s.get('port')), flags=_flags(s.get('flags')),
                runid=s.get('runid') or None, voted_leader_epoch=_int(s.get('voted-leader-epoch')))


def _empty_view(addr, reachable, error=None, runid=None):
    return dict(sentinel=addr, reachable=reachable, runid=runid, process_id=None, version=None, monitored=False, master=None,
                master_flags=[], config_epoch=None, failover_in_progress=False, failover_state=None,
                quorum=None, down_after_milliseconds=None, failover_timeout=None, parallel_syncs=None,
                known_sentinels=None, known_replicas=None, replicas=[], sentinels=[],
                ckquorum=dict(ok=False, message=None), error=error)


def sentinel_view(client, master_name, addr, error_text=to_native):
    """What one reachable Sentinel says about ``master_name``.

    ``master`` is the address clients get (GET-MASTER-ADDR-BY-NAME), which
    names the promoted replica as soon as a failover switched. Errors of a
    single command are kept in ``error`` (the view stays ``reachable``).
    """
    server = {}
    try:
        server = client.info('server')
    except Exception:  # a user without +info: the address identifies it then
        pass
    view = _empty_view(addr, True, runid=server.get('run_id'))
    view.update(process_id=_int(server.get('process_id')),
                version=server.get('valkey_version') or server.get('redis_version'))
    try:
        master = pairs(client.execute_command('SENTINEL', 'MASTER', master_name))
    except Exception as exc:
        text = error_text(exc)
        view['error'] = ('does not monitor %s' % master_name) if 'no such master' in text.lower() else text
        return view
    flags = _flags(master.get('flags'))
    view.update(monitored=True, master_flags=flags, config_epoch=_int(master.get('config-epoch')),
                failover_in_progress='failover_in_progress' in flags,
                failover_state=master.get('failover-state') or None,
                quorum=_int(master.get('quorum')),
                down_after_milliseconds=_int(master.get('down-after-milliseconds')),
                failover_timeout=_int(master.get('failover-timeout')),
                parallel_syncs=_int(master.get('parallel-syncs')),
                known_sentinels=_int(master.get('num-other-sentinels'), 0) + 1,
                known_replicas=_int(master.get('num-slaves'), 0),
                master=address(master))
    try:
        addr_reply = client.execute_command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', master_name)
        if addr_reply:
            view['master'] = _join(addr_reply[0], addr_reply[1])
        view['replicas'] = [_replica(r) for r in client.execute_command('SENTINEL', 'REPLICAS', master_name)]
        view['sentinels'] = [_peer(s) for s in client.execute_command('SENTINEL', 'SENTINELS', master_name)]
    except Exception as exc:
        view['error'] = error_text(exc)
    try:
        view['ckquorum'] = dict(ok=True, message=to_native(
            client.execute_command('SENTINEL', 'CKQUORUM', master_name)))
    except Exception as exc:  # NOQUORUM ... comes back as an error reply
        view['ckquorum'] = dict(ok=False, message=error_text(exc))
    return view


def answer_of(view):
    """The answer ``group_verdict`` takes, from a view."""
    return dict(sentinel=view['sentinel'], reachable=view['reachable'],
                master=view['master'] if view['reachable'] and view['monitored'] else None,
                known_sentinels=view['known_sentinels'], error=view['error'])


def survey(client, connect, master_name, addr, seeds=(), error_text=to_native):
    """Every reachable Sentinel's view of ``master_name``; see the file's docstring."""
    views = []
    seen_runids = set()
    seen_addrs = set()
    queue = []  # (address, host, port, runid known from a peer list)

    def visit(view):
        views.append(view)
        if view['runid']:
            seen_runids.add(view['runid'])
        for peer in view['sentinels']:
            queue.append((peer['address'], peer['ip'], peer['port'], peer['runid']))

    seen_addrs.add(addr)
    if client is None:
        views.append(_empty_view(addr, False, error='not reachable'))
    else:
        visit(sentinel_view(client, master_name, addr, error_text))
    for host, port in seeds:
        queue.append((_join(host, port), host, int(port), None))
    while queue:
        peer_addr, host, port, runid = queue.pop(0)
        if peer_addr in seen_addrs or (runid and runid in seen_runids):
            continue
        seen_addrs.add(peer_addr)
        try:
            peer = connect(host, port)
        except Exception as exc:
            views.append(_empty_view(peer_addr, False, error=error_text(exc), runid=runid))
            if runid:
                seen_runids.add(runid)
            continue
        view = sentinel_view(peer, master_name, peer_addr, error_text)
        if view['runid'] and view['runid'] in seen_runids:
            continue  # a Sentinel already asked, under another address (a seed)
        visit(view)
    return [answer_of(v) for v in views], views
