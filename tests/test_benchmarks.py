"""The benchmark generator makes SPEC-valid scenarios, and the linopy yardstick solves them to our objective."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import highspy
import numpy as np
import pytest

import optimizer
from conftest import ROOT
from optimizer.checks import validate
from optimizer.data import build_data
from optimizer.loader import parse_yaml_text
from optimizer.model.lp import formulate
from optimizer.pipeline import load_scenario

sys.path.insert(0, str(ROOT / "benchmarks"))
import generate  # noqa: E402
import linopy_model  # noqa: E402


@pytest.mark.parametrize("aversion", [0.0, 0.3], ids=["expected-cost", "cvar"])
def test_small_scenario_same_objective_as_linopy(aversion):
    """Our whole path and the independent linopy formulation agree to 1e-6 relative."""
    raw = generate.generate("small", aversion=aversion)
    ours = optimizer.solve(raw)
    assert ours.status == "optimal"
    model = linopy_model.build(build_data(validate(raw)))
    theirs = linopy_model.solve(model)
    assert abs(ours.objective - theirs) <= 1e-6 * abs(theirs)
    assert model.solver_model.getNumCol() == ours.run["solver"]["columns"]  # the same sparse index sets


def test_pyomo_route_same_result_files():
    """The labelled Pyomo model, compiled back, is the fast route's LP: same result bytes."""
    from optimizer.export import result_files

    raw = generate.generate("small")
    pyomo, direct = result_files(optimizer.solve(raw, route="pyomo")), result_files(optimizer.solve(raw))
    pyomo.pop("run.json"), direct.pop("run.json")
    assert pyomo == direct


def test_generator_is_deterministic_and_yaml_round_trips():
    assert generate.generate("small", seed=3) == generate.generate("small", seed=3)
    assert generate.generate("small", seed=3) != generate.generate("small", seed=4)
    raw = generate.generate("medium")
    parsed, _ = parse_yaml_text(generate.to_yaml(raw))
    assert validate(parsed) == validate(raw)


def test_generator_covers_every_feature():
    sc = validate(generate.generate("small"))
    rules = list(sc.policies) + [e for case in sc.cases for e in case.events]
    assert {r.type for r in sc.policies} == {"tariff", "ban", "capacity", "price", "demand"}
    assert {r.type for case in sc.cases for r in case.events} == {"tariff", "ban", "capacity", "price", "demand"}
    assert any(r.until for r in rules)
    assert 10 <= len(sc.cases) <= 20
    assert sc.budgets and {lim.over for lim in sc.limits} == {"period", "horizon"}
    assert any(lim.max_share is not None for lim in sc.limits) and any(lim.min_share is not None for lim in sc.limits)
    assert all(len(p.outputs) > 1 and p.expansion for p in sc.processors)
    assert any(s.expansion for s in sc.sources) and any(s.lead_time for s in sc.sources)
    stocks = [m.stockpile for m in sc.materials if m.stockpile]
    assert any(s.hard_target for s in stocks) and any(s.target_penalty for s in stocks)
    # disruptions start at different dates: the scenario tree branches period after period
    nodes_per_period = np.bincount(build_data(sc).tree.t)
    assert nodes_per_period[0] == 1 and nodes_per_period[-1] == len(sc.cases)
    assert len(set(nodes_per_period.tolist())) >= 8


@pytest.mark.parametrize(("size", "low", "high"), [("small", 3_000, 8_000), ("medium", 110_000, 180_000)])
def test_sizes(size, low, high):
    lp = formulate(build_data(validate(generate.generate(size)))).lp
    assert low <= lp.n_cols <= high


def test_large_shape():
    """About 2 million variables: 50 minerals x 12 sources x 120 months x 20 scenarios (not built here)."""
    shape = generate.SIZES["large"]
    assert (shape.minerals, shape.sources_per_mineral, shape.periods, shape.scenarios) == (50, 12, 120, 20)


@pytest.mark.slow
def test_bench_runner_writes_csv(tmp_path):
    """`make bench` on the small size, one route, no yardstick: a CSV with every stage and the ratio."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sizes", "small", "--routes", "direct",
           "--no-linopy", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    rows = list(csv.DictReader(open(tmp_path / "small.csv")))
    stages = {r["stage"]: r for r in rows}
    for stage in ("load_validate", "data", "formulate", "handoff", "highs_run", "results", "export", "process_total"):
        assert float(stages[stage]["seconds"]) >= 0, stage
    assert float(stages["process_total"]["ratio_to_highs"]) > 1
    assert float(stages["process_total"]["peak_rss_mb"]) > 0


def test_nothing_for_the_output_stage_is_imported_before_the_solve():
    """pandas, pyarrow and rich are imported while HiGHS solves (pipeline.import_output_stage); the
    path up to the solve must not import them, or a medium run pays ~0.3 s more (benchmarks/README.md)."""
    code = ("import sys, optimizer.cli, optimizer.pipeline, optimizer.data, optimizer.model.lp\n"
            "from optimizer.cli import parse_formats\n"
            "parse_formats('csv,parquet')\n"
            "print(sorted(m for m in ('pandas', 'pyarrow', 'rich', 'pyomo', 'scipy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_run_never_imports_pandas_or_pyomo(tmp_path):
    """A whole `optimize SCENARIO.yaml` (summary printed, folder written) makes and writes its tables
    in Arrow (optimizer.columns) and never imports pandas (~0.3 s, as much as NumPy and HiGHS
    together) or Pyomo: issue 13's start-up budget (benchmarks/startup.py)."""
    code = ("import sys\n"
            "from optimizer.cli import run\n"
            f"code = run(['{ROOT / 'scenarios' / 'baseline.yaml'}', '--out', '{tmp_path / 'plan'}'])\n"
            "print(code, sorted(m for m in ('pandas', 'pyomo') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / "plan" / "purchases.csv").read_text().startswith("scenario,period,source,")


def test_meanwhile_runs_beside_highs_and_an_interrupt_there_cancels_the_solve():
    """The medium LP takes HiGHS over a second here. Work passed as `meanwhile` runs while it solves
    (same optimum as without it); Ctrl-C during that work switches HiGHS's interrupt callback on,
    cancels the solve (model status: interrupted) and re-raises."""
    from optimizer.solve import SolverSession, SolveStatus

    problem = formulate(build_data(load_scenario(ROOT / "benchmarks" / "scenarios" / "medium.yaml"))).lp.standard_form()
    calls = []
    with_work = SolverSession(problem).solve(meanwhile=lambda: calls.append(True))
    assert calls == [True] and with_work.status == SolveStatus.OPTIMAL
    assert with_work.objective == SolverSession(problem).solve().objective

    def interrupted():
        time.sleep(0.2)
        raise KeyboardInterrupt

    session = SolverSession(problem)
    clock = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        session.solve(meanwhile=interrupted)
    assert session._h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    assert time.perf_counter() - clock < with_work.info["highs_run_time"]
