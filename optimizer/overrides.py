"""Changes on top of a scenario file: `--set PATH=VALUE` overrides and `--prices` CSV files.

`--set` edits the raw dict before validation, so an override is validated exactly like the file.
A price file replaces source price series of a validated scenario (SPEC section 5).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.data import Calendar, month_label
from optimizer.errors import Problem, ScenarioError
from optimizer.loader import csv_rows, load_document, read_input_text
from optimizer.spec import MONTH_RE, Scenario

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\]]+\])*)")


def parse_value(text: str, argument: str = "--set") -> Any:
    """A `--set` value as YAML (numbers, lists `[1, 2]`, mappings `{2027-01: 5}`, strings), read by the
    scenario file's loader and within its limits; text that is not YAML (or too deep, too large) is
    taken as a string, for validation to judge."""
    try:
        value, smap = load_document(text, argument)
    except ScenarioError:
        return text
    if smap.problems:  # a duplicate key in a mapping value
        raise ScenarioError([Problem(p.path, p.message, origin=argument) for p in smap.problems])
    return text if value is None and text.strip() not in ("null", "~") else value


def apply_set(raw: dict[str, Any], assignment: str) -> tuple[str | int, ...]:
    """Apply one `PATH=VALUE` to the raw scenario dict (in place); return the path of the field it set.

    PATH is dotted, with list items by index or by id/name: `sources[cn-dy].price`,
    `scenarios[embargo].probability`, `materials[0].stockpile.target`, `risk.aversion`. Every problem
    names the argument as typed (`--set PATH=VALUE: ...`).
    """
    argument = f"--set {assignment}"

    def fail(message: str) -> ScenarioError:
        return ScenarioError([Problem((), message, origin=argument)])

    if "=" not in assignment:
        raise fail("not PATH=VALUE (e.g. --set risk.aversion=0.5)")
    path_text, value_text = assignment.split("=", 1)
    path_text = path_text.strip()
    steps: list[str | int | tuple[str]] = []
    for part in path_text.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise fail(f"cannot read the path `{path_text}` (at `{part}`)")
        steps.append(match.group(1))
        for key in re.findall(r"\[([^\]]+)\]", match.group(2)):
            steps.append(int(key) if key.isdigit() else (key,))
    node: Any = raw
    done: list[str | int] = []
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        where = path_text if last else ".".join(str(s) for s in steps[: i + 1])
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise fail(f"`{where}`: not a mapping in the scenario")
            done.append(step)
            if last:
                node[step] = parse_value(value_text, argument)
                return tuple(done)
            if step not in node:
                if isinstance(steps[i + 1], (int, tuple)):
                    hint = difflib.get_close_matches(step, list(node), n=1)
                    raise fail(f"no `{step}` list in the scenario" + (f"; did you mean `{hint[0]}`?" if hint else ""))
                node[step] = {}  # e.g. --set risk.aversion=0.5 on a file without a risk section
            node = node[step]
        else:
            if not isinstance(node, list):
                raise fail(f"`{where}`: not a list in the scenario")
            if isinstance(step, int):
                if step >= len(node):
                    raise fail(f"index {step} is out of range: the list has {len(node)} items")
                index = step
            else:
                ids = [item.get("id", item.get("name")) if isinstance(item, dict) else None for item in node]
                if step[0] not in ids:
                    hint = difflib.get_close_matches(step[0], [str(x) for x in ids if x], n=1)
                    raise fail(f"no item `{step[0]}` in `{'.'.join(str(s) for s in done)}`"
                               + (f"; did you mean `{hint[0]}`?" if hint else ""))
                index = ids.index(step[0])
            done.append(index)
            if last:
                node[index] = parse_value(value_text, argument)
                return tuple(done)
            node = node[index]
    return tuple(done)


@dataclass(frozen=True)
class PriceRow:
    """One row of a price file: from `month` (None: from the start) the source costs `price`."""

    source: str
    month: str | None
    price: float
    line: int
    file: str = "<prices>"


def read_prices(path: str | Path) -> list[PriceRow]:
    """Read a price CSV (`source,price` or `source,from,price`); every problem names its line."""
    return parse_prices(read_input_text(path, "price file"), str(path))


def parse_prices(text: str, name: str = "<prices>") -> list[PriceRow]:
    """The rows of a price file. A file with a header and no rows is an error, not a no-op: a nightly
    job fed a truncated file must not quietly re-plan on the old prices."""
    if "\x00" in text:
        raise ScenarioError([Problem((), "the file contains NUL bytes: not a CSV file")], file=name)
    rows = csv_rows(text, name)
    if not rows:
        raise ScenarioError([Problem((), "the price file is empty: expected a header `source,price` "
                                         "or `source,from,price`")], file=name)
    header = [h.strip() for h in rows[0]]
    if header not in (["source", "price"], ["source", "from", "price"]):
        raise ScenarioError([Problem(("header",), f"expected columns `source,price` or `source,from,price`, got "
                                                  f"`{','.join(header)}`", (1, 1))], file=name)
    problems: list[Problem] = []
    out: list[PriceRow] = []
    seen: dict[tuple[str, str | None], int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(Problem(("row",), f"expected {len(header)} values, got {len(row)}", (line_no, 1)))
            continue
        cells = dict(zip(header, (c.strip() for c in row)))
        source, month = cells["source"], cells.get("from") or None
        if month is not None and not MONTH_RE.match(month):
            problems.append(Problem(("from",), f"`{month}` is not a month YYYY-MM", (line_no, 1)))
            continue
        try:
            price = float(cells["price"])
        except ValueError:
            problems.append(Problem(("price",), f"`{cells['price']}` is not a number", (line_no, 1)))
            continue
        if not math.isfinite(price) or price < 0:
            problems.append(Problem(("price",), f"price must be a finite number >= 0, got {cells['price']}",
                                    (line_no, 1)))
            continue
        key = (source, month)
        if key in seen:
            problems.append(Problem(("source",), f"`{source}` from {month or 'the start'} is already priced on "
                                                 f"line {seen[key]}", (line_no, 1)))
            continue
        seen[key] = line_no
        out.append(PriceRow(source, month, price, line_no, name))
    if not out and not problems:
        raise ScenarioError([Problem((), "the price file has a header but no prices: a truncated file? (a run "
                                         "on it would keep every old price)", (1, 1))], file=name)
    if problems:
        raise ScenarioError(problems, file=name)
    return out


def price_series(sc: Scenario, rows: list[PriceRow]) -> dict[str, np.ndarray]:
    """New price series [T] of every source named in `rows` (step function from each row's period)."""
    cal = Calendar.of(sc.horizon)
    current = {s.id: s for s in sc.sources}
    out: dict[str, np.ndarray] = {}
    by_source: dict[str, list[PriceRow]] = {}
    for row in rows:
        by_source.setdefault(row.source, []).append(row)
    for source, items in by_source.items():
        series = cal.series(current[source].price).astype(float)
        for row in sorted(items, key=lambda r: (r.month is not None, r.month or "")):
            start = 0 if row.month is None else max(cal.period_of(row.month), 0)
            series[start:] = row.price
        out[source] = series
    return out


def apply_prices(sc: Scenario, rows: list[PriceRow]) -> Scenario:
    """The scenario with the price series of the named sources replaced. An unknown source id, or a
    `from` month after the horizon's end (a price that would never apply), is an error naming its line."""
    known = [s.id for s in sc.sources]
    cal = Calendar.of(sc.horizon)
    problems = []
    for row in rows:
        if row.source not in known:
            hint = difflib.get_close_matches(row.source, known, n=1)
            problems.append(Problem(("source",), f"unknown source `{row.source}`"
                                    + (f"; did you mean `{hint[0]}`?" if hint else ""), (row.line, 1)))
        if row.month is not None and cal.period_of(row.month) >= cal.periods:
            end = month_label(cal.start + cal.periods * cal.length)
            problems.append(Problem(("from",), f"{row.month} is after the horizon (it ends before {end}): this "
                                               "price would never apply", (row.line, 1)))
    if problems:
        raise ScenarioError(problems, file=rows[0].file)
    return replace_prices(sc, price_series(sc, rows))


def replace_prices(sc: Scenario, series: dict[str, np.ndarray]) -> Scenario:
    """The scenario with some sources' price replaced by per-period lists."""
    sources = [
        s.model_copy(update={"price": tuple(float(v) for v in series[s.id])}) if s.id in series else s
        for s in sc.sources
    ]
    return sc.model_copy(update={"sources": sources})
