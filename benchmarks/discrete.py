"""Discrete decisions (SPEC v2 4.5, issue 15): each MILP against its own LP relaxation (`--relax`).

Cases: every shipped scenario that has `min_order`, `fixed_cost` or `expansion.unit`, and the medium
benchmark scenario (benchmarks/scenarios/medium.yaml) with every expansion built in `--modules`
whole modules of max / modules each. Each case is solved in a fresh subprocess, `--repeat` times,
as a MILP and as its relaxation; the table gives wall and CPU seconds of `pipeline.solve` (data,
formulation, HiGHS, the LP with the integers fixed, results), HiGHS's own run time, the gap reached
and the MILP/relaxation ratios. Results go to benchmarks/results/discrete.csv.

    .venv/bin/python benchmarks/discrete.py --repeat 3 --stat min
    .venv/bin/python benchmarks/discrete.py --cases medium-modules --time-limit 600
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COLUMNS = ["case", "mode", "integer_variables", "variables", "seconds", "cpu_seconds", "highs_seconds", "status",
           "objective", "mip_gap", "repeats", "stat", "load_avg"]


def _discrete(doc: dict) -> bool:
    entities = [*doc.get("sources", []), *doc.get("processors", [])]
    return any(e.get("min_order") or e.get("fixed_cost") or (e.get("expansion") or {}).get("unit") for e in entities)


def cases(modules: int) -> dict[str, dict]:
    """{case name: scenario dict}: the shipped scenarios with discrete decisions, and medium with modules."""
    from optimizer.loader import parse_yaml_text

    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        doc, _ = parse_yaml_text(path.read_text(), str(path))
        if _discrete(doc):
            out[path.stem] = doc
    doc, _ = parse_yaml_text((HERE / "scenarios" / "medium.yaml").read_text(), "medium.yaml")
    for entity in [*doc.get("sources", []), *doc.get("processors", [])]:
        if entity.get("expansion"):
            entity["expansion"]["unit"] = entity["expansion"]["max"] / modules
    out["medium-modules"] = doc
    return out


def worker(case: str, mode: str, modules: int, time_limit: float | None) -> None:
    """In a fresh interpreter: solve one case once, print one JSON line."""
    from optimizer.pipeline import solve
    from optimizer.solve import SolverOptions
    from optimizer.spec import Scenario

    sc = Scenario.model_validate(cases(modules)[case])
    options = SolverOptions(relax=mode == "relaxation", time_limit=time_limit)
    wall, cpu = time.perf_counter(), time.process_time()
    sol = solve(sc, options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    info = sol.run.get("solver", {})
    print(json.dumps({
        "seconds": wall, "cpu_seconds": cpu, "highs_seconds": info.get("highs_run_time"), "status": str(sol.status),
        "objective": sol.objective, "mip_gap": sol.summary.get("mip_gap"),
        "integer_variables": (sol.summary.get("mip") or {}).get("integer_variables", 0),
        "variables": info.get("columns"),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--modules", type=int, default=4, help="modules per expansion in medium-modules")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stat", choices=("median", "min"), default="min")
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "discrete.csv")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.modules, args.time_limit)
        return
    names = [c for c in args.cases.split(",") if c] or list(cases(args.modules))
    combine = min if args.stat == "min" else statistics.median
    rows = []
    for case in names:
        for mode in ("relaxation", "milp"):
            runs = []
            for _ in range(args.repeat):
                cmd = [sys.executable, __file__, "--worker", case, mode, "--modules", str(args.modules)]
                if args.time_limit is not None:
                    cmd += ["--time-limit", str(args.time_limit)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            row = {"case": case, "mode": mode, **runs[-1], "repeats": args.repeat, "stat": args.stat,
                   "load_avg": round(os.getloadavg()[0], 1)}
            for key in ("seconds", "cpu_seconds", "highs_seconds"):
                values = [r[key] for r in runs if r[key] is not None]
                row[key] = combine(values) if values else None
            rows.append(row)
            print(f"{case:24} {mode:10} {row['seconds']:8.2f} s wall {row['cpu_seconds']:8.2f} s cpu "
                  f"HiGHS {row['highs_seconds'] or 0:8.2f} s  {row['status']:10} gap {row['mip_gap']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    by = {(r["case"], r["mode"]): r for r in rows}
    print("\ncase | MILP / relaxation: wall, CPU, HiGHS")
    for case in names:
        m, r = by[case, "milp"], by[case, "relaxation"]
        ratio = lambda key: (m[key] / r[key]) if m[key] and r[key] else float("nan")  # noqa: E731
        print(f"{case} | {ratio('seconds'):.2f}x, {ratio('cpu_seconds'):.2f}x, {ratio('highs_seconds'):.2f}x")


if __name__ == "__main__":
    main()
