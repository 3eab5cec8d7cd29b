"""What is decided now, read off the scenario tree: the first split, the decide-now periods, the fiscal
year and the reference future. Shared by the report and the terminal summary; NumPy only (a run
never imports pandas)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def first_split(data) -> int | None:
    """First period in which two scenarios can be told apart (SPEC 4.1.10); None with one scenario or
    without data (`optimizer.data.ModelData`)."""
    if data is None:
        return None
    nodes = data.tree.node_of  # [T, K]
    split = np.flatnonzero((nodes != nodes[:, :1]).any(axis=1))
    return int(split[0]) if split.size else None


def fiscal_year(data, period_months: int, periods: int) -> tuple[str, list[int]]:
    """(name, periods) of this fiscal year: the budget window covering the first period, else the
    first twelve months of the horizon."""
    if data is not None:
        for b, name in enumerate(data.budget_names):
            if data.budget_covers[b, 0]:
                return name, [int(t) for t in np.flatnonzero(data.budget_covers[b])]
    n = max(1, min(periods, 12 // max(period_months, 1)))
    return "the first year", list(range(n))


def decide_now(data, period_months: int, periods: int) -> list[int]:
    """Periods whose decisions every scenario shares: before the first split; with one scenario (or no
    split at all), the fiscal year, what is acted on before the plan is solved again. A split in the
    first period leaves the first period (of the reference scenario)."""
    split = first_split(data)
    if split is None:
        return fiscal_year(data, period_months, periods)[1]
    return list(range(max(split, 1)))


def reference_scenario(names: Sequence[str], prob: Sequence[float] | np.ndarray) -> int:
    """SPEC 7.3's reference scenario, the future EEV plans for (and `simulate`'s static policy):
    the one named `base`, else the most probable, the first listed on ties. Returns its index."""
    if "base" in names:
        return list(names).index("base")
    return int(np.argmax(np.asarray(prob, dtype=float)))


def reference_future(scenarios: list[str], prob: dict[str, float]) -> str:
    """The reference scenario's name (`reference_scenario`), "" without scenarios."""
    if not scenarios:
        return ""
    return scenarios[reference_scenario(scenarios, [prob.get(k, 0.0) for k in scenarios])]


def period_ranges(indices: list[int], labels: list[str], limit: int = 3) -> str:
    """[0,1,2,5] -> `2026-01 to 2026-07, 2027-04 (4 periods)`."""
    idx = sorted(set(indices))
    if not idx:
        return ""
    runs: list[tuple[int, int]] = []
    start = prev = idx[0]
    for i in idx[1:]:
        if i != prev + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    parts = [labels[a] if a == b else f"{labels[a]} to {labels[b]}" for a, b in runs]
    if len(parts) > limit:
        parts = parts[:limit] + ["..."]
    n = len(idx)
    return f"{', '.join(parts)} ({n} period{'s' if n != 1 else ''})"
