"""Data stage: Scenario -> ModelData, plain NumPy arrays with every rule, window and filter resolved.

Index letters used throughout: m material, s source, p processor, t period, k scenario, n node of
the scenario tree (a group of scenarios that cannot be told apart through period t). No Pyomo here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.checks import filter_matches
from optimizer.spec import DEFAULT_RISK, MONTH_RE, PERIOD_MONTHS, Expansion, Horizon, Rule, Scenario


def month_index(month: str) -> int:
    """`YYYY-MM` -> months since year 0."""
    match = MONTH_RE.match(month)
    if match is None:
        raise ValueError(f"not a month: {month!r}")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(index: int) -> str:
    """Months since year 0 -> `YYYY-MM`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Calendar:
    """Periods of the horizon: period t starts `t * length` months after `start`."""

    start: int
    periods: int
    length: int
    discount_rate: float

    @classmethod
    def of(cls, horizon: Horizon) -> Calendar:
        """The calendar of a scenario's horizon."""
        return cls(month_index(horizon.start), horizon.periods, PERIOD_MONTHS[horizon.period],
                   horizon.discount_rate)

    @property
    def first_months(self) -> np.ndarray:
        """First month (months since year 0) of every period, shape [T]."""
        return self.start + self.length * np.arange(self.periods)

    @property
    def labels(self) -> list[str]:
        """`YYYY-MM` of every period's first month."""
        return [month_label(int(m)) for m in self.first_months]

    @property
    def discount(self) -> np.ndarray:
        """Discount factor of every period: (1 + r) ** (-t * length / 12), shape [T]."""
        t = np.arange(self.periods)
        return (1.0 + self.discount_rate) ** (-t * self.length / 12.0)

    def period_of(self, month: str) -> int:
        """Index of the period containing `month` (may be < 0 or >= periods)."""
        return (month_index(month) - self.start) // self.length

    def window(self, start: str | None, until: str | None) -> np.ndarray:
        """Periods whose first month lies in [start, until), shape [T] bool."""
        first = self.first_months
        mask = np.ones(self.periods, dtype=bool)
        if start is not None:
            mask &= first >= month_index(start)
        if until is not None:
            mask &= first < month_index(until)
        return mask

    def series(self, value: float | tuple[float, ...] | dict[str, float] | None, default: float = 0.0) -> np.ndarray:
        """A SERIES as one value per period, shape [T] float."""
        if value is None:
            return np.full(self.periods, default)
        if isinstance(value, (int, float)):
            return np.full(self.periods, float(value))
        if isinstance(value, tuple):
            return np.asarray(value, dtype=float)
        out = np.full(self.periods, next(iter(value.values())))
        for month, v in sorted(value.items()):
            out[max(self.period_of(month), 0):] = v
        return out


@dataclass(frozen=True)
class Expansions:
    """Buildable capacity of sources or processors; entities without expansion have max 0."""

    max: np.ndarray
    """Total extra capacity that can be built, [E] units/period."""
    capex: np.ndarray
    """$ per unit/period of capacity, [E]."""
    lead: np.ndarray
    """Periods from build to use, [E] int."""
    unit: np.ndarray
    """Size of one module, [E] units/period; 0: any amount can be built (SPEC v2 `expansion.unit`)."""

    @classmethod
    def of(cls, items: list[Expansion | None]) -> Expansions:
        return cls(
            max=np.array([e.max if e else 0.0 for e in items], dtype=float),
            capex=np.array([e.capex if e else 0.0 for e in items], dtype=float),
            lead=np.array([e.lead_time if e else 0 for e in items], dtype=int),
            unit=np.array([e.unit if e else 0.0 for e in items], dtype=float),
        )


@dataclass(frozen=True)
class Tree:
    """Scenario tree from non-anticipativity: node n groups the scenarios indistinguishable through t."""

    node_of: np.ndarray
    """Node of scenario k in period t, [T, K] int."""
    t: np.ndarray
    """Period of node n, [N] int."""
    parent: np.ndarray
    """Parent node (period t-1), -1 at t = 0, [N] int."""
    prob: np.ndarray
    """Probability of node n (sum over its scenarios), [N]."""
    rep: np.ndarray
    """A representative scenario of node n (the first), [N] int."""

    @property
    def size(self) -> int:
        return len(self.t)

    def ancestor(self, nodes: np.ndarray, period: np.ndarray | int) -> np.ndarray:
        """Ancestor of each node in `period` (<= the node's period)."""
        return self.node_of[period, self.rep[nodes]]

    def members(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each entry of `nodes`, every scenario passing through it: (entry index, scenario)."""
        member = self.node_of[self.t[nodes]] == nodes[:, None]  # [n, K]
        idx, k = np.nonzero(member.reshape(len(nodes), self.node_of.shape[1]))
        return idx, k


@dataclass(frozen=True)
class ModelData:
    """Everything the LP needs, resolved to arrays. Money in the scenario's currency, quantities in units."""

    name: str
    currency: str
    calendar: Calendar
    # materials [M]
    materials: list[str]
    units: list[str]
    demand: np.ndarray  # [M, T] units/period, before demand multipliers
    arrivals: np.ndarray  # [M, T] units/period
    shortfall_penalty: np.ndarray  # [M] $/unit
    sale_price: np.ndarray  # [M] $/unit
    has_stock: np.ndarray  # [M] bool
    initial: np.ndarray  # [M] units
    stock_cap: np.ndarray  # [M, T] units (inf = unlimited)
    holding: np.ndarray  # [M, T] $/unit/period
    target: np.ndarray  # [M, T, K] units: the target in force, 0 where a release rule covers (SPEC 4.0)
    target_penalty: np.ndarray  # [M] $/unit/period
    hard_target: np.ndarray  # [M] bool
    end_value: np.ndarray  # [M] $/unit of stock held at the end of the last period
    # sources [S]
    sources: list[str]
    src_material: np.ndarray  # [S] material index
    src_region: list[str]
    src_country: list[str]
    price: np.ndarray  # [S, T] $/unit before multipliers and tariff
    freight: np.ndarray  # [S, T] $/unit
    src_cap: np.ndarray  # [S, T] units/period (inf = unlimited)
    src_lead: np.ndarray  # [S] periods
    src_window: np.ndarray  # [S, T] bool
    risk: np.ndarray  # [S] 0..1
    min_order: np.ndarray  # [S] units: each order 0 or at least this (0: any amount; SPEC v2)
    fixed_cost: np.ndarray  # [S] $ per period in which an order is placed (SPEC v2)
    src_exp: Expansions
    # processors [P]
    processors: list[str]
    proc_input: np.ndarray  # [P] material index
    proc_region: list[str]
    proc_country: list[str]
    yields: np.ndarray  # [P, M] output units per input unit
    proc_cap: np.ndarray  # [P, T] input units/period (inf = unlimited)
    proc_cost: np.ndarray  # [P, T] $/input unit
    proc_window: np.ndarray  # [P, T] bool
    proc_exp: Expansions
    # scenarios [K] and their rule parameters
    scenarios: list[str]
    prob: np.ndarray  # [K]
    tariff: np.ndarray  # [S, T, K] summed tariff rate
    pmult: np.ndarray  # [S, T, K] price multiplier
    src_cmult: np.ndarray  # [S, T, K] capacity multiplier
    src_ban: np.ndarray  # [S, T, K] bool: no order placed in t (bans `on: order`)
    arrival_ban: np.ndarray  # [S, T, K] bool: nothing delivered in t (bans `on: arrival`)
    proc_cmult: np.ndarray  # [P, T, K]
    proc_ban: np.ndarray  # [P, T, K] bool
    dmult: np.ndarray  # [M, T, K] demand multiplier
    # budgets [B] and share limits [L]
    budget_names: list[str]
    budget_amount: np.ndarray  # [B] $
    budget_covers: np.ndarray  # [B, T] bool
    limit_names: list[str]
    limit_material: np.ndarray  # [L]
    limit_match: np.ndarray  # [L, S] bool
    limit_max: np.ndarray  # [L] share, nan = none
    limit_min: np.ndarray  # [L] share, nan = none
    limit_over_horizon: np.ndarray  # [L] bool
    limit_covers: np.ndarray  # [L, T] bool
    # risk
    aversion: float
    alpha: float
    premium: float
    tree: Tree = field(repr=False)

    @property
    def landed(self) -> np.ndarray:
        """Landed cost per unit ordered, price * pmult * (1 + tariff) + freight, [S, T, K] $/unit."""
        return self.price[:, :, None] * self.pmult * (1.0 + self.tariff) + self.freight[:, :, None]

    @property
    def delivered(self) -> np.ndarray:
        """delivered[s,t,k] of SPEC 4.0, by ORDER period t: 0.0 when a ban `on: arrival` covers the
        arrival period t + lead_s in scenario k, else 1.0 (also 1.0 where t + lead_s >= T, where no
        order can be placed anyway), [S, T, K]."""
        S, T, K = self.arrival_ban.shape
        out = np.ones((S, T, K))
        arrival = np.arange(T)[None, :] + self.src_lead[:, None]  # [S, T]
        s, t = np.nonzero(arrival < T)
        out[s, t] = np.where(self.arrival_ban[s, arrival[s, t]], 0.0, 1.0)
        return out


def build_data(sc: Scenario) -> ModelData:
    """Resolve a validated scenario into arrays."""
    cal = Calendar.of(sc.horizon)
    T = cal.periods
    mats, srcs, procs = sc.materials, sc.sources, sc.processors
    mat_index = {m.id: i for i, m in enumerate(mats)}
    cases = sc.cases

    stock = [m.stockpile for m in mats]
    yields = np.zeros((len(procs), len(mats)))
    for p, proc in enumerate(procs):
        for out, y in proc.outputs.items():
            yields[p, mat_index[out]] += y

    rules = resolve_rules(sc, cal, [list(sc.policies) + list(case.events) for case in cases])
    prob = np.array([c.probability for c in cases], dtype=float)
    signature = rule_signature(rules)
    tree = tree_of(signature, prob)

    return ModelData(
        name=sc.name,
        currency=sc.currency,
        calendar=cal,
        materials=[m.id for m in mats],
        units=[m.unit for m in mats],
        demand=np.array([cal.series(m.demand) for m in mats]).reshape(len(mats), T),
        arrivals=np.array([cal.series(m.arrivals) for m in mats]).reshape(len(mats), T),
        shortfall_penalty=np.array([m.shortfall_penalty or 0.0 for m in mats]),
        sale_price=np.array([m.sale_price for m in mats]),
        has_stock=np.array([s is not None for s in stock], dtype=bool),
        initial=np.array([s.initial if s else 0.0 for s in stock]),
        stock_cap=np.array(
            [cal.series(s.capacity, np.inf) if s else np.zeros(T) for s in stock]
        ).reshape(len(mats), T),
        holding=np.array([cal.series(s.holding_cost) if s else np.zeros(T) for s in stock]).reshape(len(mats), T),
        target_penalty=np.array([(s.target_penalty or 0.0) if s else 0.0 for s in stock]),
        hard_target=np.array([bool(s and s.hard_target) for s in stock], dtype=bool),
        end_value=np.array([s.end_value if s else 0.0 for s in stock]),
        sources=[s.id for s in srcs],
        src_material=np.array([mat_index[s.material] for s in srcs], dtype=int),
        src_region=[s.region for s in srcs],
        src_country=[s.country for s in srcs],
        price=_rows([cal.series(s.price) for s in srcs], T),
        freight=_rows([cal.series(s.freight) for s in srcs], T),
        src_cap=_rows([cal.series(s.capacity, np.inf) for s in srcs], T),
        src_lead=np.array([s.lead_time for s in srcs], dtype=int),
        src_window=_rows([cal.window(s.available_from, s.available_until) for s in srcs], T, bool),
        risk=np.array([s.risk if s.risk is not None else DEFAULT_RISK[s.region] for s in srcs], dtype=float),
        min_order=np.array([s.min_order for s in srcs], dtype=float),
        fixed_cost=np.array([s.fixed_cost for s in srcs], dtype=float),
        src_exp=Expansions.of([s.expansion for s in srcs]),
        processors=[p.id for p in procs],
        proc_input=np.array([mat_index[p.input] for p in procs], dtype=int),
        proc_region=[p.region for p in procs],
        proc_country=[p.country for p in procs],
        yields=yields,
        proc_cap=_rows([cal.series(p.capacity, np.inf) for p in procs], T),
        proc_cost=_rows([cal.series(p.cost) for p in procs], T),
        proc_window=_rows([cal.window(p.available_from, p.available_until) for p in procs], T, bool),
        proc_exp=Expansions.of([p.expansion for p in procs]),
        scenarios=[c.name for c in cases],
        prob=prob,
        **rules,
        budget_names=[b.name for b in sc.budgets],
        budget_amount=np.array([b.amount for b in sc.budgets], dtype=float),
        budget_covers=_rows([cal.window(b.from_, b.until) for b in sc.budgets], T, bool),
        limit_names=[lim.name for lim in sc.limits],
        limit_material=np.array([mat_index[lim.material] for lim in sc.limits], dtype=int),
        limit_match=_rows(
            [[filter_matches(lim.where, "sources", s) for s in srcs] for lim in sc.limits], len(srcs), bool
        ),
        limit_max=np.array([np.nan if lim.max_share is None else lim.max_share for lim in sc.limits]),
        limit_min=np.array([np.nan if lim.min_share is None else lim.min_share for lim in sc.limits]),
        limit_over_horizon=np.array([lim.over == "horizon" for lim in sc.limits], dtype=bool),
        limit_covers=_rows([cal.window(lim.from_, lim.until) for lim in sc.limits], T, bool),
        aversion=sc.risk.aversion,
        alpha=sc.risk.alpha,
        premium=sc.risk.premium,
        tree=tree,
    )


#: The parameters rules set per scenario (ModelData fields of shape [entity, T, K]): what distinguishes
#: scenarios, so what non-anticipativity compares (SPEC 4.1.10).
#: What rules decide, per entity, period and scenario: the scenario-dependent parameters that tell
#: scenarios apart (SPEC 4.1.10). A ban `on: arrival` is a parameter of the periods it covers, and
#: the target one after release rules (SPEC 4.0): an order placed before anyone can know of a later
#: ban is shared.
RULE_PARAMETERS = ("tariff", "pmult", "src_cmult", "src_ban", "proc_cmult", "proc_ban", "dmult", "arrival_ban",
                   "target")


def rule_signature(parameters: dict[str, np.ndarray]) -> np.ndarray:
    """Every rule parameter stacked, [X, T, K] float."""
    T, K = parameters["dmult"].shape[1:]
    return np.concatenate([parameters[name].reshape(-1, T, K).astype(float) for name in RULE_PARAMETERS], axis=0)


def resolve_rules(sc: Scenario, cal: Calendar, rule_sets: list[list[Rule]]) -> dict[str, np.ndarray]:
    """Apply each scenario's rules (policies and its events; `rule_sets[k]`) to the entities they match:
    {name in RULE_PARAMETERS: [entity, T, K] array}."""
    srcs, procs, mats = sc.sources, sc.processors, sc.materials
    T, K = cal.periods, len(rule_sets)
    tariff = np.zeros((len(srcs), T, K))
    pmult = np.ones((len(srcs), T, K))
    src_cmult = np.ones((len(srcs), T, K))
    src_ban = np.zeros((len(srcs), T, K), dtype=bool)
    arrival_ban = np.zeros((len(srcs), T, K), dtype=bool)
    proc_cmult = np.ones((len(procs), T, K))
    proc_ban = np.zeros((len(procs), T, K), dtype=bool)
    dmult = np.ones((len(mats), T, K))
    released = np.zeros((len(mats), T, K), dtype=bool)
    # SPEC 4.0: home_country is exempt; with it omitted, region domestic is.
    taxable = np.array([s.country != sc.home_country if sc.home_country is not None else s.region != "domestic"
                        for s in srcs], dtype=bool)
    hits: dict[int, tuple[np.ndarray, ...]] = {}  # per filter object: policies recur in every scenario
    for k, rules in enumerate(rule_sets):
        for rule in rules:
            covers = cal.window(rule.from_, rule.until)
            if id(rule.where) not in hits:
                hits[id(rule.where)] = (_matches(rule, "sources", srcs), _matches(rule, "processors", procs),
                                        _matches(rule, "materials", mats))
            s_hit, p_hit, m_hit = hits[id(rule.where)]
            if rule.type == "tariff":
                tariff[np.ix_(s_hit & taxable, covers, [k])] += rule.rate
            elif rule.type == "price":
                pmult[np.ix_(s_hit, covers, [k])] *= rule.multiplier
            elif rule.type == "capacity":
                src_cmult[np.ix_(s_hit, covers, [k])] *= rule.multiplier
                proc_cmult[np.ix_(p_hit, covers, [k])] *= rule.multiplier
            elif rule.type == "ban":
                (arrival_ban if rule.stops_arrivals else src_ban)[np.ix_(s_hit, covers, [k])] = True
                proc_ban[np.ix_(p_hit, covers, [k])] = True  # processors: banned either way
            elif rule.type == "demand":
                dmult[np.ix_(m_hit, covers, [k])] *= rule.multiplier
            elif rule.type == "release":
                released[np.ix_(m_hit, covers, [k])] = True
    stock = [m.stockpile for m in mats]
    target = np.array([cal.series(st.target) if st else np.zeros(T) for st in stock]).reshape(len(mats), T)
    return {"tariff": tariff, "pmult": pmult, "src_cmult": src_cmult, "src_ban": src_ban, "proc_cmult": proc_cmult,
            "proc_ban": proc_ban, "dmult": dmult, "arrival_ban": arrival_ban,
            "target": np.where(released, 0.0, target[:, :, None])}


def _rows(rows: list, width: int, dtype: type = float) -> np.ndarray:
    """Stack per-entity rows into [E, width], also when there are no entities."""
    return np.array(rows, dtype=dtype).reshape(len(rows), width)


def _matches(rule: Rule, kind: str, entities: list) -> np.ndarray:
    return np.array([filter_matches(rule.where, kind, e) for e in entities], dtype=bool)


def tree_of(signature: np.ndarray, prob: np.ndarray) -> Tree:
    """The tree of a rule signature [X, T, K] (SPEC 4.1.10)."""
    # rows equal in every scenario tell none apart: a shorter key for the tree, the same tree
    return build_tree(signature[(signature != signature[:, :, :1]).any(axis=(1, 2))], prob)


def tree_without_targets(d: ModelData) -> Tree:
    """The tree of `d` with every stockpile target 0 (SPEC 7.3's goal-free scenario): scenarios that only
    release rules told apart can no longer be told apart (a release sets a target to 0, SPEC 4.0)."""
    parameters = {name: getattr(d, name) for name in RULE_PARAMETERS}
    parameters["target"] = np.zeros_like(d.target)
    return tree_of(rule_signature(parameters), d.prob)


def build_tree(signature: np.ndarray, prob: np.ndarray) -> Tree:
    """Group scenarios period by period: same node at t iff same node at t-1 and equal parameters at t.

    `signature` is [X, T, K]: every scenario-dependent parameter (tariffs, multipliers, bans, targets)
    per period.
    """
    _, T, K = signature.shape
    node_of = np.empty((T, K), dtype=int)
    node_t: list[int] = []
    parent: list[int] = []
    rep: list[int] = []
    for t in range(T):
        seen: dict[tuple[int, bytes], int] = {}
        for k in range(K):
            key = (int(node_of[t - 1, k]) if t else -1, signature[:, t, k].tobytes())
            if key not in seen:
                seen[key] = len(node_t)
                node_t.append(t)
                parent.append(key[0])
                rep.append(k)
            node_of[t, k] = seen[key]
    n_prob = np.zeros(len(node_t))
    np.add.at(n_prob, node_of.ravel(), np.tile(prob, T))
    return Tree(
        node_of=node_of,
        t=np.array(node_t, dtype=int),
        parent=np.array(parent, dtype=int),
        prob=n_prob,
        rep=np.array(rep, dtype=int),
    )
