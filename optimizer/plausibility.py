"""Plausibility of a valid scenario against cited figures (`optimize validate --plausibility`): sources
above their country's output, share limits that add up to more than 100 %, demand far from consumption.

Findings are warnings (same shape as `checks.WARNING_CHECKS`): they never change a scenario or a plan.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.checks import filter_matches
from optimizer.data import Calendar
from optimizer.errors import Problem, ScenarioError, UsageError
from optimizer.loader import csv_rows, read_input_text
from optimizer.spec import PERIOD_MONTHS, Limit, Scenario

#: The reference table beside a scenario file, used when `--reference` is not given.
DEFAULT_REFERENCE = Path("data") / "production.csv"
REFERENCE_COLUMNS = ("material", "country", "kind", "year", "quantity", "unit", "fact_id", "source")
#: Kinds of figure that bound what a country can supply (`exports` only for another country than home).
SUPPLY_KINDS = ("production", "mine_production", "exports")
DEMAND_KINDS = ("consumption",)
#: Mass units a material's `unit` may start with to be compared with the table, in kg.
MASS_UNITS = {"g": 1e-3, "kg": 1.0, "t": 1e3, "kt": 1e6, "Mt": 1e9}
#: Default thresholds: a source (or the sources of one country together) may offer at most all of
#: the cited figure; demand within [cited / 2, cited x 2].
SUPPLY_SHARE = 1.0
DEMAND_FACTOR = 2.0
#: Above this many min_share limits on one material, only pairs of them are checked (all subsets
#: would be 2**n).
MAX_SUBSET_LIMITS = 16


@dataclass(frozen=True)
class Figure:
    """One row of the reference table: a cited amount per year of `material` in `country`."""

    material: str
    """A material id of the scenario (the link: rows apply to the material with this id)."""
    country: str
    kind: str
    """production, mine_production, exports (supply ceilings) or consumption (demand)."""
    year: str
    quantity: float
    """Amount per year, in `unit`."""
    unit: str
    """A mass unit (MASS_UNITS)."""
    fact_id: str
    source: str

    def cited(self) -> str:
        """`40,000 t/yr (2025e; SB-05: USGS MCS 2026 data release)`."""
        ref = f"{self.fact_id}: {self.source}" if self.fact_id else self.source
        return f"{_num(self.quantity)} {self.unit}/yr ({self.year}; {ref})" if self.year else \
            f"{_num(self.quantity)} {self.unit}/yr ({ref})"


@dataclass(frozen=True)
class Thresholds:
    """When a figure of the scenario is implausible (docs/model.md, "Plausibility checks")."""

    supply_share: float = SUPPLY_SHARE
    """Flag sources of one material and country whose peak capacity per year exceeds this share of
    the country's smallest cited production or exports (1.0: all of it)."""
    demand_factor: float = DEMAND_FACTOR
    """Flag demand whose annual rate lies outside [cited / factor, cited x factor] (>= 1)."""


def _num(value: float) -> str:
    """12,880 and 1,400,000 (whole numbers in full), 262.5 and 0.333333 (six significant digits)."""
    return f"{value:,.0f}" if abs(value) >= 1e5 or value == int(value) else f"{value:,.6g}"


def reference_path(scenario: Path, reference: Path | None) -> Path:
    """The reference table: `reference` if given, else DEFAULT_REFERENCE beside the scenario file,
    which must then exist (a usage error naming where it was looked for)."""
    if reference is not None:
        return reference
    table = scenario.parent / DEFAULT_REFERENCE
    if not table.exists():
        raise UsageError(f"--plausibility: no reference table at {table}; pass --reference CSV")
    return table


def read_reference(path: str | Path) -> list[Figure]:
    """Read a reference table (CSV with REFERENCE_COLUMNS); every problem names its CSV line."""
    return parse_reference(read_input_text(path, "reference table"), str(path))


def parse_reference(text: str, name: str = "<reference>") -> list[Figure]:
    """The rows of a reference table: `quantity` a number >= 0, `unit` a mass unit, `kind` known."""
    rows = csv_rows(text, name)
    header = tuple(h.strip() for h in rows[0]) if rows else ()
    if header != REFERENCE_COLUMNS:
        raise ScenarioError([Problem(("header",), f"expected columns `{','.join(REFERENCE_COLUMNS)}`, got "
                                                  f"`{','.join(header)}`", (1, 1))], file=name)
    problems: list[Problem] = []
    figures: list[Figure] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(Problem(("row",), f"expected {len(header)} values, got {len(row)}", (line, 1)))
            continue
        cells = {key: cell.strip() for key, cell in zip(header, row)}
        try:
            quantity = float(cells["quantity"])
        except ValueError:
            quantity = math.nan
        if not (math.isfinite(quantity) and quantity >= 0):
            problems.append(Problem(("quantity",), f"`{cells['quantity']}` is not a number >= 0", (line, 1)))
        if cells["unit"] not in MASS_UNITS:
            problems.append(Problem(("unit",), f"`{cells['unit']}` is not one of {', '.join(MASS_UNITS)}", (line, 1)))
        if cells["kind"] not in SUPPLY_KINDS + DEMAND_KINDS:
            problems.append(Problem(("kind",), f"`{cells['kind']}` is not one of "
                                               f"{', '.join(SUPPLY_KINDS + DEMAND_KINDS)}", (line, 1)))
        figures.append(Figure(**{**cells, "quantity": quantity}))
    if problems:
        raise ScenarioError(problems, file=name)
    return figures


def per_year_in(sc: Scenario, material_id: str, unit: str) -> float | None:
    """Factor from the material's amount per period to `unit` per year: (12 / months per period) x
    (kg per the material's unit) / (kg per `unit`); None when the material's unit does not start with
    a mass unit (`kt wet nodules` does; `lots` does not)."""
    material = next(m for m in sc.materials if m.id == material_id)
    own = MASS_UNITS.get(material.unit.split()[0] if material.unit.split() else "")
    if own is None:
        return None
    return 12 / PERIOD_MONTHS[sc.horizon.period] * own / MASS_UNITS[unit]


def check_supply(sc: Scenario, figures: list[Figure], supply_share: float = SUPPLY_SHARE) -> list[Problem]:
    """Sources of one material and country whose peak annual capacity exceeds `supply_share` x the
    smallest cited supply figure of that country (production or mine production; exports too when
    the country is not `home_country`, since what is bought from abroad leaves through its exports).

    capacity per year [table unit/yr] = max_t sum_{s of (m, c)} cap[s,t] x 12 / len x kg(unit_m) / kg(unit);
    an omitted capacity is unlimited. Expansions (new capacity) and capacity rules are not counted.
    One finding per (material, country), on the first source's `capacity`, with the ratio to the
    tightest figure."""
    cal = Calendar.of(sc.horizon)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, src in enumerate(sc.sources):
        groups.setdefault((src.material, src.country), []).append(i)
    problems = []
    for (material, country), members in groups.items():
        ceilings = [f for f in figures if f.material == material and f.country == country
                    and f.kind in SUPPLY_KINDS and not (f.kind == "exports" and country == sc.home_country)]
        if not ceilings:
            continue
        capacity = sum(cal.series(sc.sources[i].capacity, math.inf) for i in members)
        figure = min(ceilings, key=lambda f: f.quantity * MASS_UNITS[f.unit])
        factor = per_year_in(sc, material, figure.unit)
        path = ("sources", members[0], "capacity")
        if factor is None:
            problems.append(_incomparable(sc, path, material, figure))
            continue
        peak = int(np.argmax(capacity))
        per_year = float(capacity[peak]) * factor
        if per_year <= supply_share * figure.quantity:
            continue
        ratio = per_year / figure.quantity if figure.quantity else math.inf
        others = [sc.sources[i].id for i in members[1:]]
        whose = f"together with {', '.join(others)}, " if others else ""
        amount = ("unlimited (no `capacity`) is above" if math.isinf(per_year) else
                  f"{_num(float(capacity[peak]))} {_unit(sc, material)} per {sc.horizon.period} "
                  f"({cal.labels[peak]}) = {_num(per_year)} {figure.unit}/yr is {_ratio(ratio)}")
        allowed = "" if supply_share == 1 else f" (allowed: {supply_share:.0%} of it)"
        problems.append(Problem(path, f"{whose}{amount} {country}'s {figure.kind} of {material}, "
                                      f"{figure.cited()}{allowed}"))
    return problems


def check_shares(sc: Scenario) -> list[Problem]:
    """Share limits of one material that cannot hold together unless nothing of it is bought where
    they are in force together (SPEC 4.1.8):

    * min_share limits over disjoint sets of sources whose shares add up to more than 1;
    * a min_share of sources A above the max_share of sources B containing A.

    Limits bind together when both are `over: period` and cover a common period, both `over: horizon`
    over the same periods, or a `period` limit covers every period of a `horizon` one. One finding per
    conflicting set, on its first limit."""
    cal = Calendar.of(sc.horizon)
    problems = []
    by_material: dict[str, list[int]] = {}
    for i, lim in enumerate(sc.limits):
        by_material.setdefault(lim.material, []).append(i)
    for material, indices in by_material.items():
        matched = {i: frozenset(s.id for s in sc.sources
                                if s.material == material and filter_matches(sc.limits[i].where, "sources", s))
                   for i in indices}
        covers = {i: cal.window(sc.limits[i].from_, sc.limits[i].until) for i in indices}
        floors = [i for i in indices if sc.limits[i].min_share]
        sizes = range(len(floors), 1, -1) if len(floors) <= MAX_SUBSET_LIMITS else (2,)
        reported: list[set[int]] = []
        for size in sizes:
            for subset in itertools.combinations(floors, size):
                total = sum(sc.limits[i].min_share for i in subset)
                if (total <= 1 or any(set(subset) <= r for r in reported)
                        or any(matched[a] & matched[b] for a, b in itertools.combinations(subset, 2))
                        or not _bind_together([sc.limits[i] for i in subset], [covers[i] for i in subset])):
                    continue
                reported.append(set(subset))
                parts = " + ".join(f"`{sc.limits[i].name}` {sc.limits[i].min_share:.0%}" for i in subset)
                problems.append(Problem(("limits", subset[0], "min_share"), (
                    f"min_share limits of {material} over disjoint sources add up to {total:.0%} ({parts}): "
                    f"they hold only if no {material} is bought where they are in force")))
        for a, b in itertools.permutations(indices, 2):
            low, high = sc.limits[a].min_share, sc.limits[b].max_share
            if (low is not None and high is not None and low > high and matched[a] <= matched[b]
                    and _bind_together([sc.limits[a], sc.limits[b]], [covers[a], covers[b]])):
                problems.append(Problem(("limits", a, "min_share"), (
                    f"`{sc.limits[a].name}` asks at least {low:.0%} of {material} from sources that "
                    f"`{sc.limits[b].name}` allows at most {high:.0%} (its sources include them all): it holds "
                    f"only if no {material} is bought where both are in force")))
    return problems


def _bind_together(limits: list[Limit], covers: list[np.ndarray]) -> bool:
    """Whether share limits constrain the purchases of one common set of periods (see check_shares)."""
    horizon = [c for lim, c in zip(limits, covers) if lim.over == "horizon"]
    period = [c for lim, c in zip(limits, covers) if lim.over == "period"]
    if horizon:
        common = horizon[0]
        return (common.any() and all(np.array_equal(c, common) for c in horizon)
                and all(bool(c[common].all()) for c in period))
    return bool(np.logical_and.reduce(period).any())


def check_demand(sc: Scenario, figures: list[Figure], demand_factor: float = DEMAND_FACTOR) -> list[Problem]:
    """Demand whose annual rate lies outside [cited / factor, cited x factor] of `home_country`'s cited
    consumption of the material, in some period.

    rate[t] [table unit/yr] = demand[t] x 12 / len x kg(unit_m) / kg(unit); one finding per material and
    cited figure, at the period farthest from it (|log ratio|), with the number of periods outside.
    A material with no demand (a feedstock, a co-product) is not checked."""
    cal = Calendar.of(sc.horizon)
    problems = []
    for i, mat in enumerate(sc.materials):
        demand = cal.series(mat.demand)
        if not demand.any():
            continue
        for figure in figures:
            if figure.material != mat.id or figure.country != sc.home_country or figure.kind not in DEMAND_KINDS:
                continue
            factor = per_year_in(sc, mat.id, figure.unit)
            if factor is None:
                problems.append(_incomparable(sc, ("materials", i, "demand"), mat.id, figure))
                continue
            rate = demand * factor
            with np.errstate(divide="ignore"):
                distance = np.abs(np.log(rate / figure.quantity)) if figure.quantity else np.full(len(rate), np.inf)
            distance[demand == 0] = 0.0  # periods before demand starts (or after it ends) claim nothing
            outside = distance > math.log(demand_factor)
            if not outside.any():
                continue
            worst = int(np.argmax(distance))
            ratio = rate[worst] / figure.quantity if figure.quantity else math.inf
            count = f"; {int(outside.sum())} of {cal.periods} periods outside" if cal.periods > 1 else ""
            problems.append(Problem(("materials", i, "demand"), (
                f"{_num(float(demand[worst]))} {_unit(sc, mat.id)} per {sc.horizon.period} ({cal.labels[worst]}) = "
                f"{_num(float(rate[worst]))} {figure.unit}/yr is {_ratio(ratio)} {figure.country}'s {figure.kind} "
                f"of {mat.id}, {figure.cited()} (plausible: {1 / demand_factor:.3g}x to {demand_factor:.3g}x"
                f"{count})")))
    return problems


def _incomparable(sc: Scenario, path: tuple[Any, ...], material: str, figure: Figure) -> Problem:
    return Problem(path, f"unit `{_unit(sc, material)}` of {material} does not start with a mass unit "
                         f"({', '.join(MASS_UNITS)}): it cannot be compared with {figure.country}'s {figure.kind}, "
                         f"{figure.cited()}")


def _unit(sc: Scenario, material: str) -> str:
    return next(m.unit for m in sc.materials if m.id == material)


def _ratio(ratio: float) -> str:
    return "infinitely many times" if math.isinf(ratio) else f"{ratio:.3g}x"


def plausibility_findings(sc: Scenario, figures: list[Figure], thresholds: Thresholds = Thresholds()) -> list[Problem]:
    """Every plausibility finding of a valid scenario: supply, shares, demand (in that order)."""
    return [*check_supply(sc, figures, thresholds.supply_share), *check_shares(sc),
            *check_demand(sc, figures, thresholds.demand_factor)]
