"""Write a scenario document as a workbook: deterministic bytes, readable sheets, a README."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from optimizer.data import month_index
from optimizer.errors import Cell, Problem, ScenarioError
from optimizer.excel.layout import (GENERAL, NOTE, README, SERIES, SERIES_CELL, Column, Layout, Location,
                                    PeriodStarts, Sheet, get_path, layout_of, offered, period_starts, read_words)
from optimizer.fields import whole_numbers
from optimizer.spec import MONTH_RE


def workbook_bytes(document: dict[str, Any], layout: Layout | None = None) -> bytes:
    """A scenario document (`optimizer.fields.document`, or any dict of the YAML's shape) as a
    workbook that `read_workbook` reads back into the same dict; the same bytes for the same document."""
    from openpyxl import Workbook

    from optimizer.export import workbook_bytes as pinned_bytes

    layout = layout or layout_of()
    rows = _rows_by_location(document, layout)
    wb = Workbook()
    wb.remove(wb.active)
    series: list[tuple[str, str, str, Any]] = []
    _write_readme(_SheetWriter(wb, README), layout)
    _write_general(_SheetWriter(wb, GENERAL), layout.general, document)
    for sheet in layout.sheets:
        _write_table(_SheetWriter(wb, sheet.name), sheet, rows, series)
    _write_series(_SheetWriter(wb, SERIES), series, period_starts(document.get("horizon")))
    wb.active = 1
    return pinned_bytes(wb)


def _rows_by_location(document: dict[str, Any], layout: Layout) -> dict[Location, list[tuple[dict, tuple[str, ...]]]]:
    """Each list's items with the names of their enclosing items, enclosing lists first."""
    out: dict[Location, list[tuple[dict, tuple[str, ...]]]] = {}
    for loc in layout.locations:
        owners = [(document, ())] if loc.parent is None else [
            (item, (*names, str(item.get(loc.parent.key)))) for item, names in out[loc.parent]]
        out[loc] = []
        for owner, names in owners:
            items = get_path(owner, loc.within)
            out[loc] += [(item, names) for item in items or [] if isinstance(item, dict)]
    return out


def _cells_of(item: dict[str, Any], columns: tuple[Column, ...], keys: dict[Column, list[str]]
              ) -> tuple[list[Any], list[tuple[Column, Any]]]:
    """An item's cells in the column order of `_headers`, and its series given per period or as steps."""
    cells: list[Any] = []
    series = []
    for column in columns:
        value = get_path(item, column.path)
        f = column.field
        if column.marker:
            cells.append(True if isinstance(value, dict) else None)
        elif f.kind == "map":
            if f.plain:
                cells.append(None if isinstance(value, dict) else value)
            cells += [value.get(k) if isinstance(value, dict) else None for k in keys[column]]
        elif f.kind == "series" and isinstance(value, (list, dict)):
            cells.append(SERIES_CELL)
            series.append((column, value))
        elif f.kind == "words":
            cells.append(_words_text(value, f.plain))
        elif f.kind == "yaml" and value is not None and not isinstance(value, (int, float, bool)):
            cells.append(json.dumps(value, ensure_ascii=False))
        else:
            cells.append(value)
    return cells, series


def _headers(columns: tuple[Column, ...], items: list[dict[str, Any]]) -> tuple[list[str], dict[Column, list[str]]]:
    """Column names (a mapping's keys in the order first met) and each mapping column's keys."""
    headers, keys = [], {}
    for column in columns:
        if column.field.kind == "map":
            found: dict[str, None] = {}
            for item in items:
                value = get_path(item, column.path)
                if isinstance(value, dict):
                    found.update(dict.fromkeys(value))
            keys[column] = list(found)
            headers += [column.header] * column.field.plain + [f"{column.header}.{k}" for k in found]
        else:
            headers.append(column.header)
    return headers, keys


def _words_text(value: Any, plain: bool) -> Any:
    """A text or list of texts as one cell: `china`, `gallium, germanium` or `[gallium]`, whichever
    `read_words` reads back as the same value, else JSON (which is YAML)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        candidates = [", ".join(value), "[" + ", ".join(value) + "]"]
    elif isinstance(value, str):
        candidates = [value]
    else:
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value
    for text in candidates:
        try:
            if read_words(text, plain) == value:
                return text
        except ValueError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _write_table(ws: _SheetWriter, sheet: Sheet, rows: dict[Location, list[tuple[dict, tuple[str, ...]]]],
                 series: list[tuple[str, str, str, Any]]) -> None:
    items = [(loc, item, names) for loc in sheet.locations for item, names in rows[loc]]
    headers, keys = _headers(sheet.columns, [item for _, item, _ in items])
    ws.row([*sheet.parents, *headers], bold=True)
    for loc, item, names in items:
        parents = dict(zip(loc.parents, names))
        cells, item_series = _cells_of(item, sheet.columns, keys)
        ws.row([parents.get(p) for p in sheet.parents] + cells)
        key = item.get(loc.key) if loc.key else None
        series += [(sheet.name, str(key), column.header, value) for column, value in item_series]
    for i, column in enumerate(_expanded(sheet.columns, keys), start=len(sheet.parents) + 1):
        if column is not None and column.field.choices and column.field.kind == "scalar":
            ws.choices(column.field.choices, i, rows=(2, 1_048_576))
    ws.finish(freeze="B2")


def _expanded(columns: tuple[Column, ...], keys: dict[Column, list[str]]) -> list[Column | None]:
    """One entry per written column (a mapping's key columns as None), aligned with `_headers`."""
    out: list[Column | None] = []
    for column in columns:
        if column.field.kind == "map":
            out += [None] * (column.field.plain + len(keys[column]))
        else:
            out.append(column)
    return out


def _write_general(ws: _SheetWriter, columns: tuple[Column, ...], document: dict[str, Any]) -> None:
    ws.row(["field", "value", f"{NOTE} about"], bold=True)
    headers, keys = _headers(columns, [document])
    cells, _ = _cells_of(document, columns, keys)
    for header, cell, column in zip(headers, cells, _expanded(columns, keys)):
        r = ws.row([header, cell, _describe(column) if column is not None else ""])
        if column is not None and column.field.choices and column.field.kind == "scalar":
            ws.choices(column.field.choices, 2, rows=(r, r))
    ws.finish(freeze="A2", widest={3: 100})


def _write_series(ws: _SheetWriter, series: list[tuple[str, str, str, Any]], period_start: PeriodStarts | None) -> None:
    """One row per series, one column per period of the horizon (and per step month off them)."""
    longest = max((len(v) for *_, v in series if isinstance(v, list)), default=0)
    periods = max(longest, period_start.periods if period_start is not None else 0)
    months = {period_start(t): None for t in range(periods)} if period_start is not None else {}
    for *_, value in series:
        if isinstance(value, dict):
            months.update(dict.fromkeys(value))
    order = sorted(months, key=lambda m: (0, month_index(m)) if MONTH_RE.match(m) else (1, m))
    column = {m: i for i, m in enumerate(order)}
    ws.row(["sheet", "id", "field", "form", *order], bold=True)
    for sheet, key, name, value in series:
        cells: list[Any] = [None] * len(order)
        if isinstance(value, list):
            starts = [period_start(t) for t in range(len(value))] if period_start is not None else order
            for month, v in zip(starts, value):
                cells[column[month]] = v
        else:
            for month, v in value.items():
                cells[column[month]] = v
        ws.row([sheet, key, name, "list" if isinstance(value, list) else "steps", *cells])
    ws.finish(freeze="E2")


def _write_readme(ws: _SheetWriter, layout: Layout) -> None:
    """What each sheet and column holds, from the schema's own descriptions."""
    lines = [
        ("A scenario for `optimize` (critical-mineral procurement and stockpile planning)", True),
        ("Run it with `optimize SCENARIO.xlsx`; check it with `optimize validate SCENARIO.xlsx`; "
         "`optimize convert SCENARIO.xlsx --to yaml` writes the same scenario as YAML. See docs/excel.md.", False),
        ("", False),
        ("How to fill it in", True),
        ("One row per item (material, source, rule, ...), one column per field. A blank cell is a field "
         "not given: its default applies. The first row of every sheet names the columns.", False),
        ("general holds one row per top-level field (field, value). Dotted names are nested fields: "
         "stockpile.initial is `initial` in the `stockpile` section.", False),
        (f"A SERIES (demand, price, capacity, ...) is a number in its cell, or the word `{SERIES_CELL}` with "
         "its values in a row of the series sheet (sheet, id, field): form `list` has one value under "
         "every period column from horizon.start; form `steps` has values under some months only, each "
         "holding from its month until the next (before the first: the first value).", False),
        ("A list of values (where.material) is written `gallium, germanium`; a list of one as `[gallium]`.",
         False),
        ("A mapping has one column per key: outputs.nickel is the yield of nickel. A column named after a "
         "section alone (stockpile) is TRUE when the section is there even with every field blank.", False),
        *((_shared_sheet_text(sheet), False) for sheet in layout.sheets if len(sheet.locations) > 1),
        (f"Sheets and columns whose name starts with {NOTE} are your notes: they are not read.", False),
        ("Comments of a YAML file do not survive a conversion; numbers are exact.", False),
        ("", False),
        ("sheet / column: what goes in it", True),
    ]
    for text, bold in lines:
        ws.row([text], bold=bold)
    entries = [(GENERAL, c.header, _describe(c)) for c in layout.general]
    for sheet in layout.sheets:
        for parent in sheet.parents:
            owner = next(loc.parent for loc in sheet.locations if loc.parents and loc.parents[-1] == parent)
            entries.append((sheet.name, parent, f"the {owner.key} of the {owner.sheet} row this row belongs to"))
        entries += [(sheet.name, offered([c])[-1], _describe(c)) for c in sheet.columns]
    entries += [(SERIES, "sheet, id, field", "which series: the sheet, the id (or name) of its row, the column"),
                (SERIES, "form", "list (one value per period) or steps (values from the months given)"),
                (SERIES, "YYYY-MM ...", "one column per month; the writer puts every period's first month")]
    for sheet_name, header, text in entries:
        ws.row([f"{sheet_name} / {header}: {text}"])
    ws.finish(freeze=None, widest={1: 140})


def _shared_sheet_text(sheet: Sheet) -> str:
    """`A row of rules with no scenario is one of policies; with a scenario, one of that scenario's events.`"""
    parts = []
    for loc in sheet.locations:
        within = ".".join(loc.within)
        if loc.parent is None:
            parts.append(f"with no {' or '.join(sheet.parents)}, one of `{within}`")
        else:
            parts.append(f"with a {loc.parents[-1]}, one of that {loc.parents[-1]}'s `{within}`")
    return f"A row of {sheet.name} is, " + "; ".join(parts) + "."


def _describe(column: Column) -> str:
    """What to write in a column: the schema's description, the kind of value, the default."""
    f = column.field
    if column.marker:
        return f"TRUE: the {f.key} section is there even if none of its fields is filled in"
    parts = [f.description.rstrip(".")] if f.description else []
    if f.kind == "series":
        parts.append(f"a number, or `{SERIES_CELL}` with the values in the series sheet")
    elif f.kind == "words":
        parts.append("one value" + (", or several separated by commas" if f.plain else "s separated by commas"))
    elif f.kind == "map":
        parts.append("one column per key" + (", or one value in this column" if f.plain else ""))
    elif f.kind == "yaml":
        parts.append("written as YAML")
    elif f.choices:
        parts.append("one of " + ", ".join(f.choices))
    elif f.value and f.value.split()[-1] not in f.description:
        parts.append(f.value)
    if f.required:
        parts.append("required")
    elif isinstance(f.default, bool):
        parts.append(f"default {str(f.default).upper()}")
    elif f.default not in (None, [], "") and not isinstance(f.default, BaseModel):
        parts.append(f"default {whole_numbers(f.default)}")
    return "; ".join(parts)


class _SheetWriter:
    """Writes one sheet row by row; keeps each column's widest text for the column widths."""

    def __init__(self, wb: Any, name: str):
        self.ws = wb.create_sheet(name)
        self.next_row = 1
        self.widths: dict[int, int] = {}

    def row(self, values: list[Any], bold: bool = False) -> int:
        """Write the next row (None: an empty cell); its number."""
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Font

        r = self.next_row
        self.next_row += 1
        for c, value in enumerate(values, start=1):
            if value is None:
                continue
            cell = self.ws.cell(row=r, column=c)
            if isinstance(value, str):
                if ILLEGAL_CHARACTERS_RE.search(value):
                    raise ScenarioError([Problem((), f"{value!r} holds a control character that a workbook "
                                                     "cannot hold", Cell(self.ws.title, r, c))])
                cell.value = value
                cell.data_type = "s"  # text, even when it starts with `=`
            else:
                cell.value = value
                if isinstance(value, float) and float(f"{value:.16g}") != value:
                    # openpyxl writes numbers with 16 significant digits; this one needs 17 to be itself
                    cell._value = repr(value)
            if bold:
                cell.font = Font(bold=True)
            self.widths[c] = max(self.widths.get(c, 0), len(str(value)))
        return r

    def choices(self, choices: tuple[str, ...], column: int, rows: tuple[int, int]) -> None:
        """A drop-down of the allowed values on the cells of `column` in `rows` (first, last)."""
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.datavalidation import DataValidation

        letter = get_column_letter(column)
        rule = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
        rule.add(f"{letter}{rows[0]}:{letter}{rows[1]}")
        self.ws.add_data_validation(rule)

    def finish(self, freeze: str | None, widest: dict[int, int] | None = None) -> None:
        """Frozen header (and first columns), columns as wide as their contents (within limits)."""
        from openpyxl.utils import get_column_letter

        self.ws.freeze_panes = freeze
        for c, width in self.widths.items():
            limit = (widest or {}).get(c, 40)
            self.ws.column_dimensions[get_column_letter(c)].width = min(limit, max(8, width + 2))
