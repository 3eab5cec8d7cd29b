"""`optimize --analyze` against the plain run (issue 14's target: at most 3x), whole processes.

Runs `optimize FILE -q` and `optimize FILE -q --analyze` alternately, `--repeat` times each, and
reports the minimum wall time and CPU time (user + system, all threads) of each, their ratios, and
the analysis stage's own seconds from run.json. Minimum of repeats, interleaved, because the machine
is shared: other load inflates single runs, not the best one. Results go to
benchmarks/results/analytics.csv.

    .venv/bin/python benchmarks/analytics.py                      # china-embargo and medium, 3 repeats
    .venv/bin/python benchmarks/analytics.py --scenarios scenarios/baseline.yaml --repeat 5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT = [ROOT / "scenarios" / "china-embargo.yaml", HERE / "scenarios" / "medium.yaml"]
COLUMNS = ["scenario", "plain_seconds", "analyze_seconds", "ratio", "plain_cpu_seconds", "analyze_cpu_seconds",
           "cpu_ratio", "analysis_stage_seconds", "solve_seconds", "repeats", "load_avg"]


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process, from spawn to exit."""
    clock = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - clock
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def bench(path: Path, repeats: int) -> dict:
    optimize = str(ROOT / ".venv" / "bin" / "optimize")
    plain, analyzed, load = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            load = max(load, os.getloadavg()[0])
            plain.append(run([optimize, str(path), "-q", "--out", f"{tmp}/plain"]))
            analyzed.append(run([optimize, str(path), "-q", "--analyze", "--out", f"{tmp}/analyzed"]))
        timings = json.loads(Path(f"{tmp}/analyzed/run.json").read_text())["timings_seconds"]
    wall_p, cpu_p = min(w for w, _ in plain), min(c for _, c in plain)
    wall_a, cpu_a = min(w for w, _ in analyzed), min(c for _, c in analyzed)
    return {"scenario": path.relative_to(ROOT).as_posix(), "plain_seconds": round(wall_p, 2),
            "analyze_seconds": round(wall_a, 2), "ratio": round(wall_a / wall_p, 2),
            "plain_cpu_seconds": round(cpu_p, 2), "analyze_cpu_seconds": round(cpu_a, 2),
            "cpu_ratio": round(cpu_a / cpu_p, 2), "analysis_stage_seconds": round(timings["analysis"], 2),
            "solve_seconds": round(timings["solve"], 2), "repeats": repeats, "load_avg": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "analytics.csv")
    args = parser.parse_args()
    rows = []
    for path in args.scenarios:
        row = bench(path.resolve(), args.repeat)
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
