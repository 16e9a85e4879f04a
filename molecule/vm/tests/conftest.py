"""The vm scenario's tests run on the controller: the containers at their
Docker addresses, the guest at its address on the same network (SSH as the
sudo user hrlab through tests/lab/vm/vm.sh)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "resources", "tests"))

from sentinel_lab import Group  # noqa: E402

VM = "vm-node1"
NODES = ["vm-node1", "vm-node2", "vm-node3"]
VM_SH = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd()), "tests", "lab", "vm", "vm.sh")


def vm(*argv: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """tests/lab/vm/vm.sh COMMAND vm-node1 ARGS..."""
    command, *rest = argv
    return subprocess.run(["bash", VM_SH, command, VM, *rest], capture_output=True, text=True, check=check,
                          timeout=timeout)


def guest(*argv: str, check: bool = True) -> str:
    """A command on the guest as root (sudo), its stdout. SSH hands the remote
    shell one string: each argument is quoted for it."""
    done = vm("ssh", "sudo", shlex.join(argv), check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} on {VM}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@pytest.fixture(scope="session")
def group() -> Group:
    return Group(NODES, addresses={VM: vm("ip").stdout.strip()})
