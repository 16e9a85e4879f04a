"""Shared helpers for the Molecule scenarios' testinfra tests.

Facts about one hardened.redis instance inside a lab container (paths and
names follow the redis role's formula), the controller-side credentials, and
redis-py clients that connect from the controller to a container's address.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis

ENGINES = {
    "redis": {"label": "Redis", "user": "redis", "conf_root": "/etc/redis",
              "data_root": "/var/lib/redis", "log_dir": "/var/log/redis",
              "server_bin": "/usr/bin/redis-server", "distro_unit": "redis-server.service"},
    "valkey": {"label": "Valkey", "user": "valkey", "conf_root": "/etc/valkey",
               "data_root": "/var/lib/valkey", "log_dir": "/var/log/valkey",
               "server_bin": "/usr/bin/valkey-server", "distro_unit": "valkey-server.service"},
}

# Startup warnings of Redis/Valkey that the host can fix, by what fixes them
# (the same table as the role's __redis_fixable_warnings).
FIXABLE_WARNINGS = {
    "vm.overcommit_memory": "Memory overcommit must be enabled",
    "net.core.somaxconn": "TCP backlog setting of",
    "transparent_hugepage": "Transparent Huge Pages",
    "LimitNOFILE": "maximum open files",
}
# What the role skips in a container (it says so in its output).
SKIPPED_IN_CONTAINER = {"vm.overcommit_memory", "net.core.somaxconn", "transparent_hugepage"}


@dataclass
class Instance:
    """Names and paths of one instance, by the role's formula."""

    engine: str
    name: str = "main"

    def __getattr__(self, key):
        return ENGINES[self.engine][key]

    @property
    def unit(self) -> str:
        return f"{self.engine}-hardened@{self.name}.service"

    @property
    def conf_dir(self) -> str:
        return f"{self.conf_root}/{self.name}"

    @property
    def conf_file(self) -> str:
        return f"{self.conf_dir}/{self.engine}.conf"

    @property
    def acl_file(self) -> str:
        return f"{self.conf_dir}/users.acl"

    @property
    def data_dir(self) -> str:
        return f"{self.data_root}/{self.name}"

    @property
    def log_file(self) -> str:
        return f"{self.log_dir}/{self.engine}-{self.name}.log"

    @property
    def socket(self) -> str:
        return f"/run/{self.engine}-{self.name}/{self.engine}.sock"


def credentials_dir() -> Path:
    """The controller directory the scenario gives the role (redis_credentials_dir)."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"


def password(user: str) -> str:
    """A password the role generated on the controller (ansible.builtin.password file)."""
    return (credentials_dir() / user).read_text().split()[0]


def container_ip(host) -> str:
    """The container's address on the scenario network (the first global IPv4)."""
    out = host.check_output("ip -4 -o addr show scope global")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


def client(host, user: str | None = None, secret: str | None = None, port: int = 6379) -> redis.Redis:
    """A redis-py client from the controller to the container's address."""
    # RESP2: without credentials redis-py 8 would send HELLO 3 first, which a
    # server with the default user off refuses before any real command.
    return redis.Redis(host=container_ip(host), port=port, username=user, password=secret, protocol=2,
                       socket_timeout=5, socket_connect_timeout=5, decode_responses=True)


def log_since_last_start(host, inst: Instance) -> str:
    """The instance's log from its last 'is starting' line on."""
    text = host.file(inst.log_file).content_string
    marker = f"{inst.label} is starting"
    idx = text.rfind(marker)
    assert idx >= 0, f"no '{marker}' line in {inst.log_file}"
    return text[text.rfind("\n", 0, idx) + 1:]


def main_pid(host, inst: Instance) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value {inst.unit}"))


class Recap(dict):
    """PLAY RECAP counters per host; .output holds the playbook's stdout."""

    output = ""

    def __repr__(self):
        return f"{dict.__repr__(self)}; changed tasks: {self.changed_tasks()}"

    def changed_tasks(self) -> list[str]:
        """'TASK/HANDLER name -> host' for every changed result, to explain a count."""
        return changed_tasks(self.output)

    def full_paths(self) -> dict[str, list[str]]:
        """Host -> why each role on it took its full path (no entry: every role took the fast path)."""
        return full_paths(self.output)


def full_paths(output: str) -> dict[str, list[str]]:
    """Host -> the reasons the roles printed for taking their full path ("full converge, because of: ...")."""
    found: dict[str, list[str]] = {}
    host = ""
    for line in output.splitlines():
        m = re.match(r"^ok: \[([^\]]+)\] => \{", line)
        if m:
            host = m.group(1)
        m = re.search(r"full converge, because of: (.*?)\.?\"?$", line)
        if m and host:
            found.setdefault(host, []).append(m.group(1))
    return found


def changed_tasks(output: str) -> list[str]:
    """'TASK/HANDLER name -> host' for every changed result in ansible-playbook's output."""
    found, current = [], ""
    for line in output.splitlines():
        m = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\]", line)
        if m:
            current = m.group(1)
        m = re.match(r"^changed: \[([^\]]+)\]", line)
        if m:
            found.append(f"{current} -> {m.group(1)}")
    return found


def converge_process(extra_vars: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the scenario's converge.yml the way Molecule does; return the finished process."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE") or os.path.join(
        os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    # The ansible-playbook next to this Python (the venv's), else the one on PATH.
    local = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    playbook = local if os.path.exists(local) else "ansible-playbook"
    cmd = [playbook, "-i", inventory, os.path.join(scenario, "converge.yml")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="False", ANSIBLE_NOCOLOR="True")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)


def run_converge(extra_vars: dict | None = None, check: bool = False) -> dict[str, dict[str, int]]:
    """Run the scenario's converge.yml the way Molecule does; return the recap per host."""
    proc = converge_process(extra_vars, check)
    assert proc.returncode == 0, f"converge failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    recap = Recap()
    recap.output = proc.stdout
    for line in proc.stdout.split("PLAY RECAP", 1)[1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    assert recap, f"no PLAY RECAP in:\n{proc.stdout[-2000:]}"
    return recap
