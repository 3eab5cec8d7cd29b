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
