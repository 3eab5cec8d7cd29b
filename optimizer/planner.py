"""Warm re-solves: build the model once, change coefficients in HiGHS in place, re-solve from the basis.

Changes go through the solver session (`solve.SolverSession`), which keeps HiGHS's basis
(PERF-FACTS: Pyomo's persistent interfaces cost ~8x the raw warm re-solve). The formulation stays
the one in `model/lp.py`: an update re-formulates the changed scenario and pushes only the differing
coefficients.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from optimizer.data import build_data
from optimizer.errors import Problem, ScenarioError
from optimizer.model.lp import formulate
from optimizer.overrides import PriceRow, price_series, replace_prices
from optimizer.pipeline import finish
from optimizer.results import Solution
from optimizer.solve import SolverOptions, SolverSession
from optimizer.spec import Scenario, _validate_series


class Planner:
    """A scenario's model kept in HiGHS between solves.

    >>> planner = Planner(load_scenario("scenarios/baseline.yaml"))
    >>> first = planner.solve()
    >>> planner.update_prices({"cn-dysprosium": 400.0})
    >>> second = planner.solve()          # starts from the previous basis
    """

    def __init__(self, scenario: Scenario, options: SolverOptions | None = None):
        self.options = options or SolverOptions()
        self.scenario = scenario
        self.timings: dict[str, float] = {}
        self._load(scenario)

    def _load(self, scenario: Scenario) -> None:
        clock = time.perf_counter()
        self.data = build_data(scenario)
        self.form = formulate(self.data)
        self.timings["formulate"] = time.perf_counter() - clock
        self.problem = self.form.lp.standard_form()
        self.session = SolverSession(self.problem, self.options)

    def solve(self, seed: bool = True) -> Solution:
        """Solve (warm after an update) and return the Solution. A MILP is re-solved whole, offered
        the previous plan as its first incumbent when `seed` (SolverSession.solve)."""
        result = self.session.solve(seed=seed)
        return finish(self.form, self.session, self.problem, result, self.scenario,
                      {**self.timings, **result.timings})

    def update(self, scenario: Scenario) -> int:
        """Switch to a changed scenario. Same variables and rows (e.g. new prices, demands, capacities,
        budgets): the changed coefficients are pushed in place and the basis is kept; returns how many.
        Otherwise (e.g. a new ban removes variables) the model is rebuilt; returns -1."""
        clock = time.perf_counter()
        data = build_data(scenario)
        form = formulate(data)
        if self.form.lp.same_structure(form.lp):
            problem = form.lp.standard_form()
            changes = self.session.update(problem)
            self.data, self.form, self.scenario, self.problem = data, form, scenario, problem
            self.timings = {"update": time.perf_counter() - clock}
            return changes
        self.scenario = scenario
        self._load(scenario)
        return -1

    def update_prices(self, prices: Mapping[str, Any] | list[PriceRow]) -> int:
        """Replace source prices: {source id: SERIES} or rows of a price file; then `update` (a price
        change keeps the structure, so only the changed costs and coefficients reach HiGHS)."""
        if isinstance(prices, list):
            series = price_series(self.scenario, prices)
        else:
            known = [s.id for s in self.scenario.sources]
            problems = []
            series = {}
            for source, value in prices.items():
                if source not in known:
                    hint = difflib.get_close_matches(source, known, n=1)
                    problems.append(Problem(("prices", source), f"unknown source `{source}`"
                                            + (f"; did you mean `{hint[0]}`?" if hint else "")))
                    continue
                try:
                    parsed = _validate_series(list(value) if isinstance(value, (tuple, np.ndarray)) else value)
                except Exception as exc:  # noqa: BLE001 - pydantic's custom error carries the message
                    problems.append(Problem(("prices", source), str(exc)))
                    continue
                series[source] = self.data.calendar.series(parsed)
            if problems:
                raise ScenarioError(problems)
        return self.update(replace_prices(self.scenario, series))
