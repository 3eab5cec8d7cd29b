"""The LP of SPEC section 4 written in linopy, from `optimizer.data.ModelData`: the benchmark yardstick.

Written independently of `optimizer/model/lp.py` but with the same semantics: decisions live on the
nodes of the scenario tree (non-anticipativity by construction), and only where a decision is possible
(linopy masks give the same sparse index sets). Variables are 2-D (entity, node) arrays; the tree look-ups
(parent node, the ancestor where an arriving order was placed, a scenario path over a budget window) are
gathers of variable labels into an expression's `_term` dimension. Solved with linopy's HiGHS `direct`
io_api.

    from benchmarks.linopy_model import build, solve
    model = build(build_data(scenario)); objective = solve(model)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from linopy import LinearExpression, Model, Variable

from optimizer.data import ModelData

INF = np.inf


def _gather(var: Variable, coef: np.ndarray, index: tuple[np.ndarray, ...], valid: np.ndarray,
            coords: dict[str, pd.Index]) -> LinearExpression:
    """sum_j coef[..., j] * var[index[0][..., j], index[1][..., j]] as an expression over `coords`.

    The last axis of the (broadcast) index arrays becomes linopy's `_term` dimension; entries where
    `valid` is False, or whose variable is masked out, are no term.
    """
    shape = np.broadcast_shapes(*(np.shape(i) for i in index), np.shape(valid), np.shape(coef))
    labels = var.labels.values[tuple(np.broadcast_to(np.where(valid, i, 0), shape) for i in index)]
    labels = np.where(np.broadcast_to(valid, shape), labels, -1)
    dims = [*coords, "_term"]
    data = xr.Dataset(
        {"coeffs": (dims, np.broadcast_to(coef, shape).astype(float)), "vars": (dims, labels)},
        coords=coords,
    )
    return LinearExpression(data, var.model)


def _path_index(d: ModelData, covers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End nodes (nodes of the last covered period) and, for each, its ancestor in every covered period."""
    tree = d.tree
    periods = np.flatnonzero(covers)
    ends = np.flatnonzero(tree.t == periods[-1])
    return ends, tree.node_of[periods][:, tree.rep[ends]].T  # [E, covered periods]


def build(d: ModelData) -> Model:
    """The linopy model of the LP; the objective is the same as `optimizer`'s (SPEC 4.3)."""
    tree = d.tree
    T, N = d.calendar.periods, tree.size
    t, k = tree.t, tree.rep  # period and representative scenario of every node
    S, P, M = len(d.sources), len(d.processors), len(d.materials)
    node = pd.RangeIndex(N, name="node")
    idx = {
        "source": pd.Index(d.sources, name="source"),
        "processor": pd.Index(d.processors, name="processor"),
        "material": pd.Index(d.materials, name="material"),
    }
    m = Model(force_dim_names=True)
    disc = d.calendar.discount[t]

    def grid(values: np.ndarray, kind: str) -> xr.DataArray:
        return xr.DataArray(values, coords=[idx[kind], node])

    # --- variables -----------------------------------------------------------------------------
    def capacity_var(kind: str, name: str, cap: np.ndarray, cmult: np.ndarray, ban: np.ndarray,
                     window: np.ndarray, exp, extra: np.ndarray) -> tuple[Variable, np.ndarray]:
        """Purchases or processing: exists where allowed and some capacity (built or given) can exist."""
        finite = np.isfinite(cap[:, 0]) if T else np.zeros(len(cap), bool)
        expandable = (finite & (exp.max > 0))[:, None]
        can_build = expandable & (t[None, :] >= exp.lead[:, None])  # built capacity may be in place
        c = cap[:, t] * cmult[:, t, k]
        ok = window[:, t] & ~ban[:, t, k] & (cmult[:, t, k] > 0) & ((cap[:, t] > 0) | can_build) & extra
        upper = np.where(can_build, INF, np.where(ok, c, 0.0))
        var = m.add_variables(lower=0, upper=grid(upper, kind), mask=grid(ok, kind), name=name)
        return var, ok & can_build

    arrives = (t[None, :] + d.src_lead[:, None]) < T
    buy, buy_expand = capacity_var("source", "buy", d.src_cap, d.src_cmult, d.src_ban, d.src_window,
                                   d.src_exp, arrives)
    process, process_expand = capacity_var("processor", "process", d.proc_cap, d.proc_cmult, d.proc_ban,
                                           d.proc_window, d.proc_exp, np.ones((P, N), bool))
    target = d.target[:, t, k]  # the target in force (after release rules)
    has_stock = np.broadcast_to(d.has_stock[:, None], (M, N))
    stock = m.add_variables(lower=grid(np.where(d.hard_target[:, None], target, 0.0), "material"),
                            upper=grid(np.where(has_stock, d.stock_cap[:, t], 0.0), "material"),
                            mask=grid(has_stock, "material"), name="stock")
    demand = d.demand[:, t] * d.dmult[:, t, k]
    short = m.add_variables(lower=0, upper=grid(demand, "material"), mask=grid(demand > 0, "material"),
                            name="short")
    surplus = m.add_variables(lower=0, coords=[idx["material"], node], name="surplus")
    soft = has_stock & ~d.hard_target[:, None] & (target > 0)
    below = m.add_variables(lower=0, upper=grid(target, "material"), mask=grid(soft, "material"), name="below")

    builds = {}
    for kind, exp, cap in (("source", d.src_exp, d.src_cap), ("processor", d.proc_exp, d.proc_cap)):
        finite = np.isfinite(cap[:, 0]) if T else np.zeros(len(cap), bool)
        ok = (finite & (exp.max > 0))[:, None] & ((t[None, :] + exp.lead[:, None]) < T)
        if not ok.any():
            continue
        build = m.add_variables(lower=0, coords=[idx[kind], node], mask=grid(ok, kind), name=f"build_{kind}")
        built = m.add_variables(lower=0, upper=grid(np.broadcast_to(exp.max[:, None], ok.shape), kind),
                                mask=grid(ok, kind), name=f"built_{kind}")
        rows = np.arange(len(cap))[:, None, None]
        parent = tree.parent[None, :, None]
        prev = _gather(built, -1.0, (rows, parent), parent >= 0, {kind: idx[kind], "node": node})
        # built capacity accumulates along the tree; its upper bound is the expansion limit (SPEC 4.1.9)
        m.add_constraints(built.fillna(0) - build.fillna(0) + prev == 0, name=f"expansion_cumulative_{kind}",
                          mask=grid(ok, kind))
        builds[kind] = (build, built, exp)

    # --- supply and processing capacity with expansion (SPEC 4.1.1-2) ---------------------------
    for kind, var, expand, cap, cmult in (("source", buy, buy_expand, d.src_cap, d.src_cmult),
                                          ("processor", process, process_expand, d.proc_cap, d.proc_cmult)):
        if kind not in builds or not expand.any():
            continue
        _, built, exp = builds[kind]
        usable = np.maximum(t[None, :] - exp.lead[:, None], 0)
        anc = tree.node_of[usable, k[None, :]][..., None]  # where the capacity usable at n was built
        mult = cmult[:, t, k]
        rows = np.arange(len(cap))[:, None, None]
        built_then = _gather(built, mult[..., None], (rows, anc), expand[..., None], {kind: idx[kind], "node": node})
        lhs = var.fillna(0) - built_then
        rhs = grid(np.where(expand, cap[:, t] * mult, 0.0), kind)
        m.add_constraints(lhs <= rhs, name=f"{kind}_max", mask=grid(expand, kind))

    # --- material balance (SPEC 4.1.3) -------------------------------------------------------
    mat_coords = {"material": idx["material"], "node": node}
    mats = np.arange(M)[:, None, None]
    parent = tree.parent[None, :, None]
    # masked (absent) variables count as 0 in sums: fillna(0) (linopy's legacy and v1 semantics agree)
    balance = -stock.fillna(0) + short.fillna(0) - surplus
    balance = balance + _gather(stock, 1.0, (mats, parent), parent >= 0, mat_coords)
    if S:
        per = [np.flatnonzero(d.src_material == mm) for mm in range(M)]
        width = max(1, max(len(p) for p in per))
        src = np.full((M, width), -1)
        for mm, p in enumerate(per):
            src[mm, : len(p)] = p
        s3 = np.maximum(src, 0)[:, None, :]  # [M, 1, J]
        order_t = t[None, :, None] - d.src_lead[s3]  # period the arriving order was placed
        placed = (src[:, None, :] >= 0) & (order_t >= 0)
        anc = tree.node_of[np.maximum(order_t, 0), k[None, :, None]]
        balance = balance + _gather(buy, 1.0, (s3, anc), placed, mat_coords)
    if P:
        flows = [(p, mm, -1.0) for p, mm in enumerate(d.proc_input)]
        flows += [(p, mm, float(d.yields[p, mm])) for p, mm in zip(*np.nonzero(d.yields))]
        width = max(sum(1 for f in flows if f[1] == mm) for mm in range(M))
        proc, coef = np.full((M, max(width, 1)), -1), np.zeros((M, max(width, 1)))
        fill = np.zeros(M, int)
        for p, mm, c in flows:
            proc[mm, fill[mm]], coef[mm, fill[mm]] = p, c
            fill[mm] += 1
        p3 = np.maximum(proc, 0)[:, None, :]
        balance = balance + _gather(process, coef[:, None, :], (p3, np.arange(N)[None, :, None]),
                                    proc[:, None, :] >= 0, mat_coords)
    rhs = demand - d.arrivals[:, t] - np.where(t[None, :] == 0, d.initial[:, None], 0.0)
    m.add_constraints(balance == grid(rhs, "material"), name="material_balance")

    # --- soft stock targets (SPEC 4.1.6) -----------------------------------------------------
    if soft.any():
        m.add_constraints(stock.fillna(0) + below.fillna(0) >= grid(target, "material"), name="target_min",
                          mask=grid(soft, "material"))

    # --- budgets (SPEC 4.1.7): undiscounted spend along each scenario path over the window --------
    landed = d.landed  # [S, T, K]
    spend = [(buy, np.arange(S), lambda s, a: landed[s, t[a], k[a]])]
    spend.append((process, np.arange(P), lambda p, a: d.proc_cost[p, t[a]]))
    for kind, (build, _, exp) in builds.items():
        spend.append((build, np.arange(len(exp.max)), lambda e, a, exp=exp: exp.capex[e] + 0.0 * a))
    for b, name in enumerate(d.budget_names):
        covers = d.budget_covers[b]
        if not covers.any():
            continue
        ends, path = _path_index(d, covers)  # [E, C]
        coords = {"end": pd.Index(ends, name="end")}
        total = None
        for var, ents, unit in spend:
            if not len(ents):
                continue
            e = np.broadcast_to(ents[None, None, :], (len(ends), path.shape[1], len(ents)))
            a = np.broadcast_to(path[:, :, None], e.shape)
            expr = _gather(var, unit(e, a).reshape(len(ends), -1), (e.reshape(len(ends), -1), a.reshape(len(ends), -1)),
                           np.ones((len(ends), e.shape[1] * e.shape[2]), bool), coords)
            total = expr if total is None else total + expr
        m.add_constraints(total <= d.budget_amount[b], name=f"budget_max_{b}")

    # --- share limits (SPEC 4.1.8) -------------------------------------------------------------
    exists = buy.labels.values >= 0
    for lim, name in enumerate(d.limit_names):
        srcs = np.flatnonzero(d.src_material == d.limit_material[lim])
        covers = d.limit_covers[lim]
        for bound, share in (("max", d.limit_max[lim]), ("min", d.limit_min[lim])):
            if np.isnan(share) or not covers.any():
                continue
            coef = np.where(d.limit_match[lim, srcs], 1.0 - share, -share)
            if d.limit_over_horizon[lim]:
                ends, path = _path_index(d, covers)
                e = np.broadcast_to(srcs[None, None, :], (len(ends), path.shape[1], len(srcs))).reshape(len(ends), -1)
                a = np.broadcast_to(path[:, :, None], (len(ends), path.shape[1], len(srcs))).reshape(len(ends), -1)
                c = np.broadcast_to(coef[None, None, :], (len(ends), path.shape[1], len(srcs))).reshape(len(ends), -1)
                lhs = _gather(buy, c, (e, a), np.ones_like(e, bool), {"end": pd.Index(ends, name="end")})
                mask = None
            else:
                lhs = _gather(buy, coef[None, :], (srcs[None, :], np.arange(N)[:, None]),
                              np.ones((N, len(srcs)), bool), {"node": node})
                mask = xr.DataArray(covers[t] & exists[srcs].any(axis=0), coords=[node])
            con = lhs <= 0 if bound == "max" else lhs >= 0
            m.add_constraints(con, name=f"share_{bound}_{lim}", mask=mask)

    # --- objective (SPEC 4.2-4.3) -------------------------------------------------------------
    unit_cost = [
        (buy, "source", landed[:, t, k] * (1.0 + d.premium * d.risk[:, None])),
        (process, "processor", d.proc_cost[:, t]),
        (stock, "material", d.holding[:, t]),
        (short, "material", np.broadcast_to(d.shortfall_penalty[:, None], (M, N))),
        (below, "material", np.broadcast_to(d.target_penalty[:, None], (M, N))),
        (surplus, "material", np.broadcast_to(-d.sale_price[:, None], (M, N))),
    ]
    for kind, (build, _, exp) in builds.items():
        unit_cost.append((build, kind, np.broadcast_to(exp.capex[:, None], build.shape)))
    lam = d.aversion
    weight = (1.0 - lam) * tree.prob * disc  # expected cost: node probability x discount factor
    expected = sum((grid(weight[None, :] * c, kind) * var.fillna(0)).sum() for var, kind, c in unit_cost)
    if lam <= 0:
        m.add_objective(expected)
        return m
    node_costs = [(grid(disc[None, :] * c, kind) * var.fillna(0)).sum(kind) for var, kind, c in unit_cost]
    node_cost = m.add_variables(coords=[node], name="node_cost")  # free
    m.add_constraints(node_cost - sum(node_costs) == 0, name="node_cost_def")
    eta = m.add_variables(name="eta")
    leaves = np.flatnonzero(t == T - 1)
    leaf = pd.Index(leaves, name="leaf")
    excess = m.add_variables(lower=0, coords=[leaf], name="excess")
    path = tree.node_of[:, k[leaves]].T  # [L, T]: a scenario's nodes, period by period
    cost_k = _gather(node_cost, 1.0, (path,), np.ones_like(path, bool), {"leaf": leaf})
    m.add_constraints(excess + eta - cost_k >= 0, name="cvar_excess")
    p_leaf = xr.DataArray(tree.prob[leaves], coords=[leaf])
    m.add_objective(expected + lam * eta + (lam / (1.0 - d.alpha) * p_leaf * excess).sum())
    return m


def solve(m: Model, threads: int | None = None) -> float:
    """Solve with HiGHS through linopy's direct io_api (dual simplex, presolve on); returns the objective."""
    options = {"solver": "simplex", "presolve": "on", "output_flag": False}
    if threads is not None:
        options["threads"] = threads
    status, condition = m.solve(solver_name="highs", io_api="direct", progress=False, **options)
    if status != "ok":
        raise RuntimeError(f"linopy/HiGHS: {status} ({condition})")
    return float(m.objective.value)
