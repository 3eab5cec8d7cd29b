"""Property tests on the exported result tables (SPEC sections 3, 4 and 6).

Every property is checked on what a user sees — the Solution DataFrames, and for the material
balance also the CSV files written by `Solution.write` — against parameters resolved
independently by tests/reference_lp.py (not by optimizer.data).
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import optimizer
from reference_lp import Params, filter_matches, resolve
from strategies import PERIOD_LENGTH, month_index, month_text, scenario_dicts, stranding_dicts


TOL = 1e-6


def fast(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def solved(doc: dict) -> tuple[optimizer.Solution, Params]:
    """Solve (a copy of) doc; only optimal plans are examined."""
    sol = optimizer.solve(copy.deepcopy(doc))
    assume(sol.status == "optimal")
    return sol, resolve(doc)


def period_of(par: Params) -> dict[str, int]:
    """Table period label (YYYY-MM of the period's first month) -> period index."""
    return {month_text(par.cal.first_month(t)): t for t in range(par.T)}


def near(a: float, b: float, scale: float = 1.0) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b), scale)


def tol_le(a: float, b: float, scale: float = 1.0) -> bool:
    return a <= b + TOL * max(1.0, abs(a), abs(b), scale)


class Tables:
    """The result tables re-keyed by (scenario index, period index, id), missing rows = 0."""

    def __init__(self, par: Params, purchases: pd.DataFrame, stockpile: pd.DataFrame,
                 processing: pd.DataFrame, expansion: pd.DataFrame) -> None:
        P = period_of(par)
        K = {name: k for k, name in enumerate(par.names)}
        self.buy = defaultdict(float)  # (k, t, source) -> quantity ordered and delivered
        self.arrive = defaultdict(float)  # (k, t, material) -> quantity arriving from orders
        self.spend_buy = defaultdict(float)  # (k, t) -> purchases spend
        self.stopped = set()  # (k, t, source): ordered, stopped by a ban `on: arrival` (no arrival period)
        for r in purchases.itertuples(index=False):
            k, t = K[r.scenario], P[r.period]
            if not isinstance(r.arrival_period, str) or not r.arrival_period:
                assert float(r.spend) == 0, "a stopped order is paid"
                self.stopped.add((k, t, r.source))
                continue
            self.buy[k, t, r.source] += float(r.quantity)
            self.spend_buy[k, t] += float(r.spend)
            assert r.arrival_period in P, "an order arrives after the horizon"
            self.arrive[k, P[r.arrival_period], r.material] += float(r.quantity)
        self.stock = {}
        for r in stockpile.itertuples(index=False):
            self.stock[K[r.scenario], P[r.period], r.material] = r
        self.proc_in = defaultdict(float)  # (k, t, processor) -> input fed
        self.consumed = defaultdict(float)  # (k, t, material) -> input consumed by processing
        self.produced = defaultdict(float)  # (k, t, material) -> co-products made
        self.spend_proc = defaultdict(float)
        for r in processing.itertuples(index=False):
            k, t = K[r.scenario], P[r.period]
            if r.flow == "input":
                self.proc_in[k, t, r.processor] += float(r.quantity)
                self.consumed[k, t, r.material] += float(r.quantity)
                self.spend_proc[k, t] += float(r.spend)
            else:
                assert r.flow == "output"
                self.produced[k, t, r.material] += float(r.quantity)
        self.built = defaultdict(float)  # (k, t, kind, entity) -> capacity built
        self.spend_build = defaultdict(float)
        for r in expansion.itertuples(index=False):
            k, t = K[r.scenario], P[r.period]
            self.built[k, t, r.kind, r.entity] += float(r.built)
            self.spend_build[k, t] += float(r.spend)

    def level(self, k: int, t: int, m: str, column: str = "level") -> float:
        row = self.stock.get((k, t, m))
        return 0.0 if row is None else float(getattr(row, column))

    def usable_built(self, par: Params, k: int, t: int, kind: str, entity) -> float:
        """Capacity built for `entity` early enough to be used in period t (t' + lead <= t)."""
        if entity.expansion is None:
            return 0.0
        lead = entity.expansion.lead_time
        return sum(self.built[k, u, kind, entity.id] for u in range(par.T) if u + lead <= t)


def tables_of(sol: optimizer.Solution, par: Params) -> Tables:
    return Tables(par, sol.purchases, sol.stockpile, sol.processing, sol.expansion)


def check_balance(par: Params, tb: Tables) -> None:
    """SPEC 4.1.3 for every scenario, period and material, from table rows."""
    for k in range(par.K):
        for t in range(par.T):
            for m, mat in enumerate(par.mats):
                prev = (mat.stockpile.initial if mat.stockpile else 0.0) if t == 0 else tb.level(k, t - 1, mat.id)
                demand = par.demand[m][t] * par.dmult[m, t, k]
                assert near(tb.level(k, t, mat.id, "demand"), demand) or (demand == 0 and (k, t, mat.id) not in tb.stock)
                inflow = prev + tb.arrive[k, t, mat.id] + tb.produced[k, t, mat.id] + par.arrivals[m][t] \
                    + tb.level(k, t, mat.id, "shortfall")
                outflow = demand + tb.level(k, t, mat.id) + tb.consumed[k, t, mat.id] + tb.level(k, t, mat.id, "surplus")
                assert near(inflow, outflow, scale=max(inflow, outflow)), (par.names[k], t, mat.id, inflow, outflow)


@fast(40)
@given(scenario_dicts())
def test_material_balance_holds_in_tables(doc):
    """For every scenario, period and material: stock in + arrivals of orders (by arrival_period) +
    co-products + contracted arrivals + shortfall = demand (after multipliers) + stock out +
    processing input + surplus, read from the purchases, processing and stockpile DataFrames."""
    sol, par = solved(doc)
    check_balance(par, tables_of(sol, par))


@fast(12)
@given(doc=scenario_dicts())
def test_material_balance_holds_in_written_csv(doc, tmp_path_factory):
    """The same balance, read back from the CSV files of `Solution.write` (10 significant digits)."""
    sol, par = solved(doc)
    folder = sol.write(tmp_path_factory.mktemp("out") / "result")
    read = lambda name: pd.read_csv(folder / f"{name}.csv", dtype={"period": str, "arrival_period": str,  # noqa: E731
                                                                   "usable_from": str, "scenario": str})
    tb = Tables(par, read("purchases"), read("stockpile"), read("processing"), read("expansion"))
    check_balance(par, tb)


@fast(60)
@given(scenario_dicts())
def test_bans_windows_and_capacities_hold(doc):
    """Nothing is bought from a source that is banned, outside available_from/until, scaled to zero
    capacity, or whose order would arrive after the horizon; purchases and processing stay within
    (capacity + built capacity usable by then) * multiplier; processors run only when allowed;
    stock stays within capacity (and above a hard target); shortfall never exceeds demand;
    expansion never exceeds its max; the purchase prices are those of SPEC 4 (landed cost)."""
    sol, par = solved(doc)
    tb = tables_of(sol, par)
    for (k, t, sid), q in tb.buy.items():
        s = next(i for i, src in enumerate(par.srcs) if src.id == sid)
        assert q >= -TOL
        if q > 1e-9:
            assert par.buy_allowed(s, t, k), (sid, t, par.names[k])
        cap = par.src_cap[s][t]
        if math.isfinite(cap):
            limit = (cap + tb.usable_built(par, k, t, "source", par.srcs[s])) * par.src_cmult[s, t, k]
            assert tol_le(q, limit), (sid, t, q, limit)
    for r in sol.purchases.itertuples(index=False):
        k, t = par.names.index(r.scenario), period_of(par)[r.period]
        s = next(i for i, src in enumerate(par.srcs) if src.id == r.source)
        assert near(r.landed_cost, par.landed(s, t, k))
        assert near(r.tariff_rate, par.tariff[s, t, k])
        assert near(r.spend, r.landed_cost * r.quantity)
        assert period_of(par)[r.arrival_period] == t + par.srcs[s].lead_time
    for (k, t, pid), q in tb.proc_in.items():
        p = next(i for i, proc in enumerate(par.procs) if proc.id == pid)
        if q > 1e-9:
            assert par.process_allowed(p, t, k), (pid, t, par.names[k])
        cap = par.proc_cap[p][t]
        if math.isfinite(cap):
            limit = (cap + tb.usable_built(par, k, t, "processor", par.procs[p])) * par.proc_cmult[p, t, k]
            assert tol_le(q, limit), (pid, t, q, limit)
    for k in range(par.K):
        for t in range(par.T):
            for m, mat in enumerate(par.mats):
                level = tb.level(k, t, mat.id)
                assert level >= -TOL
                assert tol_le(level, par.stock_cap[m][t]) if mat.stockpile else abs(level) <= TOL
                if mat.stockpile and mat.stockpile.hard_target:
                    assert tol_le(par.target[m][t], level)
                assert tol_le(tb.level(k, t, mat.id, "shortfall"), par.demand[m][t] * par.dmult[m, t, k])
        for kind, ents in (("source", par.srcs), ("processor", par.procs)):
            for ent in ents:
                total = sum(tb.built[k, t, kind, ent.id] for t in range(par.T))
                assert total <= (ent.expansion.max if ent.expansion else 0.0) + TOL


@fast(60)
@given(scenario_dicts())
def test_budgets_and_share_limits_hold(doc):
    """Per scenario, spend (purchases + processing + capex, undiscounted) over a budget's covered
    periods is within its amount; matching purchases of a limit's material stay within
    [min_share, max_share] of all its purchases, per period or summed over the horizon."""
    sol, par = solved(doc)
    check_budgets_and_limits(par, tables_of(sol, par))


def check_budgets_and_limits(par: Params, tb: Tables) -> None:
    """SPEC 4.1.7 and 4.1.8 for every scenario, from table rows (delivered spend and quantities)."""
    for b, budget in enumerate(par.sc.budgets):
        for k in range(par.K):
            spend = sum(tb.spend_buy[k, t] + tb.spend_proc[k, t] + tb.spend_build[k, t]
                        for t in range(par.T) if par.budget_covers[b][t])
            assert tol_le(spend, budget.amount), (budget.name, par.names[k], spend)
    for l, lim in enumerate(par.sc.limits):
        of_mat = [s for s in par.srcs if s.material == lim.material]
        hit = [s for s in of_mat if filter_matches(lim.where, "source", s)]
        groups = [[t] for t in range(par.T)] if lim.over == "period" else [list(range(par.T))]
        for k in range(par.K):
            for group in groups:
                ts = [t for t in group if par.limit_covers[l][t]]
                total = sum(tb.buy[k, t, s.id] for t in ts for s in of_mat)
                matched = sum(tb.buy[k, t, s.id] for t in ts for s in hit)
                if lim.max_share is not None:
                    assert tol_le(matched, lim.max_share * total, scale=total), (lim.name, k, group)
                if lim.min_share is not None:
                    assert tol_le(lim.min_share * total, matched, scale=total), (lim.name, k, group)


def _decisions(sol: optimizer.Solution, scenario: str, period: str) -> dict:
    """Every decision of one scenario in one period, from the tables, keyed by what it is."""
    out = {}
    for r in sol.purchases[(sol.purchases.scenario == scenario) & (sol.purchases.period == period)].itertuples():
        out["buy", r.source] = r.quantity
    for r in sol.processing[(sol.processing.scenario == scenario) & (sol.processing.period == period)].itertuples():
        out["process", r.processor, r.flow, r.material] = r.quantity
    for r in sol.expansion[(sol.expansion.scenario == scenario) & (sol.expansion.period == period)].itertuples():
        out["build", r.kind, r.entity] = r.built
    for r in sol.stockpile[(sol.stockpile.scenario == scenario) & (sol.stockpile.period == period)].itertuples():
        for col in ("level", "below_target", "shortfall", "surplus"):
            out[col, r.material] = getattr(r, col)
    return {key: v for key, v in out.items() if abs(v) > 1e-9}


@fast(60)
@given(st.one_of(scenario_dicts(), scenario_dicts(hedging=True)))
def test_indistinguishable_scenarios_decide_alike(doc):
    """SPEC 4.1.10: when two scenarios have equal parameters (after policies and events) in every
    period <= t, all their decisions of period t — orders, processing, builds, stock, shortfall,
    surplus, below-target — are equal in the tables."""
    sol, par = solved(doc)
    labels = sorted(period_of(par), key=period_of(par).get)
    for t in range(par.T):
        for k1 in range(par.K):
            for k2 in range(k1 + 1, par.K):
                if not par.indistinguishable(k1, k2, t):
                    continue
                a = _decisions(sol, par.names[k1], labels[t])
                b = _decisions(sol, par.names[k2], labels[t])
                assert a.keys() == b.keys(), (t, par.names[k1], par.names[k2], a, b)
                for key in a:
                    assert near(a[key], b[key]), (t, key, a[key], b[key])


def table_costs(sol: optimizer.Solution, par: Params) -> list[float]:
    """C_k of SPEC 4.2 recomputed from the tables and independently resolved prices and penalties."""
    P = period_of(par)
    premium = par.sc.risk.premium
    cost = [0.0] * par.K
    src = {s.id: i for i, s in enumerate(par.srcs)}
    proc = {p.id: i for i, p in enumerate(par.procs)}
    mat = {m.id: i for i, m in enumerate(par.mats)}
    for r in sol.purchases.itertuples(index=False):
        k, t, s = par.names.index(r.scenario), P[r.period], src[r.source]
        cost[k] += par.disc[t] * par.landed(s, t, k) * (1 + premium * par.risk[s]) * r.quantity
    for r in sol.processing[sol.processing.flow == "input"].itertuples(index=False):
        k, t, p = par.names.index(r.scenario), P[r.period], proc[r.processor]
        cost[k] += par.disc[t] * par.proc_cost[p][t] * r.quantity
    for r in sol.stockpile.itertuples(index=False):
        k, t, m = par.names.index(r.scenario), P[r.period], mat[r.material]
        material = par.mats[m]
        penalty = (material.stockpile.target_penalty or 0.0) if material.stockpile else 0.0
        cost[k] += par.disc[t] * (par.holding[m][t] * r.level + (material.shortfall_penalty or 0.0) * r.shortfall
                                  + penalty * r.below_target - material.sale_price * r.surplus)
    capex = {("source", s.id): s.expansion.capex for s in par.srcs if s.expansion}
    capex |= {("processor", p.id): p.expansion.capex for p in par.procs if p.expansion}
    for r in sol.expansion.itertuples(index=False):
        k, t = par.names.index(r.scenario), P[r.period]
        cost[k] += par.disc[t] * capex[r.kind, r.entity] * r.built
    return cost


@fast(40)
@given(scenario_dicts(), st.booleans())
def test_objective_is_the_cost_recomputed_from_tables(doc, risk_neutral):
    """Each scenario's cost in the summary equals SPEC 4.2's C_k recomputed from the tables
    (discounted landed * (1 + premium * risk) * quantity + processing + holding + shortfall and
    target penalties - sales + capex); with aversion 0 the objective is sum_k p_k C_k."""
    if risk_neutral:
        doc = copy.deepcopy(doc)
        doc.setdefault("risk", {})["aversion"] = 0.0
    sol, par = solved(doc)
    costs = table_costs(sol, par)
    # table values below 1e-9 are omitted: allow for that times the largest unit cost
    slack = 1e-5
    for k, name in enumerate(par.names):
        assert abs(costs[k] - sol.summary["scenarios"][name]["cost"]) <= TOL * max(1, abs(costs[k])) + slack
    if risk_neutral:
        expected = sum(p * c for p, c in zip(par.prob, costs))
        assert abs(sol.objective - expected) <= TOL * max(1, abs(expected)) + slack, (sol.objective, expected)


@fast(25)
@given(scenario_dicts(), st.data())
def test_adding_a_ban_never_lowers_the_objective(doc, data):
    """A ban added to `policies` (in force in every scenario) only removes options, and can only
    make scenarios harder to tell apart, so the optimum never improves. (A ban added to ONE
    scenario's events could make scenarios distinguishable earlier and legitimately lower it.)"""
    base = optimizer.solve(copy.deepcopy(doc))
    assume(base.status == "optimal")
    targets = [("source", s["id"]) for s in doc["sources"]] + [("processor", p["id"]) for p in doc.get("processors", [])]
    key, ident = data.draw(st.sampled_from(targets))
    rule = {"type": "ban", "where": {key: ident}}
    start = data.draw(st.one_of(st.none(), st.sampled_from(sorted(period_of(resolve(doc))))))
    if start is not None:
        rule["from"] = start
    banned = copy.deepcopy(doc)
    banned.setdefault("policies", []).append(rule)
    after = optimizer.solve(banned)
    if after.status == "infeasible":
        return  # an infeasible plan costs +infinity: not lower
    assert after.status == "optimal"
    assert after.objective >= base.objective - TOL * max(1, abs(base.objective)), (base.objective, after.objective)


def _scale_series(value, k: float):
    if isinstance(value, (int, float)):
        return value * k
    if isinstance(value, list):
        return [v * k for v in value]
    return {key: v * k for key, v in value.items()}


def scale_money(doc: dict, k: float) -> dict:
    """Every money figure (prices, freight, costs, penalties, sale prices, capex, budgets) times k."""
    out = copy.deepcopy(doc)
    for m in out["materials"]:
        for key in ("shortfall_penalty", "sale_price"):
            if key in m:
                m[key] *= k
        st_ = m.get("stockpile")
        if st_:
            if "holding_cost" in st_:
                st_["holding_cost"] = _scale_series(st_["holding_cost"], k)
            for key in ("target_penalty", "end_value"):
                if key in st_:
                    st_[key] *= k
    for s in out["sources"]:
        s["price"] = _scale_series(s["price"], k)
        if "freight" in s:
            s["freight"] = _scale_series(s["freight"], k)
    for p in out.get("processors", []):
        if "cost" in p:
            p["cost"] = _scale_series(p["cost"], k)
    for e in out["sources"] + out.get("processors", []):
        if "expansion" in e:
            e["expansion"]["capex"] *= k
    for b in out.get("budgets", []):
        b["amount"] *= k
    return out


@fast(25)
@given(scenario_dicts(), st.sampled_from([0.01, 0.5, 3.0, 1000.0]))
def test_scaling_money_scales_the_objective(doc, k):
    """Multiplying every money figure (and budget) by k multiplies the optimal objective by k:
    the LP is homogeneous in money; tariffs, shares and multipliers are unit-free."""
    base = optimizer.solve(copy.deepcopy(doc))
    assume(base.status == "optimal")
    scaled = optimizer.solve(scale_money(doc, k))
    assert scaled.status == "optimal"
    want = k * base.objective
    assert abs(scaled.objective - want) <= TOL * max(abs(want), abs(scaled.objective)) + 1e-7 * max(1, k), \
        (base.objective, scaled.objective, k)


# --- SPEC version 2: stopped deliveries, release rules, end values, the cost breakdown -----------


def rules_of(par: Params, k: int) -> list:
    """The rules in force in scenario k: the policies plus its own events."""
    return list(par.sc.policies) + list(par.sc.cases[k].events)


def stopped_orders(par: Params) -> set[tuple[int, int, str]]:
    """(k, t, source) whose order placed in t is never delivered: a ban `on: arrival` of scenario k
    matching the source covers its arrival period t + lead (SPEC 4.0), resolved from the scenario."""
    out = set()
    for k in range(par.K):
        for rule in rules_of(par, k):
            if rule.type != "ban" or rule.on != "arrival":
                continue
            for src in par.srcs:
                if filter_matches(rule.where, "source", src):
                    out |= {(k, t, src.id) for t in range(par.T - src.lead_time)
                            if par.cal.covers(rule.from_, rule.until, t + src.lead_time)}
    return out


def released(par: Params, k: int, t: int, mat) -> bool:
    """A release rule of scenario k covers (material, t)."""
    return any(rule.type == "release" and filter_matches(rule.where, "material", mat)
               and par.cal.covers(rule.from_, rule.until, t) for rule in rules_of(par, k))


@fast(40)
@given(st.one_of(stranding_dicts(), scenario_dicts(v2=True, hedging=True)))
def test_stopped_orders_appear_in_no_spend_budget_or_balance(doc):
    """An order whose arrival period a ban `on: arrival` covers (resolved from the scenario, not by
    the optimizer) has spend 0 and no arrival period in purchases.csv, and every other order arrives
    lead periods later at its landed cost; the material balance holds with delivered orders only,
    budgets hold on delivered spend and share limits on delivered quantities."""
    sol, par = solved(doc)
    stopped = stopped_orders(par)
    tb = tables_of(sol, par)
    src = {s.id: s for s in par.srcs}
    for r in sol.purchases.itertuples(index=False):
        k, t = par.names.index(r.scenario), period_of(par)[r.period]
        if (k, t, r.source) in stopped:
            assert r.spend == 0 and not isinstance(r.arrival_period, str), r
        else:
            assert period_of(par)[r.arrival_period] == t + src[r.source].lead_time, r
            assert near(r.spend, r.landed_cost * r.quantity), r
    assert {key for key in tb.stopped} <= stopped
    check_balance(par, tb)
    check_budgets_and_limits(par, tb)


def _released_to_the_end(doc: dict, data) -> dict:
    """doc with a policy releasing one material from some period to the end of the horizon, a
    positive discount rate, and no end value or processing input for that material (SPEC 4.0): its
    processors stay (rules may name them) with capacity 0 and no expansion."""
    doc = copy.deepcopy(doc)
    mat = data.draw(st.sampled_from(doc["materials"]))
    horizon = doc["horizon"]
    start = data.draw(st.integers(0, horizon["periods"] - 1))
    first = month_text(month_index(horizon["start"]) + start * PERIOD_LENGTH[horizon.get("period", "month")])
    doc.setdefault("policies", []).append({"type": "release", "where": {"material": mat["id"]}, "from": first})
    doc["horizon"]["discount_rate"] = data.draw(st.sampled_from([0.03, 0.1, 0.25]))
    mat.get("stockpile", {}).pop("end_value", None)
    for proc in doc.get("processors", []):
        if proc["input"] == mat["id"]:
            proc["capacity"] = 0.0
            proc.pop("expansion", None)
    return doc


@fast(40)
@given(scenario_dicts(v2=True), st.data())
def test_released_stock_serves_demand_before_any_shortfall(doc, data):
    """With a release rule in force from period t0 to the end (in every scenario), the stock of a
    material is never above zero at the end of a period t >= t0 in which its demand goes unmet.

    Using one more unit of that stock in t saves shortfall_penalty * disc_t; what it would have
    done later is worth strictly less: a later unit of shortfall (discounted more, discount rate
    > 0), a sale (sale prices are below shortfall penalties here) or nothing at the end. The other
    explanations are left out of the scenario: processing that consumes the material and an end
    value (stock capacity is an upper bound and never forces holding). Also: stockpile.csv's target
    is the target in force, 0 where released."""
    doc = _released_to_the_end(doc, data)
    sol, par = solved(doc)
    tb = tables_of(sol, par)
    for k in range(par.K):
        for t in range(par.T):
            for m, mat in enumerate(par.mats):
                free = released(par, k, t, mat)
                if mat.stockpile is not None:
                    assert near(tb.level(k, t, mat.id, "target"), 0.0 if free else par.target[m][t]), (k, t, mat.id)
                if free and all(released(par, k, u, mat) for u in range(t, par.T)):
                    level, short = tb.level(k, t, mat.id), tb.level(k, t, mat.id, "shortfall")
                    assert level <= 1e-6 or short <= 1e-6, (par.names[k], t, mat.id, level, short)


@fast(40)
@given(st.one_of(scenario_dicts(v2=True), stranding_dicts()))
def test_cost_breakdown_reconciles(doc):
    """summary.json's cost_breakdown (SPEC 6), per scenario and expected: money = paid - received,
    penalties = risk premium + shortfall + target penalties, total = money + penalties equals C_k
    (discounted; expected: expected_cost) to 1e-9 relative; the undiscounted cash_spend subtotal is
    the summary's cash_spend; purchases are the spend of purchases.csv (delivered orders only);
    tariffs are part of purchases; objective = (1 - aversion) * expected_cost + aversion * cvar."""
    sol, par = solved(doc)
    split = sol.summary["cost_breakdown"]
    paid = ("purchases", "processing", "holding", "capex", "fixed_costs")
    received, penalties = ("sales_revenue", "end_value"), ("risk_premium", "shortfall_penalty", "target_penalty")

    def agree(a: float, b: float, parts: dict) -> bool:
        scale = max(1.0, abs(a), abs(b), *(abs(v) for v in parts.values()))
        return abs(a - b) <= 1e-9 * scale

    spend = sol.purchases.groupby("scenario")["spend"].sum() if not sol.purchases.empty else {}
    for name, row in [*split["scenarios"].items(), ("expected", split["expected"])]:
        for kind in ("discounted", "undiscounted"):
            part = row[kind]
            assert agree(part["money"], sum(part[n] for n in paid) - sum(part[n] for n in received), part)
            assert agree(part["penalties"], sum(part[n] for n in penalties), part)
            assert agree(part["total"], part["money"] + part["penalties"], part)
            assert -1e-9 <= part["tariffs"] <= part["purchases"] + 1e-9 * max(1.0, part["purchases"])
        cost = sol.summary["expected_cost"] if name == "expected" else sol.summary["scenarios"][name]["cost"]
        cash = sol.summary["cash_spend"] if name == "expected" else sol.summary["scenarios"][name]["cash_spend"]
        assert agree(row["discounted"]["total"], cost, row["discounted"]), (name, row["discounted"]["total"], cost)
        assert agree(row["undiscounted"]["cash_spend"], cash, row["undiscounted"]), name
        if name != "expected":
            bought = float(spend.get(name, 0.0)) if len(spend) else 0.0
            assert abs(row["undiscounted"]["purchases"] - bought) <= 1e-8 * max(1.0, bought), name
    lam = par.sc.risk.aversion
    want = (1 - lam) * sol.summary["expected_cost"] + lam * sol.summary["cvar"]
    assert near(sol.objective, want, scale=abs(want)), (sol.objective, want)


@fast(30)
@given(st.one_of(scenario_dicts(v2=True), stranding_dicts()))
def test_v2_cost_recomputed_from_tables(doc):
    """C_k of SPEC 4.2 (v2) recomputed from the tables with independently resolved prices: an order
    pays landed * (1 + premium * risk) only where it is delivered (stopped orders resolved from the
    scenario), and the last period's stock is credited disc_{T-1} * end_value."""
    sol, par = solved(doc)
    P = period_of(par)
    stopped = stopped_orders(par)
    tb = tables_of(sol, par)
    costs = table_costs(sol, par)
    src = {s.id: i for i, s in enumerate(par.srcs)}
    for r in sol.purchases.itertuples(index=False):
        k, t, s = par.names.index(r.scenario), P[r.period], src[r.source]
        if (k, t, r.source) in stopped:
            costs[k] -= par.disc[t] * par.landed(s, t, k) * (1 + par.sc.risk.premium * par.risk[s]) * r.quantity
    for k in range(par.K):
        for mat in par.mats:
            if mat.stockpile is not None:
                value = getattr(mat.stockpile, "end_value", 0.0) or 0.0
                costs[k] -= par.disc[par.T - 1] * value * tb.level(k, par.T - 1, mat.id)
    for k, name in enumerate(par.names):
        got = sol.summary["scenarios"][name]["cost"]
        assert abs(costs[k] - got) <= TOL * max(1, abs(costs[k])) + 1e-5, (name, costs[k], got)

