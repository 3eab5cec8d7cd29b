"""An independent, deliberately naive implementation of SPEC section 4, for tests only.

It shares nothing with `optimizer.data` or `optimizer.model`: it reads the validated `Scenario`
(pydantic models from `optimizer.spec`), resolves series, windows, filters and rules itself, and
writes the linear program the way SPEC states it:

* one variable per (entity, period, scenario) for every decision of SPEC section 3, dense;
* non-anticipativity as EXPLICIT equality rows between scenarios that cannot be told apart;
* expected cost plus Rockafellar-Uryasev CVaR (eta, z_k);
* solved with `scipy.optimize.linprog(method="highs")`.

Where SPEC is silent it follows the documented choices of the main implementation (see the
module-level notes in `resolve` and `build`). It is meant to be obviously correct, not fast:
scenarios of a few periods, scenarios and entities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from optimizer.checks import validate
from optimizer.spec import Scenario

INF = math.inf
PERIOD_LENGTH = {"month": 1, "quarter": 3, "year": 12}
REGION_RISK = {"domestic": 0.05, "allied": 0.15, "deep_sea": 0.35, "other": 0.5, "china": 0.9}


# --- calendar, series, windows, filters -----------------------------------------------------------


def month_number(text: str) -> int:
    """'YYYY-MM' -> months since January of year 0."""
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


@dataclass(frozen=True)
class Calendar:
    start: int  # month number of the first period's first month
    periods: int
    length: int  # months per period
    rate: float  # annual discount rate

    def first_month(self, t: int) -> int:
        return self.start + t * self.length

    def period_containing(self, month: str) -> int:
        """Index of the period whose months contain `month` (negative before the horizon)."""
        return math.floor((month_number(month) - self.start) / self.length)

    def discount(self, t: int) -> float:
        return (1.0 + self.rate) ** (-t * self.length / 12.0)

    def covers(self, start: str | None, until: str | None, t: int) -> bool:
        """A from/until window covers t when t's first month lies in [from, until)."""
        first = self.first_month(t)
        if start is not None and first < month_number(start):
            return False
        if until is not None and first >= month_number(until):
            return False
        return True

    def series(self, value: Any, default: float = 0.0) -> list[float]:
        """A SERIES as one value per period: constant, list, or step function {YYYY-MM: value}."""
        if value is None:
            return [default] * self.periods
        if isinstance(value, (int, float)):
            return [float(value)] * self.periods
        if isinstance(value, (list, tuple)):
            assert len(value) == self.periods
            return [float(v) for v in value]
        keys = sorted(value)  # YYYY-MM strings sort chronologically
        out = []
        for t in range(self.periods):
            chosen = value[keys[0]]  # periods before the first key take the first key's value
            for key in keys:
                if self.period_containing(key) <= t:
                    chosen = value[key]  # the latest key that has started by period t
            out.append(float(chosen))
        return out


def _listed(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def filter_matches(where: Any, kind: str, entity: Any) -> bool:
    """SPEC section 2: every key given must match; kind is 'source', 'processor' or 'material'."""
    if kind == "source":
        have = {
            "source": {entity.id},
            "processor": set(),
            "material": {entity.material},
            "region": {entity.region},
            "country": {entity.country},
        }
    elif kind == "processor":
        have = {
            "source": set(),
            "processor": {entity.id},
            "material": {entity.input, *entity.outputs.keys()},
            "region": {entity.region},
            "country": {entity.country},
        }
    else:  # a material has only its id
        have = {"source": set(), "processor": set(), "material": {entity.id}, "region": set(), "country": set()}
    for key in ("source", "processor", "material", "region", "country"):
        wanted = _listed(getattr(where, key))
        if wanted is not None and not (have[key] & set(wanted)):
            return False
    return True


# --- resolved parameters --------------------------------------------------------------------------


@dataclass
class Params:
    """Every number of the LP, as plain per-entity lists / arrays (index order as in the scenario)."""

    sc: Scenario
    cal: Calendar
    T: int
    K: int
    names: list[str]
    prob: list[float]
    disc: list[float]
    mats: list[Any]
    srcs: list[Any]
    procs: list[Any]
    mat_index: dict[str, int]
    # materials, [M][T]
    demand: list[list[float]]
    arrivals: list[list[float]]
    stock_cap: list[list[float]]
    holding: list[list[float]]
    target: list[list[float]]
    # sources, [S][T]
    price: list[list[float]]
    freight: list[list[float]]
    src_cap: list[list[float]]  # inf = unlimited
    src_window: list[list[bool]]
    risk: list[float]
    # processors, [P][T]
    proc_cap: list[list[float]]
    proc_cost: list[list[float]]
    proc_window: list[list[bool]]
    # rule results per scenario: arrays [entity, T, K]
    tariff: np.ndarray
    pmult: np.ndarray
    src_cmult: np.ndarray
    src_ban: np.ndarray
    proc_cmult: np.ndarray
    proc_ban: np.ndarray
    dmult: np.ndarray
    # budgets / limits: covered periods [T] bool each
    budget_covers: list[list[bool]] = field(default_factory=list)
    limit_covers: list[list[bool]] = field(default_factory=list)

    def landed(self, s: int, t: int, k: int) -> float:
        """price * pmult * (1 + tariff) + freight, in the period the order is placed."""
        return self.price[s][t] * self.pmult[s, t, k] * (1.0 + self.tariff[s, t, k]) + self.freight[s][t]

    def signature(self, k: int, t: int) -> tuple:
        """Everything scenario-dependent in period t (raw rule results)."""
        arrays = (self.tariff, self.pmult, self.src_cmult, self.src_ban, self.proc_cmult, self.proc_ban, self.dmult)
        return tuple(tuple(np.asarray(a[:, t, k], dtype=float).tolist()) for a in arrays)

    def indistinguishable(self, k1: int, k2: int, t: int) -> bool:
        """Scenarios k1 and k2 have equal parameters in every period <= t."""
        return all(self.signature(k1, u) == self.signature(k2, u) for u in range(t + 1))

    def buy_allowed(self, s: int, t: int, k: int) -> bool:
        """Not banned, inside the availability window, arrives inside the horizon, capacity not scaled to 0."""
        src = self.srcs[s]
        return (
            not self.src_ban[s, t, k]
            and self.src_window[s][t]
            and t + src.lead_time < self.T
            and self.src_cmult[s, t, k] > 0
        )

    def process_allowed(self, p: int, t: int, k: int) -> bool:
        return not self.proc_ban[p, t, k] and self.proc_window[p][t] and self.proc_cmult[p, t, k] > 0


def resolve(sc: Scenario | dict) -> Params:
    """Turn a (validated) scenario into per-period, per-scenario numbers.

    Choices where SPEC is silent (mirroring the documented behaviour of the main implementation):
    * home_country omitted: every source is tariffed; tariff rates in force add up.
    * capacity/price/demand multipliers in force multiply; a ban flag is set when any ban covers.
    """
    if isinstance(sc, dict):
        sc = validate(sc)
    h = sc.horizon
    cal = Calendar(month_number(h.start), h.periods, PERIOD_LENGTH[h.period], h.discount_rate)
    T = h.periods
    cases = list(sc.scenarios) if sc.scenarios else None
    names = [c.name for c in cases] if cases else ["base"]
    prob = [c.probability for c in cases] if cases else [1.0]
    events = [list(c.events) for c in cases] if cases else [[]]
    K = len(names)
    mats, srcs, procs = list(sc.materials), list(sc.sources), list(sc.processors)
    S, P, M = len(srcs), len(procs), len(mats)

    tariff = np.zeros((S, T, K))
    pmult = np.ones((S, T, K))
    src_cmult = np.ones((S, T, K))
    src_ban = np.zeros((S, T, K), dtype=bool)
    proc_cmult = np.ones((P, T, K))
    proc_ban = np.zeros((P, T, K), dtype=bool)
    dmult = np.ones((M, T, K))
    for k in range(K):
        for rule in list(sc.policies) + events[k]:
            for t in range(T):
                if not cal.covers(rule.from_, rule.until, t):
                    continue
                for s, src in enumerate(srcs):
                    if not filter_matches(rule.where, "source", src):
                        continue
                    if rule.type == "tariff" and (src.country != sc.home_country if sc.home_country else src.region != "domestic"):
                        tariff[s, t, k] += rule.rate
                    elif rule.type == "price":
                        pmult[s, t, k] *= rule.multiplier
                    elif rule.type == "capacity":
                        src_cmult[s, t, k] *= rule.multiplier
                    elif rule.type == "ban":
                        src_ban[s, t, k] = True
                for p, proc in enumerate(procs):
                    if not filter_matches(rule.where, "processor", proc):
                        continue
                    if rule.type == "capacity":
                        proc_cmult[p, t, k] *= rule.multiplier
                    elif rule.type == "ban":
                        proc_ban[p, t, k] = True
                for m, mat in enumerate(mats):
                    if rule.type == "demand" and filter_matches(rule.where, "material", mat):
                        dmult[m, t, k] *= rule.multiplier

    def stock_series(mat: Any, name: str, default: float) -> list[float]:
        if mat.stockpile is None:
            return [0.0] * T
        return cal.series(getattr(mat.stockpile, name), default)

    return Params(
        sc=sc,
        cal=cal,
        T=T,
        K=K,
        names=names,
        prob=prob,
        disc=[cal.discount(t) for t in range(T)],
        mats=mats,
        srcs=srcs,
        procs=procs,
        mat_index={m.id: i for i, m in enumerate(mats)},
        demand=[cal.series(m.demand) for m in mats],
        arrivals=[cal.series(m.arrivals) for m in mats],
        stock_cap=[stock_series(m, "capacity", INF) for m in mats],
        holding=[stock_series(m, "holding_cost", 0.0) for m in mats],
        target=[stock_series(m, "target", 0.0) for m in mats],
        price=[cal.series(s.price) for s in srcs],
        freight=[cal.series(s.freight) for s in srcs],
        src_cap=[cal.series(s.capacity, INF) for s in srcs],
        src_window=[[cal.covers(s.available_from, s.available_until, t) for t in range(T)] for s in srcs],
        risk=[s.risk if s.risk is not None else REGION_RISK[s.region] for s in srcs],
        proc_cap=[cal.series(p.capacity, INF) for p in procs],
        proc_cost=[cal.series(p.cost) for p in procs],
        proc_window=[[cal.covers(p.available_from, p.available_until, t) for t in range(T)] for p in procs],
        tariff=tariff,
        pmult=pmult,
        src_cmult=src_cmult,
        src_ban=src_ban,
        proc_cmult=proc_cmult,
        proc_ban=proc_ban,
        dmult=dmult,
        budget_covers=[[cal.covers(b.from_, b.until, t) for t in range(T)] for b in sc.budgets],
        limit_covers=[[cal.covers(lim.from_, lim.until, t) for t in range(T)] for lim in sc.limits],
    )


# --- a tiny LP builder ----------------------------------------------------------------------------


class LP:
    """Columns with bounds and costs, rows `lo <= sum coef * x <= hi` given as {column: coef}."""

    def __init__(self) -> None:
        self.names: list[tuple] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, name: tuple, lo: float = 0.0, hi: float = INF) -> int:
        self.names.append(name)
        self.lo.append(lo)
        self.hi.append(hi)
        return len(self.names) - 1

    def row(self, coefs: dict[int, float], lo: float, hi: float) -> None:
        self.rows.append((dict(coefs), lo, hi))


def _add(expr: dict[int, float], col: int, coef: float) -> None:
    expr[col] = expr.get(col, 0.0) + coef


@dataclass
class Model:
    lp: LP
    par: Params
    buy: dict
    process: dict
    stock: dict
    short: dict
    surplus: dict
    below: dict
    build_src: dict
    build_proc: dict
    cost: list[dict[int, float]]  # C_k as {column: coef}
    objective: dict[int, float]


def build(par: Params) -> Model:
    """The LP of SPEC section 4, one scenario at a time, plus non-anticipativity rows."""
    sc, T, K = par.sc, par.T, par.K
    S, P, M = len(par.srcs), len(par.procs), len(par.mats)
    lp = LP()
    buy, process, stock, short, surplus, below, build_src, build_proc = ({} for _ in range(8))

    # Variables (SPEC section 3), with the simple bounds.
    for k in range(K):
        for t in range(T):
            for s in range(S):
                buy[s, t, k] = lp.var(("buy", s, t, k), 0.0, INF if par.buy_allowed(s, t, k) else 0.0)
                exp = par.srcs[s].expansion
                # Building more of an unlimited source is pointless: fix to 0.
                useful = exp is not None and math.isfinite(par.src_cap[s][0])
                build_src[s, t, k] = lp.var(("build_src", s, t, k), 0.0, INF if useful else 0.0)
            for p in range(P):
                process[p, t, k] = lp.var(("process", p, t, k), 0.0, INF if par.process_allowed(p, t, k) else 0.0)
                exp = par.procs[p].expansion
                useful = exp is not None and math.isfinite(par.proc_cap[p][0])
                build_proc[p, t, k] = lp.var(("build_proc", p, t, k), 0.0, INF if useful else 0.0)
            for m, mat in enumerate(par.mats):
                st = mat.stockpile
                if st is None:
                    stock[m, t, k] = lp.var(("stock", m, t, k), 0.0, 0.0)  # no storage
                else:
                    stock[m, t, k] = lp.var(("stock", m, t, k), 0.0, par.stock_cap[m][t])
                demand = par.demand[m][t] * par.dmult[m, t, k]
                short[m, t, k] = lp.var(("short", m, t, k), 0.0, demand)  # 4.1.4
                surplus[m, t, k] = lp.var(("surplus", m, t, k), 0.0, INF)
                hard = st is not None and st.hard_target
                below[m, t, k] = lp.var(("below", m, t, k), 0.0, 0.0 if hard else INF)

    for k in range(K):
        for t in range(T):
            # 4.1.1 supply and 4.1.2 processing: x <= (cap + built usable by t) * cmult
            for kind, ents, caps, cmult, x, bld in (
                ("source", par.srcs, par.src_cap, par.src_cmult, buy, build_src),
                ("processor", par.procs, par.proc_cap, par.proc_cmult, process, build_proc),
            ):
                for e, ent in enumerate(ents):
                    cap = caps[e][t]
                    if not math.isfinite(cap):
                        continue  # unlimited (a zero multiplier is already a 0 upper bound)
                    mult = cmult[e, t, k]
                    row = {x[e, t, k]: 1.0}
                    if ent.expansion is not None:
                        for tau in range(0, t - ent.expansion.lead_time + 1):
                            _add(row, bld[e, tau, k], -mult)
                    lp.row(row, -INF, cap * mult)
            # 4.1.3 material balance
            for m, mat in enumerate(par.mats):
                row: dict[int, float] = {}
                rhs = par.demand[m][t] * par.dmult[m, t, k] - par.arrivals[m][t]
                if t == 0:
                    rhs -= mat.stockpile.initial if mat.stockpile is not None else 0.0
                else:
                    _add(row, stock[m, t - 1, k], 1.0)
                for s, src in enumerate(par.srcs):
                    if par.mat_index[src.material] == m and t - src.lead_time >= 0:
                        _add(row, buy[s, t - src.lead_time, k], 1.0)
                for p, proc in enumerate(par.procs):
                    y = proc.outputs.get(mat.id, 0.0)
                    if y:
                        _add(row, process[p, t, k], y)
                    if proc.input == mat.id:
                        _add(row, process[p, t, k], -1.0)
                _add(row, short[m, t, k], 1.0)
                _add(row, stock[m, t, k], -1.0)
                _add(row, surplus[m, t, k], -1.0)
                lp.row(row, rhs, rhs)
                # 4.1.6 target: soft (stock + below >= target) or hard (below fixed at 0)
                if mat.stockpile is not None and par.target[m][t] > 0:
                    lp.row({stock[m, t, k]: 1.0, below[m, t, k]: 1.0}, par.target[m][t], INF)

    # 4.1.7 budgets, per scenario, undiscounted, landed cost without the risk premium
    for b, budget in enumerate(sc.budgets):
        for k in range(K):
            row = {}
            for t in range(T):
                if not par.budget_covers[b][t]:
                    continue
                for s in range(S):
                    _add(row, buy[s, t, k], par.landed(s, t, k))
                    if par.srcs[s].expansion is not None:
                        _add(row, build_src[s, t, k], par.srcs[s].expansion.capex)
                for p in range(P):
                    _add(row, process[p, t, k], par.proc_cost[p][t])
                    if par.procs[p].expansion is not None:
                        _add(row, build_proc[p, t, k], par.procs[p].expansion.capex)
            lp.row(row, -INF, budget.amount)

    # 4.1.8 share limits, by order period
    for l, lim in enumerate(sc.limits):
        of_material = [s for s, src in enumerate(par.srcs) if src.material == lim.material]
        matching = {s for s in of_material if filter_matches(lim.where, "source", par.srcs[s])}
        groups = [[t] for t in range(T)] if lim.over == "period" else [list(range(T))]
        for k in range(K):
            for group in groups:
                covered = [t for t in group if par.limit_covers[l][t]]
                if not covered:
                    continue
                for share, sense in ((lim.max_share, "max"), (lim.min_share, "min")):
                    if share is None:
                        continue
                    row = {}
                    for t in covered:
                        for s in of_material:
                            _add(row, buy[s, t, k], (1.0 if s in matching else 0.0) - share)
                    if sense == "max":
                        lp.row(row, -INF, 0.0)  # matching - max_share * all <= 0
                    else:
                        lp.row(row, 0.0, INF)  # matching - min_share * all >= 0

    # 4.1.9 expansion limit, per scenario
    for k in range(K):
        for ents, bld in ((par.srcs, build_src), (par.procs, build_proc)):
            for e, ent in enumerate(ents):
                if ent.expansion is not None:
                    lp.row({bld[e, t, k]: 1.0 for t in range(T)}, -INF, ent.expansion.max)

    # 4.1.10 non-anticipativity: every decision of period t equal across indistinguishable scenarios
    families = (buy, process, stock, short, surplus, below, build_src, build_proc)
    for t in range(T):
        for k in range(1, K):
            twins = [j for j in range(k) if par.indistinguishable(j, k, t)]
            if not twins:
                continue
            j = twins[0]
            for fam in families:
                for key, col in fam.items():
                    if key[1] == t and key[2] == k:
                        lp.row({col: 1.0, fam[(key[0], t, j)]: -1.0}, 0.0, 0.0)

    # 4.2 scenario costs
    premium = sc.risk.premium
    cost = []
    for k in range(K):
        c: dict[int, float] = {}
        for t in range(T):
            d = par.disc[t]
            for s, src in enumerate(par.srcs):
                _add(c, buy[s, t, k], d * par.landed(s, t, k) * (1.0 + premium * par.risk[s]))
                if src.expansion is not None:
                    _add(c, build_src[s, t, k], d * src.expansion.capex)
            for p, proc in enumerate(par.procs):
                _add(c, process[p, t, k], d * par.proc_cost[p][t])
                if proc.expansion is not None:
                    _add(c, build_proc[p, t, k], d * proc.expansion.capex)
            for m, mat in enumerate(par.mats):
                _add(c, stock[m, t, k], d * par.holding[m][t])
                _add(c, short[m, t, k], d * (mat.shortfall_penalty or 0.0))
                penalty = (mat.stockpile.target_penalty or 0.0) if mat.stockpile is not None else 0.0
                _add(c, below[m, t, k], d * penalty)
                _add(c, surplus[m, t, k], -d * mat.sale_price)
        cost.append(c)

    # 4.3 objective: (1 - lambda) E[C] + lambda (eta + 1/(1-alpha) sum_k p_k z_k), z_k >= C_k - eta
    lam, alpha = sc.risk.aversion, sc.risk.alpha
    objective: dict[int, float] = {}
    for k in range(K):
        for col, coef in cost[k].items():
            _add(objective, col, (1.0 - lam) * par.prob[k] * coef)
    if lam > 0:
        eta = lp.var(("eta",), -INF, INF)
        _add(objective, eta, lam)
        for k in range(K):
            z = lp.var(("z", k), 0.0, INF)
            _add(objective, z, lam * par.prob[k] / (1.0 - alpha))
            row = {col: -coef for col, coef in cost[k].items()}
            _add(row, z, 1.0)
            _add(row, eta, 1.0)
            lp.row(row, 0.0, INF)  # z_k + eta - C_k >= 0

    return Model(lp, par, buy, process, stock, short, surplus, below, build_src, build_proc, cost, objective)


# --- solving --------------------------------------------------------------------------------------


@dataclass
class Result:
    status: str  # optimal | infeasible | unbounded | error
    objective: float | None
    costs: dict[str, float] | None  # C_k by scenario name
    x: np.ndarray | None = None
    model: Model | None = None


def _solve(model: Model, extra_rows: list[tuple[dict[int, float], float, float]] = ()) -> Result:
    lp = model.lp
    n = len(lp.names)
    c = np.zeros(n)
    for col, coef in model.objective.items():
        c[col] += coef
    ub_rows, ub_rhs, eq_rows, eq_rhs = [], [], [], []
    for coefs, lo, hi in list(lp.rows) + list(extra_rows):
        if lo == hi:
            eq_rows.append(coefs)
            eq_rhs.append(lo)
            continue
        if hi < INF:
            ub_rows.append(coefs)
            ub_rhs.append(hi)
        if lo > -INF:
            ub_rows.append({col: -v for col, v in coefs.items()})
            ub_rhs.append(-lo)

    def matrix(rows: list[dict[int, float]]):
        if not rows:
            return None
        data, ri, ci = [], [], []
        for i, coefs in enumerate(rows):
            for col, v in coefs.items():
                if v != 0.0:
                    ri.append(i)
                    ci.append(col)
                    data.append(v)
        return sparse.csr_array((data, (ri, ci)), shape=(len(rows), n))

    bounds = [(lo, None if hi == INF else hi) for lo, hi in zip(
        [None if v == -INF else v for v in lp.lo], lp.hi)]
    res = linprog(
        c,
        A_ub=matrix(ub_rows),
        b_ub=np.array(ub_rhs) if ub_rows else None,
        A_eq=matrix(eq_rows),
        b_eq=np.array(eq_rhs) if eq_rows else None,
        bounds=bounds,
        method="highs",
        options={"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9},
    )
    status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(res.status, "error")
    if status != "optimal":
        return Result(status, None, None, None, model)
    x = np.asarray(res.x)
    costs = {
        name: float(sum(coef * x[col] for col, coef in model.cost[k].items()))
        for k, name in enumerate(model.par.names)
    }
    return Result(status, float(res.fun), costs, x, model)


def solve_reference(scenario: Scenario | dict) -> Result:
    """Optimal objective and per-scenario costs of the scenario, by the naive formulation."""
    return _solve(build(resolve(scenario)))


def costs_attainable(scenario: Scenario | dict, costs: dict[str, float], objective: float,
                     rel: float = 1e-6) -> tuple[bool, float | None]:
    """Whether some optimal plan of the reference LP has these per-scenario costs.

    Per-scenario costs need not be unique at the optimum (a shared decision can shift cost from
    one scenario to another at equal expected cost), so instead of comparing them directly we pin
    C_k to the given values (within a tolerance) and check the reference still reaches `objective`.
    Returns (ok, objective with pinned costs).
    """
    model = build(resolve(scenario))
    rows = []
    for k, name in enumerate(model.par.names):
        tol = rel * max(1.0, abs(costs[name]), abs(objective))
        rows.append((model.cost[k], costs[name] - tol, costs[name] + tol))
    res = _solve(model, rows)
    if res.status != "optimal":
        return False, None
    ok = abs(res.objective - objective) <= 1e-6 * max(1.0, abs(objective))
    return ok, res.objective
