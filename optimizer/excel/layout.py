"""Where each field of a scenario goes in a workbook, derived from the schema (optimizer.fields)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from optimizer.data import month_index, month_label
from optimizer.fields import Field, fields_of
from optimizer.loader import yaml_value
from optimizer.spec import MONTH_RE, PERIOD_MONTHS, Scenario

GENERAL = "general"
SERIES = "series"
README = "README"
NOTE = "#"  # sheets and columns whose name starts with it are the planner's notes
#: Lists of sections that share a sheet or are not named after their key; every other list is a
#: sheet named after its key (a list inside an item: `<list key>` with a column naming the item).
SHEET_OF = {
    "policies": "rules",
    "scenarios.*.events": "rules",
    "disruptions.events": "disruptions",
    "disruptions.events.*.effects": "rules",
}
SERIES_CELL = "series"  # a series cell that says its values are in the series sheet
SERIES_FORMS = ("list", "steps")


class LayoutError(Exception):
    """The schema has a field this layout cannot give a place (tests/test_excel.py catches it)."""


# --- the layout, from the schema -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a sheet (a row of the general sheet): which field of an item its cells hold.

    A mapping field has one column per key (`outputs.nickel`); a section that may be empty has a
    TRUE/blank column of its own (`stockpile`)."""

    header: str
    path: tuple[str, ...]
    field: Field
    marker: bool = False


@dataclass(frozen=True)
class Location:
    """A list of sections in the schema (`policies`, `scenarios.*.events`) and the sheet of its rows."""

    path: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    sheet: str
    parent: Location | None

    @property
    def key(self) -> str | None:
        """The field that names an item (`id`, else `name`), for rows of other sheets to refer to it."""
        keys = [f.key for f in fields_of(self.models)]
        return next((k for k in ("id", "name") if k in keys), None)

    @property
    def item_column(self) -> str:
        """The column by which rows of a list inside this list's items name their item: `scenario`."""
        return self.sheet[:-1] if self.sheet.endswith("s") else self.sheet

    @property
    def parents(self) -> tuple[str, ...]:
        """Columns naming the enclosing items, outermost first (none for a top-level list)."""
        chain, loc = [], self.parent
        while loc is not None:
            chain.insert(0, loc.item_column)
            loc = loc.parent
        return tuple(chain)

    @property
    def within(self) -> tuple[str, ...]:
        """Path of the list inside its enclosing item (or inside the whole scenario)."""
        stars = [i for i, part in enumerate(self.path) if part == "*"]
        return self.path[stars[-1] + 1:] if stars else self.path


@dataclass(frozen=True)
class Sheet:
    """A sheet of one or more lists: the columns naming enclosing items first, then the fields."""

    name: str
    locations: tuple[Location, ...]
    parents: tuple[str, ...]
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Layout:
    """Where every field of a scenario goes in a workbook."""

    general: tuple[Column, ...]
    locations: tuple[Location, ...]
    sheets: tuple[Sheet, ...]

    @property
    def sheet_names(self) -> tuple[str, ...]:
        """Every sheet, in the order they are written."""
        return (README, GENERAL, *(s.name for s in self.sheets), SERIES)

    def sheet(self, name: str) -> Sheet | None:
        return next((s for s in self.sheets if s.name == name), None)


@functools.cache
def layout_of(root: type[BaseModel] = Scenario) -> Layout:
    """The workbook layout of a schema; LayoutError if a field has no place in it."""
    locations = tuple(_locations((root,), (), None))
    by_sheet: dict[str, list[Location]] = {}
    for loc in locations:
        by_sheet.setdefault(loc.sheet, []).append(loc)
    sheets = []
    for name, locs in by_sheet.items():
        columns: dict[str, Column] = {}
        for loc in locs:
            for col in _columns(loc.models):
                if columns.setdefault(col.header, col).field.kind != col.field.kind:
                    raise LayoutError(f"sheet {name}: column {col.header} holds different kinds of value")
        parents = tuple(dict.fromkeys(p for loc in locs for p in loc.parents))
        sheets.append(Sheet(name, tuple(locs), parents, tuple(columns.values())))
    layout = Layout(tuple(_columns((root,))), locations, tuple(sheets))
    _check_layout(layout)
    return layout


def _columns(models: tuple[type[BaseModel], ...], prefix: tuple[str, ...] = ()) -> list[Column]:
    out = []
    for f in fields_of(models):
        path = (*prefix, f.key)
        if f.kind == "model":
            if f.optional_section:
                out.append(Column(".".join(path), path, f, marker=True))
            out += _columns(f.models, path)
        elif f.kind != "models":
            out.append(Column(".".join(path), path, f))
    return out


def _locations(models: tuple[type[BaseModel], ...], path: tuple[str, ...], parent: Location | None):
    for f in fields_of(models):
        here = (*path, f.key)
        if f.kind == "models":
            loc = Location(here, f.models, SHEET_OF.get(".".join(here), f.key), parent)
            yield loc
            yield from _locations(f.models, (*here, "*"), loc)
        elif f.kind == "model":
            yield from _locations(f.models, here, parent)


def _check_layout(layout: Layout) -> None:
    if any(c.field.kind == "series" for c in layout.general):
        raise LayoutError("a SERIES outside a list has no row in the series sheet")
    names = [GENERAL, SERIES, README]
    for sheet in layout.sheets:
        if sheet.name in names:
            raise LayoutError(f"two sheets named {sheet.name}")
        names.append(sheet.name)
        if len({loc.parents for loc in sheet.locations}) != len(sheet.locations):
            raise LayoutError(f"sheet {sheet.name}: two lists whose rows cannot be told apart")
        clash = set(sheet.parents) & {c.header for c in sheet.columns}
        if clash:
            raise LayoutError(f"sheet {sheet.name}: {sorted(clash)} is both a field and an item column")
        for loc in sheet.locations:
            series = any(c.field.kind == "series" for c in _columns(loc.models))
            children = any(other.parent is loc for other in layout.locations)
            if (series or children) and loc.key is None:
                raise LayoutError(f"{'.'.join(loc.path)}: items with no id or name cannot be referred to")


# --- shared by reading and writing --------------------------------------------------------------


@dataclass(frozen=True)
class PeriodStarts:
    """The first month of each period of a horizon (`periods` is 0 when not known yet)."""

    start: int
    length: int
    periods: int

    def __call__(self, t: int) -> str:
        return month_label(self.start + t * self.length)


def period_starts(horizon: Any) -> PeriodStarts | None:
    """The period starts of a horizon dict not validated yet; None when its start or period length
    cannot be read (validation reports that)."""
    if not isinstance(horizon, dict):
        return None
    start, period, periods = horizon.get("start"), horizon.get("period", "month"), horizon.get("periods")
    if not (isinstance(start, str) and MONTH_RE.match(start) and isinstance(period, str)
            and period in PERIOD_MONTHS):
        return None
    if not (isinstance(periods, int) and not isinstance(periods, bool) and 1 <= periods <= 10_000):
        periods = 0
    return PeriodStarts(month_index(start), PERIOD_MONTHS[period], periods)


def get_path(target: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` inside nested dicts, or None."""
    for part in path:
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target


def branch(target: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The dict at `path` inside `target`, made on the way."""
    for part in path:
        target = target.setdefault(part, {})
    return target


def offered(columns: Any) -> list[str]:
    """Column names to suggest: a mapping's as `outputs.<key>`."""
    out = []
    for c in columns:
        if c.field.kind == "map":
            out += [c.header] * c.field.plain + [f"{c.header}.<key>"]
        else:
            out.append(c.header)
    return out


def read_words(value: Any, plain: bool) -> Any:
    """A cell of one or more texts: `china`, `gallium, germanium`, or YAML `[gallium]` for a list of one."""
    if not isinstance(value, str):
        return value if plain else [value]
    text = value.strip()
    if text.startswith(("[", '"', "'")):
        return yaml_value(text)
    if "," in text:
        return [part.strip() for part in text.split(",")]
    return value if plain else [value]
