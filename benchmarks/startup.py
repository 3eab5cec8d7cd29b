"""Start-up of a planner-sized run: `optimize scenarios/baseline.yaml` as a whole process against a bare
`python -c "import numpy, highspy"` timed in the same run (issue 13's target: at most 5x).

Each repetition runs the two processes back to back (interleaved, so load on a shared machine hits both
alike) and records wall time and CPU time (user + system of the child, from `resource.getrusage`). CPU
time is the steadier figure on a busy machine. The report gives min and median of each and their ratios,
then the start-up budget: the cumulative import time of the heaviest top-level modules on the CLI path
(`python -X importtime`), which is where a small run's time goes.

    .venv/bin/python benchmarks/startup.py [--repeat 7] [--scenario scenarios/baseline.yaml]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = [sys.executable, "-c", "import numpy, highspy"]


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def import_budget(cmd: list[str], top: int = 14) -> list[tuple[str, float]]:
    """The `top` packages (and optimizer modules) of `cmd` by cumulative import time in seconds, from
    -X importtime. Cumulative: a package imported inside another counts in both (numpy in pandas)."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    err = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m and ("." not in m.group(3) or m.group(3).startswith("optimizer.")):
            rows.append((m.group(3), int(m.group(2)) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--scenario", default="scenarios/baseline.yaml")
    args = parser.parse_args()
    optimize = str(Path(sys.executable).with_name("optimize"))
    with tempfile.TemporaryDirectory() as tmp:
        run = [optimize, args.scenario, "--out", str(Path(tmp) / "plan"), "--quiet"]
        timed(BARE), timed(run)  # warm the page cache and the bytecode
        bare, ours = [], []
        for _ in range(args.repeat):
            bare.append(timed(BARE))
            ours.append(timed(run))
        budget = import_budget([sys.executable, "-m", "optimizer", args.scenario, "--out",
                                str(Path(tmp) / "plan2"), "--quiet"])
    print(f"{args.scenario}: {args.repeat} interleaved runs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':28}{'wall min':>10}{'wall med':>10}{'cpu min':>10}{'cpu med':>10}")
    for name, rows in (("import numpy, highspy", bare), ("optimize (whole process)", ours)):
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"{name:28}{min(walls):10.3f}{statistics.median(walls):10.3f}"
              f"{min(cpus):10.3f}{statistics.median(cpus):10.3f}")
    ratio = lambda f, i: f([r[i] for r in ours]) / f([r[i] for r in bare])  # noqa: E731
    print(f"{'ratio (target <= 5x)':28}{ratio(min, 0):10.2f}{ratio(statistics.median, 0):10.2f}"
          f"{ratio(min, 1):10.2f}{ratio(statistics.median, 1):10.2f}")
    print("\nstart-up budget (cumulative import time of packages and optimizer modules, one run, seconds):")
    for module, seconds in budget:
        print(f"  {module:40}{seconds:8.3f}")


if __name__ == "__main__":
    main()
