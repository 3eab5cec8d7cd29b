"""An independent, deliberately naive implementation of SPEC version 2, sections 2-4 and the cost
breakdown of section 6, for tests only.

It shares nothing with `optimizer.data`, `optimizer.model` or `optimizer.results`: it reads the raw
scenario dict (or a validated `Scenario`, dumped back to a dict), fills in SPEC's defaults itself,
resolves series, windows, filters and rules itself, and writes the program the way SPEC states it:

* one variable per (entity, period, scenario) for every decision of SPEC section 3, dense, plus the
  discrete `order` (binary) and `modules` (integer) variables of 3 / 4.1.12 where a source or an
  expansion asks for them;
* non-anticipativity as EXPLICIT equality rows between scenarios that cannot be told apart (4.1.10);
* expected cost plus Rockafellar-Uryasev CVaR (eta, z_k) (4.3);
* solved with `scipy.optimize.linprog(method="highs")`, or `scipy.optimize.milp` to a relative gap
  of 1e-9 when there is any integer variable.

It is meant to be obviously correct, not fast: a few periods, scenarios and entities. It assumes a
valid scenario (it does not validate). Where SPEC leaves a reading open, the choice is stated at the
place it is made.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

INF = math.inf
PERIOD_LENGTH = {"month": 1, "quarter": 3, "year": 12}
REGION_RISK = {"domestic": 0.05, "allied": 0.15, "deep_sea": 0.35, "other": 0.5, "china": 0.9}  # SPEC 4.4
FILTER_KEYS = ("source", "processor", "material", "region", "country")

#: The terms of SPEC 4.2 that the cost breakdown of SPEC 6 reports apart. `tariffs` is the part of
#: `purchases` that is tariff ("landed, of which tariffs"); it is not added again.
MONEY_TERMS = ("purchases", "processing", "holding", "capex", "fixed_costs")  # paid
CREDIT_TERMS = ("sales", "end_value")  # received (subtracted)
PENALTY_TERMS = ("risk_premium", "shortfall_penalty", "target_penalty")  # not money
TERMS = MONEY_TERMS + CREDIT_TERMS + PENALTY_TERMS + ("tariffs",)


# --- calendar, series, windows, filters -----------------------------------------------------------


def month_number(text: str) -> int:
    """'YYYY-MM' -> months since January of year 0."""
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


def month_text(number: int) -> str:
    """Months since January of year 0 -> 'YYYY-MM'."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True)
class Calendar:
    start: int  # month number of the first period's first month
    periods: int
    length: int  # months per period
    rate: float  # annual discount rate

    def first_month(self, t: int) -> int:
        return self.start + t * self.length

    def label(self, t: int) -> str:
        """Period t as its first month, YYYY-MM."""
        return month_text(self.first_month(t))

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
    """SPEC section 2: every key given must match; kind is 'source', 'processor' or 'material'.

    A source's `material` is its material; a processor matches `material` when its input or any
    output is listed; a material has only its id."""
    if kind == "source":
        have = {"source": {entity.id}, "processor": set(), "material": {entity.material},
                "region": {entity.region}, "country": {entity.country}}
    elif kind == "processor":
        have = {"source": set(), "processor": {entity.id}, "material": {entity.input, *entity.outputs.keys()},
                "region": {entity.region}, "country": {entity.country}}
    else:
        have = {"source": set(), "processor": set(), "material": {entity.id}, "region": set(), "country": set()}
    for key in FILTER_KEYS:
        wanted = _listed(getattr(where, key))
        if wanted is not None and not (have[key] & set(wanted)):
            return False
    return True


# --- the scenario with SPEC's defaults filled in ----------------------------------------------------


def _get(raw: dict | None, key: str, default: Any = None) -> Any:
    """raw[key], with None (as a dumped Scenario writes an unset field) read as absent."""
    if raw is None:
        return default
    value = raw.get(key)
    return default if value is None else value


def _window(raw: dict) -> dict:
    return {"from_": _get(raw, "from"), "until": _get(raw, "until")}


def _where(raw: dict | None) -> SimpleNamespace:
    return SimpleNamespace(**{key: _get(raw, key) for key in FILTER_KEYS})


def _expansion(raw: dict | None) -> SimpleNamespace | None:
    if raw is None:
        return None
    return SimpleNamespace(max=float(raw["max"]), capex=float(raw["capex"]), lead_time=int(_get(raw, "lead_time", 0)),
                           unit=float(_get(raw, "unit", 0.0)))


def _stockpile(raw: dict | None) -> SimpleNamespace | None:
    if raw is None:
        return None
    return SimpleNamespace(
        initial=float(_get(raw, "initial", 0.0)),
        capacity=_get(raw, "capacity"),  # a SERIES or None (unlimited)
        holding_cost=_get(raw, "holding_cost", 0.0),
        target=_get(raw, "target", 0.0),
        target_penalty=float(_get(raw, "target_penalty", 0.0)),
        hard_target=bool(_get(raw, "hard_target", False)),
        end_value=float(_get(raw, "end_value", 0.0)),
    )


def _material(raw: dict) -> SimpleNamespace:
    return SimpleNamespace(
        id=raw["id"],
        demand=_get(raw, "demand", 0.0),
        shortfall_penalty=float(_get(raw, "shortfall_penalty", 0.0)),
        sale_price=float(_get(raw, "sale_price", 0.0)),
        arrivals=_get(raw, "arrivals", 0.0),
        stockpile=_stockpile(_get(raw, "stockpile")),
    )


def _source(raw: dict) -> SimpleNamespace:
    return SimpleNamespace(
        id=raw["id"], material=raw["material"], region=raw["region"], country=raw["country"],
        price=raw["price"],
        freight=_get(raw, "freight", 0.0),
        capacity=_get(raw, "capacity"),  # None = unlimited
        lead_time=int(_get(raw, "lead_time", 0)),
        available_from=_get(raw, "available_from"),
        available_until=_get(raw, "available_until"),
        risk=float(_get(raw, "risk", REGION_RISK[raw["region"]])),
        min_order=float(_get(raw, "min_order", 0.0)),
        fixed_cost=float(_get(raw, "fixed_cost", 0.0)),
        expansion=_expansion(_get(raw, "expansion")),
    )


def _processor(raw: dict) -> SimpleNamespace:
    return SimpleNamespace(
        id=raw["id"], region=raw["region"], country=raw["country"], input=raw["input"],
        outputs={k: float(v) for k, v in raw["outputs"].items()},
        capacity=_get(raw, "capacity"),
        cost=_get(raw, "cost", 0.0),
        available_from=_get(raw, "available_from"),
        available_until=_get(raw, "available_until"),
        expansion=_expansion(_get(raw, "expansion")),
    )


def _rule(raw: dict) -> SimpleNamespace:
    return SimpleNamespace(type=raw["type"], name=_get(raw, "name"), where=_where(_get(raw, "where")),
                           rate=_get(raw, "rate"), multiplier=_get(raw, "multiplier"),
                           on=_get(raw, "on", "order"), **_window(raw))


def normalise(doc: Any) -> SimpleNamespace:
    """The scenario with every default of SPEC section 2 filled in, as attribute records.

    Accepts a raw dict (what a planner writes) or a validated `optimizer.spec.Scenario`."""
    if not isinstance(doc, dict):
        doc = doc.model_dump(by_alias=True)
    if _get(doc, "disruptions") is not None and _get(doc, "scenarios") is None:
        raise ValueError("a `disruptions` process: expand it first with reference_tree.tree_document")
    h = doc["horizon"]
    risk = _get(doc, "risk", {})
    cases = _get(doc, "scenarios") or [{"name": "base", "probability": 1.0}]
    return SimpleNamespace(
        name=doc["name"],
        home_country=_get(doc, "home_country"),
        horizon=SimpleNamespace(start=h["start"], periods=int(h["periods"]), period=_get(h, "period", "month"),
                                discount_rate=float(_get(h, "discount_rate", 0.0))),
        materials=[_material(m) for m in doc["materials"]],
        sources=[_source(s) for s in _get(doc, "sources", [])],
        processors=[_processor(p) for p in _get(doc, "processors", [])],
        policies=[_rule(r) for r in _get(doc, "policies", [])],
        budgets=[SimpleNamespace(name=b["name"], amount=float(b["amount"]), **_window(b))
                 for b in _get(doc, "budgets", [])],
        limits=[SimpleNamespace(name=lim["name"], material=lim["material"], where=_where(_get(lim, "where")),
                                max_share=_get(lim, "max_share"), min_share=_get(lim, "min_share"),
                                over=_get(lim, "over", "period"), **_window(lim))
                for lim in _get(doc, "limits", [])],
        risk=SimpleNamespace(aversion=float(_get(risk, "aversion", 0.0)), alpha=float(_get(risk, "alpha", 0.95)),
                             premium=float(_get(risk, "premium", 0.0))),
        cases=[SimpleNamespace(name=c["name"], probability=float(c["probability"]),
                               events=[_rule(r) for r in _get(c, "events", [])]) for c in cases],
    )


# --- resolved parameters --------------------------------------------------------------------------


@dataclass
class Params:
    """Every number of the program, as plain per-entity lists / arrays (index order as in the file)."""

    sc: SimpleNamespace
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
    target: list[list[float]]  # the stockpile's target series, before release rules
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
    src_ban: np.ndarray  # bans `on: order` (the default): no order placed in a covered period
    arrival_ban: np.ndarray  # bans `on: arrival`: nothing delivered in a covered period (4.0)
    proc_cmult: np.ndarray
    proc_ban: np.ndarray  # processors are banned in covered periods whatever `on` says
    dmult: np.ndarray
    target_k: np.ndarray  # [M, T, K] target in force: 0 where a release rule covers (4.0)
    # budgets / limits: covered periods [T] bool each
    budget_covers: list[list[bool]] = field(default_factory=list)
    limit_covers: list[list[bool]] = field(default_factory=list)

    def landed(self, s: int, t: int, k: int) -> float:
        """price * pmult * (1 + tariff) + freight, in the period the order is placed."""
        return self.price[s][t] * self.pmult[s, t, k] * (1.0 + self.tariff[s, t, k]) + self.freight[s][t]

    def delivered(self, s: int, t: int, k: int) -> float:
        """1, or 0 when a ban `on: arrival` matching s covers the arrival period t + lead_time (4.0)."""
        arrival = t + self.srcs[s].lead_time
        if arrival >= self.T:
            return 0.0  # never ordered anyway (4.1.1)
        return 0.0 if self.arrival_ban[s, arrival, k] else 1.0

    def signature(self, k: int, t: int) -> tuple:
        """Every scenario-dependent parameter of period t.

        Rule results are taken as they are (a multiplier of 1 is no rule; a multiplier of 2 on a
        zero price still counts). A ban `on: arrival` is a parameter of the periods it covers (4.0),
        and the target is the one in force after release rules (4.0)."""
        arrays = (self.tariff, self.pmult, self.src_cmult, self.src_ban, self.arrival_ban, self.proc_cmult,
                  self.proc_ban, self.dmult, self.target_k)
        return tuple(tuple(np.asarray(a[:, t, k], dtype=float).tolist()) for a in arrays)

    @functools.cached_property
    def signatures(self) -> list[list[tuple]]:
        """signature(k, t) for every scenario k and period t."""
        return [[self.signature(k, t) for t in range(self.T)] for k in range(self.K)]

    def indistinguishable(self, k1: int, k2: int, t: int) -> bool:
        """Scenarios k1 and k2 have equal parameters in every period <= t (4.1.10)."""
        return self.signatures[k1][: t + 1] == self.signatures[k2][: t + 1]

    def first_split(self) -> int:
        """The first period in which two scenarios can be told apart (T when none can, SPEC 7.1)."""
        for t in range(self.T):
            if any(not self.indistinguishable(a, b, t) for a in range(self.K) for b in range(a + 1, self.K)):
                return t
        return self.T

    def buy_allowed(self, s: int, t: int, k: int) -> bool:
        """Not banned (on order), inside the availability window, arrives inside the horizon,
        capacity not scaled to 0 (4.1.1)."""
        src = self.srcs[s]
        return (
            not self.src_ban[s, t, k]
            and self.src_window[s][t]
            and t + src.lead_time < self.T
            and self.src_cmult[s, t, k] > 0
        )

    def process_allowed(self, p: int, t: int, k: int) -> bool:
        return not self.proc_ban[p, t, k] and self.proc_window[p][t] and self.proc_cmult[p, t, k] > 0


def resolve(doc: Any) -> Params:
    """Turn a scenario (dict or validated `Scenario`) into per-period, per-scenario numbers.

    Readings of SPEC v2 made here:
    * tariffs (4.0): a matching source is tariffed unless its country is `home_country`; with
      `home_country` omitted, unless its region is `domestic`. Rates in force at once add up;
      capacity/price/demand multipliers in force at once multiply.
    * a ban `on: order` (default) forbids orders placed in covered periods; a ban `on: arrival`
      stops deliveries arriving in covered periods (4.1.11); both ban processors in covered periods.
    * a release rule (filter keys: material only) sets the target in force to 0 (4.0).
    """
    sc = normalise(doc)
    h = sc.horizon
    cal = Calendar(month_number(h.start), h.periods, PERIOD_LENGTH[h.period], h.discount_rate)
    T, K = h.periods, len(sc.cases)
    mats, srcs, procs = sc.materials, sc.sources, sc.processors
    S, P, M = len(srcs), len(procs), len(mats)

    def stock_series(mat: Any, name: str, default: float) -> list[float]:
        if mat.stockpile is None:
            return [0.0] * T
        return cal.series(getattr(mat.stockpile, name), default)

    target = [stock_series(m, "target", 0.0) for m in mats]
    tariff = np.zeros((S, T, K))
    pmult = np.ones((S, T, K))
    src_cmult = np.ones((S, T, K))
    src_ban = np.zeros((S, T, K), dtype=bool)
    arrival_ban = np.zeros((S, T, K), dtype=bool)
    proc_cmult = np.ones((P, T, K))
    proc_ban = np.zeros((P, T, K), dtype=bool)
    dmult = np.ones((M, T, K))
    released = np.zeros((M, T, K), dtype=bool)
    for k, case in enumerate(sc.cases):
        for rule in sc.policies + case.events:
            for t in range(T):
                if not cal.covers(rule.from_, rule.until, t):
                    continue
                for s, src in enumerate(srcs):
                    if not filter_matches(rule.where, "source", src):
                        continue
                    if rule.type == "tariff":
                        exempt = src.country == sc.home_country if sc.home_country else src.region == "domestic"
                        if not exempt:
                            tariff[s, t, k] += rule.rate
                    elif rule.type == "price":
                        pmult[s, t, k] *= rule.multiplier
                    elif rule.type == "capacity":
                        src_cmult[s, t, k] *= rule.multiplier
                    elif rule.type == "ban" and rule.on == "arrival":
                        arrival_ban[s, t, k] = True
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
                    if not filter_matches(rule.where, "material", mat):
                        continue
                    if rule.type == "demand":
                        dmult[m, t, k] *= rule.multiplier
                    elif rule.type == "release":
                        released[m, t, k] = True
    target_k = np.array([[[0.0 if released[m, t, k] else target[m][t] for k in range(K)] for t in range(T)]
                         for m in range(M)]).reshape(M, T, K)

    return Params(
        sc=sc, cal=cal, T=T, K=K,
        names=[c.name for c in sc.cases],
        prob=[c.probability for c in sc.cases],
        disc=[cal.discount(t) for t in range(T)],
        mats=mats, srcs=srcs, procs=procs,
        mat_index={m.id: i for i, m in enumerate(mats)},
        demand=[cal.series(m.demand) for m in mats],
        arrivals=[cal.series(m.arrivals) for m in mats],
        stock_cap=[stock_series(m, "capacity", INF) for m in mats],
        holding=[stock_series(m, "holding_cost", 0.0) for m in mats],
        target=target,
        price=[cal.series(s.price) for s in srcs],
        freight=[cal.series(s.freight) for s in srcs],
        src_cap=[cal.series(s.capacity, INF) for s in srcs],
        src_window=[[cal.covers(s.available_from, s.available_until, t) for t in range(T)] for s in srcs],
        risk=[s.risk for s in srcs],
        proc_cap=[cal.series(p.capacity, INF) for p in procs],
        proc_cost=[cal.series(p.cost) for p in procs],
        proc_window=[[cal.covers(p.available_from, p.available_until, t) for t in range(T)] for p in procs],
        tariff=tariff, pmult=pmult, src_cmult=src_cmult, src_ban=src_ban, arrival_ban=arrival_ban,
        proc_cmult=proc_cmult, proc_ban=proc_ban, dmult=dmult, target_k=target_k,
        budget_covers=[[cal.covers(b.from_, b.until, t) for t in range(T)] for b in sc.budgets],
        limit_covers=[[cal.covers(lim.from_, lim.until, t) for t in range(T)] for lim in sc.limits],
    )


# --- a tiny program builder -----------------------------------------------------------------------


class LP:
    """Columns with bounds, integrality and names; rows `lo <= sum coef * x <= hi` as {column: coef}."""

    def __init__(self) -> None:
        self.names: list[tuple] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.integer: list[bool] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, name: tuple, lo: float = 0.0, hi: float = INF, integer: bool = False) -> int:
        self.names.append(name)
        self.lo.append(lo)
        self.hi.append(hi)
        self.integer.append(integer)
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
    build_src: dict  # only for sources with an expansion
    build_proc: dict  # only for processors with an expansion
    order: dict  # (s, t, k) -> binary column, only for sources with min_order or fixed_cost
    modules: dict  # ("source"|"processor", e, t, k) -> integer column, only for expansions with unit
    cost: list[dict[int, float]]  # C_k as {column: coef}
    terms: list[dict[str, dict[int, float]]]  # per scenario: term name -> discounted {column: coef}
    cash: list[dict[str, dict[int, float]]]  # the same terms undiscounted
    objective: dict[int, float]
    budgets: list[tuple[str, int, dict[int, float], float]]  # 4.1.7 rows: (name, k, {column: coef}, amount)

    @property
    def discrete(self) -> bool:
        return any(self.lp.integer)


def build(par: Params) -> Model:
    """The program of SPEC section 4 (v2), one scenario at a time, plus non-anticipativity rows."""
    sc, T, K = par.sc, par.T, par.K
    S, P = len(par.srcs), len(par.procs)
    lp = LP()
    buy, process, stock, short, surplus, below, build_src, build_proc, order, modules = ({} for _ in range(10))
    budget_rows: list[tuple[str, int, dict[int, float], float]] = []

    # Variables (SPEC section 3), with the simple bounds.
    for k in range(K):
        for t in range(T):
            for s, src in enumerate(par.srcs):
                buy[s, t, k] = lp.var(("buy", src.id, t, k), 0.0, INF if par.buy_allowed(s, t, k) else 0.0)
                if src.min_order > 0 or src.fixed_cost > 0:
                    order[s, t, k] = lp.var(("order", src.id, t, k), 0.0, 1.0, integer=True)
            for p, proc in enumerate(par.procs):
                process[p, t, k] = lp.var(("process", proc.id, t, k), 0.0,
                                          INF if par.process_allowed(p, t, k) else 0.0)
            for kind, ents, caps, bld in (("source", par.srcs, par.src_cap, build_src),
                                          ("processor", par.procs, par.proc_cap, build_proc)):
                for e, ent in enumerate(ents):
                    if ent.expansion is None:
                        continue
                    # Building more of an unlimited source or processor is pointless: fixed at 0.
                    useful = math.isfinite(caps[e][0])
                    bld[e, t, k] = lp.var(("build", ent.id, t, k), 0.0, INF if useful else 0.0)
                    if useful and ent.expansion.unit > 0:
                        modules[kind, e, t, k] = lp.var(("modules", ent.id, t, k), 0.0, INF, integer=True)
                        # 4.1.12: build = unit * modules
                        lp.row({bld[e, t, k]: 1.0, modules[kind, e, t, k]: -ent.expansion.unit}, 0.0, 0.0)
            for m, mat in enumerate(par.mats):
                st = mat.stockpile
                stock[m, t, k] = lp.var(("stock", mat.id, t, k), 0.0, 0.0 if st is None else par.stock_cap[m][t])
                demand = par.demand[m][t] * par.dmult[m, t, k]
                short[m, t, k] = lp.var(("short", mat.id, t, k), 0.0, demand)  # 4.1.4
                surplus[m, t, k] = lp.var(("surplus", mat.id, t, k), 0.0, INF)
                hard = st is not None and st.hard_target
                below[m, t, k] = lp.var(("below", mat.id, t, k), 0.0, 0.0 if hard else INF)

    for k in range(K):
        for t in range(T):
            # 4.1.1 supply (for the order as placed, 4.1.11) and 4.1.2 processing:
            # x <= (cap + built usable by t) * cmult
            for ents, caps, cmult, x, bld in ((par.srcs, par.src_cap, par.src_cmult, buy, build_src),
                                              (par.procs, par.proc_cap, par.proc_cmult, process, build_proc)):
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
            # 4.1.12 orders: min_order * order <= buy <= U * order, U the bound of 4.1.1 with all of
            # expansion.max built (finite: validation requires a finite capacity plus expansion.max).
            for s, src in enumerate(par.srcs):
                if (s, t, k) not in order:
                    continue
                top = par.src_cap[s][t] + (src.expansion.max if src.expansion else 0.0)
                upper = top * par.src_cmult[s, t, k] if par.buy_allowed(s, t, k) else 0.0
                lp.row({buy[s, t, k]: 1.0, order[s, t, k]: -upper}, -INF, 0.0)
                lp.row({buy[s, t, k]: 1.0, order[s, t, k]: -src.min_order}, 0.0, INF)
            # 4.1.3 material balance; an order is delivered at t + lead unless stopped (4.1.11)
            for m, mat in enumerate(par.mats):
                row: dict[int, float] = {}
                rhs = par.demand[m][t] * par.dmult[m, t, k] - par.arrivals[m][t]
                if t == 0:
                    rhs -= mat.stockpile.initial if mat.stockpile is not None else 0.0
                else:
                    _add(row, stock[m, t - 1, k], 1.0)
                for s, src in enumerate(par.srcs):
                    placed = t - src.lead_time
                    if par.mat_index[src.material] == m and placed >= 0:
                        _add(row, buy[s, placed, k], par.delivered(s, placed, k))
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
                # 4.1.6 target in force (after release rules): stock + below >= target
                goal = par.target_k[m, t, k]
                if mat.stockpile is not None and goal > 0:
                    lp.row({stock[m, t, k]: 1.0, below[m, t, k]: 1.0}, goal, INF)

    # 4.1.7 budgets, per scenario, undiscounted: delivered landed cost (no risk premium), processing,
    # capex, and fixed costs (paid when the order is placed, delivered or not)
    for b, budget in enumerate(sc.budgets):
        for k in range(K):
            row = {}
            for t in range(T):
                if not par.budget_covers[b][t]:
                    continue
                for s, src in enumerate(par.srcs):
                    _add(row, buy[s, t, k], par.landed(s, t, k) * par.delivered(s, t, k))
                    if src.expansion is not None:
                        _add(row, build_src[s, t, k], src.expansion.capex)
                    if (s, t, k) in order:
                        _add(row, order[s, t, k], src.fixed_cost)
                for p, proc in enumerate(par.procs):
                    _add(row, process[p, t, k], par.proc_cost[p][t])
                    if proc.expansion is not None:
                        _add(row, build_proc[p, t, k], proc.expansion.capex)
            lp.row(row, -INF, budget.amount)
            budget_rows.append((budget.name, k, row, budget.amount))

    # 4.1.8 share limits, by order period, on delivered quantities
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
                            _add(row, buy[s, t, k], ((1.0 if s in matching else 0.0) - share) * par.delivered(s, t, k))
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

    # 4.1.10 non-anticipativity: every decision of period t (the discrete ones too, 4.5) is equal
    # across indistinguishable scenarios
    twin = {(t, k): next((j for j in range(k) if par.indistinguishable(j, k, t)), None)
            for t in range(T) for k in range(K)}  # the first earlier scenario k cannot be told from
    for fam in (buy, process, stock, short, surplus, below, build_src, build_proc, order, modules):
        for key, col in fam.items():
            *entity, t, k = key
            j = twin[t, k]
            if j is not None:
                lp.row({col: 1.0, fam[(*entity, t, j)]: -1.0}, 0.0, 0.0)

    # 4.2 scenario costs, term by term (discounted and not)
    premium = sc.risk.premium
    terms, cash, cost = [], [], []
    for k in range(K):
        disc_terms: dict[str, dict[int, float]] = {name: {} for name in TERMS}
        flat_terms: dict[str, dict[int, float]] = {name: {} for name in TERMS}

        def term(name: str, col: int, coef: float, d: float) -> None:
            _add(disc_terms[name], col, d * coef)
            _add(flat_terms[name], col, coef)

        for t in range(T):
            d = par.disc[t]
            for s, src in enumerate(par.srcs):
                delivered = par.delivered(s, t, k)
                term("purchases", buy[s, t, k], par.landed(s, t, k) * delivered, d)
                term("tariffs", buy[s, t, k], par.price[s][t] * par.pmult[s, t, k] * par.tariff[s, t, k] * delivered, d)
                term("risk_premium", buy[s, t, k], par.landed(s, t, k) * premium * par.risk[s] * delivered, d)
                if src.expansion is not None:
                    term("capex", build_src[s, t, k], src.expansion.capex, d)
                if (s, t, k) in order:
                    term("fixed_costs", order[s, t, k], src.fixed_cost, d)
            for p, proc in enumerate(par.procs):
                term("processing", process[p, t, k], par.proc_cost[p][t], d)
                if proc.expansion is not None:
                    term("capex", build_proc[p, t, k], proc.expansion.capex, d)
            for m, mat in enumerate(par.mats):
                term("holding", stock[m, t, k], par.holding[m][t], d)
                term("shortfall_penalty", short[m, t, k], mat.shortfall_penalty, d)
                penalty = mat.stockpile.target_penalty if mat.stockpile is not None else 0.0
                term("target_penalty", below[m, t, k], penalty, d)
                term("sales", surplus[m, t, k], mat.sale_price, d)
                if t == T - 1 and mat.stockpile is not None:
                    term("end_value", stock[m, t, k], mat.stockpile.end_value, d)
        c: dict[int, float] = {}
        for name in MONEY_TERMS + PENALTY_TERMS:
            for col, coef in disc_terms[name].items():
                _add(c, col, coef)
        for name in CREDIT_TERMS:
            for col, coef in disc_terms[name].items():
                _add(c, col, -coef)
        terms.append(disc_terms)
        cash.append(flat_terms)
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

    return Model(lp, par, buy, process, stock, short, surplus, below, build_src, build_proc, order, modules,
                 cost, terms, cash, objective, budget_rows)


# --- solving --------------------------------------------------------------------------------------


def value(expr: dict[int, float], x: np.ndarray) -> float:
    return float(sum(coef * x[col] for col, coef in expr.items()))


def cvar(values: Iterable[float], prob: Iterable[float], alpha: float) -> float:
    """CVaR_alpha of a discrete distribution (4.3): the minimum over eta is attained at a value."""
    values, prob = list(values), list(prob)
    return min(eta + sum(p * max(0.0, v - eta) for p, v in zip(prob, values)) / (1.0 - alpha) for eta in values)


@dataclass
class Result:
    status: str  # optimal | infeasible | unbounded | error
    objective: float | None
    costs: dict[str, float] | None  # C_k by scenario name
    x: np.ndarray | None = None
    model: Model | None = None

    def decisions(self, kind: str) -> dict[tuple[str, int, str], float]:
        """Values of one family ('buy', 'process', 'build', 'stock', 'short', 'surplus', 'below', 'order',
        'modules') as {(entity id, period, scenario name): value}."""
        names = self.model.par.names
        return {(name[1], name[2], names[name[3]]): float(self.x[col])
                for col, name in enumerate(self.model.lp.names) if name[0] == kind}

    def breakdown(self, k: int, discounted: bool = True) -> dict[str, float]:
        """SPEC 6 cost breakdown of scenario k: every term of 4.2 apart, plus `money` (what is paid
        minus what is received) and `penalties` (risk premium and the two penalties); their sum is C_k."""
        chosen = (self.model.terms if discounted else self.model.cash)[k]
        out = {name: value(expr, self.x) for name, expr in chosen.items()}
        out["money"] = sum(out[n] for n in MONEY_TERMS) - sum(out[n] for n in CREDIT_TERMS)
        out["penalties"] = sum(out[n] for n in PENALTY_TERMS)
        return out


def _matrix(rows: list[dict[int, float]], n: int):
    data, ri, ci = [], [], []
    for i, coefs in enumerate(rows):
        for col, v in coefs.items():
            if v != 0.0:
                ri.append(i)
                ci.append(col)
                data.append(v)
    return sparse.csr_array((data, (ri, ci)), shape=(len(rows), n))


#: Fixed decisions: (family, entity id, period) -> value, applied in every scenario.
Fixings = dict[tuple[str, str, int], float]


def _solve(model: Model, extra_rows: list[tuple[dict[int, float], float, float]] = (),
           objective: dict[int, float] | None = None, fixed: Fixings | None = None) -> Result:
    """Solve the model (with extra rows, another objective, or decisions fixed by family, id and period).

    A fixed value v (read from a file with 10 significant digits) is allowed to move by
    1e-9 * max(1, |v|) so rounding alone never makes a fixing infeasible."""
    lp = model.lp
    n = len(lp.names)
    c = np.zeros(n)
    for col, coef in (model.objective if objective is None else objective).items():
        c[col] += coef
    lo, hi = np.array(lp.lo, dtype=float), np.array(lp.hi, dtype=float)
    for col, name in enumerate(lp.names):
        key = (name[0], name[1], name[2]) if len(name) == 4 else None
        if fixed and key in fixed:
            v = fixed[key]
            slack = 1e-9 * max(1.0, abs(v))
            lo[col], hi[col] = max(lo[col], v - slack), min(hi[col], v + slack)
            if lo[col] > hi[col]:
                return Result("infeasible", None, None, None, model)
    rows = list(lp.rows) + list(extra_rows)
    integrality = np.array(lp.integer, dtype=int)
    if integrality.any():
        A = _matrix([r[0] for r in rows], n)
        res = milp(c, integrality=integrality, bounds=Bounds(lo, hi),
                   constraints=[LinearConstraint(A, [r[1] for r in rows], [r[2] for r in rows])] if rows else None,
                   options={"mip_rel_gap": 1e-9, "presolve": True})
        status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(res.status, "error")
        fun = res.fun
    else:
        ub_rows, ub_rhs, eq_rows, eq_rhs = [], [], [], []
        for coefs, rlo, rhi in rows:
            if rlo == rhi:
                eq_rows.append(coefs)
                eq_rhs.append(rlo)
                continue
            if rhi < INF:
                ub_rows.append(coefs)
                ub_rhs.append(rhi)
            if rlo > -INF:
                ub_rows.append({col: -v for col, v in coefs.items()})
                ub_rhs.append(-rlo)
        problem = dict(
            A_ub=_matrix(ub_rows, n) if ub_rows else None,
            b_ub=np.array(ub_rhs) if ub_rows else None,
            A_eq=_matrix(eq_rows, n) if eq_rows else None,
            b_eq=np.array(eq_rhs) if eq_rows else None,
            bounds=[(None if a == -INF else a, None if b == INF else b) for a, b in zip(lo, hi)],
            method="highs",
        )
        tolerances = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}
        res = linprog(c, **problem, options=tolerances)
        if res.status == 2:
            # Infeasibility is confirmed without presolve: SciPy's HiGHS presolve has called a feasible
            # LP infeasible when a fixing left a column a [0, 1e-9] box (an EEV found with fresh draws).
            res = linprog(c, **problem, options={**tolerances, "presolve": False})
        status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(res.status, "error")
        fun = res.fun
    if status != "optimal":
        return Result(status, None, None, None, model)
    x = np.asarray(res.x)
    costs = {name: value(model.cost[k], x) for k, name in enumerate(model.par.names)}
    return Result(status, float(fun) if objective is None else value(model.objective, x), costs, x, model)


def solve_reference(scenario: Any, fixed: Fixings | None = None) -> Result:
    """Optimal objective, per-scenario costs and plan of the scenario, by the naive formulation.

    `fixed` pins decisions {(family, id, period): value} in every scenario (e.g. for EEV, SPEC 7.3)."""
    return _solve(build(resolve(scenario)), fixed=fixed)


def _pin(expr: dict[int, float], target: float, scale: float, rel: float) -> tuple[dict[int, float], float, float]:
    tol = rel * max(1.0, abs(target), abs(scale))
    return expr, target - tol, target + tol


def costs_attainable(scenario: Any, costs: dict[str, float], objective: float,
                     rel: float = 1e-6) -> tuple[bool, float | None]:
    """Whether some optimal plan of the reference has these per-scenario costs.

    Per-scenario costs need not be unique at the optimum (a shared decision can shift cost from
    one scenario to another at equal expected cost), so instead of comparing them directly we pin
    C_k to the given values (within a tolerance) and check the reference still reaches `objective`.
    Returns (ok, objective with pinned costs).
    """
    model = build(resolve(scenario))
    rows = [_pin(model.cost[k], costs[name], objective, rel) for k, name in enumerate(model.par.names)]
    res = _solve(model, rows)
    if res.status != "optimal":
        return False, None
    ok = abs(res.objective - objective) <= 1e-6 * max(1.0, abs(objective))
    return ok, res.objective


def breakdown_attainable(scenario: Any, breakdown: dict[str, dict[str, float]], objective: float,
                         rel: float = 1e-6, undiscounted: dict[str, dict[str, float]] | None = None,
                         ) -> tuple[bool, float | None]:
    """Whether some optimal plan of the reference has this cost breakdown (discounted, and also
    `undiscounted` when given).

    Each maps scenario name -> {term: value} for terms of TERMS (the product's names already
    translated). The split into terms need not be unique at the optimum (two sources at one landed
    cost, one tariffed), so every given term is pinned and the reference must still reach `objective`."""
    model = build(resolve(scenario))
    rows = []
    for k, name in enumerate(model.par.names):
        for term, target in breakdown[name].items():
            rows.append(_pin(model.terms[k][term], target, objective, rel))
        for term, target in (undiscounted or {}).get(name, {}).items():
            rows.append(_pin(model.cash[k][term], target, objective, rel))
    res = _solve(model, rows)
    if res.status != "optimal":
        return False, None
    return abs(res.objective - objective) <= 1e-6 * max(1.0, abs(objective)), res.objective


def optimal_range(scenario: Any, measure: str, rel: float = 1e-9) -> tuple[float, float] | None:
    """[min, max] of an expected quantity over the optimal plans: `measure` is 'cost' (sum_k p_k C_k)
    or 'money' (sum_k p_k money_k). Both need not be unique at the optimum (with aversion > 0 a plan
    can trade expected cost for CVaR; penalties and money can trade at equal cost). None when the
    scenario has no optimum."""
    model = build(resolve(scenario))
    best = _solve(model)
    if best.status != "optimal":
        return None
    par = model.par
    expr: dict[int, float] = {}
    for k in range(par.K):
        if measure == "cost":
            parts = [(model.cost[k], 1.0)]
        else:
            parts = [(model.terms[k][n], 1.0) for n in MONEY_TERMS] + [(model.terms[k][n], -1.0) for n in CREDIT_TERMS]
        for part, sign in parts:
            for col, coef in part.items():
                _add(expr, col, sign * par.prob[k] * coef)
    cap = (model.objective, -INF, best.objective + rel * max(1.0, abs(best.objective)))
    low = _solve(model, [cap], objective=expr)
    high = _solve(model, [cap], objective={col: -coef for col, coef in expr.items()})
    assert low.status == high.status == "optimal", (low.status, high.status)
    return value(expr, low.x), value(expr, high.x)


# --- scenario edits used by the analytics ---------------------------------------------------------


def scale_series(series: Any, factor: float) -> Any:
    if isinstance(series, (int, float)):
        return series * factor
    if isinstance(series, (list, tuple)):
        return [v * factor for v in series]
    return {key: v * factor for key, v in series.items()}


def with_price_factor(doc: dict, source_id: str, factor: float) -> dict:
    """The scenario with one source's price multiplied by `factor` in every period (SPEC 7.4)."""
    out = copy.deepcopy(doc)
    for src in out["sources"]:
        if src["id"] == source_id:
            src["price"] = scale_series(src["price"], factor)
    return out
