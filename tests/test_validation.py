"""Schema and cross-field validation: every problem at once, with field path and YAML line:column."""

from __future__ import annotations

import pytest

from conftest import ROOT, scenario
from optimizer.checks import scenario_warnings, validate
from optimizer.errors import Cell, ScenarioError
from optimizer.loader import parse_yaml_text


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        raw, smap = parse_yaml_text(text, "s.yaml")
        validate(raw, smap)
    return [p.render("s.yaml") for p in info.value.problems]


GOOD = """\
name: ok
home_country: US
horizon: {start: 2026-01, periods: 4, period: quarter}
materials:
  - id: dy
    demand: 10
    shortfall_penalty: 1000
sources:
  - {id: cn, material: dy, region: china, country: CN, price: 10}
"""


def test_valid_file_passes():
    """The minimal file validates and the default single scenario is `base` with probability 1."""
    raw, smap = parse_yaml_text(GOOD)
    sc = validate(raw, smap)
    assert [c.name for c in sc.cases] == ["base"] and sc.cases[0].probability == 1.0


def test_unknown_key_suggests_the_right_one_with_line_and_column():
    """A typo in a key is an error with a 'did you mean' hint and the key's position."""
    text = GOOD.replace("price: 10}", "price: 10, lead_tme: 2}")
    (msg,) = problems_of(text)
    assert msg.startswith("s.yaml:9:")
    assert "sources[0].lead_tme" in msg and "did you mean `lead_time`" in msg


def test_every_problem_is_reported_at_once():
    """Type errors from several fields come back together, each with its own path and line."""
    text = GOOD.replace("periods: 4", "periods: 0").replace("region: china", "region: chna").replace(
        "start: 2026-01", "start: 2026-13")
    msgs = problems_of(text)
    assert len(msgs) == 3
    assert any("horizon.periods" in m and ":3:" in m for m in msgs)
    assert any("horizon.start" in m and "YYYY-MM" in m for m in msgs)
    assert any("sources[0].region" in m and "did you mean `china`" in m for m in msgs)


def test_cross_field_problems_are_reported_together():
    """Duplicate ids, dangling references, wrong series length, missing penalty, bad probabilities."""
    text = """\
name: x
horizon: {start: 2026-01, periods: 3}
materials:
  - {id: dy, demand: [1, 2]}
  - {id: dy}
sources:
  - {id: cn, material: dyy, region: china, country: CN, price: 1}
policies:
  - {type: ban, where: {material: gallium}}
scenarios:
  - {name: a, probability: 0.5}
  - {name: a, probability: 0.3}
"""
    msgs = problems_of(text)
    joined = "\n".join(msgs)
    assert "duplicate id `dy`" in joined
    assert "unknown material `dyy`; did you mean `dy`?" in joined
    assert "needs exactly 3 values" in joined
    assert "shortfall_penalty" in joined
    assert "unknown material `gallium`" in joined
    assert "matches no source or processor" in joined
    assert "duplicate scenario name `a`" in joined
    assert "probabilities sum to 0.8" in joined
    assert all(m.startswith("s.yaml:") for m in msgs)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"horizon": {"start": "2026-01", "periods": 3, "period": "week"}}, "is not one of"),
        ({"materials": [{"id": "dy", "demand": -1, "shortfall_penalty": 1}]}, "must be >= 0"),
        ({"materials": [{"id": "dy", "demand": float("nan"), "shortfall_penalty": 1}]}, "finite"),
        ({"materials": [{"id": "dy", "demand": {"2026-1": 3}, "shortfall_penalty": 1}]}, "not a month"),
        ({"materials": [{"id": "Dy!", "demand": 1, "shortfall_penalty": 1}]}, "does not match the pattern"),
        ({"policies": [{"type": "tariff", "where": {"country": "US"}}]}, "needs `rate`"),
        ({"policies": [{"type": "price", "rate": 1}]}, "needs `multiplier`"),
        ({"policies": [{"type": "ban", "from": "2027-01", "until": "2026-01"}]}, "must be after `from`"),
        ({"limits": [{"name": "l", "material": "dy", "over": "period"}]}, "needs `max_share`"),
        ({"limits": [{"name": "l", "material": "dy", "min_share": 0.8, "max_share": 0.2}]}, "above max_share"),
        ({"risk": {"alpha": 1.0}}, "less than 1"),
        ({"materials": [{"id": "dy", "demand": True, "shortfall_penalty": 1}]}, "expected a number"),
        ({"materials": [{"id": "dy", "stockpile": {"target": 5}}]}, "target_penalty"),
        ({"scenarios": []}, "at least one scenario"),
    ],
)
def test_bad_values_are_named(change, expected):
    """Each bad value gives a message naming the problem."""
    with pytest.raises(ScenarioError) as info:
        validate(scenario(**change))
    assert expected in info.value.render()


def test_filter_matching_nothing_is_an_error():
    """A tariff on a country with no source matches nothing: error, not a silent no-op."""
    with pytest.raises(ScenarioError, match="matches no source"):
        validate(scenario(policies=[{"type": "tariff", "rate": 0.5, "where": {"country": "CN"}}]))


def test_yaml_syntax_error_has_position():
    """Broken YAML is one problem with the line and column of the error."""
    (msg,) = problems_of("name: x\n  bad: [\n")
    assert msg.startswith("s.yaml:2:") and "YAML syntax error" in msg


def test_duplicate_yaml_key_is_an_error():
    """Duplicate keys are errors, not silently overwritten."""
    (msg,) = problems_of("name: x\nname: y\n")
    assert "duplicate key" in msg


def test_empty_and_non_mapping_documents():
    """Empty files and top-level lists are clear errors."""
    assert "empty" in problems_of("")[0]
    assert "expected a mapping" in problems_of("- a\n- b\n")[0]


def test_alias_bomb_is_refused():
    """Anchors expanding to a huge document are refused instead of exhausting memory."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    (msg,) = problems_of("\n".join(lines) + "\n")
    assert "expands to more than" in msg


def test_python_object_tags_are_not_constructed():
    """YAML is loaded safely: a python/object tag is an error, not code execution."""
    msgs = problems_of("name: !!python/object/apply:os.system ['echo hacked']\n")
    assert msgs and "hacked" not in "".join(msgs).replace("echo hacked", "")


# Scalars whose implicit type the YAML 1.2 rules decide: booleans, nulls, ints in every base, floats
# with and without a dot, infinities, timestamps, YAML 1.1 words that are strings in 1.2.
TRICKY_SCALARS = """\
a: [true, True, TRUE, false, yes, No, on, OFF, y, n]
b: [null, Null, NULL, ~, "null", 'true']
b2:
b3: ""
c: [0, 010, 0o10, 0x1F, -7, +3, 1_000, 0b101]
c2: 1:30
d: [1.5, 1e3, -2.5E-3, .5, 1., .inf, -.Inf, .nan, 1_000.5, 6.8523015e+5]
e: [2026-01, 2026-01-15]
e1: 2026-01-15T10:20:30Z
e2: 2026-01-15 10:20:30.5 -05:00
f: [US, "0123", abc, '', "", -, +, ., 1x, x1]
"""


@pytest.mark.parametrize("text", [
    TRICKY_SCALARS,
    "%YAML 1.1\n---\n" + TRICKY_SCALARS,
    "base: &b {x: 1, y: [2, 3]}\nmerged: {<<: *b, y: 4}\nagain: *b\n",
    "? [complex, key]\n: 1\nplain: !!str 12\nfloat: !!float 3\n",
])
def test_fast_yaml_path_loads_what_stock_ruamel_loads(text):
    """The fast loader's once-per-document resolver gives the same document as ruamel's own safe loader."""
    from ruamel.yaml import YAML

    from optimizer.loader import safe_yaml

    stock = YAML(typ="safe", pure=False)
    stock.allow_duplicate_keys = False
    assert repr(safe_yaml().load(text)) == repr(stock.load(text))  # repr: nan equals nan


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in [
    *(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "docs" / "tutorial").glob("*.yaml"),
    *(ROOT / "benchmarks" / "scenarios").glob("[sm]*.yaml")]))
def test_fast_yaml_path_loads_shipped_files_as_stock_ruamel(path):
    from ruamel.yaml import YAML

    from optimizer.loader import safe_yaml

    text = (ROOT / path).read_text()
    stock = YAML(typ="safe", pure=False)
    stock.allow_duplicate_keys = False
    assert repr(safe_yaml().load(text)) == repr(stock.load(text))  # repr: nan equals nan


def test_bad_series_item_points_at_the_item():
    """A bad value inside a SERIES list or mapping names its own line and column, not the series'."""
    text = ("name: x\nhorizon: {start: 2026-01, periods: 3}\nmaterials:\n  - id: dy\n    demand: [1, 2,\n      -3]\n"
            "    arrivals: {2026-01: 1,\n      2026-02: x}\n")
    with pytest.raises(ScenarioError) as info:
        validate(*parse_yaml_text(text, "s.yaml"))
    rendered = [p.render("s.yaml") for p in info.value.problems]
    assert rendered[0].startswith("s.yaml:6:7: materials[0].demand: item 2:")
    assert rendered[1].startswith("s.yaml:8:7: materials[0].arrivals: key 2026-02:")


def test_cell_names():
    """Workbook positions are written as Excel writes them."""
    assert str(Cell("sources", 7, 4)) == "sources!D7"
    assert str(Cell("sources", 1, 28)) == "sources!AB1"
    assert str(Cell("my notes", 2, 1)) == "'my notes'!A2"


# --- SPEC version 2: release rules, `on`, home_country; the release warning ---------------------


def test_v2_rule_fields_are_checked():
    """`on` belongs to ban rules; a release rule takes neither `rate` nor `multiplier`."""
    text = GOOD.replace(
        "sources:\n",
        "policies:\n"
        "  - {type: tariff, rate: 0.5, on: arrival}\n"
        "  - {type: release, multiplier: 2}\n"
        "sources:\n")
    msgs = problems_of(text)
    assert len(msgs) == 2, msgs
    assert any("s.yaml:9:" in m and "policies[0]" in m and "`on` applies to ban rules only" in m for m in msgs)
    assert any("policies[1]" in m and "neither `rate` nor `multiplier`" in m for m in msgs)


def test_release_filter_and_domestic_country_problems_are_named():
    """A release rule filters on materials only; a domestic source outside home_country is an error
    naming both countries. Both at once, with their lines."""
    text = GOOD.replace(
        "sources:\n",
        "policies:\n"
        "  - {type: release, where: {material: dy, region: china}}\n"
        "sources:\n"
        "  - {id: us, material: dy, region: domestic, country: CA, price: 10}\n")
    msgs = problems_of(text)
    assert len(msgs) == 2, msgs
    assert any("policies[0].where.region" in m and "`material` only" in m for m in msgs)
    assert any("sources[0].country" in m and "CA" in m and "home_country US" in m and ":11:" in m for m in msgs)


def test_ban_on_arrival_and_release_validate():
    """`on: order` / `on: arrival` on a ban and a release rule with `material` are valid."""
    text = GOOD.replace(
        "sources:\n",
        "policies:\n"
        "  - {type: ban, where: {region: china}, on: arrival, from: 2026-07}\n"
        "  - {type: ban, where: {region: china}, on: order, until: 2026-04}\n"
        "  - {type: release, where: {material: dy}, from: 2026-07}\n"
        "sources:\n")
    raw, smap = parse_yaml_text(text)
    sc = validate(raw, smap)
    assert [r.on for r in sc.policies] == ["arrival", "order", None]
    assert [r.stops_arrivals for r in sc.policies] == [True, False, False]


def _held_target(**overrides) -> dict:
    """dy with a soft target (penalty 100/quarter over 4 quarters) and a shortfall penalty of 250;
    scenario `cut` bans the Chinese source from 2026-04."""
    doc = scenario(
        horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 250,
                    "stockpile": {"initial": 20, "target": 20, "target_penalty": 100}}],
        sources=[{"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10}],
        scenarios=[{"name": "calm", "probability": 0.5},
                   {"name": "cut", "probability": 0.5,
                    "events": [{"type": "ban", "name": "cn-ban", "where": {"region": "china"}, "from": "2026-04"}]}],
    )
    doc.update(overrides)
    return doc


def test_warning_when_a_ban_would_make_the_plan_hold_its_target():
    """From 2026-04 three quarters remain: 3 * 100 = 300 of target penalty > 250 of shortfall penalty,
    and no release rule: one warning naming the rule path, the scenario, the material and the rule."""
    (warning,) = scenario_warnings(validate(_held_target()))
    assert warning.startswith("scenarios[cut].events[cn-ban]: in scenario cut, rule `cn-ban` bans a source of dy")
    assert "from 2026-04" in warning and "dy 300 > 250" in warning and "type: release" in warning


@pytest.mark.parametrize("change", [
    "release",        # a release rule for dy in the scenario: the planner has said what to do
    "penalty",        # shortfall penalty 400 > 300: serving demand beats holding
    "hard",           # a hard target is a floor by intent
    "capacity_up",    # a capacity rule that does not cut
])
def test_no_warning_when_the_target_is_released_or_cheap_to_miss(change):
    doc = _held_target()
    if change == "release":
        doc["scenarios"][1]["events"].append({"type": "release", "where": {"material": "dy"}, "from": "2026-04"})
    elif change == "penalty":
        doc["materials"][0]["shortfall_penalty"] = 400
    elif change == "hard":
        doc["materials"][0]["stockpile"] = {"initial": 20, "target": 20, "hard_target": True}
    else:
        doc["scenarios"][1]["events"] = [{"type": "capacity", "where": {"region": "china"}, "multiplier": 1.5}]
    assert scenario_warnings(validate(doc)) == []


def test_release_warning_reads_disruption_events_as_scenarios():
    """With a `disruptions` section (SPEC 8) each event is read as a scenario whose effects hold from
    its first possible start: a ban effect without a release effect warns, naming the event and the
    effect's path; the SPEC 8 pairing of `on: arrival` with a release effect does not."""
    doc = scenario(
        horizon={"start": "2026-01", "periods": 12, "period": "quarter"},
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 250,
                    "stockpile": {"initial": 20, "target": 20, "target_penalty": 100}}],
        sources=[{"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10}],
        disruptions={"stage": "year", "events": [{"name": "cn-stop", "annual_probability": 0.2, "duration": 1,
                                                   "effects": [{"type": "ban", "where": {"region": "china"},
                                                                "on": "arrival"}]}]},
    )
    (warning,) = scenario_warnings(validate(doc))
    assert warning.startswith("disruptions.events[cn-stop].effects[0]: in scenario event cn-stop, this ban rule")
    assert "from 2027-01" in warning and "dy 800 > 250" in warning
    doc["disruptions"]["events"][0]["effects"].append({"type": "release", "where": {"material": "dy"}})
    assert scenario_warnings(validate(doc)) == []
