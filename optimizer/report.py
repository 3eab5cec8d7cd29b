"""`optimize report DIR`: DIR/report.html (one self-contained file) and the PNG charts in DIR/charts/.

Reads only the result folder (summary.json, the tables, scenario.json). The HTML has inline CSS and
the charts embedded as base64 data URIs: no network, no JavaScript. Charts are drawn with
matplotlib's Agg canvas (no pyplot, no global backend switch) with fixed sizes and no timestamps,
so the same folder gives the same bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.diff import ResultFolder, ResultFolderError, fmt_amount, load_folder
from optimizer.errors import OptimizerError, UsageError

BIND_TOL = 1e-6  # relative: a rule binds when the plan is within this of its bound
TOP = 12
MAX_PANELS = 12
DPI = 100
REGION_COLORS = {
    "domestic": "#1f77b4",
    "allied": "#2ca02c",
    "deep_sea": "#17becf",
    "other": "#7f7f7f",
    "china": "#d62728",
    "processing": "#9467bd",
    "capex": "#8c564b",
}
SCENARIO_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"]
CHARTS = (
    ("stockpile", "Stockpile level against target"),
    ("purchases", "Purchases per period by region"),
    ("spend", "Spend by region and by source"),
    ("shortfall", "Shortfall by material and scenario"),
    ("costs", "Distribution of scenario costs"),
    ("shadow_prices", "Shadow prices: the value of one more unit"),
)


# --- numbers and words ---------------------------------------------------------------------------


def _money(x: float, cur: str) -> str:
    return f"{fmt_amount(x)} {cur}"


def _qty(x: float) -> str:
    if abs(x) >= 1e6:
        return fmt_amount(x)
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def _short(x: float, _pos: Any = None) -> str:
    """Axis tick: 1.5e9 -> 1.5bn, 2e6 -> 2M, 3000 -> 3k."""
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def _pct(x: float) -> str:
    return f"{x:.0%}".replace("%", " %")


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _ranges(indices: list[int], labels: list[str]) -> str:
    """[0,1,2,5] -> `2026-01 to 2026-07, 2027-04 (4 periods)`."""
    idx = sorted(set(indices))
    if not idx:
        return ""
    runs: list[tuple[int, int]] = []
    start = prev = idx[0]
    for i in idx[1:]:
        if i != prev + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    parts = [labels[a] if a == b else f"{labels[a]} to {labels[b]}" for a, b in runs]
    if len(parts) > 3:
        parts = parts[:3] + ["..."]
    n = len(idx)
    return f"{', '.join(parts)} ({n} period{'s' if n != 1 else ''})"


# --- what the report is built from ---------------------------------------------------------------


@dataclass
class Plan:
    """A result folder plus what the report derives from it."""

    folder: ResultFolder
    labels: list[str]
    scenarios: list[str]
    prob: dict[str, float]
    units: dict[str, str]
    materials: list[str]
    stocked: list[str]
    data: Any  # optimizer.data.ModelData, or None without a valid scenario.json

    @property
    def summary(self) -> dict:
        return self.folder.summary

    @property
    def cur(self) -> str:
        return self.folder.currency

    def table(self, name: str) -> pd.DataFrame:
        return self.folder.tables[name]

    def color(self, scenario: str) -> str:
        return SCENARIO_COLORS[self.scenarios.index(scenario) % len(SCENARIO_COLORS)] \
            if scenario in self.scenarios else "#333333"


def _period_labels(summary: dict) -> list[str]:
    start = str(summary.get("start") or "")
    periods, months = int(summary.get("periods") or 0), int(summary.get("period_months") or 1)
    try:
        year, month = int(start[:4]), int(start[5:7])
    except ValueError:
        return []
    first = year * 12 + month - 1
    return [f"{(first + t * months) // 12:04d}-{(first + t * months) % 12 + 1:02d}" for t in range(periods)]


def load_plan(folder: ResultFolder) -> Plan:
    s = folder.summary
    if s.get("objective") is None:
        raise ResultFolderError(f"{folder.path}: status {s.get('status')}, no plan to report on")
    labels = _period_labels(s)
    for name in ("stockpile", "purchases", "prices"):  # periods the summary does not know about
        extra = sorted(set(folder.tables[name]["period"]) - set(labels))
        labels += [p for p in extra if p]
    sc = folder.scenario or {}
    scen_summary = s.get("scenarios") or {}
    cases = [c.get("name") for c in (sc.get("scenarios") or []) if isinstance(c, dict)]
    scenarios = [c for c in cases if c in scen_summary] + [c for c in scen_summary if c not in cases]
    prob = {k: float(v.get("probability", 0.0)) for k, v in scen_summary.items()}
    mats = [m for m in (sc.get("materials") or []) if isinstance(m, dict)]
    materials = [m["id"] for m in mats]
    for name in ("stockpile", "prices", "purchases"):
        materials += [m for m in sorted(set(folder.tables[name]["material"])) if m not in materials]
    stocked = [m["id"] for m in mats if m.get("stockpile") is not None] if mats else [
        m for m in materials if m in set(folder.tables["stockpile"].query("level != 0 or target != 0")["material"])]
    data = None
    if folder.scenario:
        try:
            from optimizer.checks import validate
            from optimizer.data import build_data

            data = build_data(validate(folder.scenario))
        except OptimizerError:
            data = None
    return Plan(folder, labels, scenarios, prob, folder.units(), materials, stocked, data)


# --- charts --------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return out.getvalue()


def _grid(n: int, width: float = 11.0, row_height: float = 2.6):
    cols = 1 if n == 1 else 2
    rows = max(1, math.ceil(n / cols))
    fig = _figure(width, 1.0 + row_height * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _period_axis(ax, labels: list[str]) -> None:
    step = max(1, math.ceil(len(labels) / 8))
    ticks = list(range(0, len(labels), step))
    ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=8)
    ax.set_xlim(-0.6, max(len(labels) - 0.4, 0.6))


def _empty(message: str):
    fig = _figure(11.0, 1.6)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#444444")
    return fig


def _series(df: pd.DataFrame, plan: Plan, scenario: str, material: str, column: str) -> np.ndarray:
    pos = {p: i for i, p in enumerate(plan.labels)}
    out = np.zeros(len(plan.labels))
    rows = df[(df["scenario"] == scenario) & (df["material"] == material)]
    for p, v in zip(rows["period"], rows[column].astype(float)):
        if p in pos:
            out[pos[p]] = v
    return out


def _legend(fig, axes, ncol: int | None = None) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                   ncol=ncol or min(len(labels), 6), fontsize=9, frameon=False)


def chart_stockpile(plan: Plan):
    mats = plan.stocked[:MAX_PANELS]
    if not mats:
        return _empty("No material has a stockpile in this plan.")
    st = plan.table("stockpile")
    fig, axes = _grid(len(mats))
    x = np.arange(len(plan.labels))
    for ax, m in zip(axes, mats):
        for j, k in enumerate(plan.scenarios):  # later scenarios thinner: equal stretches stay visible
            ax.plot(x, _series(st, plan, k, m, "level"), color=plan.color(k), lw=max(3.2 - 0.8 * j, 1.2),
                    label=f"level: {k}", drawstyle="steps-mid")
        targets = [_series(st, plan, k, m, "target") for k in plan.scenarios] or [np.zeros(len(x))]
        ax.plot(x, np.max(targets, axis=0), color="black", lw=1.2, ls="--", label="target")
        for k, target in zip(plan.scenarios, targets):  # a release rule suspends it in some scenarios
            if not np.array_equal(target, np.max(targets, axis=0)):
                ax.plot(x, target, color=plan.color(k), lw=1.0, ls=":", label=f"target in force: {k}",
                        drawstyle="steps-mid")
        unit = plan.units.get(m, "")
        ax.set_title(f"{m}" + (f" ({unit})" if unit else ""), fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(_short)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        _period_axis(ax, plan.labels)
    _legend(fig, axes)
    fig.suptitle("End-of-period stock per material, each scenario, against the target (dashed; dotted where a "
                 "release rule suspends it)", fontsize=11)
    return fig


def chart_purchases(plan: Plan):
    p = plan.table("purchases")
    if p.empty:
        return _empty("The plan buys nothing.")
    regions = [r for r in REGION_COLORS if r in set(p["region"])] + sorted(set(p["region"]) - set(REGION_COLORS))
    panels = plan.scenarios if len(plan.scenarios) <= 6 else ["expected"]
    fig = _figure(11.0, 1.2 + 2.2 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True, sharey=True).ravel()
    pos = {lab: i for i, lab in enumerate(plan.labels)}
    x = np.arange(len(plan.labels))
    for ax, k in zip(axes, panels):
        if k == "expected":
            rows = p.assign(spend=p["spend"] * p["scenario"].map(plan.prob).fillna(0.0))
        else:
            rows = p[p["scenario"] == k]
        bottom = np.zeros(len(x))
        for r in regions:
            vals = np.zeros(len(x))
            sel = rows[rows["region"] == r].groupby("period")["spend"].sum()
            for per, v in sel.items():
                if per in pos:
                    vals[pos[per]] = v
            ax.bar(x, vals, bottom=bottom, color=REGION_COLORS.get(r, "#aaaaaa"), label=r, width=0.8)
            bottom += vals
        ax.set_title("expected over scenarios" if k == "expected" else f"scenario {k}", fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(_short)
        ax.grid(axis="y", alpha=0.3)
        _period_axis(ax, plan.labels)
    _legend(fig, axes)
    fig.suptitle(f"Purchase spend per order period, stacked by region ({plan.cur})", fontsize=11)
    return fig


def source_spend(plan: Plan) -> pd.DataFrame:
    """Expected (probability-weighted) purchase spend and quantity per source."""
    p = plan.table("purchases")
    if p.empty:
        return pd.DataFrame(columns=["source", "material", "region", "spend", "quantity"])
    w = p["scenario"].map(plan.prob).fillna(0.0)
    out = p.assign(spend=p["spend"] * w, quantity=p["quantity"] * w).groupby(
        ["source", "material", "region"], as_index=False)[["spend", "quantity"]].sum()
    return out.sort_values(["spend", "source"], ascending=[False, True], kind="stable").reset_index(drop=True)


def chart_spend(plan: Plan):
    regions = {r: v for r, v in (plan.summary.get("spend_by_region") or {}).items() if abs(v) > 0}
    src = source_spend(plan).head(TOP)
    if not regions and src.empty:
        return _empty("No spend in this plan.")
    fig = _figure(11.0, max(3.0, 1.2 + 0.32 * max(len(src), len(regions))))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.5])
    items = sorted(regions.items(), key=lambda kv: kv[1])
    ax1.barh([r for r, _ in items], [v for _, v in items], color=[REGION_COLORS.get(r, "#aaaaaa") for r, _ in items])
    ax1.set_title(f"Expected spend by region ({plan.cur})\npurchases, processing and capacity", fontsize=10,
                  loc="left")
    src = src.iloc[::-1]
    ax2.barh(src["source"], src["spend"], color=[REGION_COLORS.get(r, "#aaaaaa") for r in src["region"]])
    ax2.set_title(f"Expected purchase spend by source ({plan.cur})", fontsize=10, loc="left")
    for ax in (ax1, ax2):
        ax.xaxis.set_major_formatter(_short)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="y", labelsize=9)
    return fig


def chart_shortfall(plan: Plan):
    scen = plan.summary.get("scenarios") or {}
    mats = sorted({m for v in scen.values() for m, q in (v.get("shortfall") or {}).items() if q > 0},
                  key=lambda m: plan.materials.index(m) if m in plan.materials else len(plan.materials))
    if not mats:
        return _empty("No shortfall: every scenario meets all demand.")
    mats = mats[:MAX_PANELS]
    ks = plan.scenarios
    fig = _figure(11.0, max(2.4, 1.3 + 0.3 * len(mats) * len(ks)))
    ax = fig.add_subplot()
    height = 0.8 / max(len(ks), 1)
    y = np.arange(len(mats))
    for j, k in enumerate(ks):
        vals = [float((scen.get(k, {}).get("shortfall") or {}).get(m, 0.0)) for m in mats]
        offset = y + (j - (len(ks) - 1) / 2) * height
        ax.barh(offset, vals, height=height * 0.9, color=plan.color(k),
                label=f"{k} (p = {plan.prob.get(k, 0):.2f})")
        for yy, v in zip(offset, vals):
            if v > 0:
                ax.text(v, yy, f" {_qty(v)}", va="center", fontsize=8)
    ax.set_yticks(y, [f"{m} ({plan.units[m]})" if plan.units.get(m) else m for m in mats])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_short)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.12)
    ax.set_title("Unmet demand over the horizon, by material and scenario", fontsize=11, loc="left")
    _legend(fig, [ax], ncol=min(len(ks), 4))
    return fig


def chart_costs(plan: Plan):
    s = plan.summary
    scen = s.get("scenarios") or {}
    ks = sorted(plan.scenarios, key=lambda k: (scen[k]["cost"], k))
    fig = _figure(11.0, max(2.6, 1.6 + 0.4 * len(ks)))
    ax = fig.add_subplot()
    costs = np.array([scen[k]["cost"] for k in ks], dtype=float)
    probs = np.array([plan.prob.get(k, 0.0) for k in ks])
    y = np.arange(len(ks))
    ax.hlines(y, costs.min() if len(costs) else 0, costs, color="#cccccc", lw=1)
    ax.scatter(costs, y, s=60 + 600 * probs, color=[plan.color(k) for k in ks], zorder=3)
    for yy, c, p in zip(y, costs, probs):
        ax.annotate(f"{_money(c, plan.cur)}, p = {p:.2f}", (c, yy), xytext=(16, 0), textcoords="offset points",
                    va="center", fontsize=9)
    exp, cvar = float(s["expected_cost"]), float(s["cvar"])
    alpha = float(s.get("cvar_alpha", 0.95))
    ax.axvline(exp, color="#1f77b4", ls="--", lw=1.5, label=f"expected cost {_money(exp, plan.cur)}")
    ax.axvline(cvar, color="#d62728", ls=":", lw=2, label=f"CVaR {_pct(alpha)} {_money(cvar, plan.cur)}")
    ax.set_yticks(y, ks)
    ax.set_ylim(-0.7, len(ks) - 0.3)
    lo, hi = min(costs.min(), exp, cvar), max(costs.max(), exp, cvar)
    span = (hi - lo) or max(abs(hi), 1.0) * 0.05
    ax.set_xlim(lo - 0.15 * span, hi + 0.6 * span)
    ax.xaxis.set_major_formatter(_short)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Discounted cost of each scenario (dot size: probability), {plan.cur}", fontsize=11, loc="left")
    _legend(fig, [ax], ncol=2)
    return fig


def chart_shadow_prices(plan: Plan):
    pr = plan.table("prices")
    mats = [m for m in plan.materials if m in set(pr["material"])][:MAX_PANELS]
    if not mats:
        return _empty("All shadow prices are zero: one more unit of any material would not lower the cost.")
    fig, axes = _grid(len(mats))
    x = np.arange(len(plan.labels))
    for ax, m in zip(axes, mats):
        for j, k in enumerate(plan.scenarios):
            ax.plot(x, _series(pr, plan, k, m, "shadow_price"), color=plan.color(k), lw=max(3.2 - 0.8 * j, 1.2),
                    label=k, drawstyle="steps-mid")
        unit = plan.units.get(m, "unit")
        ax.set_title(f"{m} ({plan.cur} per {unit})", fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(_short)
        ax.grid(alpha=0.3)
        _period_axis(ax, plan.labels)
    _legend(fig, axes)
    fig.suptitle("Shadow price of each material per period and scenario (in that period's money)", fontsize=11)
    return fig


CHART_FUNCTIONS = {
    "stockpile": chart_stockpile,
    "purchases": chart_purchases,
    "spend": chart_spend,
    "shortfall": chart_shortfall,
    "costs": chart_costs,
    "shadow_prices": chart_shadow_prices,
}


def render_charts(plan: Plan) -> dict[str, bytes]:
    """Chart name -> PNG bytes (every chart, also when it only says there is nothing to show)."""
    import matplotlib

    out = {}
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False, "svg.hashsalt": "report"}):
        for name, _title in CHARTS:
            out[name] = _png(CHART_FUNCTIONS[name](plan))
    return out


# --- tables --------------------------------------------------------------------------------------


def top_purchases(plan: Plan, n: int = TOP) -> pd.DataFrame:
    """Purchases summed over the horizon per scenario and source, largest spend first."""
    p = plan.table("purchases")
    if p.empty:
        return pd.DataFrame()
    pos = {lab: i for i, lab in enumerate(plan.labels)}
    g = p.assign(t=p["period"].map(pos)).groupby(["scenario", "source", "material", "region"], as_index=False).agg(
        quantity=("quantity", "sum"), spend=("spend", "sum"), first=("t", "min"), last=("t", "max"),
        orders=("t", "size"))
    g["landed"] = g["spend"] / g["quantity"].where(g["quantity"] != 0)
    g = g.sort_values(["spend", "scenario", "source"], ascending=[False, True, True], kind="stable").head(n)
    return g.reset_index(drop=True)


def _by_scenario_and_t(df: pd.DataFrame, plan: Plan, value: str, key: str | None = None) -> dict:
    pos = {lab: i for i, lab in enumerate(plan.labels)}
    out: dict = {}
    cols = ["scenario", "period"] + ([key] if key else [])
    for row in df.groupby(cols, as_index=False)[value].sum().itertuples(index=False):
        t = pos.get(row.period)
        if t is None:
            continue
        out[(row.scenario, t) + ((getattr(row, key),) if key else ())] = float(getattr(row, value))
    return out


def binding_rules(plan: Plan) -> list[dict]:
    """Budgets spent to their amount, share limits at their bound, stocks and sources/processors at capacity.

    Computed from the result tables and the validated scenario (scenario.json); a rule binds when the
    plan is within 1e-6 (relative) of its bound in some scenario and period.
    """
    d = plan.data
    if d is None:
        return []
    labels = list(d.calendar.labels)
    T = len(labels)
    ks = list(d.scenarios)
    rows: list[dict] = []

    def add(kind: str, rule: str, detail: str, hits: dict[str, list[int]]) -> None:
        groups: dict[tuple[int, ...], list[str]] = {}
        for k in ks:
            if hits.get(k):
                groups.setdefault(tuple(sorted(set(hits[k]))), []).append(k)
        for periods, names in groups.items():
            who = "all scenarios" if len(names) == len(ks) and len(ks) > 1 else ", ".join(names)
            rows.append({"kind": kind, "rule": rule, "scenarios": who,
                         "periods": _ranges(list(periods), labels), "detail": detail})

    def near(value: float, bound: float) -> bool:
        return abs(value - bound) <= BIND_TOL * max(abs(bound), 1.0)

    purchases, processing, expansion = plan.table("purchases"), plan.table("processing"), plan.table("expansion")
    stock = plan.table("stockpile")
    unit = dict(zip(d.materials, d.units))

    # budgets: undiscounted purchases + processing + capex in the covered periods, per scenario
    spend = {}
    for df in (purchases, processing[processing["flow"] == "input"] if not processing.empty else processing,
               expansion):
        for key, v in _by_scenario_and_t(df, plan, "spend").items():
            spend[key] = spend.get(key, 0.0) + v
    for b, name in enumerate(d.budget_names):
        covered = np.flatnonzero(d.budget_covers[b])
        amount = float(d.budget_amount[b])
        hits = {}
        for k in ks:
            total = sum(spend.get((k, int(t)), 0.0) for t in covered)
            if total >= amount - BIND_TOL * max(amount, 1.0):
                hits[k] = [int(t) for t in covered]
        add("budget", name, f"spend reaches the amount {_money(amount, d.currency)}", hits)

    # share limits
    qty = _by_scenario_and_t(purchases, plan, "quantity", "source")
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
                def share_at(periods: list[int]) -> tuple[float, float]:
                    tot = sum(qty.get((k, t, s), 0.0) for t in periods for s in of_m)
                    sub = sum(qty.get((k, t, s), 0.0) for t in periods for s in match)
                    return sub, tot
                groups = [covered] if d.limit_over_horizon[lim] else [[t] for t in covered]
                for periods in groups:
                    sub, tot = share_at(periods)
                    if tot > 0 and sign * (sub - bound * tot) >= -BIND_TOL * tot:
                        hits.setdefault(k, []).extend(periods)
            over = "over the horizon" if d.limit_over_horizon[lim] else "per period"
            add("share limit", name, f"{d.materials[m]}: matching sources at the {word} share {_pct(bound)} {over}",
                hits)

    # stock at capacity
    levels = _by_scenario_and_t(stock, plan, "level", "material")
    for m, mat in enumerate(d.materials):
        if not d.has_stock[m]:
            continue
        cap = d.stock_cap[m]
        hits = {}
        for k in ks:
            hits[k] = [t for t in range(T) if np.isfinite(cap[t]) and cap[t] > 0
                       and levels.get((k, t, mat), 0.0) >= cap[t] * (1 - BIND_TOL)]
        finite = cap[np.isfinite(cap)]
        detail = f"stock at its capacity ({_qty(float(finite.max()))} {unit[mat]})" if finite.size else ""
        add("stock capacity", mat, detail, hits)

    # sources and processors at capacity (with any capacity built and usable)
    built: dict[tuple[str, str, int], float] = {}
    if not expansion.empty:
        pos = {lab: i for i, lab in enumerate(labels)}
        for row in expansion.itertuples(index=False):
            t0 = pos.get(row.usable_from)
            if t0 is None:
                continue
            for t in range(t0, T):
                key = (row.scenario, row.entity, t)
                built[key] = built.get(key, 0.0) + float(row.built)
    proc_in = processing[processing["flow"] == "input"] if not processing.empty else processing
    pqty = _by_scenario_and_t(proc_in, plan, "quantity", "processor") if not proc_in.empty else {}
    for kind, names, cap_arr, cmult, used, mat_of in (
        ("source capacity", d.sources, d.src_cap, d.src_cmult, qty, lambda i: d.materials[d.src_material[i]]),
        ("processor capacity", d.processors, d.proc_cap, d.proc_cmult, pqty,
         lambda i: d.materials[d.proc_input[i]]),
    ):
        for i, name in enumerate(names):
            hits = {}
            caps = []
            for kk, k in enumerate(ks):
                ts = []
                for t in range(T):
                    cap = (cap_arr[i, t] + built.get((k, name, t), 0.0)) * cmult[i, t, kk]
                    if not np.isfinite(cap) or cap <= 0:
                        continue
                    if used.get((k, t, name), 0.0) >= cap * (1 - BIND_TOL):
                        ts.append(t)
                        caps.append(cap)
                hits[k] = ts
            what = "buys" if kind == "source capacity" else "processes"
            lo, hi = (min(caps), max(caps)) if caps else (0.0, 0.0)
            amount = _qty(hi) if math.isclose(lo, hi, rel_tol=1e-9) else f"{_qty(lo)} to {_qty(hi)}"
            detail = f"{what} all it can ({amount} {unit[mat_of(i)]} per period)"
            add(kind, name, detail, hits)
    return rows


# --- HTML ----------------------------------------------------------------------------------------


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#1b1f24;margin:0;
background:#f6f7f9;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px;border-bottom:1px solid #e3e6ea;
padding-bottom:4px}
.sub{color:#59636e;margin:0 0 18px}.lead{font-size:16px;margin:10px 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 18px}
.card{flex:1 1 170px;border:1px solid #e3e6ea;border-radius:8px;padding:10px 14px;background:#fbfcfd}
.card .k{font-size:12px;color:#59636e;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:21px;font-weight:600;margin-top:2px}.card .n{font-size:12px;color:#59636e}
.bad .v{color:#b42318}.good .v{color:#1a7f37}
table{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0 14px}
th,td{padding:5px 9px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0 26px}figure img{max-width:100%;height:auto;border:1px solid #eceef1}
figcaption{color:#59636e;font-size:13px;margin-top:4px}
table.rules td:nth-child(-n+2){white-space:nowrap}
.foot{color:#59636e;font-size:12px;margin-top:36px}code{font-size:90%}
"""


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], cls: str = "") -> str:
    head = "".join(f'<th class="num">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(plan: Plan, sources: pd.DataFrame) -> str:
    s, cur = plan.summary, plan.cur
    months = int(s.get("period_months") or 1)
    unit = {1: "month", 3: "quarter", 12: "year"}.get(months, f"{months}-month period")
    n = int(s.get("periods") or len(plan.labels))
    alpha = float(s.get("cvar_alpha", 0.95))
    aversion = float(s.get("risk_aversion", 0.0))
    shortfall = {m: v for m, v in (s.get("shortfall_by_material") or {}).items() if v > 0}
    short_words = ", ".join(f"{_qty(v)} {plan.units.get(m, '')} of {m}".replace("  ", " ")
                            for m, v in sorted(shortfall.items(), key=lambda kv: -kv[1]))
    total = float(sources["spend"].sum()) if not sources.empty else 0.0
    top = sources.head(3)
    top_words = ", ".join(f"<b>{_esc(r.source)}</b> ({_esc(r.region)}, {_esc(_money(r.spend, cur))}"
                          + (f", {_pct(r.spend / total)}" if total > 0 else "") + ")" for r in top.itertuples())
    scen = s.get("scenarios") or {}
    worst = max(scen, key=lambda k: scen[k]["cost"]) if scen else None
    split = ((s.get("cost_breakdown") or {}).get("expected") or {}).get("discounted")  # absent before SPEC v2
    parts = [
        f"Over {n} {unit}{'s' if n != 1 else ''} from {_esc(s.get('start'))}, the plan is "
        f"<b>{_esc(s['status'])}</b> and costs <b>{_esc(_money(s['expected_cost'], cur))}</b> in expectation "
        "(discounted, including holding costs and penalties)"
        + (f": <b>{_esc(_money(split['money'], cur))}</b> of money paid or received and "
           f"<b>{_esc(_money(split['penalties'], cur))}</b> of penalties, which are not money." if split else "."),
        f"In the worst {_pct(1 - alpha)} of outcomes it costs <b>{_esc(_money(s['cvar'], cur))}</b> on average "
        f"(CVaR {_pct(alpha)})" + (f"; the costliest scenario is <i>{_esc(worst)}</i>." if len(scen) > 1 else "."),
        f"It pays out <b>{_esc(_money(s['cash_spend'], cur))}</b> in cash (expected, undiscounted).",
        (f"Demand left unmet (expected): <b>{_esc(short_words)}</b>." if shortfall
         else "<b>No shortfall</b>: every scenario meets all demand."),
    ]
    if top_words:
        parts.append(f"Most purchase money goes to {top_words}.")
    if len(shortfall) > 1:
        short_card, short_note = f"{len(shortfall)} materials", short_words
    elif shortfall:
        short_card, short_note = short_words, "expected"
    else:
        short_card, short_note = "none", "in every scenario"
    cards = [
        ("Objective", _money(s["objective"], cur), f"risk aversion {aversion:g}", ""),
        ("Expected cost", _money(s["expected_cost"], cur), "discounted", ""),
        (f"CVaR {_pct(alpha)}", _money(s["cvar"], cur), f"mean of the worst {_pct(1 - alpha)}", ""),
        ("Cash spend", _money(s["cash_spend"], cur), "expected, undiscounted", ""),
        ("Shortfall", short_card, short_note, "bad" if shortfall else "good"),
    ]
    cards_html = "".join(f'<div class="card {cls}"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div>'
                         f'<div class="n">{_esc(note)}</div></div>' for k, v, note, cls in cards)
    return f'<p class="lead">{" ".join(parts)}</p><div class="cards">{cards_html}</div>'


def _marginal_words(plan: Plan) -> list[str]:
    """Budgets and stock capacities that bind, with what one more unit would save, in plain words."""
    values = plan.summary.get("marginal_values") or {}
    cur = plan.cur
    lines = []
    for name, value in sorted((values.get("budgets") or {}).items(), key=lambda kv: -kv[1]):
        if value > 1e-9:
            lines.append(f"One more {_money(1e6, cur)} in budget <b>{_esc(name)}</b> would lower the objective by "
                         f"{_esc(_money(1e6 * value, cur))}.")
    for material, value in sorted((values.get("stock_capacity") or {}).items(), key=lambda kv: -kv[1]):
        if value > 1e-9:
            unit = plan.units.get(material, "unit") or "unit"
            lines.append(f"One more {_esc(unit)} of <b>{_esc(material)}</b> storage capacity (in every period) "
                         f"would lower the objective by {_esc(_money(value, cur))}.")
    if not lines:
        return []
    return ["<h2>What relaxing a limit is worth</h2>", "<ul>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>"]


def render_html(plan: Plan, charts: dict[str, bytes]) -> str:
    s, cur = plan.summary, plan.cur
    sources = source_spend(plan)
    name = s.get("name") or plan.folder.label
    desc = (plan.folder.scenario or {}).get("description")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Stockpile plan: {_esc(name)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>Stockpile plan: {_esc(name)}</h1>",
        f'<p class="sub">{_esc(desc)}</p>' if desc else "",
        _headline(plan, sources),
    ]
    scen = s.get("scenarios") or {}
    if scen:
        rows = []
        for k in plan.scenarios:
            v = scen[k]
            short = ", ".join(f"{_qty(q)} {plan.units.get(m, '')} {m}".replace("  ", " ")
                              for m, q in sorted((v.get("shortfall") or {}).items()) if q > 0) or "none"
            rows.append([_esc(k), f"{v['probability']:.3f}", _esc(_money(v["cost"], cur)),
                         _esc(_money(v["cash_spend"], cur)), _esc(short)])
        out += ["<h2>Scenarios</h2>",
                _table(["scenario", "probability", "cost (discounted)", "cash spend", "shortfall"], rows, {1, 2, 3})]
    titles = dict(CHARTS)
    captions = {
        "stockpile": "Solid lines: stock held at the end of each period in each scenario; dashed: the target; "
                     "dotted: the target in force in a scenario where a release rule suspends it.",
        "purchases": "What is ordered in each period, in money, coloured by the supplier's region.",
        "spend": "Probability-weighted over scenarios. Bars by source are coloured by region.",
        "shortfall": "Total demand left unmet over the horizon in each scenario (units of the material).",
        "costs": "Each dot is one scenario's total discounted cost. Dashed: expected cost; dotted: CVaR, the "
                 "average cost in the worst tail.",
        "shadow_prices": "How much one more unit of the material in that period would lower the cost; high values "
                         "mark scarcity." + (f" Read {s['mip']['shadow_prices']}." if s.get("mip") else ""),
    }
    out.append("<h2>Charts</h2>")
    out.extend(figure_html(key, png, titles[key], captions[key]) for key, png in charts.items())
    top = top_purchases(plan)
    out.append("<h2>Top purchases</h2>")
    if top.empty:
        out.append("<p>The plan buys nothing.</p>")
    else:
        rows = []
        for r in top.itertuples():
            span = plan.labels[int(r.first)] if r.first == r.last else \
                f"{plan.labels[int(r.first)]} to {plan.labels[int(r.last)]}"
            rows.append([_esc(r.scenario), _esc(r.source), _esc(r.material), _esc(r.region),
                         _esc(f"{_qty(r.quantity)} {plan.units.get(r.material, '')}".strip()),
                         _esc(fmt_amount(r.landed) if r.landed == r.landed else "-"), _esc(_money(r.spend, cur)),
                         _esc(f"{span} ({r.orders} order{'s' if r.orders != 1 else ''})")])
        out.append(_table(["scenario", "source", "material", "region", "quantity", f"avg landed ({cur}/unit)",
                           "spend", "periods"], rows, {4, 5, 6}))
        out.append("<p class=\"sub\">Summed over the horizon per scenario and source; purchases made before "
                   "scenarios diverge appear in each of them.</p>")
    out.append("<h2>Rules that bind</h2>")
    if plan.data is None:
        out.append("<p>scenario.json is missing or invalid: binding rules cannot be computed.</p>")
    else:
        rules = binding_rules(plan)
        if rules:
            out.append("<p>Budgets spent to their amount, share limits at their bound, stocks and capacities used "
                       "in full (within 1e-6 relative). Relaxing one of these could lower the cost.</p>")
            out.append(_table(["rule", "kind", "binds in", "periods", "what"],
                              [[_esc(r["rule"]), _esc(r["kind"]), _esc(r["scenarios"]), _esc(r["periods"]),
                                _esc(r["detail"])] for r in rules], set(), cls="rules"))
        else:
            out.append("<p>No budget, share limit or capacity is at its bound.</p>")
    out.extend(_marginal_words(plan))
    out.append(f'<p class="foot">Written by <code>optimize report</code> from the result folder '
               f"<code>{_esc(plan.folder.label)}</code>; scenario_sha256 "
               f"<code>{_esc(s.get('scenario_sha256'))}</code>. "
               "Figures in " f"{_esc(cur)}; costs are discounted, cash spend is not.</p>")
    out.append("</main></body></html>")
    return "\n".join(x for x in out if x) + "\n"


def figure_html(key: str, png: bytes, title: str, caption: str) -> str:
    """A chart embedded in the page (the report opens offline), with its title, caption and file name."""
    b64 = base64.b64encode(png).decode()
    w, h = _png_size(png)
    return (f'<figure id="chart-{key}"><img src="data:image/png;base64,{b64}" width="{w}" height="{h}" '
            f'alt="{_esc(title)}"><figcaption><b>{_esc(title)}.</b> {_esc(caption)} '
            f"(<code>charts/{key}.png</code>)</figcaption></figure>")


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:  # plain open: the same permissions as the other result files
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_report_support() -> None:
    """Raise a clear error when matplotlib (the `report` extra) is missing: checked before solving."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OptimizerError("the report needs matplotlib: pip install 'mineral-stockpile-optimizer[report]'") \
            from None


def report_files(folder: str | Path, name: str | None = None) -> dict[str, bytes]:
    """report.html and charts/<chart>.png of a result folder, name -> bytes. `name` is the folder's name
    in the report when it differs from the folder read (a run reports on its temporary folder)."""
    check_report_support()
    if (Path(folder) / "simulate.csv").is_file():  # its report is written with it, from the simulation itself
        raise UsageError(f"{folder} is the folder of a stress test (optimize simulate): its report, "
                             f"{Path(folder) / 'report.html'}, was written with it")
    rf = load_folder(folder)
    if name is not None:
        rf = dataclasses.replace(rf, path=rf.path.with_name(name))
    plan = load_plan(rf)
    charts = render_charts(plan)
    return {**{f"charts/{chart}.png": png for chart, png in charts.items()},
            "report.html": render_html(plan, charts).encode()}


def write_report(folder: str | Path) -> Path:
    """Write FOLDER/report.html and FOLDER/charts/*.png from a result folder; returns the HTML path."""
    folder = Path(folder)
    files = report_files(folder)
    (folder / "charts").mkdir(exist_ok=True)
    for name, data in files.items():
        _write_atomic(folder / name, data)
    return folder / "report.html"
