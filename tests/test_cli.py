"""Command line: exit codes, summary, result folder, determinism and atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml as pyyaml

from conftest import ROOT, scenario

EMBARGO = scenario(
    horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
    materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000, "stockpile": {"initial": 0, "holding_cost": 1}}],
    sources=[
        {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10, "capacity": 30},
        {"id": "au", "material": "dy", "region": "allied", "country": "AU", "price": 25},
    ],
    policies=[{"type": "tariff", "rate": 1.0, "where": {"country": "CN"}}],
    scenarios=[
        {"name": "base", "probability": 0.6},
        {"name": "ban", "probability": 0.4, "events": [{"type": "ban", "where": {"region": "china"}, "from": "2026-07"}]},
    ],
)


def write_scenario(path: Path, data: dict) -> Path:
    path.write_text(pyyaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120"})


def test_optimize_scenario_writes_folder_and_summary(tmp_path):
    """`optimize FILE` (the bare form) solves, prints a summary and writes results/<name>/."""
    path = write_scenario(tmp_path / "embargo.yaml", EMBARGO)
    proc = run_cli(str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "optimal" in proc.stdout and "830.00 USD" in proc.stdout
    assert "of which money" in proc.stdout and "of which penalties" in proc.stdout
    assert "Decide now" in proc.stdout and "by region" in proc.stdout
    out = tmp_path / "results" / "tiny"
    names = sorted(p.name for p in out.iterdir())
    assert names == [".optimize-result", "expansion.csv", "prices.csv", "processing.csv", "purchases.csv",
                     "run.json", "scenario.json", "stockpile.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["objective"] == pytest.approx(830.0)
    assert len(summary["scenario_sha256"]) == 64
    run = json.loads((out / "run.json").read_text())
    assert run["versions"]["highs"] == "1.15.1" and "solve" in run["timings_seconds"]
    assert proc.stderr == ""  # no progress when stderr is not a terminal


def test_json_flag_and_quiet(tmp_path):
    """--json prints summary.json; --quiet prints nothing."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    proc = run_cli(str(path), "--out", str(tmp_path / "a"), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["objective"] == pytest.approx(830.0)
    proc = run_cli(str(path), "--out", str(tmp_path / "b"), "--quiet")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_results_are_byte_identical_across_runs_and_threads(tmp_path):
    """Same input three times (threads 1 and 2, and through the labelled Pyomo model) gives the same
    bytes except run.json."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    runs = [("a", "--threads", "1"), ("b", "--threads", "2"), ("c", "--route", "pyomo")]
    for name, *opts in runs:
        assert run_cli(str(path), "--out", str(tmp_path / name), "-q", *opts).returncode == 0
    for f in (tmp_path / "a").iterdir():
        if f.name != "run.json":
            assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
            assert f.read_bytes() == (tmp_path / "c" / f.name).read_bytes(), f.name


def test_bad_input_exit_1_no_traceback_and_old_results_kept(tmp_path):
    """Invalid scenario: exit 1, messages with line numbers, no traceback, previous results untouched."""
    good = write_scenario(tmp_path / "s.yaml", EMBARGO)
    out = tmp_path / "out"
    assert run_cli(str(good), "--out", str(out), "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("price: 10", "price: -10").replace("region: allied", "region: alied"))
    proc = run_cli(str(bad), "--out", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "sources[0].price" in proc.stderr and "did you mean `allied`" in proc.stderr
    assert f"{bad}:" in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_validate_schema_version_help():
    """validate / schema / --version / --help work and exit 0."""
    proc = run_cli("validate", str(ROOT / "scenarios" / "baseline.yaml"))
    assert proc.returncode == 0 and "valid" in proc.stdout
    schema = json.loads(run_cli("schema").stdout)
    assert "horizon" in schema["properties"] and "Source" in schema["$defs"]
    assert "HiGHS" in run_cli("--version").stdout
    assert "validate" in run_cli("--help").stdout


def test_missing_file_and_unknown_option_exit_1(tmp_path):
    """A missing file and an unknown option are bad input (exit 1) without traceback."""
    proc = run_cli(str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and "file not found" in proc.stderr and "Traceback" not in proc.stderr
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    proc = run_cli(str(path), "--bogus")
    assert proc.returncode == 1 and "No such option" in proc.stderr


def test_infeasible_hard_target_exits_2_with_explanation(tmp_path):
    """A hard target above the stock capacity is infeasible: exit 2, the material is named, nothing written."""
    data = scenario(materials=[{"id": "dy", "demand": 0, "stockpile": {"capacity": 5, "target": 8, "hard_target": True}}])
    path = write_scenario(tmp_path / "s.yaml", data)
    proc = run_cli(str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "infeasible" in proc.stderr and "dy" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unbounded_exits_2(tmp_path):
    """Selling above an unlimited source's price is unbounded: exit 2 naming the material."""
    data = scenario(materials=[{"id": "dy", "sale_price": 50}])
    proc = run_cli(str(write_scenario(tmp_path / "s.yaml", data)), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "unbounded" in proc.stderr and "dy" in proc.stderr


def test_write_replaces_folder_atomically(tmp_path):
    """Solution.write swaps the new folder in as a whole (a file added to a result folder goes with it);
    no temporary folders are left beside it."""
    import optimizer

    sol = optimizer.solve(EMBARGO)
    target = tmp_path / "res"
    sol.write(target)
    (target / "stale.txt").write_text("old")
    sol.write(target)
    assert not (target / "stale.txt").exists() and (target / "summary.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_failed_write_leaves_previous_results(tmp_path, monkeypatch):
    """If writing fails half-way, the previous folder is intact, the temporary folder removed, and the
    error names the folder and the reason (exit 1 from the command line)."""
    import optimizer
    from optimizer import destination

    sol = optimizer.solve(EMBARGO)
    target = tmp_path / "res"
    sol.write(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(destination, "swap_into_place", broken)
    with pytest.raises(destination.OutputPathError, match="res: no space left on device") as err:
        sol.write(target)
    assert err.value.exit_code == 1
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_release_warning_on_stderr_and_in_run_json(tmp_path):
    """SPEC 2 (v2): a soft target held through a ban with no release rule is a warning, not an error:
    `validate` and a run print it on stderr (exit 0) and the run records it in run.json; --quiet
    prints nothing. Adding the release rule removes it."""
    data = scenario(
        horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 250,
                    "stockpile": {"initial": 20, "target": 20, "target_penalty": 100}}],
        scenarios=[{"name": "calm", "probability": 0.5},
                   {"name": "cut", "probability": 0.5,
                    "events": [{"type": "ban", "name": "us-ban", "where": {"source": "us"}, "from": "2026-04"}]}],
    )
    path = write_scenario(tmp_path / "s.yaml", data)
    checked = run_cli("validate", str(path))
    assert checked.returncode == 0 and "valid" in checked.stdout
    assert checked.stderr.startswith("warning: scenarios[cut].events[us-ban]: in scenario cut, rule `us-ban`")
    proc = run_cli(str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0 and proc.stderr == checked.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["warnings"] == [checked.stderr[len("warning: "):].rstrip("\n")]
    assert run_cli(str(path), "--quiet", "--out", str(tmp_path / "out")).stderr == ""
    data["scenarios"][1]["events"].append({"type": "release", "where": {"material": "dy"}, "from": "2026-04"})
    assert run_cli("validate", str(write_scenario(tmp_path / "s.yaml", data))).stderr == ""


# --- the command line itself: hints, validate like a run, file lists, one exit-code table ---------------


def test_mistyped_command_gets_a_hint(tmp_path):
    """`optimize valdate` is not a scenario file: exit 1 with "did you mean `validate`?"."""
    proc = run_cli("valdate", "s.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "no command `valdate`; did you mean `validate`?" in proc.stderr
    proc = run_cli("nope.yaml", cwd=tmp_path)  # a path: a run of a missing file, no hint
    assert proc.returncode == 1 and "did you mean" not in proc.stderr and "not found" in proc.stderr


def test_validate_takes_set_and_prices_like_a_run(tmp_path):
    """`optimize validate` applies --set and --prices as a run does and reports their problems (exit 1)."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("source,price\ncn,11\n")
    bad.write_text("source,price\nnope,11\n")
    proc = run_cli("validate", str(path), "--set", "risk.aversion=0.5", "--prices", str(good))
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stderr
    proc = run_cli("validate", str(path), "--set", "risk.aversion=2")
    assert proc.returncode == 1 and "risk.aversion" in proc.stderr
    proc = run_cli("validate", str(path), "--prices", str(bad))
    assert proc.returncode == 1 and f"{bad}:2:1" in proc.stderr and "unknown source `nope`" in proc.stderr


def test_file_lists_are_spread_over_the_option():
    """`--prices a b -q` is `--prices a --prices b -q`; a list ends at an option or `--`."""
    from optimizer.cli import spread_file_lists

    opts = ("--prices",)
    assert spread_file_lists(["S", "--prices", "a", "b", "c", "-q"], opts) == [
        "S", "--prices", "a", "--prices", "b", "--prices", "c", "-q"]
    assert spread_file_lists(["--prices=a", "b", "--out", "o", "x"], opts) == ["--prices=a", "--prices", "b",
                                                                           "--out", "o", "x"]
    assert spread_file_lists(["--prices", "a", "--", "S"], opts) == ["--prices", "a", "--", "S"]


def test_sweep_prices_take_a_shell_glob(tmp_path):
    """`sweep S --prices a.csv b.csv` and `--prices=a.csv b.csv` (what `prices/*.csv` expands to) work."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    for name, price in (("a", 11), ("b", 12)):
        (tmp_path / f"{name}.csv").write_text(f"source,price\ncn,{price}\n")
    for first in (["--prices", "a.csv"], ["--prices=a.csv"]):
        proc = run_cli("sweep", str(path), *first, "b.csv", "--out", "sw", "-q", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in (tmp_path / "sw").iterdir()) == [".optimize-result", "a", "b", "sweep.csv"]


def test_every_outcome_has_one_exit_code():
    """One table maps every solver status and every domain error to its exit code."""
    from optimizer.destination import OutputPathError
    from optimizer.diff import ResultFolderError
    from optimizer.errors import EXIT_CODES, InfeasibleError, ScenarioError, SolveError, TimeLimitError, UsageError
    from optimizer.solve import SolveStatus

    assert {status.outcome for status in SolveStatus} <= set(EXIT_CODES)
    assert sorted(EXIT_CODES.values()) == [0, 1, 2, 3, 4, 130, 143]
    for error, code in ((ScenarioError([]), 1), (UsageError("x"), 1), (ResultFolderError("x"), 1),
                        (OutputPathError("x"), 1),
                        (InfeasibleError("x"), 2), (TimeLimitError("x"), 3), (SolveError("x"), 4)):
        assert error.exit_code == code == EXIT_CODES[error.outcome]


def test_no_private_typer_or_click_imports():
    """The command line uses Typer's public interface only."""
    for path in (ROOT / "optimizer").rglob("*.py"):
        text = path.read_text()
        assert "typer._" not in text and "_click" not in text and "import click" not in text, path


# --- sweeps: exit codes, one folder, readable names, plain numbers ---------------------------------------


def test_sweep_variant_names_are_readable_and_unique(tmp_path):
    """Folder names: the price file's stem and `<field>-<value>` per grid; equal names get -2, -3."""
    from optimizer.sweep import make_variants

    names = [v.name for v in make_variants(set_grid=["sources[cn-dysprosium].price=300,350.5,.5,1e6",
                                                     "risk.aversion=0.5"])]
    assert names == ["price-300_aversion-0.5", "price-350.5_aversion-0.5", "price-0.5_aversion-0.5",
                     "price-1000000_aversion-0.5"]
    assert [v.name for v in make_variants(set_grid=["sources[cn].price=1", "sources[au].price=2"])] == [
        "cn-price-1_au-price-2"]
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    files = [tmp_path / "x" / "a.csv", tmp_path / "y" / "a.csv", tmp_path / "a-2.csv", tmp_path / "q1.2027 v2.csv"]
    assert [v.name for v in make_variants(files)] == ["a", "a-3", "a-2", "q1.2027-v2"]
    long = make_variants(set_grid=["materials[dy].demand={" + ", ".join(f"{2026 + i}-01: {i}" for i in range(40))
                                   + "}"])
    assert len(long[0].name) <= 100 and long[0].name.startswith("demand-2026-01-0-2027-01-1")
    for v in make_variants(files, set_grid=["materials[0].stockpile.target={2026-01: 0, 2027-01: 30},{2026-01: 5}",
                                            "risk.alpha=[1,2],[3,4]"]):
        assert not any(bad in v.name for bad in ("-.", ".-", "..", "--")) and not v.name.startswith(".")


def test_set_grid_splits_on_top_level_commas_only():
    from optimizer.sweep import split_values

    assert split_values("{2026-01: 0, 2027-01: 30},{2026-01: 5}") == ["{2026-01: 0, 2027-01: 30}", "{2026-01: 5}"]
    assert split_values("[1,2],[3,4]") == ["[1,2]", "[3,4]"]
    assert split_values("0, 0.5,,1") == ["0", "0.5", "1"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]


def test_sweep_exit_code_precedence():
    """Bad input (1) before a solver failure (4) before infeasible (2) before a time limit (3)."""
    from optimizer.sweep import sweep_exit_code

    assert sweep_exit_code(["optimal", "optimal"]) == 0
    assert sweep_exit_code(["optimal", "time_limit", "infeasible"]) == 2
    assert sweep_exit_code(["unbounded", "error"]) == 4
    assert sweep_exit_code(["bad_input", "error", "infeasible"]) == 1


def test_sweep_with_bad_or_infeasible_variants(tmp_path):
    """A bad price file: exit 1 and its problem on stderr, the other variants solved; an infeasible
    variant (a stockpile mapping in --set-grid, split at top-level commas only): exit 2."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    (tmp_path / "good.csv").write_text("source,price\ncn,11\n")
    (tmp_path / "bad.csv").write_text("source,price\nnope,11\n")
    proc = run_cli("sweep", str(path), "--prices", "good.csv", "bad.csv", "--out", "sw", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert "variant bad: 1 problem in bad.csv" in proc.stderr and "unknown source `nope`" in proc.stderr
    table = (tmp_path / "sw" / "sweep.csv").read_text().splitlines()
    assert table[1].startswith("good,optimal,") and table[2].startswith("bad,bad_input,")
    grid = ("materials[dy].stockpile={capacity: 5, target: 8, hard_target: true},"
            "{capacity: 20, target: 8, hard_target: true}")
    proc = run_cli("sweep", str(path), "--set-grid", grid, "--out", "sw2", "-q", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    statuses = [line.split(",")[1] for line in (tmp_path / "sw2" / "sweep.csv").read_text().splitlines()[1:]]
    assert statuses == ["infeasible", "optimal"]


def test_sweep_folder_is_replaced_as_one_unit_with_plain_numbers(tmp_path):
    """A second sweep into the same folder leaves no folder of the first beside its sweep.csv; money of
    tens of billions is written in plain decimal, in sweep.csv and in the variant folders."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    (tmp_path / "a.csv").write_text("source,price\ncn,11\n")
    (tmp_path / "b.csv").write_text("source,price\ncn,12\n")
    assert run_cli("sweep", str(path), "--prices", "a.csv", "b.csv", "--out", "sw", "-q", cwd=tmp_path).returncode == 0
    proc = run_cli("sweep", str(path), "--set-grid", "materials[dy].demand=1000000000", "--out", "sw", "-q",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "sw"
    assert sorted(p.name for p in out.iterdir()) == [".optimize-result", "demand-1000000000", "sweep.csv"]
    row = dict(zip(*[line.split(",") for line in (out / "sweep.csv").read_text().splitlines()]))
    assert float(row["objective"]) > 1e10 and "e" not in row["objective"]
    for csv in [out / "sweep.csv", *(out / "demand-1000000000").glob("*.csv")]:
        assert "e+" not in csv.read_text() and "e-0" not in csv.read_text(), csv
