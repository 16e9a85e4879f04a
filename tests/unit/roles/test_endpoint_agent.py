# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint agent's decision (roles/redis_endpoint/files/hardened-redis-endpoint-agent.py): Gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

from ansible_collections.hardened.redis.plugins.module_utils import _sentinel

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'redis_endpoint', 'files',
                      'hardened-redis-endpoint-agent.py')
_spec = importlib.util.spec_from_file_location('hardened_redis_endpoint_agent', SCRIPT)
agent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agent)

A, B, C = '10.0.0.1:6379', '10.0.0.2:6379', '10.0.0.3:6379'
SENTINELS = ['10.0.0.%d:26379' % i for i in (1, 2, 3)]


class Clock(object):
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def gate():
    conf = {'master_name': 'main', 'poll_ms': 200, 'hold_ms': 600, 'margin_ms': 50,
            'sentinels': [{'host': s.split(':')[0], 'port': 26379} for s in SENTINELS],
            'servers': [{'host': a.split(':')[0], 'port': 6379, 'check_port': 16390 + i} for i, a in enumerate((A, B, C))]}
    clock = Clock()
    return agent.Gate(conf, _sentinel, now=clock), clock


def name(g, master, who=SENTINELS):
    for s in who:
        g.record(s, {'sentinel': s, 'reachable': True, 'master': master, 'known_sentinels': 3})


def test_no_answer_is_down_for_everyone():
    g, clock = gate()
    clock.t += 1
    assert [g.ask(k).split()[0] for k in (A, B, C)] == ['down'] * 3


def test_majority_master_up_after_start_hold_others_down():
    g, clock = gate()
    name(g, A)
    # Just started: B and C may still be up in HAProxy from before.
    assert g.ask(A).startswith('down waiting')
    clock.t += 0.7
    name(g, A)
    assert g.ask(A) == 'up'
    assert g.ask(B).startswith('down not the master')
    assert g.ask(C).startswith('down not the master')


def test_minority_is_not_enough():
    g, clock = gate()
    clock.t += 1
    name(g, A, SENTINELS[:1])
    name(g, B, SENTINELS[1:2])
    assert g.ask(A).startswith('down no agreed master')
    assert g.ask(B).startswith('down no agreed master')


def test_switch_waits_until_old_master_was_told_down():
    g, clock = gate()
    clock.t += 1
    name(g, A)
    assert g.ask(A) == 'up'
    clock.t += 0.1
    name(g, B)
    # A was up 0.1 s ago and has not been told down: B must wait.
    assert g.ask(B).startswith('down waiting until %s' % A)
    clock.t += 0.1
    assert g.ask(A).startswith('down')
    # Told down, but only just: the margin.
    assert g.ask(B).startswith('down waiting')
    clock.t += 0.06
    assert g.ask(B) == 'up'


def test_switch_after_a_silent_old_master_waits_the_hold():
    g, clock = gate()
    clock.t += 1
    name(g, A)
    assert g.ask(A) == 'up'
    # A is killed: its check fails before it reaches the agent, it never asks again.
    clock.t += 0.3
    name(g, B)
    assert g.ask(B).startswith('down waiting')
    clock.t += 0.31
    name(g, B)
    assert g.ask(B) == 'up'


def test_stale_answers_count_as_unreachable():
    g, clock = gate()
    clock.t += 1
    name(g, A)
    assert g.ask(A) == 'up'
    clock.t += 5
    assert g.ask(A).startswith('down no agreed master')
