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
class VarFamily:
    """A block of columns: decision `name` for (entity, node) pairs."""

    name: str
    doc: str
    entity: np.ndarray  # [n] index into the entity list of the family (materials, sources, ...)
    node: np.ndarray  # [n] tree node
    first: int  # column of the first variable

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

    def add_vars(self, name: str, doc: str, entity: np.ndarray, node: np.ndarray,
                 lo: np.ndarray | float, hi: np.ndarray | float) -> VarFamily:
        n = len(entity)
        fam = VarFamily(name, doc, np.asarray(entity, dtype=np.int64), np.asarray(node, dtype=np.int64), self.n_cols)
        self.vars[name] = fam
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

    def standard_form(self) -> StandardForm:
        """The LP as the solver takes it: bounds, costs and the matrix in compressed columns."""
        c, col_lo, col_hi, row_lo, row_hi, rows, cols, vals = self.arrays()
        indptr, indices, values = csc(rows, cols, vals, self.n_cols)
        return StandardForm(c, col_lo, col_hi, row_lo, row_hi, indptr, indices, values)


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
    add_material_balance(lp, d, lk)
    add_target_min(lp, d, lk["stock"])
    add_budget_max(lp, d)
    add_share_limits(lp, d)
    leaves = np.flatnonzero(tree.t == d.calendar.periods - 1)
    add_objective(lp, d, leaves)
    return Formulation(lp, d)


# --- variables -----------------------------------------------------------------------------------


def _node_grid(d: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """(t, rep) of every node: the period and a representative scenario, [N] each."""
    return d.tree.t, d.tree.rep


def _can_build(exp: Expansions, cap: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[E, N]: built capacity can exist at nodes of period t (capacity finite, something buildable in time)."""
    finite = np.isfinite(cap[:, 0]) if cap.shape[1] else np.zeros(len(cap), dtype=bool)
    return (finite & (exp.max > 0))[:, None] & (t[None, :] >= exp.lead[:, None])


def add_buy(lp: LinearProgram, d: ModelData) -> VarFamily:
    """buy[s,n] >= 0: units ordered from source s at node n (arrives lead_s periods later).

    Exists only where s is in its window, not banned, its arrival t + lead_s < T, and it has
    capacity (cap * cmult > 0, or expansion capacity can be in place). Upper bound cap * cmult
    when no expansion can add to it (else the `supply_max` row).
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
    )
    s, n = np.nonzero(ok)
    hi = np.where(build[s, n], INF, cap[s, n] * cmult[s, n])
    return lp.add_vars("buy", "units ordered from a source [unit/period]", s, n, 0.0, hi)


def add_process(lp: LinearProgram, d: ModelData) -> VarFamily:
    """process[p,n] >= 0: input units fed to processor p at node n; 0 where banned or out of window."""
    t, k = _node_grid(d)
    cmult = d.proc_cmult[:, t, k]
    cap = d.proc_cap[:, t]
    build = _can_build(d.proc_exp, d.proc_cap, t)
    ok = d.proc_window[:, t] & ~d.proc_ban[:, t, k] & (cmult > 0) & ((cap > 0) | build)
    p, n = np.nonzero(ok)
    hi = np.where(build[p, n], INF, cap[p, n] * cmult[p, n])
    return lp.add_vars("process", "input units fed to a processor [unit/period]", p, n, 0.0, hi)


def add_stock(lp: LinearProgram, d: ModelData) -> VarFamily:
    """stock[m,n]: end-of-period stock, 0 <= stock <= capacity[m,t] (>= target when hard_target)."""
    t = d.tree.t
    m, n = np.nonzero(np.broadcast_to(d.has_stock[:, None], (len(d.materials), d.tree.size)))
    lo = np.where(d.hard_target[m], d.target[m, t[n]], 0.0)
    return lp.add_vars("stock", "end-of-period stockpile level [unit]", m, n, lo, d.stock_cap[m, t[n]])


def _demand(d: ModelData) -> np.ndarray:
    """Demand after multipliers at every node, [M, N] units."""
    t, k = _node_grid(d)
    return d.demand[:, t] * d.dmult[:, t, k]


def add_shortfall(lp: LinearProgram, d: ModelData) -> VarFamily:
    """short[m,n]: unmet demand, 0 <= short <= demand * dmult (shortfall never feeds processing)."""
    dem = _demand(d)
    m, n = np.nonzero(dem > 0)
    return lp.add_vars("short", "unmet demand [unit/period]", m, n, 0.0, dem[m, n])


def add_surplus(lp: LinearProgram, d: ModelData) -> VarFamily:
    """surplus[m,n] >= 0: units disposed of at sale_price."""
    m, n = np.indices((len(d.materials), d.tree.size)).reshape(2, -1)
    return lp.add_vars("surplus", "units disposed of [unit/period]", m, n, 0.0, INF)


def add_below_target(lp: LinearProgram, d: ModelData) -> VarFamily:
    """below[m,n] >= 0: stock below a soft target (bounded by the target)."""
    target = d.target[:, d.tree.t]
    soft = (d.has_stock & ~d.hard_target)[:, None] & (target > 0)
    m, n = np.nonzero(soft)
    return lp.add_vars("below", "stock below target [unit]", m, n, 0.0, target[m, n])


def add_expansion(lp: LinearProgram, d: ModelData, kind: str, exp: Expansions, cap: np.ndarray
                  ) -> tuple[VarFamily, VarFamily] | None:
    """build[e,n] >= 0 capacity built at node n, and built[e,n] the cumulative capacity built so far.

    Builds exist where the capacity can be used before the horizon ends (t + lead_e < T) and the
    entity has finite capacity (expansion of an unlimited one is pointless). The expansion limit
    sum_t build[e,t,k] <= max_e is the upper bound of `built`; `expansion_cumulative` links them:
    built[e,n] - built[e,parent(n)] - build[e,n] = 0.
    """
    T = d.calendar.periods
    t = d.tree.t
    finite = np.isfinite(cap[:, 0]) if cap.shape[1] else np.zeros(len(cap), dtype=bool)
    ok = (finite & (exp.max > 0))[:, None] & ((t[None, :] + exp.lead[:, None]) < T)
    e, n = np.nonzero(ok)
    if not len(e):
        return None
    build = lp.add_vars(f"build_{kind}", f"{kind} capacity built [unit/period]", e, n, 0.0, INF)
    built = lp.add_vars(f"built_{kind}", f"{kind} capacity built so far [unit/period]", e, n, 0.0, exp.max[e])
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


def add_material_balance(lp: LinearProgram, d: ModelData, lk: dict[str, Lookup]) -> None:
    """For every material m and node n (period t):

    stock[m,parent] + sum_s buy[s, ancestor(n, t - lead_s)] + sum_p yield[p,m] process[p,n]
      + short[m,n] - stock[m,n] - sum_{p: input m} process[p,n] - surplus[m,n]
      = demand[m,t] * dmult[m,t,k] - arrivals[m,t] - (initial[m] if t = 0)
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
    # purchases arriving now: ordered at the ancestor node in period t - lead
    if len(d.sources):
        s, n = np.indices((len(d.sources), N)).reshape(2, -1)
        order_t = t[n] - d.src_lead[s]
        arrived = order_t >= 0
        s, n, order_t = s[arrived], n[arrived], order_t[arrived]
        col = lk["buy"].table[s, tree.node_of[order_t, k[n]]]
        has = col >= 0
        terms.append((row[d.src_material[s[has]], n[has]], col[has], 1.0))
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
    """stock[m,n] + below[m,n] >= target[m,t] for soft targets (hard targets are stock bounds)."""
    below = lp.vars["below"]
    if not len(below.entity):
        return
    rows = np.arange(len(below.entity))
    lp.add_rows(
        "target_min",
        "stock + below >= target [unit]",
        {"material": below.entity, "node": below.node},
        d.target[below.entity, d.tree.t[below.node]],
        INF,
        [(rows, stock.table[below.entity, below.node], 1.0), (rows, below.cols, 1.0)],
    )


Terms = tuple[np.ndarray, np.ndarray, np.ndarray]  # (node, column, coefficient) of some variables


def _path_rows(d: ModelData, covers: np.ndarray, parts: list[Terms]) -> tuple[np.ndarray, list[Terms]]:
    """Rows summing `coef * x` along each scenario path over the covered periods.

    One row per node of the last covered period (scenarios through the same node get the same
    row). Returns (end node of each row, row triplets).
    """
    tree = d.tree
    last = int(np.flatnonzero(covers)[-1])
    ends = np.flatnonzero(tree.t == last)
    end_row = np.full(tree.size, -1, dtype=np.int64)
    end_row[ends] = np.arange(len(ends))
    # (node, row) pairs: row's path passes through node, node in a covered period
    K = tree.node_of.shape[1]
    pair_node = tree.node_of[covers].ravel()
    pair_row = np.tile(end_row[tree.node_of[last]], int(covers.sum()))
    pairs = np.unique(np.stack([pair_node, pair_row]), axis=1) if K else np.zeros((2, 0), int)
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


def spend_coefs(d: ModelData, lp: LinearProgram) -> dict[str, np.ndarray]:
    """Undiscounted cash spend per unit of each spending variable: landed * buy, cost * process,
    capex * build [$/unit], by family name."""
    tree = d.tree
    buy, pr = lp.vars["buy"], lp.vars["process"]
    out = {
        "buy": d.landed[buy.entity, tree.t[buy.node], tree.rep[buy.node]],
        "process": d.proc_cost[pr.entity, tree.t[pr.node]],
    }
    for kind, exp in (("source", d.src_exp), ("processor", d.proc_exp)):
        fam = lp.vars.get(f"build_{kind}")
        if fam is not None:
            out[fam.name] = exp.capex[fam.entity]
    return out


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


def add_budget_max(lp: LinearProgram, d: ModelData) -> None:
    """Budget b: sum over covered t of landed*buy + cost*process + capex*build <= amount_b, per
    scenario (undiscounted) [$]."""
    spend = [(lp.vars[name].node, lp.vars[name].cols, coef) for name, coef in spend_coefs(d, lp).items()]
    rows = _RowCollector()
    for b in range(len(d.budget_names)):
        covers = d.budget_covers[b]
        if covers.any():
            ends, terms = _path_rows(d, covers, spend)
            rows.add({"budget": np.full(len(ends), b), "node": ends}, -INF, d.budget_amount[b], terms)
    rows.flush(lp, "budget_max", "cash spend in the covered periods <= amount [$]")


def add_share_limits(lp: LinearProgram, d: ModelData) -> None:
    """Limit l on material m: sum(buy of matching sources) <= max_share * sum(buy of all sources of m)
    (and >= min_share * ...), in each covered period (`over: period`) or summed over them (`horizon`).
    Purchases count in the period the order is placed [unit]."""
    buy = lp.vars["buy"]
    tree = d.tree
    collected = {"max": _RowCollector(), "min": _RowCollector()}
    for l in range(len(d.limit_names)):
        sel = (d.src_material[buy.entity] == d.limit_material[l]) & d.limit_covers[l][tree.t[buy.node]]
        node, cols = buy.node[sel], buy.cols[sel]
        match = d.limit_match[l, buy.entity[sel]]
        if not len(node):
            continue
        for bound, share in (("max", d.limit_max[l]), ("min", d.limit_min[l])):
            if np.isnan(share):
                continue
            coef = np.where(match, 1.0 - share, -share)
            lo, hi = (-INF, 0.0) if bound == "max" else (0.0, INF)
            if d.limit_over_horizon[l]:
                ends, terms = _path_rows(d, d.limit_covers[l], [(node, cols, coef)])
            else:
                ends, local = np.unique(node, return_inverse=True)
                terms = [(local, cols, coef)]
            collected[bound].add({"limit": np.full(len(ends), l), "node": ends}, lo, hi, terms)
    collected["max"].flush(lp, "share_max", "matching purchases - max_share * all purchases <= 0 [unit]")
    collected["min"].flush(lp, "share_min", "matching purchases - min_share * all purchases >= 0 [unit]")


def purchase_cost(d: ModelData, source: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(landed cost [$/unit], discounted objective cost disc_t * landed * (1 + premium * risk) [$/unit])
    of purchases from `source` at `node`."""
    t, k = d.tree.t[node], d.tree.rep[node]
    landed = d.landed[source, t, k]
    return landed, d.calendar.discount[t] * landed * (1.0 + d.premium * d.risk[source])


def node_cost_coefs(d: ModelData, lp: LinearProgram) -> dict[str, np.ndarray]:
    """Discounted cost per unit of every variable, disc_t * unit cost (SPEC 4.2), by family name."""
    tree = d.tree
    disc = d.calendar.discount[tree.t]
    t = tree.t
    out: dict[str, np.ndarray] = {}
    for name, fam in lp.vars.items():
        e, n = fam.entity, fam.node
        if name == "buy":
            out[name] = purchase_cost(d, e, n)[1]
            continue
        if name == "process":
            unit = d.proc_cost[e, t[n]]
        elif name == "stock":
            unit = d.holding[e, t[n]]
        elif name == "short":
            unit = d.shortfall_penalty[e]
        elif name == "below":
            unit = d.target_penalty[e]
        elif name == "surplus":
            unit = -d.sale_price[e]
        elif name == "build_source":
            unit = d.src_exp.capex[e]
        elif name == "build_processor":
            unit = d.proc_exp.capex[e]
        else:
            continue
        out[name] = disc[n] * unit
    return out


def add_objective(lp: LinearProgram, d: ModelData, leaves: np.ndarray) -> None:
    """min (1 - lambda) sum_k p_k C_k + lambda (eta + 1/(1-alpha) sum_k p_k z_k),  z_k >= C_k - eta.

    Expected cost is sum over nodes of p_n * disc_t * unit cost * x. With lambda > 0, node_cost[n]
    carries each node's discounted cost and `cvar_excess` rows z_leaf + eta - sum_path node_cost >= 0.
    """
    tree = d.tree
    lam = d.aversion
    coefs = node_cost_coefs(d, lp)
    for name, coef in coefs.items():
        fam = lp.vars[name]
        lp.set_cost(fam, (1.0 - lam) * tree.prob[fam.node] * coef)
    if lam <= 0:
        return
    N = tree.size
    nodes = np.arange(N)
    node_cost = lp.add_vars("node_cost", "discounted cost of a node [$]", nodes, nodes, -INF, INF)
    terms = [(nodes, node_cost.cols, 1.0)]
    for name, coef in coefs.items():
        fam = lp.vars[name]
        terms.append((fam.node, fam.cols, -coef))
    lp.add_rows("node_cost_def", "node_cost[n] = sum of discounted costs at node n [$]",
                {"node": nodes}, 0.0, 0.0, terms)
    eta = lp.add_vars("eta", "value-at-risk level of CVaR [$]", np.zeros(1, int), np.zeros(1, int), -INF, INF)
    lp.set_cost(eta, np.array([lam]))
    z = lp.add_vars("excess", "scenario cost above eta [$]", leaves, leaves, 0.0, INF)
    lp.set_cost(z, lam * tree.prob[leaves] / (1.0 - d.alpha))
    covers = np.ones(d.calendar.periods, dtype=bool)
    ends, path_terms = _path_rows(d, covers, [(nodes, node_cost.cols, -np.ones(N))])
    assert np.array_equal(ends, leaves)
    rows = np.arange(len(leaves))
    lp.add_rows("cvar_excess", "z_k + eta - C_k >= 0 [$]", {"node": leaves}, 0.0, INF,
                [(rows, z.cols, 1.0), (rows, np.full(len(leaves), eta.first), 1.0), *path_terms])
