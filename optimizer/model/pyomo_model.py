"""LinearProgram -> Pyomo ConcreteModel: one Var component per variable family, one Constraint
component per constraint family (named as in docs/model.md), one Objective.

Built lean (see ../shared/PERF-FACTS.md): flat integer-indexed variables, rows as LinearExpression
from precomputed coefficient lists, cyclic GC paused while building.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression
from scipy import sparse

from optimizer.model.lp import LinearProgram


def _bound(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def to_pyomo(lp: LinearProgram, name: str = "stockpile") -> tuple[pyo.ConcreteModel, list]:
    """Build the Pyomo model; returns it and its variables in LP column order."""
    c, col_lo, col_hi, row_lo, row_hi, a_row, a_col, a_val = lp.arrays()
    with PauseGC():
        model = pyo.ConcreteModel(name=name)
        columns: list = []
        for fam in lp.vars.values():
            n = len(fam.entity)
            lo = col_lo[fam.first: fam.first + n].tolist()
            hi = col_hi[fam.first: fam.first + n].tolist()
            var = pyo.Var(range(n), doc=fam.doc, dense=True,
                          bounds=lambda _m, i, lo=lo, hi=hi: (_bound(lo[i]), _bound(hi[i])))
            model.add_component(fam.name, var)
            columns.extend(var[i] for i in range(n))
        a = sparse.csr_array((a_val, (a_row, a_col)), shape=(lp.n_rows, lp.n_cols))
        a.sum_duplicates()
        indptr, indices, data = a.indptr, a.indices.tolist(), a.data.tolist()
        for fam in lp.rows.values():
            model.add_component(fam.name, pyo.Constraint(
                range(fam.size), doc=fam.doc,
                rule=lambda _m, i, f=fam.first: _row(columns, indptr, indices, data, row_lo[f + i], row_hi[f + i], f + i),
            ))
        nz = np.flatnonzero(c)
        model.objective = pyo.Objective(
            expr=LinearExpression(constant=0.0, linear_coefs=c[nz].tolist(), linear_vars=[columns[j] for j in nz]),
            sense=pyo.minimize,
            doc="(1 - aversion) * expected cost + aversion * CVaR [$]",
        )
    return model, columns


def _row(columns: list, indptr: np.ndarray, indices: list, data: list, lo: float, hi: float, r: int):
    start, stop = int(indptr[r]), int(indptr[r + 1])
    expr = LinearExpression(constant=0.0, linear_coefs=data[start:stop],
                            linear_vars=[columns[j] for j in indices[start:stop]])
    if lo == hi:
        return expr == float(lo)
    return (_bound(lo), expr, _bound(hi))
