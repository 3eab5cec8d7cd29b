"""report.html in the order a decision-maker reads it: the decision, what it buys, money, risk, why.

Formatting only: every figure comes from the result folder (plan.py) or a chart description
(charts.py). Headline figures carry `data-figure`/`data-value` so a test can compare them with
summary.json; each chart div carries `data-points`, the number of points it draws.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np

from optimizer.report import charts as ch
from optimizer.report.figures import Chart, plotly_json
from optimizer.report.plan import Plan, money, pct, qty, ranges, series
from optimizer.report.rules import RELAX, binding_rules

TOP_RULES = 12

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#1b1f24;margin:0;
background:#f6f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 10px;border-bottom:2px solid #e3e6ea;
padding-bottom:4px}h3{font-size:16px;margin:22px 0 6px}
.sub{color:#59636e;margin:0 0 18px}.lead{font-size:16px;margin:10px 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 18px}
.card{flex:1 1 160px;border:1px solid #e3e6ea;border-radius:8px;padding:10px 14px;background:#fbfcfd}
.card .k{font-size:12px;color:#59636e;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;margin-top:2px}.card .n{font-size:12px;color:#59636e}
.bad .v{color:#b42318}.good .v{color:#1a7f37}.pen .v{color:#6b7280}
table{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0 14px}
th,td{padding:5px 9px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.sub td{color:#59636e}tr.total td{font-weight:600;border-top:2px solid #d0d4da}
figure{margin:12px 0 26px}figure img{max-width:100%;height:auto}figcaption{color:#59636e;font-size:13px;margin-top:4px}
.plot{width:100%;min-height:200px}.fallback{display:none;max-width:100%;height:auto}
.callout{border-left:4px solid #b42318;background:#fdf3f2;padding:8px 12px;margin:8px 0}
.note{border-left:4px solid #9ca3af;background:#f6f7f9;padding:8px 12px;margin:8px 0;font-size:14px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
details{margin:6px 0 14px}summary{cursor:pointer;color:#1f4f8f}
.foot{color:#59636e;font-size:12px;margin-top:36px}code{font-size:90%}
@media print{.plot{display:none}.fallback{display:block}main{max-width:none;padding:0}h2{break-after:avoid}
figure{break-inside:avoid}}
"""
NOSCRIPT = "<noscript><style>.plot{display:none}.fallback{display:block}</style></noscript>"
RENDER = """<script>
(function () {
  var config = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  document.querySelectorAll("div.plot").forEach(function (el) {
    var fig = JSON.parse(document.getElementById(el.id + "-data").textContent);
    Plotly.newPlot(el, fig.data, fig.layout, config).then(function (gd) {
      var n = 0;
      gd.data.forEach(function (t) { (t.y || []).forEach(function (v) { if (v !== null) { n += 1; } }); });
      gd.setAttribute("data-rendered", String(n));
    });
  });
})();
</script>"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def table(headers: list[str], rows: list[list[str]], numeric: set[int], row_class: list[str] | None = None) -> str:
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for j, r in enumerate(rows):
        cls = f' class="{row_class[j]}"' if row_class and row_class[j] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                          for i, c in enumerate(r)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(key: str, value: float, text: str) -> str:
    """A headline figure, tagged with the summary.json key and the exact value it shows."""
    return f'<span data-figure="{esc(key)}" data-value="{value!r}">{esc(text)}</span>'


def card(title: str, key: str, value: float, text: str, note: str, cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="k">{esc(title)}</div><div class="v">{figure(key, value, text)}'
            f'</div><div class="n">{esc(note)}</div></div>')


def chart_html(chart: Chart, png: bytes) -> str:
    """The interactive chart, its PNG (print and no-JavaScript fallback) and its caption."""
    if not chart.points:
        return f'<p class="note">{esc(chart.empty)}</p>'
    b64 = base64.b64encode(png).decode()
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return (f'<figure id="figure-{chart.key}"><div class="plot" id="chart-{chart.key}" data-points="{chart.points}">'
            f'</div><script type="application/json" id="chart-{chart.key}-data">{plotly_json(chart)}</script>'
            f'<img class="fallback" src="data:image/png;base64,{b64}" width="{w}" height="{h}" '
            f'alt="{esc(chart.title)}"><figcaption><b>{esc(chart.title)}.</b> {esc(chart.caption)}</figcaption></figure>')


# --- 1. the decision -------------------------------------------------------------------------------------


def _fiscal_spend(plan: Plan) -> dict[str, float]:
    """Cash out in the fiscal-year periods per future: purchases + processing + capex (undiscounted)."""
    _name, periods = plan.fiscal_year
    chosen = {plan.labels[t] for t in periods if t < len(plan.labels)}
    out = {k: 0.0 for k in plan.scenarios}
    for name in ("purchases", "processing", "expansion"):
        df = plan.table(name)
        if name == "processing" and not df.empty:
            df = df[df["flow"] == "input"]
        rows = df[df["period"].isin(chosen)]
        for k, v in rows.groupby("scenario")["spend"].sum().items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def decision_section(plan: Plan) -> list[str]:
    cur, labels = plan.cur, plan.labels
    now = plan.decide_now
    split = plan.first_split
    ref = plan.reference
    out = ["<h2>1. The decision: what to do now</h2>"]
    if split is None:
        out.append(f"<p>One future: the orders of {esc(plan.fiscal_year[0])} ({esc(ranges(now, labels))}) are "
                   "the ones to act on before the plan is solved again.</p>")
    elif split == 0:
        out.append(f"<p>The futures differ from the first period ({esc(labels[0])}): no order is common to all of "
                   f"them. The orders of the first period in the reference future <i>{esc(ref)}</i> follow.</p>")
    else:
        out.append(f"<p>Every future looks the same until <b>{esc(labels[split])}</b>, so the decisions of "
                   f"<b>{esc(ranges(now, labels))}</b> are taken now, whatever happens later (they are the same in "
                   "every future of the plan).</p>")
    chosen = {labels[t] for t in now}
    p = plan.table("purchases")
    orders = p[(p["scenario"] == ref) & p["period"].isin(chosen)]
    if orders.empty:
        out.append("<p>No order is placed in these periods.</p>")
    else:
        pos = {lab: i for i, lab in enumerate(labels)}
        g = orders.assign(t=orders["period"].map(pos)).groupby(["source", "material", "region", "country"],
                                                                as_index=False).agg(
            quantity=("quantity", "sum"), spend=("spend", "sum"), periods=("t", list),
            arrivals=("arrival_period", lambda a: sorted({x for x in a if x})))
        g = g.sort_values(["spend", "source"], ascending=[False, True], kind="stable")
        rows = [[f'<b>{esc(r.source)}</b>', esc(r.material), esc(f"{r.region} ({r.country})"),
                 esc(f"{qty(r.quantity)} {plan.unit(r.material)}"), esc(money(r.spend, cur)),
                 esc(ranges(r.periods, labels, limit=2)),
                 esc(", ".join(r.arrivals[:2]) + (" ..." if len(r.arrivals) > 2 else "") if r.arrivals
                     else "stopped by a ban on arrival")] for r in g.itertuples()]
        total = float(g["spend"].sum())
        out.append(f"<h3>Orders to place now: {figure('decide_now_orders', total, money(total, cur))}</h3>")
        out.append(table(["source", "material", "region", "quantity", "spend", "ordered", "arrives"], rows, {3, 4}))
    proc = plan.table("processing")
    proc = proc[(proc["scenario"] == ref) & proc["period"].isin(chosen) & (proc["flow"] == "input")] \
        if not proc.empty else proc
    if not proc.empty:
        g = proc.groupby(["processor", "material"], as_index=False)[["quantity", "spend"]].sum()
        out.append("<h3>Processing now</h3>")
        out.append(table(["processor", "input", "quantity", "cost"],
                         [[esc(r.processor), esc(r.material), esc(f"{qty(r.quantity)} {plan.unit(r.material)}"),
                           esc(money(r.spend, cur))] for r in g.itertuples()], {2, 3}))
    out += _builds(plan, chosen)
    name, periods = plan.fiscal_year
    fy = _fiscal_spend(plan)
    vals = [fy[k] for k in plan.scenarios]
    expected = sum(plan.prob.get(k, 0.0) * v for k, v in fy.items())
    words = (f"<b>{figure('fiscal_year_spend', expected, money(expected, cur))}</b>"
             + ("" if max(vals) - min(vals) <= 1e-6 * max(1.0, abs(max(vals)))
                else f" in expectation ({money(min(vals), cur)} to {money(max(vals), cur)} across futures)"))
    budget = ""
    d = plan.data
    if d is not None and name in d.budget_names:
        budget = f" against the budget <i>{esc(name)}</i> of {esc(money(float(d.budget_amount[d.budget_names.index(name)]), cur))}"
    out.append(f"<p><b>Spend this fiscal year</b> ({esc(name)}, {esc(ranges(periods, labels))}): {words}"
               f"{budget} (purchases, processing and capacity, undiscounted).</p>")
    return out


def _builds(plan: Plan, now: set[str]) -> list[str]:
    e = plan.table("expansion")
    if e.empty:
        return ["<h3>Capacity builds</h3><p>The plan builds no capacity in any future.</p>"]
    n = len(plan.scenarios)
    rows = []
    g = e.groupby(["period", "kind", "entity", "built", "capex", "spend", "usable_from"], as_index=False,
                  sort=False).agg(futures=("scenario", list))
    g = g.sort_values(["period", "entity"], kind="stable")
    for r in g.itertuples():
        who = f"all {n} futures" if len(r.futures) == n and n > 1 else ", ".join(r.futures[:3]) + (
            f" and {len(r.futures) - 3} more" if len(r.futures) > 3 else "")
        when = "<b>now</b>" if r.period in now else esc(r.period)
        rows.append([f"<b>{esc(r.entity)}</b> ({esc(r.kind)})", when, esc(qty(r.built) + " per period"),
                     esc(money(r.spend, plan.cur)), esc(f"{money(r.capex, plan.cur)} per unit/period"),
                     f"<b>{esc(r.usable_from)}</b>", esc(who)])
    now_capex = float(g[g["period"].isin(now)].drop_duplicates(["period", "entity"])["spend"].sum())
    return [f"<h3>Capacity builds (decided now: {figure('decide_now_capex', now_capex, money(now_capex, plan.cur))})"
            "</h3>",
            table(["build", "decided", "capacity", "capex", "unit capex", "usable from", "in"], rows, {2, 3, 4})]


# --- 2. what it buys -------------------------------------------------------------------------------------


def buys_section(plan: Plan, drawn: dict[str, tuple[Chart, bytes]]) -> list[str]:
    out = ["<h2>2. What it buys: stock and shortfall in each future</h2>", _legend(plan)]
    out.append(chart_html(*drawn["stock"]))
    out += _shortfall_words(plan)
    if drawn["shortfall"][0].points:
        out.append(chart_html(*drawn["shortfall"]))
    if len(plan.scenarios) > 1:
        out.append("<h3>The futures and how the plan responds</h3>")
        out.append(chart_html(*drawn["tree"]))
        out += _responses(plan)
    return out


def _legend(plan: Plan) -> str:
    items = "".join(f'<span style="margin-right:14px"><span class="swatch" style="background:{plan.color(k)}"></span>'
                    f'{esc(k)} (p = {plan.prob.get(k, 0.0):.3f}){" reference" if k == plan.reference else ""}</span>'
                    for k in plan.named)
    return f'<p class="sub">Futures, one colour each in every chart: {items}</p>'


def _shortfall_words(plan: Plan) -> list[str]:
    st = plan.table("stockpile")
    months = int(plan.summary.get("period_months") or 1)
    per_year = 12 / months
    lines = []
    for m in ch.shortfall_materials(plan):
        by = {k: series(st, plan, k, m, "shortfall") for k in plan.scenarios}
        worst = max(plan.scenarios, key=lambda k: (by[k].sum(), k))
        short = by[worst]
        demand = series(st, plan, worst, m, "demand")
        year = demand.sum() / max(len(demand) / per_year, 1e-9)
        when = [int(t) for t in np.flatnonzero(short > 0)]
        expected = float((plan.summary.get("shortfall_by_material") or {}).get(m, 0.0))
        futures = sum(1 for k in plan.scenarios if by[k].sum() > 0)
        share = f", {pct(short.sum() / year)} of a year's demand" if year > 0 else ""
        lines.append(f"<li><b>{esc(m)}</b>: worst in <i>{esc(worst)}</i> (p = {plan.prob.get(worst, 0):.3f}), "
                     f"{esc(qty(float(short.sum())))} {esc(plan.unit(m))} unmet{share}, "
                     f"{esc(ranges(when, plan.labels))}; short in {futures} of {len(plan.scenarios)} futures, "
                     f"{esc(qty(expected))} {esc(plan.unit(m))} in expectation.</li>")
    if not lines:
        return ['<p class="note"><b>No shortfall</b>: every future meets all demand.</p>']
    return [f'<div class="callout"><b>Where demand goes unmet</b><ul>{"".join(lines)}</ul></div>']


def _occurrences(plan: Plan) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """(event, [(future, first period, end period)]): from tree.json's occurrences, else each future other
    than the reference as one disruption from the period it splits from the reference to its last event."""
    pos = {lab: i for i, lab in enumerate(plan.labels)}
    T = len(plan.labels)
    events: dict[str, list[tuple[str, int, int]]] = {}
    if plan.tree:
        for s in plan.tree.get("scenarios") or []:
            for o in s.get("occurrences") or []:
                start = _period_at(o.get("from"), pos)
                end = _period_at(o.get("until"), pos) if o.get("until") else T
                events.setdefault(o["event"], []).append((s["name"], start, end))
        return sorted(events.items())
    d = plan.data
    if d is None:
        return []
    nodes = d.tree.node_of
    r = d.scenarios.index(plan.reference)
    for case in (plan.folder.scenario or {}).get("scenarios") or []:
        k = case.get("name") if isinstance(case, dict) else None
        if k not in d.scenarios or k == plan.reference:
            continue
        differs = np.flatnonzero(nodes[:, d.scenarios.index(k)] != nodes[:, r])
        if not differs.size:
            continue
        untils = [e.get("until") for e in case.get("events") or [] if isinstance(e, dict)]
        end = T if not untils or any(u is None for u in untils) else max(_period_at(u, pos) for u in untils)
        events[k] = [(k, int(differs[0]), max(end, int(differs[0]) + 1))]
    return list(events.items())


def _period_at(month: str | None, pos: dict[str, int]) -> int:
    """Index of the period that starts at or contains `month` (YYYY-MM)."""
    labels = sorted(pos, key=pos.get)
    if month is None:
        return 0
    inside = [pos[lab] for lab in labels if lab <= month]
    return inside[-1] if inside else 0


def _responses(plan: Plan) -> list[str]:
    """Per event: stock of each affected material before it starts and at its lowest during it."""
    rows = []
    for event, occ in _occurrences(plan):
        p_total = sum(plan.prob.get(k, 0.0) for k in {k for k, _, _ in occ})
        for m in plan.stocked:
            before = low = short = 0.0
            weight = 0.0
            for k, start, end in occ:
                b, lo, s = ch.stock_during(plan, k, m, start, end)
                w = plan.prob.get(k, 0.0)
                before, low, short, weight = before + w * b, low + w * lo, short + w * s, weight + w
            if weight <= 0:
                continue
            before, low, short = before / weight, low / weight, short / weight
            if before - low <= 1e-6 * max(1.0, before) and short <= 1e-9:
                continue
            drawn = before - low
            starts = sorted({plan.labels[s] for _, s, _ in occ if s < len(plan.labels)})
            rows.append([esc(event), esc(f"{pct(p_total)}; starts {', '.join(starts[:3])}"
                                         + (" ..." if len(starts) > 3 else "")), esc(m),
                         esc(f"{qty(before)}"), esc(f"{qty(low)}"),
                         esc(f"{qty(drawn)} ({pct(drawn / before)})" if before > 0 else qty(drawn)),
                         esc(qty(short))])
    if not rows:
        return ['<p class="note">No event draws on a stockpile or leaves demand unmet.</p>']
    return ["<p>For each event, the stock of each material it touches at the end of the period before it starts, "
            "its lowest level while the event lasts, and the demand left unmet meanwhile (averaged over the futures "
            "in which the event happens, weighted by probability; units of the material).</p>",
            table(["event", "probability", "material", "stock before", "lowest during", "drawn down",
                   "unmet during"], rows, {3, 4, 5, 6})]


# --- 3. money --------------------------------------------------------------------------------------------

TERM_ORDER = (("purchases", "purchases (landed, delivered)"), ("tariffs", "  of which tariffs"),
              ("processing", "processing"), ("capex", "capacity builds (capex)"), ("fixed_costs", "fixed order costs"),
              ("holding", "holding stock"), ("sales_revenue", "sales (received)"),
              ("end_value", "end value of stock left (received)"))
PENALTY_ORDER = (("shortfall_penalty", "shortfall penalty"), ("target_penalty", "below-target penalty"),
                 ("risk_premium", "risk premium"))


def money_section(plan: Plan, drawn: dict[str, tuple[Chart, bytes]]) -> list[str]:
    s, cur = plan.summary, plan.cur
    cb = s.get("cost_breakdown") or {}
    exp = (cb.get("expected") or {}).get("discounted") or {}
    out = ["<h2>3. Money: what is paid, and what is only a penalty</h2>"]
    cards = [card("Expected cost", "expected_cost", s["expected_cost"], money(s["expected_cost"], cur),
                  "discounted: money + penalties")]
    if exp:
        cards += [card("of which money", "cost_breakdown.expected.discounted.money", exp["money"],
                       money(exp["money"], cur), "paid minus received, discounted"),
                  card("of which penalties", "cost_breakdown.expected.discounted.penalties", exp["penalties"],
                       money(exp["penalties"], cur), "not money: scores that steer the plan", "pen")]
    cards.append(card("Cash spend", "cash_spend", s["cash_spend"], money(s["cash_spend"], cur),
                      "expected, undiscounted purchases, processing, capex"))
    out.append(f'<div class="cards">{"".join(cards)}</div>')
    if exp:
        cols = ["expected"] + [k for k in plan.named if k in (cb.get("scenarios") or {})]
        blocks = [exp] + [cb["scenarios"][k]["discounted"] for k in cols[1:]]
        rows, classes = [], []
        for key, label in TERM_ORDER:
            vals = [float(b.get(key, 0.0)) for b in blocks]
            if any(abs(v) > 0 for v in vals):
                rows.append([esc(label)] + [esc(money(v, cur)) for v in vals])
                classes.append("sub" if key == "tariffs" else "")
        rows.append(["<b>money</b> (paid minus received)"] + [f"<b>{esc(money(b['money'], cur))}</b>" for b in blocks])
        classes.append("total")
        for key, label in PENALTY_ORDER:
            vals = [float(b.get(key, 0.0)) for b in blocks]
            if any(abs(v) > 0 for v in vals):
                rows.append([esc(label)] + [esc(money(v, cur)) for v in vals])
                classes.append("")
        rows.append(["<b>penalties</b> (not money)"] + [f"<b>{esc(money(b['penalties'], cur))}</b>" for b in blocks])
        classes.append("total")
        rows.append(["<b>total</b> = the future's cost"] + [f"<b>{esc(money(b['total'], cur))}</b>" for b in blocks])
        classes.append("total")
        out.append(table(["discounted, " + cur] + cols, rows, set(range(1, len(cols) + 1)), classes))
    stockpile = (plan.analysis or {}).get("stockpile_money")
    if isinstance(stockpile, (int, float)):
        out.append(f"<p><b>The stockpile's own money</b> (from analysis.json): "
                   f"{figure('analysis.stockpile_money', float(stockpile), money(float(stockpile), cur))} in expectation, "
                   "the plan's money minus that of the same plan without stockpile targets and end values.</p>")
    out.append(chart_html(*drawn["money"]))
    out.append(chart_html(*drawn["spend"]))
    return out


# --- 4. risk ---------------------------------------------------------------------------------------------


def risk_section(plan: Plan, drawn: dict[str, tuple[Chart, bytes]]) -> list[str]:
    s, cur = plan.summary, plan.cur
    alpha, lam = float(s.get("cvar_alpha", 0.95)), float(s.get("risk_aversion") or 0.0)
    out = ["<h2>4. Risk: how the cost spreads over the futures</h2>",
           f'<div class="cards">{card(f"CVaR {pct(alpha)}", "cvar", s["cvar"], money(s["cvar"], cur), f"mean cost of the worst {pct(1 - alpha)}")}'
           f'{card("Objective", "objective", s["objective"], money(s["objective"], cur), f"(1 - {lam:g}) x expected + {lam:g} x CVaR")}</div>']
    scen = s.get("scenarios") or {}
    cb = (s.get("cost_breakdown") or {}).get("scenarios") or {}
    if len(scen) > 1:
        rows = []
        shown = plan.named
        for k in shown:
            v = scen[k]
            own = (cb.get(k) or {}).get("discounted") or {}
            short = ", ".join(f"{qty(q)} {plan.unit(m)} {m}" for m, q in sorted((v.get("shortfall") or {}).items())
                              if q > 0) or "none"
            rows.append([f'<span class="swatch" style="background:{plan.color(k)}"></span>{esc(k)}',
                         f"{v['probability']:.3f}", esc(money(v["cost"], cur)),
                         esc(money(own.get("money", 0.0), cur)), esc(money(own.get("penalties", 0.0), cur)), esc(short)])
        out.append(table(["future", "probability", "cost", "money", "penalties", "shortfall"], rows, {1, 2, 3, 4}))
        if len(shown) < len(scen):
            out.append(f'<p class="sub">{len(shown)} of {len(scen)} futures shown (the reference, the costliest and '
                       "the most probable); all are in summary.json.</p>")
        out += _ties(plan)
    out.append(chart_html(*drawn["costs"]))
    if "frontier" in drawn:
        out.append(chart_html(*drawn["frontier"]))
    out += _analytics(plan)
    return out


def _ties(plan: Plan) -> list[str]:
    """Futures with the same cost, explained: under risk aversion the CVaR term evens out the tail."""
    scen = plan.summary.get("scenarios") or {}
    lam = float(plan.summary.get("risk_aversion") or 0.0)
    weights = plan.objective_weight()
    costs = sorted(((scen[k]["cost"], k) for k in plan.named), reverse=True)
    groups: list[list[str]] = []
    for (c, k), (c2, k2) in zip(costs, costs[1:]):
        if abs(c - c2) <= 1e-7 * max(abs(c), 1.0):
            if groups and groups[-1][-1] == k:
                groups[-1].append(k2)
            else:
                groups.append([k, k2])
    out = []
    for g in groups:
        names = ", ".join(f"<i>{esc(k)}</i>" for k in g)
        if lam > 0 and any(weights.get(k, 1.0) > 1 for k in g):
            out.append(f'<p class="note">{names} cost the same. With risk aversion the objective weighs the CVaR '
                       "tail: lowering the costliest future alone would only make the next one the worst, so the plan "
                       "brings the tail futures down together until their costs meet.</p>")
        else:
            out.append(f'<p class="note">{names} cost the same: what differs between them does not change the plan '
                       "or its cost.</p>")
    return out


def _analytics(plan: Plan) -> list[str]:
    """analysis.json (`--analyze`) in plain words (`analytics.plain_words`, as in the terminal), each
    with its definition; the headline figures marked for the page's checks."""
    a = plan.analysis
    if not a:
        return []
    from optimizer.analytics import plain_words

    cur = plan.cur
    marked = [f'<span class="sub">{esc(text)}: {figure("analysis." + key, float(a[key]), money(float(a[key]), cur))}</span>'
              for key, text in (("evpi", "EVPI"), ("value_of_hedging", "value of hedging"),
                                ("cost_of_risk_aversion", "cost of risk aversion"))
              if isinstance(a.get(key), (int, float))]
    items = "".join(f'<li>{esc(sentence)}<br><span class="sub">{esc(definition)}</span></li>'
                    for sentence, definition in plain_words(a, lambda x: money(x, cur)))
    return ["<h3>Decision analytics (analysis.json)</h3>",
            '<p class="sub">How each figure is computed: docs/analytics.md.</p>',
            f"<ul>{items}</ul>" if items else "", f"<p>{' &middot; '.join(marked)}</p>" if marked else ""]


# --- 5. why ----------------------------------------------------------------------------------------------


def why_section(plan: Plan, drawn: dict[str, tuple[Chart, bytes]]) -> list[str]:
    out = ["<h2>5. Why: the rules that shape the plan, and the assumptions</h2>"]
    if plan.data is None:
        out.append("<p>scenario.json is missing or invalid: binding rules cannot be computed.</p>")
    else:
        rules = binding_rules(plan)
        if not rules:
            out.append("<p>No budget, share limit or capacity is at its bound.</p>")
        else:
            out.append(f"<p>Rules the plan runs up against, the most valuable to relax first: <i>worth</i> is what "
                       f"{pct(RELAX)} more of the rule would lower the objective by (first order, from the shadow "
                       "prices and marginal values; share limits are not priced).</p>")

            def row(r: dict) -> list[str]:
                worth = "not priced" if r["worth"] is None else money(r["worth"], plan.cur)
                return [f"<b>{esc(r['rule'])}</b>", esc(r["kind"]), esc(worth), esc(r["detail"]), esc(r["where"])]

            headers = ["rule", "kind", f"worth ({pct(RELAX)} more)", "what", "where it binds"]
            out.append(table(headers, [row(r) for r in rules[:TOP_RULES]], {2}))
            if len(rules) > TOP_RULES:
                out.append(f"<details><summary>{len(rules) - TOP_RULES} more binding rules</summary>"
                           f"{table(headers, [row(r) for r in rules[TOP_RULES:]], {2})}</details>")
    out += _marginal_words(plan)
    out.append(chart_html(*drawn["shadow_prices"]))
    out += assumptions(plan)
    return out


def _marginal_words(plan: Plan) -> list[str]:
    values = plan.summary.get("marginal_values") or {}
    cur = plan.cur
    lines = []
    for name, value in sorted((values.get("budgets") or {}).items(), key=lambda kv: -kv[1]):
        if value > 1e-9:
            lines.append(f"One more {money(1e6, cur)} in budget <b>{esc(name)}</b> would lower the objective by "
                         f"{esc(money(1e6 * value, cur))}.")
    for material, value in sorted((values.get("stock_capacity") or {}).items(), key=lambda kv: -kv[1]):
        if value > 1e-9:
            lines.append(f"One more {esc(plan.unit(material))} of <b>{esc(material)}</b> storage capacity (in every "
                         f"period) would lower the objective by {esc(money(value, cur))}.")
    return ["<ul>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>"] if lines else []


def _window(rule: dict) -> str:
    a, b = rule.get("from"), rule.get("until")
    return ("from " + a if a else "") + (" until " + b if b else "") or "whole horizon"


def assumptions(plan: Plan) -> list[str]:
    """The inputs a reader should question first, read from scenario.json."""
    sc = plan.folder.scenario or {}
    cur = plan.cur
    out = ["<h3>Key assumptions</h3>"]
    if sc.get("description"):
        out.append(f'<p class="sub">{esc(sc["description"])}</p>')
    rules = [(r, "every future") for r in sc.get("policies") or [] if isinstance(r, dict)]
    for case in sc.get("scenarios") or []:
        if isinstance(case, dict):
            rules += [(e, f"future {case.get('name')}") for e in case.get("events") or [] if isinstance(e, dict)]
    for ev in ((sc.get("disruptions") or {}).get("events") or []):
        if isinstance(ev, dict):
            rules += [(e, f"event {ev.get('name')}") for e in ev.get("effects") or [] if isinstance(e, dict)]
    rows = []
    for r, where in rules:
        kind = r.get("type")
        what = {"tariff": lambda: f"rate {pct(float(r.get('rate', 0)))}",
                "ban": lambda: f"on {r.get('on') or 'order'}",
                "price": lambda: f"price x{r.get('multiplier')}", "capacity": lambda: f"capacity x{r.get('multiplier')}",
                "demand": lambda: f"demand x{r.get('multiplier')}", "release": lambda: "stockpile target suspended",
                }.get(kind, lambda: "")()
        rows.append([esc(kind), esc(r.get("name") or ""), esc(what), esc(ch._where_words(r.get("where"))),
                     esc(_window(r)), esc(where)])
    if rows:
        out.append(table(["rule", "name", "what", "applies to", "when", "in"], rows, set()))
    mats = [m for m in sc.get("materials") or [] if isinstance(m, dict)]
    rows = []
    for m in mats:
        stock = m.get("stockpile") or {}
        if not m.get("shortfall_penalty") and not stock:
            continue
        u = m.get("unit") or "unit"
        target = stock.get("target")
        rows.append([esc(m["id"]), esc(f"{money(float(m.get('shortfall_penalty') or 0), cur)}/{u}"),
                     esc("-" if not target else (f"{qty(float(target))} {u}" if isinstance(target, (int, float))
                                                 else "a series")),
                     esc(f"{money(float(stock.get('target_penalty') or 0), cur)}/{u}/period"
                         if stock.get("target_penalty") else "-"),
                     esc(f"{money(float(stock.get('end_value') or 0), cur)}/{u}" if stock else "-")])
    if rows:
        out.append("<p>Penalties steer the plan but are not paid: a unit short costs the shortfall penalty, a unit "
                   "below target the target penalty per period.</p>")
        out.append(table(["material", "shortfall penalty", "target", "target penalty", "end value"], rows,
                         {1, 2, 3, 4}))
    cases = [c for c in sc.get("scenarios") or [] if isinstance(c, dict)]
    if cases:
        out.append("<p><b>Probabilities of the futures</b> (as written in the scenario file): " + ", ".join(
            f"{esc(c.get('name'))} {float(c.get('probability', 0)):.3g}" for c in cases) + ".</p>")
    dis = sc.get("disruptions") or {}
    if dis:
        evs = [e for e in dis.get("events") or [] if isinstance(e, dict)]
        out.append("<p><b>Disruption process</b> (tree generated by stage of a " + esc(dis.get("stage", "year"))
                   + "): " + "; ".join(f"{esc(e.get('name'))}: {pct(float(e.get('annual_probability', 0)))} a year, "
                                       f"lasting {esc(e.get('duration'))} stages"
                                       + (f", not before {esc(e['earliest'])}" if e.get("earliest") else "")
                                       for e in evs) + ".</p>")
    risk = sc.get("risk") or {}
    horizon = sc.get("horizon") or {}
    out.append(f"<p><b>Risk and money</b>: risk aversion {esc(risk.get('aversion', 0))}, CVaR level "
               f"{esc(risk.get('alpha', 0.95))}, risk premium {esc(risk.get('premium', 0))} per unit of risk score; "
               f"discount rate {esc(horizon.get('discount_rate', 0))} a year; money in {esc(cur)}. Sources and "
               "reasons for each figure are in the comments of the scenario file.</p>")
    return out


# --- the page --------------------------------------------------------------------------------------------


def render_html(plan: Plan, drawn: dict[str, tuple[Chart, bytes]], plotly_js: str) -> str:
    s, cur = plan.summary, plan.cur
    name = s.get("name") or plan.folder.label
    desc = (plan.folder.scenario or {}).get("description")
    months = int(s.get("period_months") or 1)
    unit = {1: "month", 3: "quarter", 12: "year"}.get(months, f"{months}-month period")
    n = int(s.get("periods") or len(plan.labels))
    exp = ((s.get("cost_breakdown") or {}).get("expected") or {}).get("discounted")
    lead = (f"Plan over {n} {unit}{'s' if n != 1 else ''} from {esc(s.get('start'))} against "
            f"{len(plan.scenarios)} future{'s' if len(plan.scenarios) != 1 else ''}, status <b>{esc(s['status'])}</b>. "
            f"Expected cost {figure('expected_cost', s['expected_cost'], money(s['expected_cost'], cur))}")
    if exp:
        lead += (f": {figure('cost_breakdown.expected.discounted.money', exp['money'], money(exp['money'], cur))} "
                 f"of money and {figure('cost_breakdown.expected.discounted.penalties', exp['penalties'], money(exp['penalties'], cur))}"
                 " of penalties, which are not money")
    lead += "."
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Stockpile plan: {esc(name)}</title>",
        f"<style>{CSS}</style>", NOSCRIPT, "</head><body><main>",
        f"<h1>Stockpile plan: {esc(name)}</h1>",
        f'<p class="sub">{esc(desc)}</p>' if desc else "",
        f'<p class="lead">{lead}</p>',
        *decision_section(plan),
        *buys_section(plan, drawn),
        *money_section(plan, drawn),
        *risk_section(plan, drawn),
        *why_section(plan, drawn),
        f'<p class="foot">Written by <code>optimize report</code> from the result folder '
        f"<code>{esc(plan.folder.label)}</code>; scenario_sha256 <code>{esc(s.get('scenario_sha256'))}</code>. "
        f"Figures in {esc(cur)}; costs are discounted, cash spend is not. Charts are interactive (hover to read a "
        "value, click a legend entry to hide a future or region); printed, each chart is its PNG in "
        "<code>charts/</code>.</p>",
        "</main>",
        f"<script>{plotly_js}</script>",
        RENDER,
        "</body></html>",
    ]
    return "\n".join(x for x in out if x) + "\n"
