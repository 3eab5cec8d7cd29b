"""Discrete decisions around the formulation (SPEC v2 sections 2, 4.5; issue 15): duals from the LP
with the integers fixed, variables only where asked, --mip-gap / --relax, time limits, infeasibility,
warm re-solves and validation. The hand-worked MILPs themselves (minimum order, fixed cost, modules,
a module decision shared before a split) are in test_lp_families.py with the other families.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import scenario
from optimizer.cli import app
from test_lp_families import (FEB, JAN, assert_bought, assert_objective, bought, close, fixed_cost_case, horizon,
                              min_order_case, module_case, solve_with, src)

TOL = 1e-6


# --- duals, outputs, CLI ----------------------------------------------------------------------------


def test_shadow_prices_come_from_the_lp_with_integers_fixed_and_say_so():
    """The fixed-cost case: with the order fixed at January (1) and February (0), the LP left buys 6 in
    January. One more unit of demand in February is met by one more January unit held a month:
    10 + 1 = 11 (the fixed cost is sunk once the order is fixed). In January: 10."""
    sol = solve_with(fixed_cost_case())
    prices = {r.period: float(r.shadow_price) for r in sol.prices.itertuples()}
    assert prices == pytest.approx({JAN: 10, FEB: 11})
    assert "fixed" in sol.summary["mip"]["shadow_prices"]


def test_scenario_without_discrete_fields_is_the_same_lp_as_with_them_at_zero():
    """Variables only where asked: zeros written out give the very same program (no integer columns)
    and the same result bytes, and summary.json says it is an LP (mip_gap and best_bound null)."""
    from optimizer.data import build_data
    from optimizer.model.lp import formulate
    from optimizer.spec import Scenario

    plain = scenario(sources=[src("us", "domestic", "US", 10, capacity=20, expansion={"max": 5, "capex": 1})])
    zeros = scenario(sources=[src("us", "domestic", "US", 10, capacity=20, min_order=0, fixed_cost=0,
                                  expansion={"max": 5, "capex": 1, "unit": 0})])
    forms = [formulate(build_data(Scenario.model_validate(doc))).lp for doc in (plain, zeros)]
    assert forms[0].integer_mask() is None and forms[1].integer_mask() is None
    assert list(forms[0].vars) == list(forms[1].vars) and list(forms[0].rows) == list(forms[1].rows)
    a, b = (solve_with(doc) for doc in (plain, zeros))
    assert a.summary == b.summary
    assert a.summary["mip_gap"] is None and a.summary["best_bound"] is None and "mip" not in a.summary


def test_cli_mip_gap_relax_and_summary(tmp_path):
    """`--mip-gap` and `--relax` reach the solver; the terminal shows the gap or the relaxation, and
    the report says what the shadow prices are of."""
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(module_case()))
    runner = CliRunner()
    res = runner.invoke(app, [str(path), "--out", str(tmp_path / "milp"), "--mip-gap", "0.01", "--report"])
    assert res.exit_code == 0, res.output
    assert "MIP gap" in res.output and "shadow prices" in res.output
    assert "every order and module fixed" in (tmp_path / "milp" / "report.html").read_text()
    summary = json.loads((tmp_path / "milp" / "summary.json").read_text())
    assert close(summary["objective"], 68) and summary["mip_gap"] <= 0.01
    res = runner.invoke(app, [str(path), "--out", str(tmp_path / "lp"), "--relax"])
    assert res.exit_code == 0, res.output
    assert "LP relaxation" in res.output
    summary = json.loads((tmp_path / "lp" / "summary.json").read_text())
    assert close(summary["objective"], 66) and summary["mip"]["relaxed"] is True


def test_time_limit_writes_the_incumbent_with_its_gap_and_exits_3(tmp_path, monkeypatch):
    """HiGHS stopping at the time limit holding an incumbent (forced here: the status is rewritten)
    writes that plan with status time_limit and its gap, and the CLI exits 3."""
    import yaml

    from optimizer.solve import SolverSession, SolveStatus

    real = SolverSession._status

    def limited(self):
        status = real(self)
        return SolveStatus.TIME_LIMIT if status is SolveStatus.OPTIMAL and self.is_mip else status

    monkeypatch.setattr(SolverSession, "_status", limited)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(module_case()))
    res = CliRunner().invoke(app, [str(path), "--out", str(tmp_path / "out"), "--time-limit", "5"])
    assert res.exit_code == 3, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "time_limit" and close(summary["objective"], 68)
    assert summary["mip_gap"] is not None and summary["best_bound"] <= 68 + TOL


def test_infeasible_milp_is_explained_with_the_relaxation_named():
    """Hard target 3 in January, budget 40, us price 10 and min_order 5: the relaxation buys 3 for
    30, but any whole order costs at least 50. The relaxation is feasible, so the explanation says
    the whole-number decisions make the plan infeasible and names the minimum order."""
    doc = scenario(
        horizon=horizon(1),
        materials=[{"id": "dy", "stockpile": {"target": 3, "hard_target": True}}],
        sources=[src("us", "domestic", "US", 10, capacity=10, min_order=5)],
        budgets=[{"name": "b", "amount": 40}],
    )
    sol = solve_with(doc, status="infeasible")
    assert "relaxation" in sol.explanation and "us" in sol.explanation and "min_order" in sol.explanation
    doc["budgets"][0]["amount"] = 20  # now even the relaxation is infeasible: explained from it
    sol = solve_with(doc, status="infeasible")
    assert "linear relaxation" in sol.explanation and "budget b" in sol.explanation


def test_planner_price_update_re_solves_the_milp():
    """The min-order case in a Planner: at price 10 it buys the lot of 5 (50 < 300); repriced to 70
    the lot costs 350 > the shortfall's 300, so it buys nothing; back at 10 it buys 5 again."""
    from optimizer.planner import Planner
    from optimizer.spec import Scenario

    planner = Planner(Scenario.model_validate(min_order_case(100)))
    assert_bought(planner.solve(), {(JAN, "us"): 5})
    planner.update_prices({"us": 70.0})
    sol = planner.solve()
    assert sol.status == "optimal" and bought(sol) == {}
    assert_objective(sol, 300)
    planner.update_prices({"us": 10.0})
    assert_objective(planner.solve(), 50)


# --- validation (SPEC 2) ---------------------------------------------------------------------------


def test_discrete_fields_are_validated_all_at_once_with_paths_and_lines(tmp_path):
    """min_order / fixed_cost on a source with no capacity (no finite supply bound), a negative
    min_order and a module larger than expansion.max: one message each, all at once, with field path
    and line, exit 1 before any solving, no folder written."""
    from test_validation import problems_of

    text = """\
name: bad
home_country: US
horizon: {start: 2026-01, periods: 4, period: quarter}
materials:
  - {id: dy, demand: 10, shortfall_penalty: 1000}
sources:
  - {id: us, material: dy, region: domestic, country: US, price: 10, min_order: 5, fixed_cost: 3}
  - {id: jp, material: dy, region: allied, country: JP, price: 10, capacity: 5, min_order: -1}
  - id: au
    material: dy
    region: allied
    country: AU
    price: 10
    capacity: 5
    expansion: {max: 4, capex: 1, unit: 6}
"""
    msgs = problems_of(text)
    assert len(msgs) == 4, msgs
    joined = "\n".join(msgs)
    for path, line in (("sources[0].min_order", ":7:"), ("sources[0].fixed_cost", ":7:"),
                       ("sources[1].min_order", ":8:"), ("sources[2].expansion.unit", ":15:")):
        assert any(path in m and line in m for m in msgs), (path, line, joined)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    res = CliRunner().invoke(app, [str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_milp_result_bytes_do_not_depend_on_threads(tmp_path):
    """Same input, same bytes (SPEC 4.5): the shipped budget-squeeze MILP (minimum lots, fixed costs,
    a nonzero gap) with 1 and 2 threads."""
    from conftest import ROOT

    folders = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        res = CliRunner().invoke(app, [str(ROOT / "scenarios" / "budget-squeeze.yaml"), "--out", str(out), "-q",
                                       "--threads", threads])
        assert res.exit_code == 0, res.output
        folders.append(out)
    names = sorted(p.name for p in folders[0].iterdir() if p.name != "run.json")
    assert "summary.json" in names and "purchases.csv" in names
    for name in names:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name


def test_pyomo_route_declares_the_integers_and_agrees():
    """The labelled Pyomo model has `order` / `modules` variables within Integers, and its compiled
    form solves to the same summary as the array route (the shared-module tree case, 89)."""
    import pyomo.environ as pyo

    from optimizer.pipeline import build_model, solve
    from optimizer.spec import Scenario
    from test_lp_families import surge_case

    sc = Scenario.model_validate(surge_case())
    model = build_model(sc)
    assert model.modules_source_node.is_indexed()
    assert all(v.domain is pyo.Integers for v in model.modules_source_node.values())
    direct, pyomo_route = solve(sc), solve(sc, route="pyomo")
    assert close(direct.objective, 89) and direct.summary == pyomo_route.summary
