"""Marginal values of budgets and stock capacities in summary.json (issue: shadow prices that mean something)."""

import pytest

import optimizer
from conftest import scenario


def test_budget_and_capacity_marginal_values_by_hand():
    """Two months; demand 0 then 10; price 10 in Jan, 30 in Feb; stock capacity 4; Feb budget 120;
    shortfall penalty 1000.

    Optimum: buy 4 in Jan (40, fills storage), 4 in Feb (the whole 120 budget), shortfall 2 (2000).
    Objective 2160. One more $ of Feb budget buys 1/30 unit more and saves 1000/30 - 1 = 32.333...;
    one more unit of storage capacity lets Jan buy 1 more at 10 instead of 1 unit short: 1000 - 10 = 990.
    """
    sol = optimizer.solve(scenario(
        horizon={"start": "2026-01", "periods": 2},
        materials=[{"id": "dy", "demand": [0, 10], "shortfall_penalty": 1000, "stockpile": {"capacity": 4}}],
        sources=[{"id": "a", "material": "dy", "region": "domestic", "country": "US", "price": [10, 30]}],
        budgets=[{"name": "feb", "amount": 120, "from": "2026-02"}],
    ))
    assert sol.objective == pytest.approx(2160)
    values = sol.summary["marginal_values"]
    assert values["budgets"]["feb"] == pytest.approx(1000 / 30 - 1)
    assert values["stock_capacity"]["dy"] == pytest.approx(990)


def test_slack_limits_are_worth_nothing():
    """A budget far above spend and an unused capacity have marginal value 0."""
    sol = optimizer.solve(scenario(
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000, "stockpile": {"capacity": 100}}],
        budgets=[{"name": "big", "amount": 1e6}],
    ))
    assert sol.summary["marginal_values"] == {"budgets": {"big": 0.0}, "stock_capacity": {"dy": 0.0}}
