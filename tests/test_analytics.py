"""Decision analytics (SPEC section 7, issue 14): analysis.json, the frontier, a committed plan.

Hand-worked cases first (optimum, wait-and-see, EEV, ranges and frontier derived in the
docstrings), then properties on random scenarios (tests/strategies.py), then the command line.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from typer.testing import CliRunner

import optimizer
from conftest import scenario
from optimizer.analytics import evaluate, plain_words, reference_scenario
from optimizer.cli import app
from optimizer.data import build_data
from optimizer.errors import InfeasibleError, ScenarioError
from optimizer.frontier import frontier
from optimizer.model.lp import formulate
from optimizer.solve import SolverSession
from strategies import scenario_dicts
from test_cli import run_cli

TOL = 1e-6


def embargo(**overrides) -> dict:
    """Two months; demand 0 then 10 t of dy (shortfall 1000/t); cn at 10/t, us at 30/t; storage
    at 2/t per month. base (0.7): nothing happens; embargo (0.3): China banned from 2026-02."""
    doc = scenario(
        horizon={"start": "2026-01", "periods": 2},
        materials=[{"id": "dy", "demand": [0, 10], "shortfall_penalty": 1000, "stockpile": {"holding_cost": 2}}],
        sources=[{"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10},
                 {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 30}],
        scenarios=[{"name": "base", "probability": 0.7},
                   {"name": "embargo", "probability": 0.3,
                    "events": [{"type": "ban", "where": {"region": "china"}, "from": "2026-02"}]}],
    )
    doc.update(overrides)
    return doc


def test_embargo_by_hand():
    """The two scenarios agree in January and split in February (first_split 2026-02).

    Stocking q t in January costs 10 + 2 (holding) = 12/t; February's remaining 10 - q t cost 10/t
    in base and 30/t in embargo: E = 12q + 0.7*10(10 - q) + 0.3*30(10 - q) = 160 - 4q, so q = 10
    and the objective is 120 (both scenarios cost 120).
    Wait-and-see: base alone buys in February, WS_base = 100; embargo alone stocks, WS_embargo = 120;
    WS = 0.7*100 + 0.3*120 = 106, EVPI = 120 - 106 = 14.
    Reference scenario `base`: REF buys nothing in January. EEV fixes January at 0: base pays 100,
    embargo 300 from us; EEV = 0.7*100 + 0.3*300 = 160, value of hedging = 160 - 120 = 40.
    """
    a = optimizer.solve(embargo(), analyze=True).analysis
    assert a["first_split"] == "2026-02"
    assert a["decide_now"] == [{"kind": "buy", "id": "cn", "period": "2026-01", "quantity": pytest.approx(10),
                                "spend": pytest.approx(100)}]
    assert a["reference_scenario"] == "base" and a["reference_decide_now"] == []
    assert a["objective"] == pytest.approx(120)
    assert a["wait_and_see_by_scenario"] == {"base": pytest.approx(100), "embargo": pytest.approx(120)}
    assert a["wait_and_see"] == pytest.approx(106)
    assert a["evpi"] == pytest.approx(14)
    assert a["eev"] == pytest.approx(160)
    assert a["value_of_hedging"] == pytest.approx(40)
    assert a["eev_infeasible"] is None
    assert a["cost_of_risk_aversion"] == 0 and a["stockpile_money"] == pytest.approx(0)


def test_embargo_price_ranges_by_hand():
    """Break-even prices of the embargo case (every period's price scaled alike).

    cn at price p: stocking q costs q(p + 2) + 0.7 p (10 - q) + 0.3*30 (10 - q), slope 0.3p - 7 in q:
    the plan (q = 10) stays optimal up to p = 70/3 (f_hi = 7/3), and down to 0 (f_lo = 0).
    us at price u: unused; in embargo it would replace the stock when 0.3u < 12 - 7, u < 50/3:
    it enters below 16.67 (f_lo = 5/9), and however dear it gets the plan stands (f_hi: none).
    """
    r = optimizer.solve(embargo(), analyze=True).analysis["ranges"]["sources"]
    assert r["cn"]["f_lo"] == pytest.approx(0) and r["cn"]["f_hi"] == pytest.approx(7 / 3, rel=1e-6)
    assert r["cn"]["price_hi"] == pytest.approx(70 / 3, rel=1e-6) and r["cn"]["period"] == "2026-01"
    assert r["us"]["f_lo"] == pytest.approx(5 / 9, rel=1e-6) and r["us"]["f_hi"] is None
    assert r["us"]["price_lo"] == pytest.approx(50 / 3, rel=1e-6) and not r["us"]["used"]


def test_milp_price_range_is_of_the_fixed_integer_lp():
    """A MILP's ranges are those of the LP with its orders fixed (SPEC 7.4), and say so. Two months,
    demand 3 each (penalty 100), price 10, capacity 20, fixed cost 20 per order, holding 1/unit/month:
    the plan orders once, 6 in January (60 + 20 + 3 held = 83). With January's order fixed on and
    February's off, a unit for February costs 10f + 1 against 100 of shortfall, one for January 10f:
    f_hi = 99/10 = 9.9 (price 99), f_lo = 0. (The MILP itself would drop the order for shortfall
    sooner, at 60f + 23 > 600, f > 9.62: that is not what these ranges measure.)"""
    doc = scenario(horizon={"start": "2026-01", "periods": 2},
                   materials=[{"id": "dy", "demand": 3, "shortfall_penalty": 100, "stockpile": {"holding_cost": 1}}],
                   sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 10,
                             "capacity": 20, "fixed_cost": 20}])
    a = optimizer.solve(doc, analyze=True).analysis
    assert a["objective"] == pytest.approx(83)
    r = a["ranges"]["sources"]["us"]
    assert r["f_lo"] == pytest.approx(0) and r["f_hi"] == pytest.approx(9.9, rel=1e-3)
    assert r["price_hi"] == pytest.approx(99, rel=1e-3)
    assert a["ranges"]["of"] == "the LP with every order and module fixed at its value in this plan"


def test_entry_price_of_an_unused_source_by_hand():
    """One month, 10 t of demand; `a` sells 10 t at 40/t, `b` any amount at 100/t plus freight
    20/t, `c` up to 4 t at 70/t. The plan buys 10 from a. b's landed cost is 100f + 20, so b enters
    when 100f + 20 < 40: f_lo = 0.2 (price 20). c enters when 70f < 40: f_lo = 4/7. a stays below
    its competitors' landed costs (70 from c first): f_hi = 70/40 = 1.75, f_lo = 0."""
    r = optimizer.solve(scenario(
        horizon={"start": "2026-01", "periods": 1},
        sources=[{"id": "a", "material": "dy", "region": "domestic", "country": "US", "price": 40, "capacity": 10},
                 {"id": "b", "material": "dy", "region": "domestic", "country": "US", "price": 100, "freight": 20},
                 {"id": "c", "material": "dy", "region": "domestic", "country": "US", "price": 70, "capacity": 4}],
    ), analyze=True).analysis["ranges"]["sources"]
    assert r["b"]["f_lo"] == pytest.approx(0.2, rel=1e-6) and r["b"]["price_lo"] == pytest.approx(20, rel=1e-6)
    assert r["c"]["f_lo"] == pytest.approx(4 / 7, rel=1e-6)
    assert r["a"]["f_lo"] == 0 and r["a"]["f_hi"] == pytest.approx(1.75, rel=1e-6)
    assert r["b"]["f_hi"] is None and r["c"]["f_hi"] is None


def stranded() -> dict:
    """The embargo case without demand but with a hard target of 10 t at the end of February, and
    an embargo that stops every purchase in February: only January's stock can meet the target."""
    doc = embargo()
    doc["materials"][0]["stockpile"].update({"target": {"2026-01": 0, "2026-02": 10}, "hard_target": True})
    doc["materials"][0]["demand"] = 0
    doc["scenarios"][1]["events"] = [{"type": "ban", "where": {}, "from": "2026-02"}]
    return doc


def test_infeasible_eev_is_explained_and_not_an_error():
    """In `stranded`, base alone buys in February (10/t against 12 stocked), so REF buys nothing in
    January, and with that fixed the embargo cannot meet its target: EEV has no feasible plan;
    analysis.json says why (exit code 0)."""
    a = optimizer.solve(stranded(), analyze=True).analysis
    assert a["eev"] is None and a["value_of_hedging"] is None
    assert "infeasible" in a["eev_infeasible"] and "dy" in a["eev_infeasible"]
    assert any("no feasible plan" in s for s, _ in plain_words(a, str))


def test_one_scenario_is_its_own_reference():
    """With one scenario nothing splits: every decision is due now, WS and EEV are the objective."""
    a = optimizer.solve(scenario(), analyze=True).analysis
    assert a["first_split"] is None
    assert a["evpi"] == pytest.approx(0, abs=1e-9) and a["value_of_hedging"] == pytest.approx(0, abs=1e-9)
    assert [r["period"] for r in a["decide_now"]] == ["2026-01", "2026-02", "2026-03"]
    assert a["decide_now"] == a["reference_decide_now"]


def test_cost_of_risk_aversion_and_stockpile_money_by_hand():
    """The frontier case below at aversion 0.5 stocks 10 t in January (expected cost 130, see there),
    against 120 at aversion 0: risk aversion costs 10.
    At aversion 0 with a soft target of 10 t in January (penalty 50/t per t below): stocking q costs
    120 + q + 50(10 - q), so q = 10, and money (purchases) is 13*10 = 130 in both futures; with the
    target at 0 the plan stocks nothing, money 0.8*100 + 0.2*200 = 120: the target costs 10."""
    doc = frontier_case(risk={"aversion": 0.5, "alpha": 0.8})
    a = optimizer.solve(doc, analyze=True).analysis
    assert a["cost_of_risk_aversion"] == pytest.approx(10)
    doc = frontier_case()
    doc["materials"][0]["stockpile"] = {"target": {"2026-01": 10, "2026-02": 0}, "target_penalty": 50}
    a = optimizer.solve(doc, analyze=True).analysis
    assert a["stockpile_money"] == pytest.approx(10)


def frontier_case(**overrides) -> dict:
    """Two months, 10 t needed in February. January: `a` at 13/t (storage free). February: base
    (0.8) buys `a` at 10/t; embargo (0.2) has `a` banned and pays `b` 20/t."""
    doc = scenario(
        horizon={"start": "2026-01", "periods": 2},
        materials=[{"id": "dy", "demand": [0, 10], "shortfall_penalty": 1000, "stockpile": {}}],
        sources=[{"id": "a", "material": "dy", "region": "allied", "country": "AU", "price": [13, 10]},
                 {"id": "b", "material": "dy", "region": "domestic", "country": "US", "price": 20,
                  "available_from": "2026-02"}],
        scenarios=[{"name": "base", "probability": 0.8},
                   {"name": "embargo", "probability": 0.2,
                    "events": [{"type": "ban", "where": {"source": "a"}, "from": "2026-02"}]}],
        risk={"alpha": 0.8},
    )
    doc.update(overrides)
    return doc


def test_frontier_of_three_points_by_hand():
    """Stocking q t in January: C_base = 13q + 10(10 - q) = 100 + 3q, C_embargo = 200 - 7q;
    E = 0.8 C_base + 0.2 C_embargo = 120 + q; CVaR_0.8 = the worst 20 % = C_embargo (q <= 10).
    Objective (1 - a)(120 + q) + a(200 - 7q) has slope 1 - 8a in q: q = 0 below a = 1/8, 10 above.
    a = 0: E 120, CVaR 200; a = 0.5 and 1: q = 10, E = CVaR = 130. Cash spend equals E here."""
    table = frontier(_validated(frontier_case()), points=3)
    assert list(table.columns) == ["aversion", "objective", "expected_cost", "cvar", "cash_spend"]
    expected = [[0, 120, 120, 200, 120], [0.5, 130, 130, 130, 130], [1, 130, 130, 130, 130]]
    assert table.to_numpy() == pytest.approx(np.array(expected, dtype=float))


def _validated(doc: dict):
    from optimizer.checks import validate

    return validate(copy.deepcopy(doc))


def test_frontier_breaks_ties_toward_the_lower_expected_cost():
    """At aversion 1 only CVaR counts. February's storage in base is free to be anything when the
    January price equals embargo's February price (13): C_embargo = 130 whatever q, C_base = 100 + 3q
    <= 130, so CVaR = 130 for every q in [0, 10]; the least expected cost among them is q = 0,
    E = 0.8*100 + 0.2*130 = 106. At aversion 0, q = 0 too (E = 106 + 2.4q)."""
    doc = frontier_case()
    doc["sources"][1]["price"] = 13
    table = frontier(_validated(doc), points=2)
    assert table["expected_cost"].tolist() == pytest.approx([106, 106])
    assert table["cvar"].tolist() == pytest.approx([130, 130])


# --- properties ------------------------------------------------------------------------------------


def fast(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast(25)
@given(scenario_dicts(hedging=True, max_periods=4))
def test_foresight_and_hedging_are_worth_something(doc):
    """WS <= objective <= EEV, so EVPI >= 0 and value of hedging >= 0 (SPEC 7.2, 7.3)."""
    sol = optimizer.solve(copy.deepcopy(doc), analyze=True)
    assume(sol.status == "optimal")
    a = sol.analysis
    scale = max(1.0, abs(a["objective"]))
    assert a["wait_and_see"] <= a["objective"] + TOL * scale
    assert a["evpi"] >= -TOL * scale
    if a["eev"] is not None:
        assert a["objective"] <= a["eev"] + TOL * scale
        assert a["value_of_hedging"] >= -TOL * scale
    assert a["cost_of_risk_aversion"] >= -TOL * scale


def _scaled(doc: dict, source: str, f: float) -> dict:
    """doc with every price of `source` multiplied by f."""
    out = copy.deepcopy(doc)
    src = next(s for s in out["sources"] if s["id"] == source)
    price = src["price"]
    if isinstance(price, dict):
        src["price"] = {k: v * f for k, v in price.items()}
    elif isinstance(price, list):
        src["price"] = [v * f for v in price]
    else:
        src["price"] = price * f
    return out


def _plan_is_optimal(doc: dict, x: np.ndarray, f: float, source: str) -> bool:
    """Re-solve with the source's price scaled by f, and again with every column of the plan `x`
    fixed (only the CVaR's auxiliary columns free): is the plan still feasible (a budget may bind)
    and does it still cost the optimum?"""
    form = formulate(build_data(_validated(_scaled(doc, source, f))))
    session = SolverSession(form.lp.standard_form())
    free = session.solve(canonical=False)
    plan = np.ones(len(x), dtype=bool)
    for name in ("node_cost", "eta", "excess"):
        if name in form.lp.vars:
            plan[form.lp.vars[name].cols] = False
    session.fix_columns(np.flatnonzero(plan), x[plan])
    fixed = session.solve(canonical=False)
    return fixed.status == "optimal" and fixed.objective <= free.objective + 2e-9 * max(1.0, abs(free.objective))


@fast(12)
@given(doc=scenario_dicts(hedging=True, max_periods=3))
def test_price_ranges_hold_at_their_ends_and_not_beyond(doc):
    """SPEC 7.4: at f_lo and f_hi the plan still costs the optimum (a re-solve with the price
    scaled), and 1e-3 beyond a finite end it does not. The plan is the whole canonical optimum
    (stock, shortfall and surplus too), as the product's own solve finds it."""
    sol = optimizer.solve(copy.deepcopy(doc), analyze=True)
    assume(sol.status == "optimal")
    form = formulate(build_data(_validated(doc)))
    plan = SolverSession(form.lp.standard_form()).solve()
    assert plan.objective == pytest.approx(sol.objective, rel=1e-9, abs=1e-9)
    for source, r in sol.analysis["ranges"]["sources"].items():
        for end, side in ((r["f_lo"], -1), (r["f_hi"], 1)):
            if end is None:
                continue
            assert _plan_is_optimal(doc, plan.x, end, source), (source, side, end)
            if end > 1e-3:  # nearer zero an end is found to an absolute accuracy
                assert not _plan_is_optimal(doc, plan.x, end * (1 + 1e-3 * side), source), (source, side, end)


@fast(20)
@given(doc=scenario_dicts(max_periods=4, v2=True))
def test_price_slopes_are_the_scenario_costs_of_a_doubled_price(doc):
    """C_k is linear in a factor f on one source's price (the landed cost f P + freight carries
    purchases and risk premium; tariffs are a part of it): `Plan.price_slopes` of a plan, every
    source at once, is C_k priced at f = 2 minus C_k at f = 1, as pricing the plan again with the
    source's price doubled gives it."""
    import dataclasses

    from optimizer.model.lp import cost_terms
    from optimizer.ranging import Plan
    from optimizer.results import scenario_costs

    form = formulate(build_data(_validated(doc)))
    problem = form.lp.standard_form()
    session = SolverSession(problem)
    result = session.solve()
    assume(result.status == "optimal")
    plan = Plan(form, problem, session, result)
    d = form.data
    at_one = scenario_costs(form, cost_terms(d, form.lp), result.x)
    assert plan.costs == pytest.approx(at_one, rel=1e-12, abs=1e-9)
    for s in range(len(d.sources)):
        price = d.price.copy()
        price[s] *= 2.0
        doubled = dataclasses.replace(form, data=dataclasses.replace(d, price=price))
        at_two = scenario_costs(doubled, cost_terms(doubled.data, form.lp), result.x)
        assert plan.slopes[s] == pytest.approx(at_two - at_one, rel=1e-9, abs=1e-7 * max(1.0, np.abs(at_one).max()))


@fast(20)
@given(doc=scenario_dicts(max_periods=4, v2=True))
def test_stockpile_money_is_that_of_the_goal_free_scenario_solved_on_its_own(doc):
    """SPEC 7.3: stockpile_money is the plan's expected money minus that of the same scenario with
    every stockpile target and end value at 0. The analysis re-solves warm from a basis made for
    it; the goal-free scenario solved from scratch (its own canonical plan) gives the same money."""
    sol = optimizer.solve(copy.deepcopy(doc), analyze=True)
    assume(sol.status == "optimal")
    free = copy.deepcopy(doc)
    for mat in free["materials"]:
        stock = mat.get("stockpile", {})
        for key in ("target", "hard_target", "target_penalty", "end_value"):
            stock.pop(key, None)
    alone = optimizer.solve(free)
    money = lambda s: s.summary["cost_breakdown"]["expected"]["discounted"]["money"]  # noqa: E731
    scale = max(1.0, abs(money(sol)))
    assert sol.analysis["stockpile_money"] == pytest.approx(money(sol) - money(alone), abs=TOL * scale)


# --- a committed plan -------------------------------------------------------------------------------


def test_evaluate_a_plan_made_for_base_alone_costs_the_eev(tmp_path):
    """The plan written for base alone (one scenario) buys nothing in January; evaluated against
    the two-scenario file, January is fixed at 0 and the rest re-optimised: objective 160 (EEV
    above), regret 160 - 120 = 40."""
    base_only = embargo(scenarios=[{"name": "base", "probability": 1.0}])
    folder = optimizer.solve(base_only).write(tmp_path / "base-plan")
    sol = evaluate(_validated(embargo()), folder)
    assert sol.objective == pytest.approx(160)
    assert sol.summary["regret"] == pytest.approx(40)
    assert sol.summary["committed"]["fixed_before"] == "2026-02"


def test_evaluate_names_a_decision_with_no_matching_variable(tmp_path):
    """A committed order from a source the scenario bans then is an error naming the file and line."""
    folder = optimizer.solve(embargo()).write(tmp_path / "plan")
    doc = embargo(policies=[{"type": "ban", "where": {"source": "cn"}, "until": "2026-02"}])
    with pytest.raises(ScenarioError) as err:
        evaluate(_validated(doc), folder)
    assert "purchases.csv:2" in str(err.value) and "order from cn in 2026-01" in str(err.value)


def test_evaluate_an_infeasible_commitment_explains_it(tmp_path):
    """The plan made for `stranded`'s base alone stocks nothing in January: it cannot be completed."""
    base_only = stranded()
    base_only["scenarios"] = [{"name": "base", "probability": 1.0}]
    folder = optimizer.solve(base_only).write(tmp_path / "p")
    with pytest.raises(InfeasibleError, match="cannot be completed"):
        evaluate(_validated(stranded()), folder)


# --- files and the command line -----------------------------------------------------------------------


def test_analysis_json_is_deterministic_and_written_with_the_folder(tmp_path):
    sc = _validated(embargo())
    first = optimizer.solve(sc, analyze=True).write(tmp_path / "a")
    second = optimizer.solve(sc, analyze=True).write(tmp_path / "b")
    assert (first / "analysis.json").read_bytes() == (second / "analysis.json").read_bytes()
    keys = json.loads((first / "analysis.json").read_text())
    for key in ("decide_now", "reference_decide_now", "first_split", "wait_and_see", "evpi", "reference_scenario",
                "eev", "value_of_hedging", "cost_of_risk_aversion", "stockpile_money", "ranges"):
        assert key in keys


def test_cli_analyze_frontier_evaluate(tmp_path):
    path = tmp_path / "embargo.yaml"
    path.write_text(json.dumps(embargo()))
    runner = CliRunner()
    run = runner.invoke(app, [str(path), "--analyze", "--out", str(tmp_path / "plan")])
    assert run.exit_code == 0, run.output
    assert "Planning for the disruptions saves 40.00 USD against planning for `base`" in run.output
    assert (tmp_path / "plan" / "analysis.json").is_file()
    front = runner.invoke(app, ["frontier", str(path), "--points", "3", "--out", str(tmp_path / "front")])
    assert front.exit_code == 0, front.output
    assert (tmp_path / "front" / "frontier.csv").read_text().splitlines()[0] == \
        "aversion,objective,expected_cost,cvar,cash_spend"
    assert (tmp_path / "front" / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    ev = runner.invoke(app, ["evaluate", str(path), "--plan", str(tmp_path / "plan"), "--out",
                             str(tmp_path / "ev"), "--json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.output)["regret"] == pytest.approx(0, abs=1e-6)
    bad = runner.invoke(app, ["evaluate", str(path), "--plan", str(tmp_path / "plan"), "--through", "2026-13"])
    assert bad.exit_code == 1 and "--through" in bad.output
    both = runner.invoke(app, [str(path), "--analyze", "--baseline", str(tmp_path / "plan")])
    assert both.exit_code == 1 and "--analyze" in both.output and "Traceback" not in both.output


def test_workers_give_the_same_bytes(tmp_path):
    """The scenarios alone solved in two spawned processes: the same analysis.json."""
    sc = _validated(embargo())
    one = optimizer.solve(sc, analyze=True).write(tmp_path / "one")
    two = optimizer.solve(sc, analyze=True, workers=2).write(tmp_path / "two")
    assert (one / "analysis.json").read_bytes() == (two / "analysis.json").read_bytes()


def test_report_has_a_decision_analytics_section(tmp_path):
    """In the report's risk section (issue 18's order): the plain words with their definitions."""
    from optimizer.report import write_report

    folder = optimizer.solve(_validated(embargo()), analyze=True).write(tmp_path / "plan")
    page = write_report(folder).read_text()
    at = page.index("<h3>Decision analytics (analysis.json)</h3>")
    assert page.index("<h2>4. Risk") < at < page.index("<h2>5. Why")
    assert "Planning for the disruptions saves 40.00 USD against planning for `base`." in page
    assert "Value of hedging = EEV - objective" in page


# --- SPEC v2: end value, generated trees, the reference rule ---------------------------------------


def test_stockpile_money_counts_the_end_value_by_hand():
    """One month, no demand; dy at 4/t, a store of 10 t whose stock is worth 5/t at the end. The
    plan fills it: money = purchases 40 - end value 50 = -10 (cost_breakdown's definition). With
    end_value 0 nothing is bought: money 0. stockpile_money = -10 - 0 = -10 (the goal earns money)."""
    doc = scenario(horizon={"start": "2026-01", "periods": 1},
                   materials=[{"id": "dy", "stockpile": {"capacity": 10, "end_value": 5}}],
                   sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 4}])
    sol = optimizer.solve(doc, analyze=True)
    assert sol.summary["cost_breakdown"]["expected"]["discounted"]["money"] == pytest.approx(-10)
    assert sol.analysis["stockpile_money"] == pytest.approx(-10)
    assert any("saves 10.00 USD" in s for s, _ in plain_words(sol.analysis, lambda x: f"{x:.2f} USD"))


def test_stockpile_money_where_only_a_release_told_futures_apart_by_hand():
    """Two months; dy: demand 10 a month, 15 t in stock, a hard target of 10; the US sells up to 10 a
    month at 1/t; shortfall 100/t. `calm` (p = 1/2) has no event; `draw` (p = 1/2) releases the stock
    and triples the second month's demand (10, 30).
    With the target, the release tells the futures apart from the first month: calm keeps 10 held,
    so x1 + x2 >= 15, money 15; draw buys all it can, 10 + 10 (40 demanded, 35 to serve: 5 short),
    money 20. Plan money (15 + 20) / 2 = 17.5.
    Without targets the release changes no parameter, so the futures cannot be told apart in the
    first month (SPEC 4.1.10) and share x1. Draw still wants 10 + 10; calm needs only 5 (15 held, 20
    demanded), but x1 = 10 is forced on it (5 more of draw's shortfall at 100 outweighs calm's 5 at 1):
    calm 10, draw 20, goal-free money 15. stockpile_money = 17.5 - 15 = 2.5 (keeping the release's
    first-month split would give calm 5 and 12.5 in all, so 5: the mistake this test guards)."""
    doc = scenario(horizon={"start": "2026-01", "periods": 2},
                   materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 100,
                               "stockpile": {"initial": 15, "target": 10, "hard_target": True}}],
                   sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 1,
                             "capacity": 10}],
                   scenarios=[{"name": "calm", "probability": 0.5},
                              {"name": "draw", "probability": 0.5,
                               "events": [{"type": "release"},
                                          {"type": "demand", "multiplier": 3, "from": "2026-02"}]}])
    sol = optimizer.solve(doc, analyze=True)
    assert sol.summary["cost_breakdown"]["expected"]["discounted"]["money"] == pytest.approx(17.5)
    assert sol.analysis["stockpile_money"] == pytest.approx(2.5)


def disrupted() -> dict:
    """Three years from 2026, 10 t of dy a year; China at 10/t, the US at 20/t; stock held at 1.5/t a
    year. A ban on China starts at a year's start from 2027 with probability 0.2 and lasts a year:
    calm 0.64, ban@2028x1 0.16, ban@2027x1 0.2 (tests/test_disruptions.py)."""
    return scenario(horizon={"start": "2026-01", "periods": 3, "period": "year"},
                    materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000, "stockpile": {"holding_cost": 1.5}}],
                    sources=[{"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10},
                             {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 20}],
                    disruptions={"events": [{"name": "ban", "annual_probability": 0.2, "duration": 1,
                                             "effects": [{"type": "ban", "where": {"region": "china"}}]}]})


def test_analytics_of_a_generated_tree_by_hand():
    """`disrupted`: stocking a year ahead costs 11.5/t. 2026: 2027's China price is 10 (0.8) or 20
    (0.2), 12 expected, so stock 10 (2028's, seen from 2026: 0.8*11.5 + 0.2*10 < 13, not). Calm
    2027 stocks 2028's 10 (11.5 < 12); ban@2027 lives on its stock, then buys China in 2028.
    C: calm = ban@2028 = 200 + 15 + 100 + 15 = 330, ban@2027 = 215 + 100 = 315; objective
    0.8*330 + 0.2*315 = 327.
    Alone: calm buys China each year, 300; ban@2028 stocks in 2027, 100 + 215 = 315; ban@2027
    stocks in 2026, 215 + 100 = 315. WS = 0.64*300 + 0.36*315 = 305.4, EVPI = 21.6.
    Reference: no `base`, the most probable, calm; REF buys 10 in 2026 (decide-now: 2026 only).
    EEV: calm and ban@2028 then stock in 2027, 100 + 215 = 315; ban@2027 pays the US in 2027,
    100 + 200 + 100 = 400; EEV = 0.8*315 + 0.2*400 = 332, value of hedging = 5."""
    a = optimizer.solve(disrupted(), analyze=True).analysis
    assert a["objective"] == pytest.approx(327)
    assert a["first_split"] == "2027-01" and a["reference_scenario"] == "calm"
    assert a["wait_and_see_by_scenario"] == pytest.approx({"calm": 300, "ban@2028x1": 315, "ban@2027x1": 315})
    assert a["wait_and_see"] == pytest.approx(305.4) and a["evpi"] == pytest.approx(21.6)
    assert a["reference_decide_now"] == [{"kind": "buy", "id": "cn", "period": "2026-01",
                                          "quantity": pytest.approx(10), "spend": pytest.approx(100)}]
    assert a["decide_now"] == [{"kind": "buy", "id": "cn", "period": "2026-01", "quantity": pytest.approx(20),
                                "spend": pytest.approx(200)}]
    assert a["eev"] == pytest.approx(332) and a["value_of_hedging"] == pytest.approx(5)


def test_the_reference_rule():
    """SPEC 7.3: `base` wherever it is listed, else the most probable, the first listed on ties."""
    assert reference_scenario(["a", "base", "c"], [0.5, 0.1, 0.4]) == 1
    assert reference_scenario(["a", "b", "c"], [0.3, 0.4, 0.3]) == 1
    assert reference_scenario(["a", "b", "c"], [0.4, 0.2, 0.4]) == 0


@pytest.mark.parametrize("args, words", [
    (["frontier", "{path}", "--points", "1"], "--points"),
    (["evaluate", "{path}", "--plan", "{tmp}/no-such-folder"], "no-such-folder"),
    (["evaluate", "{path}"], "--plan"),
    (["evaluate", "{path}", "--plan", "{tmp}"], "is not a result folder"),
    (["frontier", "{tmp}/missing.yaml"], "missing.yaml"),
])
def test_cli_bad_input_is_one_message_and_exit_1(tmp_path, args, words):
    """Bad input to the analytics commands (the installed command, usage errors included): a message
    naming what is wrong, exit code 1, no traceback."""
    path = tmp_path / "embargo.yaml"
    path.write_text(json.dumps(embargo()))
    result = run_cli(*(a.format(path=path, tmp=tmp_path) for a in args))
    assert result.returncode == 1, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_narrow_price_range_reads_as_two_prices():
    """A range of 1,199.6 to 1,200.4 USD/kg would print as `1,200 to 1,200` at whole units; the two ends
    take decimals until they differ. Wide ranges keep whole units (>= 100) or cents (< 100)."""
    from optimizer.analytics import _price_pair

    assert _price_pair(1199.6, 1200.4, "USD", "kg") == ("1,199.6 USD/kg", "1,200.4 USD/kg")
    assert _price_pair(96460.2, 111289.7, "USD", "t") == ("96,460 USD/t", "111,290 USD/t")
    assert _price_pair(7.921, 8.514, "USD", "kg") == ("7.92 USD/kg", "8.51 USD/kg")
