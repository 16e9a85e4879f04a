"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test bootstraps pip in each virtualenv it makes by running a cached
get-pip script (~/.ansible/test/cache/get_pip_<version>.py), which it would
otherwise fetch from a host these machines cannot reach.  This stand-in does
the same job with what Python ships: ensurepip, then pip itself installs the
requested pip version from the package index.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel", "--no-pip"}


def main():
    ensurepip.bootstrap(upgrade=True)
    # ensurepip sets PIP_CONFIG_FILE=/dev/null in this process, which would hide
    # the machine's pip configuration (index, CA bundle) from the next call.
    env = dict(os.environ)
    env.pop("PIP_CONFIG_FILE", None)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade"] + args, env=env)


if __name__ == "__main__":
    main()
