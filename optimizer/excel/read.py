"""Read a scenario workbook into the dict the YAML loader makes, with the cell of every field."""

from __future__ import annotations

import datetime as dt
import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer.data import month_index
from optimizer.errors import Cell, Problem, ScenarioError
from optimizer.excel.layout import (GENERAL, NOTE, README, SERIES, SERIES_CELL, SERIES_FORMS, Column, Layout,
                                    Location, PeriodStarts, Sheet, branch, get_path, layout_of, offered,
                                    period_starts, read_words)
from optimizer.fields import whole_numbers
from optimizer.loader import SourceMap, read_input_bytes, yaml_value
from optimizer.spec import MONTH_RE

#: Cells read at most (empty ones included): a larger sheet is refused rather than read for minutes.
MAX_CELLS = 4_000_000
Row = tuple[int, list[Any]]  # a row number and its cells' values, column A first


def read_workbook(path: str | Path, layout: Layout | None = None) -> tuple[dict[str, Any], SourceMap]:
    """Read a scenario workbook into the dict the YAML loader would make and a SourceMap of cells;
    ScenarioError listing every problem with the layout (unknown sheets or columns, rows of the
    series sheet that name no row, unreadable cells). The values are validated afterwards, like YAML."""
    name = str(path)
    grids = _load(Path(path))
    return _Reader(layout or layout_of(), name, grids).read()


def _load(path: Path) -> dict[str, list[Row]]:
    """Every sheet's non-blank rows, with plain values (whole numbers as int, dates as YYYY-MM)."""
    data = read_input_bytes(path, "scenario file")
    name = str(path)
    from openpyxl import load_workbook

    try:
        sheets = _cells(load_workbook(io.BytesIO(data), read_only=True, data_only=False))
        formulas = [(sheet, rc) for sheet, cells in sheets.items() for rc, (_, kind) in cells.items() if kind == "f"]
        if formulas:  # the values Excel saved with the formulas
            saved = _cells(load_workbook(io.BytesIO(data), read_only=True, data_only=True))
            for sheet, rc in formulas:
                sheets[sheet][rc] = saved.get(sheet, {}).get(rc, (None, "n"))
    except _TooManyCells:
        raise ScenarioError([Problem((), f"the workbook has more than {MAX_CELLS} cells")], file=name) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl's many ways of saying "not a workbook"
        raise ScenarioError([Problem((), f"not an Excel workbook (.xlsx): {_reason(exc)}; save it from Excel "
                                         "or LibreOffice as an .xlsx workbook")], file=name) from None
    problems = [Problem((), "a formula with no saved result: open the workbook in Excel or LibreOffice and save "
                            "it (or type the value)", Cell(sheet, *rc))
                for sheet, rc in formulas if sheets[sheet][rc][0] is None]
    grids: dict[str, list[Row]] = {}
    for sheet, cells in sheets.items():
        rows = grids[sheet] = []
        for (row, column), (value, kind) in cells.items():
            if value is None or value == "":
                continue
            if kind == "e":
                problems.append(Problem((), f"the cell holds the Excel error {value}", Cell(sheet, row, column)))
                continue
            if not rows or rows[-1][0] != row:
                rows.append((row, []))
            values = rows[-1][1]
            values += [None] * (column - len(values))
            values[column - 1] = _plain(value)
    if problems:
        raise ScenarioError(problems, file=name)
    return grids


class _TooManyCells(Exception):
    pass


def _cells(wb: Any) -> dict[str, dict[tuple[int, int], tuple[Any, str]]]:
    """Each sheet's cells that hold something, row by row: (row, column) -> (value, openpyxl data type)."""
    out: dict[str, dict[tuple[int, int], tuple[Any, str]]] = {}
    budget = MAX_CELLS
    try:
        for ws in wb.worksheets:
            cells = out[ws.title] = {}
            ws.reset_dimensions()  # read every cell, whatever size the sheet claims
            for r, row in enumerate(ws.iter_rows(), start=1):
                budget -= len(row) + 1
                if budget < 0:
                    raise _TooManyCells
                for c, cell in enumerate(row, start=1):
                    if cell.value is not None:
                        cells[(r, c)] = (cell.value, cell.data_type)
    finally:
        wb.close()
    return out


def _reason(exc: Exception) -> str:
    text = str(exc).strip().strip('"')
    return text if text and len(text) < 200 else type(exc).__name__


def _plain(value: Any) -> Any:
    """A cell's value as the YAML loader would give it: whole numbers as int (Excel has only one kind
    of number), the first day of a month as `YYYY-MM` (Excel turns a typed 2027-01 into a date)."""
    if isinstance(value, float):
        return whole_numbers(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.day == 1:
            return f"{value.year:04d}-{value.month:02d}"
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}" if value.day == 1 else value.isoformat()
    if isinstance(value, (bool, int, str)):
        return value
    return str(value)  # a time of day or a duration: text, for the schema to reject clearly


@dataclass
class _Item:
    """One row of a list's sheet, read into the section it describes."""

    location: Location
    parents: tuple[str, ...]  # values of the columns naming its enclosing items
    parent_cells: tuple[Cell, ...]
    value: dict[str, Any]
    cells: dict[tuple[str, ...], Cell]  # path inside the item -> its cell
    first: Cell
    pending: dict[tuple[str, ...], Cell] = field(default_factory=dict)  # cells that say `series`
    path: tuple[str | int, ...] = ()  # where the item is in the scenario, once placed

    @property
    def key(self) -> str | None:
        key = self.location.key
        return None if key is None or self.value.get(key) is None else str(self.value[key])


class _Reader:
    """Reads the sheets of one workbook; collects layout problems and the cell of every field."""

    def __init__(self, layout: Layout, file: str, grids: dict[str, list[Row]]):
        self.layout = layout
        self.file = file
        self.grids = grids
        self.problems: list[Problem] = []
        self.positions: dict[tuple[str | int, ...], Cell] = {}

    def problem(self, message: str, cell: Cell) -> None:
        self.problems.append(Problem((), message, cell))

    def read(self) -> tuple[dict[str, Any], SourceMap]:
        known = self.layout.sheet_names
        if not any(name in known and name != README for name in self.grids):
            raise ScenarioError([Problem((), "the workbook has none of the sheets of a scenario ("
                                         + ", ".join(known[1:]) + "); start from docs/scenario-template.xlsx "
                                         "or `optimize convert SCENARIO.yaml --to xlsx`")], file=self.file)
        for name in self.grids:
            if name not in known and not name.startswith(NOTE):
                self.problem(_unknown("sheet", name, list(known)) + f" (a sheet of notes: name it {NOTE}{name})",
                             Cell(name, 1, 1))
        root: dict[str, Any] = {}
        if GENERAL in self.grids:
            self.read_general(root)
        items: dict[Location, list[_Item]] = {loc: [] for loc in self.layout.locations}
        for sheet in self.layout.sheets:
            for item in self.read_table(sheet):
                items[item.location].append(item)
        self.place(root, items)
        if SERIES in self.grids:
            self.read_series(root, items)
        for loc_items in items.values():
            for item in loc_items:
                for path, cell in item.pending.items():
                    self.problem(f"says `{SERIES_CELL}`, but the series sheet has no row for {item.location.sheet} "
                                 f"`{item.key}` {'.'.join(path)}", cell)
        if self.problems:
            raise ScenarioError(self.problems, file=self.file)
        return root, SourceMap(self.file, dict(self.positions))

    # -- general ----------------------------------------------------------------------------------

    def read_general(self, root: dict[str, Any]) -> None:
        """The `field | value` rows of the general sheet; a field with no row is placed at its A1."""
        self.read_fields(root)
        for column in self.layout.general:
            self.positions.setdefault(column.path[:1], Cell(GENERAL, 1, 1))

    def read_fields(self, root: dict[str, Any]) -> None:
        rows = self.grids[GENERAL]
        if not rows:
            return
        header_row, header = rows[0]
        names = {_text(v): i for i, v in enumerate(header) if _text(v)}
        if "field" not in names or "value" not in names:
            self.problem("the first row names the columns `field` and `value`", Cell(GENERAL, header_row, 1))
            return
        columns = {c.header: c for c in self.layout.general}
        fcol, vcol = names["field"], names["value"]
        seen: dict[str, Cell] = {}
        for r, values in rows[1:]:
            name = _text(_at(values, fcol))
            value = _at(values, vcol)
            name_cell, value_cell = Cell(GENERAL, r, fcol + 1), Cell(GENERAL, r, vcol + 1)
            if not name or name.startswith(NOTE):
                if not name and value is not None:
                    self.problem("a value with no field name", value_cell)
                continue
            match = _match(name, columns)
            if match is None:
                self.problem(_unknown("field", name, offered(columns.values())), name_cell)
                continue
            if name in seen:
                self.problem(f"`{name}` is given twice (also in {seen[name]})", name_cell)
                continue
            seen[name] = name_cell
            column, key = match
            path = (*column.path, key) if key is not None else column.path
            for depth in range(1, len(path) + 1):
                self.positions.setdefault(path[:depth], value_cell if depth == len(path) else name_cell)
            if value is not None:
                self.put(root, column, key, value, value_cell, {})

    # -- lists --------------------------------------------------------------------------------------

    def read_table(self, sheet: Sheet) -> list[_Item]:
        """The rows of a list's sheet as items, not yet placed in their lists."""
        if sheet.name not in self.grids:
            return []
        rows = self.grids[sheet.name]
        for loc in sheet.locations:
            if loc.parent is None:
                self.positions[loc.path] = Cell(sheet.name, rows[0][0] if rows else 1, 1)
        if not rows:
            return []
        header_row, header = rows[0]
        columns = {c.header: c for c in sheet.columns}
        names = [*sheet.parents, *offered(sheet.columns)]
        by_index: dict[int, tuple[str, Column | None, str | None]] = {}  # index -> (header, column, map key)
        seen: dict[str, Cell] = {}
        for i, value in enumerate(header):
            name, cell = _text(value), Cell(sheet.name, header_row, i + 1)
            if not name or name.startswith(NOTE):
                continue
            if name in seen:
                self.problem(f"column `{name}` appears twice (also {seen[name]})", cell)
                continue
            seen[name] = cell
            if name in sheet.parents:
                by_index[i] = (name, None, None)
                continue
            match = _match(name, columns)
            if match is None:
                self.problem(_unknown("column", name, names), cell)
            else:
                by_index[i] = (name, *match)
        headed = {i for i, v in enumerate(header) if _text(v)}
        by_parents = {loc.parents: loc for loc in sheet.locations}
        items = []
        for r, values in rows[1:]:
            stray = [i for i, v in enumerate(values) if v is not None and i not in headed]
            for i in stray:
                self.problem("a value in a column with no name in the first row",
                             Cell(sheet.name, r, i + 1))
            used = {i: v for i, v in enumerate(values) if i in by_index and v is not None}
            if not used:
                continue
            parents = {by_index[i][0]: (str(v), Cell(sheet.name, r, i + 1)) for i, v in used.items()
                       if by_index[i][1] is None}
            loc = by_parents.get(tuple(p for p in sheet.parents if p in parents))
            if loc is None:
                cells = [cell for _, cell in parents.values()] or [Cell(sheet.name, r, 1)]
                self.problem(_parents_message(sheet, [p for p in sheet.parents if p in parents]), cells[0])
                continue
            item = _Item(loc, tuple(parents[p][0] for p in loc.parents), tuple(parents[p][1] for p in loc.parents),
                         {}, {}, Cell(sheet.name, r, 1))
            for i, (name, column, key) in by_index.items():
                if column is None:
                    continue
                cell = Cell(sheet.name, r, i + 1)
                item.cells[(*column.path, key) if key is not None else column.path] = cell
                if i in used:
                    self.put(item.value, column, key, used[i], cell, item.pending)
            items.append(item)
        return items

    def place(self, root: dict[str, Any], items: dict[Location, list[_Item]]) -> None:
        """Put every item in its list: top-level lists in the scenario, others in their enclosing item."""
        index: dict[Location, dict[tuple[str, ...], _Item]] = {}
        for loc in self.layout.locations:  # enclosing lists come first
            named = index.setdefault(loc, {})
            for item in items[loc]:
                if loc.parent is None:
                    owner, owner_path = root, ()
                else:
                    found = index[loc.parent].get(item.parents)
                    if found is None:
                        known = [k[-1] for k in index[loc.parent] if k[:-1] == item.parents[:-1]]
                        self.problem(_unknown(loc.parent.item_column, item.parents[-1], known)
                                     + f" in the {loc.parent.sheet} sheet", item.parent_cells[-1])
                        continue
                    owner, owner_path = found.value, found.path
                siblings = branch(owner, loc.within[:-1]).setdefault(loc.within[-1], [])
                item.path = (*owner_path, *loc.within, len(siblings))
                siblings.append(item.value)
                self.positions[item.path] = item.first
                for rel, cell in item.cells.items():
                    self.positions[(*item.path, *rel)] = cell
                if item.key is not None:
                    named.setdefault((*item.parents, item.key), item)

    def put(self, target: dict[str, Any], column: Column, key: str | None, value: Any, cell: Cell,
            pending: dict[tuple[str, ...], Cell]) -> None:
        """Set one cell's value at its column's place in an item (or the scenario, for general)."""
        f = column.field
        path = column.path
        if column.marker:
            if value is True:
                branch(target, path)
            elif value is not False:
                self.problem(f"{column.header}: TRUE (the section is there, with its defaults) or blank, got "
                             f"{value!r}", cell)
            return
        if f.kind == "series" and isinstance(value, str) and value.strip().lower() == SERIES_CELL:
            pending[path] = cell
            return
        if f.kind == "words":
            try:
                value = read_words(value, f.plain)
            except ValueError as exc:
                self.problem(f"{column.header}: cannot read {value!r} as a list: {exc}", cell)
                return
        elif f.kind == "yaml" and isinstance(value, str):
            try:
                value = yaml_value(value)
            except ValueError as exc:
                self.problem(f"{column.header}: cannot read {value!r} as YAML: {exc}", cell)
                return
        if f.kind == "map":
            held = get_path(target, path)
            if (isinstance(held, dict) if key is None else held is not None and not isinstance(held, dict)):
                self.problem(f"give `{column.header}` or `{column.header}.<key>` columns, not both", cell)
                return
            if key is not None:
                path = (*path, key)
        branch(target, path[:-1])[path[-1]] = value

    # -- series ---------------------------------------------------------------------------------

    def read_series(self, root: dict[str, Any], items: dict[Location, list[_Item]]) -> None:
        """Rows of the series sheet: each names a SERIES cell of a list's row and gives its values."""
        rows = self.grids[SERIES]
        header = self.series_header(*rows[0]) if rows else None
        if header is None:
            return
        fixed, months = header
        by_key: dict[str, dict[str, _Item]] = {}
        for loc, loc_items in items.items():
            for item in loc_items:
                if item.key is not None and item.path:
                    by_key.setdefault(loc.sheet, {}).setdefault(item.key, item)
        period_start = period_starts(root.get("horizon"))
        done: dict[tuple[str, str, str], Cell] = {}
        for r, values in rows[1:]:
            sheet_name, ident, name = (_text(_at(values, fixed[k])) for k in ("sheet", "id", "field"))
            form = _text(_at(values, fixed["form"])).lower()
            cells = {k: Cell(SERIES, r, (i or 0) + 1) for k, i in fixed.items()}
            data = sorted(((months[i], v, Cell(SERIES, r, i + 1)) for i, v in enumerate(values)
                           if i in months and v is not None), key=lambda d: month_index(d[0]))
            if not (sheet_name or ident or name or data):
                continue
            target = self.series_target(sheet_name, ident, name, cells, by_key)
            if target is None:
                continue
            item, column = target
            if (sheet_name, ident, name) in done:
                self.problem(f"a second row for {sheet_name} `{ident}` {name} (the first is row "
                             f"{done[(sheet_name, ident, name)].row})", cells["field"])
                continue
            done[(sheet_name, ident, name)] = cells["field"]
            if form not in ("", *SERIES_FORMS):
                self.problem(f"form is `list` (one value per period) or `steps` (a value from each month "
                             f"given until the next), got {form!r}", cells["form"])
                continue
            path = (*item.path, *column.path)
            self.positions[path] = cells["field"]
            per_period = [period_start(t) for t in range(period_start.periods)] if period_start else None
            if form == "list" or not form and [m for m, _, _ in data] == per_period:
                value: Any = self.series_list(data, period_start, path)
            else:
                value = {month: v for month, v, _ in data}
                self.positions.update({(*path, month): cell for month, _, cell in data})
            branch(item.value, column.path[:-1])[column.path[-1]] = value

    def series_header(self, header_row: int, header: list[Any]) -> tuple[dict[str, int | None], dict[int, str]] | None:
        """Column index of sheet, id, field, form (None if absent), and the month of each month column."""
        fixed: dict[str, int | None] = {"sheet": None, "id": None, "field": None, "form": None}
        months: dict[int, str] = {}
        for i, value in enumerate(header):
            name, cell = _text(value), Cell(SERIES, header_row, i + 1)
            if not name or name.startswith(NOTE):
                continue
            if fixed.get(name, 0) is None:
                fixed[name] = i
            elif MONTH_RE.match(name) and name not in months.values():
                months[i] = name
            elif name in fixed or name in months.values():
                self.problem(f"`{name}` is given twice", cell)
            else:
                self.problem(f"column `{name}` is neither a month (YYYY-MM) nor one of sheet, id, field, form", cell)
        missing = [name for name in ("sheet", "id", "field") if fixed[name] is None]
        if missing:
            self.problem("the first row names the columns sheet, id, field, form and then one month per column; "
                         f"missing: {', '.join(missing)}", Cell(SERIES, header_row, 1))
            return None
        return fixed, months

    def series_target(self, sheet_name: str, ident: str, name: str, cells: dict[str, Cell],
                      by_key: dict[str, dict[str, _Item]]) -> tuple[_Item, Column] | None:
        """The row and SERIES column a series row is for; None (and a problem) if it names none, or
        if that cell holds a value of its own."""
        with_series = [s.name for s in self.layout.sheets if any(c.field.kind == "series" for c in s.columns)]
        sheet = self.layout.sheet(sheet_name) if sheet_name in with_series else None
        if sheet is None:
            self.problem(_unknown("sheet", sheet_name, with_series), cells["sheet"])
            return None
        series_columns = {c.header: c for c in sheet.columns if c.field.kind == "series"}
        column = series_columns.get(name)
        if column is None:
            self.problem(_unknown(f"series of {sheet_name}", name, list(series_columns)), cells["field"])
            return None
        item = by_key.get(sheet_name, {}).get(ident)
        if item is None:
            self.problem(_unknown(f"{sheet_name} row", ident, list(by_key.get(sheet_name, {}))), cells["id"])
            return None
        if column.path not in item.pending and get_path(item.value, column.path) is not None:
            self.problem(f"{sheet_name} `{ident}` {name} is also given in {item.cells.get(column.path)}: leave "
                         f"that cell blank or write `{SERIES_CELL}`", cells["field"])
            return None
        item.pending.pop(column.path, None)
        return item, column

    def series_list(self, data: list[tuple[str, Any, Cell]], period_start: PeriodStarts | None,
                    path: tuple[str | int, ...]) -> list[Any]:
        """A `list` row's values, which sit under consecutive period columns from horizon.start."""
        for t, (month, _, cell) in enumerate(data):
            if period_start is not None and month != period_start(t):
                self.problem(f"a `list` has one value per period, under the period columns from {period_start(0)} "
                             f"without gaps: the value for period {t + 1} belongs under {period_start(t)}, not "
                             f"{month}", cell)
                break
            self.positions[(*path, t)] = cell
        return [v for _, v, _ in data]


def _text(value: Any) -> str:
    """A header or name cell as text (a number typed as a name reads as its digits)."""
    return "" if value is None else str(value).strip()


def _at(values: list[Any], index: int | None) -> Any:
    return values[index] if index is not None and index < len(values) else None


def _match(header: str, columns: dict[str, Column]) -> tuple[Column, str | None] | None:
    """The column a header names, and the key for a mapping's column (`outputs.nickel`)."""
    column = columns.get(header)
    if column is not None and not (column.field.kind == "map" and not column.field.plain):
        return column, None
    for column in columns.values():
        if column.field.kind == "map" and header.startswith(column.header + ".") and \
                len(header) > len(column.header) + 1:
            return column, header[len(column.header) + 1:]
    return None


def _unknown(what: str, name: str, known: list[str]) -> str:
    message = f"unknown {what} `{name}`"
    candidates = [k.replace("<key>", name.split(".", k.count("."))[-1]) if "<key>" in k else k for k in known]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return message + f"; did you mean `{close[0]}`?"
    return message + (f"; expected one of: {', '.join(known)}" if known else "")


def _parents_message(sheet: Sheet, given: list[str]) -> str:
    options = " or ".join(f"`{' and '.join(loc.parents)}`" if loc.parents else "none" for loc in sheet.locations)
    filled = " and ".join(f"`{name}`" for name in given) or "none"
    return f"a row of {sheet.name} fills {options} of the columns naming the item it belongs to, not {filled}"
