"""scenarios/questions.py (`make questions`): every counterfactual it runs is a valid scenario, its
overrides change only what the question is about, and one run reads a result folder correctly."""

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
    if variant.label == "no-goals":
        for m in sc.materials:
            if m.stockpile is not None:
                assert m.stockpile.end_value == 0 and m.stockpile.target == 0, m.id


TINY = """
name: tiny
horizon: {start: 2026-01, periods: 2, period: year}
materials:
  - {id: x, demand: 10, shortfall_penalty: 100, stockpile: {target: 5, target_penalty: 2, end_value: 2}}
sources:
  - {id: s, material: x, region: allied, country: CA, price: 3}
"""


def test_a_tiny_pair_runs_through_the_cli(tmp_path):
    """Stockpile money by hand (no discounting, no risk premium): the plan buys 15 units in year 0
    and 10 in year 1 and holds the target of 5 throughout, credited at 2 at the end: money =
    3 x 15 + 3 x 10 - 2 x 5 = 65, no penalty. Holding no stock costs 60 + 2 x 5 x 2 = 80; holding it
    only in year 0 costs 60 + 2 x 5 = 70; a unit above target costs 3 and returns 2. Without target
    and end value it buys 10 + 10: money 60. stockpile_money = 5; no shortfall."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    plan = questions.run(questions.Variant("plan", str(path)), tmp_path / "out")
    bare = questions.run(questions.Variant("no-goals", str(path), questions.without_goals(str(path))), tmp_path / "out")
    assert plan.money == pytest.approx(65) and bare.money == pytest.approx(60)
    assert plan.money - bare.money == pytest.approx(5)
    assert plan.shortfall == {} and plan.penalties == pytest.approx(0) and plan.objective == pytest.approx(65)
    assert plan.command.startswith("optimize ") and "--set 'materials[x].stockpile.target=0'" in bare.command
