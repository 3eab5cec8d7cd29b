"""The report's charts as `Chart` descriptions (figures.py draws them): one function per chart.

Futures keep the colour of `Plan.colors` and regions that of `palette.REGION_COLORS` in every chart;
a future or a region is one legend group, so one click hides it in every panel.
"""

from __future__ import annotations

import numpy as np

from optimizer.palette import MONEY_COLORS, OTHER_FUTURES, PENALTY_COLORS, REGION_COLORS, TARGET, region_color
from optimizer.report.figures import Chart, Panel, Trace
from optimizer.report.plan import Plan, money, pct, qty, series

MAX_PANELS = 12
MAX_UNNAMED_LINES = 200
"""Unnamed futures drawn in the tree (the most probable first)."""


def _futures_drawn(plan: Plan) -> list[str]:
    """Named futures, the reference last so it is drawn on top of the others."""
    return [k for k in plan.named if k != plan.reference] + ([plan.reference] if plan.reference in plan.named else [])


def _short_note(plan: Plan) -> str:
    hidden = len(plan.scenarios) - len(plan.named)
    return f" {hidden} less probable futures are not drawn (all are in the tables)." if hidden > 0 else ""


def end_drops(plan: Plan) -> list[str]:
    """Stocked materials whose level falls by at least half in the last fifth of the horizon in some future."""
    st = plan.table("stockpile")
    T = len(plan.labels)
    tail = max(1, T // 5)
    out = []
    for m in plan.stocked:
        for k in plan.named:
            level = series(st, plan, k, m, "level")
            if T > tail and level[:T - tail].max() > 0 and level[-1] <= 0.5 * level[T - tail - 1]:
                out.append(m)
                break
    return out


def chart_stock(plan: Plan) -> Chart:
    st = plan.table("stockpile")
    mats = plan.stocked[:MAX_PANELS]
    panels = []
    for i, m in enumerate(mats):
        traces = []
        targets = {k: series(st, plan, k, m, "target") for k in plan.named}
        top = np.max(list(targets.values()), axis=0) if targets else np.zeros(len(plan.labels))
        if top.any():
            traces.append(Trace("target", plan.labels, list(top), TARGET, kind="step", group="target", dash="dash",
                                width=1.5, legend=i == 0,
                                hover=[f"target {qty(v)} {plan.unit(m)}<br>{p}" for p, v in zip(plan.labels, top)]))
        for k in _futures_drawn(plan):
            level = series(st, plan, k, m, "level")
            traces.append(Trace(k, plan.labels, list(level), plan.color(k), kind="step", group=k, legend=i == 0,
                                width=3.0 if k == plan.reference else 2.0,
                                hover=[f"{k}<br>{p}: {qty(v)} {plan.unit(m)} held<br>target in force {qty(g)}"
                                       for p, v, g in zip(plan.labels, level, targets[k])]))
        panels.append(Panel(f"{m} ({plan.unit(m)})", traces))
    drops = end_drops(plan)
    caption = ("End-of-period stock in each future (reference future in black, drawn on top) against the target "
               "(dashed; where a release rule suspends the target in a future, the hover shows the target in "
               "force).")
    if drops:
        end_values = _end_values(plan)
        words = ", ".join(f"{m} (end_value {money(end_values.get(m, 0.0), plan.cur)}/{plan.unit(m)})" for m in drops)
        caption += (f" Stock falls towards the end of the horizon for {words}: stock left after the last period is "
                    "worth only its end_value, so the plan stops buying to hold it past the horizon.")
    return Chart("stock", "What it buys: stock against target, per future", caption + _short_note(plan), panels,
                 columns=2, panel_height=230, empty="No material has a stockpile in this plan.")


def _end_values(plan: Plan) -> dict[str, float]:
    mats = (plan.folder.scenario or {}).get("materials") or []
    return {m["id"]: float((m.get("stockpile") or {}).get("end_value") or 0.0) for m in mats
            if isinstance(m, dict) and m.get("stockpile") is not None}


def shortfall_materials(plan: Plan) -> list[str]:
    scen = plan.summary.get("scenarios") or {}
    short = {m for v in scen.values() for m, q in (v.get("shortfall") or {}).items() if q > 0}
    return [m for m in plan.materials if m in short]


def chart_shortfall(plan: Plan) -> Chart:
    st = plan.table("stockpile")
    panels = []
    for i, m in enumerate(shortfall_materials(plan)[:MAX_PANELS]):
        traces = []
        for k in plan.named:
            short = series(st, plan, k, m, "shortfall")
            if not short.any():
                continue
            demand = series(st, plan, k, m, "demand")
            traces.append(Trace(k, plan.labels, list(short), plan.color(k), kind="bar", group=k,
                                hover=[f"{k}<br>{p}: {qty(v)} {plan.unit(m)} unmet" +
                                       (f" ({pct(v / dm)} of demand)" if dm > 0 else "")
                                       for p, v, dm in zip(plan.labels, short, demand)]))
        if traces:
            panels.append(Panel(f"{m} ({plan.unit(m)} unmet per period)", traces))
    _one_legend_entry(panels)
    return Chart("shortfall", "What it buys: unmet demand over time, per future and material",
                 "Demand left unmet in each period of each future; bars of the futures side by side."
                 + _short_note(plan), panels, columns=1, panel_height=200, barmode="group",
                 empty="No shortfall: every future meets all demand.")


def _one_legend_entry(panels: list[Panel]) -> None:
    seen: set[str] = set()
    for p in panels:
        for j, t in enumerate(p.traces):
            key = t.group or t.name
            if key in seen and t.legend:
                p.traces[j] = Trace(**{**t.__dict__, "legend": False})
            seen.add(key)


def chart_money(plan: Plan) -> Chart:
    """cost_breakdown of SPEC 6 per future and in expectation: money stacked, penalties hatched beside."""
    cb = plan.summary.get("cost_breakdown") or {}
    if not cb:
        return Chart("money", "Money and penalties", "", [], empty="summary.json has no cost_breakdown.")
    columns = ["expected"] + plan.named
    block = {"expected": cb["expected"]["discounted"],
             **{k: cb["scenarios"][k]["discounted"] for k in plan.named if k in cb.get("scenarios", {})}}
    columns = [c for c in columns if c in block]
    sign = {"sales_revenue": -1.0, "end_value": -1.0}
    traces = []
    for term, color in MONEY_COLORS.items():
        vals = [sign.get(term, 1.0) * float(block[c].get(term, 0.0)) for c in columns]
        if any(abs(v) > 0 for v in vals):
            traces.append(Trace(term.replace("_", " ") + (" (received)" if term in sign else ""), columns, vals,
                                color, kind="bar", group=term,
                                hover=[f"{c}: {term.replace('_', ' ')} {money(v, plan.cur)}"
                                       for c, v in zip(columns, vals)]))
    money_panel = Panel(f"Money: paid minus received (discounted, {plan.cur})", traces)
    traces = []
    for term, color in PENALTY_COLORS.items():
        vals = [float(block[c].get(term, 0.0)) for c in columns]
        if any(abs(v) > 0 for v in vals):
            traces.append(Trace(term.replace("_", " ") + " (not money)", columns, vals, color, kind="bar",
                                group=term, hatch=True,
                                hover=[f"{c}: {term.replace('_', ' ')} {money(v, plan.cur)}, a penalty, not money"
                                       for c, v in zip(columns, vals)]))
    panels = [money_panel] + ([Panel(f"Penalties: scores that steer the plan, nobody pays them ({plan.cur})",
                                     traces)] if traces else [])
    return Chart("money", "Money: what the plan pays, and the penalties that are not money",
                 "The terms of each future's discounted cost C_k (summary.json cost_breakdown), in expectation and "
                 "per future. Money is what is really paid minus what is received (sales, the end value of stock "
                 "left at the end); penalties (shortfall, below-target, risk premium) only steer the plan.",
                 panels, columns=2, panel_height=300)


def chart_spend(plan: Plan) -> Chart:
    """Expected spend per order period, stacked by region; spend by region over the horizon beside it."""
    p = plan.table("purchases")
    regions = {r: v for r, v in (plan.summary.get("spend_by_region") or {}).items() if abs(v) > 0}
    if p.empty and not regions:
        return Chart("spend", "Spend by region", "", [], empty="The plan buys nothing.")
    w = plan.weights(p)
    by = p.assign(spend=p["spend"] * w).groupby(["region", "period"])["spend"].sum()
    order = [r for r in REGION_COLORS if r in set(p["region"])] + sorted(set(p["region"]) - set(REGION_COLORS))
    traces = []
    for r in order:
        vals = [float(by.get((r, lab), 0.0)) for lab in plan.labels]
        traces.append(Trace(r, plan.labels, vals, region_color(r), kind="bar", group=r,
                            hover=[f"{r}<br>{lab}: {money(v, plan.cur)} ordered (expected)"
                                   for lab, v in zip(plan.labels, vals)]))
    items = sorted(regions.items(), key=lambda kv: -kv[1])
    total = Panel(f"Expected spend by region over the horizon ({plan.cur})",
                  [Trace(r, [r], [v], region_color(r), kind="hbar", group=r, legend=r not in order,
                         hover=[f"{r}: {money(v, plan.cur)} (purchases, processing, capacity)"]) for r, v in items])
    return Chart("spend", "Where the money goes: spend by region",
                 "Left: purchase spend per order period (expected over futures, undiscounted), stacked by the "
                 "supplier's region. Right: expected spend by region over the horizon, including processing and "
                 "capacity builds.", [Panel(f"Purchases per period ({plan.cur})", traces), total], columns=2,
                 panel_height=280)


def chart_costs(plan: Plan) -> Chart:
    s = plan.summary
    scen = s.get("scenarios") or {}
    if not scen:
        return Chart("costs", "Cost distribution", "", [], empty="No futures in summary.json.")
    alpha = float(s.get("cvar_alpha", 0.95))
    traces = []
    others = [k for k in plan.scenarios if k not in plan.named]
    if others:
        traces.append(Trace(f"{len(others)} other futures", [scen[k]["cost"] for k in others],
                            [scen[k]["probability"] for k in others], OTHER_FUTURES, kind="marker",
                            size=[6] * len(others),
                            hover=[f"{k}<br>cost {money(scen[k]['cost'], plan.cur)}, p = {scen[k]['probability']:.4f}"
                                   for k in others]))
    for k in _futures_drawn(plan):
        c, p = scen[k]["cost"], scen[k]["probability"]
        traces.append(Trace(k, [c], [p], plan.color(k), kind="marker", group=k, size=[10 + 30 * p ** 0.5],
                            hover=[f"{k}<br>cost {money(c, plan.cur)}<br>probability {p:.3f}"]))
    exp, cvar = float(s["expected_cost"]), float(s["cvar"])
    panel = Panel(f"Discounted cost of each future ({plan.cur}) against its probability",
                  traces, y_title="probability", x_title=f"cost ({plan.cur}, discounted)",
                  vlines=[(exp, f"expected {money(exp, plan.cur)}", "#1f2937", "dash"),
                          (cvar, f"CVaR {pct(alpha)} {money(cvar, plan.cur)}", "#6b7280", "dot")])
    return Chart("costs", "Risk: the cost of each future",
                 f"Each dot is one future: its total discounted cost (money and penalties) and its probability. "
                 f"Dashed: expected cost; dotted: CVaR {pct(alpha)}, the average cost of the worst "
                 f"{pct(1 - alpha)} of outcomes.", [panel], panel_height=280)


def chart_shadow_prices(plan: Plan) -> Chart:
    pr = plan.table("prices")
    mats = [m for m in plan.materials if m in set(pr["material"])][:MAX_PANELS]
    weights = plan.objective_weight()
    panels = []
    for i, m in enumerate(mats):
        traces = []
        for k in _futures_drawn(plan):
            v = series(pr, plan, k, m, "shadow_price")
            traces.append(Trace(k, plan.labels, list(v), plan.color(k), kind="step", group=k, legend=i == 0,
                                width=3.0 if k == plan.reference else 2.0,
                                hover=[f"{k}<br>{p}: {money(x, plan.cur)} per {plan.unit(m)}"
                                       + (f"<br>(x{weights.get(k, 1.0):.2g} weight of this future)"
                                          if abs(weights.get(k, 1.0) - 1) > 1e-9 else "")
                                       for p, x in zip(plan.labels, v)]))
        panels.append(Panel(f"{m} ({plan.cur} per {plan.unit(m)})", traces, y_zero=False))
    lam = float(plan.summary.get("risk_aversion") or 0.0)
    caption = ("What one more unit of the material in that period and future would lower the objective by, "
               "divided by the future's probability and discount factor so it reads in that period's money. "
               "It includes the penalties the unit would avoid, so it is not a market price.")
    heavy = {k: w for k, w in weights.items() if w > 1 + 1e-9}
    if lam > 0 and heavy:
        alpha = float(plan.summary.get("cvar_alpha") or 0.95)
        words = ", ".join(f"{k} x{w:.2g}" for k, w in sorted(heavy.items(), key=lambda kv: -kv[1])[:4])
        caption += (f" With risk aversion {lam:g} the objective counts the costliest futures (the CVaR {pct(alpha)} "
                    f"tail) more than their probability: {words}; every other future x{1 - lam:.2g}. Their shadow "
                    "prices are scaled by the same factor, so high values in bad futures show what the risk-averse "
                    "objective would pay, not what a unit costs in that future.")
    mip = plan.summary.get("mip")
    if mip:  # a MILP: the duals are those of the LP with every integer fixed (SPEC 4.5)
        caption += f" Read {mip['shadow_prices']}."
    return Chart("shadow_prices", "Why: the value of one more unit (shadow prices)", caption + _short_note(plan),
                 panels, columns=2, panel_height=210,
                 empty="All shadow prices are zero: one more unit of any material would not lower the cost.")


def _tree_rows(plan: Plan) -> tuple[list[str], dict[str, np.ndarray]]:
    """Per future, the y position of its node in each period: the futures sorted by the order they split,
    a node at the mean of the futures through it."""
    d = plan.data
    nodes = d.tree.node_of  # [T, K]
    order = sorted(range(len(d.scenarios)), key=lambda k: tuple(nodes[:, k]))
    leaf_y = {k: float(i) for i, k in enumerate(order)}
    node_y: dict[int, list[float]] = {}
    for k in order:
        for t in range(nodes.shape[0]):
            node_y.setdefault(int(nodes[t, k]), []).append(leaf_y[k])
    mean = {n: float(np.mean(v)) for n, v in node_y.items()}
    names = list(d.scenarios)
    return names, {names[k]: np.array([mean[int(n)] for n in nodes[:, k]]) for k in order}


def chart_tree(plan: Plan) -> Chart:
    """The scenario tree: one line per future, merged while futures cannot be told apart (SPEC 4.1.10)."""
    if plan.data is None or len(plan.scenarios) < 2:
        return Chart("tree", "The scenario tree", "", [], empty="One future: no tree.")
    names, ys = _tree_rows(plan)
    labels = plan.labels
    events = _event_words(plan)
    traces = []
    others = [k for k in sorted(names, key=lambda k: (-plan.prob.get(k, 0.0), k)) if k not in plan.named]
    if others:
        x: list = []
        y: list = []
        for k in others[:MAX_UNNAMED_LINES]:
            x += labels + [None]
            y += list(ys[k]) + [None]
        traces.append(Trace(f"{len(others)} other futures", x, y, OTHER_FUTURES, width=1.0))
    for k in _futures_drawn(plan):
        traces.append(Trace(k, labels, list(ys[k]), plan.color(k), group=k, width=3.0 if k == plan.reference else 2.0,
                            hover=[f"{k} (p = {plan.prob.get(k, 0.0):.3f})<br>{p}" + (f"<br>{events[k]}" if events.get(k)
                                                                                          else "") for p in labels]))
    split = plan.first_split
    vlines = [(split - 0.5, f"first split {labels[split]}", "#6b7280", "dot")] if split is not None else []
    return Chart("tree", "The scenario tree: when the futures can be told apart",
                 "Each line is a future; lines run together while the futures cannot be told apart, so the plan "
                 "takes one decision for all of them there (non-anticipativity). Hover a line for its events."
                 + _short_note(plan),
                 [Panel("futures over time", traces, y_zero=False, y_ticks=False, vlines=vlines)],
                 panel_height=max(180, min(520, 40 * min(len(names), 12))))


def _event_words(plan: Plan) -> dict[str, str]:
    """Per future, its events in words: from tree.json occurrences, else the scenario's events."""
    out: dict[str, str] = {}
    if plan.tree:
        for s in plan.tree.get("scenarios") or []:
            occ = s.get("occurrences") or []
            out[s.get("name")] = "; ".join(f"{o['event']} from {o['from']}" + (f" until {o['until']}" if o.get("until")
                                                                              else "") for o in occ) or "no event"
        return out
    for case in (plan.folder.scenario or {}).get("scenarios") or []:
        if isinstance(case, dict):
            evs = case.get("events") or []
            out[case.get("name")] = "; ".join(
                f"{e.get('type')} {e.get('name') or ''} {_where_words(e.get('where'))}".strip()
                + (f" from {e['from']}" if e.get("from") else "") + (f" until {e['until']}" if e.get("until") else "")
                for e in evs if isinstance(e, dict)) or "no event"
    return out


def _where_words(where) -> str:
    if not isinstance(where, dict) or not where:
        return "(everything)"
    return "(" + ", ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in where.items()) + ")"


def chart_frontier(plan: Plan) -> Chart | None:
    return None if plan.frontier is None else frontier_chart(plan.frontier, plan.cur)


def frontier_chart(f, cur: str) -> Chart:
    """The cost-risk frontier of frontier.csv (a DataFrame): for the report and `optimize frontier`'s
    frontier.png."""
    f = f.sort_values("aversion", kind="stable")
    trace = Trace("frontier", list(f["expected_cost"]), list(f["cvar"]), "#1f2937", kind="line",
                  hover=[f"aversion {a:g}<br>expected {money(e, cur)}<br>CVaR {money(c, cur)}"
                         for a, e, c in zip(f["aversion"], f["expected_cost"], f["cvar"])])
    dots = Trace("aversion points", list(f["expected_cost"]), list(f["cvar"]), "#1f2937", kind="marker",
                 size=[8] * len(f), hover=trace.hover)
    return Chart("frontier", "Risk: the cost-risk frontier (frontier.csv)",
                 "Expected cost against CVaR as risk aversion goes from 0 to 1: more safety costs more on average.",
                 [Panel(f"expected cost vs CVaR ({cur})", [trace, dots], y_zero=False,
                        x_title="expected cost", y_title="CVaR")], panel_height=280)


def stock_during(plan: Plan, k: str, m: str, start: int, end: int) -> tuple[float, float, float]:
    """(stock at the end of the period before `start`, lowest stock in [start, end), shortfall in [start, end))."""
    st = plan.table("stockpile")
    level = series(st, plan, k, m, "level")
    short = series(st, plan, k, m, "shortfall")
    initial = 0.0
    if plan.data is not None:
        initial = float(plan.data.initial[plan.data.materials.index(m)])
    before = float(level[start - 1]) if start > 0 else initial
    during = level[start:end]
    return before, float(during.min()) if during.size else before, float(short[start:end].sum())
