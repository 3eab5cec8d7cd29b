"""`optimize watch`: re-solve (warm) whenever the scenario or price file changes, and say what changed.

The previous result folder is read into memory before the new one is swapped in, so the diff needs
no copy on disk.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.destination import OutputPathError, check_destination, is_result_folder
from optimizer.errors import OptimizerError, no_plan_error


@dataclass(frozen=True)
class Update:
    """One re-solve: the plan written (status, objective, folder) and the diff against the previous
    plan; or, when the input could not be solved, the error (the watch goes on)."""

    status: str | None = None
    objective: float | None = None
    folder: Path | None = None
    diff: str | None = None
    error: OptimizerError | None = None


def watch(scenario: Path, prices: Path | None = None, sets: Sequence[str] = (), out: Path | None = None,
          interval: float = 1.0, force: bool = False) -> Iterator[Update]:
    """Yield an Update after the first solve and after every change of the scenario or price file
    (checked every `interval` seconds), forever. Bad input or no plan is an Update with an error;
    a result folder that cannot be written ends the watch (OutputPathError)."""
    from optimizer.diff import diff_folders, load_folder, render
    from optimizer.export import write_results
    from optimizer.pipeline import load_scenario
    from optimizer.planner import Planner

    files = [scenario] + ([prices] if prices else [])
    planner = None
    seen = None
    while True:
        stamp = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
        if stamp != seen:
            seen = stamp
            try:
                sc = load_scenario(scenario, sets, prices)
                dest = check_destination(out if out is not None else Path("results") / sc.name, force=force,
                                         inputs=files)
                if planner is None:
                    planner = Planner(sc)
                else:
                    planner.update(sc)
                solution = planner.solve()
                if solution.summary.get("objective") is None:
                    raise no_plan_error(solution.status, solution.explanation)
                previous = None
                if dest.real.is_dir() and (dest.real / "summary.json").is_file() and is_result_folder(dest.real):
                    previous = dataclasses.replace(load_folder(dest.real), path=Path("previous"))
                folder = write_results(solution, dest)
                diff = render(diff_folders(previous, folder), "text") if previous is not None else None
                yield Update(solution.status, solution.objective, folder, diff)
            except OutputPathError:
                raise
            except OptimizerError as exc:
                yield Update(error=exc)
        time.sleep(interval)
