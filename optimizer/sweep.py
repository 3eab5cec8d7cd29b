"""Many re-solves of one scenario: price files and `--set` grids, in parallel processes or on Dask.

Every variant is validated here first; workers get the validated scenario (never a file path) and
send the result files back as bytes, so the whole sweep folder is written on this machine, as one
unit: a marked result folder swapped in at once (optimizer.destination). Each worker thread keeps a
warm `Planner` and switches it between variants with `Planner.update`, so a price-only variant
re-solves from the previous basis.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import multiprocessing
import re
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.destination import LONGEST_RESULT_FILE, Destination, check_destination, staged, write_files
from optimizer.errors import ExitCode, OptimizerError, Problem, ScenarioError, exit_code

if TYPE_CHECKING:
    from optimizer.spec import Scenario

SWEEP_COLUMNS = ["variant", "status", "objective", "expected_cost", "cvar", "cash_spend", "shortfall_total",
                 "message"]
SWEEP_TABLE = "sweep.csv"
MAX_NAME = 100  # characters of a variant folder's name; longer names end in a hash of the full one
# The sweep's exit code is the first of these that any variant has (0 when none has any): input the
# user must fix first, then a solver failure, then infeasible, then a time limit.
EXIT_PRECEDENCE = (ExitCode.BAD_INPUT, ExitCode.FAILURE, ExitCode.INFEASIBLE, ExitCode.TIME_LIMIT)


@dataclass(frozen=True)
class Variant:
    """One re-solve: a price file and/or `--set` overrides on top of the base scenario."""

    name: str
    prices: str | None = None
    sets: tuple[str, ...] = field(default_factory=tuple)


# --- variants and their folder names -------------------------------------------------------------


def split_values(text: str) -> list[str]:
    """The values of `--set-grid PATH=v1,v2,...`, split on top-level commas only: commas inside
    brackets, braces or quotes stay, so `{2026-01: 0, 2027-01: 30},{2026-01: 5}` is two values."""
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            values.append(text[start:i])
            start = i + 1
    values.append(text[start:])
    return [v.strip() for v in values if v.strip()]


def slug(text: str) -> str:
    """A folder-name piece: letters and digits, a dot only as a decimal point, anything else one `-`."""
    protected = re.sub(r"(?<=\d)\.(?=\d)", "\0", text)
    return re.sub(r"[^A-Za-z0-9\0]+", "-", protected).strip("-").replace("\0", ".")


def value_label(text: str) -> str:
    """A `--set` value in a folder name: numbers in plain decimal (`0.5`, `1000000`, `minus2`), other
    values (lists, mappings, words) as a slug of their text."""
    from optimizer.overrides import parse_value

    value = parse_value(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return slug(text)
    import numpy as np

    digits = str(abs(value)) if isinstance(value, int) else np.format_float_positional(abs(value), trim="-")
    return ("minus" if value < 0 else "") + digits


def path_labels(paths: Sequence[str]) -> list[str]:
    """Short labels of `--set` paths: the last key (`sources[cn-dy].price` -> `price`), with as many
    keys before it as needed to tell two grids apart (`cn-dy-price`, `au-dy-price`)."""
    keys = [re.findall(r"[^.\[\]]+", p) for p in paths]
    depth = [1] * len(paths)
    while True:
        labels = [slug("-".join(k[-d:])) or "set" for k, d in zip(keys, depth)]
        clash = [i for i, label in enumerate(labels) if labels.count(label) > 1 and depth[i] < len(keys[i])]
        if not clash:
            return labels
        for i in clash:
            depth[i] += 1


def _short(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    return name[: MAX_NAME - 9].rstrip("-_.") + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique in order: a repeated name gets `-2`, `-3`, ... (skipping names in use)."""
    used = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            k = 2
            while f"{name}-{k}" in used:
                k += 1
            name = f"{name}-{k}"
            used.add(name)
        seen.add(name)
        out.append(name)
    return out


def make_variants(prices: Sequence[str | Path] = (), prices_dir: str | Path | None = None,
                  set_grid: Sequence[str] = ()) -> list[Variant]:
    """Price files crossed with every combination of the `PATH=v1,v2` grids. Folder names are readable
    and unique: the price file's stem, then `<label>-<value>` per grid (`a_aversion-0.5`)."""
    files = [Path(p) for p in prices]
    if prices_dir is not None:
        folder = Path(prices_dir)
        if not folder.is_dir():
            raise ScenarioError([Problem(("--prices-dir",), f"{folder} is not a folder")])
        files += sorted(folder.glob("*.csv"))
    grids: list[tuple[str, list[str]]] = []
    for item in set_grid:
        path, _, values = item.partition("=")
        split = split_values(values)
        if not path.strip() or not split:
            raise ScenarioError([Problem(("--set-grid",), f"`{item}` is not PATH=v1,v2,...")])
        grids.append((path.strip(), split))
    labels = path_labels([path for path, _ in grids])
    combos = list(itertools.product(*[[(label, path, v) for v in values]
                                      for label, (path, values) in zip(labels, grids)]))
    variants = []
    for file in files or [None]:
        for combo in combos:
            parts = ([slug(file.stem) or "prices"] if file else []) + [f"{lab}-{value_label(v)}" for lab, _, v in combo]
            variants.append(Variant(_short("_".join(parts)) if parts else "base", str(file) if file else None,
                                    tuple(f"{path}={v}" for _, path, v in combo)))
    names = unique_names([v.name for v in variants])
    return [Variant(n, v.prices, v.sets) for n, v in zip(names, variants)]


# --- validation (here, before anything is solved) ------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A variant with its validated scenario, or the message saying why its input is bad."""

    variant: Variant
    scenario: Scenario | None
    problem: str | None = None


def prepare_variants(scenario_path: str | Path, variants: Sequence[Variant]) -> list[Prepared]:
    """Validate every variant: the scenario with its `--set` values (once per combination), then its
    price file (read once). A bad variant carries its message and is never solved."""
    from optimizer.overrides import apply_prices, read_prices
    from optimizer.pipeline import load_scenario

    bases: dict[tuple[str, ...], Scenario | OptimizerError] = {}
    price_rows: dict[str, list | OptimizerError] = {}
    out = []
    for v in variants:
        try:
            if v.sets not in bases:
                bases[v.sets] = _attempt(lambda: load_scenario(scenario_path, v.sets))
            scenario = bases[v.sets]
            if isinstance(scenario, OptimizerError):
                raise scenario
            if v.prices is not None:
                if v.prices not in price_rows:
                    price_rows[v.prices] = _attempt(lambda: read_prices(v.prices))
                rows = price_rows[v.prices]
                if isinstance(rows, OptimizerError):
                    raise rows
                scenario = apply_prices(scenario, rows)
            out.append(Prepared(v, scenario))
        except OptimizerError as exc:
            sets = f" (--set {' --set '.join(v.sets)})" if v.sets else ""
            out.append(Prepared(v, None, f"{str(exc).rstrip()}{sets}"))
    return out


def _attempt(load: Callable[[], object]) -> object:
    try:
        return load()
    except OptimizerError as exc:
        return exc


# --- solving (on a worker: no files, no paths) ---------------------------------------------------


@dataclass(frozen=True)
class VariantResult:
    """What a worker sends back: the sweep table's row and the variant folder's files (name -> bytes)."""

    row: dict
    files: dict[str, bytes]


_WARM = threading.local()  # per worker thread: (sweep token, warm Planner)


def run_variant(token: str, name: str, scenario: Scenario, time_limit: float | None = None,
                threads: int | None = None) -> VariantResult:
    """Solve one validated variant, reusing this thread's warm model of the same sweep (`token`);
    writes nothing and never raises: a failure is the row's status and message."""
    from optimizer.export import result_files
    from optimizer.planner import Planner
    from optimizer.solve import SolverOptions

    row: dict = {"variant": name}
    try:
        if getattr(_WARM, "token", None) == token:
            _WARM.planner.update(scenario)
        else:
            _WARM.token = None
            _WARM.planner = Planner(scenario, SolverOptions(time_limit=time_limit, threads=threads or 1))
            _WARM.token = token
        solution = _WARM.planner.solve()
        summary = solution.summary
        row["status"] = str(solution.status)
        if summary.get("objective") is None:
            row["message"] = f"no plan: {solution.status}"
            return VariantResult(row, {})
        row.update(
            objective=summary["objective"], expected_cost=summary["expected_cost"], cvar=summary["cvar"],
            cash_spend=summary["cash_spend"], shortfall_total=sum(summary["shortfall_by_material"].values()),
            **{f"shortfall_{m}": v for m, v in summary["shortfall_by_material"].items()},
        )
        return VariantResult(row, result_files(solution))
    except Exception as exc:  # noqa: BLE001 - one failed variant must not stop the sweep
        _WARM.token = None
        outcome = exc.outcome if isinstance(exc, OptimizerError) else "error"
        text = str(exc) if isinstance(exc, OptimizerError) else f"{type(exc).__name__}: {exc}"
        row.update(status=outcome, message=one_line(text))
        return VariantResult(row, {})


def _forget_warm_model() -> None:
    _WARM.__dict__.clear()


# --- the sweep -----------------------------------------------------------------------------------


def sweep_destination(out_dir: str | Path, variants: Sequence[Variant], force: bool = False,
                      inputs: Sequence[str | Path] = ()) -> Destination:
    """Check the sweep folder (before solving): a result folder of this tool, empty, or new."""
    longest = max((v.name for v in variants), key=len, default="base")
    return check_destination(out_dir, force=force, deepest=f"{longest}/{LONGEST_RESULT_FILE}",
                             inputs=[*inputs, *(v.prices for v in variants if v.prices)])


def run_sweep(scenario_path: str | Path, variants: list[Variant], out_dir: str | Path, workers: int = 1,
              scheduler: str | None = None, time_limit: float | None = None,
              progress: Callable[[int, int], None] | None = None, force: bool = False) -> pd.DataFrame:
    """Validate and solve every variant; write DIR/<variant>/ for each plan and DIR/sweep.csv, the
    whole folder in one swap. Returns the sweep table."""
    dest = sweep_destination(out_dir, variants, force, [scenario_path])
    return solve_sweep(prepare_variants(scenario_path, variants), dest, workers=workers, scheduler=scheduler,
                       time_limit=time_limit, progress=progress)


def solve_sweep(prepared: Sequence[Prepared], out: str | Path | Destination, workers: int = 1,
                scheduler: str | None = None, time_limit: float | None = None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Solve the validated variants (bad ones are rows with status `bad_input`) and write the sweep
    folder on this machine; returns the sweep table (also DIR/sweep.csv)."""
    dest = out if isinstance(out, Destination) else sweep_destination(out, [p.variant for p in prepared])
    tick = progress or (lambda done, total: None)
    rows = [{"variant": p.variant.name, "status": "bad_input", "message": one_line(p.problem)}
            for p in prepared if p.scenario is None]
    todo = [p for p in prepared if p.scenario is not None]
    with staged(dest) as folder:
        for done, result in enumerate(_solve_all(todo, workers, scheduler, time_limit), start=len(rows) + 1):
            if result.files:
                write_files(folder / result.row["variant"], result.files)
            rows.append(result.row)
            tick(done, len(prepared))
        table = sweep_table(rows, [p.variant.name for p in prepared])
        from optimizer.export import csv_bytes

        write_files(folder, {SWEEP_TABLE: csv_bytes(table, quoted=True)})  # messages are free text
    return table


def _solve_all(todo: Sequence[Prepared], workers: int, scheduler: str | None,
               time_limit: float | None) -> Iterator[VariantResult]:
    """Results as they complete: on a Dask cluster, in worker processes, or here one after another."""
    token = secrets.token_hex(8)
    jobs = [(token, p.variant.name, p.scenario, time_limit, 1) for p in todo]
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_as_completed

        with Client(scheduler) as client:
            futures = [client.submit(run_variant, *job, key=f"variant-{token}-{i}", pure=False)
                       for i, job in enumerate(jobs)]
            for future in dask_as_completed(futures):
                yield future.result()
    elif workers > 1 and len(jobs) > 1:
        yield from _in_processes(jobs, workers)
    else:
        try:
            for job in jobs:
                yield run_variant(*job)
        finally:
            _forget_warm_model()


def _in_processes(jobs: list[tuple], workers: int) -> Iterator[VariantResult]:
    """Jobs in a pool of worker processes. Interrupted, the workers are stopped at once: their
    results only ever come back here, so nothing of theirs is left half-written."""
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_ignores_signals)
    try:
        futures = [pool.submit(run_variant, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        for child in set(multiprocessing.active_children()) - before:
            child.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _worker_ignores_signals() -> None:
    """Ctrl-C reaches every process of the terminal's group: the sweep process handles it and stops
    the workers, which would otherwise each print a traceback. SIGTERM keeps its default."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def one_line(text: str) -> str:
    """A message for one CSV cell: its lines joined by single spaces."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def sweep_table(rows: list[dict], order: list[str]) -> pd.DataFrame:
    """Rows in variant order, the fixed columns first, then shortfall by material."""
    table = pd.DataFrame(rows)
    extra = sorted(c for c in table.columns if c not in SWEEP_COLUMNS)
    table = table.reindex(columns=[c for c in SWEEP_COLUMNS if c != "message"] + extra + ["message"])
    table["variant"] = pd.Categorical(table["variant"], categories=order, ordered=True)
    table = table.sort_values("variant").reset_index(drop=True)
    table["variant"] = table["variant"].astype(str)
    for col in table.columns:
        if col not in ("variant", "status", "message"):
            table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table["message"] = table["message"].astype(object).where(table["message"].notna(), "")
    return table


def variant_outcome(status: str) -> str:
    """A sweep row's status as an outcome of EXIT_CODES: a solver status, or `bad_input` / `error`."""
    from optimizer.solve import SolveStatus

    try:
        return SolveStatus(status).outcome
    except ValueError:
        return status


def sweep_exit_code(statuses: Sequence[str]) -> ExitCode:
    """The sweep's exit code: the first code of EXIT_PRECEDENCE any variant's outcome maps to."""
    codes = {exit_code(variant_outcome(s)) for s in statuses}
    return next((code for code in EXIT_PRECEDENCE if code in codes), ExitCode.OPTIMAL)
