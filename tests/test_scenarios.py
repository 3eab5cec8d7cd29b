"""The shipped scenarios (scenarios/*.yaml): each solves to optimality, matches its golden results,
and tells the story it is meant to tell.

Golden results live in tests/golden/<scenario-name>/ (summary.json and purchases.csv, written by
`Solution.write`; run.json is not compared, it holds timings). After an intended change, rewrite them
with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_scenarios.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import difflib
import os
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optimizer
from optimizer.data import build_data
from optimizer.results import Solution
from optimizer.spec import Scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "scenarios"
GOLDEN_DIR = ROOT / "tests" / "golden"
GOLDEN_FILES = ("summary.json", "purchases.csv")
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
UPDATE_HINT = "UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_scenarios.py"

SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.yaml"))
NAMES = [path.stem for path in SCENARIO_FILES]


@cache
def scenario(name: str) -> Scenario:
    return optimizer.load_scenario(SCENARIO_DIR / f"{name}.yaml")


@cache
def solved(name: str) -> Solution:
    """Each shipped scenario is solved once per test process."""
    return optimizer.solve(scenario(name))


def test_every_scenario_file_is_named_after_its_scenario():
    assert NAMES, "no scenarios/*.yaml found"
    for name in NAMES:
        assert scenario(name).name == name, f"scenarios/{name}.yaml declares name `{scenario(name).name}`"


def test_required_scenarios_are_shipped():
    assert {"baseline", "china-embargo", "deep-sea-fast-track", "tariff-truce", "budget-squeeze"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_solves_to_optimality(name):
    solution = solved(name)
    assert solution.status == "optimal", f"{name}: status {solution.status}"
    assert solution.objective is not None and np.isfinite(solution.objective)


# --- golden results ---------------------------------------------------------------------------


def _diff(expected: bytes, actual: bytes, label: str, limit: int = 30) -> str:
    lines = list(difflib.unified_diff(
        expected.decode().splitlines(), actual.decode().splitlines(),
        fromfile=f"golden/{label}", tofile=f"new/{label}", lineterm="", n=1,
    ))
    more = f"\n... ({len(lines) - limit} more diff lines)" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


@pytest.mark.parametrize("name", NAMES)
def test_matches_golden_results(name, tmp_path):
    folder = solved(name).write(tmp_path / name)
    golden = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        golden.mkdir(parents=True, exist_ok=True)
        for file in GOLDEN_FILES:
            shutil.copyfile(folder / file, golden / file)
        return
    problems = []
    for file in GOLDEN_FILES:
        expected_path = golden / file
        if not expected_path.exists():
            problems.append(f"missing golden file tests/golden/{name}/{file}")
            continue
        expected, actual = expected_path.read_bytes(), (folder / file).read_bytes()
        if expected != actual:
            problems.append(_diff(expected, actual, f"{name}/{file}"))
    assert not problems, (
        f"results of scenarios/{name}.yaml differ from tests/golden/{name}/:\n\n" + "\n\n".join(problems)
        + f"\n\nIf the change is intended, rewrite the golden files with\n    {UPDATE_HINT}\n"
        "and review the diff of tests/golden/ before committing it."
    )


# --- sanity checks: the story each scenario tells ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_no_purchases_from_banned_sources(name):
    """No order is placed with a source in a period and scenario where a ban `on: order` covers it,
    and nothing arrives (or is paid) in a period where a ban `on: arrival` covers it: such an order
    is shown with spend 0 and no arrival period (SPEC 4.1.11)."""
    sc, solution = scenario(name), solved(name)
    data = build_data(sc)
    period = {label: t for t, label in enumerate(data.calendar.labels)}
    source = {s: i for i, s in enumerate(data.sources)}
    case = {k: i for i, k in enumerate(data.scenarios)}
    p = solution.purchases
    if p.empty:
        return
    s, t, k = p["source"].map(source).to_numpy(), p["period"].map(period).to_numpy(), p["scenario"].map(case).to_numpy()
    banned = data.src_ban[s, t, k]
    assert not banned.any(), f"{name}: orders from banned sources:\n{p[banned].to_string()}"
    arrival = t + data.src_lead[s]
    stopped = data.arrival_ban[s, arrival, k]
    assert (p["spend"][stopped] == 0).all() and p["arrival_period"][stopped].isna().all(), p[stopped].to_string()
    assert p["arrival_period"][~stopped].map(period).to_numpy().tolist() == arrival[~stopped].tolist()


def test_baseline_respects_the_chinese_gallium_germanium_antimony_ban():
    """The Ann. 46 ban returns after its suspension and stops shipments (`on: arrival`): no Chinese
    Ga, Ge or Sb arrives from 2027 on, so none is ordered from 2026-10 (the licence lead time is a
    quarter): the 2026-Q4 antimony order of SPEC v1, stranded in 2027, is gone."""
    data = build_data(scenario("baseline"))
    labels = data.calendar.labels
    chinese = ("cn-gallium", "cn-germanium", "cn-antimony")
    for src in chinese:
        covered = [labels[t] for t in np.flatnonzero(data.arrival_ban[data.sources.index(src), :, 0])]
        assert covered and covered[0] == "2027-01", f"{src}: ban covers {covered[:2]}..., expected from 2027-01"
    p = solved("baseline").purchases
    late = p[p["source"].isin(chinese) & (p["period"] >= "2026-10")]
    assert late.empty, late.to_string()
    # ... and the plan buys Chinese metal while it may (the suspension), so the check is not vacuous.
    assert (p["source"].isin(chinese) & (p["period"] < "2026-10")).any()


def _without_disruptions(sc: Scenario) -> dict:
    """The same file with only its base case and no risk aversion: the stock the plan would hold anyway."""
    raw = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw.pop("scenarios")
    raw["risk"] = {k: v for k, v in raw["risk"].items() if k == "premium"}
    return raw


def test_embargo_stockpiles_ahead_of_the_ban():
    """Before the full ban starts, the embargo plan holds more of the hardest-hit minerals than the
    same market would hold if no disruption were possible, and never less of any mineral. With
    China capped at the US share of its exports (issue 19), tungsten and germanium cannot be built
    up beyond what both plans hold (every capped source runs full); antimony and terbium can."""
    sc = scenario("china-embargo")
    (ban,) = [case for case in sc.cases if case.name == "full-ban-2027"]
    start = min(event.from_ for event in ban.events if event.type == "ban")
    labels = build_data(sc).calendar.labels
    before = labels[labels.index(start) - 1]  # the last period before the ban (2026-10)

    embargo = solved("china-embargo").stockpile
    embargo = embargo[(embargo["scenario"] == ban.name) & (embargo["period"] == before)].set_index("material")
    reference = optimizer.solve(_without_disruptions(sc))
    assert reference.status == "optimal"
    base = reference.stockpile[reference.stockpile["period"] == before].set_index("material")

    levels = pd.DataFrame({"embargo": embargo["level"], "no_disruption": base["level"]}).fillna(0.0)
    assert (levels["embargo"] >= levels["no_disruption"] - 1e-6).all(), levels.to_string()
    for material in ("antimony", "terbium"):
        assert levels.loc[material, "embargo"] > 1.2 * levels.loc[material, "no_disruption"], levels.to_string()
    # Stock is built in the periods every future shares: all four scenarios hold the same stock then.
    shared = solved("china-embargo").stockpile
    shared = shared[shared["period"] == before].pivot_table(index="material", columns="scenario", values="level")
    assert np.allclose(shared.to_numpy(), shared.to_numpy()[:, :1]), shared.to_string()


def test_embargo_draws_the_stockpile_while_a_release_rule_covers_it():
    """In the full-ban future (SPEC v2 release rules for the length of the ban), no material holds
    stock above zero at the end of a period in which its demand goes unmet while a release rule
    covers it: the stockpile serves demand first. The check is not vacuous: demand does go unmet
    in the ban, and stock is drawn down in it."""
    sc, solution = scenario("china-embargo"), solved("china-embargo")
    calendar = build_data(sc).calendar
    (case,) = [case for case in sc.cases if case.name == "full-ban-2027"]
    released = {(material, calendar.labels[t]) for rule in [*sc.policies, *case.events] if rule.type == "release"
                for material in rule.where.values("material")
                for t in np.flatnonzero(calendar.window(rule.from_, rule.until))}
    rows = solution.stockpile[solution.stockpile["scenario"] == "full-ban-2027"]
    covered = rows[[(r.material, r.period) in released for r in rows.itertuples()]]
    assert (covered["shortfall"] > 0).any() and (covered["level"] > 0).any(), covered.to_string()
    held = covered[(covered["level"] > 1e-6) & (covered["shortfall"] > 1e-6)]
    assert held.empty, held.to_string()


def test_orders_placed_before_the_ban_are_stranded_in_the_ban_futures():
    """SPEC v2 `on: arrival`: Chinese Dy ordered in 2026-Q4 (for 2027-Q1, the quarter the ban starts)
    is one decision in every future; it arrives and is paid where there is no ban, and is neither
    delivered nor paid in the two ban futures."""
    p = solved("china-embargo").purchases
    q4 = p[(p["source"] == "cn-dysprosium") & (p["period"] == "2026-10")].set_index("scenario")
    assert set(q4.index) == {"base", "hree-ban-2027", "full-ban-2027", "price-spike-2027"}
    assert q4["quantity"].nunique() == 1 and q4["quantity"].iloc[0] > 0
    for future in ("hree-ban-2027", "full-ban-2027"):
        assert q4.loc[future, "spend"] == 0 and pd.isna(q4.loc[future, "arrival_period"])
    for future in ("base", "price-spike-2027"):
        assert q4.loc[future, "spend"] > 0 and q4.loc[future, "arrival_period"] == "2027-01"


def test_stockpiles_keep_their_targets_to_the_end():
    """With an end value (SPEC v2), the baseline no longer runs its stockpiles down in the last
    quarters: every material with a target ends 2035 at or above it."""
    rows = solved("baseline").stockpile
    last = rows[(rows["period"] == "2035-10") & (rows["target"] > 0)]
    assert len(last) >= 9 and (last["level"] >= last["target"] - 1e-6).all(), last.to_string()


@pytest.mark.parametrize("name", ["baseline", "deep-sea-fast-track"])
def test_nodule_processing_yields_every_coproduct(name):
    """Whenever nodules are processed, Ni, Co, Cu and Mn come out at the stated yields; the copper
    (no demand, no storage) is all sold, and the manganese is sold through the capped outlet
    `mn-offtake` (at most its capacity) or disposed of at no value: made = offtake input + surplus."""
    sc, solution = scenario(name), solved(name)
    proc = solution.processing
    runs = proc[(proc["flow"] == "input") & (proc["material"] == "nodules")]
    assert not runs.empty, f"{name}: no nodules processed"
    outputs = proc[proc["flow"] == "output"].set_index(["scenario", "period", "processor", "material"])["quantity"]
    yields = {p.id: p.outputs for p in sc.processors}
    for row in runs.itertuples():
        for material, y in yields[row.processor].items():
            key = (row.scenario, row.period, row.processor, material)
            assert key in outputs.index, f"{name}: {key} missing from processing.csv"
            assert outputs[key] == pytest.approx(y * row.quantity, rel=1e-6)
    stock = solution.stockpile.set_index(["scenario", "period", "material"])
    surplus = stock["surplus"] if "surplus" in stock else pd.Series(dtype=float)
    made = proc[(proc["flow"] == "output") & proc["material"].isin(["copper", "manganese"])
                & (proc["processor"] != "mn-offtake")]
    made = made.groupby(["scenario", "period", "material"])["quantity"].sum()
    offtake = proc[(proc["processor"] == "mn-offtake") & (proc["flow"] == "input")]
    offtake = offtake.groupby(["scenario", "period"])["quantity"].sum()
    cap = {p.id: p.capacity for p in sc.processors}["mn-offtake"]
    assert (offtake <= cap * (1 + 1e-9)).all() and (offtake > 0).any()
    for (case, period, material), quantity in made.items():
        sold = offtake.get((case, period), 0.0) if material == "manganese" else 0.0
        assert surplus.get((case, period, material), 0.0) + sold == pytest.approx(quantity, rel=1e-6), (case, period, material)


def test_fast_track_refinery_rests_on_manganese_sales():
    """Issue 19: the US refinery's case rested on selling ~2 Mt/yr of manganese, three times US
    consumption. With Mn sold only through the outlet capped at a quarter of US consumption, the
    plan builds no refinery; lift the cap (the old assumption) and it builds one. Both without the
    disruption process, which does not change the answer and keeps the test fast."""
    path = SCENARIO_DIR / "deep-sea-fast-track.yaml"
    calm = optimizer.solve(optimizer.load_scenario(path, sets=["disruptions=null"]))
    uncapped = optimizer.solve(optimizer.load_scenario(path, sets=["disruptions=null", "processors[mn-offtake].capacity=1e9"]))
    def built(solution):
        e = solution.expansion
        return e[e["entity"] == "us-nodule-refinery"]["built"].sum() if not e.empty else 0.0
    assert built(calm) == 0, "the refinery is built although manganese sales are capped"
    assert built(uncapped) > 0, "with unlimited manganese sales the plan should build the refinery"


def _fiscal_spend(name: str) -> pd.DataFrame:
    """Spend (purchases + processing + capex, undiscounted) in each budget's window, per scenario."""
    sc, solution = scenario(name), solved(name)
    data = build_data(sc)
    spend = pd.concat([
        solution.purchases[["scenario", "period", "spend"]],
        solution.processing[["scenario", "period", "spend"]],
        solution.expansion[["scenario", "period", "spend"]],
    ])
    by_period = spend.groupby(["scenario", "period"])["spend"].sum()
    rows = []
    for b, budget in enumerate(sc.budgets):
        covered = [label for label, on in zip(data.calendar.labels, data.budget_covers[b]) if on]
        for case in data.scenarios:
            total = sum(by_period.get((case, label), 0.0) for label in covered)
            rows.append({"budget": budget.name, "scenario": case, "amount": budget.amount, "spend": total})
    return pd.DataFrame(rows)


def test_budget_squeeze_budgets_bind():
    """The appropriation is never exceeded and actually binds: in the first fiscal years the plan
    spends all of it (within 0.1 %)."""
    spend = _fiscal_spend("budget-squeeze")
    assert (spend["spend"] <= spend["amount"] * (1 + 1e-9) + 1e-3).all(), spend.to_string()
    binding = spend[(spend["spend"] - spend["amount"]).abs() <= 1e-3 * spend["amount"]]
    assert {"fy2026", "fy2027", "fy2028"} <= set(binding["budget"]), spend.to_string()
