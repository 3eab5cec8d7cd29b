"""Stable re-plans (`--baseline OLD_DIR`): among plans within a gap of the optimum, the cheapest of
those closest to the baseline's purchases.

A second LP, built on the first: the same rows plus `cost x <= z* + gap * |z*|`, and deviation
columns `dev >= |buy - baseline|` (rows `stability_above`, `stability_below`). Stage 1 minimises the
expected L1 distance D = sum over nodes of prob(n) * dev; stage 2 (same session, warm) bounds
D <= D* (row `distance_max`) and minimises the original cost again, so no money is spent beyond
what the closest schedule needs.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import Problem, ScenarioError
from optimizer.model.lp import Family, Formulation, LinearProgram
from optimizer.results import scenario_members
from optimizer.solve import SolverOptions, SolverSession, SolveResult, SolveStatus

INF = np.inf
DEVIATION = Family("stability_dev", "sources", "unit", "|buy - baseline buy|")


def read_baseline(folder: str | Path) -> pd.DataFrame:
    """The baseline's purchases (scenario, period, source, quantity), read like `optimize diff` reads a
    result folder (CSV or Parquet tables)."""
    from optimizer.diff import ResultFolderError, load_folder

    try:
        result = load_folder(folder)
    except ResultFolderError as exc:
        raise ScenarioError([Problem(("--baseline",), str(exc))]) from None
    if "purchases" in result.missing:
        raise ScenarioError([Problem(("--baseline",), f"{folder} has no purchases table "
                                                      "(purchases.csv or purchases.parquet)")])
    return result.tables["purchases"][["scenario", "period", "source", "quantity"]]


def baseline_targets(form: Formulation, baseline: pd.DataFrame) -> np.ndarray:
    """Baseline quantity for every buy column (mean over the node's scenarios; 0 where none)."""
    d = form.data
    buy = form.lp.vars["buy"]
    idx, k = scenario_members(d, buy.node)
    rows = pd.DataFrame({
        "column": idx,
        "scenario": np.array(d.scenarios, dtype=object)[k],
        "period": np.array(d.calendar.labels, dtype=object)[d.tree.t[buy.node[idx]]],
        "source": np.array(d.sources, dtype=object)[buy.entity[idx]],
    })
    known = baseline.groupby(["scenario", "period", "source"], as_index=False)["quantity"].sum()
    merged = rows.merge(known, on=["scenario", "period", "source"], how="left").fillna({"quantity": 0.0})
    out = np.zeros(len(buy.entity))
    mean = merged.groupby("column")["quantity"].mean()
    out[mean.index.to_numpy(dtype=int)] = mean.to_numpy(dtype=float)
    return out


def stability_lp(form: Formulation, optimum: float, targets: np.ndarray, gap: float) -> LinearProgram:
    """The second LP: the first one's rows, an objective bound, L1 deviations from `targets`, and a
    distance bound `distance_max` (free until stage 2 sets it)."""
    lp = copy.deepcopy(form.lp)
    cost = np.concatenate(lp.cost)
    for c in lp.cost:
        c[:] = 0.0
    buy = lp.vars["buy"]
    n = len(buy.entity)
    dev = lp.add_vars(DEVIATION, buy.entity, buy.node, 0.0, INF)
    lp.set_cost(dev, form.data.tree.prob[buy.node])
    rows = np.arange(n)
    lp.add_rows("stability_above", "dev - buy >= -baseline [unit]", {"entity": buy.entity, "node": buy.node},
                -targets, INF, [(rows, dev.cols, 1.0), (rows, buy.cols, -1.0)])
    lp.add_rows("stability_below", "dev + buy >= baseline [unit]", {"entity": buy.entity, "node": buy.node},
                targets, INF, [(rows, dev.cols, 1.0), (rows, buy.cols, 1.0)])
    nz = np.flatnonzero(cost)
    bound = optimum + gap * abs(optimum) + 1e-9 * max(1.0, abs(optimum))
    lp.add_rows("objective_max", "original objective <= optimum * (1 + gap) [$]", {"node": np.zeros(1, int)},
                -INF, bound, [(np.zeros(len(nz), int), nz, cost[nz])])
    lp.add_rows("distance_max", "expected L1 distance to the baseline <= D* [unit]", {"node": np.zeros(1, int)},
                -INF, INF, [(np.zeros(n, int), dev.cols, form.data.tree.prob[buy.node])])
    return lp


def stable_replan(form: Formulation, first: SolveResult, baseline: pd.DataFrame, gap: float,
                  options: SolverOptions | None) -> tuple[SolveResult, dict]:
    """The cheapest of the plans closest to `baseline` within `gap` of the optimum `first`.

    Returns the plan (with the first solve's duals: shadow prices of the true optimum) and the
    summary's `stability` entry: distance of this plan and of the free optimum to the baseline, and
    `cost_of_stability` = this plan's objective minus the optimum's.
    """
    targets = baseline_targets(form, baseline)
    lp = stability_lp(form, first.objective, targets, gap)
    problem = lp.standard_form()
    session = SolverSession(problem, options)
    closest = session.solve(canonical=False)
    if closest.status != SolveStatus.OPTIMAL:
        return first, {"gap": gap, "status": str(closest.status)}
    n = form.lp.n_cols
    buy = form.lp.vars["buy"]
    prob = form.data.tree.prob[buy.node]
    dev = lp.vars["stability_dev"]
    distance = float(prob @ closest.x[dev.cols])
    row = lp.rows["distance_max"].first
    session.set_row_bounds(np.array([row]), np.array([-INF]), np.array([distance + 1e-9 * max(1.0, distance)]))
    cost = np.zeros(problem.n_cols)
    cost[:n] = np.concatenate(form.lp.cost)
    session.set_costs(np.arange(problem.n_cols), cost)
    cheapest = session.solve()
    if cheapest.status != SolveStatus.OPTIMAL:
        cheapest = closest
    x = cheapest.x[:n]
    objective = float(cost[:n] @ x)
    before = float(prob @ np.abs(first.x[buy.cols] - targets))
    after = float(prob @ np.abs(x[buy.cols] - targets))
    timings = {**first.timings, "stability_solve": closest.timings["solve"] + cheapest.timings["solve"]}
    result = dataclasses.replace(first, x=x, objective=objective, timings=timings)
    return result, {"gap": gap, "l1_distance": after, "l1_distance_optimal": before,
                    "cost_of_stability": objective - first.objective}
