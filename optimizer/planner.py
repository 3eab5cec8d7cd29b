"""Warm re-solves: build the model once, change coefficients in HiGHS in place, re-solve from the basis.

Changes go through the solver session (`solve.SolverSession`), which keeps HiGHS's basis
(PERF-FACTS: Pyomo's persistent interfaces cost ~8x the raw warm re-solve). The formulation stays
the one in `model/lp.py`: an update re-formulates the changed scenario and pushes only the differing
coefficients.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from optimizer.data import build_data
from optimizer.errors import Problem, ScenarioError
from optimizer.model.lp import formulate, node_delivery, purchase_cost
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
        self._index_price_entries()

    def _index_price_entries(self) -> None:
        """Flatten the LP's matrix (so fast updates can keep it in step with HiGHS) and find the
        entries that depend on prices: purchase columns in `budget_max` and `node_cost_def` rows."""
        lp = self.form.lp
        *_, rows, cols, vals = lp.arrays()
        lp.a_row, lp.a_col, lp.a_val = [rows], [cols], [vals]
        buy = lp.vars["buy"]
        priced_row = np.zeros(lp.n_rows, dtype=bool)
        for name in ("budget_max", "node_cost_def"):
            fam = lp.rows.get(name)
            if fam is not None:
                priced_row[fam.first: fam.first + fam.size] = True
        in_buy = (cols >= buy.first) & (cols < buy.first + len(buy.entity))
        self._price_entries = np.flatnonzero(in_buy & priced_row[rows])

    def solve(self) -> Solution:
        """Solve (warm after an update) and return the Solution."""
        result = self.session.solve()
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
            self._index_price_entries()
            self.timings = {"update": time.perf_counter() - clock}
            return changes
        self.scenario = scenario
        self._load(scenario)
        return -1

    def update_prices(self, prices: Mapping[str, Any] | list[PriceRow]) -> int:
        """Replace source prices: {source id: SERIES} or rows of a price file; then `update`."""
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
        if self._delivery_differs_in_a_node():
            # a purchase's cost is then spread over the nodes where its delivery is known: re-formulate
            return self.update(replace_prices(self.scenario, series))
        return self._update_prices_in_place(series)

    def _delivery_differs_in_a_node(self) -> bool:
        """Whether some order is stopped by a ban `on: arrival` in only part of its node's scenarios."""
        buy = self.form.lp.vars["buy"]
        return bool((node_delivery(self.data)[0][buy.entity, buy.node] == 0).any())

    def _update_prices_in_place(self, series: dict[str, np.ndarray]) -> int:
        """Fast path: only purchase columns of the repriced sources change (their objective cost and
        their budget and CVaR-cost coefficients); the LP arrays are kept equal to HiGHS's copy."""
        clock = time.perf_counter()
        d, lp = self.data, self.form.lp
        index = {sid: i for i, sid in enumerate(d.sources)}
        price = d.price.copy()
        for sid, values in series.items():
            price[index[sid]] = values
        data = dataclasses.replace(d, price=price)
        buy = lp.vars["buy"]
        tree = data.tree
        touched = np.isin(buy.entity, [index[sid] for sid in series])
        e, n = buy.entity[touched], buy.node[touched]
        landed, disc_cost = purchase_cost(data, e, n)
        cols = buy.cols[touched]
        cost = (1.0 - data.aversion) * tree.prob[n] * disc_cost
        self.session.set_costs(cols, cost)
        lp.cost[list(lp.vars).index("buy")][touched] = cost
        rows_all, cols_all, vals_all = lp.a_row[0], lp.a_col[0], lp.a_val[0]
        entries = self._price_entries[np.isin(cols_all[self._price_entries], cols)]
        local = np.searchsorted(cols, cols_all[entries])  # cols is sorted: buy columns are consecutive
        budget = lp.rows.get("budget_max")
        is_budget = np.zeros(len(entries), dtype=bool)
        if budget is not None:
            is_budget = (rows_all[entries] >= budget.first) & (rows_all[entries] < budget.first + budget.size)
        values = np.where(is_budget, landed[local], -disc_cost[local])
        vals_all[entries] = values
        self.session.set_coefficients(rows_all[entries], cols_all[entries], values)
        self.data = data
        self.form = dataclasses.replace(self.form, data=data)
        self.scenario = replace_prices(self.scenario, series)
        self.timings = {"update": time.perf_counter() - clock}
        return len(cols) + len(entries)
