"""Fuzz the scenario loader (issue 7): every mutant of a valid file fails cleanly, with a located message.

A mutant of a valid scenario either still validates -- allowed only where the mutation touched
something optional -- or raises ScenarioError whose problems each name the field path and its
file:line:col (SPEC 2), or, for a problem with the whole file (empty, binary, a directory), the file.
Anything else (another exception, a problem without position, a required field deleted without
complaint, a problem that does not name the mutated field) is a bug in optimizer/. Mutants go
through `load_scenario` (what the CLI calls) on a temporary file; a sample also goes through the real
`python -m optimizer` subprocess. Known bugs have a strict-xfail reproducer each (end of file); the
sweeps tolerate the mutants one of them explains (KNOWN_BUGS) and fail on anything else.
`pytest -s` prints the number of cases tried per test and in all (test_case_count)."""

from __future__ import annotations

import copy
import os
import random
import re
import subprocess
import sys
import types
import typing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from conftest import ROOT, scenario
from optimizer import loader
from optimizer.errors import ScenarioError, format_path
from optimizer.pipeline import load_scenario
from optimizer.spec import Material, Processor, Scenario, Source, Stockpile

Path_ = tuple[str | int, ...]

# --- seeds: valid scenarios the mutants start from ----------------------------------------------

#: Every field of SPEC section 2 at least once (series as constant, list and mapping; every window).
FULL = """\
name: full-seed
description: every field of SPEC section 2 at least once
home_country: US
currency: USD
horizon:
  start: 2026-01
  periods: 4
  period: quarter
  discount_rate: 0.03
materials:
  - id: dysprosium
    unit: t
    description: heavy rare earth oxide
    demand: [12, 12, 14, 14]
    shortfall_penalty: 5.0e6
    sale_price: 10
    arrivals: {2026-01: 0, 2026-07: 2}
    stockpile:
      initial: 5
      capacity: 200
      holding_cost: [2000, 2000, 2100, 2100]
      target: {2026-01: 10, 2026-07: 20}
      target_penalty: 1.0e5
      hard_target: false
  - id: nodules
  - {id: nickel, demand: 3, shortfall_penalty: 1000}
  - id: cobalt
sources:
  - id: cn-dy
    material: dysprosium
    region: china
    country: CN
    description: export-licensed oxide
    price: 350000
    freight: [10, 10, 10, 10]
    capacity: {2026-01: 30, 2027-01: 10}
    lead_time: 1
    available_from: 2026-01
    available_until: 2027-07
    risk: 0.9
    expansion: {max: 100, capex: 1.0e6, lead_time: 2}
  - {id: au-dy, material: dysprosium, region: allied, country: AU, price: 500000}
  - {id: isa-nodules, material: nodules, region: deep_sea, country: INTL, price: 100, capacity: 1000}
processors:
  - id: us-refinery
    region: domestic
    country: US
    description: nodule refinery
    input: nodules
    outputs: {nickel: 0.013, cobalt: 0.0022}
    capacity: [0, 0, 500, 500]
    cost: 150
    available_from: 2026-04
    available_until: 2030-01
    expansion: {max: 1.0e6, capex: 400, lead_time: 1}
policies:
  - {type: tariff, name: ieepa-china, rate: 1.45, where: {country: CN}, from: 2025-04}
  - {type: ban, name: cn-ban, where: {region: china, material: [dysprosium]}, from: 2027-01, until: 2027-07}
  - {type: capacity, where: {processor: us-refinery}, multiplier: 0.5}
budgets:
  - {name: fy2026, amount: 1.0e9, from: 2025-10, until: 2026-10}
  - {name: fy2027, amount: 2.0e9, from: 2026-10, until: 2027-10}
limits:
  - {name: cap-china-dy, material: dysprosium, where: {region: china}, max_share: 0.6, over: period}
  - {name: allied-floor, material: dysprosium, where: {source: [au-dy]}, min_share: 0.1, over: horizon,
     from: 2026-01, until: 2027-01}
risk: {aversion: 0.3, alpha: 0.95, premium: 0.1}
scenarios:
  - {name: base, probability: 0.7, description: as planned}
  - name: embargo
    probability: 0.3
    events:
      - {type: ban, where: {region: china}, from: 2026-07}
      - {type: price, where: {region: allied}, multiplier: 2.0, from: 2026-07}
      - {type: demand, where: {material: dysprosium}, multiplier: 1.5, from: 2026-07}
"""


@cache
def seed_texts() -> dict[str, str]:
    """Seed file name -> YAML text: the shipped scenarios, FULL, and conftest's tiny scenario."""
    shipped = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "scenarios").glob("*.yaml"))}
    return {**shipped, "full.yaml": FULL, "tiny.yaml": pyyaml.safe_dump(scenario(), sort_keys=False)}


@cache
def seed_docs() -> dict[str, dict]:
    """Seed name -> the plain dict the loader makes of it."""
    return {name: loader.parse_yaml_text(text, name)[0] for name, text in seed_texts().items()}


SEED_NAMES = list(seed_texts())

# --- mutants --------------------------------------------------------------------------------------


class Raw(str):
    """YAML text spliced verbatim into a dumped mutant: `1e400`, an unquoted `2026-1-1`, a date."""


DUMPER = getattr(pyyaml, "CSafeDumper", pyyaml.SafeDumper)


def dump(data: Any) -> bytes:
    """Block-style YAML of `data`, with every Raw value or key written as its own text."""
    raws: dict[str, str] = {}

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            token = f"zzraw{len(raws)}zz"
            raws[token] = str(node)
            return token
        if isinstance(node, dict):
            return {swap(k): swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = pyyaml.dump(swap(data), Dumper=DUMPER, sort_keys=False, default_flow_style=False, width=10**6,
                       allow_unicode=True)
    for token, raw in raws.items():
        text = text.replace(token, raw)
    return text.encode("utf-8")


@dataclass(frozen=True)
class Mutant:
    """One mutated input and what must come of it."""

    seed: str
    kind: str
    path: Path_ = ()
    """Where the problem must be named (a problem path related to it); () = anywhere."""
    make: Callable[[], Any] | None = None
    """Builds the mutated document (dumped to YAML) when the mutant runs; None when `raw` is given."""
    raw: bytes | None = None
    expect: str = "error"
    """`error`, `valid` or `either` (the mutation touched something optional)."""
    wants: tuple[str, ...] = ()
    """Substrings each expected in some problem at a related path."""
    positioned: bool = False
    """At least one problem must carry a line:col (syntax errors)."""
    note: str = ""
    """Where a text mutant was made (`line 12`)."""

    def content(self) -> bytes:
        return self.raw if self.raw is not None else dump(self.make())

    def label(self) -> str:
        return f"{self.seed}: {self.kind} @ {self.note or format_path(self.path)}"


def walk(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) below `node`, parents before children."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield (*path, key), child
        yield from walk(child, (*path, key))


def at(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def edit(doc: dict, path: Path_, change: Callable[[Any, Any], None]) -> dict:
    """A deep copy of `doc` with `change(parent, key)` applied at `path`."""
    new = copy.deepcopy(doc)
    change(at(new, path[:-1]), path[-1])
    return new


def replaced(doc: dict, path: Path_, value: Any) -> dict:
    return edit(doc, path, lambda parent, key: parent.__setitem__(key, value))


def deleted(doc: dict, path: Path_) -> dict:
    return edit(doc, path, lambda parent, key: parent.__delitem__(key))


def renamed(doc: dict, path: Path_, new_key: Any) -> dict:
    """Rename the mapping key at `path`, keeping its place and value."""
    def change(parent: dict, key: Any) -> None:
        items = list(parent.items())
        parent.clear()
        parent.update((new_key if k == key else k, v) for k, v in items)
    return edit(doc, path, change)


def updated(doc: dict, path: Path_, fields: dict) -> dict:
    new = copy.deepcopy(doc)
    at(new, path).update(fields)
    return new


# Lazy versions: a mutant's document is only built (deep-copied) when the mutant runs.
def replace_(doc: dict, path: Path_, value: Any) -> Callable[[], dict]:
    return lambda: replaced(doc, path, value)


def delete_(doc: dict, path: Path_) -> Callable[[], dict]:
    return lambda: deleted(doc, path)


def rename_(doc: dict, path: Path_, new_key: Any) -> Callable[[], dict]:
    return lambda: renamed(doc, path, new_key)


# --- what the schema says about a path (an oracle independent of optimizer/checks.py) -----------

NoneType = type(None)
SERIES_KEYS = {"demand", "arrivals", "capacity", "holding_cost", "target", "price", "freight", "cost"}
SERIES_OWNERS = (Material, Stockpile, Source, Processor)
MONTH_KEYS = {"start", "from", "until", "available_from", "available_until"}


def _strip(tp: Any) -> Any:
    """Annotated[X, ...] -> X; a Union -> its model, list or dict member, or its only member."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not NoneType]
            pick = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            pick = pick or [a for a in args if typing.get_origin(a) in (list, dict)]
            if pick or len(args) == 1:
                tp = (pick or args)[0]
                continue
        return tp


def schema_at(path: Path_) -> tuple[Any, Any]:
    """(type, FieldInfo or None) of the node at `path` in Scenario; (None, None) off the schema."""
    tp, info = Scenario, None
    for part in path:
        tp = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if info is None:
                return None, None
            tp = info.annotation
        elif typing.get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp, info = typing.get_args(tp)[0], None
        elif typing.get_origin(tp) is dict:
            tp, info = typing.get_args(tp)[1], None
        else:
            return None, None
    return _strip(tp), info


def model_at(path: Path_) -> type | None:
    tp, _ = schema_at(path)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def is_series(path: Path_) -> bool:
    return bool(path) and path[-1] in SERIES_KEYS and model_at(path[:-1]) in SERIES_OWNERS


def in_series(path: Path_) -> bool:
    return any(is_series(path[:i]) for i in range(1, len(path)))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_required(path: Path_) -> bool:
    _, info = schema_at(path)
    return info is not None and info.is_required()


def is_nullable(path: Path_) -> bool:
    _, info = schema_at(path)
    return info is not None and NoneType in typing.get_args(info.annotation)


def is_int_field(path: Path_) -> bool:
    tp, info = schema_at(path)
    return info is not None and tp is int


# --- systematic mutation families -----------------------------------------------------------------

BAD_MONTHS = (Raw("2026-13"), Raw("26-01"), Raw("2026-1-1"), Raw("2026-1"), Raw("2026-00"),
              Raw("2026-01-01"), "2026/01", Raw("202601"), "Jan 2026", Raw("2026-13-01"), Raw("2026-02-30"))
BAD_SERIES_KEYS = ("2026-13", "26-01", Raw("2026-1-1"), Raw("2026-01-01"), "", "q1", Raw("2026-02-30"))


def deletions(name: str, doc: dict) -> Iterator[Mutant]:
    """Delete every key and list item: required fields must be reported missing; the rest may pass."""
    for path, _ in walk(doc):
        if isinstance(path[-1], str) and is_required(path):
            yield Mutant(name, "delete-required", path, delete_(doc, path), wants=("required field is missing",))
        elif in_series(path) and isinstance(path[-1], int):
            yield Mutant(name, "delete-series-item", path[:-1], delete_(doc, path), wants=("needs exactly",))
        else:
            yield Mutant(name, "delete-optional", path, delete_(doc, path), expect="either")


def nulls(name: str, doc: dict) -> Iterator[Mutant]:
    """Replace every value with null: fine only where the schema allows null."""
    for path, _ in walk(doc):
        yield Mutant(name, "null", path, replace_(doc, path, None), expect="either" if is_nullable(path) else "error")


def wrong_types(name: str, doc: dict) -> Iterator[Mutant]:
    """String for number, bool for number, list for mapping, mapping for list, number for string..."""
    for path, value in walk(doc):
        if is_number(value):
            swaps = {"str-for-number": "twelve", "bool-for-number": True, "list-for-number": ["x"],
                     "mapping-for-number": {"x": "y"}}
        elif isinstance(value, bool):
            swaps = {"str-for-bool": "yes", "int-for-bool": 1, "list-for-bool": ["x"]}
        elif isinstance(value, str):
            swaps = {"number-for-str": 12345, "bool-for-str": True, "list-for-str": ["x"],
                     "mapping-for-str": {"x": "y"}}
        elif isinstance(value, dict):
            swaps = {"list-for-mapping": ["x"], "str-for-mapping": "text"}
            if not is_series(path):  # a number is a valid SERIES
                swaps["number-for-mapping"] = 5
        elif isinstance(value, list):
            swaps = {"mapping-for-list": {"x": "y"}, "str-for-list": "text"}
            if not is_series(path):
                swaps["number-for-list"] = 5
        else:
            continue
        for kind, new in swaps.items():
            yield Mutant(name, kind, path, replace_(doc, path, new))


def bad_numbers(name: str, doc: dict) -> Iterator[Mutant]:
    """Negative, NaN, infinite and out-of-range numbers in every numeric field."""
    for path, value in walk(doc):
        if not is_number(value):
            continue
        for kind, new in (("negative", -abs(value) - 1), ("nan", float("nan")), ("inf", float("inf")),
                          ("-inf", float("-inf")), ("1e400", Raw("1e400")), ("-1e400", Raw("-1e400"))):
            yield Mutant(name, kind, path, replace_(doc, path, new))
        # 10**400 is finite as an int; an unbounded int field (lead_time) may accept it
        yield Mutant(name, "huge-int", path, replace_(doc, path, 10**400),
                     expect="either" if is_int_field(path) else "error")


def bad_dates(name: str, doc: dict) -> Iterator[Mutant]:
    """Malformed months, bad SERIES mapping keys, and windows whose end is not after their start."""
    for path, value in walk(doc):
        if isinstance(path[-1], str) and path[-1] in MONTH_KEYS and isinstance(value, str):
            for bad in BAD_MONTHS:
                yield Mutant(name, f"bad-month {bad}", path, replace_(doc, path, bad), wants=("YYYY-MM",))
        if is_series(path) and isinstance(value, dict):
            yield Mutant(name, "empty-series-mapping", path, replace_(doc, path, {}), wants=("at least one",))
            for key in value:
                for bad in BAD_SERIES_KEYS:
                    yield Mutant(name, f"bad-series-key {bad!r}", path, rename_(doc, (*path, key), bad),
                                 wants=("YYYY-MM",))
        model = model_at(path) if isinstance(value, dict) else None
        for start, end in (("from", "until"), ("available_from", "available_until")):
            if model is None or not any(start in (n, f.alias) for n, f in model.model_fields.items()):
                continue
            first = value.get(start, "2027-01")
            for kind, last in (("until-equals-from", first), ("until-before-from", f"{int(first[:4]) - 1}{first[4:]}")):
                new = partial(updated, doc, path, {start: first, end: last})
                yield Mutant(name, kind, path, new, wants=("must be after",))


def typos(name: str, doc: dict) -> Iterator[Mutant]:
    """Misspell every key of every model (expect a 'did you mean'), and add an unknown key."""
    for path, value in [((), doc), *walk(doc)]:
        if not isinstance(value, dict) or model_at(path) is None:
            continue
        for key in value:
            doubled = key + key[-1]
            yield Mutant(name, "typo-doubled", (*path, doubled), rename_(doc, (*path, key), doubled),
                         wants=(f"did you mean `{key}`",))
            if len(key) >= 5:
                swapped = key[:1] + key[2] + key[1] + key[3:]
                if swapped != key:
                    yield Mutant(name, "typo-swapped", (*path, swapped), rename_(doc, (*path, key), swapped),
                                 wants=("did you mean",))
        yield Mutant(name, "unknown-key", (*path, "colour"), replace_(doc, (*path, "colour"), "red"),
                     wants=("unknown field `colour`",))


REFERENCE = re.compile(r"^(sources,\d+,material|processors,\d+,input|limits,\d+,material"
                       r"|.*,where,(source|processor|material)(,\d+)?)$")


def references(name: str, doc: dict) -> Iterator[Mutant]:
    """Dangling references: source material, processor input and outputs, limit material, filter ids."""
    for path, value in walk(doc):
        key = ",".join(map(str, path))
        if isinstance(value, str) and REFERENCE.match(key):
            yield Mutant(name, "dangling-ref", path, replace_(doc, path, value + "x"),
                         wants=(f"unknown", f"did you mean `{value}`"))
        if len(path) == 3 and path[0] == "processors" and path[2] == "outputs" and isinstance(value, dict):
            for out in value:
                yield Mutant(name, "dangling-output", (*path, out + "x"), rename_(doc, (*path, out), out + "x"),
                             wants=(f"did you mean `{out}`",))
        if isinstance(value, str) and key.endswith(",where,country"):
            yield Mutant(name, "filter-matches-nothing", path[:-1], replace_(doc, path, "ZZ"),
                         wants=("matches no",))


def duplicates(name: str, doc: dict) -> Iterator[Mutant]:
    """Duplicate ids (one namespace for materials, sources, processors) and duplicate names."""
    entities = [(kind, i) for kind in ("materials", "sources", "processors") for i in range(len(doc.get(kind) or []))]
    for n, (kind, i) in enumerate(entities[1:], start=1):
        for other_kind, j in {entities[0], entities[n - 1]}:
            new = replace_(doc, (kind, i, "id"), doc[other_kind][j]["id"])
            yield Mutant(name, "duplicate-id", (), new, wants=("duplicate id",))
    for kind in ("budgets", "limits", "scenarios"):
        items = doc.get(kind) or []
        for i in range(1, len(items)):
            yield Mutant(name, "duplicate-name", (kind, i, "name"), replace_(doc, (kind, i, "name"), items[0]["name"]),
                         wants=("duplicate",))


def series_lengths(name: str, doc: dict) -> Iterator[Mutant]:
    """A SERIES list must have exactly `periods` values (and not be empty)."""
    periods = doc["horizon"]["periods"]
    for path, _ in walk(doc):
        if is_series(path):
            for n in {0, 1, periods - 1, periods + 1} - {periods}:
                want = "must not be empty" if n == 0 else "needs exactly"
                yield Mutant(name, f"series-length {n}", path, replace_(doc, path, [1.0] * n), wants=(want,))


def probabilities(name: str, doc: dict) -> Iterator[Mutant]:
    """Scenario probabilities that do not sum to 1."""
    for i, case in enumerate(doc.get("scenarios") or []):
        new = replace_(doc, ("scenarios", i, "probability"), round((case["probability"] + 0.1) % 1, 6))
        yield Mutant(name, "probability-sum", ("scenarios",), new, wants=("sum to",))


FAMILIES = (deletions, nulls, wrong_types, bad_numbers, bad_dates, typos, references, duplicates, series_lengths,
            probabilities)


@cache
def structural_mutants(seed: str) -> tuple[Mutant, ...]:
    """Every structural mutant of a seed (cheap: documents are built only when run)."""
    doc = seed_docs()[seed]
    return tuple(m for family in FAMILIES for m in family(seed, doc))


def spread(mutants: tuple[Mutant, ...], n: int, salt: str) -> tuple[Mutant, ...]:
    """Up to `n` mutants: every kind in turn, paths within a kind in a fixed shuffled order."""
    by_kind: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_kind.setdefault(m.kind, []).append(m)
    queues = [random.Random(f"{salt}/{kind}").sample(group, len(group)) for kind, group in by_kind.items()]
    out: list[Mutant] = []
    while len(out) < n and any(queues):
        for queue in queues:
            if queue and len(out) < n:
                out.append(queue.pop())
    return tuple(out)


#: Cases per seed. FULL and the tiny scenario are small and fast (2-20 ms a case); the shipped files
#: are large (up to ~100 ms a case) and growing, so they get a spread sample of every kind.
BUDGET = {"full.yaml": (300, 60), "tiny.yaml": (10_000, 0)}
SHIPPED_BUDGET = 80  # structural + text cases over all shipped files


def budget(seed: str) -> tuple[int, int]:
    """(structural, text) cases to run for a seed."""
    if seed in BUDGET:
        return BUDGET[seed]
    per_file = max(16, SHIPPED_BUDGET // max(1, len(SEED_NAMES) - len(BUDGET)))
    return per_file * 3 // 4, per_file // 4


def chosen_structural(seed: str) -> tuple[Mutant, ...]:
    return spread(structural_mutants(seed), budget(seed)[0], seed)


def chosen_text(seed: str) -> tuple[Mutant, ...]:
    n = budget(seed)[1]
    return spread(tuple(text_mutants(seed, seed_texts()[seed])), n, seed) if n else ()


# --- text-level mutants of the original files (comments and flow style kept) ----------------------

KEY_LINE = re.compile(r"^\s*[A-Za-z_][\w-]*:(\s|$)")


def text_mutants(seed: str, text: str) -> Iterator[Mutant]:
    """Per line: tab indentation, unclosed bracket, duplicated key line, deleted/indented line, truncation."""
    lines = text.splitlines(keepends=True)
    depth = 0  # open flow brackets before the line: inside a flow collection, tabs and repeats mean other things
    for i, line in enumerate(lines):
        body = line.strip()
        code = line.split(" #")[0] if not body.startswith("#") else ""
        in_flow, depth = depth > 0, depth + sum(code.count(c) for c in "{[") - sum(code.count(c) for c in "}]")
        if not body or body.startswith("#"):
            continue

        def variant(kind: str, new_lines: list[str], expect: str = "either", **kw: Any) -> Mutant:
            return Mutant(seed, kind, (), raw="".join(new_lines).encode(), expect=expect, note=f"line {i + 1}", **kw)

        tabbed = [*lines[:i], "\t" + line.lstrip(" "), *lines[i + 1:]]
        yield variant("tab-indent", tabbed, "either") if in_flow else variant("tab-indent", tabbed, "error",
                                                                             positioned=True)
        close = max(code.rfind("}"), code.rfind("]"))
        if close >= 0:
            yield variant("unclosed-bracket", [*lines[:i], line[:close] + line[close + 1:], *lines[i + 1:]], "error",
                          positioned=True)
        if KEY_LINE.match(line) and not line.rstrip().endswith(":") and not in_flow:
            yield variant("duplicate-key", [*lines[:i + 1], line, *lines[i + 1:]], "error", positioned=True,
                          wants=("duplicate key",))
        if i % 2 == 0:
            yield variant("delete", [*lines[:i], *lines[i + 1:]])
            yield variant("indent+1", [*lines[:i], " " + line, *lines[i + 1:]])
        else:
            yield variant("dedent-1", [*lines[:i], line[1:] if line.startswith(" ") else line, *lines[i + 1:]])
            yield variant("truncate-after", lines[:i + 1])


# --- inline files: empty, binary, not a mapping, broken YAML, odd tags and dates ------------------

TINY = seed_texts()["tiny.yaml"]


def whole_file_mutants() -> list[Mutant]:
    """Files that are wrong as a whole (empty, binary, not a mapping, not YAML) or in one odd scalar."""
    rnd = random.Random(7)
    cases: list[tuple[str, bytes, tuple[str, ...], bool]] = [
        # kind, content, wanted substrings, positioned
        ("empty file", b"", ("empty",), False),
        ("whitespace only", b"   \n \n  \n", ("empty",), False),
        ("tab-only line", b"  \n\t\n", (), False),
        ("newlines only", b"\n\n\n", ("empty",), False),
        ("comment only", b"# nothing here\n", ("empty",), False),
        ("document marker only", b"---\n", ("empty",), False),
        ("explicit null", b"~\n", ("empty",), False),
        ("top-level list", b"- name: x\n- name: y\n", ("expected a mapping",), False),
        ("top-level scalar", b"just a string\n", ("expected a mapping",), False),
        ("top-level number", b"42\n", ("expected a mapping",), False),
        ("top-level quoted", b'"name: x"\n', ("expected a mapping",), False),
        ("utf-16 with BOM", TINY.encode("utf-16"), ("not UTF-8",), False),
        ("utf-16 BOM bytes", b"\xff\xfe" + TINY.encode("utf-16-le"), ("not UTF-8",), False),
        ("utf-32", TINY.encode("utf-32"), ("not UTF-8",), False),
        ("latin-1 text", TINY.replace("name: tiny", "name: tiny\ndescription: caf\u00e9").encode("latin-1"),
         ("not UTF-8",), False),
        ("random bytes with NULs", b"\x00" + rnd.randbytes(300) + b"\x00", (), False),
        ("random bytes", bytes(rnd.randrange(128, 256) for _ in range(200)), ("not UTF-8",), False),
        ("NUL after a valid file", TINY.encode() + b"\x00", ("NUL",), False),
        ("NUL only", b"\x00\x00\x00", ("NUL",), False),
        ("ELF header", b"\x7fELF\x02\x01\x01\x00" + bytes(56), ("NUL",), False),
        ("PNG header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", (), False),
        ("gzip header", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", (), False),
        ("unclosed flow mapping", b"name: x\nhorizon: {start: 2026-01, periods: 3\nmaterials: [{id: a}]\n",
         ("YAML syntax error",), True),
        ("unclosed flow sequence", b"name: x\nmaterials: [{id: a}\n", ("YAML syntax error",), True),
        ("unclosed quote", b"name: 'x\nhorizon: {start: 2026-01, periods: 3}\n", ("YAML syntax error",), True),
        ("bad indentation", b"name: x\nhorizon:\n  start: 2026-01\n   periods: 3\n", ("YAML syntax error",), True),
        ("tab indentation", b"name: x\nhorizon:\n\tstart: 2026-01\n", ("YAML syntax error",), True),
        ("mapping value in plain scalar", b"name: a: b\n", ("YAML syntax error",), True),
        ("list item in mapping", b"name: x\n- id: a\n", ("YAML syntax error",), True),
        ("duplicate top-level key", b"name: x\nname: y\n", ("duplicate key",), True),
        ("duplicate nested key", TINY.replace("  periods: 3\n", "  periods: 3\n  periods: 4\n").encode(),
         ("duplicate key",), True),
        ("duplicate flow key", b"name: x\nhorizon: {start: 2026-01, start: 2026-02, periods: 3}\n",
         ("duplicate key",), True),
        ("undefined alias", b"name: *nope\n", ("undefined alias",), True),
        ("two documents", (TINY + "---\nname: other\n").encode(), ("single document",), True),
        ("YAML 2.0 directive", b"%YAML 2.0\n---\nname: x\n", ("YAML syntax error",), True),
        ("python object tag", b"name: !!python/object/apply:os.system ['echo hacked']\n", (), False),
        ("bad int tag", b"name: x\nhorizon: {start: 2026-01, periods: !!int abc}\n", (), False),
        ("bad float tag", TINY.replace("price: 10", "price: !!float ten").encode(), (), False),
        ("bad bool tag", TINY.replace("price: 10", "price: !!bool maybe").encode(), (), False),
        ("empty int tag", TINY.replace("price: 10", "price: !!int ''").encode(), (), False),
        ("impossible date", TINY.replace("start: 2026-01", "start: 2026-02-30").encode(), ("YYYY-MM",), False),
        ("month 13 date", TINY.replace("start: 2026-01", "start: 2026-13-01").encode(), ("YYYY-MM",), False),
        ("binary tag", TINY.replace("price: 10", "price: !!binary aGVsbG8=").encode(), ("expected a number",), False),
        ("set tag", TINY.replace("price: 10", "price: !!set {a, b}").encode(), ("expected a number",), False),
        ("custom tag", TINY.replace("price: 10", "price: !usd 10").encode(), ("expected a number",), False),
        ("merge of a scalar", b"a: &a 1\nname: x\n<<: *a\n", (), False),
        ("date for a month", TINY.replace("start: 2026-01", "start: 2026-01-01").encode(), ("YYYY-MM",), False),
        ("timestamp for a month", TINY.replace("start: 2026-01", "start: 2026-01-01T10:00:00").encode(),
         ("YYYY-MM",), False),
        ("self-referencing alias", TINY.replace("price: 10", "price: &p [*p]").encode(), (), False),
        ("deep flow nesting", (TINY + "description: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
         ("nested more than",), True),
        ("deep flow mapping nesting", (TINY + "description: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n").encode(),
         ("nested more than",), True),
        ("deep block nesting", (TINY + "description:\n" + "".join(" " * i + "- \n" for i in range(500))).encode(),
         ("nested more than",), True),
    ]
    out = [Mutant("(inline)", kind, (), raw=raw, wants=wants, positioned=pos) for kind, raw, wants, pos in cases]
    out.append(Mutant("(inline)", "directory", (), raw=b"", wants=("directory",)))
    out.append(Mutant("(inline)", "missing file", (), raw=b"", wants=("file not found",)))
    # positive controls: these must still validate
    out.append(Mutant("(inline)", "UTF-8 BOM", (), raw=b"\xef\xbb\xbf" + TINY.encode(), expect="valid"))
    out.append(Mutant("(inline)", "anchored list reused", (), expect="valid",
                      raw=TINY.replace("demand: 10", "demand: &d [1, 2, 3]\n  arrivals: *d").encode()))
    out.append(Mutant("(inline)", "CRLF line ends", (), raw=TINY.replace("\n", "\r\n").encode(), expect="valid"))
    return out


# --- running a mutant -------------------------------------------------------------------------------

#: Problems about the file as a whole need no field path or line.
WHOLE_FILE = ("file not found", "is a directory", "not UTF-8", "NUL bytes", "the file is empty",
              "expected a mapping of scenario fields", "(an alias bomb?)", "this tool reads", "symlink loop")

#: Outcomes explained by a known bug in optimizer/ (each has a strict-xfail reproducer below).
KNOWN_BUGS: dict[str, Callable[[str], bool]] = {
    "BUG-1 integer beyond float range in a SERIES or number: OverflowError":
        lambda outcome: "OverflowError" in outcome and "too large to convert to float" in outcome,
    "BUG-3 control character: problem without line:col":
        lambda outcome: "without location" in outcome and "unacceptable character" in outcome,
    "BUG-7 scalar the YAML constructor cannot convert (2026-02-30, !!int abc): ValueError/KeyError/IndexError":
        lambda outcome: bool(re.match(r"crash: (ValueError: (day is out of range|month must be in|year \d+ is out"
                                      r"|invalid literal for int|could not convert string to float)|KeyError|"
                                      r"IndexError: string index out of range)", outcome)),
    "BUG-9 missing top-level field: problem without line:col":
        lambda outcome: outcome.startswith("problem without line:col") and "required field is missing" in outcome,
}


def materialise(m: Mutant, workdir: Path) -> Path:
    """The file (or directory, or missing path) the mutant is loaded from."""
    if m.kind == "directory":
        path = workdir / "a-directory.yaml"
        path.mkdir(exist_ok=True)
        return path
    if m.kind == "missing file":
        return workdir / "no-such-file.yaml"
    path = workdir / "mutant.yaml"
    path.write_bytes(m.content())
    return path


#: Pydantic's union-member tags, which appear inside problem paths (see BUG-8): `where.region.literal[...]`.
UNION_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|tuple|literal|function-\w+)\[.*\])$")


def related(a: Path_, b: Path_) -> bool:
    """One path is a non-empty prefix of the other (a problem on an item names its fields too)."""
    a = tuple(part for part in a if not (isinstance(part, str) and UNION_TAG.match(part)))
    n = min(len(a), len(b))
    return n >= 1 and tuple(a[:n]) == tuple(b[:n])


def judge(m: Mutant, path: Path) -> str | None:
    """None when the outcome is acceptable, else what is wrong with it."""
    try:
        load_scenario(path)
    except ScenarioError as exc:
        return judge_error(m, exc, path)
    except Exception as exc:  # noqa: BLE001 - anything but ScenarioError is the bug we look for
        return f"crash: {type(exc).__name__}: {str(exc)[:200]}"
    return "validated, but the mutation should be an error" if m.expect == "error" else None


def judge_error(m: Mutant, exc: ScenarioError, path: Path) -> str | None:
    text = exc.render()
    if m.expect == "valid":
        return f"rejected a valid file: {text[:300]}"
    if not exc.problems:
        return "ScenarioError with no problems"
    if exc.file != str(path) or str(path) not in text:
        return f"message does not name the file: {text[:300]}"
    for p in exc.problems:  # SPEC 2: every error names the field path and the YAML line
        if not p.position and not any(s in p.message for s in WHOLE_FILE):
            kind = "problem without location" if not p.path else "problem without line:col"
            return f"{kind}: {p.render(exc.file)[:300]}"
    if m.positioned and not any(p.position for p in exc.problems):
        return f"no line:col: {text[:300]}"
    if m.expect == "either":
        return None
    pool = [p for p in exc.problems if related(p.path, m.path)] if m.path else exc.problems
    if not pool:
        return f"no problem names {format_path(m.path)}: {text[:400]}"
    for want in m.wants:
        if not any(want in p.message for p in pool):
            return f"expected {want!r} in a problem at {format_path(m.path)}: {text[:400]}"
    return None


def known_bug(outcome: str) -> str | None:
    return next((name for name, matches in KNOWN_BUGS.items() if matches(outcome)), None)


def run_mutants(mutants: tuple[Mutant, ...] | list[Mutant], workdir: Path) -> tuple[list[str], Counter]:
    """Judge every mutant; return the unexplained failures and how many each known bug explained."""
    failures, known = [], Counter()
    for m in mutants:
        outcome = judge(m, materialise(m, workdir))
        if outcome is None:
            continue
        bug = known_bug(outcome)
        if bug:
            known[bug] += 1
        else:
            failures.append(f"{m.label()}: {outcome}")
    return failures, known


def report(what: str, tried: int, failures: list[str], known: Counter) -> str:
    lines = [f"{what}: {tried} cases tried, {len(failures)} unexplained failures"]
    lines += [f"  {n} x {bug}" for bug, n in sorted(known.items())]
    lines += [f"  FAIL {f}" for f in failures[:40]]
    text = "\n".join(lines)
    print("\n" + text)
    return text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --- tests: in-process sweeps ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_seed_is_valid(seed, workdir):
    """Every seed validates as it stands, so each mutant differs from a valid file by its mutation."""
    path = workdir / seed
    path.write_text(seed_texts()[seed], encoding="utf-8")
    load_scenario(path)


@pytest.mark.parametrize("seed", SEED_NAMES)
def test_structural_mutants(seed, workdir):
    """Delete / null / retype / negate / NaN / inf / misdate / misspell / dangle / duplicate every field."""
    mutants = chosen_structural(seed)
    failures, known = run_mutants(mutants, workdir)
    summary = report(f"structural mutants of {seed} (of {len(structural_mutants(seed))} generated)",
                     len(mutants), failures, known)
    assert not failures, summary


@pytest.mark.parametrize("seed", [name for name in SEED_NAMES if budget(name)[1]])
def test_text_mutants(seed, workdir):
    """Line edits of the original text: tabs, unclosed brackets, duplicate keys, bad indentation, truncation."""
    mutants = chosen_text(seed)
    failures, known = run_mutants(mutants, workdir)
    summary = report(f"text mutants of {seed}", len(mutants), failures, known)
    assert not failures, summary


def test_whole_file_mutants(workdir):
    """Empty, whitespace-only, binary, non-UTF-8, non-mapping and broken-YAML files; a directory."""
    mutants = whole_file_mutants()
    failures, known = run_mutants(mutants, workdir)
    summary = report("whole-file mutants", len(mutants), failures, known)
    assert not failures, summary


def alias_bomb(width: int, depth: int, where: str) -> bytes:
    """`depth` anchors, each `width` aliases of the previous one: width**depth values once expanded."""
    if where == "top":
        lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
        return ("\n".join(lines) + "\n").encode()
    if where == "mapping":
        lines = [f"m0: &m0 {{{', '.join(f'k{j}: x' for j in range(width))}}}"]
        lines += [f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(width))}}}" for i in range(1, depth)]
        return ("\n".join(lines) + "\n").encode()
    # inside a field of a valid file: the anchors are defined within one flow sequence
    levels = [f"&b0 [{', '.join(['1'] * width)}]"]
    levels += [f"&b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, depth)]
    return TINY.replace("price: 10", f"price: [{', '.join(levels)}]").encode()


BOMB_SIZES = ((10, 9), (100, 5), (2, 40))  # width ** depth values once expanded
BOMB_PLACES = ("top", "mapping", "field")


@pytest.mark.parametrize("where", BOMB_PLACES)
def test_alias_bombs_are_refused(where, workdir):
    """Billion laughs: refused by the ratio of values expanded to values written, never expanded."""
    mutants = [Mutant("(inline)", f"alias bomb {where} {w}^{d}", (), raw=alias_bomb(w, d, where),
                      wants=("(an alias bomb?)",)) for w, d in BOMB_SIZES]
    failures, known = run_mutants(mutants, workdir)
    assert not failures and not known, report(f"alias bombs ({where})", len(mutants), failures, known)


def test_case_count():
    """The systematic cases alone number well over 500 (hypothesis and the CLI sample come on top)."""
    counts = Counter()
    for seed in SEED_NAMES:
        for m in chosen_structural(seed):
            counts[f"structural {m.kind.split()[0]}"] += 1
        counts["text"] += len(chosen_text(seed))
    counts["whole-file"] = len(whole_file_mutants())
    counts["alias bombs"] = len(BOMB_SIZES) * len(BOMB_PLACES)
    total = sum(counts.values())
    cli = len(cli_mutants())
    breakdown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    message = (f"{total} systematic cases ({breakdown}), plus up to {HYPOTHESIS_EXAMPLES} hypothesis examples and "
               f"{cli} CLI subprocess runs: {total + HYPOTHESIS_EXAMPLES + cli} in all")
    print("\n" + message)
    assert total >= 500, message


# --- hypothesis: random mutations ----------------------------------------------------------------

HYPOTHESIS_EXAMPLES = 3 * 100
RANDOM_SEEDS = ["full.yaml", "tiny.yaml"]  # small seeds keep the random tests fast
FUZZ_SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["2026-01", "2026-13", "26-01", "china", "dysprosium", "US", "", "base"]),
    st.sampled_from([Raw("2026-1-1"), Raw("1e400"), Raw(".nan"), Raw("-.inf"), Raw("2026-01-01"), Raw("0x1F")]),
    st.lists(st.one_of(st.integers(-5, 50), st.floats(), st.text(max_size=4)), max_size=6),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(["2026-01", "2027-07", "id", "from"])),
                    st.one_of(st.integers(-3, 30), st.text(max_size=4)), max_size=3),
)


def outcome_ok(m: Mutant, workdir: Path) -> None:
    outcome = judge(m, materialise(m, workdir))
    if outcome is None:
        return
    bug = known_bug(outcome)
    if bug is None:
        raise AssertionError(f"{m.label()}: {outcome}\n--- input ---\n{m.content()[:2000]!r}")
    event(bug)  # shown by --hypothesis-show-statistics


@FUZZ_SETTINGS
@given(data=st.data())
def test_random_structural_mutations(data, workdir):
    """1-3 random deletions, replacements and key renames of random fields: valid or a located error."""
    seed = data.draw(st.sampled_from(RANDOM_SEEDS), label="seed")
    doc = copy.deepcopy(seed_docs()[seed])
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        paths = [p for p, _ in walk(doc)]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["delete", "replace", "replace", "rename"]), label="action")
        if action == "delete":
            doc = deleted(doc, path)
        elif action == "rename" and isinstance(path[-1], str):
            new_key = data.draw(st.one_of(st.text(min_size=1, max_size=10), st.sampled_from(["from", "id", "2026-01"])))
            if new_key not in at(doc, path[:-1]):
                doc = renamed(doc, path, new_key)
        else:
            doc = replaced(doc, path, data.draw(VALUES, label="value"))
    outcome_ok(Mutant(seed, "random-structural", (), lambda: doc, expect="either"), workdir)


YAML_CHARS = " :-[]{},#&*!|>'\"%@`?\t\n.0123456789abcdefxyz_"


@FUZZ_SETTINGS
@given(data=st.data())
def test_random_text_edits(data, workdir):
    """1-4 random character insertions, deletions and replacements in a seed's text."""
    seed = data.draw(st.sampled_from(RANDOM_SEEDS), label="seed")
    text = seed_texts()[seed]
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        i = data.draw(st.integers(0, len(text)), label="at")
        n = data.draw(st.integers(0, 3), label="delete")
        insert = data.draw(st.text(alphabet=YAML_CHARS, max_size=4), label="insert")
        text = text[:i] + insert + text[i + n:]
    outcome_ok(Mutant(seed, "random-text", (), raw=text.encode("utf-8"), expect="either"), workdir)


@FUZZ_SETTINGS
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_random_bytes(blob, workdir):
    """Arbitrary bytes and text are never a valid scenario: always a clean, located error."""
    outcome_ok(Mutant("(random)", "random-bytes", (), raw=blob, expect="error"), workdir)


# --- the real command line ------------------------------------------------------------------------

#: (seed, kind prefix): the first mutant of that kind expected to fail goes through the CLI. `baseline.yaml`
#: stands for the first shipped scenario if it is ever renamed.
CLI_SAMPLE = [
    ("full.yaml", "str-for-number"), ("full.yaml", "bool-for-number"), ("full.yaml", "list-for-mapping"),
    ("full.yaml", "mapping-for-list"), ("full.yaml", "delete-required"), ("full.yaml", "typo-doubled"),
    ("full.yaml", "bad-month 2026-13"), ("full.yaml", "bad-month 26-01"), ("full.yaml", "bad-month 2026-1-1"),
    ("full.yaml", "until-before-from"), ("full.yaml", "negative"), ("full.yaml", "nan"), ("full.yaml", "inf"),
    ("full.yaml", "1e400"), ("full.yaml", "duplicate-id"), ("full.yaml", "dangling-ref"),
    ("full.yaml", "dangling-output"), ("full.yaml", "series-length"), ("full.yaml", "bad-series-key"),
    ("full.yaml", "probability-sum"),
    ("baseline.yaml", "tab-indent"), ("baseline.yaml", "unclosed-bracket"), ("baseline.yaml", "duplicate-key"),
    ("baseline.yaml", "null"),
    ("(inline)", "empty file"), ("(inline)", "whitespace only"), ("(inline)", "utf-16 with BOM"),
    ("(inline)", "random bytes with NULs"), ("(inline)", "directory"), ("(inline)", "top-level list"),
    ("(inline)", "top-level scalar"), ("(inline)", "bad indentation"),
]


def cli_mutants() -> list[Mutant]:
    shipped = "baseline.yaml" if "baseline.yaml" in seed_texts() else SEED_NAMES[0]
    pool = [*whole_file_mutants()]
    for seed in ("full.yaml", shipped):
        pool += [*structural_mutants(seed), *text_mutants(seed, seed_texts()[seed])]
    out = []
    for seed, kind in CLI_SAMPLE:
        seed = shipped if seed == "baseline.yaml" else seed
        found = next((m for m in pool if m.seed == seed and m.kind.startswith(kind) and m.expect == "error"
                      and not (m.kind == "delete-required" and len(m.path) == 1)),  # no line there (BUG-9)
                     None)
        if found is not None:
            out.append(found)
    return out


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


def test_cli_sample(tmp_path):
    """30-odd mutants through `python -m optimizer validate FILE` or `python -m optimizer FILE --out DIR`
    (alternately): exit 1, no traceback, the file name and a line (unless the problem is the whole file),
    and no output folder."""
    mutants = cli_mutants()
    assert len(mutants) >= 30, [m.label() for m in mutants]

    def one(n_m: tuple[int, Mutant]) -> str | None:
        n, m = n_m
        case = tmp_path / f"case{n}"
        case.mkdir()
        path = materialise(m, case)
        if m.kind != "directory":
            path = path.rename(case / f"mutant-{n}.yaml")
        out = case / "out"
        command = "validate" if n % 2 == 0 else "run"
        args = ("validate", str(path)) if command == "validate" else (str(path), "--out", str(out))
        proc = run_cli(*args, cwd=case)
        whole = m.seed == "(inline)" and not m.positioned  # a problem with the whole file has no line
        wrong = []
        if proc.returncode != 1:
            wrong.append(f"exit {proc.returncode}")
        if "Traceback" in proc.stderr or "internal error" in proc.stderr:
            wrong.append("traceback / internal error")
        if str(path) not in proc.stderr:
            wrong.append("file name missing")
        if not whole and not re.search(re.escape(str(path)) + r":\d+:\d+: ", proc.stderr):
            wrong.append("no file:line:col")
        if out.exists():
            wrong.append("output folder created")
        if wrong:
            return f"{m.label()} [{command}]: {', '.join(wrong)}\n    stderr: {proc.stderr[:300]!r}"
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, enumerate(mutants)))
    failures = [r for r in results if r]
    summary = report("CLI subprocess sample", len(mutants), failures, Counter())
    assert not failures, summary


# --- bugs this suite found in optimizer/, fixed: their minimal reproducers stay as regression tests ---

GOOD = """\
name: ok
horizon: {start: 2026-01, periods: 4, period: quarter}
materials:
  - id: dy
    demand: 10
    shortfall_penalty: 1000
sources:
  - {id: cn, material: dy, region: china, country: CN, price: 10}
"""


def problems_in(text: str, workdir: Path) -> ScenarioError:
    path = workdir / "repro.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


# Was BUG-1 (fixed): kept as a regression test.
@pytest.mark.parametrize("value", ["1" + "0" * 400, "[1, 1, 1, 1" + "0" * 400 + "]", "{2026-01: 1" + "0" * 400 + "}"])
def test_bug_huge_integer_in_series(value, workdir):
    err = problems_in(GOOD.replace("demand: 10", f"demand: {value}"), workdir)
    assert any(p.path[:3] == ("materials", 0, "demand") and p.position for p in err.problems)


# Was BUG-2 (fixed): kept as a regression test.
def test_bug_deep_nesting(workdir):
    err = problems_in(GOOD + "description: " + "[" * 300 + "]" * 300 + "\n", workdir)
    assert err.problems and err.problems[0].position


# Was BUG-3 (fixed): kept as a regression test.
@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\ufffe"])
def test_bug_control_character_has_no_position(char, workdir):
    err = problems_in(GOOD + f"description: a{char}b\n", workdir)
    assert err.problems[0].position is not None and err.problems[0].position[0] == 9, err.render()


# Was BUG-4 (fixed): kept as a regression test.
def test_bug_anchored_bool_accepted_as_number(workdir):
    err = problems_in(GOOD.replace("demand: 10", "demand: &t true"), workdir)
    assert "expected a number" in err.render()


# Was BUG-4 (fixed): kept as a regression test.
def test_bug_anchored_bool_rejected_as_bool(workdir):
    path = workdir / "repro.yaml"
    path.write_text(GOOD.replace("shortfall_penalty: 1000", "shortfall_penalty: 1000\n    stockpile: "
                                 "{target: 1, hard_target: &t true}"), encoding="utf-8")
    assert load_scenario(path).materials[0].stockpile.hard_target is True


# Was BUG-5 (fixed): kept as a regression test.
def test_bug_stringified_duplicate_keys_merge_silently(workdir):
    text = """\
name: ok
horizon: {start: 2026-01, periods: 2}
materials: [{id: '1'}, {id: ore}]
sources: [{id: s, material: ore, region: china, country: CN, price: 1}]
processors: [{id: p, region: domestic, country: US, input: ore, outputs: {1: 0.5, '1': 0.3}}]
"""
    problems_in(text, workdir)


# Was BUG-6 (fixed): kept as a regression test.
@pytest.mark.parametrize("field", ["lead_time: 100000000000000000000",
                                   "expansion: {max: 5, capex: 1, lead_time: 100000000000000000000}"])
def test_bug_huge_lead_time_crashes_the_run(field, workdir):
    from optimizer.errors import OptimizerError
    from optimizer.pipeline import solve

    path = workdir / "repro.yaml"
    path.write_text(GOOD.replace("price: 10}", f"price: 10, {field}}}"), encoding="utf-8")
    try:  # the CLI turns anything but an OptimizerError into 'internal error', exit 4
        solve(load_scenario(path))
    except OptimizerError:
        pass


# Was BUG-7 (fixed): kept as a regression test.
@pytest.mark.parametrize("old, new", [("start: 2026-01", "start: 2026-02-30"), ("start: 2026-01", "start: 2026-13-01"),
                                      ("price: 10", "price: !!int abc"), ("price: 10", "price: !!float ten"),
                                      ("price: 10", "price: !!bool maybe"), ("price: 10", "price: !!int ''")])
def test_bug_unconstructible_scalar(old, new, workdir):
    err = problems_in(GOOD.replace(old, new), workdir)
    assert err.problems[0].position is not None, err.render()


# Was BUG-8 (fixed): kept as a regression test.
def test_bug_union_tags_in_problem_paths(workdir):
    err = problems_in(GOOD + "policies: [{type: ban, where: {region: 5, country: 5}}]\n", workdir)
    paths = [format_path(p.path) for p in err.problems]
    assert sorted(paths) == ["policies[0].where.country", "policies[0].where.region"], paths


# Was BUG-9 (fixed): kept as a regression test.
def test_bug_missing_top_level_field_has_no_line(workdir):
    err = problems_in(GOOD.replace("name: ok\n", ""), workdir)
    assert [p.position is not None for p in err.problems] == [True], err.render()
