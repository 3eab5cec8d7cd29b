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
    assert "Expected spend by region" in proc.stdout and "Top" in proc.stdout
    out = tmp_path / "results" / "tiny"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["expansion.csv", "prices.csv", "processing.csv", "purchases.csv", "run.json",
                     "scenario.json", "stockpile.csv", "summary.json"]
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
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


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
    """Solution.write swaps the new folder in; no temporary folders are left beside it."""
    import optimizer

    sol = optimizer.solve(EMBARGO)
    target = tmp_path / "res"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    sol.write(target)
    assert not (target / "stale.txt").exists() and (target / "summary.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_failed_write_leaves_previous_results(tmp_path, monkeypatch):
    """If writing fails half-way, the previous folder is intact and the temporary folder removed."""
    import optimizer
    from optimizer import export

    sol = optimizer.solve(EMBARGO)
    target = tmp_path / "res"
    sol.write(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "swap_into_place", broken)
    with pytest.raises(OSError):
        sol.write(target)
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
