"""docs/quick-reference.md run as written against this scenario's group (issue #11).

The group's name is ``cache`` here and its instance ``main``: the commands
must keep ``$NAME`` (SENTINEL commands) and ``$INST``/``$SINST`` (units and
paths) apart. The shell set-up of section 0 runs as printed, with the
example's values replaced by the lab's; then every read-only ``sent``/``node``
command line of the sections "Who is master", "Is there quorum" and "A node
won't rejoin" runs with the example addresses 10.0.0.11-13 replaced by the
containers'. Lines that change something (REPLICAOF, FAILOVER, CONFIG ...),
or need ssh or an inventory, are left out; at least six lines must run.
Each must exit 0 and print what the document says it prints. The paths of
section 6 ("Where things live") must exist on the nodes, except the ones
it marks optional or VM-only.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from sentinel_lab import DATA_PORT, INSTANCE, MASTER_NAME, Group

NODES = ["backup-node1", "backup-node2", "backup-node3"]
DOC = Path(__file__).resolve().parents[3] / "docs" / "quick-reference.md"
EXAMPLE_IPS = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
RUN_SECTIONS = ("1.", "2.", "4.")
CHANGES = re.compile(r"\b(REPLICAOF|SLAVEOF|FAILOVER|CONFIG|RESET|FLUSH\w*|SET|DEL|DEBUG|SHUTDOWN|ACL)\b")
FAILURES = ("ERR", "NOAUTH", "WRONGPASS", "NOPERM", "No such master", "Could not connect", "command not found")


def _sections() -> dict[str, list[str]]:
    """Section title -> its ```bash blocks."""
    sections: dict[str, list[str]] = {}
    title, block = "", None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.strip() == "```bash":
            block = []
        elif line.strip() == "```" and block is not None:
            sections.setdefault(title, []).append("\n".join(block))
            block = None
        elif block is not None:
            block.append(line)
    return sections


def _setup(sections, group: Group) -> str:
    """Section 0 as printed, then the lab's values for the example's."""
    setup = next(blocks[0] for t, blocks in sections.items() if t.startswith("0."))
    ips = " ".join(group.ip[n] for n in NODES)
    creds = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "credentials")
    return (f"{setup}\nNAME={MASTER_NAME} INST={INSTANCE} SINST={INSTANCE}\nCRED={creds}\n"
            f'SENTINELS="{ips}"\nNODES="{ips}"\n')


def _commands(sections, group: Group) -> list[str]:
    lines = []
    for title, blocks in sections.items():
        if not title.startswith(RUN_SECTIONS):
            continue
        for block in blocks:
            for line in block.splitlines():
                code = line.split("  #", 1)[0].strip()
                if not re.search(r"\b(sent|node) ", code) or "ssh " in code or CHANGES.search(code):
                    continue
                for example, n in zip(EXAMPLE_IPS, NODES):
                    code = code.replace(example, group.ip[n])
                lines.append(code)
    return lines


def test_quick_reference_commands_answer_for_this_group():
    group = Group(NODES)
    master = group.wait_settled(timeout=90)
    sections = _sections()
    commands = _commands(sections, group)
    assert len(commands) >= 6, f"the quick reference's read-only commands were not found: {commands}"
    script = ["set -euo pipefail", _setup(sections, group)]
    for i, code in enumerate(commands):
        script.append(f"echo '@@@ {i}'")
        script.append(code)
        if code.startswith("read -r MIP MPORT"):
            script.append('echo "$MIP:$MPORT"')
    proc = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"rc {proc.returncode}: {proc.stderr[-2000:]}\n{proc.stdout[-2000:]}"
    out = {int(part.split("\n", 1)[0]): part.split("\n", 1)[1] if "\n" in part else ""
           for part in proc.stdout.split("@@@ ")[1:]}
    master_addr = f"{group.ip[master]}:{DATA_PORT}"
    for i, code in enumerate(commands):
        text = out.get(i, "")
        assert text.strip(), f"no output from: {code}"
        bad = [f for f in FAILURES if f in text]
        assert not bad, f"{code}\n-> {text}"
        if "says master is" in code:
            named = re.findall(r"says master is (\S+)", text)
            assert named == [master_addr] * 3, f"{code}\n-> {text}"
        elif "ROLE" in code:
            roles = [line.split(": ", 1)[1] for line in text.strip().splitlines()]
            assert sorted(roles) == ["master", "slave", "slave"], f"{code}\n-> {text}"
        elif "CKQUORUM" in code:
            assert text.count("OK 3 usable Sentinels") == 3, f"{code}\n-> {text}"
        elif "SENTINEL MASTER " in code:
            fields = dict(line.split("\t", 1) for line in text.strip().splitlines())
            assert (fields["ip"], fields["flags"], fields["num-slaves"], fields["quorum"]) == \
                (group.ip[master], "master", "2", "2"), fields
        elif "SENTINEL REPLICAS" in code:
            assert text.count("name\t") == 2 and "s_down" not in text, f"{code}\n-> {text}"
        elif code.startswith("read -r MIP MPORT"):
            assert text.strip() == master_addr, f"{code}\n-> {text}"


def _paths(sections_text: str) -> list[str]:
    """Absolute paths of section 6, with <instance>/<sentinel instance> filled in, minus optional and VM-only ones."""
    found = []
    for row in sections_text.splitlines():
        if not row.startswith("|") or "VMs only" in row:
            continue
        for m in re.finditer(r"`(/[^`]+)`", row):
            around = row[max(0, m.start() - 14):m.end() + 14]
            if "(optional)" in around:
                continue
            path = m.group(1).replace("<sentinel instance>", INSTANCE).replace("<instance>", INSTANCE)
            if "<" not in path:
                found.append(path)
    return found


def test_quick_reference_paths_exist():
    group = Group(NODES)
    text = DOC.read_text(encoding="utf-8")
    where = text.split("## 6.", 1)[1].split("\n## ", 1)[0]
    paths = _paths(where)
    assert len(paths) >= 8, paths
    missing = [p for p in paths
               if not any(subprocess.run(["docker", "exec", n, "test", "-e", p], check=False).returncode == 0
                          for n in group.names)]
    assert not missing, f"quick reference paths that no node has: {missing}"
