# -*- coding: utf-8 -*-
# Copyright (c) hardened.redis developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# Shared connection options of every hardened.redis module that talks to
# redis-server or redis-sentinel (built by module_utils/_connection.py).
# Data-node modules extend `hardened.redis.connection`. Sentinel modules list
# `hardened.redis.connection.sentinel` FIRST and then `hardened.redis.connection`:
# when fragments define the same option, the one merged first is kept, so the
# Sentinel variant only has to restate `login_port` with its 26379 default.
# (Both are plain string literals: ansible-test's yamllint check reads them
# without running the code.)


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or IP address of the Redis (or Sentinel) server.
      - Ignored when O(login_unix_socket) is set.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the server (the TLS port when O(tls=true)).
      - The default is V(6379) for modules that talk to data nodes and V(26379)
        for modules that talk to Sentinel.
    type: int
    default: 6379
  login_unix_socket:
    description:
      - Path of the server's unix socket. When set, O(login_host), O(login_port)
        and the TLS options are not used.
    type: path
  login_user:
    description:
      - ACL user name to authenticate as.
      - When not set, the C(default) user is used (plain C(AUTH <password>)).
    type: str
  login_password:
    description:
      - Password of O(login_user) (or of the C(default) user, C(requirepass)).
      - When not set, the value of the E(REDISCLI_AUTH) environment variable is
        used, as redis-cli does.
      - Do not set E(REDISCLI_AUTH) with a task's C(environment) keyword.
        Ansible writes a task's environment into the remote shell command,
        where C(ps), sudo's log in the journal and C(-vvv) output show it,
        C(no_log) or not. Give O(login_password) (from Vault) instead; module
        parameters travel inside the module's payload.
      - Never shown in output or error messages.
    type: str
  login_password_previous:
    description:
      - The password of O(login_user) before a rotation, tried only when the
        server refuses O(login_password) (C(WRONGPASS)). So a server that has
        not been told the new password yet still lets the module in with the
        old one. See C(docs/operations.md), "Rotate passwords".
      - Never shown in output or error messages.
    type: str
  tls:
    description:
      - Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description:
      - With O(tls=true), verify the server certificate and that it matches
        O(login_host).
      - Set to V(false) only for tests with self-signed certificates.
    type: bool
    default: true
  ca_certs:
    description:
      - CA certificate file (PEM) used to verify the server certificate.
      - When not set, the system's default CA store is used.
    type: path
  client_cert_file:
    description:
      - Client certificate file (PEM), for servers with C(tls-auth-clients yes).
    type: path
  client_key_file:
    description:
      - Private key file (PEM) of O(client_cert_file).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established; commands wait at
        least 5 seconds for their reply.
    type: float
    default: 5
requirements:
  - redis-py (the C(redis) Python library) 4.3.4 or later on the managed host
    (Debian package C(python3-redis)).
notes:
  - The module connects from the managed host, so O(login_host=localhost)
    reaches the Redis instance running there.
'''

    SENTINEL = r'''
options:
  login_port:
    description:
      - TCP port of the Sentinel (its TLS port when O(tls=true)).
    type: int
    default: 26379
'''
