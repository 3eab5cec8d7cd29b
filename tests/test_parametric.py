"""The solver session's abilities for analytics: parametric ranging along a direction, the optimal
face, and a warm start that HiGHS leaves in an unknown state retried from scratch."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer
from conftest import scenario
from optimizer.checks import validate
from optimizer.data import build_data
from optimizer.model.lp import formulate
from optimizer.ranging import price_directions
from optimizer.solve import SolverSession


def session_of(doc: dict):
    form = formulate(build_data(validate(doc)))
    problem = form.lp.standard_form()
    session = SolverSession(problem)
    return form, problem, session, session.solve()


def storage_case(**extra) -> dict:
    """Three months of 10 t demand; `a` at 10/20/30 per t (capacity 15), `b` at 25/t; storage at 1/t
    per month: the plan stocks early from `a`, so many of its coefficients matter."""
    return scenario(
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000, "stockpile": {"holding_cost": 1}}],
        sources=[{"id": "a", "material": "dy", "region": "domestic", "country": "US", "price": [10, 20, 30],
                  "capacity": 15},
                 {"id": "b", "material": "dy", "region": "allied", "country": "AU", "price": 25}],
        **extra)


def test_one_cost_at_a_time_is_highs_own_ranging():
    """Along one cost coefficient, the ratio test on the basis gives HiGHS's cost ranging."""
    _, _, session, _ = session_of(storage_case())
    ranging = session.cost_ranging()
    for j in range(session.n_cols):
        direction = np.zeros(session.n_cols)
        direction[j] = 1.0
        pr = session.parametric_range(cost=direction)
        assert pr.lo.t == pytest.approx(ranging.down[j] - session.cost[j], abs=1e-9)
        assert pr.hi.t == pytest.approx(ranging.up[j] - session.cost[j], abs=1e-9)


@pytest.mark.parametrize("extra", [{}, {"risk": {"aversion": 0.5, "alpha": 0.5},
                                        "scenarios": [{"name": "base", "probability": 0.5},
                                                      {"name": "dear", "probability": 0.5, "events": [
                                                          {"type": "price", "where": {"source": "b"},
                                                           "multiplier": 2, "from": "2026-02"}]}]},
                                   {"budgets": [{"name": "q1", "amount": 1e4}]}])
def test_a_price_direction_keeps_the_plan_inside_its_range_and_moves_it_beyond(extra):
    """All of `a`'s costs and money-row entries move together (with CVaR rows and a budget too).
    Inside the range the basis's solution x + t dx is optimal at the scaled price (a re-solve
    agrees); at a finite end where the basis says the pivot moves the solution, a re-solve just
    beyond finds something cheaper."""
    form, problem, session, result = session_of(storage_case(**extra))
    direction = price_directions(form, problem)[0]
    pr = direction.parametric(session)
    assert pr.exact
    for t in (0.5 * max(pr.lo.t, -1.0), 0.5 * min(pr.hi.t, 1.0)):
        cost, entries = direction.at(1.0 + t)
        check = SolverSession(problem)
        check.set_costs(direction.cols, cost)
        check.set_coefficients(direction.rows, direction.entry_cols, entries)
        best = check.solve(canonical=False)
        moved = result.x + t * pr.x_change
        assert float(check.cost @ moved) == pytest.approx(best.objective, rel=1e-9)
    strict = [end for end in (pr.lo, pr.hi) if np.isfinite(end.t) and end.reason == "cost" and end.strict]
    assert strict
    for end in strict:
        t = end.t * 1.01
        cost, entries = direction.at(1.0 + t)
        check = SolverSession(problem)
        check.set_costs(direction.cols, cost)
        check.set_coefficients(direction.rows, direction.entry_cols, entries)
        best = check.solve(canonical=False)
        assert float(check.cost @ (result.x + end.t * pr.x_change)) > best.objective + 1e-9


def test_a_budget_amount_keeps_its_marginal_value_over_the_range():
    """Every row of a budget moves with its amount; inside the basis's range the objective falls by
    the marginal value per unit, as re-solves confirm; at the end the duals change."""
    doc = storage_case(budgets=[{"name": "q1", "amount": 300}])
    form, problem, session, result = session_of(doc)
    fam = form.lp.rows["budget_max"]
    rows = np.arange(fam.first, fam.first + fam.size)
    shift = np.zeros(problem.n_rows)
    shift[rows] = 1.0
    value = float(-result.row_dual[rows].sum())
    assert value > 0
    pr = session.parametric_range(row_bounds=(np.zeros(problem.n_rows), shift))
    for t in (0.9 * pr.lo.t, 0.9 * pr.hi.t):
        check = SolverSession(problem)
        check.set_row_bounds(rows, problem.row_lo[rows], problem.row_hi[rows] + t)
        assert check.solve(canonical=False).objective == pytest.approx(result.objective - value * t, rel=1e-9)
    assert pr.hi.reason == "bound" and pr.hi.strict


def test_the_optimal_face_keeps_the_optimum_while_a_second_objective_picks():
    """Two sources at the same landed cost: every split of the 10 t is optimal. On the optimal
    face, minimising the use of `a` gives 0 from `a` and the same objective."""
    doc = scenario(horizon={"start": "2026-01", "periods": 1},
                   sources=[{"id": "a", "material": "dy", "region": "domestic", "country": "US", "price": 10},
                            {"id": "b", "material": "dy", "region": "domestic", "country": "US", "price": 10}])
    form, problem, session, result = session_of(doc)
    buy = form.lp.vars["buy"]
    prefer_b = np.zeros(problem.n_cols)
    prefer_b[buy.cols[buy.entity == 0]] = 1.0
    with session.optimal_face(result):
        session.set_costs(np.arange(problem.n_cols), prefer_b)
        second = session.solve(canonical=False)
    assert second.x[buy.cols[buy.entity == 0]].sum() == pytest.approx(0)
    assert float(problem.cost @ second.x) == pytest.approx(result.objective)


def test_a_warm_start_left_unknown_is_retried_from_scratch():
    """Found by the property tests: on this small, badly scaled LP, after the analytics' warm
    re-solves, HiGHS ends the canonical re-solve in an unknown state; the session starts again
    from scratch and finds the optimum (analysis completes)."""
    doc = {"name": "prop", "horizon": {"start": "2026-01", "periods": 3},
           "materials": [{"id": "m0", "demand": [1.0, 1.0, 1.0], "shortfall_penalty": 100.0,
                          "stockpile": {"holding_cost": 0.5, "target": 0.0, "hard_target": True}},
                         {"id": "m1"},
                         {"id": "m2", "demand": 2.0, "shortfall_penalty": 420.0, "arrivals": {"2026-01": 0.0},
                          "stockpile": {"capacity": 1.0, "target": 0.0, "hard_target": True}}],
           "sources": [{"id": "s0", "material": "m0", "region": "domestic", "country": "US", "price": 1.0}],
           "budgets": [{"name": "b0", "amount": 20.0}],
           "scenarios": [{"name": "base", "probability": 0.5},
                         {"name": "case-1", "probability": 0.5, "events": [
                             {"type": "ban", "where": {"source": "s0"}, "from": "2026-02", "until": "2026-03"}]}]}
    a = optimizer.solve(doc, analyze=True).analysis
    assert a["stockpile_money"] == pytest.approx(0, abs=1e-9)
