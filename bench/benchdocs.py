#!/usr/bin/env python3
"""What the report and benchmark commands under bench/ share.

docs/benchmarks.md is written by the benchmarks, one section each:
  python bench/benchdocs.py "Heading" < body.md    replaces (or appends) "## Heading"
The chaos and tls reports (reliability.py, security.py) run their Molecule
scenario with run_scenario().
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
INTRO = "# Benchmarks\n\nEach section is written by the command it names; numbers are from the machine it names.\n"


def replace_section(heading: str, body: str, doc: Path = DOC) -> None:
    text = doc.read_text() if doc.exists() else INTRO
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    doc.write_text(text)


def sh(*argv: str) -> str:
    """stdout of a command run in the checkout ("" when it cannot run)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def commit_id() -> str:
    dirty = " (with uncommitted changes)" if sh("git", "status", "--porcelain", "--untracked-files=no") else ""
    return sh("git", "rev-parse", "--short", "HEAD") + dirty


def run_scenario(scenario: str, ephemeral: str, log_path: str) -> tuple[int, float]:
    """`molecule test -s <scenario>` with its own ephemeral folder; output on the console and in log_path."""
    env = dict(os.environ, MOLECULE_EPHEMERAL_DIRECTORY=ephemeral, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
               ANSIBLE_PIPELINING="True")
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    for release in ("bookworm", "trixie"):  # Molecule validates every scenario's molecule.yml
        var = f"HARDENED_REDIS_IMAGE_{release.upper()}"
        env[var] = env.get(var) or sh("bash", os.path.join(ROOT, "tests", "lab", "build-image.sh"), release)
    molecule = shutil.which("molecule", path=env["PATH"]) or "molecule"
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log, \
            subprocess.Popen([molecule, "test", "-s", scenario], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        rc = proc.wait()
    return rc, time.monotonic() - started


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    replace_section(sys.argv[1], sys.stdin.read())
