"""The independent references themselves (reference_lp, reference_tree, reference_analytics) on the
hand-worked cases of reference_cases.py (each derived in its docstring) and on properties of random
scenarios: what makes them trustworthy yardsticks for SPEC version 2. Nothing of the product is
run here, so these pass whatever the product does."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings

import reference_analytics as ra
import reference_cases as cases
import reference_tree as rt
from reference_lp import resolve, solve_reference
from strategies import disruption_processes, scenario_dicts


def approx(x: float) -> pytest.approx:
    return pytest.approx(x, rel=1e-7, abs=1e-6)


def nonzero(result, family: str) -> dict:
    return {k: round(v, 9) for k, v in result.decisions(family).items() if abs(v) > 1e-9}


# --- SPEC 2-4 (v2): home_country, release, end_value, on: arrival ----------------------------------


def test_home_country_omitted_leaves_domestic_untaxed():
    res = solve_reference(cases.home_omitted_doc())
    assert res.objective == approx(300.0)
    assert nonzero(res, "buy") == {("us", t, "base"): 10.0 for t in range(3)}
    assert res.breakdown(0)["tariffs"] == approx(0.0)


def test_release_serves_demand_from_stock():
    held = solve_reference(cases.release_doc(released=False))
    assert held.objective == approx(1100.0)
    assert nonzero(held, "short") == {("dy", 1, "base"): 10.0}
    released = solve_reference(cases.release_doc(released=True))
    assert released.objective == approx(100.0)
    assert nonzero(released, "short") == {}
    assert nonzero(released, "stock") == {("dy", 0, "base"): 10.0}
    assert resolve(cases.release_doc(released=True)).target_k[0, :, 0].tolist() == [10.0, 0.0]


def test_end_value_makes_a_cheap_source_worth_stocking():
    res = solve_reference(cases.end_value_doc())
    assert res.objective == approx(-7.5)
    assert nonzero(res, "buy") == {("us", 1, "base"): 5.0}
    parts = res.breakdown(0)
    assert {k: parts[k] for k in ("purchases", "holding", "end_value", "money", "penalties")} == {
        "purchases": approx(50.0), "holding": approx(2.5), "end_value": approx(60.0), "money": approx(-7.5),
        "penalties": approx(0.0)}
    assert solve_reference(cases.end_value_doc(9.0)).objective == approx(0.0)


def test_end_value_is_discounted_with_the_last_period():
    res = solve_reference(cases.discounted_end_value_doc())
    assert res.objective == approx(-16.0)
    assert nonzero(res, "buy") == {("us", 1, "base"): 5.0}
    assert res.breakdown(0, discounted=False)["end_value"] == approx(70.0)


def test_arrival_ban_strands_an_order_shared_before_the_split():
    res = solve_reference(cases.arrival_ban_doc())
    assert res.objective == approx(400.0)
    assert res.costs == {"base": approx(200.0), "ban": approx(600.0)}
    assert nonzero(res, "buy") == {("cn", 0, "base"): 10.0, ("cn", 1, "base"): 10.0, ("cn", 0, "ban"): 10.0,
                                   ("au", 1, "ban"): 10.0, ("au", 2, "ban"): 10.0}
    assert res.breakdown(1)["purchases"] == approx(600.0)
    assert resolve(cases.arrival_ban_doc()).first_split() == 1
    assert solve_reference(cases.arrival_ban_doc("order")).objective == approx(300.0)


def test_arrival_ban_leaves_stranded_orders_out_of_budgets():
    res = solve_reference(cases.stranded_budget_doc())
    assert res.objective == approx(400.0)
    assert res.decisions("buy")[("cn", 0, "ban")] == approx(10.0)


# --- SPEC 4.1.12 / 4.5: discrete decisions -----------------------------------------------------------


def test_minimum_order_buys_more_than_needed():
    res = solve_reference(cases.min_order_doc())
    assert res.objective == approx(50.0)
    assert nonzero(res, "buy") == {("us", 0, "base"): 5.0}
    assert nonzero(res, "order") == {("us", 0, "base"): 1.0}
    assert solve_reference(cases.min_order_doc(None)).objective == approx(30.0)


def test_fixed_cost_makes_one_order_of_six_beat_two_of_three():
    res = solve_reference(cases.fixed_cost_doc())
    assert res.objective == approx(83.0)
    assert nonzero(res, "buy") == {("us", 0, "base"): 6.0}
    assert res.breakdown(0)["fixed_costs"] == approx(20.0)


def test_modules_build_eight_to_serve_six():
    res = solve_reference(cases.modules_doc())
    assert res.objective == approx(86.0)
    assert nonzero(res, "build") == {("us", 0, "base"): 8.0}
    assert nonzero(res, "modules") == {("us", 0, "base"): 2.0}
    assert solve_reference(cases.modules_doc(None)).objective == approx(66.0)


def test_modules_are_shared_before_the_split():
    res = solve_reference(cases.surge_doc())
    assert res.objective == approx(46.0)
    assert nonzero(res, "build") == {("us", 0, "base"): 8.0, ("us", 0, "surge"): 8.0}


def test_fixed_cost_is_paid_for_a_stranded_order():
    res = solve_reference(cases.stranded_fixed_cost_doc())
    assert res.objective == approx(410.5)
    assert res.costs == {"base": approx(214.0), "ban": approx(607.0)}
    assert res.breakdown(1)["fixed_costs"] == approx(7.0)
    assert nonzero(res, "order") == {("cn", 0, "base"): 1.0, ("cn", 1, "base"): 1.0, ("cn", 0, "ban"): 1.0}


# --- SPEC 8: the scenario tree --------------------------------------------------------------------


def tree_of(doc: dict) -> dict[str, float]:
    return {s["name"]: s["probability"] for s in rt.tree_scenarios(doc)}


def test_tree_one_event_fixed_duration():
    """Three years, yearly stages: the event may start at stages 1 (2027) and 2 (2028), q = 0.2, lasting
    one year, at most once: 2027 (0.2), 2028 (0.8 * 0.2 = 0.16), never (0.64). With `repeat` it may
    start again in 2028 after ending there: both (0.2 * 0.2 = 0.04), 2027 only (0.2 * 0.8 = 0.16),
    2028 only (0.16), never (0.64): the four paths."""
    assert tree_of(cases.process([cases.ban_event()])) == {
        "calm": approx(0.64), "ban@2027-01x1": approx(0.2), "ban@2028-01x1": approx(0.16)}
    assert tree_of(cases.process([cases.ban_event(repeat=True)])) == {
        "calm": approx(0.64), "ban@2027-01x1": approx(0.16), "ban@2028-01x1": approx(0.16),
        "ban@2027-01x1+ban@2028-01x1": approx(0.04)}


def test_tree_duration_distribution_merges_paths_past_the_horizon():
    """Duration 1 or 2 years (0.5 each). Starting in 2027: 2027 only (0.1) or 2027-2028 (0.1, the
    rule has no `until`: it lasts to the horizon's end). Starting in 2028 (0.16): lasting 1 or 2
    years is the same future (the horizon ends with 2028), so the two paths are one scenario."""
    tree = rt.enumerate_tree(cases.process([cases.ban_event(duration={1: 0.5, 2: 0.5})]))
    assert sorted((round(s.probability, 12), s.paths) for s in tree) == [(0.1, 1), (0.1, 1), (0.16, 2), (0.64, 1)]
    rules = {s.occurrences: s.rules for s in tree}
    assert rules[(rt.Occurrence("ban", 1, 2),)] == [{"type": "ban", "from": "2027-01"}]
    assert rules[(rt.Occurrence("ban", 1, 1),)] == [{"type": "ban", "from": "2027-01", "until": "2028-01"}]


def test_tree_earliest_and_quarterly_hazard():
    """`earliest: 2028-01` leaves only stage 2: starts 0.2, calm 0.8. Quarterly stages over two
    quarters: one branching point (2026-04) with q = 1 - (1 - 0.5) ** (3 / 12) = 0.159103585."""
    assert tree_of(cases.process([cases.ban_event(earliest="2028-01")])) == {
        "calm": approx(0.8), "ban@2028-01x1": approx(0.2)}
    q = 1 - 0.5 ** 0.25
    quarterly = cases.process([cases.ban_event(annual_probability=0.5)], periods=2, period="quarter", stage="quarter")
    assert tree_of(quarterly) == {"calm": approx(1 - q), "ban@2026-04x1": approx(q)}
    assert q == approx(0.159103585)


def test_tree_two_independent_events_and_effects_that_change_nothing():
    """Two years, one branching stage (2027): `ban` (q 0.2) on us and `dear` (q 0.5) doubling au's
    price, independent: calm 0.4, ban 0.1, dear 0.4, both 0.1. An event whose only effect is a price
    multiplier of 1 changes no parameter: its paths merge with calm."""
    dear = {"name": "dear", "annual_probability": 0.5, "duration": 1,
            "effects": [{"type": "price", "where": {"source": "au"}, "multiplier": 2}]}
    banned = cases.ban_event(effects=[{"type": "ban", "where": {"source": "us"}}])
    assert tree_of(cases.process([banned, dear], periods=2)) == {
        "calm": approx(0.4), "ban@2027-01x1": approx(0.1), "dear@2027-01x1": approx(0.4),
        "ban@2027-01x1+dear@2027-01x1": approx(0.1)}
    idle = dict(dear, effects=[{"type": "price", "multiplier": 1.0}])
    assert tree_of(cases.process([idle], periods=2)) == {"calm": approx(1.0)}


def test_tree_stochastic_program():
    doc = rt.tree_document(cases.tree_program_doc())
    assert sum(s["probability"] for s in doc["scenarios"]) == approx(1.0)
    assert solve_reference(doc).objective == approx(4854.0)


# --- SPEC 7: analytics ----------------------------------------------------------------------------


def test_analytics_two_scenario_embargo():
    doc = cases.embargo_doc()
    assert solve_reference(doc).objective == approx(301.0)
    ws = ra.wait_and_see(doc)
    assert ws.per_scenario == {"base": approx(300.0), "embargo": approx(301.0)}
    assert ws.value == approx(300.5)
    assert ra.evpi(doc) == approx(0.5)
    assert ra.first_split_month(doc) == "2026-03"
    assert list(ra.decide_now_periods(doc)) == [0, 1]
    assert ra.reference_scenario(doc) == "base"
    fix = ra.fixings_from_plan(doc, ra.reference_plan(doc))
    assert fix == {("buy", "us", 0): approx(10.0), ("buy", "us", 1): approx(10.0)}
    assert fix == ra.fixings_from_rows(doc, [{"kind": "buy", "id": "us", "period": "2026-01", "quantity": 10},
                                             {"kind": "buy", "id": "us", "period": "2026-02", "quantity": 10}])
    assert ra.eev(doc) == approx(5250.0)
    assert ra.value_of_hedging(doc) == approx(4949.0)
    lo, hi = ra.cost_of_risk_aversion(doc)
    assert lo == approx(0.0) and hi == approx(0.0)


def test_analytics_with_integer_builds():
    doc = cases.surge_doc()
    ws = ra.wait_and_see(doc)
    assert ws.per_scenario == {"base": approx(24.0), "surge": approx(48.0)} and ws.value == approx(36.0)
    assert ra.evpi(doc) == approx(10.0)
    assert ra.first_split_month(doc) == "2026-02"
    assert ra.eev(doc) == approx(84.0)
    assert ra.value_of_hedging(doc) == approx(38.0)


def test_analytics_when_the_averse_plan_is_not_unique():
    """surge_doc with aversion 1 and alpha 0.5: the objective is CVaR_0.5, here the worse of the two
    costs: 48 (two modules: 44 / 48); WS = CVaR(24, 48) = 48, EVPI 0. The plan is not unique: base
    may cost anything from 44 to 48 (buying up to 4 more units and disposing of them) without
    changing the CVaR, so the expected cost at aversion 1 is anywhere in [46, 48], and at 0 it is
    46: the cost of risk aversion is any of [0, 2] (the reference reports the interval)."""
    doc = cases.surge_doc()
    doc["risk"] = {"aversion": 1.0, "alpha": 0.5}
    assert solve_reference(doc).objective == approx(48.0)
    assert ra.wait_and_see(doc).value == approx(48.0)
    assert ra.evpi(doc) == approx(0.0)
    lo, hi = ra.cost_of_risk_aversion(doc)
    assert lo == approx(0.0) and hi == approx(2.0)


def test_cost_of_risk_aversion_positive():
    doc = cases.averse_surge_doc()
    assert solve_reference(doc).objective == approx(79.0)
    neutral = copy.deepcopy(doc)
    neutral["risk"]["aversion"] = 0.0
    assert solve_reference(neutral).objective == approx(70.0)
    lo, hi = ra.cost_of_risk_aversion(doc)
    assert lo == approx(8.0) and hi == approx(8.0)


def test_stockpile_money():
    doc = cases.stockpile_money_doc()
    assert solve_reference(doc).objective == approx(240.0)
    lo, hi = ra.stockpile_money(doc)
    assert lo == approx(40.0) and hi == approx(40.0)


def test_price_ranges_by_brute_force():
    doc = cases.price_range_doc()
    f_lo, f_hi = ra.price_range(doc, "a", {"base": 100.0}, {("buy", "a", "base", 0): 10.0})
    assert f_lo == 0.0 and f_hi == pytest.approx(2.0, rel=1e-6)
    f_lo, f_hi = ra.price_range(doc, "b", {"base": 100.0}, {("buy", "a", "base", 0): 10.0})
    assert f_lo == pytest.approx(0.5, rel=1e-6) and f_hi is None


@pytest.mark.parametrize(("amount", "f_hi"), [(100, 2.5), (40, 1.0)])
def test_price_range_ends_where_the_plan_breaks_a_budget(amount, f_hi):
    """reference_cases.budget_price_range_doc: the plan spends 40 f; it stays optimal on cost up to
    f = 100 but breaks the budget beyond 40 f = amount."""
    doc = cases.budget_price_range_doc(amount)
    plan = {("buy", "a", "base", 0): 4.0}
    assert solve_reference(doc).objective == approx(40.0)
    assert nonzero(solve_reference(doc), "buy") == {("a", 0, "base"): 4.0}
    assert ra.within_budgets(doc, plan) and not ra.within_budgets(ra.with_price_factor(doc, "a", f_hi * 1.001), plan)
    f_lo, hi = ra.price_range(doc, "a", {"base": 40.0}, plan)
    assert f_lo == 0.0 and hi == pytest.approx(f_hi, rel=1e-6)


# --- properties of the references on random scenarios -------------------------------------------------

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bans(doc: dict) -> list[dict]:
    return [r for r in doc.get("policies", []) + [e for c in doc.get("scenarios") or [] for e in c.get("events", [])]
            if r["type"] == "ban"]


@FEW
@given(scenario_dicts(v2=True))
def test_arrival_bans_with_no_lead_time_are_order_bans(doc):
    """With every lead time 0 and no discrete fields, a ban `on: arrival` stops exactly the orders a
    ban `on: order` forbids (an undelivered order is free and does nothing), in the same periods, so
    the optimum is the same whichever `on` every ban has."""
    for source in doc["sources"]:
        source["lead_time"] = 0
    as_order, as_arrival = copy.deepcopy(doc), copy.deepcopy(doc)
    for rule in _bans(as_order):
        rule["on"] = "order"
    for rule in _bans(as_arrival):
        rule["on"] = "arrival"
    a, b = solve_reference(as_order), solve_reference(as_arrival)
    assert a.status == b.status
    if a.status == "optimal":
        assert a.objective == pytest.approx(b.objective, rel=1e-7, abs=1e-6)


@FEW
@given(scenario_dicts(max_periods=4, max_scenarios=2, discrete=True))
def test_discrete_decisions_never_lower_the_optimum(doc):
    """Removing min_order, fixed_cost and expansion.unit only removes restrictions and costs: the
    MILP's optimum is at least the LP's; the cost breakdown adds up to C_k in every scenario."""
    plain = copy.deepcopy(doc)
    for ent in plain["sources"] + plain.get("processors", []):
        ent.pop("min_order", None)
        ent.pop("fixed_cost", None)
        if "expansion" in ent:
            ent["expansion"].pop("unit", None)
    milp_res, lp_res = solve_reference(doc), solve_reference(plain)
    if lp_res.status != "optimal":
        return
    if milp_res.status == "optimal":
        assert milp_res.objective >= lp_res.objective - 1e-6 * max(1.0, abs(lp_res.objective))
        for k, name in enumerate(milp_res.model.par.names):
            parts = milp_res.breakdown(k)
            assert parts["money"] + parts["penalties"] == pytest.approx(milp_res.costs[name], rel=1e-9, abs=1e-7)


@FEW
@given(disruption_processes())
def test_tree_probabilities_add_up_and_scenarios_differ(doc):
    """The merged tree's probabilities sum to 1; no two of its scenarios have equal parameters; the
    paths merged are all the paths (their count is the product of each event's path count)."""
    tree = rt.enumerate_tree(doc)
    assert sum(s.probability for s in tree) == pytest.approx(1.0, abs=1e-12)
    flat = rt.tree_document(doc)
    assert len(rt.distribution(flat)) == len(tree)
    stages = rt.stages_of(doc)
    paths = 1
    for event in doc["disruptions"]["events"]:
        paths *= len(rt.event_paths(event, stages))
    assert sum(s.paths for s in tree) == paths
