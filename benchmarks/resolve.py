"""Warm re-solve benchmark (issue 5): change 10 % of the sources' prices by up to +-20 % and re-solve.

Reports, on one synthetic scenario, HiGHS's own cold solve time, and the warm path's update,
solve and results-extraction times, the ratio (update + solve + results) / cold HiGHS time, and
checks the warm objective equals a cold solve of the changed scenario. Results go to
benchmarks/results/resolve-<size>.csv.

    .venv/bin/python benchmarks/resolve.py --size medium
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from optimizer.checks import validate  # noqa: E402
from optimizer.loader import read_yaml  # noqa: E402
from optimizer.overrides import replace_prices  # noqa: E402
from optimizer.planner import Planner  # noqa: E402
from optimizer.pipeline import solve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = HERE / "scenarios" / f"{args.size}.yaml"
    if not path.exists():
        sys.exit(f"{path} is missing: run `python benchmarks/generate.py --size {args.size}` first")
    raw, smap = read_yaml(path)
    scenario = validate(raw, smap)
    rng = np.random.default_rng(args.seed)
    planner = Planner(scenario)
    cold = planner.solve()
    cold_highs = cold.run["solver"]["highs_run_time"]
    rows = []
    current = scenario
    for round_ in range(1, args.rounds + 1):
        sources = [s for s in current.sources]
        picked = rng.choice(len(sources), size=max(1, len(sources) // 10), replace=False)
        prices = {}
        for i in picked:
            base = planner.data.calendar.series(sources[i].price)
            prices[sources[i].id] = (base * rng.uniform(0.8, 1.2)).tolist()
        clock = time.perf_counter()
        planner.update_prices(prices)
        updated = time.perf_counter()
        warm = planner.solve()
        total = time.perf_counter() - clock
        solve_s = warm.run["timings_seconds"]["solve"]
        results_s = warm.run["timings_seconds"]["results"]
        current = planner.scenario
        reference = solve(replace_prices(current, {k: np.asarray(v) for k, v in prices.items()}), route="direct")
        rows.append({
            "size": args.size, "round": round_, "changed_sources": len(picked),
            "cold_highs_s": round(cold_highs, 4), "update_s": round(updated - clock, 4),
            "warm_solve_s": round(solve_s, 4), "results_s": round(results_s, 4), "total_s": round(total, 4),
            "ratio_to_cold_highs": round(total / cold_highs, 3),
            "warm_iterations": warm.run["solver"]["simplex_iterations"],
            "cold_iterations": reference.run["solver"]["simplex_iterations"],
            "objective_rel_diff": abs(warm.objective - reference.objective) / max(1.0, abs(reference.objective)),
            "cpus": __import__("os").cpu_count(), "python": platform.python_version(),
        })
        print(rows[-1])
    out = HERE / "results" / f"resolve-{args.size}.csv"
    out.parent.mkdir(exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {out}")


if __name__ == "__main__":
    main()
