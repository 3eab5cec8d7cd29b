"""What the report is built from: a result folder plus the facts a decision-maker reads off it (the
reference and named futures, the first split, the decide-now window, the fiscal year, objective weights)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer import decision
from optimizer.decision import period_ranges as ranges  # noqa: F401 (the report's name for it)
from optimizer.decision import reference_future
from optimizer.diff import ResultFolder, ResultFolderError, fmt_amount
from optimizer.errors import OptimizerError
from optimizer.palette import OTHER_FUTURES, future_colors

MAX_NAMED = 6
"""Futures drawn in their own colour; the others (a generated tree) are drawn light and unnamed."""


def money(x: float, cur: str) -> str:
    return f"{fmt_amount(x)} {cur}"


def qty(x: float) -> str:
    if abs(x) >= 1e6:
        return fmt_amount(x)
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def pct(x: float) -> str:
    return f"{x:.0%}".replace("%", " %")


@dataclass
class Plan:
    """A result folder plus what the report derives from it."""

    folder: ResultFolder
    labels: list[str]
    scenarios: list[str]
    prob: dict[str, float]
    units: dict[str, str]
    materials: list[str]
    stocked: list[str]
    data: Any  # optimizer.data.ModelData, or None without a valid scenario.json
    reference: str
    named: list[str]
    colors: dict[str, str]
    tree: dict | None
    analysis: dict | None
    frontier: pd.DataFrame | None

    @property
    def summary(self) -> dict:
        return self.folder.summary

    @property
    def cur(self) -> str:
        return self.folder.currency

    def table(self, name: str) -> pd.DataFrame:
        return self.folder.tables[name]

    def weights(self, df: pd.DataFrame) -> pd.Series:
        """Probability of each row's scenario (0 for an unknown one), as floats."""
        return df["scenario"].map(self.prob).astype(float).fillna(0.0)

    def color(self, scenario: str) -> str:
        return self.colors.get(scenario, OTHER_FUTURES)

    def unit(self, material: str) -> str:
        return self.units.get(material, "") or "unit"

    @property
    def first_split(self) -> int | None:
        """First period in which two futures can be told apart (SPEC 4.1.10); None with one future."""
        return decision.first_split(self.data)

    @property
    def fiscal_year(self) -> tuple[str, list[int]]:
        """(name, periods) of this fiscal year (decision.fiscal_year)."""
        return decision.fiscal_year(self.data, int(self.summary.get("period_months") or 1), len(self.labels))

    @property
    def decide_now(self) -> list[int]:
        """Periods whose decisions every future shares (decision.decide_now)."""
        return decision.decide_now(self.data, int(self.summary.get("period_months") or 1), len(self.labels))

    def objective_weight(self) -> dict[str, float]:
        """Weight of each future's cost in the objective, relative to its probability:
        (1 - lambda) + lambda * q_k / (p_k (1 - alpha)), q_k the part of p_k inside the CVaR tail (the
        costliest futures up to probability 1 - alpha). 1 for every future when lambda = 0."""
        s = self.summary
        lam, alpha = float(s.get("risk_aversion") or 0.0), float(s.get("cvar_alpha") or 0.95)
        scen = s.get("scenarios") or {}
        left = 1.0 - alpha
        out = {}
        for k in sorted(scen, key=lambda k: (-scen[k]["cost"], k)):
            p = float(scen[k]["probability"])
            q = min(p, max(left, 0.0))
            left -= q
            out[k] = (1 - lam) + (lam * q / (p * (1 - alpha)) if p > 0 else 0.0)
        return out


def period_labels(summary: dict) -> list[str]:
    start = str(summary.get("start") or "")
    periods, months = int(summary.get("periods") or 0), int(summary.get("period_months") or 1)
    try:
        year, month = int(start[:4]), int(start[5:7])
    except ValueError:
        return []
    first = year * 12 + month - 1
    return [f"{(first + t * months) // 12:04d}-{(first + t * months) % 12 + 1:02d}" for t in range(periods)]


def named_futures(scenarios: list[str], summary: dict, reference: str) -> list[str]:
    """The reference, the costliest, then the most probable, up to MAX_NAMED, in the summary's order."""
    if len(scenarios) <= MAX_NAMED:
        return list(scenarios)
    scen = summary.get("scenarios") or {}
    pick = [reference] if reference else []
    costliest = max(scenarios, key=lambda k: (scen[k]["cost"], k))
    pick += [costliest] if costliest not in pick else []
    for k in sorted(scenarios, key=lambda k: (-scen[k]["probability"], k)):
        if len(pick) >= MAX_NAMED:
            break
        if k not in pick:
            pick.append(k)
    return [k for k in scenarios if k in pick]


def _optional_json(folder: ResultFolder, name: str) -> dict | None:
    path = folder.path / name
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFolderError(f"cannot read {path}: {exc}") from None
    return value if isinstance(value, dict) else None


def _frontier(folder: ResultFolder) -> pd.DataFrame | None:
    path = folder.path / "frontier.csv"
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ResultFolderError(f"cannot read {path}: {exc}") from None
    need = {"aversion", "expected_cost", "cvar"}
    return df if need <= set(df.columns) and len(df) else None


def load_plan(folder: ResultFolder) -> Plan:
    s = folder.summary
    if s.get("objective") is None:
        raise ResultFolderError(f"{folder.path}: status {s.get('status')}, no plan to report on")
    labels = period_labels(s)
    for name in ("stockpile", "purchases", "prices"):  # periods the summary does not know about
        extra = sorted(set(folder.tables[name]["period"]) - set(labels))
        labels += [p for p in extra if p]
    sc = folder.scenario or {}
    scen_summary = s.get("scenarios") or {}
    cases = [c.get("name") for c in (sc.get("scenarios") or []) if isinstance(c, dict)]
    scenarios = [c for c in cases if c in scen_summary] + [c for c in scen_summary if c not in cases]
    prob = {k: float(v.get("probability", 0.0)) for k, v in scen_summary.items()}
    mats = [m for m in (sc.get("materials") or []) if isinstance(m, dict)]
    materials = [m["id"] for m in mats]
    for name in ("stockpile", "prices", "purchases"):
        materials += [m for m in sorted(set(folder.tables[name]["material"])) if m not in materials]
    stocked = [m["id"] for m in mats if m.get("stockpile") is not None] if mats else [
        m for m in materials if m in set(folder.tables["stockpile"].query("level != 0 or target != 0")["material"])]
    data = None
    if folder.scenario:
        try:
            from optimizer.checks import validate
            from optimizer.data import build_data

            data = build_data(validate(folder.scenario))
        except OptimizerError:
            data = None
    reference = reference_future(scenarios, prob)
    named = named_futures(scenarios, s, reference)
    return Plan(folder, labels, scenarios, prob, folder.units(), materials, stocked, data, reference, named,
                future_colors(named, reference), _optional_json(folder, "tree.json"),
                _optional_json(folder, "analysis.json"), _frontier(folder))


def series(df: pd.DataFrame, plan: Plan, scenario: str, material: str, column: str) -> np.ndarray:
    """One column of a scenario x period x material table as a dense [T] array (0 where no row)."""
    pos = {p: i for i, p in enumerate(plan.labels)}
    out = np.zeros(len(plan.labels))
    rows = df[(df["scenario"] == scenario) & (df["material"] == material)]
    for p, v in zip(rows["period"], rows[column].astype(float)):
        if p in pos:
            out[pos[p]] = v
    return out


def is_close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
