"""Break-even prices and the ranges of budgets' and stock capacities' marginal values (SPEC 7.4).

Each range is first read off the plan's optimal basis (`SolverSession.parametric_range`: a ratio
test along the direction of the change, no re-solve). Only where the basis cannot tell what happens
beyond an end (a degenerate pivot, a change of the CVaR tail, a first-order step) is the end
searched by warm re-solves of the changed LP, each of which either extends the range with its own
basis or jumps to where the rival optimum it found crosses the plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.model.lp import Formulation, StandardForm, cost_terms, node_cost_coefs
from optimizer.results import cost_entries, costs_by_scenario, cvar_rows, marginal_values
from optimizer.solve import ParametricRange, SolverSession, SolveResult, SolveStatus, dot

REL = 2.5e-4
"""Relative accuracy of an end found by re-solves (SPEC asks for 1e-3)."""
CAP = 1e6
"""A factor or amount this many times today's that still keeps the plan is reported as unbounded."""
MAX_SOLVES = 40
"""Re-solves allowed per searched end (each one at least halves the bracket once it is found)."""
AUXILIARY = ("node_cost", "eta", "excess")
"""Columns that only carry the CVaR objective; every other column is part of the plan."""
MONEY_ROWS = ("budget_max", "node_cost_def")
"""Rows where a purchase enters with its landed cost (the other rows count units)."""


@dataclass(frozen=True)
class PriceDirection:
    """What a factor f on one source's price changes, per unit of f - 1: the objective costs of its
    buy columns and their entries in the money rows. Each is proportional to the landed cost
    f * P + freight (P = price * multiplier * (1 + tariff)), so its slope is its value times P / landed."""

    cols: np.ndarray
    cost: np.ndarray
    """today's objective cost of `cols`"""
    cost_slope: np.ndarray
    rows: np.ndarray
    entry_cols: np.ndarray
    entries: np.ndarray
    """today's money-row entries (rows, entry_cols)"""
    entry_slopes: np.ndarray

    def at(self, f: float) -> tuple[np.ndarray, np.ndarray]:
        """(costs, entries) at factor f."""
        return self.cost + (f - 1.0) * self.cost_slope, self.entries + (f - 1.0) * self.entry_slopes

    def cost_vector(self, n_cols: int) -> np.ndarray:
        cost = np.zeros(n_cols)
        cost[self.cols] = self.cost_slope
        return cost

    def parametric(self, session: SolverSession, strictness: tuple[bool, bool] = (True, True)) -> ParametricRange:
        """The session's basis along this direction (t = f - f_now)."""
        return session.parametric_range(cost=self.cost_vector(session.n_cols),
                                        matrix=(self.rows, self.entry_cols, self.entry_slopes), strictness=strictness)


@dataclass(frozen=True)
class Outcome:
    """What a re-solve at a parameter value tells the search."""

    holds: bool
    """The plan (or the marginal value) still holds there."""
    guess: float | None = None
    """When it fails: where the rival optimum found there beats the plan's line by more than a tie
    (a guess of the end)."""
    bound: bool = False
    """...and beyond that crossing (towards the failed point) the rival surely beats the plan."""
    reach: tuple[float, float] | None = None
    """When it holds: the interval over which it surely holds, read on the re-solve's basis."""
    final: tuple[bool, bool] = (False, False)
    """...and whether it surely fails just beyond each end of `reach` (the re-solve's optimum,
    optimal there still, beats the plan by more than a tie)."""


@dataclass
class Plan:
    """The plan being ranged, with what every range needs."""

    form: Formulation
    problem: StandardForm
    session: SolverSession
    result: SolveResult

    def __post_init__(self) -> None:
        lp = self.form.lp
        self.x = self.result.x
        self.decision = np.ones(lp.n_cols, dtype=bool)
        for name in AUXILIARY:
            if name in lp.vars:
                self.decision[lp.vars[name].cols] = False
        self.terms = cost_terms(self.form.data, self.form.lp)
        self.entries = cost_entries(self.form, self.terms)
        self.costs = self.scenario_costs(self.x)
        self.price_entries = price_entries(self.form)
        self.slopes = self.price_slopes(self.x)
        self.activity = _times(self.problem, self.x)
        hi = self.problem.row_hi
        binding = _rows_of(self.form, ("budget_max",)) & (np.abs(self.activity - hi) <= 1e-9 * np.maximum(1.0, np.abs(hi)))
        self.budget_binding = binding
        self.budget_valued: set[int] = set()
        """Binding budget rows that every optimal dual values (dual > 0 and the basis stays optimal as
        the amount grows, so more money strictly lowers the cost): read on the plan's basis."""
        shift = np.zeros(self.problem.n_rows)
        for i in np.flatnonzero(binding & (self.result.row_dual < -1e-9)):
            shift[i] = 1.0
            if self.session.parametric_range(row_bounds=(np.zeros_like(shift), shift),
                                             strictness=(False, False)).hi.t > 0:
                self.budget_valued.add(int(i))
            shift[i] = 0.0

    def scenario_costs(self, x: np.ndarray) -> np.ndarray:
        """C_k of plan x, [K] $."""
        return costs_by_scenario(self.form, self.entries, x)

    def price_slopes(self, x: np.ndarray) -> np.ndarray:
        """[S, K] $: how C_k of plan x moves per unit of a factor f on each source's price
        (C_k(f) = C_k(1) + (f - 1) slope), from `price_entries`."""
        source, col, node, coef = self.price_entries
        d = self.form.data
        n_sources, n_nodes = len(d.sources), d.tree.size
        per_node = np.bincount(source * n_nodes + node, weights=coef * x[col], minlength=n_sources * n_nodes)
        return per_node.reshape(n_sources, n_nodes)[:, d.tree.node_of].sum(axis=1)

    def objectives(self, costs: np.ndarray) -> np.ndarray:
        """SPEC 4.3 objective of each row of scenario costs [G, K]."""
        d = self.form.data
        value = (1.0 - d.aversion) * (costs @ d.prob)
        return value + d.aversion * cvar_rows(costs, d.prob, d.alpha) if d.aversion > 0 else value

    def tolerance(self, value: float) -> float:
        """How far a re-solved objective may differ from the plan's and still count as a tie."""
        return 1e-9 * max(1.0, abs(value))

    def same_decisions(self, x: np.ndarray) -> bool:
        mine, other = self.x[self.decision], x[self.decision]
        return bool(np.all(np.abs(mine - other) <= 1e-7 * np.maximum(1.0, np.abs(mine))))


def ranges(form: Formulation, problem: StandardForm, session: SolverSession, result: SolveResult) -> dict:
    """`ranges` of analysis.json: every source's price factor interval [f_lo, f_hi] within which the
    plan stays optimal, and the amount range of every budget and stock capacity with a nonzero
    marginal value over which that value holds. Reads the plan's basis first (the session must
    hold it), then re-solves where needed, and leaves the session's data as it found it."""
    plan = Plan(form, problem, session, result)
    d = form.data
    directions = dict(enumerate(price_directions(form, problem)))
    values = marginal_values(form, result)
    budgets = {b: values["budgets"][name] for b, name in enumerate(d.budget_names)
               if values["budgets"][name] > 1e-9}
    capacities = {m: values["stock_capacity"][d.materials[m]] for m in range(len(d.materials))
                  if values["stock_capacity"].get(d.materials[m], 0.0) > 1e-9}
    # every parametric reading first: they need the plan's basis, which re-solves replace
    decided = {s: _budget_ends(plan, direction) for s, direction in directions.items()}
    source_ranges = {s: None if all(e is not None for e in decided[s]) else
                     direction.parametric(session, tuple(e is None for e in decided[s]))
                     for s, direction in directions.items()}
    budget_ranges = {b: session.parametric_range(row_bounds=_budget_shift(form, b)) for b in budgets}
    capacity_ranges = {m: session.parametric_range(col_bounds=_capacity_shift(form, m)) for m in capacities}
    return {
        "sources": {d.sources[s]: source_range(plan, s, directions[s], pr) for s, pr in source_ranges.items()},
        "budgets": {d.budget_names[b]: budget_range(plan, b, budgets[b], pr) for b, pr in budget_ranges.items()},
        "stock_capacity": {d.materials[m]: capacity_range(plan, m, capacities[m], pr)
                           for m, pr in capacity_ranges.items()},
    }


# --- sources -------------------------------------------------------------------------------------


def price_directions(form: Formulation, problem: StandardForm) -> list[PriceDirection]:
    """The LP numbers a factor on each source's price moves (see PriceDirection), every source at
    once: its buy columns in column order, and their money-row entries in column then row order."""
    d, lp = form.data, form.lp
    buy = lp.vars["buy"]
    node = buy.node
    t, k = d.tree.t[node], d.tree.rep[node]
    scaled = d.price[buy.entity, t] * d.pmult[buy.entity, t, k] * (1.0 + d.tariff[buy.entity, t, k])
    landed = d.landed[buy.entity, t, k]
    share = np.divide(scaled, landed, out=np.zeros(len(buy.cols)), where=landed != 0)
    cols = buy.cols
    count = problem.indptr[cols + 1] - problem.indptr[cols]
    at = np.repeat(problem.indptr[cols] - np.cumsum(count) + count, count) + np.arange(count.sum())
    owner = np.repeat(np.arange(len(cols)), count)
    keep = _rows_of(form, MONEY_ROWS)[problem.indices[at]]
    at, owner = at[keep], owner[keep]
    cost = problem.cost[cols]
    n_sources = len(d.sources)
    # group by source, keeping column order within each (stable sorts)
    by_col = np.argsort(buy.entity, kind="stable")
    col_split = np.cumsum(np.bincount(buy.entity, minlength=n_sources))[:-1]
    by_entry = np.argsort(buy.entity[owner], kind="stable")
    entry_split = np.cumsum(np.bincount(buy.entity[owner], minlength=n_sources))[:-1]
    out = []
    for c, e in zip(np.split(by_col, col_split), np.split(by_entry, entry_split)):
        a, o = at[e], owner[e]
        out.append(PriceDirection(cols[c], cost[c], cost[c] * share[c], problem.indices[a], cols[o],
                                  problem.values[a], problem.values[a] * share[o]))
    return out


def price_entries(form: Formulation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source, buy column, node, $ per unit of f): the slope of C_k in a factor f on the source's
    price, per buy column and node bearing it. Every buy cost term is a multiple of the landed
    cost f P + freight or of f P alone (P = price * pmult * (1 + tariff)), so its slope in f is its
    amount with freight 0."""
    d, lp = form.data, form.lp
    buy = lp.vars["buy"]
    priced = dataclasses.replace(d, freight=np.zeros_like(d.freight))
    terms = [term for term in cost_terms(priced, lp) if term.family == "buy"]
    index, node, coef = node_cost_coefs(priced, lp, terms).get(
        "buy", (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)))
    return buy.entity[index], buy.cols[index], node, coef


def _budget_ends(plan: Plan, direction: PriceDirection) -> list[float | str | None]:
    """The ends a factor's effect on the budgets decides without a solve ("none": unbounded;
    None: undecided): dearer, an unused source stays unused and the plan's cost is unchanged, and
    a used one overspends a budget that binds; cheaper, the plan leaves money of a budget unspent
    that every optimum would spend."""
    spend = np.bincount(direction.rows, weights=direction.entry_slopes * plan.x[direction.entry_cols],
                        minlength=plan.problem.n_rows)
    binding = np.flatnonzero(plan.budget_binding & (spend > 0))
    used = bool(np.any(plan.x[direction.cols] > 1e-9))
    lo = 1.0 if plan.budget_valued.intersection(binding.tolist()) else None
    hi = "none" if not used else (1.0 if len(binding) else None)
    return [lo, hi]


def source_range(plan: Plan, s: int, direction: PriceDirection, pr: ParametricRange | None) -> dict:
    """f_lo, f_hi (None: unbounded), and the prices they mean in the reference period: the first
    period the plan orders from the source, or for an unused source the first in which it can be
    ordered (None when it never can)."""
    form, session = plan.form, plan.session
    d = form.data
    slope = plan.slopes[s]  # C_k(f) = C_k(1) + (f - 1) slope
    budget = _rows_of(form, ("budget_max",))
    extra = np.bincount(direction.rows, weights=direction.entry_slopes * plan.x[direction.entry_cols],
                        minlength=plan.problem.n_rows)
    budget_rows = np.flatnonzero(budget & (extra != 0))  # budgets the plan's spend on this source moves
    budget_rows_all = np.unique(direction.rows[budget[direction.rows]])  # budgets this source can spend in
    rows_hi = plan.problem.row_hi[budget_rows]
    touched = []

    def mine(fs: np.ndarray) -> np.ndarray:
        return plan.objectives(plan.costs + (np.asarray(fs)[:, None] - 1.0) * slope)

    def test(f: float) -> Outcome:
        """Is the plan feasible and optimal with the price scaled by f (a warm re-solve)?"""
        act = plan.activity[budget_rows] + (f - 1.0) * extra[budget_rows]
        if np.any(act > rows_hi + 1e-9 * np.maximum(1.0, np.abs(rows_hi)) + 1e-7):
            return Outcome(False)
        touched.append(f)
        cost, entries = direction.at(f)
        session.set_costs(direction.cols, cost)
        session.set_coefficients(direction.rows, direction.entry_cols, entries)
        solved = session.solve(canonical=False)
        if solved.status != SolveStatus.OPTIMAL:
            return Outcome(False)
        base = plan.scenario_costs(solved.x)
        rival_slope = plan.price_slopes(solved.x)[s]
        rival = lambda fs: plan.objectives(base + (np.asarray(fs)[:, None] - 1.0) * rival_slope)  # noqa: E731
        tie = plan.tolerance(solved.objective)
        if mine([f])[0] <= solved.objective + tie:
            # The rival is optimal over its basis's range; the plan too wherever it costs no more
            # than a tie more, and nowhere in that range beyond where it first costs more.
            again = direction.parametric(session, strictness=(False, False))
            if not again.exact or np.any(np.abs(again.x_change[plan.decision]) > 1e-9):
                return Outcome(True)
            reach, final = [], []
            for end in (f + again.lo.t, f + again.hi.t):
                end = float(np.clip(end, 0.0, CAP))
                points = np.union1d(_kinks(plan.costs, slope, f, end), _kinks(base, rival_slope, f, end))
                at = _first_excess(lambda fs: mine(fs) - rival(fs) - tie, points, f)
                reach.append(end if at is None else at)
                final.append(at is not None and at != f)  # at f: a tie within rounding, left to the search
            return Outcome(True, reach=(reach[0], reach[1]), final=(final[0], final[1]))
        # Where the rival beats the plan by more than a tie: the end the test itself would find
        # (the plan still holds within the tolerance a little beyond the lines' crossing).
        at = crossing(mine, lambda fs: rival(fs) + tie, 1.0, f)
        # Past the crossing the rival beats the plan, if it is feasible there: only a budget it
        # spends on can stop it, and its spend moves linearly with f (test at the crossing).
        spend = np.bincount(direction.rows, weights=direction.entry_slopes * solved.x[direction.entry_cols],
                            minlength=plan.problem.n_rows)[budget_rows_all]
        room = plan.problem.row_hi[budget_rows_all] - _times(plan.problem, solved.x)[budget_rows_all] \
            - (at - f) * spend
        return Outcome(False, at, bound=bool(np.all(room >= -1e-9 * np.maximum(1.0, np.abs(
            plan.problem.row_hi[budget_rows_all])) - 1e-7)))

    used = bool(np.any(plan.x[direction.cols] > 1e-9))
    decided = _budget_ends(plan, direction)
    moves = pr is not None and np.any(
        np.abs(pr.x_change[plan.decision]) > 1e-9 * np.maximum(1.0, np.abs(plan.x[plan.decision])))
    ends = []
    for side, end, known in ((-1.0, pr and pr.lo, decided[0]), (1.0, pr and pr.hi, decided[1])):
        if known is not None:
            ends.append(None if known == "none" else known)
            continue
        candidate = max(1.0 + end.t, 0.0)
        if not pr.exact:  # first order only: the basis's end is a first guess
            found = search(test, 1.0, candidate, side, floor=0.0)
        elif moves:
            # Within the basis the optimal plan itself moves with the price (e.g. it keeps two
            # futures' costs equal at the CVaR threshold): the plan is optimal beyond 1 only if it
            # ties with the basis's moving optimum, which costs nothing to check just beyond 1.
            t = side * min(REL, abs(end.t))
            if t != 0.0 and mine([1.0 + t])[0] > _basis_objective(plan, direction, pr, t) \
                    + plan.tolerance(plan.result.objective):
                found = 1.0
            elif t == 0.0 and end.reason == "cost" and end.strict:
                found = 1.0
            else:
                found = search(test, 1.0, candidate, side, floor=0.0)
        elif not np.isfinite(end.t) or candidate == 0.0 or (end.reason == "cost" and end.strict) or (
                end.reason == "bound" and end.at >= plan.problem.n_cols and budget[end.at - plan.problem.n_cols]):
            # the basis decides: unbounded, the price reaches 0, a pivot that improves on the plan,
            # or a budget the plan would overspend beyond
            found = candidate if np.isfinite(candidate) else None
        else:  # a degenerate pivot or a change of the CVaR tail: the plan holds up to the end, maybe beyond
            found = search(test, 1.0, candidate, side, floor=0.0, candidate_holds=True)
        ends.append(found)
    if touched:
        cost, entries = direction.at(1.0)
        session.set_costs(direction.cols, cost)
        session.set_coefficients(direction.rows, direction.entry_cols, entries)
    f_lo, f_hi = ends
    t0 = _reference_period(plan, direction)
    price = None if t0 is None else float(d.price[s, t0])
    return {
        "f_lo": f_lo,
        "f_hi": f_hi,
        "price_lo": None if price is None or f_lo is None else f_lo * price,
        "price_hi": None if price is None or f_hi is None else f_hi * price,
        "period": None if t0 is None else d.calendar.labels[t0],
        "unit": d.units[d.src_material[s]],
        "used": used,
    }


def _kinks(costs: np.ndarray, slope: np.ndarray, a: float, b: float) -> np.ndarray:
    """Where a plan's objective, with scenario costs costs + (f - 1) slope, may bend between a and b
    (where two scenario costs cross: the CVaR tail can change there), and a and b themselves."""
    lo, hi = min(a, b), max(a, b)
    i, j = np.triu_indices(len(costs), 1)
    ds = slope[i] - slope[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        at = 1.0 - (costs[i] - costs[j]) / ds
    at = at[(ds != 0) & (at > lo) & (at < hi)]
    return np.concatenate([[lo, hi], at])


def _first_excess(excess: Callable[[np.ndarray], np.ndarray], points: np.ndarray, start: float) -> float | None:
    """The point nearest `start` where `excess`, piecewise linear with its kinks among `points` (sorted,
    start among them, excess(start) <= 0), turns positive; None where it never does."""
    order = points if points[0] == start else points[::-1]  # from start outwards
    values = excess(order)
    above = np.flatnonzero(values > 0)
    if not len(above):
        return None
    i = int(above[0])
    if i == 0:
        return float(start)
    p0, p1, v0, v1 = order[i - 1], order[i], values[i - 1], values[i]
    return float(p0 + (p1 - p0) * (-v0) / (v1 - v0))


def _rows_of(form: Formulation, families: tuple[str, ...]) -> np.ndarray:
    """[n_rows] bool: the rows of these families."""
    out = np.zeros(form.lp.n_rows, dtype=bool)
    for name in families:
        fam = form.lp.rows.get(name)
        if fam is not None:
            out[fam.first: fam.first + fam.size] = True
    return out


def _basis_objective(plan: Plan, direction: PriceDirection, pr: ParametricRange, t: float) -> float:
    """Objective of the basis's own solution x + t dx at factor 1 + t (exact within its range)."""
    cost = plan.problem.cost.copy()
    cost[direction.cols] += t * direction.cost_slope
    return dot(cost, plan.x + t * pr.x_change) + plan.problem.offset


def _reference_period(plan: Plan, direction: PriceDirection) -> int | None:
    """First period the plan orders from the source; else the first with an order possible."""
    tree = plan.form.data.tree
    buy = plan.form.lp.vars["buy"]
    node = buy.node[direction.cols - buy.first]
    used = plan.x[direction.cols] > 1e-9
    pool = node[used] if used.any() else node
    return int(tree.t[pool].min()) if len(pool) else None


# --- budgets and stock capacities ------------------------------------------------------------------


def _budget_shift(form: Formulation, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-bound direction: every row of budget b moves up by one (its amount + t)."""
    fam = form.lp.rows["budget_max"]
    hi = np.zeros(form.lp.n_rows)
    hi[fam.first + np.flatnonzero(fam.labels["budget"] == b)] = 1.0
    return np.zeros(form.lp.n_rows), hi


def _capacity_shift(form: Formulation, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-bound direction: material m's stock capacity moves up by one in every period."""
    stock = form.lp.vars["stock"]
    hi = np.zeros(form.lp.n_cols)
    sel = stock.entity == m
    cap = form.data.stock_cap[m, form.data.tree.t[stock.node[sel]]]
    hi[stock.cols[sel][np.isfinite(cap)]] = 1.0
    return np.zeros(form.lp.n_cols), hi


def budget_range(plan: Plan, b: int, value: float, pr: ParametricRange) -> dict:
    """{lo, hi}: the amounts of budget b over which its marginal value holds."""
    d = plan.form.data
    direction = _budget_shift(plan.form, b)
    rows = np.flatnonzero(direction[1])
    hi0 = plan.problem.row_hi[rows]

    def move(delta: float) -> None:
        plan.session.set_row_bounds(rows, plan.problem.row_lo[rows], hi0 + delta)

    def value_at(solved: SolveResult, delta: float) -> float:
        return float(-solved.row_dual[rows].sum())

    amount = float(d.budget_amount[b])
    lo, hi = _amount_range(plan, value, pr, amount, -amount, move, value_at,
                           lambda: plan.session.parametric_range(row_bounds=direction, strictness=(False, False)))
    return {"lo": lo, "hi": hi}


def capacity_range(plan: Plan, m: int, value: float, pr: ParametricRange) -> dict:
    """{lo, hi}: material m's stock capacity over which its marginal value holds, as the capacity
    in `period`, the first in which it binds (every period's capacity moving by the same amount)."""
    form = plan.form
    d = form.data
    direction = _capacity_shift(form, m)
    cols = np.flatnonzero(direction[1])
    hi0, lo0 = plan.problem.col_hi[cols], plan.problem.col_lo[cols]
    stock = form.lp.vars["stock"]
    at_cap = cols[np.abs(plan.x[cols] - hi0) <= 1e-9 * np.maximum(1.0, np.abs(hi0))]
    t0 = int(d.tree.t[stock.node[(at_cap if len(at_cap) else cols) - stock.first]].min())

    def move(delta: float) -> None:
        plan.session.set_column_bounds(cols, lo0, hi0 + delta)

    def value_at(solved: SolveResult, delta: float) -> float:
        full = np.abs(solved.x[cols] - (hi0 + delta)) <= 1e-9 * np.maximum(1.0, np.abs(hi0 + delta))
        return float(np.maximum(-solved.col_dual[cols][full], 0.0).sum())

    lo, hi = _amount_range(plan, value, pr, float(d.stock_cap[m, t0]), -float(np.min(hi0)), move, value_at,
                           lambda: plan.session.parametric_range(col_bounds=direction, strictness=(False, False)))
    return {"lo": lo, "hi": hi, "period": d.calendar.labels[t0]}


def _amount_range(plan: Plan, value: float, pr: ParametricRange, reference: float, floor: float,
                  move: Callable[[float], None], value_at: Callable[[SolveResult, float], float],
                  parametric: Callable[[], ParametricRange]) -> tuple[float, float | None]:
    """Ends of the shift over which the objective falls by `value` per unit (the marginal value
    holds), as reference + shift; searched by re-solves where the basis cannot decide. The
    objective is convex in the shift, so a re-solve's tangent line guesses the end."""
    objective = plan.result.objective
    touched = []

    def test(amount: float) -> Outcome:
        delta = amount - reference
        touched.append(delta)
        move(delta)
        solved = plan.session.solve(canonical=False)
        if solved.status != SolveStatus.OPTIMAL:
            return Outcome(False)
        slope = value_at(solved, delta)
        if abs(solved.objective - (objective - value * delta)) <= plan.tolerance(objective):
            if abs(slope - value) > 1e-9 * max(1.0, abs(value)):
                return Outcome(True)
            again = parametric()  # the same marginal value on the re-solve's basis: it holds over its range
            return Outcome(True, reach=(amount + again.lo.t, amount + again.hi.t))
        if slope == value:
            return Outcome(False)
        # the tangent there, solved.objective - slope * (x - delta), crosses the value's line
        # objective - value * x at x; past x the objective is above that line (it is convex)
        x = (solved.objective + slope * delta - objective) / (slope - value)
        return Outcome(False, reference + x, bound=True)

    ends = []
    for side, end in ((-1.0, pr.lo), (1.0, pr.hi)):
        candidate = max(end.t, floor)
        if not np.isfinite(end.t) or candidate == floor or end.strict:
            ends.append(reference + candidate)
        else:
            found = search(test, reference, reference + candidate, side, floor=reference + floor,
                           candidate_holds=True)
            ends.append(np.inf if found is None else found)
    if touched:
        move(0.0)
    lo, hi = ends
    return lo, (None if not np.isfinite(hi) else hi)


# --- searching an end by re-solves -------------------------------------------------------------------


def search(test: Callable[[float], Outcome], start: float, candidate: float, side: float, floor: float,
           candidate_holds: bool = False) -> float | None:
    """The end, on `side` of `start` (+1 up, -1 down, not below `floor`), of the interval where
    `test` holds (it holds at `start`, and at `candidate` when `candidate_holds`), to REL relative
    (near zero: REL / 1000 of `start`).

    Try the candidate; where it holds, jump to the reach of the re-solve's own basis if it has one,
    probe just beyond (a failed probe ends the search), then widen geometrically. Where a test
    fails, the rival optimum it found crosses the plan's line before: test at that crossing
    (Newton's step on a piecewise linear function: it holds there exactly when that rival is the
    first to beat the plan, which ends the search); when the rival might be infeasible there,
    test there once as a guess (holding, probe just beyond it); when crossings stop halving the
    bracket, bisect. None when it still holds at CAP times `start`.
    """
    limit = CAP * max(abs(start), 1.0)

    def accuracy(v: float) -> float:
        """REL relative; within a thousandth of `start` of zero, that much absolute (a relative
        accuracy there would chase solver tolerances)."""
        return REL * max(abs(v), 1e-3 * abs(start), 1e-12)

    def clip(v: float) -> float:
        return max(v, floor) if side < 0 else min(v, limit)

    def beyond(v: float) -> float:
        return clip(v + side * accuracy(v))

    ok, bad, width, crossing_untested = start, None, np.inf, False
    widen = REL * max(abs(start), 1e-12)
    f = clip(candidate) if (candidate - start) * side > accuracy(start) else beyond(start)
    known = candidate_holds and f == candidate
    kind = "guess"  # f is a guess of the end, a probe just beyond one, a crossing, or a bracket step
    for _ in range(MAX_SOLVES):
        out = Outcome(True) if known else test(f)
        known = False
        if out.holds:
            ok = f
            if kind == "crossing" or (side < 0 and ok <= floor):
                return ok
            if out.reach is not None:  # it surely holds further: go there and probe beyond
                reach = out.reach[side > 0]
                if out.final[side > 0] and (reach - ok) * side >= 0 and (bad is None or (bad - reach) * side > 0):
                    return clip(reach)  # ...unless it surely fails just beyond
                if (reach - ok) * side > 0 and (bad is None or (bad - reach) * side > 0):
                    ok, kind = clip(reach), "guess"
                    if side < 0 and ok <= floor:
                        return floor
            if side > 0 and ok >= limit:
                return None
            if kind in ("guess", "newton"):
                f, kind = beyond(ok), "probe"
            elif bad is None:  # it holds beyond the guess: widen, four times as far each time
                widen *= 4.0
                f, kind = clip(ok + side * widen), "step"
            elif crossing_untested:
                f, kind, crossing_untested = bad, "crossing", False
            else:
                f, kind = _middle(ok, bad, side), "step"
        else:
            bad = f
            inside = out.guess is not None and (out.guess - ok) * side > 0 and (bad - out.guess) * side > 0
            if inside and out.bound:
                bad = out.guess
            halved, width = abs(bad - ok) <= 0.5 * width, abs(bad - ok)
            if inside and out.bound and (halved or kind != "crossing"):
                f, kind, crossing_untested = out.guess, "crossing", False
            elif inside and kind not in ("crossing", "newton"):
                # the rival may be infeasible past its crossing: a guess to test, not an end
                f, kind, crossing_untested = out.guess, "newton", False
            else:
                f, kind, crossing_untested = _middle(ok, bad, side), "step", inside and out.bound
        if bad is not None and abs(bad - ok) <= accuracy(ok) * (1.0 + 1e-9):  # a failed probe is that far
            return ok
    return ok


def _middle(ok: float, bad: float, side: float) -> float:
    """Bisection point: geometric when the bracket spans more than a factor 2 upwards, an eighth
    of the way when it reaches down to zero (ends near zero are found by their magnitude)."""
    if side > 0 and ok > 0 and bad > 2.0 * ok:
        return float(np.sqrt(ok * bad))
    if side < 0 and bad == 0.0 and ok > 0:
        return ok / 8.0
    return 0.5 * (ok + bad)


def crossing(mine: Callable[[np.ndarray], np.ndarray], rival: Callable[[np.ndarray], np.ndarray],
             ok: float, bad: float) -> float:
    """Where mine - rival turns positive between ok (mine <= rival) and bad (mine > rival): the
    first grid cell where it does, refined six times (a relative 1e-7 of the bracket)."""
    lo, hi = ok, bad
    for _ in range(6):
        grid = np.linspace(lo, hi, 17)
        above = np.flatnonzero(mine(grid) - rival(grid) > 0)
        if not len(above) or above[0] == 0:
            return lo
        lo, hi = grid[above[0] - 1], grid[above[0]]
    return float(lo)


def _times(problem: StandardForm, x: np.ndarray) -> np.ndarray:
    """Row activities A x."""
    cols = np.repeat(np.arange(problem.n_cols), np.diff(problem.indptr))
    return np.bincount(problem.indices, weights=problem.values * x[cols], minlength=problem.n_rows)
