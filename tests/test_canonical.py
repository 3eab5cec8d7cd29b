"""One input, one set of bytes, however it is solved (issue 11 item 7): the solver session finishes
every LP at a canonical optimum, so a cold run, a warm re-solve after other prices and a sweep
variant agree on every plan quantity and shadow price, not just the objective."""

from __future__ import annotations

import copy

import numpy as np

import optimizer
from conftest import scenario
from optimizer.checks import validate
from optimizer.data import build_data
from optimizer.export import result_files
from optimizer.model.lp import formulate
from optimizer.planner import Planner
from optimizer.solve import SolverSession
from optimizer.sweep import Variant, run_sweep
from test_cli import write_scenario


def ties() -> dict:
    """Many equally cheap plans: 3 materials x 3 sources at the same price, free storage, and a
    CVaR-weighted two-scenario tree, so which plan the simplex method ends at depends on its start."""
    mats, srcs = [], []
    for i in range(3):
        mats.append({"id": f"m{i}", "demand": [10, 14, 9, 12, 11, 13], "shortfall_penalty": 1000,
                     "stockpile": {"capacity": 30, "target": 5, "target_penalty": 50}})
        for j, (region, country) in enumerate([("domestic", "US"), ("allied", "CA"), ("other", "BR")]):
            srcs.append({"id": f"s{i}{j}", "material": f"m{i}", "region": region, "country": country,
                         "price": [20, 20, 21, 21, 20, 20], "capacity": 12})
    return scenario(name="ties", horizon={"start": "2026-01", "periods": 6}, materials=mats, sources=srcs,
                    risk={"aversion": 0.3},
                    scenarios=[{"name": "calm", "probability": 0.6},
                               {"name": "cut", "probability": 0.4, "events": [
                                   {"type": "capacity", "where": {"region": "other"}, "multiplier": 0.5,
                                    "from": "2026-04"}]}])


def files(solution) -> dict[str, bytes]:
    out = result_files(solution)
    out.pop("run.json")
    return out


def repriced(doc: dict, factor: float) -> dict:
    doc = copy.deepcopy(doc)
    for src in doc["sources"]:
        src["price"] = [p * factor if i % 2 else p for i, p in enumerate(src["price"])]
    return doc


def test_cold_warm_and_sweep_give_the_same_bytes(tmp_path):
    """Cold `optimizer.solve`; a Planner that solved two other price sets first and was updated back;
    and the same variant solved third in a sweep: identical result files."""
    doc = ties()
    cold = files(optimizer.solve(doc))
    planner = Planner(validate(repriced(doc, 1.3)))
    planner.solve()
    planner.update(validate(repriced(doc, 0.8)))
    planner.solve()
    planner.update(validate(doc))
    assert files(planner.solve()) == cold

    path = write_scenario(tmp_path / "s.yaml", doc)
    variants = [Variant("up", sets=("risk.aversion=0.6",)), Variant("down", sets=("risk.aversion=0.1",)),
                Variant("same", sets=("risk.aversion=0.3",))]
    run_sweep(path, variants, tmp_path / "sweep")
    for name, data in cold.items():
        assert (tmp_path / "sweep" / "same" / name).read_bytes() == data, name


def test_warm_and_cold_sessions_agree_on_primal_and_dual_values():
    """At the level of the solver session: after a detour through other costs, the warm re-solve
    returns exactly the cold solve's values and duals (and the same objective)."""
    problem = formulate(build_data(validate(ties()))).lp.standard_form()
    cold = SolverSession(problem).solve()
    session = SolverSession(problem)
    session.solve()
    cols = np.arange(0, problem.n_cols, 3)
    session.set_costs(cols, problem.cost[cols] * 1.7)
    session.solve()
    session.set_costs(cols, problem.cost[cols])
    warm = session.solve()
    assert warm.objective == cold.objective
    np.testing.assert_array_equal(warm.x, cold.x)
    np.testing.assert_array_equal(warm.row_dual, cold.row_dual)


def test_canonical_finish_keeps_the_exact_optimum():
    """The perturbation only chooses among optimal plans: the objective equals that of a plain solve
    of the exact LP (to HiGHS's tolerance) and every value is within the exact bounds."""
    problem = formulate(build_data(validate(ties()))).lp.standard_form()
    plain = SolverSession(problem, canonical=False).solve()
    canonical = SolverSession(problem).solve()
    assert abs(canonical.objective - plain.objective) <= 1e-9 * abs(plain.objective)
    assert np.all(canonical.x >= problem.col_lo - 1e-9) and np.all(canonical.x <= problem.col_hi + 1e-9)


def test_sessions_solving_in_threads_of_one_process_all_finish():
    """Four sessions solved at once from four threads (a threaded Dask worker does this) all reach the
    optimum with the same bytes as one solved alone. highspy's "solver running" locks belong to the
    `Highs` class, so without the solver boundary's one-solve-per-process lock some of these raised
    "Solver is already running"."""
    from concurrent.futures import ThreadPoolExecutor

    problem = formulate(build_data(validate(ties()))).lp.standard_form()
    alone = SolverSession(problem).solve()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: SolverSession(problem).solve(), range(8)))
    assert all(r.status == alone.status and np.array_equal(r.x, alone.x) for r in results)
