# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds a redis-py client from the shared connection options.

Public API (other modules code against it):

* ``connection_argument_spec(default_port=6379)``: the options documented in
  the ``hardened.redis.connection`` doc fragment, for ``AnsibleModule``.
* ``connect(module, host=None, port=None)``: a connected, PINGed
  ``redis.Redis`` (decode_responses=True), or ``module.fail_json`` naming the
  target and the cause. ``host``/``port`` override the options (TCP). When
  the server refuses ``login_password`` (WRONGPASS) and
  ``login_password_previous`` is set, it logs in with that one instead (a
  password rotation the server has not seen yet).
* ``try_connect(module, host=None, port=None)``: the same, but returns
  ``(client, None)`` or ``(None, cause)`` instead of failing.
* ``describe_target(module, host=None, port=None)``: ``host:port`` or
  ``unix:/path`` as used in messages.
* ``safe_error(module, exc)``: the text of an exception with the password
  and every other registered secret (``module.no_log_values``) masked.
* ``error_text(module, exc)``: ``safe_error`` with the Redis error code
  (``ERR``, ``NOPERM``, ...) that redis-py strips put back in front.
* ``run(module, what, func, *args, target=None, hint=None, result=None)``: the
  one execute-and-fail path. Calls ``func(*args)`` and returns its value; on
  an exception fails with ``Cannot <what> on <target>: <cause>`` (secrets
  masked, ``hint`` appended, ``result`` merged into the failed result).
* ``fail(module, what, exc, target=None, hint=None, result=None)``: the same
  failure, for callers that caught the exception themselves.
* ``SecretModule(secrets_in=None, **kwargs)``: an ``AnsibleModule`` that
  registers the secrets found in free-form options (``secrets_in(params)``
  returns them) before it logs its invocation to syslog, so that they are
  masked there and in every result, including a failed argument check.
* ``HAS_REDIS`` / ``REDIS_IMPORT_ERROR``.

Works with redis-py 4.3.4 (Debian 12's python3-redis) up to 8.x: only
constructor arguments that exist in 4.3 are used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

REDIS_IMPORT_ERROR = None
try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    HAS_REDIS = True
except ImportError:  # pragma: no cover - depends on the managed host
    redis = None
    NoBackoff = Retry = None
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


def connection_argument_spec(default_port=6379):
    """Argument spec of the shared connection options.

    ``default_port`` is 6379 for data-node modules and 26379 for Sentinel modules.
    """
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=default_port),
        login_unix_socket=dict(type='path'),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True, fallback=(env_fallback, ['REDISCLI_AUTH'])),
        login_password_previous=dict(type='str', no_log=True),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_certs=dict(type='path'),
        client_cert_file=dict(type='path'),
        client_key_file=dict(type='path', no_log=False),
        connect_timeout=dict(type='float', default=5),
    )


def describe_target(module, host=None, port=None):
    """``host:port`` or ``unix:/path/to/socket`` for messages."""
    params = module.params
    if host is None and port is None and params.get('login_unix_socket'):
        return 'unix:%s' % params['login_unix_socket']
    host = host if host is not None else params.get('login_host')
    port = port if port is not None else params.get('login_port')
    if ':' in str(host):  # IPv6 literal
        return '[%s]:%s' % (host, port)
    return '%s:%s' % (host, port)


class SecretModule(AnsibleModule):
    """An ``AnsibleModule`` that knows the secrets inside free-form options.

    ``AnsibleModule`` logs its invocation to the managed host's syslog (or
    journal) from its constructor, masking only options declared ``no_log``.
    A secret inside a free-form option (a ``config`` dict, a ``value`` whose
    directive is a password) would be logged in clear. ``secrets_in(params)``
    is called on the raw parameters, before the invocation is logged and
    before the arguments are checked, and what it returns is added to
    ``no_log_values``: masked in the log and in every result.
    """

    def __init__(self, secrets_in=None, **kwargs):
        self._secrets_in = secrets_in
        super(SecretModule, self).__init__(**kwargs)

    def _load_params(self):
        super(SecretModule, self)._load_params()
        if self._secrets_in is not None:
            for secret in self._secrets_in(self.params) or ():
                if secret not in (None, ''):
                    self.no_log_values.add(to_native(secret))


def safe_error(module, exc):
    """The text of ``exc`` with the login password and every other registered secret masked."""
    text = to_native(exc)
    secrets = set(getattr(module, 'no_log_values', ()) or ())
    for option in ('login_password', 'login_password_previous'):
        password = module.params.get(option)
        if password:
            secrets.add(to_native(password))
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: no partial leftovers
        if secret:
            text = text.replace(secret, '********')
    return text


def error_text(module, exc):
    """``safe_error`` with the Redis error code that redis-py strips put back."""
    text = safe_error(module, exc)
    code = None
    for cls_name, prefix in (('NoPermissionError', 'NOPERM'), ('ReadOnlyError', 'READONLY'),
                             ('BusyLoadingError', 'LOADING'), ('AuthenticationError', None),
                             ('ResponseError', 'ERR')):
        if any(k.__name__ == cls_name for k in type(exc).__mro__):
            code = prefix
            break
    if code and not text.startswith(code):
        return '%s %s' % (code, text)
    return text


def fail(module, what, exc, target=None, hint=None, result=None):
    """Fail with ``Cannot <what> on <target>: <cause>`` (secrets masked).

    ``exc`` is an exception (its text is masked and gets its Redis error code)
    or a text (masked). ``hint`` is appended after the cause; ``result`` is
    merged into the failed result (for example ``changed=True`` when an
    earlier step changed something).
    """
    if isinstance(exc, BaseException):
        cause = error_text(module, exc)
    else:
        cause = safe_error(module, exc)
    msg = 'Cannot %s on %s: %s' % (what, target or describe_target(module), cause)
    if hint:
        msg = '%s %s' % (msg, hint)
    module.fail_json(msg=msg, **(result or {}))


def run(module, what, func, *args, **kwargs):
    """``func(*args)``, or fail with ``Cannot <what> on <target>: <cause>``.

    Keyword arguments: ``target`` (default: the module's login target),
    ``hint`` and ``result`` as for ``fail``.
    """
    target = kwargs.pop('target', None)
    hint = kwargs.pop('hint', None)
    result = kwargs.pop('result', None)
    if kwargs:
        raise TypeError('run() got unexpected keyword arguments: %s' % ', '.join(sorted(kwargs)))
    try:
        return func(*args)
    except Exception as exc:  # redis-py raises several families; all end here
        fail(module, what, exc, target=target, hint=hint, result=result)


def _cause(exc, text):
    """A short, human cause for a connection failure."""
    low = text.lower()
    if 'wrongpass' in low or 'invalid username-password' in low or 'invalid password' in low:
        return 'authentication failed (WRONGPASS: wrong login_user/login_password, or the user is disabled)'
    if 'noauth' in low or 'authentication required' in low or 'already authenticated' in low:
        return 'authentication required (NOAUTH): set login_password (or REDISCLI_AUTH)'
    if 'without any password configured' in low:
        return 'login_password was given but the server has no password for this user'
    if HAS_REDIS and isinstance(exc, redis.exceptions.AuthenticationError):
        return 'authentication failed'
    if 'noperm' in low or 'no permissions' in low:
        return 'the user lacks the permission to run this command (NOPERM)'
    if HAS_REDIS and isinstance(exc, redis.exceptions.TimeoutError) or 'timed out' in low or 'timeout' in low:
        return 'timeout'
    if 'ssl' in low or 'certificate' in low or 'tls' in low or 'handshake' in low:
        return 'TLS error'
    if 'connection refused' in low:
        return 'connection refused'
    if 'no such file' in low:
        return 'no such socket'
    if 'permission denied' in low:
        return 'permission denied'
    if 'connection reset' in low or 'closed by server' in low or 'connection closed' in low:
        return 'connection closed by the server (a TLS port reached without tls: true, or the reverse?)'
    if 'name or service not known' in low or 'nodename nor servname' in low or 'temporary failure in name' in low:
        return 'host name not resolved'
    return 'error'


def _wrong_password(exc, text):
    """Whether the server refused the password itself (not a missing one, not a network error)."""
    low = text.lower()
    return 'wrongpass' in low or 'invalid username-password' in low or 'invalid password' in low


def _client_kwargs(module, host=None, port=None):
    params = module.params
    timeout = params.get('connect_timeout')
    kwargs = dict(
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=max(timeout, 5.0) if timeout else None,
        retry=Retry(NoBackoff(), 0),
    )
    if params.get('login_user'):
        kwargs['username'] = params['login_user']
    if params.get('login_password') is not None and params.get('login_password') != '':
        kwargs['password'] = params['login_password']
    if host is None and port is None and params.get('login_unix_socket'):
        kwargs['unix_socket_path'] = params['login_unix_socket']
        return kwargs
    kwargs['host'] = host if host is not None else params.get('login_host')
    kwargs['port'] = port if port is not None else params.get('login_port')
    if params.get('tls'):
        kwargs['ssl'] = True
        if params.get('ca_certs'):
            kwargs['ssl_ca_certs'] = params['ca_certs']
        if params.get('client_cert_file'):
            kwargs['ssl_certfile'] = params['client_cert_file']
        if params.get('client_key_file'):
            kwargs['ssl_keyfile'] = params['client_key_file']
        if params.get('validate_certs', True):
            kwargs['ssl_cert_reqs'] = 'required'
            kwargs['ssl_check_hostname'] = True
        else:
            kwargs['ssl_cert_reqs'] = 'none'
            kwargs['ssl_check_hostname'] = False
    return kwargs


def _open(module, host=None, port=None):
    """A connected, PINGed client; raises what redis-py raised."""
    previous = module.params.get('login_password_previous')
    kwargs = _client_kwargs(module, host, port)
    try:
        client = redis.Redis(**kwargs)
        client.ping()
    except Exception as exc:  # redis-py raises several families; all end here
        # During a rotation the server may know only the password before it.
        if not previous or previous == module.params.get('login_password') \
                or not _wrong_password(exc, safe_error(module, exc)):
            raise
        kwargs['password'] = previous
        client = redis.Redis(**kwargs)
        client.ping()
    return client


def _failure_text(module, exc):
    text = safe_error(module, exc)
    previous = module.params.get('login_password_previous')
    tried = ' (tried login_password and login_password_previous)' if previous and _wrong_password(exc, text) else ''
    return '%s%s (%s)' % (_cause(exc, text), tried, text)


def connect(module, host=None, port=None):
    """A connected, PINGed ``redis.Redis`` client, or ``module.fail_json``.

    ``host`` / ``port`` override ``login_host`` / ``login_port`` (and then the
    connection is TCP even if ``login_unix_socket`` is set), so that a module
    can reach several nodes with the same credentials and TLS settings.
    """
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)
    target = describe_target(module, host, port)
    try:
        return _open(module, host, port)
    except Exception as exc:  # redis-py raises several families; all end here
        module.fail_json(msg='Cannot connect to Redis at %s: %s' % (target, _failure_text(module, exc)), target=target)


def try_connect(module, host=None, port=None):
    """``(client, None)``, or ``(None, cause)`` when the server cannot be reached or refuses the login.

    For readers that treat an unreachable server as an answer (it is down,
    or not installed yet) instead of a failure. The cause has every secret
    masked. Without redis-py (a new host, before anything is installed) the
    cause says so.
    """
    if not HAS_REDIS:
        return None, 'the Python library redis (redis-py) is not installed'
    try:
        return _open(module, host, port), None
    except Exception as exc:  # redis-py raises several families; all end here
        return None, 'cannot connect to %s: %s' % (describe_target(module, host, port), _failure_text(module, exc))
