"""The rules that bind, one row per rule, ranked by what relaxing the rule is worth.

A rule binds when the plan is within BIND_TOL (relative) of its bound in some future and period.
Its worth is the first-order saving of 10 % more of it, in the objective's money:
- budgets and stock capacities: the marginal values of summary.json (duals of the LP) x 10 % of the amount;
- a source at capacity in period t: sum over the futures k through that order of
  p_k (disc_a * pi_k(m, a) - w_k * disc_t * landed_k,t * (1 + rho * risk_s)), with a = t + lead time,
  pi the shadow price of prices.csv (in period money, so p_k disc pi_k is the dual) and w_k the future's
  objective weight (1 without risk aversion; see Plan.objective_weight), x 10 % of the capacity;
- a processor at capacity: p_k disc_t (sum_o yield_o pi_k(o, t) - pi_k(in, t) - w_k cost), the same way.
Share limits have no dual in the result folder: they are listed after the priced rules, unpriced.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from optimizer.report.plan import Plan, money, pct, qty, ranges

BIND_TOL = 1e-6
RELAX = 0.10


def _by_scenario_and_t(df: pd.DataFrame, plan: Plan, value: str, key: str | None = None) -> dict:
    pos = {lab: i for i, lab in enumerate(plan.labels)}
    out: dict = {}
    if df.empty:
        return out
    cols = ["scenario", "period"] + ([key] if key else [])
    for row in df.groupby(cols, as_index=False)[value].sum().itertuples(index=False):
        t = pos.get(row.period)
        if t is None:
            continue
        out[(row.scenario, t) + ((getattr(row, key),) if key else ())] = float(getattr(row, value))
    return out


def _where(hits: dict[str, list[int]], plan: Plan) -> str:
    """`all 4 futures: 2026-01 to 2027-04 (6 periods)` or per future when the periods differ."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for k in plan.scenarios:
        if hits.get(k):
            groups.setdefault(tuple(sorted(set(hits[k]))), []).append(k)
    parts = []
    n = len(plan.scenarios)
    for periods, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(names) == n and n > 1:
            who = f"all {n} futures"
        elif len(names) > 3:
            who = f"{len(names)} futures"
        else:
            who = ", ".join(names)
        parts.append(f"{who}: {ranges(list(periods), plan.labels, limit=2)}")
    if len(parts) > 3:
        parts = parts[:3] + [f"{len(parts) - 3} more patterns"]
    return "; ".join(parts)


def _span(caps: list[float]) -> str:
    """`30` or `20 to 30`: the capacities a rule bound at."""
    lo, hi = min(caps), max(caps)
    return qty(hi) if math.isclose(lo, hi, rel_tol=1e-9) else f"{qty(lo)} to {qty(hi)}"


def binding_rules(plan: Plan) -> list[dict]:
    """One dict per binding rule: kind, rule, where (futures and periods), detail, worth (objective money
    of 10 % more, None when not priced), sorted by worth (largest first, unpriced last)."""
    d = plan.data
    if d is None:
        return []
    labels = list(d.calendar.labels)
    T = len(labels)
    ks = list(d.scenarios)
    disc = np.asarray(d.calendar.discount, dtype=float)
    weight = plan.objective_weight()
    cur = d.currency
    marginal = plan.summary.get("marginal_values") or {}
    rows: list[dict] = []
    unit = dict(zip(d.materials, d.units))

    def add(kind: str, rule: str, detail: str, hits: dict[str, list[int]], worth: float | None) -> None:
        if any(hits.values()):
            rows.append({"kind": kind, "rule": rule, "where": _where(hits, plan), "detail": detail,
                         "worth": None if worth is None else max(worth, 0.0)})

    purchases, processing, expansion = plan.table("purchases"), plan.table("processing"), plan.table("expansion")
    stock, prices = plan.table("stockpile"), plan.table("prices")
    shadow = _by_scenario_and_t(prices, plan, "shadow_price", "material")

    # budgets: undiscounted purchases + processing + capex in the covered periods, per future
    spend: dict = {}
    proc_in = processing[processing["flow"] == "input"] if not processing.empty else processing
    for df in (purchases, proc_in, expansion):
        for key, v in _by_scenario_and_t(df, plan, "spend").items():
            spend[key] = spend.get(key, 0.0) + v
    for b, name in enumerate(d.budget_names):
        covered = [int(t) for t in np.flatnonzero(d.budget_covers[b])]
        amount = float(d.budget_amount[b])
        hits = {k: covered for k in ks
                if sum(spend.get((k, t), 0.0) for t in covered) >= amount - BIND_TOL * max(amount, 1.0)}
        value = float((marginal.get("budgets") or {}).get(name, 0.0))
        add("budget", name, f"spend reaches the amount {money(amount, cur)}; each extra {cur} saves "
            f"{value:.3g} {cur}", hits, value * RELAX * amount)

    # share limits (no dual in the folder: unpriced)
    qty_k = _by_scenario_and_t(purchases, plan, "quantity", "source")
    src_index = {s: i for i, s in enumerate(d.sources)}
    for lim, name in enumerate(d.limit_names):
        m = int(d.limit_material[lim])
        of_m = [s for s in d.sources if d.src_material[src_index[s]] == m]
        match = [s for s in of_m if d.limit_match[lim, src_index[s]]]
        covered = [int(t) for t in np.flatnonzero(d.limit_covers[lim])]
        for bound, sign, word in ((d.limit_max[lim], 1, "max"), (d.limit_min[lim], -1, "min")):
            if np.isnan(bound):
                continue
            hits: dict[str, list[int]] = {}
            for k in ks:
                groups = [covered] if d.limit_over_horizon[lim] else [[t] for t in covered]
                for periods in groups:
                    tot = sum(qty_k.get((k, t, s), 0.0) for t in periods for s in of_m)
                    sub = sum(qty_k.get((k, t, s), 0.0) for t in periods for s in match)
                    if tot > 0 and sign * (sub - bound * tot) >= -BIND_TOL * tot:
                        hits.setdefault(k, []).extend(periods)
            over = "over the horizon" if d.limit_over_horizon[lim] else "per period"
            add("share limit", name, f"{d.materials[m]}: matching sources at the {word} share {pct(bound)} {over}",
                hits, None)

    # stock at capacity
    levels = _by_scenario_and_t(stock, plan, "level", "material")
    for m, mat in enumerate(d.materials):
        if not d.has_stock[m]:
            continue
        cap = d.stock_cap[m]
        hits = {k: [t for t in range(T) if np.isfinite(cap[t]) and cap[t] > 0
                    and levels.get((k, t, mat), 0.0) >= cap[t] * (1 - BIND_TOL)] for k in ks}
        finite = cap[np.isfinite(cap)]
        if not finite.size:
            continue
        value = float((marginal.get("stock_capacity") or {}).get(mat, 0.0))
        add("stock capacity", mat, f"stock at its capacity ({qty(float(finite.max()))} {unit[mat]})", hits,
            value * RELAX * float(finite.max()))

    # sources and processors at capacity (with capacity built and usable)
    built: dict[tuple[str, str, int], float] = {}
    pos = {lab: i for i, lab in enumerate(labels)}
    for row in expansion.itertuples(index=False):
        t0 = pos.get(row.usable_from)
        for t in range(t0 if t0 is not None else T, T):
            built[(row.scenario, row.entity, t)] = built.get((row.scenario, row.entity, t), 0.0) + float(row.built)
    landed = _by_scenario_and_t(purchases.assign(w=purchases["landed_cost"] * purchases["quantity"]), plan, "w",
                                "source")
    delivered = _by_scenario_and_t(purchases[purchases["arrival_period"] != ""], plan, "quantity", "source")
    pqty = _by_scenario_and_t(proc_in, plan, "quantity", "processor")
    for i, name in enumerate(d.sources):
        mat, lead = d.materials[d.src_material[i]], int(d.src_lead[i])
        hits, caps, gain = {}, [], 0.0
        for kk, k in enumerate(ks):
            ts = []
            for t in range(T):
                cap = (d.src_cap[i, t] + built.get((k, name, t), 0.0)) * d.src_cmult[i, t, kk]
                bought = qty_k.get((k, t, name), 0.0)
                if not np.isfinite(cap) or cap <= 0 or bought < cap * (1 - BIND_TOL):
                    continue
                ts.append(t)
                caps.append(cap)
                a = t + lead
                if a < T and delivered.get((k, t, name), 0.0) > 0:
                    price = landed.get((k, t, name), 0.0) / bought
                    cost = price * (1 + d.premium * float(d.risk[i]))
                    gain += plan.prob.get(k, 0.0) * (disc[a] * shadow.get((k, a, mat), 0.0)
                                                     - weight.get(k, 1.0) * disc[t] * cost)
            hits[k] = ts
        if caps:
            add("source capacity", name, f"buys all it can ({_span(caps)} {unit[mat]} per period)", hits,
                gain * RELAX * max(caps))
    for i, name in enumerate(d.processors):
        mat = d.materials[d.proc_input[i]]
        hits, caps, gain = {}, [], 0.0
        outputs = [(d.materials[o], float(d.yields[i, o])) for o in np.flatnonzero(d.yields[i])]
        for kk, k in enumerate(ks):
            ts = []
            for t in range(T):
                cap = (d.proc_cap[i, t] + built.get((k, name, t), 0.0)) * d.proc_cmult[i, t, kk]
                if not np.isfinite(cap) or cap <= 0 or pqty.get((k, t, name), 0.0) < cap * (1 - BIND_TOL):
                    continue
                ts.append(t)
                caps.append(cap)
                value = sum(y * shadow.get((k, t, o), 0.0) for o, y in outputs) - shadow.get((k, t, mat), 0.0)
                gain += plan.prob.get(k, 0.0) * disc[t] * (value - weight.get(k, 1.0) * float(d.proc_cost[i, t]))
            hits[k] = ts
        if caps:
            add("processor capacity", name, f"processes all it can ({_span(caps)} {unit[mat]} per period)", hits,
                gain * RELAX * max(caps))
    return sorted(rows, key=lambda r: (r["worth"] is None, -(r["worth"] or 0.0), r["kind"], r["rule"]))
