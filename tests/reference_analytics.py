"""An independent, deliberately naive reading of SPEC section 7 (items 1-3 and a brute-force 7.4),
on top of reference_lp, for tests only. Every figure is a full re-solve of a modified scenario.

* Decide-now periods (7.1): every period before the first period in which two scenarios can be told
  apart (4.1.10); with a single scenario (or none that ever differ) every period.
* WS_k (7.2): the optimal C_k of scenario k solved alone (probability 1);
  WS = (1 - aversion) * sum_k p_k WS_k + aversion * CVaR_alpha(WS_k); evpi = objective - WS.
* Reference scenario (7.3): the one named `base`, else the most probable (first listed on ties);
  REF is its plan solved alone; EEV is the full problem's optimum with buy, process and build (and
  through them order and modules) of the decide-now periods fixed at REF's values;
  value_of_hedging = EEV - objective.
* cost_of_risk_aversion: expected cost at this aversion minus at aversion 0; stockpile_money:
  expected money of the plan minus that with every stockpile target and end_value set to 0. Both
  read "the plan", which need not be unique, so the reference gives the interval of values over
  all optimal plans.
* 7.4 by brute force: the factor interval [f_lo, f_hi] on one source's price within which a given
  plan stays optimal, by bisection with a full re-solve at every trial factor. A plan that breaks a
  budget at factor f (its landed cost scales with the price, 4.1.7) is infeasible there, so not
  optimal: f is outside the interval even if the plan's objective would beat the optimum.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from reference_lp import (
    Fixings,
    Result,
    build,
    cvar,
    optimal_range,
    resolve,
    solve_reference,
    value,
    with_price_factor,
)

#: Families fixed for EEV (SPEC 7.3); `order` and `modules` follow from `buy` and `build`.
FIXED_FAMILIES = ("buy", "process", "build")
#: Price factors are searched in [0, F_MAX]; a plan still optimal at F_MAX has f_hi = None (unbounded).
F_MAX = 1e4
#: A plan "stays optimal" while its objective is within OPTIMAL_REL * max(1, |optimum|) of the
#: re-solved optimum: the plan's costs are read from summary.json (10 significant digits) and both
#: solvers stop at tolerances near 1e-9, so an exact tie cannot be asked for. The bisection thus
#: stops where the plan is worse by that much, which lies beyond the exact end by
#: OPTIMAL_REL * max(1, |optimum|) / (how fast the plan falls behind per unit of f). Comparisons at
#: 1e-3 relative (SPEC 7.4) absorb that as long as that rate is at least 1e-4 of max(1, |optimum|)
#: per unit of f, true whenever the source's price is not a negligible part of the cost.
OPTIMAL_REL = 1e-7
#: A plan's spend may exceed a budget's amount by this much, relative to max(1, amount, the gross
#: spend of the row), and still be within it (10 significant digits in the tables again). A plan
#: whose budget binds thus stays within it up to 1 + BUDGET_REL * that scale / (the source's spend
#: in it), which is 1 to well within 1e-3 unless the source's spend is a negligible part.
BUDGET_REL = 1e-9

#: A plan: (kind "buy" | "process" | "build", entity id, scenario name, period index) -> quantity.
Plan = dict[tuple[str, str, str, int], float]


def alone(doc: dict, name: str) -> dict:
    """The scenario `name` as the only scenario, with probability 1 (policies plus its events)."""
    out = copy.deepcopy(doc)
    cases = out.get("scenarios")
    if not cases:
        return out
    case = copy.deepcopy(next(c for c in cases if c["name"] == name))
    case["probability"] = 1.0
    out["scenarios"] = [case]
    return out


def decide_now_periods(doc: dict) -> range:
    """Periods 0 .. first split - 1 (SPEC 7.1)."""
    return range(resolve(doc).first_split())


def first_split_month(doc: dict) -> str | None:
    """YYYY-MM of the first period in which two scenarios can be told apart, None if never."""
    par = resolve(doc)
    t = par.first_split()
    return None if t == par.T else par.cal.label(t)


@dataclass
class WaitAndSee:
    per_scenario: dict[str, float]  # WS_k
    value: float  # WS


def wait_and_see(doc: dict) -> WaitAndSee | None:
    """WS_k for every scenario and WS (SPEC 7.2); None when some scenario alone has no optimum."""
    par = resolve(doc)
    per = {}
    for name in par.names:
        res = solve_reference(alone(doc, name))
        if res.status != "optimal":
            return None
        per[name] = res.objective  # one scenario: the objective is C_k whatever the aversion
    lam, alpha = par.sc.risk.aversion, par.sc.risk.alpha
    values = [per[n] for n in par.names]
    expected = sum(p * v for p, v in zip(par.prob, values))
    return WaitAndSee(per, (1 - lam) * expected + lam * cvar(values, par.prob, alpha))


def evpi(doc: dict) -> float | None:
    full = solve_reference(doc)
    ws = wait_and_see(doc)
    if full.status != "optimal" or ws is None:
        return None
    return full.objective - ws.value


def reference_scenario(doc: dict) -> str:
    """`base` if a scenario has that name, else the most probable, the first listed on ties."""
    par = resolve(doc)
    if "base" in par.names:
        return "base"
    best = max(par.prob)
    return next(n for n, p in zip(par.names, par.prob) if p == best)


def reference_plan(doc: dict) -> Result:
    """REF: the reference scenario solved alone."""
    return solve_reference(alone(doc, reference_scenario(doc)))


def fixings_from_plan(doc: dict, ref: Result) -> Fixings:
    """REF's buy, process and build of every decide-now period (zeros included)."""
    periods = set(decide_now_periods(doc))
    out: Fixings = {}
    for family in FIXED_FAMILIES:
        for (ident, t, _), v in ref.decisions(family).items():
            if t in periods:
                out[family, ident, t] = v
    return out


def fixings_from_rows(doc: dict, rows: list[dict]) -> Fixings:
    """Fixings from SPEC 7's `reference_decide_now` rows ({kind, id, period: YYYY-MM, quantity}, zero
    rows omitted): every buy, process and build of a decide-now period, 0 where no row names it."""
    par = resolve(doc)
    out: Fixings = {}
    for t in decide_now_periods(doc):
        for src in par.srcs:
            out["buy", src.id, t] = 0.0
        for proc in par.procs:
            out["process", proc.id, t] = 0.0
        for ent in par.srcs + par.procs:
            if ent.expansion is not None:
                out["build", ent.id, t] = 0.0
    label = {par.cal.label(t): t for t in range(par.T)}
    for row in rows:
        key = (row["kind"], row["id"], label[row["period"]])
        assert key in out, f"reference_decide_now names {key}, which is no decision of a decide-now period"
        out[key] = float(row["quantity"])
    return out


def eev(doc: dict, fixings: Fixings | None = None) -> float | None:
    """The full problem's optimum with the decide-now decisions fixed (at REF's values unless
    `fixings` are given); None when fixing makes it infeasible."""
    if fixings is None:
        ref = reference_plan(doc)
        if ref.status != "optimal":
            return None
        fixings = fixings_from_plan(doc, ref)
    res = solve_reference(doc, fixed=fixings)
    return res.objective if res.status == "optimal" else None


def value_of_hedging(doc: dict, fixings: Fixings | None = None) -> float | None:
    value = eev(doc, fixings)
    full = solve_reference(doc)
    return None if value is None else value - full.objective


def with_aversion(doc: dict, aversion: float) -> dict:
    out = copy.deepcopy(doc)
    out.setdefault("risk", {})["aversion"] = aversion
    return out


def cost_of_risk_aversion(doc: dict) -> tuple[float, float]:
    """[lo, hi] of (expected cost of an optimal plan at this aversion) - (expected cost at aversion 0)."""
    at_lambda = optimal_range(doc, "cost")
    neutral = optimal_range(with_aversion(doc, 0.0), "cost")  # unique: the objective itself
    return at_lambda[0] - neutral[1], at_lambda[1] - neutral[0]


def without_stockpile_goals(doc: dict) -> dict:
    """The same scenario with every stockpile target and end_value set to 0."""
    out = copy.deepcopy(doc)
    for mat in out["materials"]:
        stock = mat.get("stockpile")
        if stock is not None:
            stock["target"] = 0.0
            stock["end_value"] = 0.0
    return out


def stockpile_money(doc: dict) -> tuple[float, float] | None:
    """[lo, hi] of the expected money of an optimal plan minus that of an optimal plan without
    stockpile goals; None when either has no optimum."""
    with_goals = optimal_range(doc, "money")
    without = optimal_range(without_stockpile_goals(doc), "money")
    if with_goals is None or without is None:
        return None
    return with_goals[0] - without[1], with_goals[1] - without[0]


# --- 7.4 by brute force -----------------------------------------------------------------------------


def price_weight(doc: dict, source_id: str, plan: Plan) -> dict[str, float]:
    """dC_k/df for a plan: sum_t disc_t * price * pmult * (1 + tariff) * (1 + premium * risk) *
    delivered * buy[s, t, k], the part of C_k a factor f on the source's price scales."""
    par = resolve(doc)
    s = next(i for i, src in enumerate(par.srcs) if src.id == source_id)
    premium = par.sc.risk.premium
    out = {}
    for k, name in enumerate(par.names):
        out[name] = sum(
            par.disc[t] * par.price[s][t] * par.pmult[s, t, k] * (1 + par.tariff[s, t, k])
            * (1 + premium * par.risk[s]) * par.delivered(s, t, k) * plan.get(("buy", source_id, name, t), 0.0)
            for t in range(par.T))
    return out


def plan_objective(doc: dict, costs: dict[str, float], weight: dict[str, float], factor: float) -> float:
    """The objective of a fixed plan (per-scenario costs at factor 1) with the price times `factor`."""
    par = resolve(doc)
    shifted = [costs[n] + (factor - 1.0) * weight[n] for n in par.names]
    lam, alpha = par.sc.risk.aversion, par.sc.risk.alpha
    expected = sum(p * c for p, c in zip(par.prob, shifted))
    return (1 - lam) * expected + lam * cvar(shifted, par.prob, alpha)


def within_budgets(doc: dict, plan: Plan) -> bool:
    """Whether the plan keeps every budget of `doc` in every scenario (4.1.7), with the budget rows
    built from `doc` itself (so at a scaled price, the landed costs are scaled). Orders (4.1.12)
    are 1 exactly where the plan buys: a plan's order without a buy only adds its fixed cost.

    Budgets are the only rows whose coefficients a price moves: it also enters the cost
    definitions of 4.2-4.3, but those carry only the objective's auxiliaries (eta, z_k), which
    `plan_objective` re-optimises exactly, so they never make a plan infeasible."""
    model = build(resolve(doc))
    names = model.par.names
    x = np.zeros(len(model.lp.names))
    for col, name in enumerate(model.lp.names):
        if name[0] in ("buy", "process", "build"):
            x[col] = plan.get((name[0], name[1], names[name[3]], name[2]), 0.0)
        elif name[0] == "order":
            x[col] = 1.0 if plan.get(("buy", name[1], names[name[3]], name[2]), 0.0) > 0.0 else 0.0
    for _, _, row, amount in model.budgets:
        gross = sum(abs(coef * x[col]) for col, coef in row.items())
        if value(row, x) > amount + BUDGET_REL * max(1.0, abs(amount), gross):
            return False
    return True


def price_range(doc: dict, source_id: str, costs: dict[str, float], plan: Plan) -> tuple[float, float | None]:
    """[f_lo, f_hi] of the factor on `source_id`'s price within which the plan (its per-scenario
    costs at factor 1 and its decisions) stays optimal: at f it keeps every budget and its
    objective is within OPTIMAL_REL of the optimum at f (a full reference re-solve). f_hi None:
    still optimal at F_MAX (or the plan buys nothing from the source)."""
    weight = price_weight(doc, source_id, plan)

    def optimal(f: float) -> bool:
        scaled = with_price_factor(doc, source_id, f)
        if not within_budgets(scaled, plan):
            return False
        best = solve_reference(scaled)
        assert best.status == "optimal", best.status
        return plan_objective(doc, costs, weight, f) <= best.objective + OPTIMAL_REL * max(1.0, abs(best.objective))

    assert optimal(1.0), "the plan is not optimal at its own prices"
    if optimal(0.0):
        f_lo = 0.0
    else:
        inside, outside = 1.0, 0.0
        while inside - outside > 1e-7 * inside:
            mid = 0.5 * (inside + outside)
            inside, outside = (mid, outside) if optimal(mid) else (inside, mid)
        f_lo = inside
    if all(abs(w) == 0.0 for w in weight.values()) or optimal(F_MAX):
        return f_lo, None
    inside, outside = 1.0, F_MAX
    while outside - inside > 1e-7 * inside:
        mid = (inside * outside) ** 0.5 if outside > 2 * inside else 0.5 * (inside + outside)
        inside, outside = (mid, outside) if optimal(mid) else (inside, mid)
    return f_lo, inside
