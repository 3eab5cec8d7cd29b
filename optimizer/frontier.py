"""`optimize frontier`: the cost-risk frontier (SPEC 7.5), the plan at risk aversion 0 to 1.

One LP, the scenario's with its CVaR columns, held in one session: each point re-solves it warm
with the objective (1 - a) * expected cost + a * CVaR, then, among the plans that reach that
optimum, takes the one with the least expected cost (at a = 0: the least CVaR), by a second solve
restricted to the optimal face. No point is then dominated: at 0 < a < 1 a plan beaten in both
expected cost and CVaR would have a lower objective; at a = 0 and a = 1 the second solve removes
the ties. As a grows, expected cost never falls and CVaR never rises (two optimality conditions
added up; docs/analytics.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.data import ModelData, build_data
from optimizer.errors import OptimizerError, no_plan_error
from optimizer.model.lp import Formulation, cost_terms, formulate
from optimizer.results import cvar, scenario_cash, scenario_costs
from optimizer.solve import SolverOptions, SolverSession, SolveStatus
from optimizer.spec import Scenario

if TYPE_CHECKING:
    from optimizer.destination import Destination

COLUMNS = ["aversion", "objective", "expected_cost", "cvar", "cash_spend"]


def risk_formulation(data: ModelData) -> tuple[Formulation, np.ndarray, np.ndarray]:
    """The LP with its CVaR columns whatever the aversion (formulated at 1/2), and the costs of its
    two parts: the objective at aversion a is (1 - a) * expected + a * cvar (SPEC 4.3), with
    `expected` on the plan's columns and `cvar` on eta and the excesses."""
    form = formulate(dataclasses.replace(data, aversion=0.5))
    cost = np.concatenate(form.lp.cost) * 2.0
    risk = np.zeros(len(cost), dtype=bool)
    for name in ("eta", "excess"):
        risk[form.lp.vars[name].cols] = True
    return form, np.where(risk, 0.0, cost), np.where(risk, cost, 0.0)


def frontier(scenario: Scenario, points: int = 11, options: SolverOptions | None = None) -> pd.DataFrame:
    """frontier.csv: aversion, objective, expected_cost, cvar and cash_spend at `points` aversions
    evenly spaced from 0 to 1."""
    form, expected, risk = risk_formulation(build_data(scenario))
    d = form.data
    terms = cost_terms(d, form.lp)
    session = SolverSession(form.lp.standard_form(), options)
    every = np.arange(session.n_cols)
    rows = []
    for a in np.linspace(0.0, 1.0, points):
        session.set_costs(every, (1.0 - a) * expected + a * risk)
        first = session.solve(canonical=False)
        if not first.status.is_optimal:
            raise _failure(first.status, a)
        with session.optimal_face(first):
            session.set_costs(every, risk if a == 0 else expected)
            best = session.solve()
        if not best.status.is_optimal:
            raise _failure(best.status, a)
        costs = scenario_costs(form, terms, best.x)
        mean, tail = float(d.prob @ costs), cvar(costs, d.prob, d.alpha)
        rows.append({"aversion": float(a), "objective": (1.0 - a) * mean + a * tail, "expected_cost": mean,
                     "cvar": tail, "cash_spend": float(d.prob @ scenario_cash(form, terms, best.x))})
    return pd.DataFrame(rows, columns=COLUMNS)


def _failure(status: SolveStatus, aversion: float) -> OptimizerError:
    """The error of a frontier point without a plan (exit code by its status, as for `optimize`)."""
    return no_plan_error(status, f"the plan is {status.replace('_', ' ')} at risk aversion {aversion:g} (run "
                         "`optimize SCENARIO.yaml` for the explanation)")


def write_frontier(table: pd.DataFrame, scenario: Scenario, dest: Destination) -> list[str]:
    """Write the frontier's folder at a checked destination in one atomic swap (optimizer.destination):
    frontier.csv and, when matplotlib is installed (the report extra), the chart frontier.png;
    returns the file names written."""
    from optimizer.destination import staged, write_files
    from optimizer.export import csv_bytes
    files = {"frontier.csv": csv_bytes(table)}
    try:
        from optimizer.report.charts import frontier_chart
        from optimizer.report.figures import render_png

        files["frontier.png"] = render_png(frontier_chart(table, scenario.currency))
    except ImportError:
        pass
    with staged(dest) as folder:
        write_files(folder, files)
    return sorted(files)
