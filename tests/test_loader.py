"""The YAML loader (issue 11, items 10 and 19): same documents as ruamel, positions, nesting, alias bombs,
honest large files, the documented limits, and odd paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, scenario
from optimizer import loader
from optimizer.checks import validate
from optimizer.errors import ScenarioError
from optimizer.loader import load_document, parse_yaml_text, read_yaml

sys.path.insert(0, str(ROOT / "benchmarks"))
from large_file import large_file_text  # noqa: E402

SHIPPED = sorted(str(p.relative_to(ROOT)) for p in [
    *(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "docs" / "tutorial").glob("*.yaml"),
    *(ROOT / "benchmarks" / "scenarios").glob("[sm]*.yaml")])


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate(*parse_yaml_text(text, "s.yaml"))
    return [p.render("s.yaml") for p in info.value.problems]


def stock(text: str):
    """ruamel's own safe loader, keys as text (as the loader gives them)."""
    from ruamel.yaml import YAML

    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(YAML(typ="safe", pure=True).load(text))


# --- the same documents as ruamel ---------------------------------------------------------------------

# Scalars whose implicit type the YAML rules decide: booleans, nulls, ints in every base, floats with
# and without a dot, infinities, YAML 1.1 words that are strings in 1.2.
TRICKY_SCALARS = """\
a: [true, True, TRUE, false, yes, No, on, OFF, y, n]
b: [null, Null, NULL, ~, "null", 'true']
b2:
b3: ""
c: [0, 010, 0o10, 0x1F, -7, +3, 1_000, 0b101, 0123, -0]
c2: 1:30
d: [1.5, 1e3, -2.5E-3, .5, 1., .inf, -.Inf, .nan, 1_000.5, 6.8523015e+5, +1.5, 1.5e3, .5e3]
f: [US, "0123", abc, '', "", -, +, ., 1x, x1, ! 12]
"""


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.MantissaNoDotYAML1_1Warning")  # stock ruamel, YAML 1.1
@pytest.mark.parametrize("text", [
    TRICKY_SCALARS,
    "%YAML 1.1\n---\n" + TRICKY_SCALARS,
    "base: &b {x: 1, y: [2, 3]}\nmerged: {<<: *b, y: 4}\nagain: *b\n",
    "plain: !!str 12\nfloat: !!float 3\nint: !!int '7'\n",
    "a: &s 5\nb: [*s, *s]\n&k key: 1\n*s : *k\n",
], ids=["1.2", "1.1", "merge", "tags", "scalar-anchors"])
def test_loads_what_stock_ruamel_loads(text):
    """Every implicit type, YAML version, merge key, tag and anchor gives ruamel's own values."""
    mine, _ = load_document(text)
    assert json.dumps(mine, sort_keys=True) == json.dumps(stock(text), sort_keys=True)  # NaN equals NaN


def test_dates_are_kept_as_written():
    """A date or timestamp is the text the user wrote, for the schema to reject with that text."""
    mine, _ = load_document("e: [2026-01, 2026-01-15, 2026-02-30]\ne1: 2026-01-15T10:20:30Z\n")
    assert mine == {"e": ["2026-01", "2026-01-15", "2026-02-30"], "e1": "2026-01-15T10:20:30Z"}
    (msg,) = problems("name: x\nhorizon: {start: 2026-02-30, periods: 3}\nmaterials: [{id: a}]\n")
    assert msg == "s.yaml:2:11: horizon.start: expected a month as YYYY-MM (e.g. 2027-01), got '2026-02-30'"


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_files_load_as_stock_ruamel_with_the_same_positions(path):
    """Same document as ruamel's safe loader; every key and item where ruamel's round-trip loader puts it."""
    text = (ROOT / path).read_text()
    mine, smap = load_document(text, path)
    assert mine == stock(text)
    _, reference = loader._round_trip(text, path)
    assert {p: smap.locate(p) for p in reference.positions} == reference.positions


def test_aliases_are_copied_not_shared():
    """`--set` edits the raw dict in place: an aliased mapping must not change in two places."""
    doc, _ = load_document("a: &w {region: china}\nb: *w\nc: [*w]\n")
    doc["b"]["region"] = "allied"
    assert doc["a"] == {"region": "china"} and doc["c"] == [{"region": "china"}]


# --- nesting: a message, never a RecursionError -------------------------------------------------------


@pytest.mark.parametrize("depth", [loader.MAX_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize("shape", ["flow-list", "flow-map", "block"])
def test_deep_nesting_is_refused_with_its_line(shape, depth):
    """Too deep: one problem naming the line where the limit is passed, however deep (no RecursionError,
    no crash of the C parser)."""
    if shape == "flow-list":
        text = "name: x\ndescription: " + "[" * depth + "]" * depth + "\n"
    elif shape == "flow-map":
        text = "name: x\ndescription: " + "{a: " * depth + "1" + "}" * depth + "\n"
    else:
        depth = min(depth, 2_000)
        text = "name: x\ndescription:\n" + "".join(" " * i + "- \n" for i in range(depth))
    (msg,) = problems(text)
    assert f"nested more than {loader.MAX_DEPTH} levels deep" in msg
    assert msg.startswith(("s.yaml:2:", f"s.yaml:{loader.MAX_DEPTH + 2}:")), msg
    assert "description" in msg


def test_nesting_at_the_limit_reaches_validation():
    """MAX_DEPTH levels are read; validation then rejects the value without recursing into it."""
    depth = loader.MAX_DEPTH - 1
    (msg,) = problems(GOOD_FILE + "description: " + "[" * depth + "]" * depth + "\n")
    assert "description: Input should be a valid string" in msg


@pytest.mark.parametrize("where", ["description", "demand", "start", "region", "where", "unknown"])
def test_deeply_nested_python_values_are_problems_not_recursion_errors(where):
    """The Python API takes dicts without the loader: a 100,000-deep list anywhere is a ScenarioError."""
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    raw = scenario(policies=[{"type": "ban", "where": {"material": "dy"}}])
    target = {"description": raw, "unknown": raw, "demand": raw["materials"][0], "start": raw["horizon"],
              "region": raw["sources"][0], "where": raw["policies"][0]["where"]}[where]
    target[{"demand": "demand", "start": "start", "region": "region", "where": "material"}.get(where, where)] = deep
    with pytest.raises(ScenarioError):
        validate(raw)


GOOD_FILE = """\
name: ok
horizon: {start: 2026-01, periods: 3}
materials: [{id: dy}]
"""


# --- anchors and aliases: bombs refused fast, honest reuse accepted ---------------------------------------


def alias_bomb(width: int, depth: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("width, depth", [(10, 9), (2, 60), (100, 20), (10, 3_000)])
def test_alias_bombs_are_refused_before_anything_is_expanded(width, depth):
    """10^9, 2^60, 100^20, 10^3000 values from a few lines: refused by the ratio of values expanded to
    values written, counted per anchor, so even 10^3000 never gets expanded (this test would not end)."""
    (msg,) = problems(alias_bomb(width, depth))
    assert "(an alias bomb?)" in msg and f"more than {loader.ALIAS_RATIO}x" in msg


def test_honest_reuse_of_anchors_is_accepted():
    """A 120-month series written once and used by 2,000 sources (the document expands ~15x) loads."""
    series = ", ".join(str(1000 + i) for i in range(120))
    lines = ["name: reuse", "horizon: {start: 2026-01, periods: 120}", "materials: [{id: dy}]", "sources:",
             f"  - {{id: s0, material: dy, region: allied, country: AU, price: &p [{series}]}}"]
    lines += [f"  - {{id: s{i}, material: dy, region: allied, country: AU, price: *p}}" for i in range(1, 2_000)]
    sc = validate(*parse_yaml_text("\n".join(lines) + "\n"))
    assert len(sc.sources) == 2_000 and sc.sources[-1].price[-1] == 1119


@pytest.mark.slow
def test_honest_large_file_is_accepted():
    """3,000 sources with three 120-month series each: 1.08 million values, more than the old fixed limit
    (1 million) refused. (17,000 sources, 49 MB: benchmarks/large_file.py, README "Limits".)"""
    raw, smap = parse_yaml_text(large_file_text(3_000), "large.yaml")
    sc = validate(raw, smap)
    assert len(sc.sources) == 3_000 and len(sc.sources[0].price) == 120


# --- the limits that remain, each with its message ----------------------------------------------------


def test_file_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "MAX_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * 20)
    with pytest.raises(ScenarioError, match=r"is larger than 100 bytes \(208\), the most this tool reads"):
        read_yaml(path)


def test_value_limit(monkeypatch):
    monkeypatch.setattr(loader, "MAX_VALUES", 50)
    (msg,) = problems("name: x\nd: [" + ", ".join(["1"] * 60) + "]\n")
    assert "the document holds 63 values, more than the 50 this tool reads" in msg


def test_limits_are_documented_as_in_the_code():
    """README states the limits the code enforces (issue 11: they disagreed)."""
    readme = (ROOT / "README.md").read_text()
    for figure in (f"{loader.MAX_BYTES / 1e6:.0f} MB", f"{loader.MAX_DEPTH} levels",
                   f"{loader.MAX_VALUES / 1e6:.0f} million values", f"{loader.ALIAS_RATIO} times",
                   f"{loader.ALIAS_FLOOR / 1e6:.0f} million"):
        assert figure in readme, figure


# --- odd paths and documents (item 19) -------------------------------------------------------------------


def test_symlink_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(tmp_path / "loop.yaml")
    with pytest.raises(ScenarioError, match="is a symlink loop"):
        read_yaml(loop)
    broken = tmp_path / "broken.yaml"
    broken.symlink_to(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match=r"scenario file not found: .*broken.yaml \(a symlink to a missing"):
        read_yaml(broken)


def test_symlink_loop_on_the_command_line(tmp_path):
    """Exit 1 with the message, no traceback (the CLI subprocess)."""
    loop = tmp_path / "a.yaml"
    loop.symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(loop)
    proc = subprocess.run([sys.executable, "-m", "optimizer", "validate", str(loop)], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "is a symlink loop" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("text, words", [
    ("- name: x\n", "got a list"), ("42\n", "got a number (42)"), ("true\n", "got a boolean"),
    ("just text\n", "got a text ('just text')"),
])
def test_document_that_is_not_a_mapping(text, words):
    (msg,) = problems(text)
    assert msg == f"s.yaml: (top level): expected a mapping of scenario fields, {words}"
    assert "Commented" not in msg


def test_bomb_is_refused_on_the_command_line(tmp_path):
    """A 10^30-value bomb through the real CLI: exit 1 with the message (expanding it would never end)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(10, 30))
    proc = subprocess.run([sys.executable, "-m", "optimizer", "validate", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and "alias bomb" in proc.stderr and "Traceback" not in proc.stderr
