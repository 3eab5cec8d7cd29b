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
        ({"risk": {"alpha": 1.0}}, "must be < 1, got 1.0"),
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


def test_empty_and_non_mapping_documents():
    """Empty files and top-level lists are clear errors."""
    assert "empty" in problems_of("")[0]
    assert problems_of("- a\n- b\n") == ["s.yaml: (top level): expected a mapping of scenario fields, got a list"]


def test_python_object_tags_are_not_constructed():
    """YAML is loaded safely: a python/object tag is an error, not code execution."""
    msgs = problems_of("name: !!python/object/apply:os.system ['echo hacked']\n")
    assert msgs and "hacked" not in "".join(msgs).replace("echo hacked", "")


# --- one pass, every problem, sorted by line (issue 11, item 15) -------------------------------------

ONE_PASS = """\
name: x
horizon: {start: 2026-01, periods: 3}
materials:
  - {id: dy, demand: 5}
  - id: ore
    stockpile: {target: 5}
sources:
  - {id: cn, material: dyy, region: china, country: CN, price: abc}
  - {id: au, material: dy, region: allied, country: AU, price: 5, price: 6}
policies:
  - {type: tariff, rate: 0.5, where: {country: JP}}
  - {type: ban, where: {material: gallium}, from: 2027-13}
scenarios:
  - {name: a, probability: 0.5}
  - {name: b, probability: 0.2}
"""


def test_cross_field_checks_run_when_fields_fail_their_types():
    """A bad price, a bad month and a duplicate key do not hide the unknown material, the missing
    penalties, the filters that match nothing or the probabilities: all come at once, by line."""
    msgs = problems_of(ONE_PASS)
    where = [(int(m.split(":")[1]), m.split(": ")[1]) for m in msgs]
    assert where == [
        (4, "materials[0].shortfall_penalty"),
        (6, "materials[1].stockpile.target_penalty"),
        (8, "sources[0].material"),
        (8, "sources[0].price"),
        (9, "sources[1].price"),
        (11, "policies[0].where"),
        (12, "policies[1].where"),
        (12, "policies[1].where.material"),
        (12, "policies[1].from"),
        (13, "scenarios"),
    ], "\n".join(msgs)
    text = "\n".join(msgs)
    assert "unknown material `dyy`; did you mean `dy`?" in text and "duplicate key `price`" in text
    assert "unknown material `gallium`" in text and "probabilities sum to 0.7" in text
    assert "tariff rule's filter matches no source" in text and "expected a month" in text


def test_duplicate_key_does_not_stop_the_other_checks():
    """A duplicate key is one problem among the others (the first value is kept for the rest)."""
    msgs = problems_of(GOOD.replace("periods: 4", "periods: 4, periods: 5").replace("material: dy,", "material: d,"))
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith("s.yaml:3:") and "duplicate key `periods`" in msgs[0] and "line 3" in msgs[0]
    assert msgs[1].startswith("s.yaml:9:") and "unknown material `d`" in msgs[1]


def test_invalid_fields_cause_no_consequential_problems():
    """A misspelt region is one problem, not also 'the filter matches no source'; an unreadable probability
    is one problem, not also 'probabilities sum to ...'; a broken source id is not 'unknown' elsewhere."""
    text = GOOD.replace("region: china", "region: chna") + """\
policies:
  - {type: tariff, rate: 0.5, where: {region: china}}
scenarios:
  - {name: a, probability: half}
  - {name: b, probability: 0.5}
"""
    msgs = problems_of(text)
    assert len(msgs) == 2, msgs
    assert "sources[0].region" in msgs[0] and "did you mean `china`" in msgs[0]
    assert "scenarios[0].probability" in msgs[1]


def test_zero_probability_scenario_is_an_error():
    """`probability: 0` is refused with the scenario's name and line: its plan and cost would mean nothing."""
    msgs = problems_of(GOOD + "scenarios:\n  - {name: base, probability: 1}\n  - {name: never, probability: 0}\n")
    assert msgs == ["s.yaml:12:19: scenarios[1].probability: scenario `never` has probability 0: its plan and "
                    "cost would mean nothing (it weighs nothing in the objective); remove it or give it a "
                    "probability"]


# --- processors that make material from nothing (issue 11, item 3) ----------------------------------

LOOP = """\
name: loop
horizon: {start: 2026-01, periods: 2}
materials:
  - {id: x, demand: 1, shortfall_penalty: 100}
  - {id: y}
  - {id: z}
sources:
  - {id: sx, material: x, region: allied, country: AU, price: 10}
processors:
"""


def test_processor_whose_input_is_an_output_with_a_yield_above_1_is_refused():
    """x -> {x: 1.2}: one t fed returns 1.2 t. Refused, naming the processor and its line."""
    (msg,) = problems_of(LOOP + "  - {id: grow, region: domestic, country: US, input: x, outputs: {x: 1.2}}\n")
    assert msg.startswith("s.yaml:10:") and "processors[0].outputs" in msg
    assert "processor `grow` makes material from nothing: feeding 1 t x to `grow` gives all of it back and 0.2 t x " \
           "more" in msg


def test_cycle_of_processors_that_gains_is_refused():
    """a: x -> {y: 0.6, z: 0.6}, b: y -> x, c: z -> x: each path alone returns 0.6 x, together 1.2 x. The
    LP's vertex feeds 1 x to a, 0.6 y to b and 0.4 z to c: x comes back whole and 0.2 z is left over."""
    procs = """\
  - {id: a, region: domestic, country: US, input: x, outputs: {y: 0.6, z: 0.6}}
  - {id: b, region: domestic, country: US, input: y, outputs: {x: 1}}
  - {id: c, region: domestic, country: US, input: z, outputs: {x: 1}}
"""
    (msg,) = problems_of(LOOP + procs)
    assert msg.startswith("s.yaml:10:") and "processors `a`, `b`, `c` make material from nothing" in msg
    assert "feeding 1 t x to `a`, 0.6 t y to `b`, 0.4 t z to `c` gives all of it back and 0.2 t z more" in msg


@pytest.mark.parametrize("procs", [
    "  - {id: a, region: domestic, country: US, input: x, outputs: {y: 0.5, z: 0.5}}\n"
    "  - {id: b, region: domestic, country: US, input: y, outputs: {x: 1}}\n"
    "  - {id: c, region: domestic, country: US, input: z, outputs: {x: 1}}\n",
    "  - {id: a, region: domestic, country: US, input: x, outputs: {x: 0.9, y: 0.1}}\n",
    "  - {id: a, region: domestic, country: US, input: x, outputs: {y: 0.7}}\n"
    "  - {id: b, region: domestic, country: US, input: y, outputs: {x: 1.4285714285714286}}\n",  # 1 up to rounding
])
def test_cycles_that_return_at_most_what_they_take_are_valid(procs):
    """Cycles whose total yield is at most 1 (the last is 1 up to rounding) are valid."""
    validate(*parse_yaml_text(LOOP + procs, "s.yaml"))


def test_a_cycle_returning_all_it_takes_plus_a_co_product_is_refused():
    """x -> {x: 1, y: 0.3}: x comes back whole and 0.3 y on top, for nothing."""
    (msg,) = problems_of(LOOP + "  - {id: a, region: domestic, country: US, input: x, outputs: {x: 1, y: 0.3}}\n")
    assert "feeding 1 t x to `a` gives all of it back and 0.3 t y more" in msg


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


def test_v2_fields_take_part_in_the_one_pass():
    """Field errors in the v2 fields (`on`, a release rule's type, `end_value`, a country) do not hide the
    v2 cross-field problems elsewhere, and cause none of their own: a misspelt `release` is not also
    'filters on material only'; a country that fails its pattern is not also 'not home_country'."""
    text = GOOD.replace("shortfall_penalty: 1000\n", "shortfall_penalty: 1000\n    stockpile: {end_value: -2}\n") \
        .replace("sources:\n", "policies:\n"
                 "  - {type: release, where: {material: dy, region: china}}\n"
                 "  - {type: ban, on: never, where: {region: china}}\n"
                 "  - {type: relase, where: {material: dy, region: china}}\n"
                 "sources:\n") + (
        "  - {id: ca, material: dy, region: domestic, country: ca, price: 3}\n"
        "  - {id: us, material: dy, region: domestic, country: CA, price: 3}\n")
    msgs = problems_of(text)
    where = [(int(m.split(":")[1]), m.split(": ")[1]) for m in msgs]
    assert where == [
        (8, "materials[0].stockpile.end_value"),
        (10, "policies[0].where.region"),
        (11, "policies[1].on"),
        (12, "policies[2].type"),
        (15, "sources[1].country"),
        (16, "sources[2].country"),
    ], "\n".join(msgs)
    assert "`material` only" in msgs[1] and "'never' is not one of 'order' or 'arrival'" in msgs[2]
    assert "did you mean `release`?" in msgs[3] and "does not match the pattern" in msgs[4]
    assert "its country is CA, not home_country US" in msgs[5]


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


# --- warnings (issue 11, item 19): valid, reported, never stopping a run --------------------------------


def test_lead_time_that_never_delivers_is_a_warning_naming_the_field():
    """A source lead time as long as the horizon, one that starts too late, and an expansion lead time."""
    sc = validate(scenario(
        horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
        sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 10},
                 {"id": "far", "material": "dy", "region": "allied", "country": "AU", "price": 5, "lead_time": 4},
                 {"id": "late", "material": "dy", "region": "allied", "country": "AU", "price": 5, "lead_time": 2,
                  "available_from": "2026-07"},
                 {"id": "ok", "material": "dy", "region": "allied", "country": "AU", "price": 5, "lead_time": 2,
                  "available_from": "2026-04", "capacity": 1,
                  "expansion": {"max": 5, "capex": 1, "lead_time": 6}}]))
    assert scenario_warnings(sc) == [
        "sources[far].lead_time: 4 quarters is not shorter than the horizon (4 quarters): nothing ordered can "
        "arrive before it ends (2027-01), so `far` is never used",
        "sources[late].lead_time: 2 quarters: ordered from 2026-07 at the earliest (available_from), nothing "
        "arrives before the horizon ends (2027-01), so `late` is never used",
        "sources[ok].expansion.lead_time: 6 quarters is not shorter than the horizon (4 quarters): capacity built "
        "for `ok` can never be used before it ends (2027-01)",
    ]


def test_country_that_is_not_iso_3166_is_a_warning_with_a_hint():
    """UK -> GB, a swapped code, a one-letter slip from a code used elsewhere; INTL and assigned codes pass."""
    sources = [{"id": f"s{i}", "material": "dy", "region": "allied", "country": c, "price": 10}
               for i, c in enumerate(["UK", "SU", "AX", "AQ", "ZZ", "INTL", "NA"])]
    sources[0]["region"] = "domestic"
    sc = validate(scenario(home_country="UK", sources=sources))
    assert scenario_warnings(sc) == [
        "home_country: `UK` is not an assigned ISO 3166-1 alpha-2 country code (nor INTL); did you mean `GB`?",
        "sources[s0].country: `UK` is not an assigned ISO 3166-1 alpha-2 country code (nor INTL); did you mean `GB`?",
        "sources[s1].country: `SU` is not an assigned ISO 3166-1 alpha-2 country code (nor INTL); did you mean `US`?",
        "sources[s4].country: `ZZ` is not an assigned ISO 3166-1 alpha-2 country code (nor INTL)",
    ]
    swapped = validate(scenario(sources=[{"id": "a", "material": "dy", "region": "china", "country": "CN",
                                          "price": 1}, {"id": "b", "material": "dy", "region": "china",
                                                        "country": "CM", "price": 1},
                                         {"id": "c", "material": "dy", "region": "china", "country": "CQ",
                                          "price": 1}]))
    assert scenario_warnings(swapped)[-1].endswith("`CQ` is not an assigned ISO 3166-1 alpha-2 country code (nor "
                                                   "INTL); did you mean `CN`?")


def test_validate_prints_warnings_and_strict_makes_them_errors(tmp_path):
    """`optimize validate` prints each warning on stderr and exits 0; with --strict it exits 1."""
    from test_cli import EMBARGO, run_cli, write_scenario

    data = {**EMBARGO, "sources": [EMBARGO["sources"][0], {**EMBARGO["sources"][1], "country": "UK"}]}
    path = write_scenario(tmp_path / "w.yaml", data)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 0 and "valid (" in proc.stdout, proc.stderr
    assert proc.stderr == ("warning: sources[au].country: `UK` is not an assigned ISO 3166-1 alpha-2 country code "
                           "(nor INTL); did you mean `GB`?\n")
    strict = run_cli("validate", str(path), "--strict")
    assert strict.returncode == 1 and "valid (" not in strict.stdout
    assert strict.stderr.endswith(f"{path}: 1 warning, errors under --strict\n")
    clean = run_cli("validate", str(write_scenario(tmp_path / "ok.yaml", EMBARGO)), "--strict")
    assert clean.returncode == 0 and clean.stderr == ""


def test_a_run_reports_scenario_warnings_first_in_run_json(tmp_path):
    """The run goes on; the warning is on stderr and first in run.json's warnings."""
    import json

    from test_cli import EMBARGO, run_cli, write_scenario

    data = {**EMBARGO, "sources": [EMBARGO["sources"][0], {**EMBARGO["sources"][1], "lead_time": 4}]}
    path = write_scenario(tmp_path / "w.yaml", data)
    proc = run_cli(str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    expected = ("sources[au].lead_time: 4 quarters is not shorter than the horizon (4 quarters): nothing ordered "
                "can arrive before it ends (2027-01), so `au` is never used")
    assert f"warning: {expected}\n" in proc.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text())["warnings"][0] == expected
