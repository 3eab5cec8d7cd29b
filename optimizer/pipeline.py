"""The one place the stages are chained: file -> Scenario -> ModelData -> LP -> SolveResult -> Solution."""

from __future__ import annotations

import functools
import gc
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.checks import validate
from optimizer.data import build_data
from optimizer.explain import explain_failure
from optimizer.numerics import coefficient_warnings
from optimizer.loader import read_yaml
from optimizer.model.lp import formulate
from optimizer.overrides import apply_prices, apply_set, read_prices
from optimizer.solve import Route, SolverOptions, highs_version, solve_lp
from optimizer.spec import Scenario

if TYPE_CHECKING:
    from optimizer.results import Solution

Progress = Callable[[str, float], None]


def load_scenario(path: str | Path, sets: Sequence[str] = (), prices: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file, with `--set PATH=VALUE` overrides applied before validation
    and a `--prices` CSV applied after; raises ScenarioError listing every problem."""
    raw, smap = read_yaml(path)
    for assignment in sets:
        apply_set(raw, assignment)
    scenario = validate(raw, smap)
    if prices is not None:
        scenario = apply_prices(scenario, read_prices(prices))
    return scenario


def solve(scenario: Scenario | dict[str, Any], options: SolverOptions | None = None, route: Route = "auto",
          progress: Progress | None = None, baseline: str | Path | None = None,
          stability_gap: float = 0.001) -> Solution:
    """Solve a scenario (a validated Scenario or a plain dict) and return the Solution.

    With `baseline` (a result folder), a second LP picks, among plans within `stability_gap`
    (relative) of the optimum, the one whose purchases are closest (L1) to the baseline's.
    """
    if not isinstance(scenario, Scenario):
        scenario = validate(scenario)
    timings: dict[str, float] = {}
    report = progress or (lambda stage, seconds: None)

    clock = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # cyclic GC off while building: the largest single win measured (PERF-FACTS)
    try:
        data = build_data(scenario)
        timings["data"] = time.perf_counter() - clock
        clock = time.perf_counter()
        form = formulate(data)
        timings["formulate"] = time.perf_counter() - clock
        report("build", timings["data"] + timings["formulate"])
        result = solve_lp(form.lp, options, route=route, name=scenario.name, meanwhile=import_output_stage)
    finally:
        if gc_was_enabled:
            gc.enable()
    timings.update(result.timings)
    report("solve", result.timings.get("solve", 0.0))
    stability = None
    if baseline is not None and result.status == "optimal":
        result, stability = _stabilize(form, result, baseline, stability_gap, options, route, scenario.name)
        timings["stability_solve"] = result.timings.get("solve", 0.0)
        report("replan", timings["stability_solve"])
    clock = time.perf_counter()
    from optimizer.results import build_solution

    solution = build_solution(form, result, scenario)
    if result.status in ("infeasible", "unbounded", "infeasible_or_unbounded"):
        solution.explanation = explain_failure(result.status, form, result, scenario)
    if stability is not None:
        solution.summary["stability"] = stability
    timings["results"] = time.perf_counter() - clock
    solution.run = run_info(result.info, timings, data)
    solution.run["warnings"] = coefficient_warnings(form)
    return solution


def import_output_stage() -> None:
    """Import what turns solver values into tables, files and the terminal summary (pandas, pyarrow,
    rich: ~0.3 s) while HiGHS solves on its own thread; take the one-off costs of first use (a
    table, its CSV) and the package-metadata lookups of run.json there too."""
    import numpy as np

    import optimizer.summary  # noqa: F401 - the terminal summary (rich)
    from optimizer.export import csv_bytes
    from optimizer.results import CodedTable

    csv_bytes(CodedTable({"key": np.array([1, 0]), "value": np.array([1.0, 2.0])}, {"key": ["a", "b"]})
              .ordered_by(["key"]).frame())
    package_versions()


def _stabilize(form, first, baseline, gap, options, route, name):
    """Re-solve for the plan closest to the baseline within the gap; keep the first solve's duals."""
    import numpy as np

    from optimizer.stability import baseline_targets, read_baseline, stability_lp

    targets = baseline_targets(form, read_baseline(baseline))
    second = solve_lp(stability_lp(form, first.objective, targets, gap), options, route=route, name=name)
    if second.status != "optimal":
        return first, {"baseline": str(baseline), "gap": gap, "status": second.status}
    n = form.lp.n_cols
    cost = np.concatenate(form.lp.cost)
    buy = form.lp.vars["buy"]
    prob = form.data.tree.prob[buy.node]
    distance = float(prob @ np.abs(second.x[buy.cols] - targets))
    before = float(prob @ np.abs(first.x[buy.cols] - targets))
    first.x = second.x[:n]
    first.objective = float(cost @ first.x)
    first.timings["stability_solve"] = second.timings.get("solve", 0.0)
    return first, {"baseline": str(baseline), "gap": gap, "l1_distance": distance, "l1_distance_optimal": before}


@functools.cache
def package_versions() -> dict[str, str]:
    """What produced a result (run.json): a solver or library upgrade can change a schedule."""
    from importlib.metadata import version  # package metadata: importing pyomo here would cost ~1 s

    import optimizer

    return {
        "optimizer": optimizer.__version__,
        "python": platform.python_version(),
        "highs": highs_version(),
        **{name: version(name) for name in ("highspy", "pyomo", "numpy", "scipy", "pandas", "pydantic")},
    }


def run_info(solver: dict, timings: dict[str, float], data) -> dict:
    """run.json: the non-deterministic part of a result folder (timings, versions, solver figures)."""
    return {
        "timings_seconds": timings,
        "versions": dict(package_versions()),
        "solver": solver,
        "model": {
            "scenarios": len(data.scenarios),
            "tree_nodes": int(data.tree.size),
            "periods": data.calendar.periods,
        },
    }
