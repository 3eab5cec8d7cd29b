"""Plausibility checks (`optimize validate --plausibility`, optimizer/plausibility.py): supply above a
country's cited output, share limits adding up to more than 100 %, demand far from cited consumption."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, scenario
from strategies import scenario_dicts
from optimizer.checks import validate
from optimizer.errors import ScenarioError
from optimizer.plausibility import (
    Thresholds,
    check_demand,
    check_shares,
    check_supply,
    parse_reference,
    plausibility_findings,
    read_reference,
)

HEADER = "material,country,kind,year,quantity,unit,fact_id,source\n"
TABLE = HEADER + (
    "sb,CN,mine_production,2025e,40000,t,SB-05,USGS MCS 2026\n"
    "sb,CN,exports,2024,38632,t,SB-07,Chinese customs\n"
    "sb,US,production,2025e,1000,t,X-1,made up\n"
    "sb,US,exports,2025e,10,t,X-2,made up\n"
    "sb,US,consumption,2025e,45000,t,SB-01,USGS MCS 2026\n"
    "ga,CN,exports,2025,62615,kg,GA-03,Chinese customs\n"
)
FIGURES = parse_reference(TABLE)


def sb_scenario(sources: list[dict], demand: float = 11250, **overrides) -> dict:
    """Antimony in t Sb by quarter: 11,250 t a quarter is 45,000 t/yr, the cited US consumption."""
    return scenario(horizon={"start": "2026-01", "periods": 4, "period": "quarter"},
                    materials=[{"id": "sb", "unit": "t Sb", "demand": demand, "shortfall_penalty": 1e5}],
                    sources=sources, **overrides)


def cn(id_: str = "cn", capacity=None, **extra) -> dict:
    source = {"id": id_, "material": "sb", "region": "china", "country": "CN", "price": 20000, **extra}
    return source if capacity is None else {**source, "capacity": capacity}


# --- (a) supply above the country's output ----------------------------------------------------------


def test_a_source_above_its_countrys_exports_is_flagged_with_the_ratio():
    """15,000 t a quarter = 60,000 t/yr; CN's smallest cited figure is its exports, 38,632 t:
    60,000 / 38,632 = 1.553x."""
    sc = validate(sb_scenario([cn(capacity=15000)]))
    [found] = check_supply(sc, FIGURES)
    assert found.path == ("sources", 0, "capacity")
    assert found.message == ("15,000 t Sb per quarter (2026-01) = 60,000 t/yr is 1.55x CN's exports of sb, "
                             "38,632 t/yr (2024; SB-07: Chinese customs)")


def test_a_source_within_its_countrys_output_passes_and_the_share_threshold_tightens_it():
    """3,220 t a quarter = 12,880 t/yr is a third of CN's exports: fine at 100 %, flagged at 25 %."""
    sc = validate(sb_scenario([cn(capacity=3220)]))
    assert check_supply(sc, FIGURES) == []
    [found] = check_supply(sc, FIGURES, supply_share=0.25)
    assert found.message.endswith("is 0.333x CN's exports of sb, 38,632 t/yr (2024; SB-07: Chinese customs) "
                                  "(allowed: 25% of it)")


def test_sources_of_one_country_count_together_at_their_peak_period():
    """Two CN sources of 6,000 t a quarter each are 48,000 t/yr together (neither alone is above
    38,632); a step to 5,000 t in 2026-07 makes the peak the first quarter: (6,000 + 6,000) x 4."""
    sc = validate(sb_scenario([cn("cn-a", capacity={"2026-01": 6000, "2026-07": 5000}),
                               cn("cn-b", capacity=6000)]))
    [found] = check_supply(sc, FIGURES)
    assert found.path == ("sources", 0, "capacity")
    assert found.message.startswith("together with cn-b, 12,000 t Sb per quarter (2026-01) = 48,000 t/yr is 1.24x CN's "
                                    "exports of sb")


def test_an_unlimited_source_of_a_country_with_cited_output_is_flagged():
    sc = validate(sb_scenario([cn()]))
    [found] = check_supply(sc, FIGURES)
    assert found.message == "unlimited (no `capacity`) is above CN's exports of sb, 38,632 t/yr (2024; SB-07: " \
                            "Chinese customs)"


def test_exports_do_not_bound_a_home_country_source_and_uncited_countries_are_not_checked():
    """A US source is checked against US production (1,000 t), not US exports (10 t); BE has no row."""
    us = {"id": "us", "material": "sb", "region": "domestic", "country": "US", "price": 1, "capacity": 200}
    be = {"id": "be", "material": "sb", "region": "allied", "country": "BE", "price": 1}
    assert check_supply(validate(sb_scenario([us, be])), FIGURES) == []
    [found] = check_supply(validate(sb_scenario([{**us, "capacity": 500}, be])), FIGURES)
    assert "is 2x US's production of sb, 1,000 t/yr" in found.message


def test_units_are_converted_between_the_scenario_and_the_table():
    """Gallium in t Ga by month against CN exports in kg: 6 t a month = 72,000 kg/yr = 1.15x 62,615."""
    sc = validate(scenario(materials=[{"id": "ga", "unit": "t Ga"}],
                           sources=[{"id": "cn", "material": "ga", "region": "china", "country": "CN", "price": 1,
                                     "capacity": 6}]))
    [found] = check_supply(sc, FIGURES)
    assert "6 t Ga per month (2026-01) = 72,000 kg/yr is 1.15x CN's exports of ga" in found.message
    odd = validate(scenario(materials=[{"id": "ga", "unit": "lots"}],
                            sources=[{"id": "cn", "material": "ga", "region": "china", "country": "CN", "price": 1,
                                      "capacity": 6}]))
    [found] = check_supply(odd, FIGURES)
    assert found.message.startswith("unit `lots` of ga does not start with a mass unit")


# --- (b) shares that add up to more than 100 % --------------------------------------------------------


def share_scenario(limits: list[dict]) -> dict:
    sources = [cn("cn", capacity=100), {**cn("au", capacity=100), "region": "allied", "country": "AU"},
               {**cn("ca", capacity=100), "region": "allied", "country": "CA"}]
    return sb_scenario(sources, limits=limits)


def test_min_shares_over_disjoint_sources_above_100_percent_are_flagged():
    """China at least 60 % and the allies at least 50 % of antimony: 110 %, possible only with no
    purchases at all."""
    sc = validate(share_scenario([
        {"name": "cn-floor", "material": "sb", "where": {"region": "china"}, "min_share": 0.6},
        {"name": "allied-floor", "material": "sb", "where": {"region": "allied"}, "min_share": 0.5},
    ]))
    [found] = check_shares(sc)
    assert found.path == ("limits", 0, "min_share")
    assert found.message == ("min_share limits of sb over disjoint sources add up to 110% (`cn-floor` 60% + "
                             "`allied-floor` 50%): they hold only if no sb is bought where they are in force")


def test_three_disjoint_floors_are_one_finding_and_overlapping_or_apart_floors_are_none():
    three = validate(share_scenario([
        {"name": f"{s}-floor", "material": "sb", "where": {"source": s}, "min_share": 0.4} for s in ("cn", "au", "ca")
    ]))
    [found] = check_shares(three)
    assert "add up to 120% (`cn-floor` 40% + `au-floor` 40% + `ca-floor` 40%)" in found.message
    overlapping = validate(share_scenario([
        {"name": "a", "material": "sb", "where": {"source": ["cn", "au"]}, "min_share": 0.6},
        {"name": "b", "material": "sb", "where": {"source": ["au", "ca"]}, "min_share": 0.6},
    ]))
    assert check_shares(overlapping) == []
    apart = validate(share_scenario([
        {"name": "a", "material": "sb", "where": {"source": "cn"}, "min_share": 0.6, "until": "2026-07"},
        {"name": "b", "material": "sb", "where": {"source": "au"}, "min_share": 0.6, "from": "2026-07"},
    ]))
    assert check_shares(apart) == []
    horizons = validate(share_scenario([
        {"name": "a", "material": "sb", "where": {"source": "cn"}, "min_share": 0.6, "over": "horizon"},
        {"name": "b", "material": "sb", "where": {"source": "au"}, "min_share": 0.6, "over": "horizon",
         "from": "2026-07"},
    ]))
    assert check_shares(horizons) == []  # b's share is over fewer periods than a's: both can hold


def test_a_floor_above_the_cap_of_a_wider_set_is_flagged():
    sc = validate(share_scenario([
        {"name": "cn-floor", "material": "sb", "where": {"source": "cn"}, "min_share": 0.5},
        {"name": "non-allied-cap", "material": "sb", "where": {"region": "china"}, "max_share": 0.3},
    ]))
    [found] = check_shares(sc)
    assert found.message == ("`cn-floor` asks at least 50% of sb from sources that `non-allied-cap` allows at most "
                             "30% (its sources include them all): it holds only if no sb is bought where both are "
                             "in force")


# --- (c) demand far from cited consumption ------------------------------------------------------------


def test_demand_three_times_consumption_is_flagged_and_one_and_a_half_times_is_not():
    """33,750 t a quarter = 135,000 t/yr = 3x the 45,000 t consumption; 16,875 = 67,500 t/yr = 1.5x."""
    sc = validate(sb_scenario([cn(capacity=10)], demand=33750))
    [found] = check_demand(sc, FIGURES)
    assert found.path == ("materials", 0, "demand")
    assert found.message == ("33,750 t Sb per quarter (2026-01) = 135,000 t/yr is 3x US's consumption of sb, "
                             "45,000 t/yr (2025e; SB-01: USGS MCS 2026) (plausible: 0.5x to 2x; 4 of 4 periods "
                             "outside)")
    moderate = validate(sb_scenario([cn(capacity=10)], demand=16875))
    assert check_demand(moderate, FIGURES) == []
    [tight] = check_demand(moderate, FIGURES, demand_factor=1.2)
    assert "is 1.5x US's consumption" in tight.message and "(plausible: 0.833x to 1.2x;" in tight.message


def test_demand_below_consumption_counts_only_periods_with_demand():
    """Demand starts in 2026-07 at 2,000 t a quarter (8,000 t/yr = 0.178x): two of four periods; the
    quarters before demand starts are not compared."""
    sc = validate(sb_scenario([cn(capacity=10)], demand={"2026-01": 0, "2026-07": 2000}))
    [found] = check_demand(sc, FIGURES)
    assert "(2026-07) = 8,000 t/yr is 0.178x" in found.message and "2 of 4 periods outside" in found.message
    assert check_demand(validate(sb_scenario([cn(capacity=10)], demand=0)), FIGURES) == []


def test_findings_come_in_supply_shares_demand_order():
    sc = validate(share_scenario([
        {"name": "a", "material": "sb", "where": {"source": "cn"}, "min_share": 0.6},
        {"name": "b", "material": "sb", "where": {"source": "au"}, "min_share": 0.6},
    ]))
    sc = sc.model_copy(update={"sources": [sc.sources[0].model_copy(update={"capacity": 1e6}), *sc.sources[1:]]})
    found = plausibility_findings(sc, FIGURES, Thresholds(demand_factor=1.0001))
    assert [p.path[0] for p in found] == ["sources", "limits"]


# --- the reference table ---------------------------------------------------------------------------


def test_a_bad_reference_table_names_each_line():
    with pytest.raises(ScenarioError) as err:
        parse_reference(HEADER + "sb,CN,mine_production,2025,lots,t,X,y\nsb,CN,imports,2025,1,lb,X,y\nsb,CN\n",
                        "ref.csv")
    assert str(err.value).splitlines()[1:] == [
        "  ref.csv:2:1: quantity: `lots` is not a number >= 0",
        "  ref.csv:3:1: unit: `lb` is not one of g, kg, t, kt, Mt",
        "  ref.csv:3:1: kind: `imports` is not one of production, mine_production, exports, consumption",
        "  ref.csv:4:1: row: expected 8 values, got 2",
    ]
    with pytest.raises(ScenarioError, match="expected columns `material,country,kind,year,quantity,unit,fact_id,"):
        parse_reference("material,quantity\n", "ref.csv")


# --- shipped scenarios -------------------------------------------------------------------------------

SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_are_plausible_against_the_shipped_table(path):
    import optimizer

    figures = read_reference(ROOT / "scenarios" / "data" / "production.csv")
    assert plausibility_findings(optimizer.load_scenario(path), figures) == []


# --- the command line --------------------------------------------------------------------------------


def write_case(folder: Path, data: dict, table: str = TABLE) -> Path:
    from test_cli import write_scenario

    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "production.csv").write_text(table)
    return write_scenario(folder / "sb.yaml", data)


def test_validate_plausibility_prints_findings_with_their_line_and_strict_makes_them_errors(tmp_path):
    from test_cli import run_cli

    path = write_case(tmp_path, sb_scenario([cn(capacity=15000)], demand=33750))
    plain = run_cli("validate", str(path))
    assert plain.returncode == 0 and plain.stderr == "" and len(plain.stdout.splitlines()) == 1
    proc = run_cli("validate", str(path), "--plausibility")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"warning: {path}:") for line in lines)
    assert ": sources[cn].capacity: 15,000 t Sb per quarter" in lines[0]
    assert ": materials[sb].demand: 33,750 t Sb per quarter" in lines[1]
    assert proc.stdout.splitlines()[-1] == f"plausibility: 2 findings against {tmp_path / 'data' / 'production.csv'}"
    strict = run_cli("validate", str(path), "--plausibility", "--strict")
    assert strict.returncode == 1 and strict.stderr.endswith(f"{path}: 2 warnings, errors under --strict\n")
    loose = run_cli("validate", str(path), "--plausibility", "--strict", "--supply-share", "2",
                    "--demand-factor", "4")
    assert loose.returncode == 0 and loose.stderr == "", loose.stderr
    assert loose.stdout.splitlines()[-1].startswith("plausibility: 0 findings against ")


def test_validate_plausibility_names_a_set_argument_and_the_reference_option(tmp_path):
    from test_cli import run_cli

    path = write_case(tmp_path, sb_scenario([cn(capacity=100)]))
    other = tmp_path / "other.csv"
    other.write_text(HEADER + "sb,CN,production,2025,200,t,Z-1,elsewhere\n")
    proc = run_cli("validate", str(path), "--plausibility", "--reference", str(other), "--set",
                   "sources[cn].capacity=60")
    assert proc.stderr == ("warning: --set sources[cn].capacity=60: sources[cn].capacity: 60 t Sb per quarter "
                           "(2026-01) = 240 t/yr is 1.2x CN's production of sb, 200 t/yr (2025; Z-1: elsewhere)\n")


def test_plausibility_options_need_the_flag_and_a_table(tmp_path):
    from test_cli import run_cli, write_scenario

    path = write_scenario(tmp_path / "sb.yaml", sb_scenario([cn(capacity=100)]))
    proc = run_cli("validate", str(path), "--demand-factor", "3")
    assert proc.returncode == 1 and proc.stderr == "--demand-factor only applies with --plausibility\n"
    proc = run_cli("validate", str(path), "--plausibility")
    assert proc.returncode == 1
    assert proc.stderr == (f"--plausibility: no reference table at {tmp_path / 'data' / 'production.csv'}; pass "
                           "--reference CSV\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "sb,CN,production,2025,-1,t,Z,z\n")
    proc = run_cli("validate", str(path), "--plausibility", "--reference", str(bad))
    assert proc.returncode == 1 and f"{bad}:2:1: quantity: `-1` is not a number >= 0" in proc.stderr


def test_the_check_changes_no_solve_output_and_writes_nothing(tmp_path):
    """The same plan, byte for byte, before and after `validate --plausibility`, which solves nothing
    and leaves the folder as it was."""
    from test_cli import run_cli

    path = write_case(tmp_path, sb_scenario([cn(capacity=15000)], demand=33750))
    first = run_cli(str(path), "--out", str(tmp_path / "a"), "--quiet")
    assert first.returncode == 0, first.stderr
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    checked = run_cli("validate", str(path), "--plausibility")
    assert checked.returncode == 0 and "warning: " in checked.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    second = run_cli(str(path), "--out", str(tmp_path / "b"), "--quiet")
    assert second.returncode == 0, second.stderr
    for produced in sorted((tmp_path / "a").iterdir()):
        if produced.name != "run.json":
            assert (tmp_path / "b" / produced.name).read_bytes() == produced.read_bytes(), produced.name


# --- properties --------------------------------------------------------------------------------------


def _table_for(sc, quantity: float) -> list:
    """Production and consumption of `quantity` t/yr for every material, in every source country and
    the home country."""
    countries = {s.country for s in sc.sources} | {sc.home_country or "US"}
    rows = [f"{m.id},{c},{kind},2025,{quantity},t,P-1,drawn\n" for m in sc.materials for c in sorted(countries)
            for kind in ("production", "consumption")]
    return parse_reference(HEADER + "".join(rows))


@given(doc=scenario_dicts(v2=True), low=st.floats(0, 1e4), factor=st.floats(1, 1e3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_larger_cited_output_never_adds_a_supply_finding(doc, low, factor):
    """On any valid scenario the checks run and leave the scenario as it was; raising every cited
    production by a factor keeps only findings that were there (the sources flagged are a subset)."""
    from optimizer.results import scenario_sha256

    sc = validate(doc)
    before = scenario_sha256(sc)
    small = {p.path for p in check_supply(sc, _table_for(sc, low))}
    large = {p.path for p in check_supply(sc, _table_for(sc, low * factor))}
    plausibility_findings(sc, _table_for(sc, low))
    assert large <= small and scenario_sha256(sc) == before
