#!/usr/bin/env python3
"""docs/benchmarks.md is written by the benchmarks, one section each.

  python bench/benchdocs.py "Heading" < body.md    replaces (or appends) "## Heading"
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    replace_section(sys.argv[1], sys.stdin.read())
