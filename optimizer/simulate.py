"""`optimize simulate` (SPEC 9): futures drawn from the disruption process (or the listed scenarios), the
`rolling`, `naive` and `static` policies played forward in each, and their realised cost, money and
shortfall.

A policy re-plans at the start of every step of a future (every stage; with listed scenarios, every
period in which the future becomes distinguishable from others), with the decisions of earlier steps
fixed at what was executed, and executes its plan's decisions for the step's periods on the future's
path. Index letters as in data.py; i numbers the steps of a future.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optimizer.data import RULE_PARAMETERS, Calendar, ModelData, build_data, rule_signature
from optimizer.disruptions import (
    History,
    Runs,
    StageClasses,
    Stages,
    generate_from,
    likeliest_continuation,
    path_scenario,
    sample_paths,
)
from optimizer.decision import reference_scenario
from optimizer.errors import InfeasibleError, UsageError
from optimizer.model.lp import FAMILIES, Formulation, StandardForm, cost_terms, formulate
from optimizer.results import cost_breakdown, scenario_costs, scenario_terms
from optimizer.solve import Basis, BasisStatus, SolverOptions, SolverSession, SolveStatus
from optimizer.spec import Case, Scenario

POLICIES = ("rolling", "naive", "static")

#: Decision families an executed step fixes (short and below follow from them: the balance and the
#: target rows), the discrete ones (SPEC 4.1.12: orders placed, modules built) included; each is indexed
#: by its `lp.FAMILIES` entities.
EXECUTED = ("buy", "process", "build_source", "build_processor", "built_source", "built_processor", "stock", "surplus",
            "order", "modules_source", "modules_processor")
#: What `static` keeps of its first plan in every period: orders and capacity built. Processing it runs
#: up to its first plan's amounts; stock and disposals follow.
ORDERS = ("buy", "build_source", "build_processor", "built_source", "built_processor")


# --- futures ----------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Future:
    """A future the policies are played in: a path of the disruption process (the events in force and
    those starting at every stage), or one of the listed scenarios (`scenario`, its index)."""

    codes: tuple[int, ...] = ()
    starts: tuple[int, ...] = ()
    scenario: int = -1


def draw_futures(sc: Scenario, n: int, seed: int) -> list[Future]:
    """n futures drawn with `seed` (numpy's PCG64, independent of the tree's own seed): paths of the
    disruption process (`disruptions.sample_paths`), or listed scenarios drawn by probability (one
    uniform u per future picks the first scenario whose cumulative probability exceeds u)."""
    if sc.disruptions is not None:
        paths = sample_paths(sc.disruptions, Stages.of(sc), n, seed)
        return [Future(tuple(c), tuple(s)) for c, s in zip(paths.codes.tolist(), paths.starts.tolist())]
    prob = np.array([c.probability for c in sc.cases])
    u = np.random.default_rng(seed).random(n)
    picks = np.minimum(np.searchsorted(np.cumsum(prob / prob.sum()), u, side="right"), len(prob) - 1)
    return [Future(scenario=int(k)) for k in picks]


def single(case: Case) -> Case:
    """A case as the only scenario of a problem (probability 1)."""
    return case.model_copy(update={"probability": 1.0})


# --- what the planner knows at each step: a disruption process or listed scenarios --------------------


@dataclass(frozen=True)
class Step:
    """One re-plan of a future: made at the start of period `start`, executed through period `end` - 1.
    `state` is what the planner knows then, and all it knows: futures with equal states get the same
    re-plan (and so executed the same before it)."""

    start: int
    end: int
    state: Hashable


class ProcessWorld:
    """Futures of a disruption process: a step per stage; the re-plan tree is SPEC 8's tree from the
    future's history (`disruptions.generate_from`)."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.process = sc.disruptions
        self.stages = Stages.of(sc)
        self.classes = StageClasses(sc, self.stages)  # shared by every re-plan tree
        self.runs = Runs(tuple(self.process.events), self.stages)

    def steps(self, future: Future) -> list[Step]:
        return [Step(r.start, r.stop, (future.codes[:j + 1], future.starts[:j + 1]))
                for j, r in enumerate(map(self.stages.period_range, range(self.stages.count)))]

    def history(self, future: Future, i: int) -> History:
        return History.of_path(future.codes, future.starts, i, len(self.process.events))

    def tree(self, future: Future, i: int) -> tuple[list[Case], int]:
        """The re-plan tree's scenarios, and one of them that follows the future through step i (all do:
        a stage's parameters are known at its start)."""
        return generate_from(self.sc, self.history(future, i), self.classes).cases, 0

    def likeliest(self, future: Future, i: int) -> Case:
        """The one future `naive` plans for: events in force last their likeliest rest, none starts."""
        codes = likeliest_continuation(self.process, self.stages, self.history(future, i))
        return single(path_scenario(self.runs, codes, 1.0).case)

    def first_cases(self) -> list[Case]:
        return list(self.sc.cases)

    def realised(self, future: Future) -> Case:
        return single(path_scenario(self.runs, future.codes, 1.0).case)


class ListedWorld:
    """Futures among listed scenarios. A step starts at period 0 and wherever the future becomes
    distinguishable from scenarios it could still have been (its node of the scenario tree has fewer
    scenarios than the node before); the re-plan tree is the scenarios still indistinguishable from
    it, probabilities renormalised."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.cases = list(sc.cases)
        self.data = build_data(sc)

    def _members(self, t: int, k: int) -> np.ndarray:
        node_of = self.data.tree.node_of
        return np.flatnonzero(node_of[t] == node_of[t, k])

    def steps(self, future: Future) -> list[Step]:
        k, T = future.scenario, self.data.calendar.periods
        starts = [0] + [t for t in range(1, T) if len(self._members(t, k)) < len(self._members(t - 1, k))]
        return [Step(a, b, int(self.data.tree.node_of[a, k])) for a, b in zip(starts, [*starts[1:], T])]

    def _start(self, future: Future, i: int) -> np.ndarray:
        return self._members(self.steps(future)[i].start, future.scenario)

    def tree(self, future: Future, i: int) -> tuple[list[Case], int]:
        members = self._start(future, i)
        total = float(self.data.prob[members].sum())
        cases = [self.cases[k].model_copy(update={"probability": float(self.data.prob[k]) / total}) for k in members]
        return cases, int(np.flatnonzero(members == future.scenario)[0])

    def likeliest(self, future: Future, i: int) -> Case:
        """The reference scenario (SPEC 7.3's rule) among those still possible."""
        possible = [self.cases[k] for k in self._start(future, i)]
        return single(possible[reference_scenario([c.name for c in possible], [c.probability for c in possible])])

    def first_cases(self) -> list[Case]:
        return self.cases

    def realised(self, future: Future) -> Case:
        return single(self.cases[future.scenario])


World = ProcessWorld | ListedWorld


def world_of(sc: Scenario) -> World:
    return ProcessWorld(sc) if sc.disruptions is not None else ListedWorld(sc)


# --- one policy's re-plans ---------------------------------------------------------------------------


Executed = dict[str, np.ndarray]
"""Executed decisions by family (`EXECUTED`), [entity, period], NaN where nothing was executed yet."""


@dataclass(frozen=True)
class Outcome:
    """What one policy did in one future. Amounts per material and period in units; money in the
    scenario's currency, discounted as C_k is."""

    status: SolveStatus
    """`optimal`, or what a re-plan that found no plan ended with (at period `failed_at`)."""
    failed_at: int | None = None
    cost: float | None = None
    """C_k of SPEC 4.2 for this future alone, every executed decision fixed."""
    money: float | None = None
    """The part of `cost` that is money paid or received (no penalties, no risk premium)."""
    stock: np.ndarray | None = None
    """[M, T] end-of-period stock."""
    shortfall: np.ndarray | None = None
    """[M, T] unmet demand."""
    surplus: np.ndarray | None = None
    """[M, T] disposed of."""
    decisions: dict[str, np.ndarray] = field(default_factory=dict)
    """Executed orders and builds: buy [S, T], process [P, T], build_source [S, T], build_processor [P, T]."""


@dataclass(frozen=True)
class StepResult:
    """Decisions executed through a step (the step's own and every earlier one), or where it failed; and
    the final basis of its re-plan, for the next re-plan of the same future to start from."""

    executed: Executed | None
    failed_at: int | None = None
    status: SolveStatus = SolveStatus.OPTIMAL
    basis: LabelledBasis | None = None


@dataclass(frozen=True)
class FirstPlan:
    """The plan made at period 0 on the whole scenario tree (what `optimize` solves) and the decisions
    of its reference scenario (SPEC 7.3) in every period: what `static` executes."""

    form: Formulation
    x: np.ndarray
    objective: float
    reference: str
    decisions: Executed
    basis: LabelledBasis | None


class Simulation:
    """The policies of SPEC 9 played in futures of one scenario. Keeps the first plan and the re-plans a
    future shares with the futures played before it (same states, same re-plans), so futures played
    in sorted order (`Future` orders by history) re-use the re-plans of their common past."""

    def __init__(self, sc: Scenario, options: SolverOptions | None = None, warm: bool = True):
        self.sc = sc
        self.world = world_of(sc)
        self.options = options or SolverOptions(threads=1)
        self.warm = warm
        """Start each re-plan from the previous one's basis (False: from scratch; for measuring)."""
        self._first: FirstPlan | None = None
        self._steps: dict[tuple[str, Hashable], StepResult] = {}
        self.solves = {"replans": 0, "evaluations": 0}

    # --- problems -------------------------------------------------------------------------------

    def _problem(self, cases: list[Case], planning_rules: bool = True) -> Scenario:
        """The scenario with `cases` as its listed scenarios, over the whole horizon. One case: no CVaR
        (it is the cost itself). Without `planning_rules`, no budgets and no share limits (rules on
        decisions the problem does not make)."""
        update: dict = {"scenarios": cases, "disruptions": None}
        if len(cases) == 1:
            update["risk"] = self.sc.risk.model_copy(update={"aversion": 0.0})
        if not planning_rules:
            update.update(budgets=[], limits=[])
        return self.sc.model_copy(update=update)

    def _formulate(self, cases: list[Case], planning_rules: bool = True) -> Formulation:
        """The LP of `_problem(cases, planning_rules)`."""
        return formulate(build_data(self._problem(cases, planning_rules)))

    @property
    def first_plan(self) -> FirstPlan:
        if self._first is None:
            problem = self._problem(self.world.first_cases())
            form = formulate(build_data(problem))
            session = SolverSession(form.lp.standard_form(), self.options)
            result = session.solve()
            self.solves["replans"] += 1
            if not result.status.is_optimal:
                raise PlanError(f"the first plan (period 0, every scenario) is {result.status}: run "
                                "`optimize` on the scenario for the explanation")
            d = form.data
            k = reference_scenario(d.scenarios, d.prob)
            decisions = executed_on_path(empty_executed(d), form, result.x, k, 0, d.calendar.periods)
            warm = self.warm and not form.lp.has_integers
            self._first = FirstPlan(form, result.x, float(result.objective), d.scenarios[k], decisions,
                                    LabelledBasis.of(labels(form), session) if warm else None)
        return self._first

    # --- playing ----------------------------------------------------------------------------------

    def play(self, future: Future) -> dict[str, Outcome]:
        """Every policy in `future`: its re-plans, executed decisions and realised outcome."""
        out = {}
        for policy in POLICIES:
            last = self.trajectory(policy, future)[-1]
            out[policy] = (self._evaluate(future, last.executed) if last.failed_at is None
                           else Outcome(last.status, failed_at=last.failed_at))
        # a later future (in sorted order) shares only states of this one's path: drop the rest
        path = {(policy, step.state) for policy in POLICIES for step in self.world.steps(future)}
        self._steps = {key: value for key, value in self._steps.items() if key in path}
        return out

    def trajectory(self, policy: str, future: Future) -> list[StepResult]:
        """What `policy` had executed after each of its re-plans in `future` (up to one that failed)."""
        result = StepResult(empty_executed(self.first_plan.form.data))
        out = []
        for i, step in enumerate(self.world.steps(future)):
            key = (policy, step.state)
            cached = self._steps.get(key)
            if cached is None:
                cached = self._steps[key] = self._replan(policy, future, i, step, result)
            result = cached
            out.append(result)
            if result.failed_at is not None:
                break
        return out

    def _replan(self, policy: str, future: Future, i: int, step: Step, before: StepResult) -> StepResult:
        """Re-plan at `step` with the past fixed at what was executed `before`, starting from the basis of
        that re-plan; execute the step's periods."""
        executed = before.executed
        if policy == "rolling":
            cases, follow = self.world.tree(future, i)
            first = self.first_plan
            if i == 0 and [c.name for c in cases] == first.form.data.scenarios:
                return StepResult(executed_on_path(executed, first.form, first.x, follow, step.start, step.end),
                                  basis=first.basis)
        else:
            cases, follow = [self.world.likeliest(future, i)], 0
        form = self._formulate(cases, planning_rules=policy != "static")
        problem = form.lp.standard_form()
        session = SolverSession(problem, self.options)
        cols, values = fixed_past(form, executed, step.start)
        if policy == "static":
            more, more_values, process, process_hi = self._first_plan_orders(form, problem, cols, values, step.start)
            cols, values = np.concatenate([cols, more]), np.concatenate([values, more_values])
            session.set_column_bounds(process, problem.col_lo[process], process_hi)
        session.fix_columns(cols, values)
        # A MILP's branch and bound starts from no basis of ours; an LP's labels are computed once, for
        # its start basis and its final one.
        keys = labels(form) if self.warm and not form.lp.has_integers else None
        if keys is not None and before.basis is not None:
            session.start_from(before.basis.carried_to(keys, problem))
        result = session.solve()
        self.solves["replans"] += 1
        if not result.status.is_optimal:
            return StepResult(None, failed_at=step.start, status=result.status)
        last = i == len(self.world.steps(future)) - 1  # no re-plan of this future starts from the last
        return StepResult(executed_on_path(executed, form, result.x, follow, step.start, step.end),
                          basis=None if last or keys is None else LabelledBasis.of(keys, session))

    def _first_plan_orders(self, form: Formulation, problem: StandardForm, cols: np.ndarray, values: np.ndarray,
                           start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What `static` fixes from period `start` on: its first plan's builds, and its orders as far as
        this problem allows them (the source's bounds with those builds: an order the future bans or cuts
        is placed in part or not at all); and the upper bounds of processing (its first plan's amounts).
        Returns (columns, values, processing columns, their upper bounds)."""
        plan = self.first_plan.decisions
        tree = form.data.tree
        build_cols, build_values, buy_cols, buy_plan = [], [], [], []
        for name in ORDERS:
            fam = form.lp.vars.get(name)
            if fam is None:
                continue
            t = tree.t[fam.node]
            later = t >= start
            planned = np.nan_to_num(plan[name][fam.entity[later], t[later]])
            (buy_cols if name == "buy" else build_cols).append(fam.cols[later])
            (buy_plan if name == "buy" else build_values).append(planned)
        fixed_cols = np.concatenate([cols, *build_cols])
        fixed_values = np.concatenate([values, *build_values])
        buy = np.concatenate(buy_cols)
        allowed = implied_upper_bounds(problem, fixed_cols, fixed_values, buy)
        bought = np.minimum(np.concatenate(buy_plan), allowed)
        fam = form.lp.vars["process"]
        t = tree.t[fam.node]
        later = t >= start
        process_hi = np.minimum(problem.col_hi[fam.cols[later]],
                                np.nan_to_num(plan["process"][fam.entity[later], t[later]]))
        return (np.concatenate([*build_cols, buy]), np.concatenate([*build_values, bought]), fam.cols[later],
                process_hi)

    def _evaluate(self, future: Future, executed: Executed) -> Outcome:
        """The realised outcome: C_k of SPEC 4.2 for the future alone, every executed decision fixed;
        shortfall and below-target follow (the balance and target rows)."""
        form = self._formulate([self.world.realised(future)], planning_rules=False)
        session = SolverSession(form.lp.standard_form(), self.options, canonical=False)
        cols, values = fixed_past(form, executed, form.data.calendar.periods)
        session.fix_columns(cols, values)
        result = session.solve()
        self.solves["evaluations"] += 1
        if not result.status.is_optimal:  # the executed decisions were feasible step by step
            raise RuntimeError(f"the executed decisions are {result.status} in their own future")
        x = result.x
        terms = cost_terms(form.data, form.lp)
        breakdown = cost_breakdown(form.data, scenario_terms(form, terms, x))["expected"]["discounted"]
        dense = lambda name: per_period(form, x, name)  # noqa: E731
        return Outcome(
            SolveStatus.OPTIMAL,
            cost=float(scenario_costs(form, terms, x)[0]),
            money=breakdown["money"],
            stock=dense("stock"),
            shortfall=dense("short"),
            surplus=dense("surplus"),
            decisions={name: dense(name) for name in ("buy", "process", "build_source", "build_processor")},
        )


class PlanError(InfeasibleError):
    """The first plan cannot be made: there is nothing to simulate."""


# --- carrying a basis from one re-plan to the next ------------------------------------------------------


@dataclass(frozen=True)
class LabelledBasis:
    """A re-plan's final basis keyed by what each column and row stands for: its family, its labels
    (entity, budget, ...) and the parameters along its node's path. The next re-plan of the same future
    is another tree, but its nodes that follow the same parameters are the same decisions: they start
    where this one ended (the rest starts nonbasic, rows basic; HiGHS repairs the count)."""

    col_keys: np.ndarray
    col_status: np.ndarray
    row_keys: np.ndarray
    row_status: np.ndarray

    @classmethod
    def of(cls, keys: tuple[np.ndarray, np.ndarray], session: SolverSession) -> LabelledBasis | None:
        """The basis `session` holds, keyed by `keys`, the `labels` of its formulation."""
        basis = session.basis()
        if basis is None:
            return None
        cols, rows = keys
        c, r = np.argsort(cols), np.argsort(rows)
        return cls(cols[c], basis.cols[c], rows[r], basis.rows[r])

    def carried_to(self, keys: tuple[np.ndarray, np.ndarray], problem: StandardForm) -> Basis:
        """This basis for `problem`, whose columns and rows have the `labels` `keys`."""
        cols, rows = keys
        col_status = _look_up(self.col_keys, self.col_status, cols, BasisStatus.AT_LOWER)
        row_status = _look_up(self.row_keys, self.row_status, rows, BasisStatus.BASIC)
        return Basis(_on_finite_bounds(col_status, problem.col_lo, problem.col_hi),
                     _on_finite_bounds(row_status, problem.row_lo, problem.row_hi))


def _look_up(keys: np.ndarray, status: np.ndarray, wanted: np.ndarray, default: int) -> np.ndarray:
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
    return np.where(found, status[at] if len(keys) else default, default).astype(np.int8)


def _on_finite_bounds(status: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Nonbasic entries moved to a bound they have (a carried status may name one this problem lacks)."""
    lower, upper = np.isfinite(lo), np.isfinite(hi)
    nonbasic = status != BasisStatus.BASIC
    out = status.copy()
    out[nonbasic & (status == BasisStatus.AT_UPPER) & ~upper] = BasisStatus.AT_LOWER
    out[nonbasic & (out == BasisStatus.AT_LOWER) & ~lower] = BasisStatus.AT_UPPER
    out[nonbasic & ~lower & ~upper] = BasisStatus.AT_ZERO
    out[nonbasic & (out == BasisStatus.AT_ZERO) & lower] = BasisStatus.AT_LOWER
    return out


_PRIME = np.uint64(0x100000001B3)


def _mixed(parts: list[np.ndarray]) -> np.ndarray:
    """64-bit keys of tuples given column-wise (FNV-style multiply and xor; wrap-around intended)."""
    out = np.full(len(parts[0]), np.uint64(0xCBF29CE484222325))
    with np.errstate(over="ignore"):
        for part in parts:
            out = (out ^ np.asarray(part).astype(np.uint64)) * _PRIME
    return out


def _name_key(name: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little"))


def node_keys(d: ModelData) -> np.ndarray:
    """Per node of the scenario tree, a 64-bit key of the parameters along its path (equal in any tree
    that has a node with the same past)."""
    signature = rule_signature({name: getattr(d, name) for name in RULE_PARAMETERS})
    tree = d.tree
    keys = np.zeros(tree.size, dtype=np.uint64)
    for n in range(tree.size):  # parents are numbered before their children
        digest = hashlib.blake2b(digest_size=8)
        if tree.parent[n] >= 0:
            digest.update(keys[tree.parent[n]].tobytes())
        digest.update(np.ascontiguousarray(signature[:, tree.t[n], tree.rep[n]]).tobytes())
        keys[n] = np.uint64(int.from_bytes(digest.digest(), "little"))
    return keys


def labels(form: Formulation) -> tuple[np.ndarray, np.ndarray]:
    """64-bit keys of every column and every row of a formulation (see `LabelledBasis`)."""
    lp = form.lp
    nodes = node_keys(form.data)
    cols = np.zeros(lp.n_cols, dtype=np.uint64)
    for name, fam in lp.vars.items():
        cols[fam.cols] = _mixed([np.full(len(fam.entity), _name_key(name)), fam.entity, nodes[fam.node]])
    rows = np.zeros(lp.n_rows, dtype=np.uint64)
    for name, fam in lp.rows.items():
        parts = [np.full(fam.size, _name_key(name))]
        parts += [fam.labels[key] for key in sorted(fam.labels) if key != "node"]
        parts.append(nodes[fam.labels["node"]])
        rows[fam.first: fam.first + fam.size] = _mixed(parts)
    return cols, rows


# --- executed decisions ------------------------------------------------------------------------------


def empty_executed(d: ModelData) -> Executed:
    T = d.calendar.periods
    return {name: np.full((len(getattr(d, FAMILIES[name].entities)), T), np.nan) for name in EXECUTED}


def executed_on_path(executed: Executed, form: Formulation, x: np.ndarray, k: int, start: int, end: int
                     ) -> Executed:
    """`executed` with the decisions of periods start..end-1 of scenario k's path in the plan `x` added."""
    tree = form.data.tree
    out = {name: values.copy() for name, values in executed.items()}
    for name in EXECUTED:
        fam = form.lp.vars.get(name)
        if fam is None:
            continue
        t = tree.t[fam.node]
        on = (t >= start) & (t < end) & (tree.node_of[t, k] == fam.node)
        out[name][fam.entity[on], t[on]] = x[fam.cols[on]]
    return out


def fixed_past(form: Formulation, executed: Executed, start: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of every executed decision of the periods before `start`. Each of those
    columns was executed (the problem has the same past as the plans that executed it)."""
    tree = form.data.tree
    cols, values = [], []
    for name in EXECUTED:
        fam = form.lp.vars.get(name)
        if fam is None:
            continue
        t = tree.t[fam.node]
        past = t < start
        done = executed[name][fam.entity[past], t[past]]
        if np.isnan(done).any():
            raise RuntimeError(f"{name}: a decision of the past was never executed")
        cols.append(fam.cols[past])
        values.append(done)
    return np.concatenate(cols), np.concatenate(values)


def implied_upper_bounds(problem: StandardForm, fixed: np.ndarray, values: np.ndarray, cols: np.ndarray
                         ) -> np.ndarray:
    """The largest value each column of `cols` can take with the columns `fixed` at `values`: its own
    upper bound and, for every row in which it is the only column not fixed, what the row leaves it."""
    from scipy.sparse import csc_matrix

    x = np.full(problem.n_cols, np.nan)
    x[fixed] = values
    is_fixed = ~np.isnan(x)
    A = csc_matrix((problem.values, problem.indices, problem.indptr), shape=(problem.n_rows, problem.n_cols))
    free_count = np.asarray((A != 0).astype(np.int64) @ (~is_fixed).astype(np.int64)).ravel()
    fixed_activity = A @ np.where(is_fixed, x, 0.0)
    out = problem.col_hi[cols].astype(float).copy()
    sub = A[:, cols].tocoo()
    only = free_count[sub.row] == 1
    r, c, a = sub.row[only], sub.col[only], sub.data[only]
    room = np.where(a > 0, (problem.row_hi[r] - fixed_activity[r]) / a, (problem.row_lo[r] - fixed_activity[r]) / a)
    np.minimum.at(out, c, np.where(np.isfinite(room), room, np.inf))
    return np.maximum(out, problem.col_lo[cols])


def per_period(form: Formulation, x: np.ndarray, name: str) -> np.ndarray:
    """A family's values in a one-scenario problem, [entity, period] (0 where it has no column)."""
    d = form.data
    out = np.zeros((len(getattr(d, FAMILIES[name].entities)), d.calendar.periods))
    fam = form.lp.vars.get(name)
    if fam is not None:
        out[fam.entity, d.tree.t[fam.node]] = x[fam.cols]
    return out


@dataclass(frozen=True)
class SimulationResult:
    """Every drawn future (in draw order) with its name and every policy's outcome in it."""

    scenario: Scenario
    seed: int
    futures: list[Future]
    names: dict[Future, str]
    outcomes: dict[Future, dict[str, Outcome]]
    first_plan: dict
    """The first plan's objective and reference scenario."""
    run: dict

    @property
    def materials(self) -> list[str]:
        return [m.id for m in self.scenario.materials]

    @property
    def demanded(self) -> list[int]:
        """Materials with demand in some period (the only ones that can fall short)."""
        cal = Calendar.of(self.scenario.horizon)
        return [i for i, m in enumerate(self.scenario.materials) if cal.series(m.demand).max() > 0]

    @property
    def labels(self) -> list[str]:
        return Calendar.of(self.scenario.horizon).labels


# --- many futures: in this process, in worker processes or on a Dask cluster -----------------------------


@dataclass(frozen=True)
class Played:
    """The outcomes of every policy in one (distinct) future."""

    future: Future
    outcomes: dict[str, Outcome]


_SIMULATIONS: dict[str, Simulation] = {}  # per process: the last scenario's simulation (its first plan)


def scenario_key(sc: Scenario) -> str:
    return hashlib.sha256(sc.model_dump_json(by_alias=True).encode()).hexdigest()


def play_chunk(sc: Scenario, futures: Sequence[Future]) -> list[Played]:
    """Play every policy in each future of a chunk (sorted futures share re-plans); what a worker runs."""
    key = scenario_key(sc)
    simulation = _SIMULATIONS.get(key)
    if simulation is None:
        _SIMULATIONS.clear()  # a long-lived Dask worker keeps one scenario's first plan, not every one's
        simulation = _SIMULATIONS[key] = Simulation(sc)
    return [Played(f, simulation.play(f)) for f in futures]


#: Runs of neighbouring futures per worker process (or Dask worker thread): enough to balance the load,
#: few enough that each run shares most of its re-plans.
RUNS_PER_WORKER = 4


def chunks(futures: Sequence[Future], count: int) -> list[list[Future]]:
    """Sorted distinct futures cut into at most `count` runs of neighbours (who share the most re-plans)."""
    distinct = sorted(set(futures))
    size = max(1, math.ceil(len(distinct) / max(count, 1)))
    return [distinct[i:i + size] for i in range(0, len(distinct), size)]


def play_futures(sc: Scenario, futures: Sequence[Future], workers: int = 1, scheduler: str | None = None,
                 progress: Callable[[int], None] | None = None, local: Simulation | None = None
                 ) -> dict[Future, dict[str, Outcome]]:
    """Play every policy in every distinct future: in this process (`local`, or a new simulation) when
    workers is 1, in worker processes, or on the Dask cluster at `scheduler` (workers get the validated
    scenario and the futures; results come back here; a lost worker's chunks are run again).
    `progress(n)` as n more distinct futures are done."""
    tick = progress or (lambda n: None)
    out = {}
    if scheduler is None and workers <= 1:
        simulation = local or Simulation(sc)
        for future in sorted(set(futures)):
            out[future] = simulation.play(future)
            tick(1)
        return out
    done = (_on_dask(scheduler, sc, futures) if scheduler is not None
            else _in_processes(workers, sc, chunks(futures, RUNS_PER_WORKER * workers)))
    for played in done:
        for p in played:
            out[p.future] = p.outcomes
        tick(len(played))
    return out


def _in_processes(workers: int, sc: Scenario, parts: list[list[Future]]) -> Iterable[list[Played]]:
    """Chunks played in `workers` processes, yielded as they finish; on an error or Ctrl-C the processes
    are stopped at once (not after their current chunk)."""
    import multiprocessing

    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        yield from pool.imap_unordered(_play_part, [(sc, part) for part in parts])
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()


def _play_part(job: tuple[Scenario, list[Future]]) -> list[Played]:
    return play_chunk(*job)


#: Seconds to wait for the Dask scheduler before giving up.
DASK_CONNECT_SECONDS = 30
#: How often Dask runs a chunk again after it raised (a lost worker's chunks are re-run by the scheduler
#: itself, up to its `allowed-failures`).
DASK_RETRIES = 3


def _on_dask(address: str, sc: Scenario, futures: Sequence[Future]) -> Iterable[list[Played]]:
    """Runs of futures played on the cluster at `address`, `RUNS_PER_WORKER` per worker thread it has
    when the work is sent, yielded as they finish."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'mineral-stockpile-optimizer[sweep]'") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address}: cannot reach a Dask scheduler there ({exc})") from None
    with client:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        parts = chunks(futures, RUNS_PER_WORKER * max(threads, 1))
        shared = client.scatter(sc, broadcast=True)
        token = hashlib.sha256(f"{scenario_key(sc)}-{time.time_ns()}".encode()).hexdigest()[:12]
        pending = [client.submit(play_chunk, shared, part, key=f"simulate-{token}-{i}", retries=DASK_RETRIES,
                                 pure=False) for i, part in enumerate(parts)]
        for done in as_completed(pending):
            yield done.result()


# --- the command ----------------------------------------------------------------------------------------


def run_simulation(sc: Scenario, n: int, seed: int = 0, workers: int = 1, scheduler: str | None = None,
                   progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Draw n futures and play every policy in each (SPEC 9). The first plan is made here first: a
    scenario whose first plan is infeasible stops before any future is played."""
    clock = time.perf_counter()
    local = Simulation(sc)
    first = local.first_plan
    futures = draw_futures(sc, n, seed)
    names = {f: local.world.realised(f).name for f in set(futures)}
    outcomes = play_futures(sc, futures, workers, scheduler, progress, local)
    from optimizer.pipeline import package_versions

    run = {"seconds": time.perf_counter() - clock, "workers": workers, "scheduler": scheduler,
           "futures": n, "distinct_futures": len(names), "versions": package_versions(),
           "solves_on_this_process": dict(local.solves)}
    return SimulationResult(sc, seed, futures, names, outcomes,
                            {"objective": first.objective, "reference_scenario": first.reference}, run)


def simulate_command(path: str | Path, futures: int, seed: int = 0, workers: int = 1, scheduler: str | None = None,
                     out: str | Path | None = None, progress: Callable[[int, int], None] | None = None,
                     charts: bool = True, force: bool = False) -> tuple[SimulationResult, Path]:
    """`optimize simulate SCENARIO --futures N ...`: load and validate, check the result folder (default
    results/<name>-simulate/; a folder that is not a result folder only with `force`), simulate, and
    write the folder in one atomic swap. `progress(done, total)` counts distinct futures."""
    from optimizer.destination import check_destination, staged, write_files
    from optimizer.pipeline import load_scenario
    from optimizer.simulate_output import LONGEST_FILE, simulation_files

    sc = load_scenario(path)
    dest = check_destination(Path(out) if out is not None else Path("results") / f"{sc.name}-simulate",
                             force=force, inputs=[path], deepest=LONGEST_FILE)
    total = len(set(draw_futures(sc, futures, seed)))
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    result = run_simulation(sc, futures, seed, workers, scheduler, tick)
    with staged(dest) as folder:
        write_files(folder, simulation_files(result, charts=charts))
    return result, dest.path
