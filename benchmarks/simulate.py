"""`optimize simulate` at scale (SPEC 9, issue 17): the 40-quarter, 3-event plan of benchmarks/tree.py
(max_scenarios 64), N futures (default 200), three policies re-planned at each of the 10 yearly stages.

Each configuration runs in a fresh subprocess, which reports its wall time and CPU seconds (its own,
HiGHS's threads included, and its worker processes'):
  - `cold`: the first plan built and solved from scratch (the yardstick: `Simulation.first_plan`), the
    least CPU of three;
  - `simulate`, warm (each re-plan starts from the previous one's basis) with 1 and 2 workers, and cold
    (every re-plan from scratch) with 1 worker;
and derives
  - `cpu_per_replan_to_cold`: CPU seconds of a simulation / (futures x stages) / the cold solve's CPU
    seconds: the cost of one re-plan point of one future (all three policies, its evaluation included)
    as a share of one cold solve (issue 17's target: 0.3 or less);
  - `speedup`: wall time with 1 worker / wall time with 2 (target 1.8 on an idle 2-core machine).

    .venv/bin/python benchmarks/simulate.py                       # 200 futures
    .venv/bin/python benchmarks/simulate.py --futures 40 --no-cold-replans

Results go to benchmarks/results/simulate.csv and a table on stdout, with the load average seen.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

COLUMNS = ["run", "futures", "workers", "warm", "stages", "wall_s", "cpu_s", "replans_solved", "cold_cpu_s",
           "cpu_per_replan_to_cold", "speedup", "load_avg_before", "load_avg_after", "cpus"]


def worker(kind: str, futures: int, seed: int, workers: int, warm: bool) -> None:
    """In a fresh interpreter: one measurement, printed as JSON."""
    import resource

    from tree import scenario

    from optimizer.checks import validate
    from optimizer.simulate import Simulation, draw_futures, play_futures

    sc = validate(scenario(64))
    out: dict = {}
    if kind == "cold":
        best = None
        for _ in range(3):
            cpu = time.process_time()
            Simulation(sc).first_plan  # noqa: B018 - build and solve
            used = time.process_time() - cpu
            best = used if best is None else min(best, used)
        out["cpu_s"] = best
    else:
        drawn = draw_futures(sc, futures, seed)
        wall, cpu = time.perf_counter(), time.process_time()
        local = Simulation(sc, warm=warm)
        play_futures(sc, drawn, workers=workers, local=local)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.update(wall_s=time.perf_counter() - wall,
                   cpu_s=time.process_time() - cpu + children.ru_utime + children.ru_stime,
                   replans_solved=local.solves["replans"] if workers == 1 else None,
                   distinct=len(set(drawn)))
    sys.stdout.write(json.dumps(out) + "\n")


def measure(args: list[str]) -> dict:
    python = ROOT / ".venv" / "bin" / "python"
    done = subprocess.run([str(python if python.exists() else sys.executable), __file__, "--worker", *args],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--futures", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-cold-replans", action="store_true", help="skip the simulation without warm starts")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "simulate.csv")
    parser.add_argument("--worker", nargs=5, metavar=("KIND", "FUTURES", "SEED", "WORKERS", "WARM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, futures, seed, workers, warm = args.worker
        worker(kind, int(futures), int(seed), int(workers), warm == "1")
        return
    stages = 10
    rows = []
    cold = measure(["cold", "0", "0", "1", "0"])["cpu_s"]
    runs = [("warm-1", 1, True), ("warm-2", 2, True)] + ([] if args.no_cold_replans else [("cold-1", 1, False)])
    walls = {}
    for name, workers, warm in runs:
        load_before = os.getloadavg()[0]
        got = measure(["simulate", str(args.futures), str(args.seed), str(workers), "1" if warm else "0"])
        walls[name] = got["wall_s"]
        rows.append({"run": name, "futures": args.futures, "workers": workers, "warm": warm, "stages": stages,
                     "wall_s": got["wall_s"], "cpu_s": got["cpu_s"], "replans_solved": got["replans_solved"],
                     "cold_cpu_s": cold, "cpu_per_replan_to_cold": got["cpu_s"] / (args.futures * stages) / cold,
                     "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0], "cpus": os.cpu_count()})
    for row in rows:
        row["speedup"] = walls["warm-1"] / row["wall_s"] if row["run"] == "warm-2" else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"cold solve of the first plan: {cold:.3f} CPU s")
    for row in rows:
        speed = f", speed-up {row['speedup']:.2f}x" if row["speedup"] else ""
        print(f"{row['run']:<7} wall {row['wall_s']:8.1f} s  CPU {row['cpu_s']:8.1f} s  re-plans solved "
              f"{row['replans_solved']}  CPU per future per re-plan / cold solve {row['cpu_per_replan_to_cold']:.3f}"
              f"{speed}  (load {row['load_avg_before']:.1f} -> {row['load_avg_after']:.1f} on {row['cpus']} CPUs)")


if __name__ == "__main__":
    main()
