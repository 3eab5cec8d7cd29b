"""`make bench`: time every stage of `optimize` on generated scenarios, for both hand-off routes and linopy.

For each size and route, fresh subprocesses measure
  - the stages in-process (`--worker stages`): imports, load+validate, data prep, formulate, Pyomo build,
    hand-off, HiGHS solve (HiGHS's own run time and the wall time of `run()`), results, export, peak RSS;
  - the whole process: a real `optimize FILE --out DIR -q --route R` run, its wall time and peak RSS, and
    the ratio of that wall time to HiGHS's own run time in the same process (run.json);
  - the linopy yardstick (`--worker linopy`): the same LP built with benchmarks/linopy_model.py and solved
    with linopy's HiGHS direct io_api.
Results go to benchmarks/results/<size>.csv (one row per route and stage) and a table on stdout.

    .venv/bin/python benchmarks/run.py                      # small and medium
    .venv/bin/python benchmarks/run.py --sizes large --timeout 900
"""

from __future__ import annotations

import argparse
import compileall
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROUTES = ("pyomo", "direct")
# Stage rows in display order: (key, label). Keys are the `stage` column of the CSV files.
STAGES = [
    ("imports", "imports (fresh interpreter)"),
    ("load_validate", "load + validate"),
    ("data", "data prep (build_data)"),
    ("formulate", "model build: formulate (arrays)"),
    ("build_pyomo", "model build: Pyomo (to_pyomo)"),
    ("build_linopy", "model build: linopy"),
    ("handoff", "hand-off to HiGHS"),
    ("highs_run", "HiGHS solve (HiGHS run time)"),
    ("solve_other", "solve wall - HiGHS run time"),
    ("results", "results (build_solution)"),
    ("pipeline_solve", "  subtotal: pipeline.solve (data .. results)"),
    ("export", "export (Solution.write)"),
    ("stages_total", "sum of stages"),
    ("process_total", "whole process (subprocess wall)"),
    ("process_highs", "  HiGHS run time in that process"),
]
CSV_COLUMNS = ["size", "route", "stage", "seconds", "cpu_seconds", "ratio_to_highs", "peak_rss_mb", "variables",
               "constraints", "nonzeros", "simplex_iterations", "objective", "cpus", "cpu_model", "memory_gb", "python",
               "highs", "repeats", "stat", "load_avg"]


# --- workers: run in a fresh interpreter, print one JSON object per finished stage ------------------


def _emit(**item) -> None:
    sys.__stdout__.write(json.dumps(item) + "\n")
    sys.__stdout__.flush()


class _Clock:
    """Wall and CPU seconds (all threads of this process) since the last `lap`."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        _emit(stage=stage, seconds=wall - self.wall, cpu=cpu - self.cpu)
        self.wall, self.cpu = wall, cpu


def _cpu_total() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _quiet_stdout() -> None:
    """Send fd 1 (HiGHS's C-level banner and log) to stderr; results go to the saved stdout."""
    saved = os.dup(1)
    os.dup2(2, 1)
    sys.__stdout__ = os.fdopen(saved, "w")


def worker_stages(path: str, route: str) -> None:
    """One `optimize` run, stage by stage: optimizer.pipeline.load_scenario, .solve (its own stage timings,
    with the GC handling it has), Solution.write."""
    _quiet_stdout()
    clock = _Clock()
    import optimizer.cli  # noqa: F401  (what `optimize` imports before any work)
    from optimizer.pipeline import load_scenario, solve

    if route == "pyomo":
        import optimizer.model.pyomo_model  # noqa: F401
    clock.lap("imports")
    sc = load_scenario(path)
    clock.lap("load_validate")
    start = time.perf_counter()
    solution = solve(sc, None, route=route)
    total = time.perf_counter() - start
    clock.lap("pipeline_solve")
    timings = solution.run["timings_seconds"]
    solver = solution.run["solver"]
    highs = solver["highs_run_time"]
    for key in ("data", "formulate", "matrix", "build_pyomo", "compile_pyomo", "handoff"):
        if key in timings:
            _emit(stage=key, seconds=timings[key])
    _emit(stage="highs_run", seconds=highs)
    _emit(stage="solve_other", seconds=timings["solve"] - highs)
    # build_solution plus what the pipeline does after it (run_info, coefficient warnings, ...)
    _emit(stage="results", seconds=total - sum(v for k, v in timings.items() if k != "results"))
    out = tempfile.mkdtemp(prefix="bench-export-")
    try:
        clock = _Clock()
        solution.write(Path(out) / "result")
        clock.lap("export")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    _emit(stage="done", peak_rss_mb=_peak_rss_mb(), cpu=_cpu_total(), highs=highs, objective=solution.objective,
          variables=solver["columns"], constraints=solver["rows"], nonzeros=solver["nonzeros"],
          simplex_iterations=solver["simplex_iterations"])


def worker_linopy(path: str) -> None:
    """The yardstick: same scenario and ModelData, LP built in linopy, solved through linopy's highs direct."""
    _quiet_stdout()
    clock = _Clock()
    sys.path.insert(0, str(HERE))
    import linopy_model

    from optimizer.data import build_data
    from optimizer.pipeline import load_scenario

    clock.lap("imports")
    sc = load_scenario(path)
    clock.lap("load_validate")
    data = build_data(sc)
    clock.lap("data")
    model = linopy_model.build(data)
    clock.lap("build_linopy")
    clock = time.perf_counter()
    objective = linopy_model.solve(model)
    wall = time.perf_counter() - clock
    h = model.solver_model
    highs = float(h.getRunTime())
    _emit(stage="highs_run", seconds=highs)
    _emit(stage="handoff", seconds=wall - highs)  # linopy: matrices + addVars/addRows + solution read-back
    _emit(stage="done", peak_rss_mb=_peak_rss_mb(), cpu=_cpu_total(), highs=highs, objective=objective,
          variables=h.getNumCol(),
          constraints=h.getNumRow(), nonzeros=h.getNumNz(), simplex_iterations=int(h.getInfo().simplex_iteration_count))


# --- the parent: subprocesses, timeouts, memory watch --------------------------------------------


class Watch:
    """Run a command; stop it past `timeout` seconds or `max_rss_gb`; report wall time and peak RSS."""

    def __init__(self, cmd: list[str], timeout: float, max_rss_gb: float, cwd: Path):
        self.cmd, self.timeout, self.max_rss, self.cwd = cmd, timeout, max_rss_gb * 1024**3, cwd
        self.killed: str | None = None

    def run(self) -> tuple[int, float, float, str]:
        """(exit code, wall seconds, peak RSS MB, stdout); CPU seconds (user + system) in `self.cpu`."""
        start = time.perf_counter()
        proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out: list[str] = []
        err: list[str] = []
        readers = [threading.Thread(target=lambda s=s, b=b: b.extend(s), daemon=True)
                   for s, b in ((proc.stdout, out), (proc.stderr, err))]
        for r in readers:
            r.start()
        status = rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > self.timeout:
                self.killed = f"timeout after {self.timeout:.0f} s"
            elif _rss(proc.pid) > self.max_rss:
                self.killed = f"RSS above {self.max_rss / 1024**3:.1f} GB"
            if self.killed:
                proc.kill()
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        for r in readers:
            r.join(timeout=5)
        self.stderr = "".join(err)
        self.cpu = rusage.ru_utime + rusage.ru_stime
        return proc.returncode, wall, rusage.ru_maxrss / 1024.0, "".join(out)


def _rss(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


def _worker_cmd(kind: str, path: Path, route: str | None = None) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(path)]
    return cmd + (["--route", route] if route else [])


def _optimize_cmd(path: Path, out: Path, route: str) -> list[str]:
    exe = Path(sys.executable).parent / "optimize"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "optimizer"]
    return base + [str(path), "--out", str(out), "-q", "--route", route]


def measure_stages(cmd: list[str], args) -> dict:
    watch = Watch(cmd, args.timeout, args.max_rss_gb, ROOT)
    code, wall, rss, out = watch.run()
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    info: dict = {"peak_rss_mb": rss, "wall": wall, "process_cpu": watch.cpu}
    for line in out.splitlines():
        item = json.loads(line)
        if item["stage"] == "done":
            info.update({k: v for k, v in item.items() if k != "stage"})
        elif item["stage"] == "pipeline_solve":
            cpu["pipeline_solve"] = item["cpu"]
        else:
            stages[item["stage"]] = item["seconds"]
            if "cpu" in item:
                cpu[item["stage"]] = item["cpu"]
    info["stage_cpu"] = cpu
    if code != 0 or "highs" not in info:
        info["error"] = watch.killed or f"exit {code}: {watch.stderr.strip().splitlines()[-1:]}"
    return {"stages": stages, "info": info}


def measure_process(path: Path, route: str, args) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    try:
        watch = Watch(_optimize_cmd(path, out / "result", route), args.timeout, args.max_rss_gb, ROOT)
        code, wall, rss, _ = watch.run()
        run = out / "result" / "run.json"
        if code != 0 or not run.exists():
            return {"error": watch.killed or f"optimize exit {code}: {watch.stderr.strip()[-300:]}", "wall": wall,
                    "peak_rss_mb": rss}
        solver = json.loads(run.read_text())["solver"]
        return {"wall": wall, "peak_rss_mb": rss, "highs": solver["highs_run_time"], "cpu": watch.cpu}
    finally:
        shutil.rmtree(out, ignore_errors=True)


STATS = {"median": statistics.median, "min": min}


def _combine_runs(runs: list[dict], stat) -> dict:
    """`stat` (median or min) of each stage over repeated runs; the first good run's counts."""
    ok = [r for r in runs if "error" not in r["info"]] or runs
    stages = {k: stat([r["stages"][k] for r in ok if k in r["stages"]])
              for k in {k for r in ok for k in r["stages"]}}
    info = dict(ok[0]["info"])
    info["stage_cpu"] = {k: stat([r["info"]["stage_cpu"][k] for r in ok if k in r["info"].get("stage_cpu", {})])
                         for k in {k for r in ok for k in r["info"].get("stage_cpu", {})}}
    if all("cpu" in r["info"] for r in ok):
        info["cpu"] = stat([r["info"]["cpu"] for r in ok])
    if len(ok) > 1 and all("highs" in r["info"] for r in ok):
        info["highs"] = stat([r["info"]["highs"] for r in ok])
        info["peak_rss_mb"] = statistics.median(r["info"]["peak_rss_mb"] for r in ok)
    return {"stages": stages, "info": info}


def bench_size(size: str, args, machine: dict) -> list[dict]:
    sys.path.insert(0, str(HERE))
    import generate

    path = generate.write(size, HERE / "scenarios", seed=args.seed)
    rows: list[dict] = []
    columns = [*args.routes] + (["linopy"] if args.linopy else [])
    for column in columns:
        runs, procs, load = [], [], 0.0
        for _ in range(args.repeat):
            load = max(load, os.getloadavg()[0])  # other work on the machine inflates wall times
            if column == "linopy":
                runs.append(measure_stages(_worker_cmd("linopy", path), args))
                info = runs[-1]["info"]
                procs.append({"wall": info["wall"], "peak_rss_mb": info["peak_rss_mb"], "highs": info.get("highs"),
                              "cpu": info["process_cpu"]}
                             | ({"error": info["error"]} if "error" in info else {}))
            else:
                runs.append(measure_stages(_worker_cmd("stages", path, column), args))
                procs.append(measure_process(path, column, args))
            print(f"  {size:<6} {column:<6} run {len(runs)}/{args.repeat}: "
                  + (runs[-1]["info"].get("error") or procs[-1].get("error")
                     or f"process {procs[-1]['wall']:.2f} s, HiGHS {procs[-1]['highs']:.2f} s"), flush=True)
        rows += [row | {"load_avg": round(load, 2)} for row in _rows(
            size, column, _combine_runs(runs, STATS[args.stat]), procs, machine, args.repeat, STATS[args.stat])]
    return rows


def _rows(size: str, route: str, run: dict, procs: list[dict], machine: dict, repeats: int, stat) -> list[dict]:
    stages, info = run["stages"], run["info"]
    highs = info.get("highs")
    common = {k: info.get(k) for k in ("variables", "constraints", "nonzeros", "simplex_iterations", "objective")}
    common |= machine | {"size": size, "route": route, "repeats": repeats, "stat": stat.__name__}
    rows = []

    cpu = info.get("stage_cpu", {})

    def add(stage: str, seconds: float | None, peak: float | None = None, ref: float | None = highs,
            cpu_seconds: float | None = None) -> None:
        rows.append(common | {
            "stage": stage,
            "seconds": None if seconds is None else round(seconds, 4),
            "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 4),
            "ratio_to_highs": None if seconds is None or not ref else round(seconds / ref, 3),
            "peak_rss_mb": None if peak is None else round(peak, 1),
        })

    for key, _ in STAGES[:-3]:
        if key == "pipeline_solve" and key in cpu:
            add(key, sum(stages.get(k, 0.0) for k in ("data", "formulate", "build_pyomo", "handoff", "highs_run",
                                                      "solve_other", "results")), cpu_seconds=cpu[key])
        elif key in stages:
            add(key, stages[key], cpu_seconds=cpu.get(key))
    if stages:
        add("stages_total", sum(stages.values()), info.get("peak_rss_mb") if "error" not in info else None,
            cpu_seconds=info.get("cpu"))
    if "error" in info:
        rows.append(common | {"stage": f"error: {info['error']}"})
    good = [p for p in procs if "error" not in p]
    if good:
        best = good if stat is statistics.median else [min(good, key=lambda p: p["wall"])]
        wall = statistics.median(p["wall"] for p in best)
        phighs = statistics.median(p["highs"] for p in best)
        add("process_total", wall, statistics.median(p["peak_rss_mb"] for p in good), ref=phighs,
            cpu_seconds=statistics.median(p["cpu"] for p in best))
        add("process_highs", phighs, ref=phighs)
    elif procs:
        rows.append(common | {"stage": f"process error: {procs[0]['error']}"})
    return rows


def machine_info() -> dict:
    import highspy

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    h = highspy.Highs()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem, 1),
        "python": platform.python_version(),
        "highs": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}",
    }


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def table(size: str, rows: list[dict]) -> str:
    """Stages down, routes across: wall seconds (CPU seconds where measured; x HiGHS for the totals)."""
    routes = list(dict.fromkeys(r["route"] for r in rows))
    cell = {(r["route"], r["stage"]): r for r in rows}
    first = next((r for r in rows if r.get("variables")), rows[0])
    lines = [f"\n## {size}: {first.get('variables')} variables, {first.get('constraints')} rows, "
             f"{first.get('nonzeros')} nonzeros; {first['cpus']} CPUs ({first['cpu_model']}), "
             f"Python {first['python']}, HiGHS {first['highs']}",
             "", "| stage | " + " | ".join(routes) + " |", "| --- |" + " ---: |" * len(routes)]
    for key, label in STAGES:
        if not any((route, key) in cell for route in routes):
            continue
        vals = []
        for route in routes:
            r = cell.get((route, key))
            if r is None or r["seconds"] is None:
                vals.append("")
            elif key in ("stages_total", "process_total"):
                notes = [f"{r['ratio_to_highs']:.2f}x HiGHS"] if r["ratio_to_highs"] is not None else []
                notes += [f"CPU {r['cpu_seconds']:.1f} s"] if r.get("cpu_seconds") is not None else []
                vals.append(f"{r['seconds']:.2f} s" + (f" ({', '.join(notes)})" if notes else ""))
            elif r.get("cpu_seconds") is not None:
                vals.append(f"{r['seconds']:.3f} (CPU {r['cpu_seconds']:.3f})")
            else:
                vals.append(f"{r['seconds']:.3f}")
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    for key, label in (("stages_total", "peak RSS, stage worker (MB)"), ("process_total", "peak RSS, whole process (MB)")):
        vals = [f"{cell[(route, key)]['peak_rss_mb']:.0f}" if (route, key) in cell and cell[(route, key)]["peak_rss_mb"]
                else "" for route in routes]
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    errors = [r["stage"] for r in rows if r["stage"].startswith(("error", "process error"))]
    lines += [f"- {r['route']}: {r['stage']}" for r in rows if r["stage"] in errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium", help="comma-separated: small,medium,large")
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated: pyomo,direct")
    parser.add_argument("--no-linopy", dest="linopy", action="store_false", help="skip the linopy yardstick")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement")
    parser.add_argument("--stat", choices=sorted(STATS), default="median",
                        help="how repeats combine: median, or min (robust to other load on the machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per subprocess before it is stopped")
    parser.add_argument("--max-rss-gb", type=float, default=8.0, help="stop a subprocess above this RSS")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--worker", choices=["stages", "linopy"], help=argparse.SUPPRESS)
    parser.add_argument("--route", choices=ROUTES, default="pyomo", help=argparse.SUPPRESS)
    parser.add_argument("file", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "stages":
        worker_stages(args.file, args.route)
        return 0
    if args.worker == "linopy":
        worker_linopy(args.file)
        return 0
    args.routes = [r for r in args.routes.split(",") if r]
    # Bytecode as an install leaves it: with PYTHONDONTWRITEBYTECODE set (as on this machine) an
    # editable install would otherwise recompile the package in every run (~50 ms); `make` does this too.
    compileall.compile_dir(ROOT / "optimizer", quiet=1)
    machine = machine_info()
    for size in [s for s in args.sizes.split(",") if s]:
        print(f"benchmarking {size} ...", flush=True)
        rows = bench_size(size, args, machine)
        write_csv(rows, args.out / f"{size}.csv")
        print(table(size, rows), flush=True)
        print(f"\n(wrote {os.path.relpath(args.out / f'{size}.csv')})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
