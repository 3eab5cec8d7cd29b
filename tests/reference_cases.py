"""Tiny scenarios of SPEC version 2 whose optimum is worked out by hand in each docstring.

The references are checked on them in test_reference_self.py (decisions as well as objectives);
the product is checked on the same ones in test_reference_v2.py, test_reference_milp.py,
test_reference_tree.py and test_reference_analytics.py.
"""

from __future__ import annotations

from conftest import scenario


def src(ident: str, price: float, region: str = "domestic", country: str = "US", **extra) -> dict:
    """A source of material `dy`."""
    return {"id": ident, "material": "dy", "region": region, "country": country, "price": price, **extra}


# --- SPEC 2-4 (v2) --------------------------------------------------------------------------------


def home_omitted_doc() -> dict:
    """Tariff 0.5 on every source, home_country omitted (SPEC 4.0): the domestic US source (price 10)
    is not tariffed, the Canadian one (price 8) is: landed 12. Buy 10/month from the US source for
    3 months: 300, no tariff paid. (v1 tariffed both: 8 * 1.5 = 12 < 15, buy Canadian: 360.)"""
    doc = scenario(sources=[src("us", 10), src("ca", 8, "allied", "CA")], policies=[{"type": "tariff", "rate": 0.5}])
    del doc["home_country"]
    return doc


def release_doc(released: bool) -> dict:
    """Two months, demand 10, shortfall penalty 100; stock starts at its capacity and target 10
    (target penalty 150/unit/period); the only source (price 10) is banned in month 2.

    Without a release rule, month 2 either draws the stock (10 below target: 1,500) or falls short
    (1,000): it holds 10 and falls short 10 -> 100 + 1,000 = 1,100. With `release` from month 2 the
    target in force there is 0 and the stock serves demand: 100, no shortfall, stock 10 then 0."""
    doc = scenario(horizon={"start": "2026-01", "periods": 2},
                   materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 100,
                               "stockpile": {"initial": 10, "capacity": 10, "target": 10, "target_penalty": 150}}],
                   policies=[{"type": "ban", "from": "2026-02"}])
    if released:
        doc["policies"].append({"type": "release", "where": {"material": "dy"}, "from": "2026-02"})
    return doc


def end_value_doc(end_value: float = 12.0) -> dict:
    """No demand; price 10, stock capacity 5, holding 0.5/unit/period, end_value 12 (undiscounted).
    Buying 5 in the last month: 50 + 2.5 holding - 60 = -7.5 (in month 1: two periods of holding,
    -5); breakdown: purchases 50, holding 2.5, end value 60, money -7.5, penalties 0. With an end
    value of 9 < price nothing is bought: 0."""
    return scenario(horizon={"start": "2026-01", "periods": 2},
                    materials=[{"id": "dy", "stockpile": {"capacity": 5, "holding_cost": 0.5, "end_value": end_value}}])


def discounted_end_value_doc() -> dict:
    """Yearly periods, discount 25 %: disc_1 = 1/1.25 = 0.8. Price 10, capacity 5, end_value 14.
    Buy 5 in year 2: 0.8 * (50 - 70) = -16 (in year 1: 50 - 0.8 * 70 = -6). Undiscounted end value 70."""
    return scenario(horizon={"start": "2026-01", "periods": 2, "period": "year", "discount_rate": 0.25},
                    materials=[{"id": "dy", "stockpile": {"capacity": 5, "end_value": 14}}])


def arrival_ban_doc(on: str = "arrival") -> dict:
    """Demand 0, 10, 10; cn: price 10, lead 1; au: price 30, lead 0; scenario `ban` (p 0.5) bans cn
    from month 2 `on: arrival` (deliveries stop). The ban is a parameter of months 2-3 (SPEC 4.0), so
    month 1 is one node: the cn order of month 1 (10, for month 2) is placed in both scenarios. In
    `base` it arrives (cn 10 + 10: 200); in `ban` it is stranded, never delivered nor paid, and au
    serves months 2-3 (600). Objective 400; first split in month 2 (t = 1).
    With `on: order` the month-1 order still arrives in `ban`: 100 + 300 = 400, objective 300."""
    return scenario(
        materials=[{"id": "dy", "demand": [0, 10, 10], "shortfall_penalty": 1000}],
        sources=[src("cn", 10, "china", "CN", lead_time=1), src("au", 30, "allied", "AU")],
        scenarios=[{"name": "base", "probability": 0.5},
                   {"name": "ban", "probability": 0.5,
                    "events": [{"type": "ban", "where": {"source": "cn"}, "from": "2026-02", "on": on}]}])


def stranded_budget_doc() -> dict:
    """arrival_ban_doc with a budget of 350 per scenario over months 1-2. The plan spends 100 + 100
    in `base`; in `ban` 300 on au, and the stranded month-1 cn order is never paid (4.1.11) so it
    spends no budget: 300 <= 350, the optimum stays 400. (Were the stranded order counted,
    100 + 300 > 350 would cap the shared month-1 order at 5: 450.)"""
    doc = arrival_ban_doc()
    doc["budgets"] = [{"name": "m12", "amount": 350, "until": "2026-03"}]
    return doc


# --- SPEC 4.1.12 / 4.5: discrete decisions ------------------------------------------------------------


def min_order_doc(min_order: float | None = 5) -> dict:
    """One month, demand 3 (penalty 100), no storage; price 10, capacity 20, min_order 5: buying 5
    (2 disposed) costs 50 against 300 of shortfall: 50 (order 1, buy 5). Without min_order: 30."""
    extra = {} if min_order is None else {"min_order": min_order}
    return scenario(horizon={"start": "2026-01", "periods": 1},
                    materials=[{"id": "dy", "demand": 3, "shortfall_penalty": 100}],
                    sources=[src("us", 10, capacity=20, **extra)])


def fixed_cost_doc() -> dict:
    """Two months, demand 3 each; price 10, capacity 20, fixed_cost 20, holding 1/unit/period.
    Two orders: 2 * (30 + 20) = 100; one order of 6 in month 1: 60 + 20 + 3 held = 83."""
    return scenario(horizon={"start": "2026-01", "periods": 2},
                    materials=[{"id": "dy", "demand": 3, "shortfall_penalty": 100, "stockpile": {"holding_cost": 1}}],
                    sources=[src("us", 10, capacity=20, fixed_cost=20)])


def modules_doc(unit: float | None = 4) -> dict:
    """Demand 6 in one month (penalty 100); the source has capacity 0, expansion max 12, capex 10 per
    unit, modules of 4, lead 0; price 1. Two modules (build 8): 80 + 6 = 86; one module and 2 short:
    40 + 4 + 200 = 244. Without modules: build 6, 60 + 6 = 66."""
    expansion = {"max": 12, "capex": 10} | ({} if unit is None else {"unit": unit})
    return scenario(horizon={"start": "2026-01", "periods": 1},
                    materials=[{"id": "dy", "demand": 6, "shortfall_penalty": 100}],
                    sources=[src("us", 1, capacity=0, expansion=expansion)])


def surge_doc(penalty: float = 30, capex: float = 5, unit: float | None = 4) -> dict:
    """Demand in month 2: 4 (base) or 8 (surge, p 0.5); capacity only from modules of 4 (capex 5 per
    unit, lead 1, so built in month 1, before the scenarios split); price 1, penalty 30.
    One module: base 20 + 4 = 24, surge 20 + 4 + 4 * 30 = 144 -> 84; two: base 44, surge 48 -> 46;
    none: 4 * 30 = 120 / 8 * 30 = 240 -> 180.
    The plan builds 8 in month 1 in both scenarios: 46.
    Analytics: WS base alone 24 (one module), surge alone 48: WS 36, EVPI 10; first split 2026-02;
    REF (base) builds 4 in month 1; fixed, surge falls short 4: 144, EEV (24 + 144) / 2 = 84,
    value of hedging 38."""
    return scenario(horizon={"start": "2026-01", "periods": 2},
                    materials=[{"id": "dy", "demand": [0, 4], "shortfall_penalty": penalty}],
                    sources=[src("us", 1, capacity=0, expansion={"max": 8, "capex": capex, "lead_time": 1}
                                 | ({} if unit is None else {"unit": unit}))],
                    scenarios=[{"name": "base", "probability": 0.5},
                               {"name": "surge", "probability": 0.5,
                                "events": [{"type": "demand", "multiplier": 2, "from": "2026-02"}]}])


def stranded_fixed_cost_doc() -> dict:
    """arrival_ban_doc with cn capacity 20 and fixed_cost 7. Ordering cn in month 1 (shared):
    base pays (100 + 7) twice = 214; `ban` pays the fixed cost of its stranded order, 7, and au 600:
    607 -> 410.5. Not ordering in month 1: base 300 + 107 = 407, ban 600 -> 503.5. So 410.5."""
    doc = arrival_ban_doc()
    doc["sources"][0].update(capacity=20, fixed_cost=7)
    return doc


# --- SPEC 8: disruption processes ------------------------------------------------------------------


def process(events: list[dict], periods: int = 3, period: str = "year", stage: str = "year") -> dict:
    """Demand 10 per period of dy (penalty 1000, no storage), us at 10 and au at 20; a disruptions
    section with these events."""
    return {"name": "tree", "home_country": "US",
            "horizon": {"start": "2026-01", "periods": periods, "period": period},
            "materials": [{"id": "dy", "demand": 10, "shortfall_penalty": 1000}],
            "sources": [src("us", 10), src("au", 20, "allied", "AU")],
            "disruptions": {"stage": stage, "max_scenarios": 64, "seed": 1, "events": events}}


def ban_event(**extra) -> dict:
    """An event banning every source, q 0.2 per yearly stage, lasting one stage."""
    return {"name": "ban", "annual_probability": 0.2, "duration": 1, "effects": [{"type": "ban"}], **extra}


def tree_program_doc() -> dict:
    """Three yearly periods, yearly stages, the ban event lasting 1 or 2 years (0.5 each): scenarios
    calm 0.64, ban 2028 0.16 (a start in 2028 lasting 1 or 2 years is one future), ban 2027 0.1, ban
    2027-28 0.1. No storage, so nothing to hedge: a banned year costs 10,000 (short 10 at 1000), a
    free one 100 (us at 10): 0.64 * 300 + 0.16 * 10,200 + 0.1 * 10,200 + 0.1 * 20,100
    = 192 + 1,632 + 1,020 + 2,010 = 4,854."""
    return process([ban_event(duration={1: 0.5, 2: 0.5})])


# --- SPEC 7: analytics ------------------------------------------------------------------------------


def embargo_doc() -> dict:
    """Demand 10/month for 3 months, price 10, penalty 1000, holding 0.1; `embargo` (p 0.5) bans the
    source in month 3. The plan stocks 10 in month 2 in both scenarios: 301 each, objective 301.
    WS: base alone 300, embargo alone 301 (buy 20 in month 2): WS = 300.5, EVPI = 0.5.
    Decide-now: months 1-2 (first split 2026-03). REF = base alone: buy 10, 10, 10; with months
    1-2 fixed at 10, 10: base 300, embargo 200 + 10 short * 1000 = 10,200: EEV 5,250, value of
    hedging 4,949. Risk neutral: cost of risk aversion 0."""
    return scenario(materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000, "stockpile": {"holding_cost": 0.1}}],
                    scenarios=[{"name": "base", "probability": 0.5},
                               {"name": "embargo", "probability": 0.5, "events": [{"type": "ban", "from": "2026-03"}]}])


def averse_surge_doc(unit: float | None = 4) -> dict:
    """surge_doc with penalty 15 and capex 9 per unit (a module of 4 costs 36). Per plan (base, surge;
    expected, CVaR_0.5 = the worse of two equally likely):
    no module 60, 120 (90, 120); one 36 + 4 = 40, 36 + 4 + 4 * 15 = 100 (70, 100);
    two 72 + 4 = 76, 72 + 8 = 80 (78, 80). Aversion 0: one module, 70. Aversion 0.5, alpha 0.5:
    one 0.5 * 70 + 0.5 * 100 = 85, two 0.5 * 78 + 0.5 * 80 = 79: two modules, objective 79,
    expected cost 78. Cost of risk aversion 78 - 70 = 8.
    Without modules (unit None) a build x in [0, 8] gives the same optimum: for x <= 4 base 60 - 5x,
    surge 120 - 5x; for 4 <= x <= 8 base 9x + 4, surge 120 - 5x (the worse). Aversion 0: E = 90 - 5x
    then 62 + 2x: x = 4, 70. Aversion 0.5: 105 - 5x then 0.5 (62 + 2x) + 0.5 (120 - 5x) = 91 - 1.5x:
    x = 8, 79, expected 78."""
    doc = surge_doc(penalty=15, capex=9, unit=unit)
    doc["risk"] = {"aversion": 0.5, "alpha": 0.5}
    return doc


def stockpile_money_doc() -> dict:
    """Two months, demand 10, price 10; target 5 (penalty 100/unit/period), holding 1, end_value 4.
    The plan buys 15 then 10, holding 5 at the end of each month: money 250 + 10 - 20 end value =
    240 (the objective: no penalty). Without target and end value: 200. stockpile_money = 40."""
    return scenario(horizon={"start": "2026-01", "periods": 2},
                    materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000,
                                "stockpile": {"target": 5, "target_penalty": 100, "holding_cost": 1, "end_value": 4}}])


def price_range_doc() -> dict:
    """One month, demand 10 (penalty 100): a (price 10) and b (price 20), both unlimited. The plan
    buys 10 from a (100). It stays optimal while 10 f <= 20: a's factor range [0, 2] (prices 0 and
    20). b is unused: it enters the plan below 20 f <= 10: f_lo 0.5 (price 10), f_hi unbounded."""
    return scenario(horizon={"start": "2026-01", "periods": 1},
                    materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 100}],
                    sources=[src("a", 10), src("b", 20)])


def budget_price_range_doc(amount: float = 100) -> dict:
    """One month, demand 4 (penalty 1000): a (price 10, unlimited) and a budget of `amount`. The plan
    buys 4 from a, spending 40 (cost 40). On cost alone it would stay optimal while 10 f <= 1000
    (f <= 100), but at factor f it spends 40 f, and beyond 40 f = amount it breaks the budget: it is
    infeasible there, hence not optimal (the optimum then buys amount / (10 f) and is short the rest).
    Amount 100: a's range [0, 2.5] (prices 0 and 25). Amount 40: the budget binds, any dearer price
    overspends it: [0, 1] (price_hi 10)."""
    return scenario(horizon={"start": "2026-01", "periods": 1},
                    materials=[{"id": "dy", "demand": 4, "shortfall_penalty": 1000}],
                    sources=[src("a", 10)], budgets=[{"name": "year", "amount": amount}])
