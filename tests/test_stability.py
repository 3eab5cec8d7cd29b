"""Stable re-plans: --baseline keeps the schedule close to the previous plan within the gap."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

import optimizer
from test_cli import run_cli, write_scenario


def many_equal_sources() -> dict:
    """4 materials x 3 equally priced sources with capacities and free storage: many optimal plans."""
    mats, srcs = [], []
    for i in range(4):
        mats.append({"id": f"m{i}", "demand": [10, 14, 9, 12, 11, 13], "shortfall_penalty": 1000,
                     "stockpile": {"capacity": 30}})
        for j, region in enumerate(["domestic", "allied", "other"]):
            srcs.append({"id": f"s{i}{j}", "material": f"m{i}", "region": region, "country": "US" if j == 0 else "CA",
                         "price": [20, 20, 21, 21, 20, 20], "capacity": 12})
    return {"name": "stab", "home_country": "US", "horizon": {"start": "2026-01", "periods": 6},
            "materials": mats, "sources": srcs}


def moved_rows(old: pd.DataFrame, new: pd.DataFrame) -> int:
    a = old.set_index(["scenario", "period", "source"])["quantity"]
    b = new.set_index(["scenario", "period", "source"])["quantity"]
    joined = pd.concat([a, b], axis=1).fillna(0.0)
    return int(((joined.iloc[:, 0] - joined.iloc[:, 1]).abs() > 1e-6).sum())


def test_one_percent_price_change_moves_far_fewer_rows_with_baseline(tmp_path):
    """A 1 % price rise on one source reshuffles the free re-plan; with --baseline (gap 0.1 %) the
    schedule stays (far fewer changed rows) and the objective is within the gap of the optimum."""
    base = many_equal_sources()
    old = optimizer.solve(base)
    old.write(tmp_path / "old")
    changed = copy.deepcopy(base)
    changed["sources"][4]["price"] = [p * 1.01 for p in changed["sources"][4]["price"]]
    free = optimizer.solve(changed)
    stable = optimizer.solve(changed, baseline=tmp_path / "old", stability_gap=0.001)
    assert moved_rows(old.purchases, stable.purchases) * 4 <= moved_rows(old.purchases, free.purchases)
    assert free.objective <= stable.objective <= free.objective * (1.001 + 1e-8)  # + solver tolerance
    info = stable.summary["stability"]
    assert info["l1_distance"] < info["l1_distance_optimal"]


def test_baseline_equal_to_plan_changes_nothing(tmp_path):
    """Re-planning the same scenario against its own results keeps every purchase (distance 0)."""
    base = many_equal_sources()
    path = write_scenario(tmp_path / "s.yaml", base)
    assert run_cli(str(path), "--out", str(tmp_path / "a"), "-q").returncode == 0
    proc = run_cli(str(path), "--out", str(tmp_path / "b"), "-q", "--baseline", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a" / "purchases.csv").read_bytes() == (tmp_path / "b" / "purchases.csv").read_bytes()
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["stability"]["l1_distance"] == pytest.approx(0.0, abs=1e-6)


def test_baseline_must_be_a_result_folder(tmp_path):
    """A --baseline folder without purchases.csv is bad input (exit 1)."""
    path = write_scenario(tmp_path / "s.yaml", many_equal_sources())
    proc = run_cli(str(path), "--out", str(tmp_path / "o"), "--baseline", str(tmp_path))
    assert proc.returncode == 1 and "not a result folder" in proc.stderr


def test_closest_plan_is_the_cheapest_of_the_closest(tmp_path, root):
    """Issue 11 item 8, on the shipped baseline with two prices +1 %: the baseline's purchases can be
    kept exactly (distance 0), and the stable plan must then cost exactly what the best plan with
    those purchases fixed costs - not whatever the gap allows (before the fix it spent the whole
    0.1 % gap, ~45 M USD, where keeping the purchases costs ~8 M USD more than the optimum).
    `cost_of_stability` is that cost against the free optimum."""
    from optimizer.data import build_data
    from optimizer.loader import read_yaml
    from optimizer.model.lp import formulate
    from optimizer.solve import SolverSession
    from optimizer.stability import baseline_targets, read_baseline

    raw, _ = read_yaml(root / "scenarios" / "baseline.yaml")
    optimizer.solve(copy.deepcopy(raw)).write(tmp_path / "old")
    changed = copy.deepcopy(raw)
    for src in changed["sources"]:
        if src["id"] in ("ca-nickel", "be-antimony"):
            assert isinstance(src["price"], (int, float))
            src["price"] *= 1.01
    free = optimizer.solve(copy.deepcopy(changed))
    stable = optimizer.solve(copy.deepcopy(changed), baseline=tmp_path / "old", stability_gap=0.001)
    info = stable.summary["stability"]
    assert info["l1_distance"] == pytest.approx(0.0, abs=1e-6)
    form = formulate(build_data(optimizer.load_scenario(write_scenario(tmp_path / "c.yaml", changed))))
    keep = SolverSession(form.lp.standard_form())
    buy = form.lp.vars["buy"]
    keep.fix_columns(buy.cols, baseline_targets(form, read_baseline(tmp_path / "old")))
    kept = keep.solve()
    assert stable.objective == pytest.approx(kept.objective, rel=1e-9)
    assert info["cost_of_stability"] == pytest.approx(kept.objective - free.objective, rel=1e-6)
    assert 0 < info["cost_of_stability"] < 0.5 * 0.001 * free.objective
