"""Scenario trees from disruption processes at scale (SPEC 8, issue 16).

A 10-year quarterly plan (3 minerals x 3 sources, stockpile targets, CVaR) with 3 events over 10 yearly
stages, at max_scenarios 64, 256 and 1,024. For each size, fresh subprocesses solve
  - `disruptions`: the scenario with its `disruptions:` section (generation timed on its own, then
    `optimizer.pipeline.solve`, which reuses the generated tree);
  - `written`: the same scenarios written out by `optimize tree --write-scenarios` and solved as a
    plain `scenarios:` list (what a planner would have to write by hand);
and report load and generation time, scenarios, nodes of the stage tree and of the LP's tree, LP size,
solve time, CPU seconds and peak memory. Both inputs must reach the same objective.

    .venv/bin/python benchmarks/tree.py                    # 64, 256, 1024
    .venv/bin/python benchmarks/tree.py --sizes 64 --repeat 3 --stat min

Results go to benchmarks/results/tree.csv and a table on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (64, 256, 1024)
COLUMNS = ["max_scenarios", "input", "method", "scenarios", "stage_nodes", "lp_nodes", "variables", "rows",
           "load_s", "generation_s", "generation_cpu_s", "data_s", "formulate_s", "highs_s", "solve_cpu_s",
           "pipeline_s", "generation_to_highs", "generation_cpu_to_solve_cpu", "peak_rss_mb", "objective",
           "repeats", "stat", "load_avg"]

MINERALS = {  # price $/t, demand t/quarter
    "dysprosium": (350_000.0, 20.0),
    "terbium": (1_100_000.0, 5.0),
    "gallium": (600.0, 40.0),
}
SUPPLIERS = (  # region, country, price factor, capacity as a share of demand, lead time (quarters)
    ("china", "CN", 1.0, 2.0, 1),
    ("allied", "AU", 1.4, 0.6, 2),
    ("domestic", "US", 1.8, 0.3, 0),
)


def scenario(max_scenarios: int, seed: int = 7) -> dict:
    """The benchmark scenario: three events over ten yearly stages of a 40-quarter horizon."""
    materials, sources = [], []
    for mineral, (price, demand) in MINERALS.items():
        materials.append({"id": mineral, "demand": demand, "shortfall_penalty": price * 20,
                          "stockpile": {"initial": demand * 2, "capacity": demand * 12, "holding_cost": price * 0.01,
                                        "target": demand * 2, "target_penalty": price * 0.5}})
        for region, country, factor, share, lead in SUPPLIERS:
            sources.append({"id": f"{country.lower()}-{mineral}", "material": mineral, "region": region,
                            "country": country, "price": price * factor, "capacity": demand * share,
                            "lead_time": lead})
    hree = {"region": "china", "material": ["dysprosium", "terbium"]}
    return {
        "name": f"tree-{max_scenarios}",
        "home_country": "US",
        "horizon": {"start": "2026-01", "periods": 40, "period": "quarter", "discount_rate": 0.03},
        "materials": materials,
        "sources": sources,
        "policies": [{"type": "tariff", "name": "cn-tariff", "rate": 0.25, "where": {"country": "CN"}}],
        "risk": {"aversion": 0.3, "alpha": 0.9},
        "disruptions": {"stage": "year", "max_scenarios": max_scenarios, "seed": seed, "events": [
            {"name": "cn-hree-ban", "annual_probability": 0.15, "duration": {1: 0.5, 2: 0.3, 3: 0.2},
             "earliest": "2027-01", "effects": [
                 {"type": "ban", "where": hree},
                 {"type": "price", "where": {"region": "allied", "material": ["dysprosium", "terbium"]},
                  "multiplier": 2.0}]},
            {"name": "cn-ga-ban", "annual_probability": 0.1, "duration": {1: 0.6, 2: 0.4}, "effects": [
                {"type": "ban", "where": {"region": "china", "material": "gallium"}}]},
            {"name": "au-strike", "annual_probability": 0.1, "duration": 1, "repeat": True, "effects": [
                {"type": "capacity", "where": {"region": "allied"}, "multiplier": 0.5}]},
        ]},
    }


# --- worker: runs in a fresh interpreter, prints one JSON object ----------------------------------


def worker(path: str) -> None:
    """Load, generate (if the file has disruptions), solve; print the figures as JSON."""
    import resource

    from optimizer.pipeline import load_scenario, solve

    wall = time.perf_counter()
    sc = load_scenario(path)
    out: dict = {"method": "written", "load_s": time.perf_counter() - wall, "generation_s": 0.0,
                 "generation_cpu_s": 0.0, "stage_nodes": None}
    if sc.disruptions is not None:
        from optimizer.disruptions import generate

        wall, cpu = time.perf_counter(), time.process_time()
        tree = generate(sc)  # memoized: the solve below reuses it
        out.update(generation_s=time.perf_counter() - wall, generation_cpu_s=time.process_time() - cpu,
                   method=tree.method, stage_nodes=len(tree.node_stage))
    wall, cpu = time.perf_counter(), time.process_time()
    solution = solve(sc, route="direct")
    out.update(pipeline_s=time.perf_counter() - wall, solve_cpu_s=time.process_time() - cpu)
    timings, solver, model = solution.run["timings_seconds"], solution.run["solver"], solution.run["model"]
    out.update(scenarios=model["scenarios"], lp_nodes=model["tree_nodes"], variables=solver["columns"],
               rows=solver["rows"], highs_s=solver["highs_run_time"], data_s=timings["data"],
               formulate_s=timings["formulate"], objective=solution.objective, status=solution.status,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    sys.stdout.write(json.dumps(out) + "\n")


# --- runner -----------------------------------------------------------------------------------------


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _run(args: list[str], timeout: float) -> str:
    done = subprocess.run([_python(), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def measure(size: int, folder: Path, repeats: int, stat: str, timeout: float) -> list[dict]:
    """Both inputs of one size, each `repeats` times in fresh processes, combined by `stat`."""
    from generate import to_yaml  # the generator's YAML writer (flow style for small values)

    source = folder / f"tree-{size}.yaml"
    source.write_text(to_yaml(scenario(size)))
    written = folder / f"tree-{size}-scenarios.yaml"
    _run(["-m", "optimizer", "tree", str(source), "--write-scenarios", str(written)], timeout)
    rows = []
    for label, path in (("disruptions", source), ("written", written)):
        runs, load = [], 0.0
        for _ in range(repeats):
            load = max(load, os.getloadavg()[0])
            runs.append(json.loads(_run([str(Path(__file__)), "--worker", str(path)], timeout).splitlines()[-1]))
        combine = min if stat == "min" else statistics.median
        row = dict(runs[0])
        for key in ("load_s", "generation_s", "generation_cpu_s", "data_s", "formulate_s", "highs_s", "solve_cpu_s",
                    "pipeline_s", "peak_rss_mb"):
            row[key] = combine(r[key] for r in runs)
        row.update(max_scenarios=size, input=label, repeats=repeats, stat=stat, load_avg=round(load, 2),
                   generation_to_highs=row["generation_s"] / row["highs_s"],
                   generation_cpu_to_solve_cpu=row["generation_cpu_s"] / row["solve_cpu_s"])
        rows.append(row)
    if rows[0]["objective"] != rows[1]["objective"]:
        raise RuntimeError(f"max_scenarios {size}: objectives differ: {rows[0]['objective']!r} (disruptions) "
                           f"!= {rows[1]['objective']!r} (written)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="max_scenarios values, comma-separated")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stat", choices=("median", "min"), default="min")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    sys.path.insert(0, str(HERE))  # generate.py
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            rows += measure(size, Path(scratch), args.repeat, args.stat, args.timeout)
            print(_table(rows[-2:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "tree.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"written {args.out / 'tree.csv'}")
    return 0


def _table(rows: list[dict]) -> str:
    head = (f"{'max':>5} {'input':<12} {'method':<8} {'K':>5} {'stage n':>7} {'LP n':>6} {'vars':>8} "
            f"{'load s':>7} {'gen s':>7} {'gen cpu':>7} {'HiGHS s':>8} {'solve cpu':>9} {'gen/HiGHS':>9} "
            f"{'gen/cpu':>8} {'RSS MB':>7}")
    lines = [head]
    for r in rows:
        stage_nodes = r["stage_nodes"] if r["stage_nodes"] is not None else "-"
        lines.append(f"{r['max_scenarios']:>5} {r['input']:<12} {r['method']:<8} {r['scenarios']:>5} "
                     f"{stage_nodes:>7} {r['lp_nodes']:>6} {r['variables']:>8} {r['load_s']:>7.3f} "
                     f"{r['generation_s']:>7.3f} {r['generation_cpu_s']:>7.3f} {r['highs_s']:>8.2f} "
                     f"{r['solve_cpu_s']:>9.2f} {r['generation_to_highs']:>9.2%} "
                     f"{r['generation_cpu_to_solve_cpu']:>8.2%} {r['peak_rss_mb']:>7.0f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
