# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a module really sends to the managed host's syslog.

AnsibleModule logs every invocation with libc's ``syslog()``, which sends a
datagram to ``/dev/log`` (or, with python-systemd on a booted systemd host,
to the journal, whose ``/dev/log`` is the same socket). ``capture_syslog``
runs a module in its own mount namespace (``unshare --mount``, root only)
where ``/dev`` is a small tmpfs that holds the usual device nodes and a
``log`` socket this process listens on: every datagram the module sends is
received here, byte for byte. Nothing on the machine's own ``/dev`` changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import tempfile

from run_module import run_module

# Inside the new mount namespace: keep the real /dev reachable, put a tmpfs
# over /dev with the few nodes Python needs, and /dev/log -> our socket.
_SETUP = r'''
set -e
T="$1"; shift
mkdir -p "$T/realdev"
mount --rbind /dev "$T/realdev"
mount -t tmpfs -o mode=0755,size=1m tmpfs /dev
for n in null zero random urandom full; do
  if [ -e "$T/realdev/$n" ]; then touch "/dev/$n"; mount --bind "$T/realdev/$n" "/dev/$n"; fi
done
ln -s /proc/self/fd /dev/fd
ln -s "$T/log" /dev/log
exec "$@"
'''


def capture_syslog(module_name, args, **kwargs):
    """Run the module; return (result, [syslog datagrams as text])."""
    workdir = tempfile.mkdtemp(prefix="syslog-capture-")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(os.path.join(workdir, "log"))
        os.chmod(os.path.join(workdir, "log"), 0o666)
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SETUP, "syslog-capture", workdir]
        result = run_module(module_name, args, wrapper=wrapper, **kwargs)
        sock.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(sock.recv(1 << 20).decode("utf-8", "replace"))
            except (BlockingIOError, InterruptedError):
                break
        return result, messages
    finally:
        sock.close()
        shutil.rmtree(workdir, ignore_errors=True)
