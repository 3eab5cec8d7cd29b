"""The one place the stages are chained: file -> Scenario -> ModelData -> LP -> SolveResult -> Solution."""

from __future__ import annotations

import functools
import gc
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optimizer.checks import scenario_warnings, validate
from optimizer.data import build_data
from optimizer.errors import Problem, ScenarioError
from optimizer.explain import explain_failure
from optimizer.extension import Extension
from optimizer.numerics import coefficient_warnings
from optimizer.loader import SourceMap, read_scenario
from optimizer.model.lp import Formulation, StandardForm, formulate
from optimizer.overrides import apply_prices, apply_set, read_prices
from optimizer.solve import SolverOptions, SolverSession, SolveResult, SolveStatus, highs_version
from optimizer.spec import Scenario

if TYPE_CHECKING:
    from optimizer.results import Solution

Progress = Callable[[str, float], None]
Route = Literal["direct", "pyomo"]


def load_scenario(path: str | Path, sets: Sequence[str] = (), prices: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (YAML or an Excel workbook), with `--set PATH=VALUE` overrides
    applied before validation (a problem in a field they set names the argument) and a `--prices` CSV
    applied after; raises ScenarioError listing every problem."""
    return load_located(path, sets, prices)[0]


def load_located(path: str | Path, sets: Sequence[str] = (),
                 prices: str | Path | None = None) -> tuple[Scenario, SourceMap]:
    """`load_scenario`, with the map of where each field was written (to place later findings)."""
    raw, smap = read_scenario(path)
    for assignment in sets:
        smap.origins[apply_set(raw, assignment)] = f"--set {assignment}"
    scenario = validate(raw, smap)
    if prices is not None:
        scenario = apply_prices(scenario, read_prices(prices))
    return scenario, smap


def solve(scenario: Scenario | dict[str, Any], options: SolverOptions | None = None,
          progress: Progress | None = None, baseline: str | Path | None = None,
          stability_gap: float = 0.001, extension: Extension | str | Path | None = None,
          route: Route = "direct", analyze: bool = False, workers: int = 1) -> Solution:
    """Solve a scenario (a validated Scenario or a plain dict) and return the Solution.

    With `baseline` (a result folder), a second LP picks, among plans within `stability_gap`
    (relative) of the optimum, the cheapest of those whose purchases are closest (L1) to the
    baseline's. With `extension` (a function `extend(model, data)` or a Python file defining one),
    the labelled Pyomo model is built, extended and solved; `route="pyomo"` builds that model
    without an extension (same bytes as the default fast route). With `analyze`, an optimal plan
    also gets the decision analytics of SPEC 7 (`Solution.analysis`; `workers` processes solve
    the scenarios alone).
    """
    if not isinstance(scenario, Scenario):
        scenario = validate(scenario)
    if analyze and (baseline is not None or extension is not None):
        raise ScenarioError([Problem(("--analyze",), "describes the optimal plan of the scenario as written: it "
                                     "cannot be combined with --baseline or --extension (run them separately)")])
    timings: dict[str, float] = {}
    report = progress or (lambda stage, seconds: None)

    clock = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # cyclic GC off while building: the largest single win measured (PERF-FACTS)
    try:
        if scenario.disruptions is not None:
            from optimizer.disruptions import generate

            generate(scenario)  # memoized: build_data and the result folder reuse it
            timings["tree"] = time.perf_counter() - clock
            clock = time.perf_counter()
        data = build_data(scenario)
        timings["data"] = time.perf_counter() - clock
        clock = time.perf_counter()
        form = formulate(data)
        timings["formulate"] = time.perf_counter() - clock
        problem = _problem(form, scenario, extension, route, timings)
        report("build", timings.get("tree", 0.0) + timings["data"] + timings["formulate"]
               + timings.get("build_pyomo", 0.0))
        session = SolverSession(problem, options)
        result = session.solve(meanwhile=import_output_stage)
    finally:
        if gc_was_enabled:
            gc.enable()
    timings.update(result.timings)
    report("solve", result.timings.get("solve", 0.0))
    analysis = None
    if analyze and result.status == SolveStatus.OPTIMAL:
        from optimizer.analytics import analyze as decision_analytics

        clock = time.perf_counter()
        analysis = decision_analytics(form, session, problem, result, scenario, options, workers)
        timings["analysis"] = time.perf_counter() - clock
        report("analyze", timings["analysis"])
    stability = None
    if baseline is not None and result.status == SolveStatus.OPTIMAL:
        from optimizer.stability import read_baseline, stable_replan

        result, stability = stable_replan(form, result, read_baseline(baseline), stability_gap, options)
        stability["baseline"] = str(baseline)
        timings["stability_solve"] = result.timings["stability_solve"]
        report("replan", timings["stability_solve"])
    return finish(form, session, problem, result, scenario, timings, stability=stability, analysis=analysis)


def build_model(scenario: Scenario | dict[str, Any]):
    """The labelled Pyomo model of a scenario (`m.buy["cn-dy", "2027-01", "embargo"]`, sets SOURCES,
    PERIODS, SCENARIOS, ...; docs/extensions.md), to inspect or to extend and solve with
    `solve_model`."""
    from optimizer.model.pyomo_model import build_model as build

    if not isinstance(scenario, Scenario):
        scenario = validate(scenario)
    return build(formulate(build_data(scenario)), scenario)


def solve_model(model, options: SolverOptions | None = None) -> Solution:
    """Solve a model made by `build_model` (and changed by you): constraints, variables and
    objective terms you added take part; the results are in the scenario's terms."""
    from optimizer.model.pyomo_model import model_link

    link = model_link(model)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    problem = compile_extended(model, None)
    timings["compile_pyomo"] = time.perf_counter() - clock
    session = SolverSession(problem, options)
    result = session.solve()
    timings.update(result.timings)
    return finish(link.form, session, problem, result, link.scenario, timings)


def _problem(form: Formulation, scenario: Scenario, extension: Extension | str | Path | None, route: Route,
             timings: dict[str, float]) -> StandardForm:
    """What the solver gets: the fast route's arrays, or the (extended) labelled Pyomo model compiled."""
    if extension is None and route == "direct":
        clock = time.perf_counter()
        problem = form.lp.standard_form()
        timings["matrix"] = time.perf_counter() - clock
        return problem
    from optimizer.extension import apply_extension, load_extension
    from optimizer.model.pyomo_model import build_model

    clock = time.perf_counter()
    model = build_model(form, scenario)
    if extension is not None:
        fn = load_extension(extension) if isinstance(extension, (str, Path)) else extension
        apply_extension(fn, model, form.data)
    timings["build_pyomo"] = time.perf_counter() - clock
    clock = time.perf_counter()
    problem = compile_extended(model, extension)
    timings["compile_pyomo"] = time.perf_counter() - clock
    return problem


def compile_extended(model, extension) -> StandardForm:
    """compile_model, with what an extension broke named (nonlinear terms, a second objective)."""
    from optimizer.extension import ExtensionError, describe
    from optimizer.model.pyomo_model import compile_model

    try:
        return compile_model(model)
    except Exception as exc:  # noqa: BLE001 - Pyomo's writers raise many kinds; name the extension
        who = f"extension {describe(extension)}" if callable(extension) else \
            f"extension {extension}" if extension is not None else "the model"
        raise ExtensionError(f"{who} left a model that is not a linear program HiGHS can take: "
                             f"{type(exc).__name__}: {exc}") from None


def finish(form: Formulation, session: SolverSession, problem: StandardForm, result: SolveResult,
           scenario: Scenario, timings: dict[str, float], stability: dict | None = None,
           analysis: dict | None = None, extra_summary: dict | None = None) -> Solution:
    """The one place a Solution is made (CLI, Planner, sweep, watch, evaluate): tables, summary
    (plus `stability` and any `extra_summary` entries), the explanation of an infeasible or
    unbounded plan, warnings, run.json and the decision analytics."""
    from optimizer.results import build_solution

    clock = time.perf_counter()
    explanation = None
    if result.status.is_infeasible:
        explanation = explain_failure(result.status, form, session, problem, scenario)
    run = run_info(result.info, timings, form.data)
    run["warnings"] = scenario_warnings(scenario) + coefficient_warnings(form)
    extra = dict(extra_summary or {})
    if stability is not None:
        extra["stability"] = stability
    solution = build_solution(form, result, scenario, explanation=explanation, run=run, extra_summary=extra,
                              analysis=analysis)
    solution.run["timings_seconds"]["results"] = time.perf_counter() - clock
    return solution


def import_output_stage() -> None:
    """Import what turns solver values into tables, files and the terminal summary (pyarrow, rich)
    while HiGHS solves on its own thread; take the one-off costs of first use (a
    table, its CSV) and the package-metadata lookups of run.json there too."""
    import numpy as np

    import optimizer.summary  # noqa: F401 - the terminal summary (rich)
    from optimizer.export import csv_bytes
    from optimizer.results import CodedTable

    csv_bytes(CodedTable({"key": np.array([1, 0]), "value": np.array([1.0, 2.0])}, {"key": ["a", "b"]})
              .ordered_by(["key"]).arrow())
    package_versions()


@functools.cache
def package_versions() -> dict[str, str]:
    """What produced a result (run.json): a solver or library upgrade can change a schedule."""
    from importlib.metadata import PackageNotFoundError, version  # metadata: importing pyomo would cost ~1 s

    import optimizer

    report = {}  # the `report` extra draws report.html: its libraries when installed
    for name in ("matplotlib", "plotly"):
        try:
            report[name] = version(name)
        except PackageNotFoundError:
            pass
    return {
        "optimizer": optimizer.__version__,
        "python": platform.python_version(),
        "highs": highs_version(),
        **{name: version(name) for name in ("highspy", "pyomo", "numpy", "scipy", "pandas", "pydantic")},
        **report,
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
