"""Sweep wall time with 1 and 2 worker processes (issue 5): 20 price variants of one scenario.

    .venv/bin/python benchmarks/sweep.py --scenario scenarios/china-embargo.yaml --variants 20

Writes benchmarks/results/sweep.csv (workers, variants, wall seconds, speed-up).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from optimizer.pipeline import load_scenario  # noqa: E402
from optimizer.sweep import make_variants, run_sweep  # noqa: E402


def first_price(series) -> float:
    """The first period's value of a SERIES (number, list or {month: value})."""
    if isinstance(series, dict):
        return float(next(iter(series.values())))
    return float(series if isinstance(series, (int, float)) else list(series)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(HERE.parent / "scenarios" / "china-embargo.yaml"))
    parser.add_argument("--variants", type=int, default=20)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.variants):
            path = Path(tmp) / f"p{i:02d}.csv"
            factor = 0.9 + 0.01 * i
            path.write_text("source,price\n" + "".join(
                f"{s.id},{first_price(s.price) * factor:.6g}\n" for s in scenario.sources[:5]))
            files.append(path)
        variants = make_variants(files)
        for workers in (1, 2):
            clock = time.perf_counter()
            table = run_sweep(args.scenario, variants, Path(tmp) / f"out{workers}", workers=workers)
            wall = time.perf_counter() - clock
            rows.append({"scenario": Path(args.scenario).name, "variants": len(variants), "workers": workers,
                         "wall_s": round(wall, 2), "optimal": int((table["status"] == "optimal").sum())})
            print(rows[-1], flush=True)
    rows[1]["speedup"] = round(rows[0]["wall_s"] / rows[1]["wall_s"], 2)
    rows[0]["speedup"] = 1.0
    out = HERE / "results" / "sweep.csv"
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"speed-up with 2 workers: {rows[1]['speedup']}x; written {out}")


if __name__ == "__main__":
    main()
