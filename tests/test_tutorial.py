"""docs/tutorial.md cannot go stale: every command output it shows is produced here.

The tutorial marks its generated blocks with comments:

    <!-- output: run-base -->             (optionally `exit=N`: the command's expected exit code)
    ```text
    $ optimize docs/tutorial/dysprosium.yaml --out results/dy-base
    ...what the command prints (stdout and stderr together)...
    ```
    <!-- end -->

    <!-- file: docs/tutorial/dysprosium.yaml -->
    ```yaml
    ...the file, verbatim...
    ```
    <!-- end -->

The `$ ` line (with `\\` continuation lines) is the command; it is run with bash, in document order,
in one temporary directory holding a copy of docs/tutorial/*.yaml at the same relative paths, so
later blocks can read the result folders of earlier ones. `optimize` is this Python's optimizer;
COLUMNS=100 fixes the table widths; temporary paths, diff timestamps and trailing blanks are
normalised. A `file` block must equal the file.

When the outputs change on purpose, rewrite the blocks (then reread the prose around them):

    UPDATE_TUTORIAL=1 .venv/bin/python -m pytest tests/test_tutorial.py
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"
FILES = ROOT / "docs" / "tutorial"
UPDATE = os.environ.get("UPDATE_TUTORIAL", "") not in ("", "0")
UPDATE_HINT = "UPDATE_TUTORIAL=1 .venv/bin/python -m pytest tests/test_tutorial.py"

BLOCK = re.compile(
    r"<!-- (?P<kind>output|file): (?P<name>[^\s>]+)(?P<opts>(?: [a-z]+=\S+)*) -->\n"
    r"```(?P<lang>\w*)\n(?P<body>.*?)```\n<!-- end -->",
    re.S,
)
DIFF_HEADER = re.compile(r"^(---|\+\+\+) (\S+)\t.*$", re.M)


@dataclass
class Block:
    kind: str
    name: str
    opts: dict[str, str]
    body: str  # as in the tutorial
    start: int
    end: int
    expected: str = ""  # what it should be
    problem: str = ""  # e.g. a wrong exit code


@dataclass
class Tutorial:
    text: str  # the tutorial as read (before any update)
    blocks: list[Block]
    work: Path
    updated: bool = False
    outputs: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Tutorial(docs/tutorial.md, {len(self.blocks)} blocks, run in {self.work})"


def parse(text: str) -> list[Block]:
    blocks = []
    for m in BLOCK.finditer(text):
        opts = dict(o.split("=", 1) for o in m["opts"].split())
        blocks.append(Block(m["kind"], m["name"], opts, m["body"], m.start("body"), m.end("body")))
    return blocks


def command_of(block: Block) -> str:
    """The `$ ` line of an output block, with its backslash-continued lines."""
    lines = block.body.splitlines()
    assert lines and lines[0].startswith("$ "), (
        f"docs/tutorial.md block `{block.name}` must start with a `$ command` line")
    cmd = [lines[0][2:]]
    for line in lines[1:]:
        if not cmd[-1].endswith("\\"):
            break
        cmd.append(line)
    return "\n".join(cmd)


def normalise(out: str, work: Path) -> str:
    out = out.replace(f"{work}/", "").replace(str(work), ".")
    out = DIFF_HEADER.sub(r"\1 \2", out)  # `diff -u` headers carry file times
    lines = [line.rstrip() for line in out.splitlines()]
    return "\n".join(lines).strip("\n") + "\n" if any(lines) else ""


def environment(work: Path) -> dict[str, str]:
    shim = work / ".bin"
    shim.mkdir()
    exe = shim / "optimize"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m optimizer "$@"\n')
    exe.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PYTHONWARNINGS")}
    env.update(PATH=f"{shim}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}", COLUMNS="100", LINES="50",
               PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", TERM="dumb", TZ="UTC")
    return env


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory) -> Tutorial:
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = parse(text)
    work = tmp_path_factory.mktemp("tutorial")
    (work / "docs").mkdir()
    shutil.copytree(FILES, work / "docs" / "tutorial")
    env = environment(work)
    tut = Tutorial(text, blocks, work)
    for b in blocks:
        if b.kind == "file":
            path = ROOT / b.name
            b.expected = path.read_text(encoding="utf-8") if path.is_file() else ""
            if not path.is_file():
                b.problem = f"{b.name} does not exist"
            continue
        cmd = command_of(b)
        proc = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        out = normalise(proc.stdout, work)
        tut.outputs[b.name] = out
        b.expected = f"$ {cmd}\n{out}"
        want = int(b.opts.get("exit", "0"))
        if proc.returncode != want:
            b.problem = f"`{cmd}` exited with {proc.returncode}, expected {want}:\n{out}"
    if UPDATE:
        new = text
        for b in reversed(blocks):  # a block whose command fails keeps its old text
            new = new[:b.start] + (b.body if b.problem else b.expected) + new[b.end:]
        if new != text:
            TUTORIAL.write_text(new, encoding="utf-8")
            tut.updated = True
    return tut


def stale_message(blocks: list[Block], what: str) -> str:
    parts = [f"docs/tutorial.md is out of date: {what} "
             f"{', '.join(b.name for b in blocks)}. If the change is intended, rewrite the blocks with\n"
             f"    {UPDATE_HINT}\nand reread the prose around them (and test_the_story_told_in_the_prose)."]
    for b in blocks[:3]:
        diff = difflib.unified_diff(b.body.splitlines(), b.expected.splitlines(), "docs/tutorial.md",
                                    "now", n=1, lineterm="")
        parts.append(f"--- block `{b.name}`:\n" + "\n".join(list(diff)[:60]))
    return "\n\n".join(parts)


def test_tutorial_has_its_blocks(tutorial):
    """The markers parse: unique ids, the YAML files shown, a run, a diff and an infeasible example."""
    names = [b.name for b in tutorial.blocks]
    assert len(names) == len(set(names)), f"duplicate block ids in docs/tutorial.md: {names}"
    shown = {b.name for b in tutorial.blocks if b.kind == "file"}
    assert {"docs/tutorial/dysprosium.yaml"} <= shown
    for name in ("validate", "run-base", "run-embargo", "diff", "infeasible"):
        assert name in names, f"docs/tutorial.md lost its `{name}` block"
    # Every ```text block that shows a command is generated (none is hand-written).
    text = BLOCK.sub("", tutorial.text)
    assert "```text\n$ " not in text, "a command output in docs/tutorial.md is not inside an output marker"


def test_yaml_shown_equals_the_files(tutorial):
    """The scenario YAML printed in the tutorial is docs/tutorial/*.yaml byte for byte."""
    files = [b for b in tutorial.blocks if b.kind == "file"]
    missing = [b.problem for b in files if b.problem]
    assert not missing, missing
    stale = [b for b in files if b.body != b.expected]
    if tutorial.updated:
        return
    if stale:
        pytest.fail(stale_message(stale, "the YAML shown differs from the file in"), pytrace=False)


def test_command_outputs_match(tutorial):
    """Every output block is exactly what its command prints now (and exits as expected)."""
    outputs = [b for b in tutorial.blocks if b.kind == "output"]
    problems = [f"block `{b.name}`: {b.problem}" for b in outputs if b.problem]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
    stale = [b for b in outputs if b.body != b.expected]
    if tutorial.updated:
        return
    if stale:
        pytest.fail(stale_message(stale, "the output differs from what the command prints now in blocks"),
                    pytrace=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_story_told_in_the_prose(tutorial):
    """The facts the tutorial's prose states in words (not in generated blocks) still hold."""
    base = tutorial.work / "results" / "dy-base"
    emb = tutorial.work / "results" / "dy-embargo"
    bs = {r["period"]: float(r["level"]) for r in read_csv(base / "stockpile.csv")}
    es = {(r["scenario"], r["period"]): float(r["level"]) for r in read_csv(emb / "stockpile.csv")}
    bp = read_csv(base / "purchases.csv")
    ep = read_csv(emb / "purchases.csv")
    ex = read_csv(emb / "expansion.csv")
    # One future: China bought at capacity before the tariff, the stock reaches the target from
    # 2026-07, nothing is built at home, no shortfall, and (end value) the stock stays at its target
    # to the end.
    assert [float(r["quantity"]) for r in bp if r["source"] == "cn-dy" and r["period"] < "2026-07"] == [22500, 22500]
    assert all(float(r["tariff_rate"]) == 1.45 for r in bp if r["source"] == "cn-dy" and r["period"] >= "2026-07")
    assert bs["2026-01"] == 0 and bs["2026-07"] >= 15000
    assert all(bs[p] == 15000 for p in bs if "2026-10" <= p <= "2028-10")
    assert read_csv(base / "expansion.csv") == []
    summary = json.loads((base / "summary.json").read_text())
    assert not any(summary["shortfall_by_material"].values())
    # Two futures: 2026 decisions are identical in both; China at capacity in 2026-01 to 2026-07 and
    # 3,000 kg in 2026-10, an order that arrives in base and is stranded (spend 0, no arrival) in the
    # embargo; the stock ends 2026 at 27,000 kg instead of 15,000; a domestic plant is started in
    # 2026-01 in both futures; in the embargo the target is released from 2027, the stock is used up
    # by 2028-04 and never held while demand goes unmet, and 3,500 kg go short in each of the last
    # two quarters.
    for period in ("2026-01", "2026-04", "2026-07", "2026-10"):
        rows = {s: sorted((r["source"], r["quantity"]) for r in ep if r["period"] == period and r["scenario"] == s)
                for s in ("base", "embargo")}
        assert rows["base"] == rows["embargo"], period
        assert ("cn-dy", "22500" if period < "2026-10" else "3000") in rows["base"], period
        assert es[("base", period)] == es[("embargo", period)]
    october = {r["scenario"]: r for r in ep if r["period"] == "2026-10" and r["source"] == "cn-dy"}
    assert october["base"]["arrival_period"] == "2027-01" and float(october["base"]["spend"]) > 0
    assert october["embargo"]["arrival_period"] == "" and float(october["embargo"]["spend"]) == 0
    assert [float(r["quantity"]) for r in bp if r["period"] == "2026-07" and r["source"] == "cn-dy"] == [13500]
    assert es[("base", "2026-10")] == 27000 and bs["2026-10"] == 15000
    assert all(es[("base", p)] == 15000 for s, p in es if s == "base" and p >= "2027-01")
    rows = [r for r in read_csv(emb / "stockpile.csv") if r["scenario"] == "embargo" and r["period"] >= "2027-01"]
    assert all(float(r["target"]) == 0 for r in rows)
    assert not [r for r in rows if float(r["level"]) > 0 and float(r["shortfall"]) > 0]
    assert {r["period"]: float(r["shortfall"]) for r in rows if float(r["shortfall"]) > 0} == {
        "2028-07": 3500, "2028-10": 3500}
    assert es[("embargo", "2028-04")] == 0 and es[("embargo", "2027-01")] > 15000
    first = [r for r in ex if r["period"] == "2026-01"]
    assert sorted(r["scenario"] for r in first) == ["base", "embargo"] and first[0]["entity"] == "us-dy"
    assert [float(r["built"]) for r in first] == [8500, 8500]
    assert not [r for r in ep if r["scenario"] == "base" and r["source"] == "us-dy"]
    es_summary = json.loads((emb / "summary.json").read_text())
    assert es_summary["shortfall_by_material"] == {"dysprosium": pytest.approx(0.3 * 7000)}
    assert es_summary["scenarios"]["base"]["cost"] > summary["objective"]
    # Section 6: nothing is written for the infeasible run; the phased hard target is met in 2027-01.
    hard = {r["period"]: float(r["level"]) for r in read_csv(tutorial.work / "results" / "dy-hard" / "stockpile.csv")}
    assert hard["2027-01"] == 30000 and min(v for p, v in hard.items() if p >= "2027-01") >= 30000
    hard_summary = json.loads((tutorial.work / "results" / "dy-hard" / "summary.json").read_text())
    assert hard_summary["status"] == "optimal" and not any(hard_summary["shortfall_by_material"].values())
