"""The only module that names HiGHS: hand the LP over in memory, solve, map the status.

Two hand-off routes give the same LP: `pyomo` builds the Pyomo model and compiles it with Pyomo's
linear standard-form compiler; `direct` passes the formulation's arrays straight to highspy.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import highspy
import numpy as np

from optimizer.model.lp import LinearProgram

Route = Literal["auto", "pyomo", "direct"]

#: `auto` builds the Pyomo model up to this many columns (it costs little there) and hands larger
#: LPs straight from the formulation's arrays (Pyomo's build and compile then dominate: benchmarks/).
AUTO_PYOMO_MAX_COLUMNS = 20_000

#: HiGHS model status -> our status (one table, as linopy's CONDITION_MAP).
STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit",
    "kObjectiveBound": "error",
    "kObjectiveTarget": "error",
    "kSolutionLimit": "error",
    "kInterrupt": "interrupted",
    "kMemoryLimit": "error",
    "kModelEmpty": "optimal",
    "kNotset": "error",
    "kLoadError": "error",
    "kModelError": "error",
    "kPresolveError": "error",
    "kSolveError": "error",
    "kPostsolveError": "error",
    "kUnknown": "error",
}


@dataclass
class SolverOptions:
    """Options that reach HiGHS. Dual simplex without presolve is the measured default on this LP
    (benchmarks/highs_options.py: presolve off was 30 % faster at small and medium and 12 % at large,
    since the formulation already leaves out impossible variables; IPM with crossover 2-7x slower;
    a second thread no faster). Serial simplex is deterministic."""

    time_limit: float | None = None
    threads: int | None = None
    verbose: bool = False
    solver: str = "simplex"
    presolve: str = "off"


@dataclass
class SolveResult:
    """What came back: status, primal values and row duals in LP order, and the solver's own figures."""

    status: str
    objective: float | None
    x: np.ndarray | None
    row_dual: np.ndarray | None
    has_solution: bool
    col_dual: np.ndarray | None = None  # reduced costs in LP column order
    info: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    highs: highspy.Highs | None = None
    col_map: np.ndarray | None = None  # HiGHS column -> LP column (None: identity)
    row_map: np.ndarray | None = None


def highs_version() -> str:
    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


@dataclass
class LoadedModel:
    """A HiGHS instance holding the LP, with the maps from its columns/rows to the LP's (None: identity)."""

    highs: highspy.Highs
    options: SolverOptions
    route: str
    col_map: np.ndarray | None = None
    row_map: np.ndarray | None = None
    timings: dict = field(default_factory=dict)


def load_lp(lp: LinearProgram, options: SolverOptions | None = None, route: Route = "auto",
            name: str = "stockpile") -> LoadedModel:
    """Hand `lp` to a new HiGHS instance in memory, by `route`."""
    options = options or SolverOptions()
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    h.setOptionValue("solver", options.solver)
    h.setOptionValue("presolve", options.presolve)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    if route == "auto":
        route = "pyomo" if lp.n_cols <= AUTO_PYOMO_MAX_COLUMNS else "direct"
    loaded = LoadedModel(h, options, route)
    if route == "pyomo":
        from optimizer.model.pyomo_model import to_pyomo

        clock = time.perf_counter()
        model, columns = to_pyomo(lp, name)
        loaded.timings["build_pyomo"] = time.perf_counter() - clock
        clock = time.perf_counter()
        loaded.col_map, loaded.row_map = _pass_pyomo(h, model, columns, lp)
        loaded.timings["handoff"] = time.perf_counter() - clock
    else:
        clock = time.perf_counter()
        _pass_arrays(h, *lp.arrays(), lp.n_rows, lp.n_cols)
        loaded.timings["handoff"] = time.perf_counter() - clock
    return loaded


def run(loaded: LoadedModel, lp: LinearProgram, meanwhile: Callable[[], None] | None = None) -> SolveResult:
    """Run HiGHS (warm if it was run before) and return values in LP column/row order.

    `meanwhile` runs on this thread while HiGHS solves on its own (HiGHS needs no Python while it
    runs, so on a machine with a spare core the two overlap: the CLI imports its output stage there).
    """
    h, options = loaded.highs, loaded.options
    clock = time.perf_counter()
    with _stdout_to_stderr(options.verbose):
        _run_interruptible(h, meanwhile)
        status = _status(h)
        if status == "infeasible_or_unbounded":
            h.setOptionValue("presolve", "off")
            _run_interruptible(h)
            h.setOptionValue("presolve", options.presolve)
            status = _status(h)
    if status == "interrupted":
        raise KeyboardInterrupt
    timings = dict(loaded.timings)
    timings["solve"] = time.perf_counter() - clock
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = row_dual = col_dual = None
    objective = None
    if has_solution:
        sol = h.getSolution()
        x_h = np.asarray(sol.col_value, dtype=float)
        dual_h = np.asarray(sol.row_dual, dtype=float) if sol.dual_valid else np.zeros(h.getNumRow())
        reduced_h = np.asarray(sol.col_dual, dtype=float) if sol.dual_valid else np.zeros(h.getNumCol())
        if loaded.col_map is None:
            x, row_dual, col_dual = x_h, dual_h, reduced_h
        else:
            lo, hi = lp.arrays()[1:3]
            x = np.clip(np.zeros(lp.n_cols), lo, hi)
            x[loaded.col_map] = x_h
            col_dual = np.zeros(lp.n_cols)
            col_dual[loaded.col_map] = reduced_h
            row_dual = np.zeros(lp.n_rows)
            np.add.at(row_dual, loaded.row_map, dual_h)
        objective = float(info.objective_function_value)
    return SolveResult(
        status=status,
        objective=objective,
        x=x,
        row_dual=row_dual,
        col_dual=col_dual,
        has_solution=has_solution,
        info={
            "highs_version": highs_version(),
            "model_status": h.modelStatusToString(h.getModelStatus()),
            "simplex_iterations": int(info.simplex_iteration_count),
            "ipm_iterations": int(info.ipm_iteration_count),
            "highs_run_time": float(h.getRunTime()),
            "max_primal_infeasibility": float(info.max_primal_infeasibility),
            "max_dual_infeasibility": float(info.max_dual_infeasibility),
            "solver": options.solver,
            "presolve": options.presolve,
            "threads": options.threads,
            "route": loaded.route,
            "columns": int(h.getNumCol()),
            "rows": int(h.getNumRow()),
            "nonzeros": int(h.getNumNz()),
        },
        timings=timings,
        highs=h,
        col_map=loaded.col_map,
        row_map=loaded.row_map,
    )


def solve_lp(lp: LinearProgram, options: SolverOptions | None = None, route: Route = "auto",
             name: str = "stockpile", meanwhile: Callable[[], None] | None = None) -> SolveResult:
    """Build the solver's copy of `lp` (by `route`), run HiGHS (and `meanwhile()` beside it, see
    `run`), return values in LP column/row order."""
    return run(load_lp(lp, options, route, name), lp, meanwhile)


def same_structure(old: LinearProgram, new: LinearProgram) -> bool:
    """True when `new` has the same columns and rows as `old` (coefficients may differ)."""
    if (old.n_cols, old.n_rows) != (new.n_cols, new.n_rows) or list(old.vars) != list(new.vars):
        return False
    if list(old.rows) != list(new.rows):
        return False
    return all(np.array_equal(old.vars[k].entity, new.vars[k].entity) and np.array_equal(old.vars[k].node,
               new.vars[k].node) for k in old.vars) and all(
        old.rows[k].size == new.rows[k].size for k in old.rows)


def update_lp(loaded: LoadedModel, old: LinearProgram, new: LinearProgram) -> int:
    """Push the differences between two LPs of the same structure into HiGHS in place (keeps the basis).

    Only for the direct route (column and row order identical). Returns the number of changes.
    """
    if loaded.col_map is not None:
        raise ValueError("in-place updates need the direct hand-off route")
    h = loaded.highs
    c0, lo0, hi0, rlo0, rhi0, *a0 = old.arrays()
    c1, lo1, hi1, rlo1, rhi1, *a1 = new.arrays()
    changes = 0
    idx = np.flatnonzero(c0 != c1)
    if len(idx):
        h.changeColsCost(len(idx), idx.astype(np.int32), c1[idx])
        changes += len(idx)
    idx = np.flatnonzero((lo0 != lo1) | (hi0 != hi1))
    if len(idx):
        h.changeColsBounds(len(idx), idx.astype(np.int32), _inf(lo1[idx]), _inf(hi1[idx]))
        changes += len(idx)
    idx = np.flatnonzero((rlo0 != rlo1) | (rhi0 != rhi1))
    if len(idx):
        h.changeRowsBounds(len(idx), idx.astype(np.int32), _inf(rlo1[idx]), _inf(rhi1[idx]))
        changes += len(idx)
    # matrix entries keyed col * n_rows + row in both LPs; an entry missing on one side is 0 there
    keys, values = [], []
    for rows, cols, vals in (a0, a1):
        indptr, r, v = csc(rows, cols, vals, new.n_cols)
        c = np.repeat(np.arange(new.n_cols, dtype=np.int64), np.diff(indptr))
        keys.append(c * new.n_rows + r)
        values.append(v)
    every = np.union1d(keys[0], keys[1])
    before, after = np.zeros(len(every)), np.zeros(len(every))
    before[np.searchsorted(every, keys[0])] = values[0]
    after[np.searchsorted(every, keys[1])] = values[1]
    moved = np.flatnonzero(before != after)
    cols, rows = np.divmod(every[moved], new.n_rows)
    for r, c, v in zip(rows.tolist(), cols.tolist(), after[moved].tolist()):
        h.changeCoeff(r, c, v)
    return changes + len(moved)


def _inf(values: np.ndarray) -> np.ndarray:
    return np.where(np.isinf(values), np.sign(values) * highspy.kHighsInf, values).astype(np.float64)


def _run_interruptible(h: highspy.Highs, meanwhile: Callable[[], None] | None = None) -> None:
    """Run HiGHS in its own thread, `meanwhile()` on this one, and wait; Ctrl-C (or an error in
    `meanwhile`) cancels the solve and is re-raised once HiGHS has stopped.

    HiGHS's interrupt check is a Python callback on every simplex iteration; it is switched on only
    when a cancel is wanted: while on, it needs the GIL 40k times per medium solve, and with Python
    busy on this thread that made the solve 25 % slower (measured in benchmarks/README.md).
    """
    h.startSolve()
    try:
        if meanwhile is not None:
            meanwhile()
        while not h.wait(0.05)[0]:
            pass
    except BaseException:
        h.HandleUserInterrupt = True
        h.cancelSolve()
        while not h.wait(0.05)[0]:
            pass
        h.HandleUserInterrupt = False
        raise


def _status(h: highspy.Highs) -> str:
    text = str(h.getModelStatus()).split(".")[-1]
    return STATUS.get(text, "error")


def _pass_arrays(h: highspy.Highs, c, col_lo, col_hi, row_lo, row_hi, a_row, a_col, a_val,
                 n_rows: int, n_cols: int) -> None:
    _pass_csc(h, c, col_lo, col_hi, row_lo, row_hi, *csc(a_row, a_col, a_val, n_cols), n_rows, 0.0)


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


def _pass_csc(h: highspy.Highs, c, col_lo, col_hi, row_lo, row_hi, indptr: np.ndarray, indices: np.ndarray,
              data: np.ndarray, n_rows: int, offset: float) -> None:
    n_cols = len(indptr) - 1
    status = h.passModel(
        int(n_cols), int(n_rows), int(len(data)), 1, 1, float(offset),
        np.ascontiguousarray(c, dtype=np.float64),
        np.ascontiguousarray(col_lo, dtype=np.float64),
        np.ascontiguousarray(col_hi, dtype=np.float64),
        np.ascontiguousarray(row_lo, dtype=np.float64),
        np.ascontiguousarray(row_hi, dtype=np.float64),
        indptr[:-1].astype(np.int32), indices.astype(np.int32), data.astype(np.float64),
        np.zeros(n_cols, dtype=np.int32),  # all continuous
    )
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model")


def _pass_pyomo(h: highspy.Highs, model, columns: list, lp: LinearProgram) -> tuple[np.ndarray, np.ndarray]:
    """Compile with Pyomo's standard-form compiler and pass to HiGHS; return (col map, row map)."""
    from pyomo.common.gc_manager import PauseGC
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    with PauseGC():
        sf = LinearStandardFormCompiler().write(model, mixed_form=True, column_order=columns)
    col_index = {id(v): j for j, v in enumerate(columns)}
    col_map = np.fromiter((col_index[id(v)] for v in sf.columns), dtype=np.int64, count=len(sf.columns))
    row_index = {}
    for fam in lp.rows.values():
        comp = model.component(fam.name)
        for i in range(fam.size):
            row_index[id(comp[i])] = fam.first + i
    row_map = np.fromiter((row_index[id(con)] for con, _ in sf.rows), dtype=np.int64, count=len(sf.rows))
    mult = np.fromiter((m for _, m in sf.rows), dtype=np.int64, count=len(sf.rows))
    rhs = np.asarray(sf.rhs, dtype=float)
    row_lo = np.where(mult >= 0, -np.inf, rhs)
    row_hi = np.where(mult <= 0, np.inf, rhs)
    row_lo = np.where(mult == 0, rhs, row_lo)
    row_hi = np.where(mult == 0, rhs, row_hi)
    col_lo = np.array([-np.inf if v.lb is None else v.lb for v in sf.columns], dtype=float)
    col_hi = np.array([np.inf if v.ub is None else v.ub for v in sf.columns], dtype=float)
    c = np.asarray(sf.c.toarray()[0] if sf.c.shape[0] else np.zeros(len(sf.columns)), dtype=float)
    offset = float(sf.c_offset[0]) if len(sf.c_offset) else 0.0
    a = sf.A.tocsc()
    _pass_csc(h, c, col_lo, col_hi, row_lo, row_hi, a.indptr, a.indices, a.data, a.shape[0], offset)
    return col_map, row_map


@contextlib.contextmanager
def _stdout_to_stderr(active: bool):
    """Send HiGHS's C-level log (written to stdout) to stderr while solving, so stdout stays clean."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
