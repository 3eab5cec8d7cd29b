"""The formulation as a Pyomo model indexed by labels, for people who extend it with constraints of
their own (`optimize SCENARIO.yaml --extension rules.py`, `optimizer.build_model`).

Built from the same sparse blocks as the fast route (`model/lp.py` stays the one formulation):

* one variable per tree node, e.g. `m.buy_node["cn-dy", "2027-01", "base"]` (a node is named by its
  period and the first scenario through it), and a view over every scenario,
  `m.buy["cn-dy", "2027-01", "embargo"]`, in which scenarios that cannot yet be told apart share
  one variable (SPEC 4.1.10);
* sets `MATERIALS`, `SOURCES`, `PROCESSORS`, `PERIODS`, `SCENARIOS`; parameters `landed`,
  `delivered`, `probability`, `discount`; one constraint component per family, named as in docs/model.md;
* the objective `objective`.

`compile_model` turns the (possibly extended) model back into a `StandardForm` in the fast route's
column and row order, with the user's variables and constraints appended, so one solver session
solves either (and an unextended model gives exactly the fast route's bytes).

Built lean (../shared/PERF-FACTS.md): variables with bounds from lists, rows as LinearExpression
from precomputed coefficient lists, cyclic GC paused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from optimizer.data import ModelData
from optimizer.model.lp import FAMILIES, Formulation, StandardForm, csc
from optimizer.spec import Scenario

#: Entity list behind each row label (rows with an `entity` label name it by family).
ROW_LABELS = {"material": "materials", "budget": "budget_names", "limit": "limit_names"}
ROW_ENTITIES = {"supply_max": "sources", "process_max": "processors",
                "expansion_cumulative_source": "sources", "expansion_cumulative_processor": "processors",
                "order_min": "sources", "order_max": "sources",
                "expansion_modules_source": "sources", "expansion_modules_processor": "processors"}


@dataclass(frozen=True)
class ModelLink:
    """How a built model maps onto the formulation: its variables and constraints in LP order."""

    form: Formulation
    scenario: Scenario
    columns: list
    rows: list


def _bound(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def node_names(d: ModelData) -> list[tuple[str, str]]:
    """(period, first scenario) of every tree node: the label of a node's variables and rows."""
    labels = d.calendar.labels
    return [(labels[int(t)], d.scenarios[int(k)]) for t, k in zip(d.tree.t, d.tree.rep)]


def build_model(form: Formulation, scenario: Scenario) -> pyo.ConcreteModel:
    """The labelled Pyomo model of a formulation (see the module docstring)."""
    d, lp = form.data, form.lp
    c, col_lo, col_hi, row_lo, row_hi, a_row, a_col, a_val = lp.arrays()
    nodes = node_names(d)
    tree = d.tree
    with PauseGC():
        m = pyo.ConcreteModel(name=d.name)
        m.MATERIALS = pyo.Set(initialize=d.materials, ordered=True, doc="materials")
        m.SOURCES = pyo.Set(initialize=d.sources, ordered=True, doc="sources")
        m.PROCESSORS = pyo.Set(initialize=d.processors, ordered=True, doc="processors")
        m.PERIODS = pyo.Set(initialize=d.calendar.labels, ordered=True, doc="periods, by first month YYYY-MM")
        m.SCENARIOS = pyo.Set(initialize=d.scenarios, ordered=True, doc="scenarios")
        m.probability = pyo.Param(m.SCENARIOS, initialize=dict(zip(d.scenarios, d.prob.tolist())),
                                  doc="scenario probability [-]")
        m.discount = pyo.Param(m.PERIODS, initialize=dict(zip(d.calendar.labels, d.calendar.discount.tolist())),
                               doc="discount factor of the period [-]")
        columns: list = [None] * lp.n_cols
        for name, fam in lp.vars.items():
            kind = FAMILIES[name].entities
            n = len(fam.entity)
            lo = col_lo[fam.first: fam.first + n].tolist()
            hi = col_hi[fam.first: fam.first + n].tolist()
            if name == "eta":
                var = pyo.Var(doc=f"{fam.doc}", bounds=(_bound(lo[0]), _bound(hi[0])))
                m.add_component(name, var)
                columns[fam.first] = var
                continue
            names = getattr(d, kind) if kind else None
            keys = [((names[e],) if kind else ()) + nodes[nd] for e, nd in zip(fam.entity.tolist(), fam.node.tolist())]
            bounds = dict(zip(keys, zip(lo, hi)))
            var = pyo.Var(keys, dense=True, doc=f"{fam.doc}, one per tree node",
                          within=pyo.Integers if fam.integer else pyo.Reals,
                          bounds=lambda _m, *key, b=bounds: tuple(_bound(v) for v in b[key]))
            m.add_component(f"{name}_node", var)
            for i, key in enumerate(keys):
                columns[fam.first + i] = var[key]
            # the view over every scenario: scenario k at period t shares its node's variable
            view = {}
            for key, e, nd in zip(keys, fam.entity.tolist(), fam.node.tolist()):
                t = int(tree.t[nd])
                for k in np.flatnonzero(tree.node_of[t] == nd).tolist():
                    view[((names[e],) if kind else ()) + (nodes[nd][0], d.scenarios[k])] = var[key]
            m.add_component(name, pyo.Reference(view))
        if "buy" in lp.vars:
            buy = lp.vars["buy"]
            landed, delivered = {}, {}
            arrives = d.delivered
            for e, nd in zip(buy.entity.tolist(), buy.node.tolist()):
                t = int(tree.t[nd])
                for k in np.flatnonzero(tree.node_of[t] == nd).tolist():
                    landed[(d.sources[e], nodes[nd][0], d.scenarios[k])] = float(d.landed[e, t, k])
                    delivered[(d.sources[e], nodes[nd][0], d.scenarios[k])] = float(arrives[e, t, k])
            m.landed = pyo.Param(list(landed), initialize=landed, doc="landed cost of an order [$/unit]")
            m.delivered = pyo.Param(list(delivered), initialize=delivered,
                                    doc="1 if the order is delivered, 0 if a ban on arrival stops it (SPEC 4.0)")
        indptr, indices, data = _csr(a_row, a_col, a_val, lp.n_rows, lp.n_cols)
        rows: list = [None] * lp.n_rows
        for name, fam in lp.rows.items():
            keys = _row_keys(d, name, fam.labels, nodes)
            con = pyo.Constraint(keys, doc=fam.doc, rule=lambda _m, *key, f=fam.first, pos={k: i for i, k in
                                 enumerate(keys)}: _row(columns, indptr, indices, data, row_lo, row_hi, f + pos[key]))
            m.add_component(name, con)
            for i, key in enumerate(keys):
                rows[fam.first + i] = con[key]
        nz = np.flatnonzero(c)
        m.objective = pyo.Objective(
            expr=LinearExpression(constant=0.0, linear_coefs=c[nz].tolist(), linear_vars=[columns[j] for j in nz]),
            sense=pyo.minimize,
            doc="(1 - aversion) * expected cost + aversion * CVaR [$]",
        )
    m._optimizer_link = ModelLink(form, scenario, columns, rows)
    return m


def _row_keys(d: ModelData, family: str, labels: dict[str, np.ndarray], nodes: list) -> list[tuple]:
    """Index of each row of a family: its entity names (material, source, budget, ...) and its node."""
    parts = []
    for key, values in labels.items():
        if key == "node":
            continue
        names = getattr(d, ROW_ENTITIES[family] if key == "entity" else ROW_LABELS[key])
        parts.append([names[int(v)] for v in values])
    node = labels["node"].tolist()
    return [tuple(p[i] for p in parts) + nodes[n] for i, n in enumerate(node)]


def _csr(rows, cols, vals, n_rows, n_cols):
    indptr, indices, values = csc(cols, rows, vals, n_rows)  # compressed columns of A.T = rows of A
    return indptr, indices.tolist(), values.tolist()


def _row(columns: list, indptr: np.ndarray, indices: list, data: list, row_lo: np.ndarray, row_hi: np.ndarray,
         r: int):
    start, stop = int(indptr[r]), int(indptr[r + 1])
    expr = LinearExpression(constant=0.0, linear_coefs=data[start:stop],
                            linear_vars=[columns[j] for j in indices[start:stop]])
    lo, hi = row_lo[r], row_hi[r]
    if lo == hi:
        return expr == float(lo)
    return (_bound(lo), expr, _bound(hi))


def model_link(model: pyo.ConcreteModel) -> ModelLink:
    link = getattr(model, "_optimizer_link", None)
    if link is None:
        raise ValueError("this Pyomo model was not built by optimizer.build_model")
    return link


def compile_model(model: pyo.ConcreteModel) -> StandardForm:
    """The model as a StandardForm in the formulation's order, the user's columns and rows appended.

    Pyomo's linear standard-form compiler writes the model; its columns and rows are put back in LP
    order. A fixed variable is folded into the right-hand side by the compiler, so it comes back as
    a column fixed at its value with no cost or entries (its cost is in the objective's offset).
    """
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    link = model_link(model)
    lp = link.form.lp
    with PauseGC():
        sf = LinearStandardFormCompiler().write(model, mixed_form=True)
    col_pos = {id(v): j for j, v in enumerate(link.columns)}
    extra_cols = [v for v in sf.columns if id(v) not in col_pos]
    n = lp.n_cols + len(extra_cols)
    for j, v in enumerate(extra_cols):
        col_pos[id(v)] = lp.n_cols + j
    col_of = np.fromiter((col_pos[id(v)] for v in sf.columns), dtype=np.int64, count=len(sf.columns))
    every = [*link.columns, *extra_cols]
    col_lo = np.array([(v.value if v.fixed else (-np.inf if v.lb is None else v.lb)) for v in every], dtype=float)
    col_hi = np.array([(v.value if v.fixed else (np.inf if v.ub is None else v.ub)) for v in every], dtype=float)
    cost = np.zeros(n)
    c = sf.c.tocsr() if sf.c.shape[0] else None
    if c is not None:
        cost[col_of[c.indices]] = c.data
    offset = float(sf.c_offset[0]) if len(sf.c_offset) else 0.0
    # rows: ours in LP order, then the user's (a ranged user constraint written twice becomes one row)
    row_pos = {id(con): i for i, con in enumerate(link.rows)}
    extra_rows: dict[int, int] = {}
    extra_names: list[str] = []
    sf_row = np.empty(len(sf.rows), dtype=np.int64)
    for i, (con, _) in enumerate(sf.rows):
        key = id(con)
        if key not in row_pos:
            if key not in extra_rows:
                extra_rows[key] = lp.n_rows + len(extra_names)
                extra_names.append(con.name)
            sf_row[i] = extra_rows[key]
        else:
            sf_row[i] = row_pos[key]
    n_rows = lp.n_rows + len(extra_names)
    row_lo, row_hi = np.full(n_rows, -np.inf), np.full(n_rows, np.inf)
    rhs = np.asarray(sf.rhs, dtype=float)
    sense = np.fromiter((s for _, s in sf.rows), dtype=np.int64, count=len(sf.rows))
    np.maximum.at(row_lo, sf_row[sense <= 0], rhs[sense <= 0])
    np.minimum.at(row_hi, sf_row[sense >= 0], rhs[sense >= 0])
    a = sf.A.tocoo()
    keep_entry = np.ones(len(a.data), dtype=bool)
    # a ranged row comes twice with the same coefficients: keep the entries of its first copy only
    first_copy = np.full(n_rows, -1, dtype=np.int64)
    for i in range(len(sf.rows)):
        if first_copy[sf_row[i]] < 0:
            first_copy[sf_row[i]] = i
    keep_entry &= first_copy[sf_row[a.row]] == a.row
    indptr, indices, values = csc(sf_row[a.row[keep_entry]], col_of[a.col[keep_entry]], a.data[keep_entry], n)
    integer = np.array([v.is_integer() for v in every], dtype=bool)
    # a constraint of ours the compiler dropped (deactivated by the user) has no entries and no bounds
    return StandardForm(cost, col_lo, col_hi, row_lo, row_hi, indptr, indices, values,
                        integer if integer.any() else None, offset, tuple(v.name for v in extra_cols),
                        tuple(extra_names))
