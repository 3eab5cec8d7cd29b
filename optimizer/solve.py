"""The solver boundary: the only module that names HiGHS (highspy).

A `SolverSession` holds one LP (or MILP) in HiGHS, in the formulation's column and row order, and
offers what the rest of the tool needs: solve (cold, or warm from the last basis), fix and free
columns, change costs, bounds and coefficients, duals, cost ranging, an irreducible infeasible
subset, a primal ray, and MIP options. `SolveStatus` is the one table from HiGHS's model status to
ours. Nothing outside this module sees a `Highs` object.

Canonical optimum. An LP often has several optimal plans (and several sets of shadow prices), and
which one the simplex method ends at depends on where it starts: a warm re-solve, a sweep variant
solved after another and a cold run would otherwise disagree. The session therefore solves the
exact LP (cold or warm), then from that optimum a slightly perturbed copy whose optimal basis is
unique (every cost raised and every finite bound widened by a deterministic pseudo-random amount of
relative size `PERTURBATION`; a few pivots), then restores the exact data and finishes from that
basis with a cleared solver state. Whatever the start, the finish is the same, so the plan and its
duals are the same bytes; the objective and every value are those of the exact LP. Solving the
perturbed copy from a cold start instead took 1.36x as many pivots on the medium benchmark
(benchmarks/canonical.py, benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np

from optimizer.model.lp import StandardForm, csc

#: Relative size of the perturbation that makes the optimal basis unique (see the module docstring).
#: 1e-7 was too small (HiGHS's tolerances swallowed it: warm and cold ended at different bases on
#: scenarios/china-embargo.yaml); 1e-6 gave identical bases and duals.
PERTURBATION = 1e-6

_INF = highspy.kHighsInf


class SolveStatus(enum.StrEnum):
    """What a solve ended with, in our words (written as text in summary.json)."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def is_optimal(self) -> bool:
        return self is SolveStatus.OPTIMAL

    @property
    def is_limit(self) -> bool:
        """Stopped by a limit: a feasible plan may exist but is not proven optimal."""
        return self in (SolveStatus.TIME_LIMIT, SolveStatus.ITERATION_LIMIT)

    @property
    def is_infeasible(self) -> bool:
        """No plan exists (infeasible) or the cost can fall without end (unbounded)."""
        return self in (SolveStatus.INFEASIBLE, SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED)

    @property
    def outcome(self) -> str:
        """What a run that ended so reports: an outcome of errors.EXIT_CODES, the exit-code table."""
        if self.is_optimal:
            return "optimal"
        if self.is_limit:
            return "time_limit"
        if self.is_infeasible:
            return "infeasible"
        return "interrupted" if self is SolveStatus.INTERRUPTED else "error"


#: HiGHS model status -> ours (one table, as linopy's CONDITION_MAP).
_MODEL_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kModelEmpty: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
    highspy.HighsModelStatus.kTimeLimit: SolveStatus.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: SolveStatus.ITERATION_LIMIT,
    highspy.HighsModelStatus.kInterrupt: SolveStatus.INTERRUPTED,
    highspy.HighsModelStatus.kHighsInterrupt: SolveStatus.INTERRUPTED,
}


@dataclass(frozen=True)
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
    mip_gap: float = 1e-4
    """Relative MIP gap at which HiGHS stops (SPEC 4.5; HiGHS's own default)."""
    relax: bool = False
    """Solve a MILP's linear relaxation: every integer column continuous (SPEC 4.5 `--relax`)."""


@dataclass(frozen=True)
class SolveResult:
    """What came back, in the formulation's column and row order (no solver objects)."""

    status: SolveStatus
    objective: float | None
    x: np.ndarray | None
    """Primal values, or None when HiGHS holds no feasible point."""
    row_dual: np.ndarray | None = None
    col_dual: np.ndarray | None = None
    """Reduced costs."""
    mip_gap: float | None = None
    """(objective - mip_bound) / max(1, |objective|) of a MILP (None for an LP or a relaxation)."""
    mip_bound: float | None = None
    """Best bound of a MILP: no plan costs less (None for an LP or a relaxation)."""
    integer_columns: int = 0
    """Integer columns of the problem as given (also when relaxed)."""
    relaxed: bool = False
    """The integer columns were solved as continuous (`SolverOptions.relax`)."""
    info: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.x is not None


@dataclass(frozen=True)
class FixedIntegerLP:
    """The LP of a MILP with every integer column fixed at a plan's value (`SolverSession.fixed_integer_lp`)."""

    session: SolverSession
    problem: StandardForm
    result: SolveResult


@dataclass(frozen=True)
class RangeEnd:
    """One end of a parametric range (see `SolverSession.parametric_range`)."""

    t: float
    """Where the basis stops being optimal or feasible (+-inf: never)."""
    reason: str
    """"cost": a reduced cost (or a row dual) reaches zero; "bound": a basic column or row activity
    reaches its bound; "" at an infinite end."""
    at: int
    """The column, or n_cols + row, that reaches its limit (-1 at an infinite end)."""
    strict: bool
    """Beyond `t` the basis's solution provably changes. "cost": the entering pivot moves the primal
    solution (it is not degenerate), so the current solution stops being optimal; "bound": the
    leaving pivot moves the duals (or no pivot exists: the LP becomes infeasible), so the duals
    stop being valid."""


@dataclass(frozen=True)
class ParametricRange:
    """How the last optimal basis fares along a change of the data by t times a direction."""

    lo: RangeEnd
    hi: RangeEnd
    exact: bool
    """The solution and duals of the basis are linear in t (always so for cost and bound
    directions; for a matrix direction only when the changed entries of basic columns do not feed
    back, which the method checks). Otherwise lo and hi hold to first order only."""
    x_change: np.ndarray
    """d x / d t of every column within the range."""


@dataclass(frozen=True)
class CostRanging:
    """For every column, the cost interval [down, up] over which the current basis stays optimal
    (HiGHS's ranging; +-inf where unbounded), in the LP's own (weighted, discounted) cost units."""

    down: np.ndarray
    up: np.ndarray


class BasisStatus(enum.IntEnum):
    """Where a column or row (its activity) sits in a simplex basis."""

    AT_LOWER = 0
    BASIC = 1
    AT_UPPER = 2
    AT_ZERO = 3
    """Nonbasic and free: at zero."""


@dataclass(frozen=True)
class Basis:
    """A simplex basis in the formulation's column and row order (`BasisStatus` codes)."""

    cols: np.ndarray
    rows: np.ndarray


_TO_HIGHS_BASIS = {
    BasisStatus.AT_LOWER: highspy.HighsBasisStatus.kLower,
    BasisStatus.BASIC: highspy.HighsBasisStatus.kBasic,
    BasisStatus.AT_UPPER: highspy.HighsBasisStatus.kUpper,
    BasisStatus.AT_ZERO: highspy.HighsBasisStatus.kZero,
}
#: HiGHS's codes -> ours, indexed by HiGHS's (kNonbasic, nonbasic with no side given, reads as at its lower bound).
_FROM_HIGHS_BASIS = np.zeros(max(int(v.value) for v in highspy.HighsBasisStatus.__members__.values()) + 1,
                             dtype=np.int8)
for _ours, _theirs in _TO_HIGHS_BASIS.items():
    _FROM_HIGHS_BASIS[int(_theirs.value)] = int(_ours)


@functools.cache
def highs_version() -> str:
    """HiGHS's version (made once: a Highs object costs ~10 ms, and every solve reports it)."""
    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """a . b summed by NumPy, not BLAS: OpenBLAS spreads a long dot product over its threads, which
    on a busy 2-core machine took 15 ms instead of 30 us at 11k entries (every re-solve pays it)."""
    return float(np.sum(a * b))


def _to_highs(values: np.ndarray) -> np.ndarray:
    """NumPy infinities -> HiGHS's, as float64."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isposinf(values), _INF, np.where(np.isneginf(values), -_INF, values))


def _weights(n: int, salt: int) -> np.ndarray:
    """Deterministic pseudo-random weights in [0.5, 1) (the same n gives the same weights)."""
    return 0.5 + 0.5 * np.random.default_rng(20261130 + salt).random(n)


class SolverSession:
    """One LP or MILP held in HiGHS between solves.

    Every index a method takes or returns is in the order of the `StandardForm` it was made from.
    The session keeps the exact data; HiGHS may hold the perturbed copy between solves (see the
    module docstring), which is why changes go through these methods and never to HiGHS directly.
    """

    def __init__(self, problem: StandardForm, options: SolverOptions | None = None, canonical: bool = True):
        self.options = options or SolverOptions()
        self.canonical = canonical
        self.n_cols, self.n_rows = problem.n_cols, problem.n_rows
        self._cost = np.array(problem.cost, dtype=float)
        self._col_lo = np.array(problem.col_lo, dtype=float)
        self._col_hi = np.array(problem.col_hi, dtype=float)
        self._row_lo = np.array(problem.row_lo, dtype=float)
        self._row_hi = np.array(problem.row_hi, dtype=float)
        self._free_lo = self._col_lo.copy()
        self._free_hi = self._col_hi.copy()
        given = (np.zeros(self.n_cols, dtype=bool) if problem.integer is None
                 else np.asarray(problem.integer, dtype=bool).copy())
        self.integer_columns = int(given.sum())
        """Integer columns of the problem as given (SPEC 4.5), also when `options.relax` solves them
        as continuous."""
        self.relaxed = bool(self.options.relax and self.integer_columns)
        self._integer = np.zeros_like(given) if self.options.relax else given
        self._cost_weight = _weights(self.n_cols, 1)
        self._col_weight = _weights(self.n_cols, 2)
        self._row_weight = _weights(self.n_rows, 3)
        self._perturbed = False  # what HiGHS holds now
        self._solved = False  # HiGHS has run a solve: it holds that solve's basis (an LP) or search (a MILP)
        self._optimal = False  # HiGHS holds an optimal basis of the exact LP, unchanged since
        self._basis: _BasisState | None = None
        self._entry_cols: tuple[StandardForm, np.ndarray] | None = None
        self._fixed: FixedIntegerLP | None = None  # of the last MILP solve
        self._incumbent: np.ndarray | None = None  # the plan of the last MILP solve
        self.timings: dict[str, float] = {}
        clock = time.perf_counter()
        self._matrix = problem
        self._h = self._new_highs()
        self.timings["handoff"] = time.perf_counter() - clock

    def _new_highs(self) -> highspy.Highs:
        """A Highs object holding the session's exact data, options set, nothing solved."""
        h = highspy.Highs()
        h.setOptionValue("output_flag", bool(self.options.verbose))
        h.setOptionValue("solver", self.options.solver)
        h.setOptionValue("presolve", self.options.presolve)
        h.setOptionValue("mip_rel_gap", float(self.options.mip_gap))
        if self.options.time_limit is not None:
            h.setOptionValue("time_limit", float(self.options.time_limit))
        if self.options.threads is not None:
            h.setOptionValue("threads", int(self.options.threads))
        m = self._matrix
        status = h.passModel(
            int(self.n_cols), int(self.n_rows), int(len(m.values)), 1, 1, float(m.offset),
            _to_highs(self._cost), _to_highs(self._col_lo), _to_highs(self._col_hi),
            _to_highs(self._row_lo), _to_highs(self._row_hi),
            np.ascontiguousarray(m.indptr[:-1], dtype=np.int32),
            np.ascontiguousarray(m.indices, dtype=np.int32),
            np.ascontiguousarray(m.values, dtype=np.float64),
            self._integer.astype(np.int32),
        )
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the model")
        self._perturbed = False
        return h

    def _problem(self, col_lo: np.ndarray, col_hi: np.ndarray, integer: np.ndarray | None) -> StandardForm:
        """The session's exact problem with these column bounds and integer columns."""
        m = self._matrix
        return StandardForm(self._cost.copy(), col_lo, col_hi, self._row_lo.copy(), self._row_hi.copy(), m.indptr,
                            m.indices, m.values, integer, m.offset, m.extra_cols, m.extra_rows)

    def relaxation(self) -> SolverSession:
        """A session of its own holding this problem with every integer column continuous (the linear
        relaxation of a MILP); solved exactly (not canonically)."""
        options = dataclasses.replace(self.options, verbose=False, relax=False)
        return SolverSession(self._problem(self._col_lo.copy(), self._col_hi.copy(), None), options, canonical=False)

    # --- what the session holds -------------------------------------------------------------

    @property
    def is_mip(self) -> bool:
        return bool(self._integer.any())

    @property
    def cost(self) -> np.ndarray:
        """The exact objective coefficients (read-only view)."""
        view = self._cost.view()
        view.flags.writeable = False
        return view

    def _perturbed_data(self) -> tuple[np.ndarray, ...]:
        """Costs raised by PERTURBATION * scale * w (columns with a finite lower bound only: a free
        column's cost is left alone so no new unbounded direction appears); finite bounds widened by
        PERTURBATION * max(1, |bound|) * w. Fixed columns stay fixed."""
        nz = np.abs(self._cost[self._cost != 0])
        typical = float(np.median(nz)) if len(nz) else 1.0
        scale = np.maximum(np.abs(self._cost), typical)
        cost = self._cost + np.where(np.isfinite(self._col_lo), PERTURBATION * scale * self._cost_weight, 0.0)
        fixed = self._col_lo == self._col_hi
        col_lo = np.where(fixed, self._col_lo, self._widen(self._col_lo, -self._col_weight))
        col_hi = np.where(fixed, self._col_hi, self._widen(self._col_hi, self._col_weight[::-1]))
        row_lo = self._widen(self._row_lo, -self._row_weight)
        row_hi = self._widen(self._row_hi, self._row_weight[::-1])
        return cost, col_lo, col_hi, row_lo, row_hi

    @staticmethod
    def _widen(bound: np.ndarray, sign_weight: np.ndarray) -> np.ndarray:
        finite = np.isfinite(bound)
        step = PERTURBATION * np.maximum(1.0, np.abs(np.where(finite, bound, 0.0))) * sign_weight
        return np.where(finite, bound + step, bound)

    def _load(self, perturbed: bool) -> None:
        """Make HiGHS hold the exact or the perturbed data (costs and bounds; the matrix is shared)."""
        if perturbed == self._perturbed:
            return
        self._changed()
        data = self._perturbed_data() if perturbed else (self._cost, self._col_lo, self._col_hi,
                                                           self._row_lo, self._row_hi)
        cost, col_lo, col_hi, row_lo, row_hi = data
        cols = np.arange(self.n_cols, dtype=np.int32)
        rows = np.arange(self.n_rows, dtype=np.int32)
        h = self._h
        if self.n_cols:
            h.changeColsCost(self.n_cols, cols, _to_highs(cost))
            h.changeColsBounds(self.n_cols, cols, _to_highs(col_lo), _to_highs(col_hi))
        if self.n_rows:
            h.changeRowsBounds(self.n_rows, rows, _to_highs(row_lo), _to_highs(row_hi))
        self._perturbed = perturbed

    # --- changes ----------------------------------------------------------------------------

    def _changed(self) -> None:
        """The data HiGHS holds changed: the last basis is no longer known to be optimal."""
        self._optimal = False
        self._basis = None

    def set_costs(self, cols: np.ndarray, values: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        self._cost[cols] = values
        self._push_cols(cols)

    def set_column_bounds(self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Change bounds for good (also what `free_columns` returns to)."""
        cols = np.asarray(cols, dtype=np.int64)
        self._col_lo[cols], self._col_hi[cols] = lo, hi
        self._free_lo[cols], self._free_hi[cols] = lo, hi
        self._push_cols(cols)

    def fix_columns(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Fix columns at values (e.g. decisions already executed); `free_columns` undoes it."""
        cols = np.asarray(cols, dtype=np.int64)
        self._col_lo[cols] = values
        self._col_hi[cols] = values
        self._push_cols(cols)

    def free_columns(self, cols: np.ndarray) -> None:
        """Give fixed columns their own bounds back."""
        cols = np.asarray(cols, dtype=np.int64)
        self._col_lo[cols] = self._free_lo[cols]
        self._col_hi[cols] = self._free_hi[cols]
        self._push_cols(cols)

    def set_row_bounds(self, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self._row_lo[rows], self._row_hi[rows] = lo, hi
        if not len(rows):
            return
        self._changed()
        if self._perturbed:
            _, _, _, row_lo, row_hi = self._perturbed_data()
            lo, hi = row_lo[rows], row_hi[rows]
        else:
            lo, hi = self._row_lo[rows], self._row_hi[rows]
        self._h.changeRowsBounds(len(rows), rows.astype(np.int32), _to_highs(lo), _to_highs(hi))

    def set_coefficients(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        """Change matrix entries (a new position adds one); the session's copy follows."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        if not len(rows):
            return
        self._changed()
        for r, c, v in zip(rows.tolist(), cols.tolist(), values.tolist()):
            self._h.changeCoeff(int(r), int(c), float(v))
        m = self._matrix
        found = np.zeros(len(rows), dtype=bool)
        position = np.zeros(len(rows), dtype=np.int64)
        for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
            start, stop = int(m.indptr[c]), int(m.indptr[c + 1])
            j = start + int(np.searchsorted(m.indices[start:stop], r))
            if j < stop and m.indices[j] == r:
                found[i], position[i] = True, j
        if found.all():
            new_values = m.values.copy()
            new_values[position] = values
            self._matrix = dataclasses.replace(m, values=new_values)
        else:  # a new position: rebuild the compressed columns with it
            r0, c0, v0 = m.entries()
            keep = np.ones(len(v0), dtype=bool)
            keep[position[found]] = False
            indptr, indices, vals = csc(np.concatenate([r0[keep], rows]), np.concatenate([c0[keep], cols]),
                                        np.concatenate([v0[keep], values]), self.n_cols)
            self._matrix = dataclasses.replace(m, indptr=indptr, indices=indices, values=vals)

    def set_integrality(self, cols: np.ndarray, integer: bool) -> None:
        """Make columns integer (True) or continuous (False): relax or restore a MILP."""
        cols = np.asarray(cols, dtype=np.int64)
        self._integer[cols] = integer
        self._changed()
        if len(cols):
            kind = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
            self._h.changeColsIntegrality(len(cols), cols.astype(np.int32),
                                          np.array([kind] * len(cols)))

    def _push_cols(self, cols: np.ndarray) -> None:
        if not len(cols):
            return
        self._changed()
        if self._perturbed:
            cost, col_lo, col_hi, _, _ = self._perturbed_data()
        else:
            cost, col_lo, col_hi = self._cost, self._col_lo, self._col_hi
        c32 = cols.astype(np.int32)
        self._h.changeColsCost(len(cols), c32, _to_highs(cost[cols]))
        self._h.changeColsBounds(len(cols), c32, _to_highs(col_lo[cols]), _to_highs(col_hi[cols]))

    def update(self, new: StandardForm) -> int:
        """Push every difference between the session's problem and `new` (same columns and rows:
        a changed scenario of the same structure); returns how many numbers changed. The basis is
        kept, so the next solve starts from it."""
        if (new.n_cols, new.n_rows) != (self.n_cols, self.n_rows):
            raise ValueError("update needs a problem of the same size")
        changes = 0
        cols = np.flatnonzero((self._cost != new.cost) | (self._free_lo != new.col_lo) | (self._free_hi != new.col_hi))
        if len(cols):
            self._cost[cols] = new.cost[cols]
            self.set_column_bounds(cols, new.col_lo[cols], new.col_hi[cols])
            changes += len(cols)
        rows = np.flatnonzero((self._row_lo != new.row_lo) | (self._row_hi != new.row_hi))
        if len(rows):
            self.set_row_bounds(rows, new.row_lo[rows], new.row_hi[rows])
            changes += len(rows)
        rows, cols, values = self._matrix_changes(new)
        self.set_coefficients(rows, cols, values)
        self._matrix = new
        return changes + len(rows)

    def _matrix_changes(self, new: StandardForm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries that differ between the held matrix and `new`. With the same sparsity (a price or
        amount change) the values are compared in place; otherwise every entry is keyed
        col * n_rows + row (an entry missing on one side is 0 there)."""
        old = self._matrix
        if np.array_equal(old.indptr, new.indptr) and np.array_equal(old.indices, new.indices):
            moved = np.flatnonzero(old.values != new.values)
            cols = np.searchsorted(new.indptr, moved, side="right") - 1
            return new.indices[moved], cols, new.values[moved]
        keys, values = [], []
        for prob in (self._matrix, new):
            rows, cols, vals = prob.entries()
            keys.append(cols * max(self.n_rows, 1) + rows)
            values.append(vals)
        every = np.union1d(keys[0], keys[1])
        before, after = np.zeros(len(every)), np.zeros(len(every))
        before[np.searchsorted(every, keys[0])] = values[0]
        after[np.searchsorted(every, keys[1])] = values[1]
        moved = np.flatnonzero(before != after)
        cols, rows = np.divmod(every[moved], max(self.n_rows, 1))
        return rows, cols, after[moved]

    def basis(self) -> Basis | None:
        """The basis HiGHS holds (after a solve: the optimal one of the exact LP), or None."""
        self._load(perturbed=False)
        held = self._h.getBasis()
        if not held.valid:
            return None
        ours = lambda status: _FROM_HIGHS_BASIS[np.array([v.value for v in status], dtype=np.int64)]  # noqa: E731
        return Basis(ours(held.col_status), ours(held.row_status))

    def start_from(self, basis: Basis) -> None:
        """Start the next solve from `basis`, e.g. one carried over from a similar LP: it need not have
        as many basic entries as rows (HiGHS completes or trims it into a basis it can factor)."""
        held = highspy.HighsBasis()
        theirs = list(_TO_HIGHS_BASIS.values())  # indexed by BasisStatus
        held.col_status = [theirs[v] for v in basis.cols.tolist()]
        held.row_status = [theirs[v] for v in basis.rows.tolist()]
        held.valid, held.alien = True, True
        if self._h.setBasis(held) == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the start basis")

    # --- solving ----------------------------------------------------------------------------

    def solve(self, meanwhile: Callable[[], None] | None = None, canonical: bool | None = None,
              seed: bool = False) -> SolveResult:
        """Solve, warm from the last basis if there is one, and return values in LP order.

        `canonical` (default: the session's setting) finishes at the canonical optimum (module
        docstring); without it the exact LP is solved directly (analytics that need only objective
        values use that). `meanwhile` runs on this thread while HiGHS solves on its own (see
        `_run_interruptible`). A MILP: see `_run_mip` (`seed` starts it from the last solve's plan).
        """
        canonical = self.canonical if canonical is None else canonical
        clock = time.perf_counter()
        self._changed()
        with _stdout_to_stderr(self.options.verbose):
            if self.is_mip:
                status, iterations = self._run_mip(meanwhile, seed)
            else:
                status, iterations = self._run_lp(meanwhile, canonical)
                if status is SolveStatus.ERROR and self._solved:
                    # HiGHS can end a warm start in an unknown state (seen on a tiny, badly scaled LP
                    # after many changes, tests/test_analytics.py): start again from scratch, once.
                    self._h.clearSolver()
                    status, more = self._run_lp(None, canonical)
                    iterations += more
        self._solved = True
        if status is SolveStatus.INTERRUPTED:
            raise KeyboardInterrupt
        self._optimal = status is SolveStatus.OPTIMAL and not self.is_mip and not self._perturbed
        seconds = time.perf_counter() - clock
        h = self._h
        info = h.getInfo()
        x = row_dual = col_dual = None
        objective = mip_gap = mip_bound = None
        if info.primal_solution_status == 2:  # kSolutionStatusFeasible
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=float)
            if self._perturbed:  # a limit hit inside the perturbed solve: report within exact bounds
                x = np.clip(x, self._col_lo, self._col_hi)
            if self.is_mip:
                x, row_dual, col_dual = self._fixed_integer_lp(x, canonical)
                self._incumbent = x
            elif sol.dual_valid:
                row_dual = np.asarray(sol.row_dual, dtype=float)
                col_dual = np.asarray(sol.col_dual, dtype=float)
            else:
                row_dual, col_dual = np.zeros(self.n_rows), np.zeros(self.n_cols)
            objective = dot(self._cost, x) + self._matrix.offset
            bound = float(info.mip_dual_bound) if self.is_mip else np.nan
            if np.isfinite(bound):  # no plan costs less; the fixed-integer LP's plan may beat HiGHS's own
                mip_bound = min(bound, objective)
                mip_gap = (objective - mip_bound) / max(1.0, abs(objective))
        return SolveResult(
            status=status,
            objective=objective,
            x=x,
            row_dual=row_dual,
            col_dual=col_dual,
            mip_gap=mip_gap,
            mip_bound=mip_bound,
            integer_columns=self.integer_columns,
            relaxed=self.relaxed,
            info={
                "highs_version": highs_version(),
                "model_status": h.modelStatusToString(h.getModelStatus()),
                "simplex_iterations": iterations,
                "mip_nodes": int(info.mip_node_count) if self.is_mip else 0,
                "highs_run_time": float(h.getRunTime()),
                "max_primal_infeasibility": float(info.max_primal_infeasibility),
                "max_dual_infeasibility": float(info.max_dual_infeasibility),
                "solver": self.options.solver,
                "presolve": self.options.presolve,
                "threads": self.options.threads,
                "canonical": bool(canonical),
                "columns": int(h.getNumCol()),
                "rows": int(h.getNumRow()),
                "nonzeros": int(h.getNumNz()),
            },
            timings={**self.timings, "solve": seconds},
        )

    def _run_lp(self, meanwhile: Callable[[], None] | None, canonical: bool) -> tuple[SolveStatus, int]:
        """Run the simplex method on the exact data; when `canonical` (module docstring), then the
        perturbed copy from that optimum and the exact data again from the perturbed optimum's basis;
        (status, simplex iterations)."""
        h = self._h
        iterations = 0
        if canonical:
            # The exact LP first (fastest from a cold start), then the perturbed LP from its optimal
            # basis (a few pivots), then the exact LP from the perturbed optimum's unique basis.
            self._load(perturbed=False)
            _run_interruptible(h, meanwhile)
            status = self._status()
            iterations += int(h.getInfo().simplex_iteration_count)
            if status is SolveStatus.OPTIMAL:
                self._load(perturbed=True)
                _run_interruptible(h)
                status = self._status()
                iterations += int(h.getInfo().simplex_iteration_count)
            if status is SolveStatus.OPTIMAL:
                basis = h.getBasis()
                h.clearSolver()
                self._load(perturbed=False)
                h.setBasis(basis)
                _run_interruptible(h)
                status = self._status()
                iterations += int(h.getInfo().simplex_iteration_count)
            elif status.is_infeasible:
                self._load(perturbed=False)  # explanations (IIS, ray) read the exact LP
        else:
            self._load(perturbed=False)
            _run_interruptible(h, meanwhile)
            status = self._status()
            iterations += int(h.getInfo().simplex_iteration_count)
        if status is SolveStatus.INFEASIBLE_OR_UNBOUNDED and self.options.presolve != "off":
            h.setOptionValue("presolve", "off")
            _run_interruptible(h)
            h.setOptionValue("presolve", self.options.presolve)
            status = self._status()
        return status, iterations

    def _run_mip(self, meanwhile: Callable[[], None] | None, seed: bool) -> tuple[SolveStatus, int]:
        """Branch and bound to the session's gap, on the exact data; (status, simplex iterations).

        Every solve but the first hands HiGHS the data afresh: a model changed in place can send the
        search down another path than the same model passed anew, and the plan must not depend on
        what was solved before (same input, same bytes). `seed` offers the last solve's plan as a
        first incumbent (measured in benchmarks/README.md). HiGHS's "infeasible or unbounded" is
        settled with the relaxation: a MILP whose relaxation is bounded is not unbounded.
        """
        if self._solved:
            self._h = self._new_highs()
        h = self._h
        if seed and self._incumbent is not None:
            start = highspy.HighsSolution()
            start.col_value = self._incumbent.tolist()
            start.value_valid = True
            h.setSolution(start)
        _run_interruptible(h, meanwhile)
        status = self._status()
        iterations = int(h.getInfo().simplex_iteration_count)
        if status is SolveStatus.INFEASIBLE_OR_UNBOUNDED:
            relaxed = self.relaxation().solve().status
            status = SolveStatus.UNBOUNDED if relaxed is SolveStatus.UNBOUNDED else SolveStatus.INFEASIBLE
        return status, iterations

    def _fixed_integer_lp(self, x: np.ndarray, canonical: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The LP with every integer column fixed at its (rounded) MILP value, solved canonically (if
        `canonical`): its plan (the MILP's integers, the continuous part at the canonical optimum
        given them, which costs no more than HiGHS's) and its duals, from which shadow prices and
        marginal values are read (SPEC 4.5). Kept for `cost_ranging`. If it cannot be solved (a time
        limit), HiGHS's plan with zero duals."""
        ints = np.flatnonzero(self._integer)
        lo, hi = self._col_lo.copy(), self._col_hi.copy()
        lo[ints] = hi[ints] = np.round(x[ints])
        options = dataclasses.replace(self.options, verbose=False, relax=False)
        problem = self._problem(lo, hi, None)
        session = SolverSession(problem, options, canonical=canonical)
        result = session.solve()
        self._fixed = FixedIntegerLP(session, problem, result)
        if not result.status.is_optimal or result.x is None or result.row_dual is None:
            return x, np.zeros(self.n_rows), np.zeros(self.n_cols)
        return result.x, result.row_dual, result.col_dual

    def fixed_integer_lp(self) -> FixedIntegerLP | None:
        """After an optimal MILP solve, the LP with every integer column fixed at the plan's value,
        solved to its optimum (its session still holds that basis): what the shadow prices, marginal
        values and ranges of a MILP are of (SPEC 4.5, 7.4). None otherwise."""
        fixed = self._fixed
        return fixed if self.is_mip and fixed is not None and fixed.result.status is SolveStatus.OPTIMAL else None

    def _status(self) -> SolveStatus:
        return _MODEL_STATUS.get(self._h.getModelStatus(), SolveStatus.ERROR)

    # --- what a solve can tell beyond the values ----------------------------------------------

    def cost_ranging(self) -> CostRanging | None:
        """Cost ranging of the last optimal LP solve (None if HiGHS cannot give it); for a MILP, of
        the LP with every integer column fixed at its value (SPEC 4.5, 7.4)."""
        if self.is_mip:
            return self._fixed.session.cost_ranging() if self._fixed is not None else None
        self._load(perturbed=False)
        status, ranging = self._h.getRanging()
        if status != highspy.HighsStatus.kOk or not ranging.valid:
            return None
        n = self.n_cols
        down = np.asarray(ranging.col_cost_dn.value_, dtype=float)[:n]
        up = np.asarray(ranging.col_cost_up.value_, dtype=float)[:n]
        return CostRanging(np.where(down <= -_INF, -np.inf, down), np.where(up >= _INF, np.inf, up))

    @contextlib.contextmanager
    def optimal_face(self, result: SolveResult, tolerance: float = 1e-9):
        """Within the block, only plans as good as `result` (an optimal solve of the current data)
        are feasible, so that a second objective picks among the optima: every optimal solution
        keeps a column with a nonzero reduced cost at its bound and a row with a nonzero dual at
        its bound (complementary slackness with result's duals), so those are held there.
        Reduced costs and duals below `tolerance` (relative) count as zero."""
        cols = np.flatnonzero(np.abs(result.col_dual) > tolerance * np.maximum(1.0, np.abs(self._cost)))
        duals = np.abs(result.row_dual)
        rows = np.flatnonzero(duals > tolerance * max(1.0, float(duals.max(initial=0.0))))
        lo, hi = self._row_lo[rows].copy(), self._row_hi[rows].copy()
        activity = self._times(result.x)[rows]
        at = np.where(np.abs(activity - lo) <= np.abs(activity - hi), lo, hi)
        self.fix_columns(cols, result.x[cols])
        self.set_row_bounds(rows, at, at)
        try:
            yield
        finally:
            self.free_columns(cols)
            self.set_row_bounds(rows, lo, hi)

    # --- parametric ranging on the last optimal basis ---------------------------------------

    def parametric_range(self, cost: np.ndarray | None = None,
                         matrix: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                         col_bounds: tuple[np.ndarray, np.ndarray] | None = None,
                         row_bounds: tuple[np.ndarray, np.ndarray] | None = None,
                         strictness: tuple[bool, bool] = (True, True)) -> ParametricRange:
        """The interval of t over which the basis of the last optimal solve stays optimal and
        feasible when the data moves along a direction: costs c + t * cost, matrix A + t * matrix
        (triplets row, column, value), column bounds + t * col_bounds (lo, hi) and row bounds
        + t * row_bounds (lo, hi); and, at each end, whether the solution really changes beyond it.

        HiGHS's ranging (`cost_ranging`) moves one coefficient at a time; this moves many together.
        In the basis's own terms, with y the row duals, d the reduced costs, B the basis matrix:
        a matrix change acts on the duals as the cost change g = cost - matrix^T y, so
        dy/dt = B^-T g_B and dd/dt = g - A^T dy/dt (a transposed solve); the basic values move by
        dx_B/dt = -B^-1 (matrix x + the bound moves of nonbasic columns and rows) (a plain solve).
        The range ends where a reduced cost of the right sign reaches 0 ("cost") or a basic value
        reaches a bound ("bound"). For a matrix change this is first order; it is exact when
        the changed entries of basic columns meet neither dy/dt nor dx_B/dt (`exact` says so).
        At a "cost" end, one more solve with the entering column tells a degenerate pivot (the
        solution stays, only the basis changes) from one that moves the solution; at a "bound"
        end, one row of B^-1 tells whether the leaving pivot moves the duals (`strictness` says at
        which of the two ends to ask; elsewhere a finite end reads as not strict).
        """
        state = self._basis_state()
        n, m = self.n_cols, self.n_rows
        zeros = np.zeros(n + m)
        g = np.zeros(n) if cost is None else np.array(cost, dtype=float)
        if matrix is not None:
            rows, cols, vals = (np.asarray(a) for a in matrix)
            np.subtract.at(g, cols, vals * state.y[rows])
        # dual side: dd/dt of every column and row (a row's "reduced cost" is -y in [A I] form)
        g_basic = np.where(state.basic >= 0, g[np.maximum(state.basic, 0)], 0.0)
        if g_basic.any():
            dy = _solved(self._h.getBasisTransposeSolve(g_basic))
            dd = np.concatenate([g - self._times_transpose(dy), -dy])
        else:  # only nonbasic costs move: the duals stay
            dy, dd = np.zeros(m), np.concatenate([g, np.zeros(m)])
        # primal side: dv/dt of every column and row logical (v = x for columns, -activity for rows)
        dlb, dub = zeros.copy(), zeros.copy()
        if col_bounds is not None:
            dlb[:n], dub[:n] = col_bounds
        if row_bounds is not None:
            dlb[n:], dub[n:] = -np.asarray(row_bounds[1]), -np.asarray(row_bounds[0])
        dv = np.where(state.at_upper, dub, dlb) * ~state.is_basic
        rhs = -(self._times(dv[:n]) + dv[n:]) if dv.any() else np.zeros(m)
        if matrix is not None:
            rhs -= np.bincount(rows, weights=vals * state.v[cols], minlength=m)
        if rhs.any():
            dv[state.var_of] = _solved(self._h.getBasisSolve(rhs))
        exact = True
        if matrix is not None:
            basic_col = state.is_basic[cols]
            feed_dual = np.bincount(cols[basic_col], weights=vals[basic_col] * dy[rows[basic_col]], minlength=n)
            feed_primal = np.bincount(rows[basic_col], weights=vals[basic_col] * dv[cols[basic_col]], minlength=m)
            exact = (np.abs(feed_dual).max(initial=0.0) <= 1e-9 * max(np.abs(g).max(initial=0.0), 1e-300)
                     and np.abs(feed_primal).max(initial=0.0) <= 1e-9 * max(np.abs(rhs).max(initial=0.0), 1e-300))
        tests = [self._dual_tests(state, dd), self._primal_tests(state, dv, dlb, dub)]
        ends = []
        for side, ask in zip((-1.0, 1.0), strictness):
            found = [_nearest_limit(a, b, side) for a, b, _ in tests]
            t = min((abs(f[0]) for f in found), default=np.inf) * side
            if not np.isfinite(t):
                ends.append(RangeEnd(t, "", -1, True))
                continue
            tie = [np.isclose(abs(f[0]), abs(t), rtol=1e-9, atol=1e-12) for f in found]
            kind = 0 if tie[0] else 1
            who = tests[kind][2][found[kind][1]]
            if not ask or (tie[0] and tie[1]):  # both kinds at once: beyond is not decided here
                strict = False
            elif kind == 0:
                strict = any(self._pivot_moves_solution(state, int(q), t, side, dd, dv, dlb, dub) for q in who[:4])
            else:  # a nonbasic variable whose bounds cross: infeasible beyond
                strict = all(not state.is_basic[p] or self._pivot_moves_duals(state, int(p), t, dd, dv, dlb, dub)
                             for p in who[:4])
            ends.append(RangeEnd(t, ("cost", "bound")[kind], int(who[0]), strict))
        return ParametricRange(ends[0], ends[1], bool(exact), dv[:n])

    def _basis_state(self) -> _BasisState:
        """The last optimal solve's basis, values and duals in [A I] form (cached until a change)."""
        if self._basis is None:
            if not self._optimal:
                raise RuntimeError("parametric ranging needs the basis of an optimal LP solve with nothing "
                                   "changed since")
            self._basis = _BasisState.of(self._h, self._col_lo, self._col_hi, self._row_lo, self._row_hi)
        return self._basis

    def _times(self, x: np.ndarray) -> np.ndarray:
        """A x with the session's matrix."""
        m = self._matrix
        if self._entry_cols is None or self._entry_cols[0] is not m:  # made once per matrix
            self._entry_cols = (m, m.entries()[1])
        return np.bincount(m.indices, weights=m.values * x[self._entry_cols[1]], minlength=self.n_rows)

    def _times_transpose(self, y: np.ndarray) -> np.ndarray:
        """A^T y with the session's matrix."""
        m = self._matrix
        products = np.concatenate([m.values * y[m.indices], [0.0]])
        out = np.add.reduceat(products, np.minimum(m.indptr[:-1], len(m.values)))
        return np.where(np.diff(m.indptr) > 0, out, 0.0)

    def _column(self, q: int) -> np.ndarray:
        """Column q of [A I], dense."""
        out = np.zeros(self.n_rows)
        if q >= self.n_cols:
            out[q - self.n_cols] = 1.0
        else:
            m = self._matrix
            out[m.indices[m.indptr[q]:m.indptr[q + 1]]] = m.values[m.indptr[q]:m.indptr[q + 1]]
        return out

    @staticmethod
    def _dual_tests(state: _BasisState, dd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Conditions a + t b >= 0 keeping the nonbasic reduced costs of the right sign; a free
        nonbasic variable must keep d = 0 (two conditions). Only moving ones can limit t."""
        moving = dd != 0
        free = np.flatnonzero(state.nonbasic_free & moving)
        idx = [np.flatnonzero(state.at_lower_bound & moving), np.flatnonzero(state.at_upper_bound & moving), free, free]
        a = [np.maximum(state.d[idx[0]], 0.0), np.maximum(-state.d[idx[1]], 0.0), np.zeros(len(idx[2])),
             np.zeros(len(idx[3]))]
        b = [dd[idx[0]], -dd[idx[1]], dd[idx[2]], -dd[idx[3]]]
        return _conditions(a, b, idx)

    @staticmethod
    def _primal_tests(state: _BasisState, dv: np.ndarray, dlb: np.ndarray, dub: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Conditions a + t b >= 0 keeping the basic values within their (moving) bounds, and the
        moving bounds of a nonbasic variable from crossing. Only moving ones can limit t."""
        basic = state.var_of[(dv[state.var_of] != 0) | (dlb[state.var_of] != 0) | (dub[state.var_of] != 0)]
        has_lo, has_hi = np.isfinite(state.lb[basic]), np.isfinite(state.ub[basic])
        lo, hi = basic[has_lo], basic[has_hi]
        moving = np.flatnonzero(~state.is_basic & (dub != dlb) & np.isfinite(state.lb) & np.isfinite(state.ub))
        a = [np.maximum(state.v[lo] - state.lb[lo], 0.0), np.maximum(state.ub[hi] - state.v[hi], 0.0),
             np.maximum(state.ub[moving] - state.lb[moving], 0.0)]
        b = [dv[lo] - dlb[lo], dub[hi] - dv[hi], dub[moving] - dlb[moving]]
        return _conditions(a, b, [lo, hi, moving])

    def _pivot_moves_solution(self, state: _BasisState, q: int, t: float, side: float, dd: np.ndarray,
                              dv: np.ndarray, dlb: np.ndarray, dub: np.ndarray) -> bool:
        """Beyond t, does bringing nonbasic q into the basis move the solution (a step > 0)?"""
        if state.nonbasic_free[q]:
            sign = -np.sign(dd[q] * side)
        else:
            sign = -1.0 if state.at_upper[q] else 1.0
        rate = -sign * _solved(self._h.getBasisSolve(self._column(q)))  # d v_B / d step
        basic = state.var_of
        v, lb, ub = (state.v[basic] + t * dv[basic], state.lb[basic] + t * dlb[basic],
                     state.ub[basic] + t * dub[basic])
        eps = 1e-9 * max(np.abs(rate).max(initial=0.0), 1e-300)
        falls, rises = (rate < -eps) & np.isfinite(lb), (rate > eps) & np.isfinite(ub)
        slack = np.concatenate([(v - lb)[falls], (ub - v)[rises]])
        bound = np.concatenate([lb[falls], ub[rises]])
        if state.ub[q] - state.lb[q] <= 1e-9 * max(1.0, abs(state.lb[q])):
            return False
        return bool(np.all(slack > 1e-9 * np.maximum(1.0, np.abs(bound))))

    def _pivot_moves_duals(self, state: _BasisState, p: int, t: float, dd: np.ndarray, dv: np.ndarray,
                           dlb: np.ndarray, dub: np.ndarray) -> bool:
        """Beyond t, basic p leaves at a bound: does the pivot that keeps the basis optimal move the
        duals (every entering candidate has a nonzero reduced cost), or is there none at all?"""
        position = int(np.flatnonzero(state.var_of == p)[0])
        rho = _solved(self._h.getBasisInverseRow(position))
        alpha = np.concatenate([self._times_transpose(rho), rho])
        below = state.v[p] + t * dv[p] - (state.lb[p] + t * dlb[p]) <= state.ub[p] + t * dub[p] - (state.v[p] + t * dv[p])
        # v_p must rise back (it leaves below its lower bound) or fall back: d v_p = -alpha_q d v_q
        need = 1.0 if below else -1.0
        movable = ~state.is_basic & ~state.fixed
        eps = 1e-9 * max(np.abs(alpha).max(initial=0.0), 1e-300)
        up_ok = movable & (state.nonbasic_free | ~state.at_upper) & (-alpha * need > eps)
        down_ok = movable & (state.nonbasic_free | state.at_upper) & (alpha * need > eps)
        eligible = up_ok | down_ok
        if not eligible.any():
            return True
        d = np.abs(state.d + t * dd)[eligible]
        scale = np.concatenate([np.abs(self._cost), np.zeros(self.n_rows)])[eligible]
        return bool(np.all(d > 1e-9 * np.maximum(1.0, scale)))

    def irreducible_infeasible_subset(self, time_limit: float = 30.0) -> tuple[list[int], list[int]]:
        """(rows, columns) of an irreducible infeasible subset of the exact LP (from an elastic LP,
        made irreducible: PERF-FACTS), as LP indices; of a MILP, that of its relaxation (empty when
        the relaxation is feasible: then the integers make it infeasible)."""
        if self.is_mip:
            relaxed = self.relaxation()
            if not relaxed.solve().status.is_infeasible:
                return [], []
            return relaxed.irreducible_infeasible_subset(time_limit)
        self._load(perturbed=False)
        h = self._h
        h.setOptionValue("iis_strategy", 6)
        h.setOptionValue("iis_time_limit", float(time_limit))
        _, iis = h.getIis()
        return [int(r) for r in iis.row_index_], [int(c) for c in iis.col_index_]

    def primal_ray(self) -> np.ndarray | None:
        """A direction along which the cost falls without end (after an unbounded solve), or None;
        of a MILP, that of its relaxation."""
        if self.is_mip:
            relaxed = self.relaxation()
            relaxed.solve()
            return relaxed.primal_ray()
        _, has_ray, ray = self._h.getPrimalRay()
        return np.asarray(ray, dtype=float) if has_ray else None


@dataclass(frozen=True)
class _BasisState:
    """An optimal basis in [A I] form: variable j < n is column j, n + i is the logical of row i,
    whose value is minus the row activity (HiGHS's convention, so its bounds are [-U, -L]) and
    whose reduced cost is minus the row dual."""

    v: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    d: np.ndarray
    y: np.ndarray
    var_of: np.ndarray
    """The variable at each basis position (what HiGHS's basis solves are indexed by)."""
    basic: np.ndarray
    """HiGHS's basic list: column j, or -1 - i for the logical of row i."""
    is_basic: np.ndarray
    at_upper: np.ndarray
    fixed: np.ndarray
    nonbasic_free: np.ndarray

    @functools.cached_property
    def at_lower_bound(self) -> np.ndarray:
        """Nonbasic, neither fixed nor free, at its lower bound (its reduced cost must stay >= 0)."""
        return ~self.is_basic & ~self.fixed & ~self.nonbasic_free & ~self.at_upper

    @functools.cached_property
    def at_upper_bound(self) -> np.ndarray:
        """Nonbasic, neither fixed nor free, at its upper bound (its reduced cost must stay <= 0)."""
        return ~self.is_basic & ~self.fixed & ~self.nonbasic_free & self.at_upper

    @classmethod
    def of(cls, h: highspy.Highs, col_lo: np.ndarray, col_hi: np.ndarray, row_lo: np.ndarray,
           row_hi: np.ndarray) -> _BasisState:
        n = len(col_lo)
        sol = h.getSolution()
        _, basic = h.getBasicVariables()
        basic = np.asarray(basic, dtype=np.int64)
        v = np.concatenate([np.asarray(sol.col_value, dtype=float), -np.asarray(sol.row_value, dtype=float)])
        lb, ub = np.concatenate([col_lo, -row_hi]), np.concatenate([col_hi, -row_lo])
        var_of = np.where(basic >= 0, basic, n - 1 - basic)
        is_basic = np.zeros(len(v), dtype=bool)
        is_basic[var_of] = True
        # a nonbasic variable sits at one of its bounds: the nearer one (HiGHS's statuses are slow to read)
        at_upper = np.abs(np.where(np.isfinite(ub), ub - v, np.inf)) < np.abs(np.where(np.isfinite(lb), v - lb, np.inf))
        return cls(v=v, lb=lb, ub=ub,
                   d=np.concatenate([np.asarray(sol.col_dual, dtype=float), -np.asarray(sol.row_dual, dtype=float)]),
                   y=np.asarray(sol.row_dual, dtype=float), var_of=var_of, basic=basic, is_basic=is_basic,
                   at_upper=at_upper & ~is_basic, fixed=(lb == ub) & ~is_basic,
                   nonbasic_free=~is_basic & ~np.isfinite(lb) & ~np.isfinite(ub))


def _solved(answer: tuple) -> np.ndarray:
    """The vector of a HiGHS basis solve, or an error if HiGHS has no factored basis."""
    status, values = answer
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS holds no factored basis to range on")
    return np.asarray(values, dtype=float)


def _conditions(a: list[np.ndarray], b: list[np.ndarray], idx: list[np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate conditions a + t b >= 0 with the variable each one belongs to; a change of
    relative size below 1e-10 of the largest counts as none (rounding in the solves)."""
    a, b, idx = np.concatenate(a), np.concatenate(b), np.concatenate(idx).astype(np.int64)
    eps = 1e-10 * max(np.abs(b).max(initial=0.0), 1e-300)
    return a, np.where(np.abs(b) > eps, b, 0.0), idx


def _nearest_limit(a: np.ndarray, b: np.ndarray, side: float) -> tuple[float, np.ndarray]:
    """The first t on `side` (+1: t > 0, -1: t < 0) where some a + t b >= 0 fails, and the
    conditions that fail there (positions into a)."""
    hits = np.flatnonzero(b * side < 0)
    if not len(hits):
        return np.inf * side, hits
    limits = a[hits] / np.abs(b[hits])
    t = float(limits.min())
    return t * side, hits[np.isclose(limits, t, rtol=1e-9, atol=1e-12)]


def _run_interruptible(h: highspy.Highs, meanwhile: Callable[[], None] | None = None) -> None:
    """Run HiGHS in its own thread, `meanwhile()` on this one, and wait; Ctrl-C (or an error in
    `meanwhile`) cancels the solve and is re-raised once HiGHS has stopped.

    HiGHS's interrupt check is a Python callback on every simplex iteration; it is switched on only
    when a cancel is wanted: while on, it needs the GIL 40k times per medium solve, and with Python
    busy on this thread that made the solve 25 % slower (measured in benchmarks/README.md).

    One solve at a time per process (`_ONE_SOLVE`): highspy keeps its "solver running" locks on the
    `Highs` class, not on each object, and resets HiGHS's global scheduler after every run, so two
    sessions solving at once in threads of one process (a threaded Dask worker, a sweep thread) fail
    with "Solver is already running". Parallel solves come from processes.
    """
    with _ONE_SOLVE:
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


_ONE_SOLVE = threading.Lock()


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
