"""Scenario workbooks both ways: the layout covers the schema, round trips keep the validated
scenario (`scenario_sha256`), bad workbooks fail with sheet!cell, written bytes are deterministic."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Literal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings

from conftest import ROOT, scenario
from optimizer import spec
from optimizer.checks import validate
from optimizer.convert import convert_file, scenario_yaml
from optimizer.errors import ScenarioError, UsageError
from optimizer.excel import GENERAL, SERIES, Layout, layout_of, read_workbook, workbook_bytes
from optimizer.fields import document, fields_of, whole_numbers
from optimizer.loader import parse_yaml_text, read_scenario
from optimizer.results import scenario_sha256
from optimizer.spec import Month, NonNeg, Share, Strict
from strategies import scenario_dicts

SHIPPED = sorted(
    [*(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "benchmarks" / "scenarios").glob("*.yaml"),
     *(p for p in (ROOT / "docs" / "tutorial").glob("*.yaml") if "broken" not in p.name),
     ROOT / "docs" / "scenario-template.yaml"],
    key=lambda p: str(p.relative_to(ROOT)))
TEMPLATE = ROOT / "docs" / "scenario-template.xlsx"
TEMPLATE_HINT = ".venv/bin/optimize convert docs/scenario-template.yaml --out docs/scenario-template.xlsx --force"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def through_workbook(sc: spec.Scenario, path: Path) -> spec.Scenario:
    """scenario -> workbook file -> validated scenario."""
    return validate(*read_workbook(write(path, workbook_bytes(document(sc)))))


def through_yaml(sc: spec.Scenario) -> spec.Scenario:
    return validate(*parse_yaml_text(scenario_yaml(document(sc)), "back.yaml"))


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate(*read_scenario(path))
    return [p.render(path.name) for p in info.value.problems]


def edited(tmp_path: Path, raw: dict, edit, name: str = "bad.xlsx") -> Path:
    """A workbook of `raw` with `edit(workbook)` applied, as a planner would change it in Excel."""
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(raw)))
    edit(wb)
    wb.save(tmp_path / name)
    return tmp_path / name


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real entry point, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120"})


def invoke(*args: str):
    """A command that does not solve, in this process (faster; exit codes as from the command line)."""
    from typer.testing import CliRunner

    from optimizer.cli import app

    return CliRunner().invoke(app, list(args))


# --- round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_scenarios_round_trip(path, tmp_path):
    """YAML -> xlsx -> validated scenario and xlsx -> YAML -> validated scenario keep scenario_sha256."""
    original = validate(*read_scenario(path))
    from_workbook = through_workbook(original, tmp_path / "s.xlsx")
    assert scenario_sha256(from_workbook) == scenario_sha256(original)
    assert scenario_sha256(through_yaml(from_workbook)) == scenario_sha256(original)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=scenario_dicts())
def test_random_scenarios_round_trip(raw, tmp_path_factory):
    """Every form of SERIES, filters of one value or a list (of one), optional sections, scenarios:
    the workbook and the YAML written back validate to the same scenario."""
    original = validate(raw)
    from_workbook = through_workbook(original, tmp_path_factory.mktemp("wb") / "s.xlsx")
    assert scenario_sha256(from_workbook) == scenario_sha256(original)
    assert scenario_sha256(through_yaml(original)) == scenario_sha256(original)


def test_numbers_that_need_17_digits_survive(tmp_path):
    """openpyxl writes 16 significant digits; 0.1 + 0.2 and 1/3-style probabilities come back exact."""
    raw = scenario(scenarios=[{"name": "a", "probability": 0.1 + 0.2}, {"name": "b", "probability": 1 - (0.1 + 0.2)}],
                   materials=[{"id": "dy", "demand": [0.1 + 0.2, 1 / 3, 2 / 3], "shortfall_penalty": 1000}])
    original = validate(raw)
    assert scenario_sha256(through_workbook(original, tmp_path / "s.xlsx")) == scenario_sha256(original)


def test_workbook_bytes_are_deterministic(tmp_path):
    """Same scenario, same bytes: document dates and zip entry times are pinned."""
    sc = validate(*read_scenario(ROOT / "scenarios" / "china-embargo.yaml"))
    first = workbook_bytes(document(sc))
    assert workbook_bytes(document(sc)) == first
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2000-01-01T00:00:00Z" in z.read("docProps/core.xml")
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    for out in (a, b):
        assert invoke("convert", str(ROOT / "scenarios" / "china-embargo.yaml"), "--out", str(out)).exit_code == 0
    assert a.read_bytes() == b.read_bytes() == first


def unzipped(data: bytes) -> dict[str, bytes]:
    """The files inside an .xlsx (compressed bytes may differ with the zlib build; these do not)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_template_is_in_step_with_the_schema_and_its_yaml():
    """docs/scenario-template.xlsx is docs/scenario-template.yaml converted with the current layout."""
    expected = workbook_bytes(document(validate(*read_scenario(ROOT / "docs" / "scenario-template.yaml"))))
    assert unzipped(TEMPLATE.read_bytes()) == unzipped(expected), \
        f"the template is out of date; rewrite it with\n    {TEMPLATE_HINT}"


def test_workbook_is_readable():
    """Frozen headers, widths, a README explaining every column, choices offered as drop-downs."""
    wb = openpyxl.load_workbook(TEMPLATE)
    assert wb.sheetnames == ["README", "general", "materials", "sources", "processors", "rules", "budgets",
                             "limits", "scenarios", "disruptions", "series"]
    readme = "\n".join(str(row[0]) for row in wb["README"].iter_rows(values_only=True) if row[0])
    for column in ("materials / stockpile.target", "sources / expansion.capex", "rules / scenario",
                   "processors / outputs.<key>", "rules / where.region"):
        assert column in readme
    sources = wb["sources"]
    assert sources.freeze_panes == "B2" and sources["A1"].font.b
    assert sources.column_dimensions["A"].width >= len("ccz-nodules")
    assert any("domestic,allied" in (dv.formula1 or "") for dv in sources.data_validations.dataValidation)
    assert [c.value for c in wb["series"][1][:5]] == ["sheet", "id", "field", "form", "2026-01"]


def test_template_shows_each_form_of_each_field_kind():
    """The template holds a list series, a step series, a filter list of one, a TRUE section column."""
    wb = openpyxl.load_workbook(TEMPLATE)
    series = {(r[0], r[1], r[2]): r[3] for r in wb["series"].iter_rows(min_row=2, values_only=True)}
    assert series[("materials", "dysprosium", "demand")] == "list"
    assert series[("materials", "dysprosium", "stockpile.target")] == "steps"
    rows = list(wb["rules"].iter_rows(values_only=True))
    assert "[dysprosium]" in rows[2]
    materials = list(wb["materials"].iter_rows(values_only=True))
    assert materials[2][materials[0].index("stockpile")] is True


# --- the layout covers the schema ----------------------------------------------------------------


def schema_leaves(schema: dict, node: dict | None = None, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every field of a JSON Schema that holds values (not sections), by path; `*` for list items.
    A union of sections (anyOf of objects) contributes the fields of each."""
    node = schema if node is None else node
    resolve = lambda n: schema["$defs"][n["$ref"].split("/")[-1]] if "$ref" in n else n  # noqa: E731
    node = resolve(node)
    leaves: dict[tuple, dict] = {}
    for alt in (resolve(a) for a in node.get("anyOf", [node]) if a.get("type") != "null"):
        items = resolve(alt.get("items", {}))
        for section, prefix in ((alt, path), (items, (*path, "*"))):
            for key, sub in section.get("properties", {}).items():
                leaves.update(schema_leaves(schema, sub, (*prefix, key)))
    return list(leaves.items()) or [(path, node)]


def place_of(layout: Layout, path: tuple) -> str | None:
    """`sheet!column` (or `general!field`) where a schema field is written, or None."""
    for loc in sorted(layout.locations, key=lambda loc: -len(loc.path)):
        if path[:len(loc.path) + 1] == (*loc.path, "*"):
            rest = ".".join(path[len(loc.path) + 1:])
            sheet = layout.sheet(loc.sheet)
            return next((f"{sheet.name}!{c.header}" for c in sheet.columns if c.header == rest), None)
    return next((f"{GENERAL}!{c.header}" for c in layout.general if c.header == ".".join(path)), None)


def test_every_schema_field_has_a_place_in_the_workbook():
    """Walk the JSON Schema (not the layout's own walk): each field has a sheet and a column. A field
    added to spec.py that the layout cannot hold fails here (or raises LayoutError in layout_of)."""
    schema = spec.Scenario.model_json_schema(by_alias=True)
    leaves = schema_leaves(schema)
    assert len(leaves) > 60
    missing = [".".join(path) for path, _ in leaves if place_of(layout_of(), path) is None]
    assert missing == []


def example_document(schema: dict, variant: int, counter: itertools.count, node: dict | None = None) -> Any:
    """A document with a value in every field of the JSON Schema (not necessarily a valid scenario):
    alternative `variant` of each choice (a constant, list or mapping SERIES; one text or a list)."""
    node = schema if node is None else node
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    if "anyOf" in node:
        alternatives = [a for a in node["anyOf"] if a.get("type") != "null"]
        return example_document(schema, variant, counter, alternatives[variant % len(alternatives)])
    kind = node.get("type")
    n = next(counter)
    if "enum" in node:
        return node["enum"][n % len(node["enum"])]
    if kind == "object" and "properties" in node:
        return {key: example_document(schema, variant, counter, sub) for key, sub in node["properties"].items()}
    if kind == "object":
        if "patternProperties" in node:
            return {"2026-01": n + 0.5, "2026-08": n + 1.5}  # a step off the period starts, too
        values = node.get("additionalProperties") or {"type": "number"}
        return {f"k{n}": example_document(schema, variant, counter, values), "k0": example_document(
            schema, variant, counter, values)}
    if kind == "array":
        size = 1 + (variant + n) % 3
        return [example_document(schema, variant, counter, node.get("items", {})) for _ in range(size)]
    if kind == "string":
        return "2026-01" if "\\d{4}" in node.get("pattern", "") else f"v{n}"
    if kind == "integer":
        return 4 if node.get("minimum", 0) >= 1 else n
    if kind == "boolean":
        return n % 2 == 0
    return n + 0.25


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_every_schema_field_round_trips_through_a_workbook(variant, tmp_path):
    """A document with every field of the schema filled (each alternative of each choice in one of the
    variants) comes back from the workbook as the same dict."""
    doc = example_document(spec.Scenario.model_json_schema(by_alias=True), variant, itertools.count(1))
    back, _ = read_workbook(write(tmp_path / "all.xlsx", workbook_bytes(doc)))
    assert back == doc


def test_a_field_with_no_place_is_refused():
    """A list of sections whose items have no id or name cannot be referred to by the rows inside them."""
    from optimizer.excel import LayoutError

    class Leaf(Strict):
        x: float = 0.0

    class Item(Strict):
        leaves: list[Leaf] = []

    class Root(Strict):
        items: list[Item] = []

    with pytest.raises(LayoutError, match="no id or name"):
        layout_of(Root)


# --- version 2 of the schema (SPEC sections 2 and 8), as another engineer may write it ------------


class Stockpile2(spec.Stockpile):
    end_value: NonNeg = 0.0


class Material2(spec.Material):
    stockpile: Stockpile2 | None = None


class Expansion2(spec.Expansion):
    unit: NonNeg = 0.0


class Source2(spec.Source):
    min_order: NonNeg = 0.0
    fixed_cost: NonNeg = 0.0
    expansion: Expansion2 | None = None


class Processor2(spec.Processor):
    expansion: Expansion2 | None = None


class Rule2(spec.Rule):
    type: Literal["tariff", "ban", "capacity", "price", "demand", "release"]
    on: Literal["order", "arrival"] | None = None


class Effect(Strict):
    type: Literal["tariff", "ban", "capacity", "price", "demand", "release"]
    name: str | None = None
    where: spec.Filter = spec.Filter()
    rate: NonNeg | None = None
    multiplier: NonNeg | None = None
    on: Literal["order", "arrival"] | None = None


class Event(Strict):
    name: spec.Id
    annual_probability: Share
    duration: int | dict[str, Share] = 1
    earliest: Month | None = None
    repeat: bool = False
    effects: list[Effect]


class Disruptions(Strict):
    stage: Literal["year", "quarter"] = "year"
    max_scenarios: int = 64
    seed: int = 0
    events: list[Event]


class Case2(spec.Case):
    events: list[Rule2] = []


class Scenario2(spec.Scenario):
    materials: list[Material2]
    sources: list[Source2] = []
    processors: list[Processor2] = []
    policies: list[Rule2] = []
    scenarios: list[Case2] | None = None
    disruptions: Disruptions | None = None


SPEC_V2_EXAMPLE = """\
name: ree-embargo-2027
home_country: US
horizon: {start: 2026-01, periods: 20, period: quarter, discount_rate: 0.03}
materials:
  - id: dysprosium
    unit: t
    demand: 12
    shortfall_penalty: 5.0e6
    stockpile: {initial: 5, capacity: 200, holding_cost: 2000, target: 50, target_penalty: 1.0e5, end_value: 0}
  - id: nodules
sources:
  - {id: cn-dy, material: dysprosium, region: china, country: CN, price: 350000, capacity: 30, lead_time: 1,
     min_order: 5, fixed_cost: 20000, expansion: {max: 100, capex: 1.0e6, lead_time: 4, unit: 10}}
policies:
  - {type: ban, name: cn-ree-ban, where: {region: china, material: dysprosium}, from: 2027-01, on: arrival}
scenarios:
  - {name: base, probability: 0.7}
  - name: embargo-2027
    probability: 0.3
    events:
      - {type: release, where: {material: dysprosium}, from: 2027-01}
disruptions:
  stage: year
  max_scenarios: 64
  seed: 7
  events:
    - name: cn-hree-ban
      annual_probability: 0.15
      duration: {1: 0.5, 2: 0.3, 3: 0.2}
      earliest: 2027-01
      repeat: false
      effects:
        - {type: ban, where: {region: china, material: [dysprosium, terbium]}, on: arrival}
        - {type: release, where: {material: [dysprosium, terbium]}}
    - {name: cu-quota, annual_probability: 0.05, duration: 2, effects: [{type: price, multiplier: 2.0}]}
"""


def test_version_2_fields_have_a_place_and_round_trip(tmp_path):
    """The v2 fields (release, on, end_value, min_order, fixed_cost, expansion.unit, disruptions with
    events, a duration that is a number or a mapping, effects) fit the layout with no code for them."""
    layout = layout_of(Scenario2)
    places = {place_of(layout, path) for path, _ in schema_leaves(Scenario2.model_json_schema(by_alias=True))}
    assert None not in places
    assert {"rules!on", "materials!stockpile.end_value", "sources!min_order", "sources!expansion.unit",
            "general!disruptions.seed", "disruptions!duration", "disruptions!earliest"} <= places
    assert [s.name for s in layout.sheets] == ["materials", "sources", "processors", "rules", "budgets", "limits",
                                               "scenarios", "disruptions"]
    assert layout.sheet("rules").parents == ("scenario", "disruption")
    doc, _ = parse_yaml_text(SPEC_V2_EXAMPLE)
    back, _ = read_workbook(write(tmp_path / "v2.xlsx", workbook_bytes(doc, layout)), layout)
    assert back == whole_numbers(doc)
    wb = openpyxl.load_workbook(tmp_path / "v2.xlsx")
    header = [c.value for c in wb["disruptions"][1]]
    assert header[:5] == ["name", "annual_probability", "duration", "duration.1", "duration.2"]
    rules = [[c.value for c in row][:3] for row in wb["rules"].iter_rows()]
    assert rules[0] == ["scenario", "disruption", "type"]
    assert [None, "cn-hree-ban", "release"] in rules and ["embargo-2027", None, "release"] in rules
    wb["rules"]["A2"] = "embargo-2027"  # the policy row names a scenario and a disruption now
    wb["rules"]["B2"] = "cn-hree-ban"
    wb.save(tmp_path / "both.xlsx")
    with pytest.raises(ScenarioError) as info:
        read_workbook(tmp_path / "both.xlsx", layout)
    assert [p.render("both.xlsx") for p in info.value.problems] == [
        "both.xlsx:rules!A2: a row of rules fills none or `scenario` or `disruption` of the columns naming the "
        "item it belongs to, not `scenario` and `disruption`"]


# --- bad workbooks ---------------------------------------------------------------------------------


def cell_of(wb, sheet: str, header: str, row: int):
    """The cell of `header`'s column in data row `row` (1 = first under the header)."""
    headers = [c.value for c in wb[sheet][1]]
    return wb[sheet].cell(row=row + 1, column=headers.index(header) + 1)


TWO_SOURCES = scenario(
    sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 10},
             {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": [5, 6, 7]}],
    policies=[{"type": "tariff", "rate": 0.5, "where": {"country": "CN"}}],
)


def test_bad_cells_are_named_by_sheet_and_cell_all_at_once(tmp_path):
    """A negative price, a region that is not one, a bad month and a bad series value: four problems,
    each with its sheet!cell and field path, reported together."""
    def edit(wb):
        cell_of(wb, "sources", "price", 1).value = -5
        cell_of(wb, "sources", "region", 2).value = "chna"
        cell_of(wb, "rules", "from", 1).value = "2026-13"
        wb["series"]["F2"] = "lots"
    path = edited(tmp_path, TWO_SOURCES, edit)
    msgs = problems(path)
    assert len(msgs) == 4, msgs
    assert "bad.xlsx:sources!F2: sources[0].price: must be >= 0, got -5.0" in msgs
    assert any(m.startswith("bad.xlsx:sources!C3: sources[1].region:") and "did you mean `china`" in m
               for m in msgs)
    assert any(m.startswith("bad.xlsx:rules!M2: policies[0].from:") and "YYYY-MM" in m for m in msgs)
    assert any(m.startswith("bad.xlsx:series!F2: sources[1].price: item 1:") for m in msgs)


def test_cross_field_problems_point_at_cells(tmp_path):
    """Checks after the schema (unknown material, series length, duplicate id) name cells too."""
    def edit(wb):
        cell_of(wb, "sources", "material", 1).value = "dyy"
        cell_of(wb, "sources", "id", 1).value = "dy"  # materials and sources share one namespace
        wb["series"]["G2"] = None  # the list loses its last value
    msgs = problems(edited(tmp_path, TWO_SOURCES, edit))
    assert "bad.xlsx:sources!B2: sources[0].material: unknown material `dyy`; did you mean `dy`?" in msgs
    assert any(m.startswith("bad.xlsx:sources!A2: sources[0].id: duplicate id `dy`") for m in msgs)
    assert any(m.startswith("bad.xlsx:series!C2: sources[1].price: a series list needs exactly 3 values")
               for m in msgs)


def test_cli_reports_bad_workbook_without_traceback(tmp_path):
    """`optimize validate` and `optimize` on a bad workbook: exit 1, every problem, no traceback, no results."""
    def edit(wb):
        cell_of(wb, "sources", "price", 1).value = -5
        cell_of(wb, "sources", "country", 2).value = "China"
    path = edited(tmp_path, TWO_SOURCES, edit)
    proc = run_cli(str(path), cwd=tmp_path)
    checked = invoke("validate", str(path))
    for code, stderr in ((proc.returncode, proc.stderr), (checked.exit_code, checked.stderr)):
        assert code == 1, stderr
        assert "Traceback" not in stderr and "2 problems in" in stderr
        assert "bad.xlsx:sources!F2:" in stderr and "bad.xlsx:sources!D3:" in stderr
    assert not (tmp_path / "results").exists()


def test_unknown_columns_and_sheets_suggest_the_right_name(tmp_path):
    """A typo in a column, a mapping column and a sheet: did-you-mean, with the header cell."""
    raw = scenario(materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000}, {"id": "ore"}],
                   processors=[{"id": "p", "region": "domestic", "country": "US", "input": "ore",
                                "outputs": {"dy": 0.1}}])

    def edit(wb):
        cell_of(wb, "sources", "price", 0).value = "pirce"
        cell_of(wb, "processors", "outputs.dy", 0).value = "output.dy"
        wb.create_sheet("budget")["A1"] = "name"
        wb.create_sheet("#scratch")["A1"] = "anything goes here"
        cell_of(wb, "materials", "unit", 0).value = "# my notes"
    msgs = problems(edited(tmp_path, raw, edit))
    assert "bad.xlsx:sources!F1: unknown column `pirce`; did you mean `price`?" in msgs
    assert "bad.xlsx:processors!F1: unknown column `output.dy`; did you mean `outputs.dy`?" in msgs
    assert any(m.startswith("bad.xlsx:budget!A1: unknown sheet `budget`; did you mean `budgets`?") for m in msgs)
    assert len(msgs) == 3, msgs  # the `#` sheet and the `#` column are notes


def test_empty_workbook_says_what_a_scenario_workbook_holds(tmp_path):
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "empty.xlsx")
    (msg,) = problems(tmp_path / "empty.xlsx")
    assert "has none of the sheets of a scenario (general, materials" in msg
    assert "docs/scenario-template.xlsx" in msg


def test_workbook_with_empty_sheets_lists_the_missing_fields(tmp_path):
    """The scenario sheets, all blank: the required fields are missing, at the general sheet."""
    wb = openpyxl.Workbook()
    wb.active.title = GENERAL
    wb.create_sheet("materials")
    wb.save(tmp_path / "blank.xlsx")
    msgs = problems(tmp_path / "blank.xlsx")
    assert "blank.xlsx:general!A1: name: required field is missing" in msgs
    assert any(m.startswith("blank.xlsx:") and "materials: required field is missing" in m for m in msgs)


@pytest.mark.parametrize("content", [b"name: x\nhorizon: {start: 2026-01}\n", b"PK\x03\x04not really a zip",
                                     b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)])
def test_a_file_that_is_not_a_workbook_is_a_clear_error(content, tmp_path):
    """YAML saved as .xlsx, a broken zip, an old binary .xls renamed: one message, exit 1 in the CLI."""
    path = write(tmp_path / "s.xlsx", content)
    (msg,) = problems(path)
    assert msg.startswith("s.xlsx: (top level): not an Excel workbook (.xlsx): ") and "save it from Excel" in msg
    proc = invoke("validate", str(path))
    assert proc.exit_code == 1 and "not an Excel workbook" in proc.stderr


def test_zip_that_is_not_a_workbook(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.xlsx", "w") as z:
        z.writestr("hello.txt", "hi")
    (msg,) = problems(tmp_path / "s.xlsx")
    assert "not an Excel workbook" in msg


def test_missing_file(tmp_path):
    (msg,) = problems(tmp_path / "nope.xlsx")
    assert "file not found" in msg


# --- what Excel does to typed values ---------------------------------------------------------------


def test_values_as_excel_stores_them(tmp_path):
    """A month typed into Excel becomes a date; a whole number may come back as 4.0; a formula keeps
    the value Excel saved with it; a month typed as a header of the series sheet is a date as well."""
    raw = scenario(materials=[{"id": "dy", "demand": {"2026-02": 4}, "shortfall_penalty": 1000}])

    def edit(wb):
        general = {row[0].value: row[1] for row in wb[GENERAL].iter_rows(min_row=2)}
        general["horizon.start"].value = dt.datetime(2026, 1, 1)
        general["horizon.periods"].value = 3.0
        wb["series"]["F1"] = dt.datetime(2026, 2, 1)
    sc = validate(*read_workbook(edited(tmp_path, raw, edit)))
    assert sc.horizon.start == "2026-01" and sc.horizon.periods == 3
    assert sc.materials[0].demand == {"2026-02": 4.0}


def test_formula_cells(tmp_path):
    """A formula with a saved value reads as that value; one never computed (no saved value) is an error."""
    def edit(wb):
        cell_of(wb, "sources", "price", 1).value = "=2*5"
    path = edited(tmp_path, scenario(), edit)
    (msg,) = problems(path)
    assert msg.startswith("bad.xlsx:sources!F2: a formula with no saved result"), msg
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "saved.xlsx", "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet4.xml":  # as Excel saves it: the result beside the formula
                data = data.replace(b"<f>2*5</f><v />", b"<f>2*5</f><v>10</v>")
            dst.writestr(info, data)
    assert validate(*read_workbook(tmp_path / "saved.xlsx")).sources[0].price == 10.0


def test_excel_error_cell(tmp_path):
    def edit(wb):
        cell_of(wb, "sources", "price", 1).value = "#DIV/0!"
        cell_of(wb, "sources", "price", 1).data_type = "e"
    (msg,) = problems(edited(tmp_path, scenario(), edit))
    assert "sources!F2" in msg and "the Excel error #DIV/0!" in msg


# --- series ------------------------------------------------------------------------------------------


def test_series_forms_and_mistakes(tmp_path):
    """A row without `form` is a list when it fills every period, else steps; a gap in a list, a
    `series` cell with no row, a value given twice and an unknown id are each named at their cell."""
    raw = scenario(materials=[{"id": "dy", "demand": [1, 2, 3], "arrivals": {"2026-02": 1},
                               "shortfall_penalty": 1000}])
    def blank_forms(wb):
        wb["series"]["D2"] = None
        wb["series"]["D3"] = None
    sc = validate(*read_workbook(edited(tmp_path, raw, blank_forms, "forms.xlsx")))
    assert sc.materials[0].demand == (1.0, 2.0, 3.0) and sc.materials[0].arrivals == {"2026-02": 1.0}

    def mistakes(wb):
        wb["series"]["F2"] = None  # a gap in the list: 2026-02 of 2026-01, 2026-02, 2026-03
        wb["series"]["B3"] = "dyy"
        cell_of(wb, "sources", "price", 1).value = SERIES
        wb["series"].append(["sources", "us", "price", "steps", 4])
        wb["series"].append(["sources", "us", "freight", "steps", 4])
        cell_of(wb, "sources", "freight", 1).value = 3
    msgs = problems(edited(tmp_path, raw, mistakes))
    assert len(msgs) == 4, msgs
    assert any(m.startswith("bad.xlsx:series!G2:") and "belongs under 2026-02, not 2026-03" in m for m in msgs), msgs
    assert any(m.startswith("bad.xlsx:series!B3:") and "unknown materials row `dyy`; did you mean `dy`?" in m
               for m in msgs), msgs
    assert any(m.startswith("bad.xlsx:series!C5:") and "also given in sources!G2" in m for m in msgs), msgs
    assert any(m.startswith("bad.xlsx:materials!G2:") and "has no row for materials `dy` arrivals" in m
               for m in msgs), msgs  # the row that named `dyy`


# --- convert ---------------------------------------------------------------------------------------


def test_convert_both_ways_with_the_cli(tmp_path):
    """convert picks the other format by default; refuses to overwrite an existing file without
    --force; the YAML it writes says comments were not kept; `optimize s.xlsx` solves to the same
    result folder as `optimize s.yaml`."""
    from optimizer import load_scenario, solve
    from optimizer.export import json_bytes

    source = write(tmp_path / "s.yaml", (ROOT / "docs" / "tutorial" / "dysprosium-embargo.yaml").read_bytes())
    proc = invoke("convert", str(source))
    assert proc.exit_code == 0 and (tmp_path / "s.xlsx").exists(), proc.output
    proc = invoke("convert", str(tmp_path / "s.xlsx"))
    assert proc.exit_code == 1 and "s.yaml exists: pass --force" in proc.stderr
    proc = invoke("convert", str(tmp_path / "s.xlsx"), "--out", str(tmp_path / "back.yml"))
    assert proc.exit_code == 0, proc.output
    text = (tmp_path / "back.yml").read_text()
    assert text.startswith("# back.yml: scenario `dysprosium-embargo` written by `optimize convert` from s.xlsx")
    assert "not carried over" in text
    original, back = validate(*read_scenario(source)), validate(*read_scenario(tmp_path / "back.yml"))
    assert scenario_sha256(back) == scenario_sha256(original)
    proc = run_cli(str(tmp_path / "s.xlsx"), "--out", str(tmp_path / "res"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "res" / "summary.json").read_bytes() == json_bytes(solve(load_scenario(source)).summary)


def test_convert_refuses_bad_arguments_and_writes_nothing(tmp_path):
    source = write(tmp_path / "s.yaml", (ROOT / "docs" / "tutorial" / "dysprosium.yaml").read_bytes())
    with pytest.raises(UsageError, match="use yaml or xlsx"):
        convert_file(source, to="csv")
    with pytest.raises(UsageError, match="the file being converted"):
        convert_file(source, to="yaml")
    with pytest.raises(UsageError, match="ends in .xlsx"):
        convert_file(source, to="xlsx", out=tmp_path / "s.xls")
    with pytest.raises(UsageError, match="cannot tell the format"):
        convert_file(source, out=tmp_path / "s.txt")
    broken = write(tmp_path / "b.yaml", (ROOT / "docs" / "tutorial" / "dysprosium-broken.yaml").read_bytes())
    with pytest.raises(ScenarioError):
        convert_file(broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml", "s.yaml"]
    assert convert_file(source, out=tmp_path / "x.xlsx") == tmp_path / "x.xlsx"
    assert convert_file(source, out=tmp_path / "x.xlsx", force=True) == tmp_path / "x.xlsx"


def test_yaml_written_back_reads_like_the_spec():
    """Key order of SPEC section 2 (windows last), whole numbers without `.0`, short rules on one line."""
    sc = validate(*read_scenario(ROOT / "docs" / "scenario-template.yaml"))
    text = scenario_yaml(document(sc))
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines if line and not line.startswith((" ", "#"))] == [
        "name", "description", "home_country", "currency", "horizon", "materials", "sources", "processors",
        "policies", "budgets", "limits", "risk", "scenarios"]
    assert "  - {type: tariff, name: ieepa-china, where: {country: CN}, rate: 0.25}" in lines
    assert "  - {name: fy2026, amount: 5000000, from: 2025-10, until: 2026-10}" in lines
    assert "    demand: [2500, 2500, 2600, 2600, 2700, 2700, 2800, 2800]" in lines
    assert "    expansion: {max: 2000, capex: 300, lead_time: 2}" in lines
    assert "    stockpile: {}" in lines


def test_fields_keep_spec_order_with_windows_last():
    assert [f.key for f in fields_of((spec.Rule,))] == ["type", "name", "where", "rate", "multiplier", "on", "from",
                                                       "until"]
