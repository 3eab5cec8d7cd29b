"""The product's decision analytics (SPEC section 7, issue 14) against the independent re-solves of
tests/reference_analytics.py: `optimize SCENARIO.yaml --analyze` writes `analysis.json` with SPEC 7's
key names; wait-and-see, EVPI, the reference scenario, EEV and value of hedging must agree to 1e-6
relative; cost_of_risk_aversion and stockpile_money must lie in the reference's interval over all
optimal plans; the price ranges of 7.4 must match a brute-force bisection on the product's own plan
to 1e-3 relative. Skipped until `optimize` takes `--analyze`.

SPEC 7 names the keys but not the inner shape of `wait_and_see`: a number (WS) or a mapping with
the value and the per-scenario WS_k are both read (`ws_parts`).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import reference_analytics as ra
import reference_cases as cases
from product_cli import has_option, invoke, read_json, write_yaml
from reference_lp import resolve, solve_reference
from strategies import scenario_dicts

pytestmark = pytest.mark.skipif(not has_option("run", "--analyze"),
                                reason="decision analytics (issue 14) not built yet: `optimize` has no --analyze")

REL = 1e-6


def close(a: float | None, b: float | None, rel: float = REL, abs_: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_


def within(value: float, interval: tuple[float, float], scale: float) -> bool:
    lo, hi = interval
    slack = REL * max(1.0, abs(scale))
    return lo - slack <= value <= hi + slack


def explain(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True)


class Run:
    """What `optimize SCENARIO.yaml --analyze --out DIR` wrote."""

    def __init__(self, doc: dict, folder: Path) -> None:
        source = write_yaml(doc, folder / "scenario.yaml")
        out = folder / "result"
        result = invoke("run", source, "--analyze", "--out", out, "--quiet")
        self.exit_code = result.exit_code
        self.output = result.output
        self.summary = read_json(out / "summary.json") if (out / "summary.json").exists() else None
        self.analysis = read_json(out / "analysis.json") if (out / "analysis.json").exists() else None
        self.folder = out

    def table(self, name: str) -> list[dict]:
        path = self.folder / f"{name}.csv"
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def decisions(self, scenario: str) -> dict[tuple[str, str, str], float]:
        """(kind, id, period) -> buy / process (input) / build of one scenario, from the tables."""
        out: dict[tuple[str, str, str], float] = defaultdict(float)
        for row in self.table("purchases"):
            if row["scenario"] == scenario:
                out["buy", row["source"], row["period"]] += float(row["quantity"])
        for row in self.table("processing"):
            if row["scenario"] == scenario and row["flow"] == "input":
                out["process", row["processor"], row["period"]] += float(row["quantity"])
        for row in self.table("expansion"):
            if row["scenario"] == scenario:
                out["build", row["entity"], row["period"]] += float(row["built"])
        return dict(out)

    def plan(self, doc: dict) -> ra.Plan:
        """(kind, id, scenario, period index) -> buy / process / build of every scenario."""
        par = resolve(doc)
        label = {par.cal.label(t): t for t in range(par.T)}
        return {(kind, ident, name, label[period]): v
                for name in par.names for (kind, ident, period), v in self.decisions(name).items()}


def ws_parts(analysis: dict) -> tuple[float, dict[str, float] | None]:
    """(WS, {scenario: WS_k} or None) from `wait_and_see`, a number or a mapping."""
    ws = analysis["wait_and_see"]
    if isinstance(ws, (int, float)):
        return float(ws), None
    value = next(ws[k] for k in ("value", "ws", "objective", "total") if k in ws)
    per = next((ws[k] for k in ("scenarios", "per_scenario", "by_scenario") if k in ws), None)
    return float(value), per


def analysed(doc: dict, folder: Path) -> Run:
    run = Run(doc, folder)
    ref = solve_reference(doc)
    if ref.status != "optimal":
        assert run.exit_code != 0, explain(doc)
        assume(False)  # no optimum, nothing to analyse
    assert run.exit_code == 0 and run.analysis is not None, (run.output, explain(doc))
    return run


def check_analysis(doc: dict, run: Run) -> None:
    """Every figure of SPEC 7.1-7.3 against the reference re-solves."""
    a, objective = run.analysis, run.summary["objective"]
    assert a["first_split"] == ra.first_split_month(doc), explain(doc)
    # decide_now: the plan's decisions of the decide-now periods (shared by every scenario)
    par = resolve(doc)
    now = {par.cal.label(t) for t in ra.decide_now_periods(doc)}
    plan = {key: v for key, v in run.decisions(par.names[0]).items() if key[2] in now and abs(v) > 1e-9}
    listed = {(r["kind"], r["id"], r["period"]): r["quantity"] for r in a["decide_now"]}
    assert listed.keys() == plan.keys() and all(close(listed[k], plan[k]) for k in plan), (listed, plan, explain(doc))
    assert a["reference_scenario"] == ra.reference_scenario(doc), explain(doc)
    want = ra.wait_and_see(doc)
    ws, per = ws_parts(a)
    assert close(ws, want.value), (ws, want.value, explain(doc))
    if per is not None:
        assert per.keys() == want.per_scenario.keys()
        assert all(close(per[n], want.per_scenario[n]) for n in per), (per, want.per_scenario, explain(doc))
    assert close(a["evpi"], objective - want.value), (a["evpi"], objective, want.value, explain(doc))
    # REF need not be unique: the product's REF values must be an optimal plan of the reference
    # scenario alone, and EEV is then checked with exactly those values fixed.
    fix = ra.fixings_from_rows(doc, a["reference_decide_now"])
    ref_alone = solve_reference(ra.alone(doc, ra.reference_scenario(doc)), fixed=fix)
    assert ref_alone.status == "optimal", explain(doc)
    assert close(ref_alone.objective, want.per_scenario[ra.reference_scenario(doc)]), explain(doc)
    eev = ra.eev(doc, fix)
    assert close(a["eev"], eev), (a["eev"], eev, explain(doc))
    assert close(a["value_of_hedging"], None if eev is None else eev - objective), explain(doc)
    assert within(a["cost_of_risk_aversion"], ra.cost_of_risk_aversion(doc), objective), \
        (a["cost_of_risk_aversion"], ra.cost_of_risk_aversion(doc), explain(doc))
    assert within(a["stockpile_money"], ra.stockpile_money(doc), objective), \
        (a["stockpile_money"], ra.stockpile_money(doc), explain(doc))


def check_price_range(doc: dict, run: Run, source_id: str) -> None:
    """ranges.sources.<id>.{f_lo, f_hi} against the brute-force interval on the product's plan."""
    got = run.analysis["ranges"]["sources"][source_id]
    costs = {name: row["cost"] for name, row in run.summary["scenarios"].items()}
    f_lo, f_hi = ra.price_range(doc, source_id, costs, run.plan(doc))
    assert close(got["f_lo"], f_lo, rel=1e-3, abs_=1e-6), (got, f_lo, f_hi, explain(doc))
    if f_hi is None or got["f_hi"] is None:
        # unbounded in the reference means still optimal at F_MAX
        assert (got["f_hi"] is None or got["f_hi"] >= ra.F_MAX * (1 - 1e-3)) and f_hi is None, (got, f_hi)
    else:
        assert close(got["f_hi"], f_hi, rel=1e-3, abs_=1e-6), (got, f_lo, f_hi, explain(doc))


ANALYTICS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCENARIOS = st.one_of(scenario_dicts(max_periods=4, hedging=True), scenario_dicts(max_periods=4),
                      scenario_dicts(max_periods=4, hedging=True, v2=True))


@ANALYTICS
@given(doc=SCENARIOS)
def test_analytics_match_reference(doc, tmp_path_factory):
    """Random scenarios, mostly scenario trees that split after the first period(s)."""
    check_analysis(doc, analysed(doc, tmp_path_factory.mktemp("analyze")))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=scenario_dicts(max_periods=3, max_scenarios=2), data=st.data())
def test_price_ranges_match_brute_force(doc, data, tmp_path_factory):
    """One source's price-factor interval (SPEC 7.4) against bisection with full re-solves."""
    run = analysed(doc, tmp_path_factory.mktemp("ranges"))
    check_price_range(doc, run, data.draw(st.sampled_from([s["id"] for s in doc["sources"]])))


# --- hand-worked cases (derived in tests/reference_cases.py) --------------------------------------------


def test_two_scenario_embargo(tmp_path):
    """reference_cases.embargo_doc: EVPI 0.5, EEV 5,250, value of hedging 4,949, first split 2026-03,
    REF buys 10 in each decide-now month, cost of risk aversion 0."""
    doc = cases.embargo_doc()
    run = analysed(doc, tmp_path)
    a = run.analysis
    assert close(a["evpi"], 0.5) and close(a["eev"], 5250.0) and close(a["value_of_hedging"], 4949.0)
    assert a["first_split"] == "2026-03" and a["reference_scenario"] == "base"
    assert [(r["kind"], r["id"], r["period"], r["quantity"]) for r in a["reference_decide_now"]] == [
        ("buy", "us", "2026-01", pytest.approx(10.0)), ("buy", "us", "2026-02", pytest.approx(10.0))]
    assert close(a["cost_of_risk_aversion"], 0.0)
    check_analysis(doc, run)


def test_cost_of_risk_aversion(tmp_path):
    """reference_cases.averse_surge_doc without modules: 78 - 70 = 8."""
    run = analysed(cases.averse_surge_doc(unit=None), tmp_path)
    assert close(run.analysis["cost_of_risk_aversion"], 8.0)


def test_stockpile_money(tmp_path):
    """reference_cases.stockpile_money_doc: 240 - 200 = 40."""
    run = analysed(cases.stockpile_money_doc(), tmp_path)
    assert close(run.analysis["stockpile_money"], 40.0)


def test_price_ranges(tmp_path):
    """reference_cases.price_range_doc: a in [0, 2] (prices 0 and 20); b enters below f 0.5 (price
    10), f_hi unbounded."""
    doc = cases.price_range_doc()
    run = analysed(doc, tmp_path)
    ranges = run.analysis["ranges"]["sources"]
    assert close(ranges["a"]["f_lo"], 0.0) and close(ranges["a"]["f_hi"], 2.0, rel=1e-3)
    assert close(ranges["a"]["price_hi"], 20.0, rel=1e-3)
    assert close(ranges["b"]["f_lo"], 0.5, rel=1e-3) and ranges["b"]["f_hi"] is None
    assert close(ranges["b"]["price_lo"], 10.0, rel=1e-3)
    for source_id in ("a", "b"):
        check_price_range(doc, run, source_id)


@pytest.mark.parametrize(("amount", "f_hi"), [(100, 2.5), (40, 1.0)])
def test_price_range_ends_where_the_plan_breaks_a_budget(tmp_path, amount, f_hi):
    """reference_cases.budget_price_range_doc: the plan buys 4 at 10 and spends 40 f at factor f; on
    cost alone it would stay optimal up to f = 100, but beyond 40 f = amount it breaks the budget:
    f_hi = amount / 40 (2.5, price 25; or 1 where the budget binds), f_lo = 0."""
    doc = cases.budget_price_range_doc(amount)
    run = analysed(doc, tmp_path)
    assert run.summary["objective"] == pytest.approx(40.0)
    got = run.analysis["ranges"]["sources"]["a"]
    assert close(got["f_lo"], 0.0) and close(got["f_hi"], f_hi, rel=1e-3)
    assert close(got["price_hi"], 10 * f_hi, rel=1e-3)
    check_price_range(doc, run, "a")
