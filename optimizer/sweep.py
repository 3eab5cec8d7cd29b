"""Many re-solves of one scenario: price files and `--set` grids, in parallel processes or on Dask.

Each worker keeps a warm `Planner` per scenario file and switches it between variants with
`Planner.update`, so a price-only variant re-solves from the previous basis.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from optimizer.errors import OptimizerError, Problem, ScenarioError

SWEEP_COLUMNS = ["variant", "status", "objective", "expected_cost", "cvar", "cash_spend", "shortfall_total",
                 "message"]


@dataclass(frozen=True)
class Variant:
    """One re-solve: a price file and/or `--set` overrides on top of the base scenario."""

    name: str
    prices: str | None = None
    sets: tuple[str, ...] = field(default_factory=tuple)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "variant"


def make_variants(prices: Sequence[str | Path] = (), prices_dir: str | Path | None = None,
                  set_grid: Sequence[str] = ()) -> list[Variant]:
    """Price files (named after their stem) crossed with every combination of the `PATH=v1,v2` grids."""
    files = [Path(p) for p in prices]
    if prices_dir is not None:
        folder = Path(prices_dir)
        if not folder.is_dir():
            raise ScenarioError([Problem(("--prices-dir",), f"{folder} is not a folder")])
        files += sorted(folder.glob("*.csv"))
    grids = []
    for item in set_grid:
        if "=" not in item:
            raise ScenarioError([Problem(("--set-grid",), f"`{item}` is not PATH=v1,v2,...")])
        path, values = item.split("=", 1)
        grids.append([f"{path}={v}" for v in values.split(",") if v != ""])
    combos = list(itertools.product(*grids)) if grids else [()]
    out = []
    for file in files or [None]:
        for combo in combos:
            parts = ([file.stem] if file else []) + [s.replace("=", "-") for s in combo]
            out.append(Variant(_slug("_".join(parts)) if parts else "base", str(file) if file else None, combo))
    names = [v.name for v in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScenarioError([Problem(("--prices",), f"two variants would share the folder name {', '.join(dupes)}")])
    return out


_PLANNERS: dict[str, object] = {}  # per process: scenario file -> warm Planner


def run_variant(scenario_path: str, variant: Variant, out_dir: str, time_limit: float | None = None,
                threads: int | None = None) -> dict:
    """Solve one variant (reusing this process's warm model) and write DIR/<variant>/; never raises."""
    from optimizer.pipeline import load_scenario
    from optimizer.planner import Planner
    from optimizer.solve import SolverOptions

    row = {"variant": variant.name}
    try:
        scenario = load_scenario(scenario_path, variant.sets, variant.prices)
        planner = _PLANNERS.get(scenario_path)
        if planner is None:
            planner = Planner(scenario, SolverOptions(time_limit=time_limit, threads=threads or 1))
            _PLANNERS[scenario_path] = planner
        else:
            planner.update(scenario)
        solution = planner.solve()
        summary = solution.summary
        row.update(status=solution.status)
        if summary.get("objective") is not None:
            solution.write(Path(out_dir) / variant.name)
            row.update(
                objective=summary["objective"], expected_cost=summary["expected_cost"], cvar=summary["cvar"],
                cash_spend=summary["cash_spend"],
                shortfall_total=sum(summary["shortfall_by_material"].values()),
                **{f"shortfall_{m}": v for m, v in summary["shortfall_by_material"].items()},
            )
        else:
            row["message"] = f"no plan: {solution.status}"
    except OptimizerError as exc:
        row.update(status="error", message=str(exc).replace("\n", " "))
        _PLANNERS.pop(scenario_path, None)
    except Exception as exc:  # noqa: BLE001 - one failed variant must not stop the sweep
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
        _PLANNERS.pop(scenario_path, None)
    return row


def run_sweep(scenario_path: str | Path, variants: list[Variant], out_dir: str | Path, workers: int = 1,
              scheduler: str | None = None, time_limit: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Solve every variant; returns the sweep table (also written to DIR/sweep.csv)."""
    scenario_path, out_dir = str(scenario_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tick = progress or (lambda done, total: None)
    rows: list[dict] = []
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            futures = [client.submit(run_variant, scenario_path, v, str(out_dir.resolve()), time_limit, 1,
                                     key=f"variant-{v.name}-{os.getpid()}-{time.time_ns()}", pure=False)
                       for v in variants]
            for done, future in enumerate(_as_completed_dask(futures), start=1):
                rows.append(future.result())
                tick(done, len(variants))
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_variant, scenario_path, v, str(out_dir), time_limit, 1) for v in variants]
            for done, future in enumerate(as_completed(futures), start=1):
                rows.append(future.result())
                tick(done, len(variants))
    else:
        for done, v in enumerate(variants, start=1):
            rows.append(run_variant(scenario_path, v, str(out_dir), time_limit, 1))
            tick(done, len(variants))
        _PLANNERS.pop(scenario_path, None)
    table = sweep_table(rows, [v.name for v in variants])
    from optimizer.export import csv_bytes

    tmp = out_dir / f".sweep.csv.tmp-{os.getpid()}"
    tmp.write_bytes(csv_bytes(table, quoted=True))  # messages are free text
    os.replace(tmp, out_dir / "sweep.csv")
    return table


def _as_completed_dask(futures):
    from distributed import as_completed as dask_as_completed

    return dask_as_completed(futures)


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
