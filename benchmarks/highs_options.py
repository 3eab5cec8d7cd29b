"""HiGHS options on our LP (issue 3): dual simplex vs IPM with crossover, presolve on/off, threads.

    .venv/bin/python benchmarks/highs_options.py --size medium

Writes benchmarks/results/highs-options-<size>.csv (HiGHS's own run time and iterations per option set).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from optimizer.data import build_data  # noqa: E402
from optimizer.model.lp import formulate  # noqa: E402
from optimizer.pipeline import load_scenario  # noqa: E402
from optimizer.solve import SolverOptions, solve_lp  # noqa: E402

CHOICES = [
    ("simplex, presolve off (default)", SolverOptions(solver="simplex", presolve="off")),
    ("simplex, presolve on", SolverOptions(solver="simplex", presolve="on")),
    ("ipm + crossover, presolve on", SolverOptions(solver="ipm", presolve="on")),
    ("simplex, presolve off, threads 2", SolverOptions(solver="simplex", presolve="off", threads=2)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    args = parser.parse_args()
    form = formulate(build_data(load_scenario(HERE / "scenarios" / f"{args.size}.yaml")))
    rows = []
    for label, options in CHOICES:
        result = solve_lp(form.lp, options, route="direct")
        rows.append({"size": args.size, "options": label, "status": result.status,
                     "highs_run_time_s": round(result.info["highs_run_time"], 3),
                     "simplex_iterations": result.info["simplex_iterations"],
                     "ipm_iterations": result.info["ipm_iterations"], "objective": result.objective})
        print(rows[-1], flush=True)
    out = HERE / "results" / f"highs-options-{args.size}.csv"
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
