"""What the canonical optimum costs (issue 11 item 7): the same LP solved by the solver session with and
without the canonical finish (a solve of the LP with costs and bounds perturbed by 1e-6, then the exact
LP from that unique basis; optimizer/solve.py), cold and warm.

Cold: a new session per solve. Warm: one session solved, every cost coefficient then changed by a
seeded random factor in [0.99, 1.01], and solved again from the previous basis (what `Planner`,
`watch` and sweep workers do); only that re-solve is timed. Each pair runs interleaved; the figure is
CPU seconds of this process (HiGHS's thread included), min of --repeat runs.

    .venv/bin/python benchmarks/canonical.py [--repeat 3] [--scenario FILE ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from optimizer.data import build_data
from optimizer.model.lp import formulate
from optimizer.pipeline import load_scenario
from optimizer.solve import SolverSession

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["scenarios/baseline.yaml", "scenarios/china-embargo.yaml", "benchmarks/scenarios/medium.yaml"]


def cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def cold(problem, canonical: bool) -> tuple[float, object]:
    return cpu(lambda: SolverSession(problem, canonical=canonical).solve())


def warm(problem, canonical: bool) -> tuple[float, object]:
    session = SolverSession(problem, canonical=canonical)
    session.solve()
    factor = np.random.default_rng(0).uniform(0.99, 1.01, len(problem.cost))
    session.set_costs(np.arange(len(problem.cost)), problem.cost * factor)
    return cpu(session.solve)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; CPU seconds, min of {args.repeat}")
    print(f"{'scenario':36}{'mode':6}{'exact':>9}{'canonical':>11}{'ratio':>8}{'iters':>14}")
    for path in args.scenario:
        problem = formulate(build_data(load_scenario(ROOT / path))).lp.standard_form()
        for mode, fn in (("cold", cold), ("warm", warm)):
            times = {False: [], True: []}
            iters = {}
            for _ in range(args.repeat):
                for canonical in (False, True):
                    seconds, result = fn(problem, canonical)
                    times[canonical].append(seconds)
                    iters[canonical] = result.info["simplex_iterations"]
            exact, canon = min(times[False]), min(times[True])
            print(f"{Path(path).name:36}{mode:6}{exact:9.3f}{canon:11.3f}{canon / exact:8.2f}"
                  f"{iters[False]:>7}/{iters[True]:<6}")


if __name__ == "__main__":
    main()
