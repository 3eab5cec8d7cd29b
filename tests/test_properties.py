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
from strategies import month_text, scenario_dicts


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
        self.buy = defaultdict(float)  # (k, t, source) -> quantity ordered
        self.arrive = defaultdict(float)  # (k, t, material) -> quantity arriving from orders
        self.spend_buy = defaultdict(float)  # (k, t) -> purchases spend
        for r in purchases.itertuples(index=False):
            k, t = K[r.scenario], P[r.period]
            self.buy[k, t, r.source] += float(r.quantity)
            self.spend_buy[k, t] += float(r.spend)
            assert isinstance(r.arrival_period, str) and r.arrival_period in P, "an order arrives after the horizon"
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
    tb = tables_of(sol, par)
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
            if "target_penalty" in st_:
                st_["target_penalty"] *= k
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
