# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec other modules build on (connect() itself is exercised
against real servers in tests/integration)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.hardened.redis.plugins.module_utils._connection import connection_argument_spec


def test_defaults_for_data_nodes_and_sentinel():
    assert connection_argument_spec()['login_port']['default'] == 6379
    assert connection_argument_spec(default_port=26379)['login_port']['default'] == 26379


def test_password_is_secret_and_falls_back_to_rediscli_auth(monkeypatch):
    spec = connection_argument_spec()
    assert spec['login_password']['no_log'] is True
    monkeypatch.setenv('REDISCLI_AUTH', 'from-env-secret')
    result = ArgumentSpecValidator(spec).validate({})
    assert result.error_messages == []
    assert result.validated_parameters['login_password'] == 'from-env-secret'
    assert 'from-env-secret' in result._no_log_values


def test_explicit_password_wins_over_env(monkeypatch):
    monkeypatch.setenv('REDISCLI_AUTH', 'from-env-secret')
    result = ArgumentSpecValidator(connection_argument_spec()).validate({'login_password': 'explicit'})
    assert result.validated_parameters['login_password'] == 'explicit'


def test_defaults():
    result = ArgumentSpecValidator(connection_argument_spec()).validate({})
    params = result.validated_parameters
    assert params['login_host'] == 'localhost'
    assert params['login_user'] is None
    assert params['tls'] is False
    assert params['validate_certs'] is True
    assert params['connect_timeout'] == 5.0


def test_previous_password_is_secret_and_never_from_env(monkeypatch):
    spec = connection_argument_spec()
    assert spec['login_password_previous']['no_log'] is True
    monkeypatch.setenv('REDISCLI_AUTH', 'from-env-secret')
    result = ArgumentSpecValidator(spec).validate({'login_password_previous': 'before-rotation'})
    assert result.validated_parameters['login_password_previous'] == 'before-rotation'
    assert 'before-rotation' in result._no_log_values
    assert ArgumentSpecValidator(spec).validate({}).validated_parameters['login_password_previous'] is None
