"""One tiny LP per constraint family and rule type (SPEC sections 2-4 and 6).

Every test's optimum is worked out by hand in its docstring from the SPEC formulas, with prices
chosen so that the optimal plan is unique. Each test checks the decisions (purchases per period
and source, stock levels, builds, ...) as well as the objective.

Notation: months are labelled by their first month 'YYYY-MM'; landed = price * pmult * (1 + tariff)
+ freight; the cost of a scenario is sum_t disc_t * (landed * (1 + premium * risk) * buy + ...).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import optimizer
from conftest import scenario

TOL = 1e-6

JAN, FEB, MAR, APR = "2026-01", "2026-02", "2026-03", "2026-04"


# --- helpers -------------------------------------------------------------------------------------


def solve(sc: dict, status: str = "optimal"):
    sol = optimizer.solve(sc)
    assert sol.status == status, sol.status
    return sol


def close(actual: float, expected: float, tol: float = TOL) -> bool:
    """Equal to `tol`, relative for large numbers and absolute below 1."""
    return abs(actual - expected) <= tol * max(1.0, abs(expected))


def assert_objective(sol, expected: float) -> None:
    assert close(sol.objective, expected), (sol.objective, expected)


def bought(sol, scen: str = "base") -> dict[tuple[str, str], float]:
    """{(period, source): quantity} of one scenario (rows with zero quantity are omitted)."""
    df = sol.purchases
    if df.empty:
        return {}
    df = df[df["scenario"] == scen]
    return {(r.period, r.source): float(r.quantity) for r in df.itertuples()}


def assert_bought(sol, expected: dict[tuple[str, str], float], scen: str = "base") -> None:
    got = bought(sol, scen)
    assert set(got) == set(expected), (got, expected)
    for key, q in expected.items():
        assert close(got[key], q), (key, got[key], q)


def column(sol, name: str, periods: list[str], material: str = "dy", scen: str = "base") -> list[float]:
    """Stockpile-table column `name` per period (a missing row is 0)."""
    df = sol.stockpile
    out = []
    for p in periods:
        if df.empty:
            out.append(0.0)
            continue
        rows = df[(df["scenario"] == scen) & (df["period"] == p) & (df["material"] == material)]
        assert len(rows) <= 1
        out.append(float(rows[name].iloc[0]) if len(rows) else 0.0)
    return out


def assert_list(actual: list[float], expected: list[float]) -> None:
    assert len(actual) == len(expected)
    assert all(close(a, e) for a, e in zip(actual, expected)), (actual, expected)


def src(id_: str, region: str, country: str, price, **extra) -> dict:
    return {"id": id_, "material": "dy", "region": region, "country": country, "price": price, **extra}


def horizon(periods: int, period: str = "month", **extra) -> dict:
    return {"start": JAN, "periods": periods, "period": period, **extra}


def dy(demand=10, **extra) -> list[dict]:
    return [{"id": "dy", "demand": demand, "shortfall_penalty": 1000, **extra}]


def shadow(sol, period: str, material: str = "dy", scen: str = "base") -> float:
    df = sol.prices
    rows = df[(df["scenario"] == scen) & (df["period"] == period) & (df["material"] == material)]
    return float(rows["shadow_price"].iloc[0]) if len(rows) else 0.0


# --- rules: tariff, ban, capacity, price, demand -------------------------------------------------


def test_tariffs_in_force_together_add_up_and_home_country_is_untaxed():
    """1 month, demand 10. cn (CN, china) price 10; us (US = home_country) price 17, capacity 6.

    Tariffs: `all-dy` rate 0.3 on {material: dy} (matches both sources, but us is home-country so
    untaxed) and `cn` rate 0.5 on {country: CN}. Both in force: cn tariff = 0.3 + 0.5 = 0.8,
    landed cn = 10 * 1.8 = 18 > 17 = landed us (0 tariff).
    So buy us up to its capacity 6 (6 * 17 = 102) and the remaining 4 from cn (4 * 18 = 72).
    Objective = 102 + 72 = 174.
    (Non-stacking rates, e.g. the max 0.5, would give cn 15 < 17 and a plan of 10 from cn = 150;
    taxing the home country would give us 17 * 1.3 = 22.1 and again all cn.)
    """
    sol = solve(scenario(
        horizon=horizon(1),
        sources=[src("cn", "china", "CN", 10), src("us", "domestic", "US", 17, capacity=6)],
        policies=[
            {"type": "tariff", "name": "all-dy", "rate": 0.3, "where": {"material": "dy"}},
            {"type": "tariff", "name": "cn", "rate": 0.5, "where": {"country": "CN"}},
        ],
    ))
    assert_bought(sol, {(JAN, "us"): 6, (JAN, "cn"): 4})
    rows = sol.purchases.set_index("source")
    assert close(rows.loc["cn", "tariff_rate"], 0.8)
    assert close(rows.loc["cn", "unit_price"], 10)
    assert close(rows.loc["cn", "landed_cost"], 18)
    assert close(rows.loc["cn", "spend"], 72)
    assert close(rows.loc["us", "tariff_rate"], 0.0)
    assert close(rows.loc["us", "landed_cost"], 17)
    assert_objective(sol, 174)


def test_ban_from_mid_horizon_makes_plan_buy_ahead():
    """3 months, demand 10/month. cn (china) price 10, us (domestic) price 20; stockpile with
    holding 1/unit/month. Policy: ban {region: china} from 2026-02 (covers Feb and Mar).

    cn can only be bought in January. A unit for February costs 10 + 1 (held one month) = 11 and
    one for March 10 + 2 = 12, both below us at 20. So buy 30 from cn in January, stock
    [20, 10, 0], nothing afterwards. Objective = 30 * 10 + (20 + 10) * 1 = 330.
    """
    sol = solve(scenario(
        materials=dy(stockpile={"holding_cost": 1}),
        sources=[src("cn", "china", "CN", 10), src("us", "domestic", "US", 20)],
        policies=[{"type": "ban", "where": {"region": "china"}, "from": FEB}],
    ))
    assert_bought(sol, {(JAN, "cn"): 30})
    assert_list(column(sol, "level", [JAN, FEB, MAR]), [20, 10, 0])
    assert_objective(sol, 330)


def test_capacity_multipliers_in_force_together_multiply():
    """2 months, demand 10. us (domestic) capacity 10 price 10; jp (allied) price 20, unlimited.

    Capacity rules on {source: us}: x0.5 always, x0.6 from 2026-02.
    January: capacity 10 * 0.5 = 5 -> us 5, jp 5 = 50 + 100 = 150.
    February: capacity 10 * 0.5 * 0.6 = 3 -> us 3, jp 7 = 30 + 140 = 170.
    Objective = 320.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        sources=[src("us", "domestic", "US", 10, capacity=10), src("jp", "allied", "JP", 20)],
        policies=[
            {"type": "capacity", "where": {"source": "us"}, "multiplier": 0.5},
            {"type": "capacity", "where": {"source": "us"}, "multiplier": 0.6, "from": FEB},
        ],
    ))
    assert_bought(sol, {(JAN, "us"): 5, (JAN, "jp"): 5, (FEB, "us"): 3, (FEB, "jp"): 7})
    assert_objective(sol, 320)


def test_price_multipliers_in_force_together_multiply():
    """2 months, demand 10. us (domestic) price 10; jp (allied) price 15.

    Price rules on {source: us}: x2 always, x0.7 from 2026-02.
    January: us costs 10 * 2 = 20 > 15 -> buy 10 from jp = 150.
    February: us costs 10 * 2 * 0.7 = 14 < 15 -> buy 10 from us = 140.
    Objective = 290; the February row reports unit_price 14.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        sources=[src("us", "domestic", "US", 10), src("jp", "allied", "JP", 15)],
        policies=[
            {"type": "price", "where": {"source": "us"}, "multiplier": 2},
            {"type": "price", "where": {"source": "us"}, "multiplier": 0.7, "from": FEB},
        ],
    ))
    assert_bought(sol, {(JAN, "jp"): 10, (FEB, "us"): 10})
    feb = sol.purchases[sol.purchases["period"] == FEB].iloc[0]
    assert close(feb["unit_price"], 14) and close(feb["landed_cost"], 14)
    assert_objective(sol, 290)


def test_demand_multiplier_scales_demand_from_its_month():
    """2 months, demand 10, one source at 10. Demand rule x1.5 on {material: dy} from 2026-02.

    Demand = [10, 15]; buy exactly that. Objective = 100 + 150 = 250.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        policies=[{"type": "demand", "where": {"material": "dy"}, "multiplier": 1.5, "from": FEB}],
    ))
    assert_bought(sol, {(JAN, "us"): 10, (FEB, "us"): 15})
    assert_list(column(sol, "demand", [JAN, FEB]), [10, 15])
    assert_objective(sol, 250)


# --- supply: lead time, availability window, series ----------------------------------------------


def test_lead_time_delays_arrival_and_forbids_orders_arriving_after_horizon():
    """3 months, demand 10/month, sale_price 12 for surplus, no stockpile.
    slow (allied) price 10, capacity 15, lead_time 1; fast (domestic) price 30, lead 0.

    January: nothing from slow arrives yet -> buy 10 from fast (300; 30 > 12 so no more).
    slow orders placed in Jan / Feb arrive Feb / Mar; each unit costs 10 and is worth at least the
    sale price 12, so both orders go to capacity 15: 10 meet demand, 5 are sold (5 * 12 = 60 each).
    A March order would arrive in April, after the horizon: not allowed (were it allowed to land in
    March it would be bought too, since 12 > 10).
    Objective = 300 + 150 + 150 - 60 - 60 = 480.
    """
    sol = solve(scenario(
        materials=dy(sale_price=12),
        sources=[src("slow", "allied", "JP", 10, capacity=15, lead_time=1), src("fast", "domestic", "US", 30)],
    ))
    assert_bought(sol, {(JAN, "fast"): 10, (JAN, "slow"): 15, (FEB, "slow"): 15})
    arrival = {r.period: r.arrival_period for r in sol.purchases.itertuples() if r.source == "slow"}
    assert arrival == {JAN: FEB, FEB: MAR}
    assert_list(column(sol, "surplus", [JAN, FEB, MAR]), [0, 5, 5])
    assert_objective(sol, 480)


def test_availability_window_from_inclusive_until_exclusive():
    """4 months, demand 10. cheap (allied) price 10 with available_from 2026-02, available_until
    2026-04 (exclusive): usable in Feb and Mar only. dear (domestic) price 20 always.

    Jan: dear 10 (200); Feb, Mar: cheap 10 each (100 + 100); Apr: dear 10 (200).
    Objective = 600.
    """
    sol = solve(scenario(
        horizon=horizon(4),
        sources=[
            src("cheap", "allied", "JP", 10, available_from=FEB, available_until=APR),
            src("dear", "domestic", "US", 20),
        ],
    ))
    assert_bought(sol, {(JAN, "dear"): 10, (FEB, "cheap"): 10, (MAR, "cheap"): 10, (APR, "dear"): 10})
    assert_objective(sol, 600)


def test_availability_window_uses_the_first_month_of_a_quarter():
    """2 quarters (2026-01, 2026-04), demand 10. cheap (allied) price 10, available_from 2026-02;
    dear (domestic) price 20.

    A window covers a period when the period's FIRST month lies in it: Q1 starts 2026-01 < 2026-02,
    so cheap is not available in Q1; Q2 starts 2026-04, covered.
    Q1: dear 10 (200); Q2: cheap 10 (100). Objective = 300 (discount rate 0).
    """
    sol = solve(scenario(
        horizon=horizon(2, "quarter"),
        sources=[src("cheap", "allied", "JP", 10, available_from=FEB), src("dear", "domestic", "US", 20)],
    ))
    assert_bought(sol, {(JAN, "dear"): 10, (APR, "cheap"): 10})
    assert_objective(sol, 300)


def test_series_as_list_and_as_month_mapping():
    """4 months. demand as a list [1, 2, 3, 4]; price as a mapping {2026-02: 12, 2026-04: 8}.

    The mapping is a step function and periods before the first key take the first key's value:
    price = [12, 12, 12, 8]. No storage: buy the demand each month.
    Objective = 12*1 + 12*2 + 12*3 + 8*4 = 12 + 24 + 36 + 32 = 104.
    """
    sol = solve(scenario(
        horizon=horizon(4),
        materials=dy(demand=[1, 2, 3, 4]),
        sources=[src("us", "domestic", "US", {FEB: 12, APR: 8})],
    ))
    assert_bought(sol, {(JAN, "us"): 1, (FEB, "us"): 2, (MAR, "us"): 3, (APR, "us"): 4})
    assert [float(x) for x in sol.purchases["unit_price"]] == [12, 12, 12, 8]
    assert_objective(sol, 104)


def test_series_mapping_key_inside_a_quarter_applies_from_that_quarter():
    """3 quarters (2026-01, -04, -07), demand [1, 2, 3], price {2026-01: 10, 2026-05: 20}.

    2026-05 lies in the quarter starting 2026-04, so price = [10, 20, 20].
    Objective = 10*1 + 20*2 + 20*3 = 110 (discount rate 0).
    """
    sol = solve(scenario(
        horizon=horizon(3, "quarter"),
        materials=dy(demand=[1, 2, 3]),
        sources=[src("us", "domestic", "US", {JAN: 10, "2026-05": 20})],
    ))
    assert_bought(sol, {(JAN, "us"): 1, (APR, "us"): 2, ("2026-07", "us"): 3})
    assert_objective(sol, 110)


def test_arrivals_are_received_and_carried_in_stock():
    """3 months, demand 10, source price 10, stockpile holding 1/unit/month; arrivals [25, 0, 0].

    January: 25 arrive, 10 consumed. Keeping a unit for Feb costs 1 and for Mar 2, both cheaper
    than buying at 10, so keep 15: 10 for Feb and 5 for Mar. Stock = [15, 5, 0].
    March: 5 from stock + buy 5. Objective = (15 + 5) * 1 + 5 * 10 = 70.
    """
    sol = solve(scenario(
        materials=dy(arrivals=[25, 0, 0], stockpile={"holding_cost": 1}),
    ))
    assert_bought(sol, {(MAR, "us"): 5})
    assert_list(column(sol, "level", [JAN, FEB, MAR]), [15, 5, 0])
    assert_list(column(sol, "surplus", [JAN, FEB, MAR]), [0, 0, 0])
    assert_objective(sol, 70)


# --- stockpile: buy-ahead, targets, capacity -----------------------------------------------------


@pytest.mark.parametrize(
    ("holding", "plan", "levels", "objective"),
    [
        (3, {(JAN, "us"): 20}, [10, 0], 230),
        (5, {(JAN, "us"): 10, (FEB, "us"): 10}, [0, 0], 240),
    ],
    ids=["buy-ahead", "buy-as-needed"],
)
def test_buy_ahead_versus_holding_cost(holding, plan, levels, objective):
    """2 months, demand 10, price [10, 14], stockpile with holding cost h per unit per month.

    A February unit bought in January costs 10 + h; bought in February, 14.
    h = 3: 13 < 14 -> buy 20 in January, stock [10, 0]; objective = 200 + 10*3 = 230.
    h = 5: 15 > 14 -> buy 10 each month, stock [0, 0]; objective = 100 + 140 = 240.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(stockpile={"holding_cost": holding}),
        sources=[src("us", "domestic", "US", [10, 14])],
    ))
    assert_bought(sol, plan)
    assert_list(column(sol, "level", [JAN, FEB]), levels)
    assert_objective(sol, objective)


@pytest.mark.parametrize(
    ("penalty", "plan", "levels", "below", "objective"),
    [
        (12, {(JAN, "us"): 15, (FEB, "us"): 10}, [5, 5], [0, 0], 260),
        (5, {(JAN, "us"): 15, (FEB, "us"): 5}, [5, 0], [0, 5], 230),
        (0.4, {(JAN, "us"): 10, (FEB, "us"): 10}, [0, 0], [5, 5], 204),
    ],
    ids=["hold-both-months", "hold-january-only", "never-hold"],
)
def test_soft_target_with_penalty(penalty, plan, levels, below, objective):
    """2 months, demand 10, price 10, holding 1; soft target 5 with target_penalty P per unit per
    month below it. Baseline (no target) = 200. Per unit of the target, the options are:
      (a) never hold:                       2P
      (b) buy in Jan, hold both months:     10 + 1 + 1 = 12 (the unit is never used)
      (c) buy in Jan, hold Jan, use in Feb: 10 + 1 - 10 (saves a Feb purchase) + P = 1 + P
      (d) buy in Feb, hold Feb only:        10 + 1 + P = 11 + P  (always worse than c)
    P = 12:  a 24, b 12, c 13 -> b: buy 15/10, stock [5, 5];  objective 200 + 5*12 = 260.
    P = 5:   a 10, b 12, c 6  -> c: buy 15/5, stock [5, 0], below [0, 5];
             objective 150 + 50 + 5*1 + 5*5 = 230.
    P = 0.4: a 0.8, b 12, c 1.4 -> a: buy 10/10, below [5, 5]; objective 200 + 10*0.4 = 204.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(stockpile={"holding_cost": 1, "target": 5, "target_penalty": penalty}),
    ))
    assert_bought(sol, plan)
    assert_list(column(sol, "level", [JAN, FEB]), levels)
    assert_list(column(sol, "below_target", [JAN, FEB]), below)
    assert_list(column(sol, "target", [JAN, FEB]), [5, 5])
    assert_objective(sol, objective)


def test_hard_target_is_kept_whatever_the_cost():
    """2 months, demand 10, price 10, holding 1, hard target 5 (no penalty needed).

    Stock must end each month at >= 5; holding more only costs. January: buy 10 + 5 = 15, stock 5;
    February: stock must stay 5, buy 10. Objective = 150 + 100 + (5 + 5) * 1 = 260.
    (A soft target with penalty 0.4 would give 204, see above.)
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(stockpile={"holding_cost": 1, "target": 5, "hard_target": True}),
    ))
    assert_bought(sol, {(JAN, "us"): 15, (FEB, "us"): 10})
    assert_list(column(sol, "level", [JAN, FEB]), [5, 5])
    assert_list(column(sol, "below_target", [JAN, FEB]), [0, 0])
    assert_objective(sol, 260)


def test_hard_target_out_of_reach_is_infeasible():
    """1 month, no demand, hard target 5, initial 0, the only source has capacity 3.

    stock <= 0 + 3 < 5 and below = 0: no feasible plan.
    """
    sol = solve(scenario(
        horizon=horizon(1),
        materials=[{"id": "dy", "stockpile": {"target": 5, "hard_target": True}}],
        sources=[src("us", "domestic", "US", 10, capacity=3)],
    ), status="infeasible")
    assert sol.objective is None


def test_stock_capacity_limits_buying_ahead():
    """2 months, demand 10, price [10, 20], holding 1, stockpile capacity 8.

    Buying February's needs in January costs 11 < 20, but at most 8 can be stored.
    January: buy 18, stock 8; February: buy 2. Objective = 180 + 8*1 + 2*20 = 228.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(stockpile={"holding_cost": 1, "capacity": 8}),
        sources=[src("us", "domestic", "US", [10, 20])],
    ))
    assert_bought(sol, {(JAN, "us"): 18, (FEB, "us"): 2})
    assert_list(column(sol, "level", [JAN, FEB]), [8, 0])
    assert_objective(sol, 228)


# --- shortfall, budget, share limits -------------------------------------------------------------


def test_shortfall_when_supply_is_insufficient():
    """2 months, demand 10, source capacity 6 price 10, shortfall_penalty 1000.

    Buy 6 each month, short 4 each month. Objective = 2 * (60 + 4*1000) = 8120.
    One more unit would avoid a unit of shortfall: shadow price 1000 in each month.
    """
    sol = solve(scenario(horizon=horizon(2), sources=[src("us", "domestic", "US", 10, capacity=6)]))
    assert_bought(sol, {(JAN, "us"): 6, (FEB, "us"): 6})
    assert_list(column(sol, "shortfall", [JAN, FEB]), [4, 4])
    assert close(sol.summary["scenarios"]["base"]["cost"], 8120)
    assert close(shadow(sol, JAN), 1000) and close(shadow(sol, FEB), 1000)
    assert_objective(sol, 8120)


def test_shortfall_cheaper_than_buying():
    """2 months, demand 10, price 10, shortfall_penalty 5 < 10: buy nothing, short 10 each month.

    Objective = 2 * 10 * 5 = 100.
    """
    sol = solve(scenario(horizon=horizon(2), materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 5}]))
    assert bought(sol) == {}
    assert_list(column(sol, "shortfall", [JAN, FEB]), [10, 10])
    assert_objective(sol, 100)


def test_budget_binding_forces_shortfall_in_covered_period_only():
    """2 months, demand 10, price 10, penalty 1000; budget 50 from 2026-02 (covers February only).

    January is not covered: buy 10 (100). February: spend <= 50 -> buy 5, short 5.
    Objective = 100 + 50 + 5*1000 = 5150; cash spend 150.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        budgets=[{"name": "fy", "amount": 50, "from": FEB}],
    ))
    assert_bought(sol, {(JAN, "us"): 10, (FEB, "us"): 5})
    assert_list(column(sol, "shortfall", [JAN, FEB]), [0, 5])
    assert close(sol.summary["cash_spend"], 150)
    assert_objective(sol, 5150)


def test_budget_binding_forces_cheaper_source():
    """1 month, demand 10, risk premium 1. safe (domestic, risk 0) price 15 -> objective cost 15;
    cheap (other, risk 1) price 10 -> objective cost 10 * (1 + 1*1) = 20. Budget 120 (cash:
    landed price, no premium).

    Unconstrained: all from safe (15 < 20), spend 150 > 120. With x from safe and 10 - x from cheap:
    15x + 10(10 - x) <= 120 -> x <= 4; objective 15x + 20(10 - x) = 200 - 5x is least at x = 4.
    Buy safe 4, cheap 6; objective = 60 + 120 = 180; cash spend = 60 + 60 = 120.
    """
    sol = solve(scenario(
        horizon=horizon(1),
        sources=[src("safe", "domestic", "US", 15, risk=0), src("cheap", "other", "BR", 10, risk=1)],
        budgets=[{"name": "cap", "amount": 120}],
        risk={"premium": 1},
    ))
    assert_bought(sol, {(JAN, "safe"): 4, (JAN, "cheap"): 6})
    assert close(sol.summary["cash_spend"], 120)
    assert_objective(sol, 180)


def test_max_share_per_period_binds():
    """2 months, demand 10. cn (china) price 10, us (domestic) price 20.
    Limit: china at most 30 % of dy purchases, in each period.

    Each month: cn <= 0.3 (cn + us) and cn + us >= 10. Cheapest: cn 3, us 7 (buying extra us to
    raise the allowance only adds cost). Month cost 30 + 140 = 170; objective = 340.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        sources=[src("cn", "china", "CN", 10), src("us", "domestic", "US", 20)],
        limits=[{"name": "cap-cn", "material": "dy", "where": {"region": "china"}, "max_share": 0.3}],
    ))
    assert_bought(sol, {(JAN, "cn"): 3, (JAN, "us"): 7, (FEB, "cn"): 3, (FEB, "us"): 7})
    assert_objective(sol, 340)


def test_min_share_over_horizon_binds_on_the_total():
    """2 months, demand 10. cn (china) price 10, us (domestic) price [20, 12].
    Limit: domestic at least 50 % of dy purchases summed over the horizon.

    Total purchases 20, so us >= 10 in total. A us unit costs 20 in Jan and 12 in Feb; swapping
    it for cn costs 20 - 10 = 10 in Jan vs 12 - 10 = 2 in Feb -> all 10 us units in February.
    Plan: Jan cn 10, Feb us 10. Objective = 100 + 120 = 220.
    (A per-period 50 % floor would give 5/5 each month: 50 + 100 + 50 + 60 = 260.)
    """
    sol = solve(scenario(
        horizon=horizon(2),
        sources=[src("cn", "china", "CN", 10), src("us", "domestic", "US", [20, 12])],
        limits=[{"name": "floor", "material": "dy", "where": {"region": "domestic"}, "min_share": 0.5,
                 "over": "horizon"}],
    ))
    assert_bought(sol, {(JAN, "cn"): 10, (FEB, "us"): 10})
    assert_objective(sol, 220)


# --- processing and expansion --------------------------------------------------------------------


def test_coproduct_processing_with_sale_of_byproduct():
    """1 month. Materials: ore (feedstock), ni (demand 10), co (no demand, sale_price 5).
    mine (domestic) sells ore at 1; ni-import (allied) sells ni at 5.5.
    refinery: input ore, outputs {ni: 0.5, co: 0.2}, cost 2 per ore unit, unlimited.

    Via the refinery one unit of ni takes 2 ore: 2 * (1 + 2) = 6, minus the co-product
    2 * 0.2 = 0.4 co sold at 5 = 2 -> net 4 < 5.5 (without the sale it would be 6 > 5.5).
    An extra ore unit beyond need costs 3 and returns 0.2 * 5 = 1: not worth it.
    Plan: buy 20 ore, process 20 -> 10 ni + 4 co, sell 4 co as surplus.
    Objective = 20 + 40 - 20 = 40; cash spend = 20 + 40 = 60.
    """
    sol = solve(scenario(
        horizon=horizon(1),
        materials=[
            {"id": "ore"},
            {"id": "ni", "demand": 10, "shortfall_penalty": 1000},
            {"id": "co", "sale_price": 5},
        ],
        sources=[
            {"id": "mine", "material": "ore", "region": "domestic", "country": "US", "price": 1},
            {"id": "ni-import", "material": "ni", "region": "allied", "country": "JP", "price": 5.5},
        ],
        processors=[{"id": "refinery", "region": "domestic", "country": "US", "input": "ore",
                     "outputs": {"ni": 0.5, "co": 0.2}, "cost": 2}],
    ))
    assert_bought(sol, {(JAN, "mine"): 20})
    proc = {(r.material, r.flow): (float(r.quantity), float(r.spend)) for r in sol.processing.itertuples()}
    assert set(proc) == {("ore", "input"), ("ni", "output"), ("co", "output")}
    assert close(proc["ore", "input"][0], 20) and close(proc["ore", "input"][1], 40)
    assert close(proc["ni", "output"][0], 10)
    assert close(proc["co", "output"][0], 4)
    assert_list(column(sol, "surplus", [JAN], material="co"), [4])
    assert_list(column(sol, "surplus", [JAN], material="ni"), [0])
    assert close(sol.summary["cash_spend"], 60)
    assert_objective(sol, 40)


def test_source_expansion_with_lead_time():
    """3 months, demand 10. us (domestic) price 10, capacity 4, expansion {max 10, capex 5,
    lead_time 1}; jp (allied) price 30, unlimited.

    Capacity built in month t is usable from t + 1; builds whose capacity would only be usable after
    the horizon are pointless (none in March).
    January: us 4 + jp 6 = 40 + 180 = 220 regardless.
    Building 6 in January (capex 30) lets us cover Feb and Mar (saves 2 * 6 * (30 - 10) = 240).
    A February build would serve March only (saves 20 per unit for capex 5) but is dominated by
    the January build. Plan: build 6 in Jan (usable from Feb), us 10 in Feb and Mar.
    Objective = 220 + 30 + 100 + 100 = 450.
    """
    sol = solve(scenario(
        sources=[
            src("us", "domestic", "US", 10, capacity=4, expansion={"max": 10, "capex": 5, "lead_time": 1}),
            src("jp", "allied", "JP", 30),
        ],
    ))
    assert_bought(sol, {(JAN, "us"): 4, (JAN, "jp"): 6, (FEB, "us"): 10, (MAR, "us"): 10})
    exp = sol.expansion
    assert len(exp) == 1
    row = exp.iloc[0]
    assert (row["period"], row["kind"], row["entity"], row["usable_from"]) == (JAN, "source", "us", FEB)
    assert close(row["built"], 6) and close(row["spend"], 30)
    assert_objective(sol, 450)


def refinery_case(periods: int, demand: float, import_price: float, expansion: dict) -> dict:
    """ore (feedstock) from mine at 1; ni demand per month, ni-import at `import_price`; refinery
    ore -> {ni: 1}, cost 1, capacity 0, with this expansion."""
    return scenario(
        horizon=horizon(periods),
        materials=[{"id": "ore"}, {"id": "ni", "demand": demand, "shortfall_penalty": 1000}],
        sources=[
            {"id": "mine", "material": "ore", "region": "domestic", "country": "US", "price": 1},
            {"id": "ni-import", "material": "ni", "region": "allied", "country": "JP", "price": import_price},
        ],
        processors=[{"id": "refinery", "region": "domestic", "country": "US", "input": "ore",
                     "outputs": {"ni": 1}, "cost": 1, "capacity": 0, "expansion": expansion}],
    )


def test_processor_expansion():
    """2 months. ore (feedstock) from mine at 1; ni demand 10/month, ni-import at 4.
    refinery: ore -> {ni: 1}, cost 1, capacity 0, expansion {max 100, capex 3, lead 0}.

    Refined ni costs 1 + 1 = 2 per unit, saving 2 per unit-month over the import. A unit of
    capacity built in January serves 2 months (saves 4 > capex 3); built in February it saves 2 < 3.
    Plan: build 10 in January; each month buy 10 ore and refine 10.
    Objective = 30 + 2 * (10 + 10) = 70 (importing would cost 80).
    """
    sol = solve(refinery_case(periods=2, demand=10, import_price=4, expansion={"max": 100, "capex": 3}))
    assert_bought(sol, {(JAN, "mine"): 10, (FEB, "mine"): 10})
    inputs = sol.processing[sol.processing["flow"] == "input"]
    assert {r.period: float(r.quantity) for r in inputs.itertuples()} == pytest.approx({JAN: 10, FEB: 10})
    exp = sol.expansion
    assert len(exp) == 1
    row = exp.iloc[0]
    assert (row["period"], row["kind"], row["entity"], row["usable_from"]) == (JAN, "processor", "refinery", JAN)
    assert close(row["built"], 10) and close(row["spend"], 30)
    assert_objective(sol, 70)


# --- discounting, risk, shadow prices ------------------------------------------------------------


def test_discounting_quarterly():
    """3 quarters, discount_rate 0.1 (annual), demand 10, price 10, stockpile with no holding cost.

    disc_t = 1.1 ** (-t * 3 / 12): [1, 1.1**-0.25, 1.1**-0.5]. Buying ahead saves nothing on price
    and loses discounting, so buy 10 each quarter.
    Objective = 100 * (1 + 1.1**-0.25 + 1.1**-0.5); cash spend (undiscounted) = 300.
    Shadow prices divided by disc_t read 10 in each quarter.
    """
    sol = solve(scenario(
        horizon=horizon(3, "quarter", discount_rate=0.1),
        materials=dy(stockpile={}),
    ))
    assert_bought(sol, {(JAN, "us"): 10, (APR, "us"): 10, ("2026-07", "us"): 10})
    expected = 100 * (1 + 1.1 ** -0.25 + 1.1 ** -0.5)
    assert math.isclose(expected, 100 + 97.6454089 + 95.3462589, rel_tol=1e-8)
    assert close(sol.summary["cash_spend"], 300)
    assert close(sol.summary["expected_cost"], expected)
    for p in (JAN, APR, "2026-07"):
        assert close(shadow(sol, p), 10)
    assert_objective(sol, expected)


@pytest.mark.parametrize(
    ("region", "country", "risk"),
    [("domestic", "US", 0.05), ("allied", "JP", 0.15), ("deep_sea", "INTL", 0.35), ("other", "BR", 0.5),
     ("china", "CN", 0.9)],
)
def test_default_risk_scores_by_region(region, country, risk):
    """1 month, demand 1, one source at 100, premium 1: objective = 100 * (1 + risk[region]),
    while cash spend stays 100 (the premium is not cash)."""
    sol = solve(scenario(
        horizon=horizon(1),
        materials=dy(demand=1),
        sources=[src("s", region, country, 100)],
        risk={"premium": 1},
    ))
    assert_bought(sol, {(JAN, "s"): 1})
    assert close(sol.summary["cash_spend"], 100)
    assert_objective(sol, 100 * (1 + risk))


@pytest.mark.parametrize(
    ("premium", "plan", "objective"),
    [(0.0, {(JAN, "cn"): 10}, 100), (0.5, {(JAN, "jp"): 10}, 123.625)],
    ids=["no-premium", "premium-0.5"],
)
def test_risk_premium_changes_choice_of_source(premium, plan, objective):
    """1 month, demand 10. cn (china, default risk 0.9) price 10; jp (allied, 0.15) price 11.5.

    premium 0:   cn 10 < jp 11.5 -> buy cn; objective 100.
    premium 0.5: cn 10 * (1 + 0.5*0.9) = 14.5 > jp 11.5 * (1 + 0.5*0.15) = 12.3625 -> buy jp;
                 objective 123.625, cash spend 115.
    """
    sol = solve(scenario(
        horizon=horizon(1),
        sources=[src("cn", "china", "CN", 10), src("jp", "allied", "JP", 11.5)],
        risk={"premium": premium},
    ))
    assert_bought(sol, plan)
    assert close(sol.summary["cash_spend"], 100 if premium == 0 else 115)
    assert_objective(sol, objective)


def test_shadow_price_is_the_marginal_sources_landed_cost():
    """1 month, demand 10. us (domestic) price 10 capacity 6; jp (allied) price 12, freight 3,
    tariff 0.5 on JP -> landed 12 * 1.5 + 3 = 21 (freight untaxed).

    Buy us 6 (60) and jp 4 (84): objective 144. jp is strictly between its bounds, so one more unit
    of dy would save one jp unit: shadow price 21. The purchases table shows landed 21.
    """
    sol = solve(scenario(
        horizon=horizon(1),
        sources=[src("us", "domestic", "US", 10, capacity=6), src("jp", "allied", "JP", 12, freight=3)],
        policies=[{"type": "tariff", "rate": 0.5, "where": {"country": "JP"}}],
    ))
    assert_bought(sol, {(JAN, "us"): 6, (JAN, "jp"): 4})
    jp = sol.purchases.set_index("source").loc["jp"]
    assert close(jp["landed_cost"], 21) and close(jp["spend"], 84)
    assert close(shadow(sol, JAN), 21)
    assert_objective(sol, 144)


# --- scenarios: CVaR and non-anticipativity ------------------------------------------------------


def _cvar_case(aversion: float) -> dict:
    return scenario(
        horizon=horizon(2),
        materials=dy(demand=[0, 10], stockpile={"holding_cost": [0, 1]}),
        sources=[src("us", "domestic", "US", [10, 20])],
        risk={"aversion": aversion, "alpha": 0.5},
        scenarios=[
            {"name": "base", "probability": 0.7},
            {"name": "high", "probability": 0.3,
             "events": [{"type": "demand", "where": {"material": "dy"}, "multiplier": 2, "from": FEB}]},
        ],
    )


def test_cvar_with_full_aversion_is_the_objective():
    """2 months, price [10, 20], demand [0, 10]; stockpile, holding [0, 1]. Scenarios: base (0.7) and
    high (0.3: demand x2 from Feb, so 20). Jan is shared (non-anticipativity): buy x in Jan.
    risk aversion 1, alpha 0.5: objective = CVaR_0.5(C) = mean cost of the worst 50 % of probability.

    For 10 <= x <= 20 (Feb buys what is missing at 20; leftovers are disposed, not held at 1):
      C_base = 10x, C_high = 10x + 20(20 - x) = 400 - 10x >= C_base;
      CVaR = (0.3 * C_high + 0.2 * C_base) / 0.5 = (120 - 3x + 2x) / 0.5 = 240 - 2x, decreasing.
    For x < 10: C_base = 200 - 10x, C_high = 400 - 10x, CVaR = 320 - 10x, decreasing.
    For x > 20 both costs grow by 10 per unit. So x = 20: C_base = C_high = 200, objective 200.
    Feb: nothing bought; base disposes 10 (surplus), high uses all 20. cvar = expected = 200.
    """
    sol = solve(_cvar_case(1.0))
    for k in ("base", "high"):
        assert_bought(sol, {(JAN, "us"): 20}, scen=k)
        assert close(sol.summary["scenarios"][k]["cost"], 200)
    assert_list(column(sol, "level", [JAN, FEB], scen="base"), [20, 0])
    assert_list(column(sol, "surplus", [JAN, FEB], scen="base"), [0, 10])
    assert close(sol.summary["cvar"], 200)
    assert close(sol.summary["expected_cost"], 200)
    assert_objective(sol, 200)


def test_risk_neutral_counterpart_of_the_cvar_case():
    """Same as above with aversion 0: objective = expected cost.

    A Jan unit beyond 10 costs 10 and saves 20 only in high: 0.3 * 20 = 6 < 10 -> x = 10.
    Below 10 each Jan unit saves 20 for sure -> x = 10 exactly.
    C_base = 100, C_high = 100 + 10 * 20 = 300; expected = 0.7*100 + 0.3*300 = 160.
    CVaR_0.5 of (100 w.p. 0.7, 300 w.p. 0.3) = (0.3*300 + 0.2*100) / 0.5 = 220.
    """
    sol = solve(_cvar_case(0.0))
    assert_bought(sol, {(JAN, "us"): 10}, scen="base")
    assert_bought(sol, {(JAN, "us"): 10, (FEB, "us"): 10}, scen="high")
    assert close(sol.summary["scenarios"]["base"]["cost"], 100)
    assert close(sol.summary["scenarios"]["high"]["cost"], 300)
    assert close(sol.summary["cvar"], 220)
    assert_objective(sol, 160)


def test_embargo_scenario_forces_stockpiling_before_the_ban():
    """3 months, demand 10. cn (china) price 10, us (domestic) price 30, stockpile holding 1.
    Scenarios: base (0.6); embargo (0.4) bans {region: china} from 2026-03.

    Jan and Feb parameters are equal in both scenarios, so their decisions must be equal.
    Extra y units bought from cn in Feb and held to Mar cost 10 + 1 each; in Mar they replace a cn
    purchase at 10 in base (net +1) and a us purchase at 30 in embargo (net -19): expected
    0.6 * 1 + 0.4 * (-19) = -7 < 0, so y = 10 (beyond 10 units they are useless, +11 each).
    Buying in Jan instead would cost one more month of holding.
    Plan (both scenarios): Jan cn 10, Feb cn 20, stock [0, 10, 0], Mar nothing.
    C_base = C_embargo = 100 + 200 + 10 = 310 = objective.
    (With perfect foresight base would not stockpile: 0.6*300 + 0.4*310 = 304 < 310.)
    """
    sol = solve(scenario(
        materials=dy(stockpile={"holding_cost": 1}),
        sources=[src("cn", "china", "CN", 10), src("us", "domestic", "US", 30)],
        scenarios=[
            {"name": "base", "probability": 0.6},
            {"name": "embargo", "probability": 0.4,
             "events": [{"type": "ban", "where": {"region": "china"}, "from": MAR}]},
        ],
    ))
    for k in ("base", "embargo"):
        assert_bought(sol, {(JAN, "cn"): 10, (FEB, "cn"): 20}, scen=k)
        assert_list(column(sol, "level", [JAN, FEB, MAR], scen=k), [0, 10, 0])
        assert close(sol.summary["scenarios"][k]["cost"], 310)
    assert close(sol.summary["scenarios"]["base"]["probability"], 0.6)
    assert_objective(sol, 310)


# --- SPEC version 2: release, end value, bans on arrival, home_country default ------------------


@pytest.mark.parametrize("hard", [False, True])
def test_release_rule_lets_the_stockpile_serve_demand(hard):
    """3 months, no source. dy: demand [0, 10, 0], shortfall penalty 100; stockpile initial 10,
    target 10 (soft with penalty 60/month, or hard). Scenarios (0.5 each): `hold` has no release;
    `draw` has a release rule on dy from 2026-02 (target 0 in Feb and Mar, soft or hard).

    January is shared (equal parameters): nothing to decide but keeping the 10 (disposing is free
    but only adds target penalty). Then:
    hold: serving Feb's demand from stock leaves stock 0 in Feb and Mar: 2 * 60 * 10 = 1200 of
      target penalty (soft) against 100 * 10 = 1000 of shortfall; so hold 10 and fall short 10:
      C = 1000. Hard: the stock may not go below 10 at all: C = 1000 too.
    draw: no target from Feb: serve demand from stock, stock [10, 0, 0], no shortfall: C = 0.
    Objective 0.5 * 1000 + 0.5 * 0 = 500. stockpile.csv shows the target in force: 10, 0, 0 in draw.
    """
    stockpile = {"initial": 10, "target": 10}
    stockpile.update({"hard_target": True} if hard else {"target_penalty": 60})
    sol = solve(scenario(
        materials=[{"id": "dy", "demand": [0, 10, 0], "shortfall_penalty": 100, "stockpile": stockpile}],
        sources=[],
        scenarios=[
            {"name": "hold", "probability": 0.5},
            {"name": "draw", "probability": 0.5,
             "events": [{"type": "release", "where": {"material": "dy"}, "from": FEB}]},
        ],
    ))
    assert_list(column(sol, "level", [JAN, FEB, MAR], scen="hold"), [10, 10, 10])
    assert_list(column(sol, "shortfall", [JAN, FEB, MAR], scen="hold"), [0, 10, 0])
    assert_list(column(sol, "level", [JAN, FEB, MAR], scen="draw"), [10, 0, 0])
    assert_list(column(sol, "shortfall", [JAN, FEB, MAR], scen="draw"), [0, 0, 0])
    assert_list(column(sol, "target", [JAN, FEB, MAR], scen="hold"), [10, 10, 10])
    assert_list(column(sol, "target", [JAN, FEB, MAR], scen="draw"), [10, 0, 0])
    assert_list(column(sol, "below_target", [JAN, FEB, MAR], scen="draw"), [0, 0, 0])
    assert close(sol.summary["scenarios"]["hold"]["cost"], 1000)
    assert close(sol.summary["scenarios"]["draw"]["cost"], 0)
    assert_objective(sol, 500)


def test_end_value_makes_a_cheap_source_worth_stocking():
    """2 years, discount 25 %/yr (disc = [1, 0.8]). dy demand 10/yr; cn price 10, capacity 30/yr;
    stockpile holding 1.5/unit/yr, end_value 12.

    Without an end value the plan buys exactly the demand: 10 * 10 + 0.8 * 10 * 10 = 180.
    With it, a unit bought in year 2 and kept costs 0.8 * (10 + 1.5) = 9.2 and is credited
    0.8 * 12 = 9.6: net -0.4, so year 2 buys up to capacity, 30, and keeps 20. A unit bought in
    year 1 and kept costs 10 + 1.5 + 0.8 * 1.5 = 12.7 > 9.6: year 1 buys only its demand.
    Objective = 10 * 10 + 0.8 * (30 * 10 + 20 * 1.5 - 20 * 12) = 100 + 0.8 * 90 = 172.
    Breakdown: end_value 240 undiscounted, 192 discounted; holding 30 / 24; purchases 400 / 340.
    """
    def case(end_value: float) -> dict:
        return scenario(
            horizon={"start": JAN, "periods": 2, "period": "year", "discount_rate": 0.25},
            materials=dy(stockpile={"holding_cost": 1.5, "end_value": end_value}),
            sources=[src("cn", "china", "CN", 10, capacity=30)],
        )

    plain = solve(case(0))
    assert_bought(plain, {("2026-01", "cn"): 10, ("2027-01", "cn"): 10})
    assert_objective(plain, 180)
    sol = solve(case(12))
    assert_bought(sol, {("2026-01", "cn"): 10, ("2027-01", "cn"): 30})
    assert_list(column(sol, "level", ["2026-01", "2027-01"]), [0, 20])
    assert_objective(sol, 172)
    split = sol.summary["cost_breakdown"]["scenarios"]["base"]
    for kind, expected in (("undiscounted", {"end_value": 240, "holding": 30, "purchases": 400, "money": 190}),
                           ("discounted", {"end_value": 192, "holding": 24, "purchases": 340, "money": 172})):
        for key, value in expected.items():
            assert close(split[kind][key], value), (kind, key, split[kind][key], value)


def test_arrival_ban_strands_one_scenarios_order_but_not_the_others():
    """2 months. dy demand [0, 10], shortfall 100. cn (china) price 10, lead 1 (January orders land in
    February); us (domestic) price 30, lead 0. Scenarios (0.5 each): base; embargo with a ban
    {source: cn} `on: arrival` from 2026-02.

    January's parameters are equal in both (the ban covers February only), so the January order x
    from cn is ONE decision. Base receives it; embargo does not, and does not pay for it:
      C_base = 10 x + 30 (10 - x),  C_embargo = 30 * 10 = 300 (for x <= 10),
    expected 0.5 (300 - 20 x) + 150 falls with x up to 10 (beyond, base would pay for surplus).
    So x = 10: C_base = 100, C_embargo = 300 (February us 10), objective 200.
    purchases.csv: January cn 10 in both; in embargo with spend 0 and no arrival period.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(demand=[0, 10]),
        sources=[src("cn", "china", "CN", 10, lead_time=1), src("us", "domestic", "US", 30)],
        scenarios=[
            {"name": "base", "probability": 0.5},
            {"name": "embargo", "probability": 0.5,
             "events": [{"type": "ban", "where": {"source": "cn"}, "on": "arrival", "from": FEB}]},
        ],
    ))
    assert_bought(sol, {(JAN, "cn"): 10}, scen="base")
    assert_bought(sol, {(JAN, "cn"): 10, (FEB, "us"): 10}, scen="embargo")
    rows = sol.purchases.set_index(["scenario", "period", "source"])
    assert close(rows.loc[("base", JAN, "cn"), "spend"], 100) and rows.loc[("base", JAN, "cn"), "arrival_period"] == FEB
    stranded = rows.loc[("embargo", JAN, "cn")]
    assert stranded["spend"] == 0 and pd.isna(stranded["arrival_period"]) and close(stranded["landed_cost"], 10)
    assert_list(column(sol, "shortfall", [JAN, FEB], scen="embargo"), [0, 0])
    assert close(sol.summary["scenarios"]["base"]["cost"], 100)
    assert close(sol.summary["scenarios"]["embargo"]["cost"], 300)
    assert close(sol.summary["scenarios"]["embargo"]["cash_spend"], 300)
    assert_objective(sol, 200)


@pytest.mark.parametrize("on, plan, objective", [
    ("order", {(JAN, "cn"): 10}, 100),                 # ordered in January, delivered in February
    ("arrival", {(FEB, "us"): 10}, 300),               # it would be stopped in every scenario: not ordered
])
def test_ban_on_order_or_on_arrival_known_in_advance(on, plan, objective):
    """As above with one scenario and the ban {source: cn} from 2026-02 as a policy.
    `on: order` bans orders placed from February: the January order (lead 1) is allowed and
    delivered, objective 100. `on: arrival` stops everything arriving from February, known when
    ordering: a January order would never be delivered, so none is placed; us supplies February
    at 30: objective 300.
    """
    sol = solve(scenario(
        horizon=horizon(2),
        materials=dy(demand=[0, 10]),
        sources=[src("cn", "china", "CN", 10, lead_time=1), src("us", "domestic", "US", 30)],
        policies=[{"type": "ban", "where": {"source": "cn"}, "on": on, "from": FEB}],
    ))
    assert_bought(sol, plan)
    assert_objective(sol, objective)


def test_without_arrival_bans_every_order_is_known_at_its_own_node():
    """SPEC 4.0: only a ban `on: arrival` that the scenarios of an order's node cannot tell apart yet
    moves an order's outcome to its arrival nodes. With bans on orders only (the embargo case
    above), every order has one outcome entry, at its own node, with factor 1: the LP is the one
    of SPEC version 1. With the ban `on: arrival` (the stranding case), the shared January order
    has two entries, one per arrival node, and only base's delivers (factor 1; embargo's is 0, so
    left out)."""
    from optimizer.checks import validate
    from optimizer.data import build_data
    from optimizer.model.lp import buy_outcomes, formulate

    def outcomes(on: str) -> tuple:
        doc = scenario(
            horizon=horizon(2), materials=dy(demand=[0, 10]),
            sources=[src("cn", "china", "CN", 10, lead_time=1), src("us", "domestic", "US", 30)],
            scenarios=[{"name": "base", "probability": 0.5},
                       {"name": "embargo", "probability": 0.5,
                        "events": [{"type": "ban", "where": {"source": "cn"}, "on": on, "from": FEB}]}])
        form = formulate(build_data(validate(doc)))
        return form.lp.vars["buy"], buy_outcomes(form.data, form.lp.vars["buy"]), form.data.tree

    buy, (index, node, factor), _ = outcomes("order")
    assert list(index) == list(range(len(buy.entity))) and list(node) == list(buy.node) and set(factor) == {1.0}
    buy, (index, node, factor), tree = outcomes("arrival")
    january_cn = [i for i in range(len(buy.entity)) if buy.entity[i] == 0 and tree.t[buy.node[i]] == 0]
    assert len(january_cn) == 1
    entries = [(n, f) for i, n, f in zip(index, node, factor) if i == january_cn[0]]
    assert entries == [(tree.node_of[1, 0], 1.0)]


def test_domestic_sources_are_exempt_from_tariffs_without_home_country():
    """1 month, demand 10, no home_country. us (domestic, US) price 10, capacity 6; cn (china) price 9.
    A tariff of 0.5 on every source: without home_country the domestic source is exempt (SPEC v2
    4.0): us 10, cn 13.5. Buy us 6 (60) and cn 4 (54): objective 114. (If us were tariffed it
    would cost 15 and the plan would buy cn only, 135.)
    """
    doc = scenario(
        horizon=horizon(1),
        sources=[src("us", "domestic", "US", 10, capacity=6), src("cn", "china", "CN", 9)],
        policies=[{"type": "tariff", "rate": 0.5}],
    )
    doc.pop("home_country")
    sol = solve(doc)
    assert_bought(sol, {(JAN, "us"): 6, (JAN, "cn"): 4})
    rows = sol.purchases.set_index("source")
    assert close(rows.loc["us", "tariff_rate"], 0) and close(rows.loc["cn", "tariff_rate"], 0.5)
    assert_objective(sol, 114)
    split = sol.summary["cost_breakdown"]["expected"]["discounted"]
    assert close(split["tariffs"], 4 * 9 * 0.5) and close(split["purchases"], 114)


# --- SPEC version 2: discrete decisions (a MILP; issue 15) ------------------------------------------


def solve_with(doc: dict, status: str = "optimal", **options):
    """Solve with SolverOptions (e.g. relax=True) and check the status."""
    from optimizer.solve import SolverOptions

    sol = optimizer.solve(doc, SolverOptions(**options)) if options else optimizer.solve(doc)
    assert sol.status == status, (sol.status, sol.explanation)
    return sol


def built(sol) -> dict[tuple[str, str], float]:
    """{(period, entity): capacity built} of scenario base."""
    exp = sol.expansion
    exp = exp[exp["scenario"] == "base"] if "scenario" in exp else exp
    return {(r.period, r.entity): float(r.built) for r in exp.itertuples()}


# --- min_order -----------------------------------------------------------------------------------


def min_order_case(penalty: float) -> dict:
    return scenario(
        horizon=horizon(1),
        materials=[{"id": "dy", "demand": 3, "shortfall_penalty": penalty}],
        sources=[src("us", "domestic", "US", 10, capacity=10, min_order=5)],
    )


def test_min_order_buy_five_to_serve_three_beats_a_shortfall():
    """1 month, demand 3, shortfall penalty 100. us price 10, capacity 10, min_order 5.

    Each order is 0 or at least 5. Buying 3 is not allowed; buying 5 costs 50 and the 2 units over
    demand are disposed of (sale_price 0); a shortfall of 3 costs 300. Plan: buy 5, surplus 2.
    Objective = 50. The relaxation (order = 3/10 makes min_order * order = 1.5 <= 3) buys 3: 30.
    """
    sol = solve_with(min_order_case(100))
    assert_bought(sol, {(JAN, "us"): 5})
    assert close(float(sol.stockpile["surplus"].iloc[0]), 2)
    assert_objective(sol, 50)
    assert sol.summary["mip"]["relaxed"] is False
    assert sol.summary["mip_gap"] is not None and sol.summary["mip_gap"] <= 1e-4
    assert sol.summary["best_bound"] <= sol.objective + TOL
    relaxed = solve_with(min_order_case(100), relax=True)
    assert_bought(relaxed, {(JAN, "us"): 3})
    assert_objective(relaxed, 30)
    assert relaxed.summary["mip"]["relaxed"] is True
    assert relaxed.summary["mip_gap"] is None and relaxed.summary["best_bound"] is None


def test_min_order_shortfall_wins_when_cheaper_than_the_lot():
    """The same with shortfall penalty 15: a shortfall of 3 costs 45 < the lot of 5 at 50.
    Plan: no order, shortfall 3. Objective = 45."""
    sol = solve_with(min_order_case(15))
    assert bought(sol) == {}
    assert close(float(sol.stockpile["shortfall"].iloc[0]), 3)
    assert_objective(sol, 45)


# --- fixed_cost ----------------------------------------------------------------------------------


def fixed_cost_case(**budget) -> dict:
    return scenario(
        horizon=horizon(2),
        materials=[{"id": "dy", "demand": 3, "shortfall_penalty": 1000, "stockpile": {"holding_cost": 1}}],
        sources=[src("us", "domestic", "US", 10, capacity=10, fixed_cost=20)],
        **budget,
    )


def test_fixed_cost_one_order_of_six_beats_two_of_three():
    """2 months, demand 3 each, holding 1/unit/month. us price 10, capacity 10, fixed_cost 20.

    Two orders of 3: 2 * (30 + 20) = 100. One order of 6 in January, 3 held into February:
    60 + 20 + 3 * 1 = 83. Plan: buy 6 in January, stock [3, 0]. Objective = 83, of which fixed
    costs 20 (cost_breakdown `fixed_costs`, counted as money and as cash spend 80).
    The relaxation needs only order >= buy / U (U = capacity 10), so it pays 20 / 10 = 2 per unit:
    buying 3 each month costs (10 + 2) * 6 = 72 < 6 in January at 72 + 3 of holding: 72.
    """
    sol = solve_with(fixed_cost_case())
    assert_bought(sol, {(JAN, "us"): 6})
    assert_objective(sol, 83)
    split = sol.summary["cost_breakdown"]["expected"]["undiscounted"]
    assert close(split["fixed_costs"], 20)
    assert close(sol.summary["cash_spend"], 80)
    assert close(sol.summary["spend_by_region"]["domestic"], 80)
    relaxed = solve_with(fixed_cost_case(), relax=True)
    assert_bought(relaxed, {(JAN, "us"): 3, (FEB, "us"): 3})
    assert_objective(relaxed, 72)


def test_fixed_cost_counts_against_a_budget():
    """1 month, demand 5, shortfall penalty 100. us price 10, capacity 10, fixed_cost 20; budget 60.

    An order of x costs 10 x + 20 <= 60, so x <= 4: buy 4, shortfall 1. Objective = 40 + 20 + 100 =
    160 (without the fixed cost in the budget it would buy 5 for 70)."""
    doc = fixed_cost_case(budgets=[{"name": "b", "amount": 60}])
    doc["horizon"] = horizon(1)
    doc["materials"][0]["demand"] = 5
    doc["materials"][0]["shortfall_penalty"] = 100
    sol = solve_with(doc)
    assert_bought(sol, {(JAN, "us"): 4})
    assert_objective(sol, 160)


# --- expansion.unit ------------------------------------------------------------------------------


def module_case() -> dict:
    return scenario(
        horizon=horizon(1),
        materials=[{"id": "dy", "demand": 6, "shortfall_penalty": 100}],
        sources=[src("us", "domestic", "US", 10, capacity=0,
                     expansion={"max": 12, "capex": 1, "unit": 4})],
    )


def test_module_build_need_six_modules_of_four_build_eight():
    """1 month, demand 6, shortfall penalty 100. us price 10, capacity 0, expansion {max 12,
    capex 1, unit 4, lead_time 0}.

    Capacity comes in modules of 4: 4 serves 4 and leaves a shortfall of 2 (4 + 40 + 200 = 244);
    8 serves all 6 (8 + 60 = 68); 12 costs 4 more than 8. Plan: build 8 (two modules), buy 6.
    Objective = 68. The relaxation builds exactly 6: 6 + 60 = 66.
    """
    sol = solve_with(module_case())
    assert built(sol) == pytest.approx({(JAN, "us"): 8})
    assert_bought(sol, {(JAN, "us"): 6})
    assert_objective(sol, 68)
    relaxed = solve_with(module_case(), relax=True)
    assert built(relaxed) == pytest.approx({(JAN, "us"): 6})
    assert_objective(relaxed, 66)


def test_processor_modules():
    """1 month. ore from mine at 1; ni demand 5, import at 10. refinery ore -> {ni: 1}, cost 1,
    capacity 0, expansion {max 9, capex 2, unit 3}.

    Refined ni costs 1 + 1 = 2 plus capex 2 per unit of capacity; a module of 3 saves 3 * (10 - 4)
    = 18 when fully used. Two modules (6 >= 5): capex 12 + 5 * 2 = 22; one module: 6 + 3 * 2 + 2 * 10
    = 32; none: 50. Plan: build 6, refine 5. Objective = 22."""
    sol = solve_with(refinery_case(periods=1, demand=5, import_price=10, expansion={"max": 9, "capex": 2, "unit": 3}))
    assert built(sol) == pytest.approx({(JAN, "refinery"): 6})
    assert_bought(sol, {(JAN, "mine"): 5})
    assert_objective(sol, 22)


# --- scenario trees: the integer decision is shared before the split ------------------------------


def surge_case() -> dict:
    return scenario(
        horizon=horizon(2),
        materials=[{"id": "dy", "demand": [0, 8], "shortfall_penalty": 1000}],
        sources=[
            src("us", "domestic", "US", 1, capacity=0, expansion={"max": 20, "capex": 5, "lead_time": 1, "unit": 10}),
            src("jp", "allied", "JP", 10),
        ],
        scenarios=[
            {"name": "base", "probability": 0.5},
            {"name": "surge", "probability": 0.5,
             "events": [{"type": "demand", "where": {"material": "dy"}, "multiplier": 2, "from": FEB}]},
        ],
    )


def test_module_decision_is_shared_before_the_split():
    """2 months, demand [0, 8]; scenario surge (0.5) doubles February's demand to 16. us price 1,
    capacity 0, expansion {max 20, capex 5, lead_time 1, unit 10}: only a January build is usable
    (in February), and January cannot tell base from surge, so both build the same modules n.
    jp price 10, unlimited.

    n = 0: C = 80 | 160, expected 120. n = 1 (capex 50): base 50 + 8 = 58; surge 50 + 10 + 6 * 10
    = 120; expected 89. n = 2 (capex 100): 108 | 116, expected 112. Plan: one module in January in
    both scenarios; base buys 8 from us, surge 10 from us and 6 from jp. Objective = 89.
    (With foresight surge alone would build two modules, 116 < 120: expected 87.)
    The relaxation builds 8 (shared): 40 + 8 | 40 + 8 + 80 = 48 | 128, expected 88.
    """
    sol = solve_with(surge_case())
    exp = sol.expansion
    for k in ("base", "surge"):
        rows = exp[exp["scenario"] == k]
        assert [(r.period, r.entity) for r in rows.itertuples()] == [(JAN, "us")]
        assert close(float(rows["built"].iloc[0]), 10)
    assert_bought(sol, {(FEB, "us"): 8}, scen="base")
    assert_bought(sol, {(FEB, "us"): 10, (FEB, "jp"): 6}, scen="surge")
    assert close(sol.summary["scenarios"]["base"]["cost"], 58)
    assert close(sol.summary["scenarios"]["surge"]["cost"], 120)
    assert_objective(sol, 89)
    assert_objective(solve_with(surge_case(), relax=True), 88)


# --- the registry: every variable family and every cost term has a hand-worked test ------------------

#: Variable family (optimizer.model.lp.FAMILIES) -> a test above whose optimum is worked out by hand
#: and that makes that family take a nonzero value (Calliope's register of math components).
HAND_WORKED_FAMILIES = {
    "buy": test_lead_time_delays_arrival_and_forbids_orders_arriving_after_horizon,
    "process": test_coproduct_processing_with_sale_of_byproduct,
    "stock": test_buy_ahead_versus_holding_cost,
    "short": test_shortfall_cheaper_than_buying,
    "surplus": test_coproduct_processing_with_sale_of_byproduct,
    "below": test_soft_target_with_penalty,
    "build_source": test_source_expansion_with_lead_time,
    "built_source": test_source_expansion_with_lead_time,
    "build_processor": test_processor_expansion,
    "built_processor": test_processor_expansion,
    "order": test_fixed_cost_one_order_of_six_beats_two_of_three,
    "modules_source": test_module_build_need_six_modules_of_four_build_eight,
    "modules_processor": test_processor_modules,
    "node_cost": test_cvar_with_full_aversion_is_the_objective,
    "eta": test_cvar_with_full_aversion_is_the_objective,
    "excess": test_cvar_with_full_aversion_is_the_objective,
}
#: Cost term (optimizer.model.lp.COST_TERMS) -> its hand-worked test.
HAND_WORKED_COST_TERMS = {
    ("purchases", "buy"): test_tariffs_in_force_together_add_up_and_home_country_is_untaxed,
    ("tariffs", "buy"): test_tariffs_in_force_together_add_up_and_home_country_is_untaxed,
    ("risk_premium", "buy"): test_risk_premium_changes_choice_of_source,
    ("processing", "process"): test_coproduct_processing_with_sale_of_byproduct,
    ("holding", "stock"): test_buy_ahead_versus_holding_cost,
    ("end_value", "stock"): test_end_value_makes_a_cheap_source_worth_stocking,
    ("shortfall_penalty", "short"): test_shortfall_cheaper_than_buying,
    ("target_penalty", "below"): test_soft_target_with_penalty,
    ("sales_revenue", "surplus"): test_coproduct_processing_with_sale_of_byproduct,
    ("capex", "build_source"): test_source_expansion_with_lead_time,
    ("capex", "build_processor"): test_processor_expansion,
    ("fixed_costs", "order"): test_fixed_cost_one_order_of_six_beats_two_of_three,
}


def test_every_family_and_cost_term_has_a_hand_worked_test():
    """A new variable family or cost term fails here until a hand-worked LP test is registered for it
    (families whose variables the scenario schema cannot create yet are listed in the registry with
    their term and must be registered when they can)."""
    from optimizer.model.lp import COST_TERMS, FAMILIES

    assert set(HAND_WORKED_FAMILIES) == set(FAMILIES), set(FAMILIES) ^ set(HAND_WORKED_FAMILIES)
    terms = {(t.name, t.family) for t in COST_TERMS if t.family in FAMILIES}
    assert set(HAND_WORKED_COST_TERMS) == terms, terms ^ set(HAND_WORKED_COST_TERMS)
    for test in [*HAND_WORKED_FAMILIES.values(), *HAND_WORKED_COST_TERMS.values()]:
        assert test.__doc__ and test.__name__.startswith("test_"), test
