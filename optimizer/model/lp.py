"""The linear program of SPEC section 4 as sparse arrays: one `add_<family>` function per family.

Decisions live on nodes of the scenario tree (`ModelData.tree`), so non-anticipativity holds by
construction: one variable per group of scenarios that cannot be told apart, no equality rows.
Variables exist only where a decision is possible (sparse index sets: an order that is banned,
out of its window, arrives after the horizon or has no capacity gets no column).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.data import Expansions, ModelData

INF = np.inf


@dataclass(frozen=True)
class Family:
    """A kind of decision variable, declared once: what indexes it, its unit and its words. The
    objective, budgets, CVaR rows, cost breakdown and price updates read its cost from `COST_TERMS`;
    the Pyomo model, explanations and warnings read its names and units from here."""

    name: str
    entities: str | None
    """ModelData attribute listing its entities (`sources`, ...); None: one per tree node."""
    unit: str
    doc: str
    cost_words: str = ""
    """What its cost per unit is called in messages (`landed cost`); empty if it has no cost term."""
    integer: bool = False
    """Whole numbers only (SPEC v2 discrete decisions): with any such column the program is a MILP."""


#: Every variable family of the formulation (SPEC section 3), in column order.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("buy", "sources", "unit/period", "units ordered from a source", "landed cost"),
    Family("order", "sources", "-", "an order is placed (1) or not (0)", "fixed cost", integer=True),
    Family("process", "processors", "unit/period", "input units fed to a processor", "processing cost"),
    Family("stock", "materials", "unit", "end-of-period stockpile level", "holding cost"),
    Family("short", "materials", "unit/period", "unmet demand", "shortfall penalty"),
    Family("surplus", "materials", "unit/period", "units disposed of", "sale price"),
    Family("below", "materials", "unit", "stock below target", "target penalty"),
    Family("build_source", "sources", "unit/period", "source capacity built", "capex"),
    Family("built_source", "sources", "unit/period", "source capacity built so far"),
    Family("modules_source", "sources", "-", "source modules built so far", integer=True),
    Family("build_processor", "processors", "unit/period", "processor capacity built", "capex"),
    Family("built_processor", "processors", "unit/period", "processor capacity built so far"),
    Family("modules_processor", "processors", "-", "processor modules built so far", integer=True),
    Family("node_cost", None, "$", "discounted cost of a node"),
    Family("eta", None, "$", "value-at-risk level of CVaR"),
    Family("excess", None, "$", "scenario cost above eta"),
)}


@dataclass(frozen=True)
class VarFamily:
    """A block of columns: decision `name` for (entity, node) pairs."""

    name: str
    doc: str
    entity: np.ndarray  # [n] index into the entity list of the family (materials, sources, ...)
    node: np.ndarray  # [n] tree node
    first: int  # column of the first variable
    integer: bool = False  # whole numbers only (SPEC v2 discrete decisions)

    @property
    def cols(self) -> np.ndarray:
        return self.first + np.arange(len(self.entity))


@dataclass(frozen=True)
class RowFamily:
    """A block of rows `lo <= A x <= hi` of one constraint family, A given as triplets."""

    name: str
    doc: str
    labels: dict[str, np.ndarray]  # per-row keys (entity, node, ...) for explanations and duals
    first: int  # index of the first row
    lo: np.ndarray
    hi: np.ndarray

    @property
    def size(self) -> int:
        return len(self.lo)


@dataclass
class LinearProgram:
    """min c x + c0  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi."""

    vars: dict[str, VarFamily] = field(default_factory=dict)
    rows: dict[str, RowFamily] = field(default_factory=dict)
    col_lo: list[np.ndarray] = field(default_factory=list)
    col_hi: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    a_row: list[np.ndarray] = field(default_factory=list)
    a_col: list[np.ndarray] = field(default_factory=list)
    a_val: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0

    def add_vars(self, family: Family | str, entity: np.ndarray, node: np.ndarray,
                 lo: np.ndarray | float, hi: np.ndarray | float) -> VarFamily:
        """Add the columns of a family (a name in FAMILIES, or a Family of an auxiliary LP)."""
        family = FAMILIES[family] if isinstance(family, str) else family
        n = len(entity)
        fam = VarFamily(family.name, f"{family.doc} [{family.unit}]", np.asarray(entity, dtype=np.int64),
                        np.asarray(node, dtype=np.int64), self.n_cols, family.integer)
        self.vars[family.name] = fam
        self.col_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (n,)).copy())
        self.col_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (n,)).copy())
        self.cost.append(np.zeros(n))
        self.n_cols += n
        return fam

    def add_rows(self, name: str, doc: str, labels: dict[str, np.ndarray], lo: np.ndarray | float,
                 hi: np.ndarray | float, terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RowFamily:
        """Add rows; `terms` are (local row, column, coefficient) triplets, duplicates summed."""
        n = len(next(iter(labels.values())))
        fam = RowFamily(name, doc, labels, self.n_rows,
                        np.broadcast_to(np.asarray(lo, dtype=float), (n,)).copy(),
                        np.broadcast_to(np.asarray(hi, dtype=float), (n,)).copy())
        self.rows[name] = fam
        self.row_lo.append(fam.lo)
        self.row_hi.append(fam.hi)
        for r, c, v in terms:
            r, c, v = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(v, dtype=float))
            keep = v != 0
            self.a_row.append(r[keep].astype(np.int64) + self.n_rows)
            self.a_col.append(c[keep].astype(np.int64))
            self.a_val.append(v[keep])
        self.n_rows += n
        return fam

    def set_cost(self, fam: VarFamily, coef: np.ndarray) -> None:
        self.cost[list(self.vars).index(fam.name)][:] = coef

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(c, col_lo, col_hi, row_lo, row_hi, rows, cols, vals) as flat arrays."""
        cat = lambda xs, dt=float: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)  # noqa: E731
        return (cat(self.cost), cat(self.col_lo), cat(self.col_hi), cat(self.row_lo), cat(self.row_hi),
                cat(self.a_row, np.int64), cat(self.a_col, np.int64), cat(self.a_val))

    def same_structure(self, other: LinearProgram) -> bool:
        """True when `other` has the same columns and rows (coefficients may differ)."""
        if (self.n_cols, self.n_rows) != (other.n_cols, other.n_rows) or list(self.vars) != list(other.vars):
            return False
        if list(self.rows) != list(other.rows):
            return False
        return all(np.array_equal(self.vars[k].entity, other.vars[k].entity)
                   and np.array_equal(self.vars[k].node, other.vars[k].node) for k in self.vars) and all(
            self.rows[k].size == other.rows[k].size for k in self.rows)

    @property
    def has_integers(self) -> bool:
        """Whether some column is integer: the program is a MILP (SPEC 4.5)."""
        return any(fam.integer and len(fam.entity) for fam in self.vars.values())

    def integer_mask(self) -> np.ndarray | None:
        """[n_cols] bool, True for integer columns; None when there are none (an LP)."""
        if not self.has_integers:
            return None
        return np.concatenate([np.full(len(fam.entity), fam.integer) for fam in self.vars.values()])

    def standard_form(self) -> StandardForm:
        """The LP as the solver takes it: bounds, costs and the matrix in compressed columns."""
        c, col_lo, col_hi, row_lo, row_hi, rows, cols, vals = self.arrays()
        indptr, indices, values = csc(rows, cols, vals, self.n_cols)
        return StandardForm(c, col_lo, col_hi, row_lo, row_hi, indptr, indices, values, self.integer_mask())


@dataclass(frozen=True)
class StandardForm:
    """min c x  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi (A in compressed columns).

    Columns and rows are in the formulation's order; an extension (a user's Pyomo constraints)
    appends its own columns and rows after them, named in `extra_cols` / `extra_rows`.
    """

    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    integer: np.ndarray | None = None
    """[n_cols] bool, True for an integer column; None: all continuous."""
    offset: float = 0.0
    extra_cols: tuple[str, ...] = ()
    extra_rows: tuple[str, ...] = ()

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lo)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every matrix entry, column-major."""
        cols = np.repeat(np.arange(self.n_cols, dtype=np.int64), np.diff(self.indptr))
        return self.indices, cols, self.values


def csc(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_cols: int
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets -> compressed columns (indptr, row indices, values), rows ascending within a column,
    duplicates summed, zeros dropped. One stable sort on the key col * n_rows + row (half the time
    of a two-key lexsort)."""
    n_rows = int(rows.max()) + 1 if len(rows) else 1
    key = cols.astype(np.int64) * n_rows + rows
    order = np.argsort(key, kind="stable")
    key, v = key[order], vals[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    if not first.all():
        v = np.bincount(np.cumsum(first) - 1, weights=v)
        key = key[first]
    keep = v != 0
    c, r = np.divmod(key[keep], n_rows)
    indptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(c, minlength=n_cols), out=indptr[1:])
    return indptr, r, v[keep]


@dataclass(frozen=True)
class Lookup:
    """Dense map (entity, node) -> column, -1 where no variable exists."""

    table: np.ndarray  # [E, N]

    @classmethod
    def of(cls, fam: VarFamily, n_entities: int, n_nodes: int) -> Lookup:
        table = np.full((n_entities, n_nodes), -1, dtype=np.int64)
        table[fam.entity, fam.node] = fam.cols
        return cls(table)


@dataclass(frozen=True)
class Formulation:
    """The LP and the data it was built from (variable and row families carry their scenario keys)."""

    lp: LinearProgram
    data: ModelData


def formulate(d: ModelData) -> Formulation:
    """Build the whole LP: variables, then each constraint family, then the objective."""
    lp = LinearProgram()
    tree = d.tree
    N = tree.size
    buy = add_buy(lp, d)
    order = add_order(lp, d)
    process = add_process(lp, d)
    stock = add_stock(lp, d)
    add_shortfall(lp, d)
    add_surplus(lp, d)
    add_below_target(lp, d)
    src_built = add_expansion(lp, d, "source", d.src_exp, d.src_cap)
    proc_built = add_expansion(lp, d, "processor", d.proc_exp, d.proc_cap)
    lk = {
        "buy": Lookup.of(buy, len(d.sources), N),
        "process": Lookup.of(process, len(d.processors), N),
        "stock": Lookup.of(stock, len(d.materials), N),
    }
    add_supply_max(lp, d, "supply_max", "buy", d.src_exp, d.src_cmult, d.src_cap, src_built)
    add_supply_max(lp, d, "process_max", "process", d.proc_exp, d.proc_cmult, d.proc_cap, proc_built)
    if order is not None:
        add_order_limits(lp, d, order)
    add_material_balance(lp, d, lk)
    add_target_min(lp, d, lk["stock"])
    terms = cost_terms(d, lp)
    add_budget_max(lp, d, terms)
    add_share_limits(lp, d)
    leaves = np.flatnonzero(tree.t == d.calendar.periods - 1)
    add_objective(lp, d, leaves, node_cost_coefs(d, lp, terms))
    return Formulation(lp, d)


# --- variables -----------------------------------------------------------------------------------


def _node_grid(d: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """(t, rep) of every node: the period and a representative scenario, [N] each."""
    return d.tree.t, d.tree.rep


def _can_build(exp: Expansions, cap: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[E, N]: built capacity can exist at nodes of period t (capacity finite, something buildable in time)."""
    finite = np.isfinite(cap[:, 0]) if cap.shape[1] else np.zeros(len(cap), dtype=bool)
    return (finite & (exp.max > 0))[:, None] & (t[None, :] >= exp.lead[:, None])


def node_delivery(d: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) delivered[s, t(n), k] over the scenarios k of each node n, [S, N] each.

    Equal where every scenario of the node agrees on whether an order placed there is delivered;
    lowest 0 and highest 1 where a ban `on: arrival` they cannot tell apart yet stops it in some.
    """
    tree = d.tree
    S, N = len(d.sources), tree.size
    if not d.arrival_ban.any():
        return np.ones((S, N)), np.ones((S, N))
    T, K = tree.node_of.shape
    t, k = np.repeat(np.arange(T), K), np.tile(np.arange(K), T)
    delivered = d.delivered[:, t, k].T  # [T*K, S]
    lowest, highest = np.ones((N, S)), np.zeros((N, S))
    np.minimum.at(lowest, tree.node_of.ravel(), delivered)
    np.maximum.at(highest, tree.node_of.ravel(), delivered)
    return lowest.T, highest.T


def add_buy(lp: LinearProgram, d: ModelData) -> VarFamily:
    """buy[s,n] >= 0: units ordered from source s at node n (arrives lead_s periods later).

    Exists only where s is in its window, not banned (`on: order`), its arrival t + lead_s < T, some
    scenario of the node receives it (not stopped by a ban `on: arrival` in all of them), and it has
    capacity (cap * cmult > 0, or expansion capacity can be in place). Upper bound cap * cmult
    when no expansion can add to it (else the `supply_max` row): the order as placed (SPEC 4.1.11).
    """
    t, k = _node_grid(d)
    T = d.calendar.periods
    cmult = d.src_cmult[:, t, k]
    cap = d.src_cap[:, t]
    build = _can_build(d.src_exp, d.src_cap, t)
    ok = (
        d.src_window[:, t]
        & ((t[None, :] + d.src_lead[:, None]) < T)
        & ~d.src_ban[:, t, k]
        & (cmult > 0)
        & ((cap > 0) | build)
        & (node_delivery(d)[1] > 0)
    )
    s, n = np.nonzero(ok)
    hi = np.where(build[s, n], INF, cap[s, n] * cmult[s, n])
    return lp.add_vars("buy", s, n, 0.0, hi)


def add_order(lp: LinearProgram, d: ModelData) -> VarFamily | None:
    """order[s,n] in {0, 1}: an order is placed from source s at node n (SPEC v2 3), for sources with
    min_order > 0 or fixed_cost > 0, wherever buy[s,n] exists (one per buy column, in its order).
    None when no source asks for it: the program then stays an LP."""
    asked = _order_columns(d, lp.vars["buy"])
    if not len(asked):
        return None
    buy = lp.vars["buy"]
    return lp.add_vars("order", buy.entity[asked], buy.node[asked], 0.0, 1.0)


def _order_columns(d: ModelData, buy: VarFamily) -> np.ndarray:
    """Indices into buy's columns of the orders that get an `order` variable (in `add_order`'s order)."""
    return np.flatnonzero(((d.min_order > 0) | (d.fixed_cost > 0))[buy.entity])


def add_process(lp: LinearProgram, d: ModelData) -> VarFamily:
    """process[p,n] >= 0: input units fed to processor p at node n; 0 where banned or out of window."""
    t, k = _node_grid(d)
    cmult = d.proc_cmult[:, t, k]
    cap = d.proc_cap[:, t]
    build = _can_build(d.proc_exp, d.proc_cap, t)
    ok = d.proc_window[:, t] & ~d.proc_ban[:, t, k] & (cmult > 0) & ((cap > 0) | build)
    p, n = np.nonzero(ok)
    hi = np.where(build[p, n], INF, cap[p, n] * cmult[p, n])
    return lp.add_vars("process", p, n, 0.0, hi)


def add_stock(lp: LinearProgram, d: ModelData) -> VarFamily:
    """stock[m,n]: end-of-period stock, 0 <= stock <= capacity[m,t] (>= target[m,t,k] when hard_target;
    a released target is 0)."""
    t, k = _node_grid(d)
    m, n = np.nonzero(np.broadcast_to(d.has_stock[:, None], (len(d.materials), d.tree.size)))
    lo = np.where(d.hard_target[m], d.target[m, t[n], k[n]], 0.0)
    return lp.add_vars("stock", m, n, lo, d.stock_cap[m, t[n]])


def _target(d: ModelData) -> np.ndarray:
    """Target in force at every node (0 where a release rule covers it), [M, N] units."""
    t, k = _node_grid(d)
    return d.target[:, t, k]


def _demand(d: ModelData) -> np.ndarray:
    """Demand after multipliers at every node, [M, N] units."""
    t, k = _node_grid(d)
    return d.demand[:, t] * d.dmult[:, t, k]


def add_shortfall(lp: LinearProgram, d: ModelData) -> VarFamily:
    """short[m,n]: unmet demand, 0 <= short <= demand * dmult (shortfall never feeds processing)."""
    dem = _demand(d)
    m, n = np.nonzero(dem > 0)
    return lp.add_vars("short", m, n, 0.0, dem[m, n])


def add_surplus(lp: LinearProgram, d: ModelData) -> VarFamily:
    """surplus[m,n] >= 0: units disposed of at sale_price."""
    m, n = np.indices((len(d.materials), d.tree.size)).reshape(2, -1)
    return lp.add_vars("surplus", m, n, 0.0, INF)


def add_below_target(lp: LinearProgram, d: ModelData) -> VarFamily:
    """below[m,n] >= 0: stock below a soft target in force (bounded by the target)."""
    target = _target(d)
    soft = (d.has_stock & ~d.hard_target)[:, None] & (target > 0)
    m, n = np.nonzero(soft)
    return lp.add_vars("below", m, n, 0.0, target[m, n])


def add_expansion(lp: LinearProgram, d: ModelData, kind: str, exp: Expansions, cap: np.ndarray
                  ) -> tuple[VarFamily, VarFamily] | None:
    """build[e,n] >= 0 capacity built at node n, and built[e,n] the cumulative capacity built so far.

    Builds exist where the capacity can be used before the horizon ends (t + lead_e < T) and the
    entity has finite capacity (expansion of an unlimited one is pointless). The expansion limit
    sum_t build[e,t,k] <= max_e is the upper bound of `built`; `expansion_cumulative` links them:
    built[e,n] - built[e,parent(n)] - build[e,n] = 0.

    Whole modules (SPEC v2 `expansion.unit` u_e > 0): an integer modules[e,n] in
    [0, floor(max_e / u_e)] counts the modules built so far, and `expansion_modules` rows
    built[e,n] - u_e * modules[e,n] = 0 make every build[e,n] = u_e * (modules[e,n] -
    modules[e,parent(n)]) a whole number of modules, as SPEC 4.1.12 asks. Counting them cumulatively
    rather than per period is the same set of plans; branching on "how many by node n" fixes a
    whole path of the tree at once, which the per-period count does not (docs/model.md).
    """
    T = d.calendar.periods
    t = d.tree.t
    finite = np.isfinite(cap[:, 0]) if cap.shape[1] else np.zeros(len(cap), dtype=bool)
    ok = (finite & (exp.max > 0))[:, None] & ((t[None, :] + exp.lead[:, None]) < T)
    e, n = np.nonzero(ok)
    if not len(e):
        return None
    build = lp.add_vars(f"build_{kind}", e, n, 0.0, INF)
    built = lp.add_vars(f"built_{kind}", e, n, 0.0, exp.max[e])
    modular = exp.unit[e] > 0
    most = np.floor(exp.max[e[modular]] / exp.unit[e[modular]] * (1 + 1e-12))
    modules = lp.add_vars(f"modules_{kind}", e[modular], n[modular], 0.0, most) if modular.any() else None
    table = np.full((len(cap), d.tree.size), -1, dtype=np.int64)
    table[e, n] = built.cols
    parent = d.tree.parent[n]
    has_parent = parent >= 0
    rows = np.arange(len(e))
    lp.add_rows(
        f"expansion_cumulative_{kind}",
        "built[e,n] - built[e,parent] - build[e,n] = 0",
        {"entity": e, "node": n},
        0.0,
        0.0,
        [
            (rows, built.cols, 1.0),
            (rows, build.cols, -1.0),
            (rows[has_parent], table[e[has_parent], parent[has_parent]], -1.0),
        ],
    )
    if modules is not None:
        rows = np.arange(len(modules.entity))
        lp.add_rows(
            f"expansion_modules_{kind}",
            "built[e,n] - unit_e * modules[e,n] = 0 [unit/period]",
            {"entity": modules.entity, "node": modules.node},
            0.0,
            0.0,
            [(rows, built.cols[modular], 1.0), (rows, modules.cols, -exp.unit[modules.entity])],
        )
    return build, built


# --- constraints ---------------------------------------------------------------------------------


def add_supply_max(lp: LinearProgram, d: ModelData, name: str, var: str, exp: Expansions,
                   cmult: np.ndarray, cap: np.ndarray, built: tuple[VarFamily, VarFamily] | None) -> None:
    """x[e,n] - cmult[e,t,k] * built[e, ancestor(n, t - lead_e)] <= cap[e,t] * cmult[e,t,k].

    Supply (buy) or processing capacity where expansion can add to it; elsewhere the limit is the
    variable's upper bound.
    """
    if built is None:
        return
    fam = lp.vars[var]
    tree = d.tree
    e, n = fam.entity, fam.node
    t = tree.t[n]
    usable = t - exp.lead[e]
    sel = np.flatnonzero(np.isfinite(cap[e, t]) & (exp.max[e] > 0) & (usable >= 0))
    if not len(sel):
        return
    e, n, t, usable = e[sel], n[sel], t[sel], usable[sel]
    k = tree.rep[n]
    built_fam = built[1]
    table = np.full((len(cap), tree.size), -1, dtype=np.int64)
    table[built_fam.entity, built_fam.node] = built_fam.cols
    anc = tree.node_of[usable, k]
    rows = np.arange(len(sel))
    mult = cmult[e, t, k]
    lp.add_rows(
        name,
        "x - cmult * built capacity <= cap * cmult",
        {"entity": e, "node": n},
        -INF,
        cap[e, t] * mult,
        [(rows, fam.cols[sel], 1.0), (rows, table[e, anc], -mult)],
    )


def add_order_limits(lp: LinearProgram, d: ModelData, order: VarFamily) -> None:
    """SPEC 4.1.12: min_order_s * order[s,n] <= buy[s,n] <= U[s,n] * order[s,n], with
    U = (cap[s,t] + max_s) * cmult[s,t,k] the supply bound of 4.1.1 with all of expansion.max built
    (finite: validation requires a capacity) [unit/period].

    `order_max` rows for every order column (an order must be placed to buy); `order_min` rows for
    sources with min_order > 0.
    """
    buy = lp.vars["buy"]
    tree = d.tree
    s, n = order.entity, order.node
    t, k = tree.t[n], tree.rep[n]
    buy_cols = buy.cols[_order_columns(d, buy)]  # one order column per buy column, in order
    upper = (d.src_cap[s, t] + d.src_exp.max[s]) * d.src_cmult[s, t, k]
    rows = np.arange(len(s))
    lp.add_rows("order_max", "buy - U * order <= 0 [unit/period]", {"entity": s, "node": n}, -INF, 0.0,
                [(rows, buy_cols, 1.0), (rows, order.cols, -upper)])
    floor = np.flatnonzero(d.min_order[s] > 0)
    if len(floor):
        rows = np.arange(len(floor))
        lp.add_rows("order_min", "buy - min_order * order >= 0 [unit/period]", {"entity": s[floor], "node": n[floor]},
                    0.0, INF, [(rows, buy_cols[floor], 1.0), (rows, order.cols[floor], -d.min_order[s[floor]])])


def add_material_balance(lp: LinearProgram, d: ModelData, lk: dict[str, Lookup]) -> None:
    """For every material m and node n (period t):

    stock[m,parent] + sum_s delivered[s,t-lead_s,k] buy[s, ancestor(n, t - lead_s)]
      + sum_p yield[p,m] process[p,n] + short[m,n] - stock[m,n] - sum_{p: input m} process[p,n]
      - surplus[m,n] = demand[m,t] * dmult[m,t,k] - arrivals[m,t] - (initial[m] if t = 0)

    The scenarios of n agree on delivered (a ban `on: arrival` is a parameter of the period it covers).
    """
    tree = d.tree
    M, N = len(d.materials), tree.size
    t, k = tree.t, tree.rep
    row = np.arange(M * N).reshape(M, N)
    terms = []
    # stock carried in and out
    st = lp.vars["stock"]
    terms.append((row[st.entity, st.node], st.cols, -1.0))
    inner = tree.parent[st.node] >= 0
    prev = lk["stock"].table[st.entity[inner], tree.parent[st.node[inner]]]
    terms.append((row[st.entity[inner], st.node[inner]], prev, 1.0))
    # purchases arriving now: ordered at the ancestor node in period t - lead, unless stopped
    if len(d.sources):
        s, n = np.indices((len(d.sources), N)).reshape(2, -1)
        order_t = t[n] - d.src_lead[s]
        arrived = order_t >= 0
        s, n, order_t = s[arrived], n[arrived], order_t[arrived]
        col = lk["buy"].table[s, tree.node_of[order_t, k[n]]]
        has = col >= 0
        s, n, order_t = s[has], n[has], order_t[has]
        terms.append((row[d.src_material[s], n], col[has], d.delivered[s, order_t, k[n]]))
    # processing: input consumed, outputs produced
    pr = lp.vars["process"]
    terms.append((row[d.proc_input[pr.entity], pr.node], pr.cols, -1.0))
    p_out, m_out = np.nonzero(d.yields)
    for p, m in zip(p_out, m_out):
        sel = pr.entity == p
        terms.append((row[m, pr.node[sel]], pr.cols[sel], d.yields[p, m]))
    sh, su = lp.vars["short"], lp.vars["surplus"]
    terms.append((row[sh.entity, sh.node], sh.cols, 1.0))
    terms.append((row[su.entity, su.node], su.cols, -1.0))
    rhs = _demand(d) - d.arrivals[:, t]
    rhs[:, t == 0] -= d.initial[:, None]
    m_idx, n_idx = np.indices((M, N)).reshape(2, -1)
    lp.add_rows("material_balance", "inflow - outflow = demand - arrivals [unit]",
                {"material": m_idx, "node": n_idx}, rhs.ravel(), rhs.ravel(), terms)


def add_target_min(lp: LinearProgram, d: ModelData, stock: Lookup) -> None:
    """stock[m,n] + below[m,n] >= target[m,t,k] for soft targets in force (hard targets are stock bounds)."""
    below = lp.vars["below"]
    if not len(below.entity):
        return
    rows = np.arange(len(below.entity))
    lp.add_rows(
        "target_min",
        "stock + below >= target [unit]",
        {"material": below.entity, "node": below.node},
        _target(d)[below.entity, below.node],
        INF,
        [(rows, stock.table[below.entity, below.node], 1.0), (rows, below.cols, 1.0)],
    )


Terms = tuple[np.ndarray, np.ndarray, np.ndarray]  # (node, column, coefficient) of some variables


def _path_rows(d: ModelData, last: int, parts: list[Terms]) -> tuple[np.ndarray, list[Terms]]:
    """Rows summing `coef * x` along each scenario path, one per node of period `last`.

    An entry (node, column, coefficient) enters the row of every path through its node, which lies
    in a period <= `last`; the scenarios through one node of `last` share every variable and
    coefficient of their row. Returns (end node of each row, row triplets).
    """
    tree = d.tree
    ends = np.flatnonzero(tree.t == last)
    end_row = np.full(tree.size, -1, dtype=np.int64)
    end_row[ends] = np.arange(len(ends))
    present = np.zeros(last + 1, dtype=bool)  # raises if an entry lies after `last`
    for node, _, _ in parts:
        present[tree.t[node]] = True
    periods = np.flatnonzero(present)
    # (node, row) pairs: row's path passes through node, node in a period some entry lies in
    pair_node = tree.node_of[periods].ravel()
    pair_row = np.tile(end_row[tree.node_of[last]], len(periods))
    pairs = np.unique(np.stack([pair_node, pair_row]), axis=1)
    terms = []
    for node, cols, coef in parts:
        order = np.argsort(node, kind="stable")
        node_s, cols_s, coef_s = node[order], cols[order], coef[order]
        start = np.searchsorted(node_s, pairs[0], side="left")
        stop = np.searchsorted(node_s, pairs[0], side="right")
        count = stop - start
        if not count.sum():
            continue
        idx = np.repeat(start - np.cumsum(count) + count, count) + np.arange(count.sum())
        terms.append((np.repeat(pairs[1], count), cols_s[idx], coef_s[idx]))
    return ends, terms


def _last_period(d: ModelData, first_choice: int, parts: list[Terms]) -> int:
    """The later of `first_choice` and the period of every entry's node."""
    return max([first_choice, *(int(d.tree.t[node].max()) for node, _, _ in parts if len(node))])


# --- orders and their outcome (SPEC 4.0, 4.1.11) --------------------------------------------------


def buy_outcomes(d: ModelData, buy: VarFamily) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each order's delivery is known: (index into buy's columns, node, delivered factor).

    An order delivered in every scenario of its node is known there (factor 1). An order that a ban
    `on: arrival` stops in some of its node's scenarios only (they cannot tell the ban apart yet) is
    known at the nodes of its arrival period: one entry per such node with delivered[s,t,k] of its
    scenarios; entries with factor 0 (stopped deliveries) are left out. So a purchase's money,
    balance and share all sit at a node whose scenarios agree on its delivery.
    """
    tree = d.tree
    s, n = buy.entity, buy.node
    if not d.arrival_ban.any():
        return np.arange(len(s)), n, np.ones(len(s))
    sure = node_delivery(d)[0][s, n] > 0
    index, node, factor = [np.flatnonzero(sure)], [n[sure]], [np.ones(int(sure.sum()))]
    open_ = np.flatnonzero(~sure)
    if len(open_):
        t = tree.t[n[open_]]
        j, k = tree.members(n[open_])
        arrival_node = tree.node_of[t[j] + d.src_lead[s[open_][j]], k]
        j, arrival_node = np.unique(np.stack([j, arrival_node]), axis=1)
        f = d.delivered[s[open_][j], t[j], tree.rep[arrival_node]]
        keep = f > 0
        index.append(open_[j[keep]])
        node.append(arrival_node[keep])
        factor.append(f[keep])
    return np.concatenate(index), np.concatenate(node), np.concatenate(factor)


# --- cost terms (SPEC 4.2, 6) -----------------------------------------------------------------------


@dataclass(frozen=True)
class CostTermSpec:
    """One term of C_k, declared once. Everything that prices a plan reads it: the objective and
    the CVaR node costs (`node_cost_coefs`), budgets and cash spend (`cash`), the cost breakdown of
    summary.json (`role`), and price updates (which re-formulate from it)."""

    name: str
    """Key in summary.json's cost_breakdown."""
    family: str
    """The variable family it is paid on (FAMILIES)."""
    role: str
    """`paid` (money out), `received` (money in or value kept: credited, so subtracted), `penalty`
    (not money), or `part` (a part of another term, reported apart, never added again)."""
    cash: bool
    """Counted in budgets (SPEC 4.1.7) and cash_spend (SPEC 6)."""
    doc: str


#: Every term of SPEC 4.2 (and its v2 additions), in the order cost_breakdown lists them.
COST_TERMS: tuple[CostTermSpec, ...] = (
    CostTermSpec("purchases", "buy", "paid", True, "landed * delivered per unit ordered, due when ordered"),
    CostTermSpec("processing", "process", "paid", True, "processing cost per input unit"),
    CostTermSpec("holding", "stock", "paid", False, "holding cost per unit held at the end of a period"),
    CostTermSpec("capex", "build_source", "paid", True, "capex per unit/period of source capacity built"),
    CostTermSpec("capex", "build_processor", "paid", True, "capex per unit/period of processor capacity built"),
    CostTermSpec("fixed_costs", "order", "paid", True, "fixed cost per period in which an order is placed"),
    CostTermSpec("sales_revenue", "surplus", "received", False, "sale price per unit disposed of"),
    CostTermSpec("end_value", "stock", "received", False, "end value per unit held at the end of the horizon"),
    CostTermSpec("risk_premium", "buy", "penalty", False, "landed * premium * risk * delivered per unit"),
    CostTermSpec("shortfall_penalty", "short", "penalty", False, "penalty per unit of unmet demand"),
    CostTermSpec("target_penalty", "below", "penalty", False, "penalty per unit and period below target"),
    CostTermSpec("tariffs", "buy", "part", False, "the tariff in purchases: price * pmult * tariff * delivered"),
)


def _names(role: str | None = None, cash: bool | None = None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.name for t in COST_TERMS
                               if (role is None or t.role == role) and (cash is None or t.cash == cash)))


PAID, RECEIVED, PENALTIES = _names("paid"), _names("received"), _names("penalty")
#: Cash spend (SPEC 6) and what budgets limit (SPEC 4.1.7): the money paid except holding costs.
CASH = _names(cash=True)
TERMS = _names()


@dataclass(frozen=True)
class CostTerm:
    """The amounts of one CostTermSpec in one LP: `amount` $ per unit of the variable, undiscounted
    (credits positive), due in `period` and borne by the scenarios through `node`."""

    spec: CostTermSpec
    index: np.ndarray  # entries: index into the family's columns (an order may have several)
    node: np.ndarray
    period: np.ndarray
    amount: np.ndarray

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def sign(self) -> float:
        """+1 for what C_k adds, -1 for what it credits, 0 for a part of another term."""
        return {"paid": 1.0, "penalty": 1.0, "received": -1.0, "part": 0.0}[self.spec.role]


def _per_unit(d: ModelData) -> dict[tuple[str, str], np.ndarray]:
    """$ per unit of each (term, family) whose amount depends only on the entity and period,
    [E, T] or [E, 1] when constant."""
    return {
        ("processing", "process"): d.proc_cost,
        ("holding", "stock"): d.holding,
        ("shortfall_penalty", "short"): d.shortfall_penalty[:, None],
        ("target_penalty", "below"): d.target_penalty[:, None],
        ("sales_revenue", "surplus"): d.sale_price[:, None],
        ("capex", "build_source"): d.src_exp.capex[:, None],
        ("capex", "build_processor"): d.proc_exp.capex[:, None],
        ("fixed_costs", "order"): d.fixed_cost[:, None],
    }


def cost_terms(d: ModelData, lp: LinearProgram) -> list[CostTerm]:
    """The amounts of every COST_TERMS entry whose family is in `lp` [$/unit, undiscounted]:

    on buy, purchases landed * delivered, tariffs price * pmult * tariff * delivered (a part of it)
    and risk_premium landed * premium * risk_s * delivered, due in the order period and borne where
    the delivery is known (`buy_outcomes`); end_value on the last period's stock; every other term
    its per-unit amount of the entity and period (`_per_unit`; fixed_costs is due at the order's
    node, delivered or not: SPEC v2 4.2).
    """
    tree = d.tree
    per_unit = _per_unit(d)
    buy = lp.vars["buy"]
    index, node, factor = buy_outcomes(d, buy)
    s, placed = buy.entity[index], buy.node[index]
    t, k = tree.t[placed], tree.rep[placed]
    landed = d.landed[s, t, k]
    on_buy = {
        "purchases": landed * factor,
        "tariffs": d.price[s, t] * d.pmult[s, t, k] * d.tariff[s, t, k] * factor,
        "risk_premium": landed * d.premium * d.risk[s] * factor,
    }
    out: list[CostTerm] = []
    for spec in COST_TERMS:
        fam = lp.vars.get(spec.family)
        if fam is None:
            continue
        if spec.family == "buy":
            out.append(CostTerm(spec, index, node, t, on_buy[spec.name]))
        elif spec.name == "end_value":
            last = np.flatnonzero(tree.t[fam.node] == d.calendar.periods - 1)
            out.append(CostTerm(spec, last, fam.node[last], tree.t[fam.node[last]], d.end_value[fam.entity[last]]))
        else:
            unit = per_unit[spec.name, spec.family]
            period = tree.t[fam.node]
            amount = np.broadcast_to(unit, (len(unit), d.calendar.periods))[fam.entity, period]
            out.append(CostTerm(spec, np.arange(len(fam.entity)), fam.node, period, amount))
    return out


CostEntries = tuple[np.ndarray, np.ndarray, np.ndarray]  # (index into a family's columns, node, coefficient)


def node_cost_coefs(d: ModelData, lp: LinearProgram, terms: list[CostTerm]) -> dict[str, CostEntries]:
    """C_k per unit of every variable (SPEC 4.2), by family, as (column index, node bearing it, $/unit):
    the sum of its `cost_terms` (credits subtracted, parts left out), each discounted at the period it
    is due; one entry per (column, node) pair."""
    disc = d.calendar.discount
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for term in terms:
        if term.sign:
            parts.setdefault(term.family, []).append((term.index, term.node, term.sign * disc[term.period]
                                                      * term.amount))
    out: dict[str, CostEntries] = {}
    for family, entries in parts.items():
        index, node, coef = (np.concatenate(x) for x in zip(*entries))
        key = index * d.tree.size + node
        unique, inverse = np.unique(key, return_inverse=True)
        out[family] = (unique // d.tree.size, unique % d.tree.size, np.bincount(inverse, weights=coef,
                                                                                minlength=len(unique)))
    return out


# --- rows along scenario paths: budgets, share limits, CVaR -----------------------------------------


class _RowCollector:
    """Gathers the rows of one family that is built piece by piece (one piece per budget or limit)."""

    def __init__(self) -> None:
        self.labels: dict[str, list[np.ndarray]] = {}
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.terms: list[Terms] = []
        self.count = 0

    def add(self, labels: dict[str, np.ndarray], lo: float, hi: float, terms: list[Terms]) -> None:
        n = len(next(iter(labels.values())))
        for key, values in labels.items():
            self.labels.setdefault(key, []).append(values)
        self.lo.append(np.full(n, lo))
        self.hi.append(np.full(n, hi))
        self.terms += [(r + self.count, c, v) for r, c, v in terms]
        self.count += n

    def flush(self, lp: LinearProgram, name: str, doc: str) -> None:
        if self.count:
            labels = {key: np.concatenate(v) for key, v in self.labels.items()}
            lp.add_rows(name, doc, labels, np.concatenate(self.lo), np.concatenate(self.hi), self.terms)


def add_budget_max(lp: LinearProgram, d: ModelData, terms: list[CostTerm]) -> None:
    """Budget b, per scenario (undiscounted) [$]: sum over covered t of
    landed * delivered * buy + cost * process + capex * build <= amount_b (the CASH terms).

    One row per node of the last covered period, or of a later period where an order in the window
    is stopped in some of that node's scenarios only (see `buy_outcomes`).
    """
    spend = [term for term in terms if term.name in CASH]
    rows = _RowCollector()
    for b in range(len(d.budget_names)):
        covers = d.budget_covers[b]
        if covers.any():
            parts = []
            for term in spend:
                due = covers[term.period]
                parts.append((term.node[due], lp.vars[term.family].cols[term.index[due]], term.amount[due]))
            ends, terms = _path_rows(d, _last_period(d, int(np.flatnonzero(covers)[-1]), parts), parts)
            rows.add({"budget": np.full(len(ends), b), "node": ends}, -INF, d.budget_amount[b], terms)
    rows.flush(lp, "budget_max", "cash spend in the covered periods <= amount [$]")


def add_share_limits(lp: LinearProgram, d: ModelData) -> None:
    """Limit l on material m: sum(delivered buy of matching sources) <= max_share * sum(delivered buy of
    all sources of m) (and >= min_share * ...), in each covered period (`over: period`) or summed over
    them (`horizon`). Purchases count in the period the order is placed [unit].

    A period's rows sit at its nodes, or at the nodes of a later period where an order of it is
    stopped in some of the node's scenarios only (see `buy_outcomes`).
    """
    buy = lp.vars["buy"]
    tree = d.tree
    index, outcome, factor = buy_outcomes(d, buy)
    source, placed = buy.entity[index], tree.t[buy.node[index]]
    collected = {"max": _RowCollector(), "min": _RowCollector()}
    for l in range(len(d.limit_names)):
        sel = (d.src_material[source] == d.limit_material[l]) & d.limit_covers[l][placed]
        if not sel.any():
            continue
        node, cols, t = outcome[sel], buy.cols[index[sel]], placed[sel]
        match = d.limit_match[l, source[sel]]
        for bound, share in (("max", d.limit_max[l]), ("min", d.limit_min[l])):
            if np.isnan(share):
                continue
            coef = np.where(match, 1.0 - share, -share) * factor[sel]
            lo, hi = (-INF, 0.0) if bound == "max" else (0.0, INF)
            if d.limit_over_horizon[l]:
                parts = [(node, cols, coef)]
                ends, terms = _path_rows(d, _last_period(d, int(np.flatnonzero(d.limit_covers[l])[-1]), parts), parts)
            else:
                ends, terms = _period_rows(d, t, node, cols, coef)
            collected[bound].add({"limit": np.full(len(ends), l), "node": ends}, lo, hi, terms)
    collected["max"].flush(lp, "share_max", "matching purchases - max_share * all purchases <= 0 [unit]")
    collected["min"].flush(lp, "share_min", "matching purchases - min_share * all purchases >= 0 [unit]")


def _period_rows(d: ModelData, t: np.ndarray, node: np.ndarray, cols: np.ndarray, coef: np.ndarray
                 ) -> tuple[np.ndarray, list[Terms]]:
    """One row per period: entries (placed in period t, borne at node) summed per node of t, or per
    node of the latest period their delivery is known in (rows only where some entry is)."""
    tree = d.tree
    if (tree.t[node] == t).all():  # every delivery known where the order is placed
        ends, local = np.unique(node, return_inverse=True)
        return ends, [(local, cols, coef)]
    ends_all, terms_all, count = [], [], 0
    for period in np.unique(t):
        sel = t == period
        parts = [(node[sel], cols[sel], coef[sel])]
        ends, terms = _path_rows(d, _last_period(d, int(period), parts), parts)
        used = np.unique(np.concatenate([r for r, _, _ in terms]))
        renumber = np.full(len(ends), -1, dtype=np.int64)
        renumber[used] = np.arange(len(used))
        ends_all.append(ends[used])
        terms_all += [(renumber[r] + count, c, v) for r, c, v in terms]
        count += len(used)
    return np.concatenate(ends_all), terms_all


def add_objective(lp: LinearProgram, d: ModelData, leaves: np.ndarray, coefs: dict[str, CostEntries]) -> None:
    """min (1 - lambda) sum_k p_k C_k + lambda (eta + 1/(1-alpha) sum_k p_k z_k),  z_k >= C_k - eta.

    Expected cost is sum over nodes of p_n * disc_t * unit cost * x, each cost at the node that bears
    it (`coefs`, from `node_cost_coefs`). With lambda > 0, node_cost[n] carries each node's discounted cost and
    `cvar_excess` rows z_leaf + eta - sum_path node_cost >= 0.
    """
    tree = d.tree
    lam = d.aversion
    for name, (index, node, coef) in coefs.items():
        fam = lp.vars[name]
        lp.set_cost(fam, _per_column(len(fam.entity), index, (1.0 - lam) * tree.prob[node] * coef))
    if lam <= 0:
        return
    N = tree.size
    nodes = np.arange(N)
    node_cost = lp.add_vars("node_cost", nodes, nodes, -INF, INF)
    terms = [(nodes, node_cost.cols, 1.0)]
    for name, (index, node, coef) in coefs.items():
        terms.append((node, lp.vars[name].cols[index], -coef))
    lp.add_rows("node_cost_def", "node_cost[n] = sum of discounted costs at node n [$]",
                {"node": nodes}, 0.0, 0.0, terms)
    eta = lp.add_vars("eta", np.zeros(1, int), np.zeros(1, int), -INF, INF)
    lp.set_cost(eta, np.array([lam]))
    z = lp.add_vars("excess", leaves, leaves, 0.0, INF)
    lp.set_cost(z, lam * tree.prob[leaves] / (1.0 - d.alpha))
    ends, path_terms = _path_rows(d, d.calendar.periods - 1, [(nodes, node_cost.cols, -np.ones(N))])
    assert np.array_equal(ends, leaves)
    rows = np.arange(len(leaves))
    lp.add_rows("cvar_excess", "z_k + eta - C_k >= 0 [$]", {"node": leaves}, 0.0, INF,
                [(rows, z.cols, 1.0), (rows, np.full(len(leaves), eta.first), 1.0), *path_terms])


def _per_column(n: int, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values of entries summed per column (a column may have several entries: `buy_outcomes`)."""
    out = np.zeros(n)
    if len(index) == n:  # one entry per column
        out[index] = values
    else:
        np.add.at(out, index, values)
    return out
