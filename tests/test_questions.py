"""scenarios/questions.py (`make questions`): every counterfactual it runs is a valid scenario, its
overrides change only what the question is about, one run reads a result folder correctly, and the
answers' phrases follow the sign and kind of each figure."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import optimizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scenarios"))
import questions  # noqa: E402  (a script, not a package module)

VARIANTS = questions.variants()


@pytest.mark.parametrize("slug", sorted(VARIANTS))
def test_every_question_variant_validates(slug):
    variant = VARIANTS[slug]
    sc = optimizer.load_scenario(ROOT / variant.file, sets=list(variant.sets))
    if variant.label == "no-stockpile":
        assert all(m.stockpile is None for m in sc.materials)


def test_every_shipped_plan_is_analysed_as_written():
    """The cost table and the analytics rows read the shipped files as written, with --analyze."""
    for stem, label in questions.SHIPPED_PLANS.items():
        variant = VARIANTS[f"{stem}--{label}"]
        assert variant.analyze and variant.sets == () and Path(variant.file).stem == stem


TINY = """
name: tiny
horizon: {start: 2026-01, periods: 2, period: year}
materials:
  - {id: x, demand: 10, shortfall_penalty: 100, stockpile: {target: 5, target_penalty: 2, end_value: 2}}
sources:
  - {id: s, material: x, region: allied, country: CA, price: 3}
"""


def test_a_tiny_plan_runs_through_the_cli(tmp_path):
    """Stockpile money by hand (no discounting, no risk premium): the plan buys 15 units in year 0
    and 10 in year 1 and holds the target of 5 throughout, credited at 2 at the end: money =
    3 x 15 + 3 x 10 - 2 x 5 = 65, no penalty. Holding no stock costs 60 + 2 x 5 x 2 = 80; holding it
    only in year 0 costs 60 + 2 x 5 = 70; a unit above target costs 3 and returns 2. Without target
    and end value it buys 10 + 10: money 60. stockpile_money = 5; no shortfall; one future, so no
    split."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    plan = questions.run(questions.Variant("plan", str(path), analyze=True), tmp_path / "out")
    assert plan.money == pytest.approx(65) and plan.analysis["stockpile_money"] == pytest.approx(5)
    assert plan.shortfall == {} and plan.penalties == pytest.approx(0) and plan.objective == pytest.approx(65)
    assert plan.analysis["first_split"] is None
    assert plan.command.startswith("optimize ") and plan.command.endswith(" --analyze")
    bare = questions.run(questions.Variant("plain", str(path)), tmp_path / "out")
    assert bare.analysis is None and "--analyze" not in bare.command


# --- phrases ------------------------------------------------------------------------------------

def test_a_negative_saving_reads_as_a_cost():
    assert questions.saves(451e6, " of damage", "none") == "saves $451M of damage against none"
    assert questions.saves(-58e6, " of damage", "none") == "costs $58M more of damage than none"
    assert questions.saves(-2e6, plural=True) == "cost $2.0M more"
    assert questions.saves(0.0) == "saves $0.00M"
    assert questions.signed_mn(-58e6) == "-$58M" and questions.signed_mn(1.784e9) == "+$1,784M"
    assert questions.signed_mn(1.0) == "$0.00M"


def _run(money, loss):
    return questions.Run(questions.Variant("x", "x.yaml"), "", money, 0.0, loss, 0.0, loss, expected_cost=loss)


def test_a_stockpile_that_costs_more_says_which_part():
    """With it: money 100, damage 20 (loss 120); without: money 80, damage 30 (loss 110). Net: it
    costs 10 more; money +20, damage -10."""
    text = questions.stockpile_verdict(_run(100e6, 120e6), _run(80e6, 110e6))
    assert text == ("The stockpile costs $10M more of money + shortfall damage than holding none: it adds $20M of "
                    "money and saves $10M of shortfall damage")
    assert questions.stockpile_verdict(_run(100e6, 110e6), _run(80e6, 120e6)) == (
        "The stockpile saves $10M of money + shortfall damage against holding none")


def _range(used, f_lo, f_hi, today=10.0, period="2027-01"):
    return {"used": used, "f_lo": f_lo, "f_hi": f_hi, "period": period, "unit": "kg",
            "price_lo": f_lo * today, "price_hi": None if f_hi is None else f_hi * today}


@pytest.mark.parametrize("r, text", [
    (_range(False, 0.5, None), "enters the plan below $5.00/kg"),
    (_range(False, 0.0, None), "stays out of the plan even at a price of 0"),
    (_range(True, 0.0, None), "stays in the plan at any price"),
    (_range(True, 0.8, None), "the plan holds from $8.00/kg up: it stays in the plan at any higher price"),
    (_range(True, 0.0, 1.5), "the plan holds at any price up to $15.00/kg"),
    (_range(True, 0.9, 1.2), "the plan holds from $9.00/kg up to $12.00/kg"),
    (_range(True, 1.0, 1.0), "the plan changes with any move of its price"),
    (_range(False, 0.0, None, period=None), "cannot be ordered within the horizon"),
])
def test_price_ranges_in_plain_words(r, text):
    assert questions.range_text(r) == text


def test_today_price_comes_from_either_end():
    assert questions.today_price(_range(True, 0.5, 2.0, today=300.0)) == "$300/kg"
    assert questions.today_price(_range(True, 0.0, 2.0, today=300.0)) == "$300/kg"
    assert questions.today_price(_range(False, 0.0, None)) == "-"


def _analysis(eev, objective=100e6, ws=90e6):
    return {"wait_and_see_by_scenario": {"base": 1, "ban": 2}, "reference_scenario": "base", "first_split": "2027-01",
            "eev": eev, "eev_infeasible": None if eev is not None else "ban: demand cannot be met",
            "value_of_hedging": None if eev is None else eev - objective, "objective": objective,
            "evpi": objective - ws, "wait_and_see": ws}


def test_hedging_in_plain_words():
    text = questions.hedging_text(_analysis(140e6))
    assert text.startswith("Planning for all 2 futures saves $40M against planning for `base` alone and committing "
                           "to its decisions before 2027-01")
    assert "would be worth $10M more" in text and "EEV $0.14B - plan $0.10B" in text
    infeasible = questions.hedging_text(_analysis(None))
    assert infeasible.startswith("Planning for `base` alone leaves no feasible plan for the other futures "
                                 "(ban: demand cannot be met): hedging is indispensable")
