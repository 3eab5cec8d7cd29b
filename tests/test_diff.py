"""`optimize diff`: empty diff for the same input, a ban shows up with its cause, golden Markdown, JSON, tolerance."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, scenario
from optimizer.diff import diff_folders, input_changes, load_folder, render

GOLDEN = ROOT / "tests" / "golden" / "diff"

BASE = scenario(
    horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
    materials=[{"id": "dy", "unit": "kg", "demand": 10, "shortfall_penalty": 1000,
                "stockpile": {"initial": 0, "holding_cost": 1}}],
    sources=[
        {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10, "capacity": 30},
        {"id": "au", "material": "dy", "region": "allied", "country": "AU", "price": 25},
    ],
    policies=[{"type": "tariff", "name": "us-tariff", "rate": 1.0, "where": {"country": "CN"}}],
    scenarios=[
        {"name": "base", "probability": 0.6},
        {"name": "embargo", "probability": 0.4, "events": []},
    ],
)
BAN = {"type": "ban", "where": {"region": "china"}, "from": "2026-07"}


def with_ban(data: dict) -> dict:
    out = copy.deepcopy(data)
    out["scenarios"][1]["events"] = [BAN]
    return out


def solve_to(folder: Path, data: dict) -> Path:
    import optimizer

    optimizer.solve(data).write(folder)
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real entry point, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"})


def invoke(*args: str):
    """The same command in this process (faster; exit codes as from the command line)."""
    from typer.testing import CliRunner

    from optimizer.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """old / same (old solved again) / new (a ban in `embargo`) / price (a tiny price change)."""
    root = tmp_path_factory.mktemp("diff")
    price = copy.deepcopy(BASE)
    price["sources"][0]["price"] = 10.0001
    return {
        "old": solve_to(root / "old", BASE),
        "same": solve_to(root / "same", BASE),
        "new": solve_to(root / "new", with_ban(BASE)),
        "price": solve_to(root / "price", price),
    }


def test_same_scenario_twice_gives_an_empty_diff_and_exit_0(folders):
    """Solving the same scenario twice: nothing changed, --fail-on-change exits 0."""
    d = diff_folders(folders["old"], folders["same"])
    assert not d.changed and d.inputs == [] and not d.purchases and not d.sources and not d.stockpile
    proc = run_cli("diff", str(folders["old"]), str(folders["same"]), "--fail-on-change")
    assert proc.returncode == 0, proc.stderr
    assert "No change" in proc.stdout and proc.stderr == ""


def test_added_ban_shows_its_effect_and_its_cause(folders):
    """A ban added to one scenario: the input change is listed, the Chinese source vanishes there, cost rises."""
    d = diff_folders(folders["old"], folders["new"])
    assert d.changed
    assert [(c["path"], c["change"]) for c in d.inputs] == [("scenarios[embargo].events[0]", "added")]
    assert d.inputs[0]["new"] == BAN
    head = {r["metric"]: r for r in d.headline}
    assert head["expected_cost"]["delta"] > 0 and head["cost of scenario embargo"]["delta"] > 0
    changed = {(r["scenario"], r["source"]): r for r in d.purchases}
    assert changed[("embargo", "cn")]["quantity_delta"] < 0 and changed[("embargo", "au")]["quantity_delta"] > 0
    assert all(r["scenario"] == "embargo" for r in d.purchases)
    # both scenarios stock up before the ban can start: the plan cannot tell them apart before 2026-07
    assert {(r["scenario"], r["period"]) for r in d.stockpile} == {("base", "2026-04"), ("embargo", "2026-04")}
    assert {r["source"]: r["appeared_in"] for r in d.sources}.get("au") == ["embargo"]
    md = render(d, "md")
    assert "`scenarios[embargo].events[0]`: added" in md and '"type": "ban"' in md
    proc = run_cli("diff", str(folders["old"]), str(folders["new"]), "--fail-on-change")
    assert proc.returncode == 1 and "Plan diff" in proc.stdout and "Traceback" not in proc.stderr


def test_golden_markdown(folders):
    """The Markdown comment for a small pair, byte for byte (UPDATE_GOLDEN=1 rewrites the file)."""
    md = render(diff_folders(folders["old"], folders["new"]), "md")
    golden = GOLDEN / "ban_added.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(md)
    assert golden.exists(), "run with UPDATE_GOLDEN=1 to create tests/golden/diff/ban_added.md"
    assert md == golden.read_text()
    assert len(md.splitlines()) <= 60


def test_markdown_is_a_short_github_comment(folders, tmp_path):
    """A headline table first, then sections; at most ~60 lines even when everything changes."""
    md = render(diff_folders(folders["old"], folders["new"]), "md")
    lines = md.splitlines()
    assert lines[0].startswith("### Plan diff: `old`") and lines[2].startswith("| USD unless stated | old | new |")
    assert lines[3] == "| --- | ---: | ---: | ---: |"
    many = scenario(
        horizon={"start": "2026-01", "periods": 6, "period": "month"},
        materials=[{"id": f"m{i}", "demand": 5, "shortfall_penalty": 100, "stockpile": {"holding_cost": 0.1,
                    "target": 2, "target_penalty": 5}} for i in range(6)],
        sources=[{"id": f"s{i}-{j}", "material": f"m{i}", "region": ["china", "allied", "domestic"][j],
                  "country": ["CN", "AU", "US"][j], "price": 10 + i + j, "capacity": 4} for i in range(6)
                 for j in range(3)],
    )
    other = copy.deepcopy(many)
    for src in other["sources"]:
        src["price"] = 30 - src["price"]
    big = render(diff_folders(solve_to(tmp_path / "a", many), solve_to(tmp_path / "b", other)), "md")
    assert len(big.splitlines()) <= 60, big
    assert "more input changes (`--format json` lists all)" in big


def test_json_format_parses(folders):
    """--format json is valid JSON with every section, unabridged."""
    proc = invoke("diff", str(folders["old"]), str(folders["new"]), "--format", "json")
    assert proc.exit_code == 0, proc.output
    data = json.loads(proc.stdout)
    assert data["changed"] is True and data["old"] == "old" and data["new"] == "new"
    assert {"headline", "purchases", "sources", "stockpile", "tables", "inputs", "notes"} <= set(data)
    assert data["inputs"][0]["path"] == "scenarios[embargo].events[0]"
    text = render(diff_folders(folders["old"], folders["new"]), "text")
    assert text.startswith("Plan diff: old -> new") and "Input changes (1):" in text


def test_tolerance_hides_plan_changes_never_input_changes(folders):
    """A price change of 1e-4 moves the plan by less than 0.01: with --tolerance 0.01 the plan changes are
    hidden, the input change is still listed and --fail-on-change still exits 1."""
    d = diff_folders(folders["old"], folders["price"])
    assert d.changed and [c["path"] for c in d.inputs] == ["sources[cn].price"]
    assert "`sources[cn].price`: 10 → 10.0001" in render(d, "md")
    quiet = diff_folders(folders["old"], folders["price"], tolerance=0.01)
    assert not quiet.purchases and not quiet.stockpile and not any(r["changed"] for r in quiet.headline)
    assert [c["path"] for c in quiet.inputs] == ["sources[cn].price"] and quiet.changed
    md = render(quiet, "md")
    assert "`sources[cn].price`: 10 → 10.0001" in md and "No change" not in md and "identical" not in md
    proc = invoke("diff", str(folders["old"]), str(folders["price"]), "--tolerance", "0.01", "--fail-on-change")
    assert proc.exit_code == 1, proc.output
    assert invoke("diff", str(folders["old"]), str(folders["same"]), "--tolerance", "0.01",
                  "--fail-on-change").exit_code == 0


def test_readme_tolerance_example_shows_every_input_change(folders, tmp_path):
    """README: `optimize diff OLD NEW --tolerance 1 --fail-on-change`. Rates, shares, probabilities and the
    aversion all move by less than 1; every one is listed, and the inputs are never called identical."""
    changed = copy.deepcopy(BASE)
    changed["policies"][0]["rate"] = 1.2
    changed["scenarios"] = [{"name": "base", "probability": 0.5}, {"name": "embargo", "probability": 0.5,
                                                                    "events": []}]
    changed["risk"] = {"aversion": 0.3}
    new = solve_to(tmp_path / "new", changed)
    readme = (ROOT / "README.md").read_text()
    assert "optimize diff OLD NEW --tolerance 1 --fail-on-change" in readme
    proc = run_cli("diff", str(folders["old"]), str(new), "--tolerance", "1", "--fail-on-change")
    assert proc.returncode == 1, proc.stderr
    for path in ("policies[us-tariff].rate", "scenarios[base].probability", "scenarios[embargo].probability",
                 "risk.aversion"):
        assert f"`{path}`" in proc.stdout, proc.stdout
    assert "identical" not in proc.stdout and "No change" not in proc.stdout


def test_input_paths_use_ids_and_names():
    """List items are addressed by id or name; lists without them by index; long series in one line."""
    old = {"sources": [{"id": "cn-dy", "price": 350000}], "policies": [{"type": "ban"}],
           "materials": [{"id": "dy", "demand": [1, 2, 3, 4, 5]}], "risk": {"aversion": 0.1}}
    new = {"sources": [{"id": "cn-dy", "price": 400000}, {"id": "au", "price": 1}],
           "policies": [{"type": "ban"}, {"type": "tariff", "rate": 1}],
           "materials": [{"id": "dy", "demand": [2, 3, 4, 5, 6]}], "risk": {"aversion": 0.1}}
    got = {c["path"]: c["change"] for c in input_changes(old, new)}
    assert got == {"sources[cn-dy].price": "changed", "sources[au]": "added", "policies[1]": "added",
                   "materials[dy].demand": "changed"}


def test_bad_folders_exit_1_without_traceback(tmp_path, folders):
    """A missing folder, a folder that is not a result folder and a broken summary: exit 1, clear message."""
    from optimizer.diff import ResultFolderError

    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    for bad, words in ((tmp_path / "nope", "no such folder"), (tmp_path / "empty", "summary.json is missing"),
                       (broken, "summary.json:1: not valid JSON")):
        with pytest.raises(ResultFolderError, match=words):
            load_folder(bad)
    proc = run_cli("diff", str(folders["old"]), str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "summary.json is missing" in proc.stderr and "Traceback" not in proc.stderr


def _edited(folders, tmp_path, edit) -> Path:
    """A copy of the `new` folder with one file edited by `edit(folder)`."""
    import shutil

    copy_ = tmp_path / "edited"
    shutil.copytree(folders["new"], copy_)
    edit(copy_)
    return copy_


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize("edit, message", [
    (lambda f: _replace(f / "purchases.csv", "quantity", "qty"),
     r"purchases.csv:1: no column quantity; unknown column qty \(the header of the purchases table is"),
    (lambda f: _replace(f / "stockpile.csv", "level,", ""),
     r"stockpile.csv:1: no column level \("),
    (lambda f: (f / "purchases.csv").write_bytes((f / "purchases.csv").read_bytes()[:-7]),
     r"purchases.csv:\d+: the file ends in the middle of a line: truncated\?"),
    (lambda f: (f / "stockpile.csv").write_text("\n".join((f / "stockpile.csv").read_text().splitlines()[:3])
                                                + "\nbase,2026-10,dy\n"),
     r"stockpile.csv:4: expected 9 values, got 3: a short or long row"),
    (lambda f: (f / "stockpile.csv").write_text("\n".join((f / "stockpile.csv").read_text().splitlines()[:3])
                                                + "\n\n"),
     r"stockpile.csv:4: an empty line"),
    (lambda f: (f / "purchases.csv").write_text(""), r"purchases.csv is empty \(not even a header line\)"),
    (lambda f: _replace(f / "prices.csv", "\n", "\nbase,2026-01,dy,abc\n"),
     r"prices.csv:2: column shadow_price has a non-number 'abc'"),
    (lambda f: (f / "scenario.json").unlink(), r"edited/scenario.json is missing: the input changes cannot be told"),
    (lambda f: (f / "scenario.json").write_text('{"name": "x"'), r"scenario.json:1: not valid JSON"),
    (lambda f: (f / "scenario.json").write_text("[1]"), r"scenario.json is not a scenario"),
    (lambda f: (f / "expansion.csv").unlink(), r"edited has no expansion table \(expansion.csv or expansion.parquet\)"),
    (lambda f: (f / "summary.json").unlink(), r"edited is not a result folder: summary.json is missing"),
], ids=["renamed-column", "dropped-column", "truncated-mid-line", "short-row", "empty-line", "empty-file",
        "non-number", "no-scenario-json", "broken-scenario-json", "scenario-json-not-object", "missing-table",
        "missing-summary"])
def test_diff_validates_both_folders(folders, tmp_path, edit, message):
    """A hand-edited or truncated result folder: exit 1 naming the file (and line), never a diff that
    reports every row removed or the inputs the same."""
    bad = _edited(folders, tmp_path, edit)
    for args in ((str(folders["old"]), str(bad)), (str(bad), str(folders["old"]))):
        proc = invoke("diff", *args)
        assert proc.exit_code == 1, proc.output
        assert re.search(message, proc.output), proc.output
        assert "Plan diff" not in proc.output and "Traceback" not in proc.output


def test_symlink_loop_folder(tmp_path, folders):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    proc = invoke("diff", str(folders["old"]), str(loop))
    assert proc.exit_code == 1 and "is a symlink loop" in proc.output
