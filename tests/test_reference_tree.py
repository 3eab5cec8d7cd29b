"""The product's scenario trees (SPEC section 8, issue 16) against the independent enumeration of
tests/reference_tree.py: `optimize tree SCENARIO.yaml --write-scenarios FILE` must describe the same
futures with the same probabilities (compared by effective parameters, whatever the names and
order), and the product's optimum on the `disruptions` scenario must be the reference's optimum of
the stochastic program on the reference tree. Exact enumeration only (no sampling): every process
drawn has fewer paths than its `max_scenarios`. Skipped until `optimize tree` exists.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import optimizer
from optimizer.checks import validate
from optimizer.disruptions import generate
import reference_cases as cases
import reference_tree as rt
from product_cli import has_command, invoke, read_yaml, schema_knows, write_yaml
from reference_lp import solve_reference
from strategies import disruption_processes

pytestmark = pytest.mark.skipif(not has_command("tree"),
                                reason="disruption processes (issue 16) not built yet: no `optimize tree` command")

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Effects use the v2 rules (release, bans on arrival) once the product knows them (issue 12).
V2_RULES = schema_knows("release", "arrival")


def explain(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True)


def written_tree(doc: dict, folder: Path) -> dict:
    """`optimize tree --write-scenarios`: the scenario with the written `scenarios:` list in place of
    `disruptions` (the file may hold the list alone, a mapping with `scenarios`, or a whole scenario)."""
    source = write_yaml(doc, folder / "process.yaml")
    target = folder / "tree.yaml"
    result = invoke("tree", source, "--write-scenarios", target)
    assert result.exit_code == 0, f"{result.output}\n{explain(doc)}"
    written = read_yaml(target)
    if isinstance(written, dict) and "horizon" in written:
        return written
    scenarios = written["scenarios"] if isinstance(written, dict) else written
    return rt.without_disruptions(doc) | {"scenarios": scenarios}


def same_distribution(a: dict[tuple, float], b: dict[tuple, float]) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 for k in a)


def check_tree(doc: dict, folder: Path) -> None:
    mine = rt.tree_document(doc)
    theirs = written_tree(doc, folder)
    assert same_distribution(rt.distribution(theirs), rt.distribution(mine)), \
        ([(s["name"], s["probability"]) for s in theirs["scenarios"]],
         [(s["name"], s["probability"]) for s in mine["scenarios"]], explain(doc))
    ref = solve_reference(mine)
    sol = optimizer.solve(copy.deepcopy(doc))
    assert sol.status == ref.status, explain(doc)
    if ref.status == "optimal":
        assert sol.objective == pytest.approx(ref.objective, rel=1e-6, abs=1e-7), explain(doc)
        again = optimizer.solve(theirs)
        assert again.objective == pytest.approx(sol.objective, rel=1e-9, abs=1e-7), explain(doc)


@FEW
@given(doc=disruption_processes(v2=V2_RULES))
def test_tree_and_objective_match_reference(doc, tmp_path_factory):
    """Random small processes (1-2 events, fixed or distributed durations, `earliest`, `repeat`,
    effects of every rule type): the written tree equals the reference enumeration, merged by
    effective parameters; the product's objective on the process equals the reference's on its own
    tree (1e-6 relative), and solving the written file gives the same objective."""
    check_tree(doc, tmp_path_factory.mktemp("tree"))


@pytest.mark.parametrize("events, periods", [
    ([cases.ban_event()], 3),
    ([cases.ban_event(repeat=True)], 3),
    ([cases.ban_event(duration={1: 0.5, 2: 0.5})], 3),
    ([cases.ban_event(earliest="2028-01")], 3),
    ([cases.ban_event(effects=[{"type": "ban", "where": {"source": "us"}}]),
      {"name": "dear", "annual_probability": 0.5, "duration": 1,
       "effects": [{"type": "price", "where": {"source": "au"}, "multiplier": 2}]}], 2),
    # Tariffs on a home-country source change nothing: every path is `calm`, whose probability
    # (0.9 * 0.5 + 0.1 * 0.5 + ... summed in floating point) must still be written as a valid one.
    ([{"name": name, "annual_probability": q, "duration": 1,
       "effects": [{"type": "tariff", "where": {"source": "us"}, "rate": 2.0}]} for name, q in (("a", 0.1), ("b", 0.5))],
     3),
], ids=["fixed", "repeat", "durations", "earliest", "two-events", "all-merged"])
def test_hand_worked_trees(events, periods, tmp_path):
    """The processes of test_reference_self (trees derived by hand there) through the product."""
    check_tree(cases.process(events, periods=periods), tmp_path)


def test_hand_worked_stochastic_program():
    """reference_cases.tree_program_doc: 4,854."""
    sol = optimizer.solve(cases.tree_program_doc())
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(4854.0, rel=1e-9)


def mid_year_quarters(on: str) -> dict:
    """5 months from 2026-04, quarterly stages; us (price 1, lead time 1) and au (price 5); demand 10
    a month, penalty 100, no storage; `ev0` bans us `on` arrival or order."""
    return {"name": "mid-year", "home_country": "US",
            "horizon": {"start": "2026-04", "periods": 5, "period": "month"},
            "materials": [{"id": "dy", "demand": 10, "shortfall_penalty": 100}],
            "sources": [{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 1,
                         "lead_time": 1},
                        {"id": "au", "material": "dy", "region": "allied", "country": "AU", "price": 5}],
            "disruptions": {"stage": "quarter", "events": [
                {"name": "ev0", "annual_probability": 0.1, "duration": {1: 0.25, 3: 0.75}, "earliest": "2026-04",
                 "repeat": True, "effects": [{"type": "ban", "where": {"source": "us"}, "on": on}]}]}}


def test_quarter_stages_of_a_short_horizon_cut_every_duration_to_one_stage(tmp_path):
    """The process derandomized hypothesis drew (only the effects made hand-workable).

    Stages (SPEC 8: stage j starts 3j months after horizon.start): 0 = 2026-04..06 (periods 0-2),
    1 = 2026-07..08 (periods 3-4; the horizon ends before 2026-09, so the last stage is short).
    The only start is stage 1 (j >= 1, not before `earliest` 2026-04), with
    q = 1 - 0.9 ** (3/12) = 0.025996...; `repeat` has no later stage to act on. Lasting 1 stage
    (q * 0.25) the ban holds until 2026-10, lasting 3 (q * 0.75) until 2027-01: both are cut at the
    horizon's end, so both ban periods 3-4 and are one scenario of probability q, written from
    2026-07 with no `until`, named `ev0@2026Q3x1` (2026-07 opens a calendar quarter; 1 stage in force
    within the horizon: docs/model.md); calm 1 - q.

    Plan: month 0 only au can serve (10 x 5 = 50); us orders placed in months 0-3 serve months 1-4
    at 10 each. Calm: 50 + 40 = 90. With the ban on arrival, the order placed in month 2 (shared:
    the scenarios differ only from month 3) arriving in month 3 is stranded, never paid; months 3-4
    are bought from au: 50 + 20 + 100 = 170. Objective 0.974 x 90 + q x 170 = 90 + 80 q = 92.0797.
    Banning orders instead lets month 3's delivery through: 50 + 30 + 50 = 130, objective 90 + 40 q:
    the written file must keep `on` (it is the key `on` in YAML 1.2, not True)."""
    q = 1 - 0.9 ** 0.25
    doc = mid_year_quarters("arrival")
    tree = generate(validate(copy.deepcopy(doc)))
    assert [(s.name, s.probability) for s in tree.scenarios] == [
        ("calm", pytest.approx(1 - q, rel=1e-15)), ("ev0@2026Q3x1", pytest.approx(q, rel=1e-15))]
    assert [(r.type, r.on, r.from_, r.until) for r in tree.scenarios[1].case.events] == [
        ("ban", "arrival", "2026-07", None)]
    mine = rt.enumerate_tree(doc)
    assert [(s.probability, s.paths, s.rules) for s in mine] == [
        (pytest.approx(1 - q, rel=1e-15), 1, []),
        (pytest.approx(q, rel=1e-15), 2, [{"type": "ban", "where": {"source": "us"}, "on": "arrival", "from": "2026-07"}])]
    check_tree(doc, tmp_path)
    assert optimizer.solve(copy.deepcopy(doc)).objective == pytest.approx(90 + 80 * q, rel=1e-9)
    on_order = mid_year_quarters("order")
    (tmp_path / "order").mkdir()
    check_tree(on_order, tmp_path / "order")
    assert optimizer.solve(on_order).objective == pytest.approx(90 + 40 * q, rel=1e-9)
