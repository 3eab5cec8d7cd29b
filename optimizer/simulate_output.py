"""The result folder of `optimize simulate` (SPEC 9): simulate.csv, decisions.csv, stockpile.csv,
summary.json with each policy's statistics, charts/, report.html and run.json; deterministic bytes
(run.json aside), written in one atomic swap (`destination.staged`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.export import csv_bytes, json_bytes
from optimizer.model.lp import FAMILIES
from optimizer.results import ZERO, cvar, scenario_sha256
from optimizer.simulate import POLICIES, Future, SimulationResult

#: Units of unmet demand below which a future counts as without shortfall (solver dust).
SHORTFALL_TOLERANCE = 1e-6


# --- tables ------------------------------------------------------------------------------------------


def simulate_table(result: SimulationResult) -> pd.DataFrame:
    """simulate.csv: one row per future and policy (futures numbered from 1 in draw order, policies
    rolling, naive, static): cost, money, shortfall per material (units over the horizon), status, the
    period a failed re-plan was made in, and the future's events."""
    demanded = result.demanded
    rows = []
    for number, future in enumerate(result.futures, start=1):
        for policy in POLICIES:
            o = result.outcomes[future][policy]
            row = {"future": number, "policy": policy, "cost": o.cost, "money": o.money}
            for m in demanded:
                row[f"shortfall_{result.materials[m]}"] = None if o.shortfall is None else float(o.shortfall[m].sum())
            row.update(status=str(o.status), failed_at=result.labels[o.failed_at] if o.failed_at is not None else None,
                       events=result.names[future])
            rows.append(row)
    columns = ["future", "policy", "cost", "money", *(f"shortfall_{result.materials[m]}" for m in demanded),
               "status", "failed_at", "events"]
    table = pd.DataFrame(rows, columns=columns)
    for col in columns[2:-3]:
        table[col] = table[col].astype(float)
    table["future"] = table["future"].astype(str)
    return table


def decisions_table(result: SimulationResult) -> pd.DataFrame:
    """decisions.csv: what each policy executed in each future: `buy` (source), `process` (processor) and
    `build` (source or processor) quantities per period; zero rows left out."""
    ids = {name: [e.id for e in getattr(result.scenario, family.entities)] for name, family in FAMILIES.items()
           if family.entities is not None}  # the scenario lists entities in ModelData's order
    parts = []
    for number, future in enumerate(result.futures, start=1):
        for policy in POLICIES:
            o = result.outcomes[future][policy]
            for family, values in o.decisions.items():
                e, t = np.nonzero(np.abs(values) >= ZERO)
                if len(e):
                    parts.append(pd.DataFrame({
                        "future": str(number), "policy": policy, "period": [result.labels[i] for i in t],
                        "kind": "build" if family.startswith("build") else family,
                        "id": [ids[family][i] for i in e], "quantity": values[e, t]}))
    columns = ["future", "policy", "period", "kind", "id", "quantity"]
    return _ordered(parts, columns, ["period", "kind", "id"])


def stockpile_table(result: SimulationResult) -> pd.DataFrame:
    """stockpile.csv: end-of-period stock, unmet demand and disposals per future, policy, period and
    material; zero rows left out."""
    parts = []
    for number, future in enumerate(result.futures, start=1):
        for policy in POLICIES:
            o = result.outcomes[future][policy]
            if o.stock is None:
                continue
            m, t = np.nonzero((np.abs(o.stock) >= ZERO) | (np.abs(o.shortfall) >= ZERO) | (np.abs(o.surplus) >= ZERO))
            if len(m):
                parts.append(pd.DataFrame({
                    "future": str(number), "policy": policy, "period": [result.labels[i] for i in t],
                    "material": [result.materials[i] for i in m], "level": o.stock[m, t],
                    "shortfall": o.shortfall[m, t], "surplus": o.surplus[m, t]}))
    columns = ["future", "policy", "period", "material", "level", "shortfall", "surplus"]
    return _ordered(parts, columns, ["period", "material"])


def _ordered(parts: list[pd.DataFrame], columns: list[str], keys: list[str]) -> pd.DataFrame:
    """Rows by future (as numbered), policy (as listed), then `keys`."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("quantity", "level", "shortfall", "surplus")
                                          else str) for c in columns})
    table = pd.concat(parts, ignore_index=True)[columns]
    order = np.lexsort([table[k].to_numpy() for k in reversed(keys)]
                       + [table["policy"].map(POLICIES.index).to_numpy(), table["future"].astype(int).to_numpy()])
    return table.iloc[order].reset_index(drop=True)


# --- summary --------------------------------------------------------------------------------------------


def policy_statistics(result: SimulationResult) -> dict[str, dict]:
    """Per policy over the futures it played to the end (each future weighing 1/N): mean cost, CVaR at
    `risk.alpha`, worst and best cost, mean money, the share of futures with any shortfall (and per
    material), mean shortfall per material, and how many futures a re-plan failed in."""
    alpha = result.scenario.risk.alpha
    out = {}
    for policy in POLICIES:
        done = [result.outcomes[f][policy] for f in result.futures if result.outcomes[f][policy].cost is not None]
        stats: dict = {"futures": len(done), "failed": len(result.futures) - len(done)}
        if done:
            cost = np.array([o.cost for o in done])
            short = np.array([[o.shortfall[m].sum() for m in result.demanded] for o in done]).reshape(len(done), -1)
            short_any = (short > SHORTFALL_TOLERANCE).any(axis=1)
            stats.update(
                mean=float(cost.mean()), cvar=cvar(cost, np.full(len(cost), 1.0 / len(cost)), alpha),
                worst=float(cost.max()), best=float(cost.min()), std=float(cost.std()),
                mean_money=float(np.mean([o.money for o in done])),
                shortfall_probability=float(short_any.mean()),
                shortfall_probability_by_material={result.materials[m]: float((short[:, i] > SHORTFALL_TOLERANCE).mean())
                                                   for i, m in enumerate(result.demanded)},
                mean_shortfall={result.materials[m]: float(short[:, i].mean()) for i, m in enumerate(result.demanded)},
            )
        out[policy] = stats
    return out


DEFINITIONS = {
    "cost": "C_k of SPEC 4.2 for the future alone with every executed decision fixed (discounted)",
    "money": "the part of cost that is money paid or received (no penalties, no risk premium), discounted",
    "cvar": "CVaR at risk.alpha of the cost over the futures, each weighing 1/N",
    "shortfall_probability": "share of futures with any unmet demand (more than 1e-6 units)",
    "replanning_saves": "mean cost of static minus that of rolling: what re-planning at every stage is worth",
    "hedging_saves": "mean cost of naive minus that of rolling: what planning for disruptions is worth",
}


def simulate_summary(result: SimulationResult) -> dict:
    """summary.json of a simulation."""
    stats = policy_statistics(result)
    sc = result.scenario

    def saves(worse: str) -> float | None:
        if stats[worse].get("mean") is None or stats["rolling"].get("mean") is None:
            return None
        return stats[worse]["mean"] - stats["rolling"]["mean"]

    return {
        "name": sc.name,
        "currency": sc.currency,
        "futures": len(result.futures),
        "distinct_futures": len(set(result.futures)),
        "seed": result.seed,
        "drawn_from": "disruptions" if sc.disruptions is not None else "scenarios",
        "alpha": sc.risk.alpha,
        "policies": stats,
        "replanning_saves": saves("static"),
        "hedging_saves": saves("naive"),
        "first_plan": result.first_plan,
        "definitions": DEFINITIONS,
        "scenario_sha256": scenario_sha256(sc),
    }


# --- charts ------------------------------------------------------------------------------------------

POLICY_COLORS = {"rolling": "#1f77b4", "naive": "#ff7f0e", "static": "#7f7f7f"}
FUTURE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]


def chart_costs(result: SimulationResult, summary: dict):
    """Each policy's cost over the futures as a cumulative distribution, with its mean and CVaR."""
    from optimizer.report import _figure, _legend, _short

    fig = _figure(11.0, 4.2)
    ax = fig.add_subplot()
    alpha = summary["alpha"]
    for policy in POLICIES:
        cost = np.sort([result.outcomes[f][policy].cost for f in result.futures
                        if result.outcomes[f][policy].cost is not None])
        if not len(cost):
            continue
        stats = summary["policies"][policy]
        share = np.arange(1, len(cost) + 1) / len(cost)
        ax.step(cost, share, where="post", color=POLICY_COLORS[policy], lw=2,
                label=f"{policy}: mean {_short(stats['mean'])}, CVaR {alpha:.0%} {_short(stats['cvar'])}")
        ax.axvline(stats["mean"], color=POLICY_COLORS[policy], ls="--", lw=1)
        ax.axvline(stats["cvar"], color=POLICY_COLORS[policy], ls=":", lw=1)
    ax.xaxis.set_major_formatter(_short)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of futures costing at most")
    ax.grid(alpha=0.3)
    ax.set_title(f"Realised cost of each policy over {len(result.futures)} futures "
                 f"({result.scenario.currency}, discounted; dashed: mean, dotted: CVaR)", fontsize=11, loc="left")
    _legend(fig, [ax], ncol=3)
    return fig


def chart_shortfall(result: SimulationResult, summary: dict):
    """Share of futures with unmet demand, per material and policy."""
    from optimizer.report import _empty, _figure, _legend

    mats = [result.materials[m] for m in result.demanded]
    if not mats:
        return _empty("No material has demand: nothing can fall short.")
    fig = _figure(11.0, 1.8 + 0.45 * len(mats) * len(POLICIES) / 2)
    ax = fig.add_subplot()
    y = np.arange(len(mats))
    height = 0.8 / len(POLICIES)
    for i, policy in enumerate(POLICIES):
        share = summary["policies"][policy].get("shortfall_probability_by_material", {})
        values = [share.get(m, 0.0) for m in mats]
        ax.barh(y + (i - (len(POLICIES) - 1) / 2) * height, values, height, color=POLICY_COLORS[policy], label=policy)
    ax.set_yticks(y, mats)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Share of futures with unmet demand, by material and policy", fontsize=11, loc="left")
    _legend(fig, [ax])
    return fig


def shown_futures(result: SimulationResult, n: int = 4) -> list[Future]:
    """A few futures worth looking at: the most frequent, then rolling's cheapest, median and worst."""
    done = [f for f in result.futures if result.outcomes[f]["rolling"].cost is not None]
    if not done:
        return []
    counts = {f: result.futures.count(f) for f in dict.fromkeys(done)}
    frequent = max(counts, key=lambda f: (counts[f], -done.index(f)))
    by_cost = sorted(dict.fromkeys(done), key=lambda f: (result.outcomes[f]["rolling"].cost, done.index(f)))
    picks = [frequent, by_cost[0], by_cost[len(by_cost) // 2], by_cost[-1]]
    return list(dict.fromkeys(picks))[:n]


def chart_stock_paths(result: SimulationResult, summary: dict):
    """Stock of each stocked material along a few futures: rolling (solid) and static (dashed)."""
    from optimizer.report import MAX_PANELS, _empty, _grid, _legend, _period_axis, _short

    stocked = [i for i, m in enumerate(result.scenario.materials) if m.stockpile is not None][:MAX_PANELS]
    futures = shown_futures(result)
    if not stocked or not futures:
        return _empty("No stockpile to show.")
    fig, axes = _grid(len(stocked))
    x = np.arange(len(result.labels))
    number = {f: result.futures.index(f) + 1 for f in futures}
    for ax, m in zip(axes, stocked):
        for color, future in zip(FUTURE_COLORS, futures):
            for policy, style in (("rolling", "-"), ("static", "--")):
                o = result.outcomes[future][policy]
                if o.stock is not None:
                    ax.plot(x, o.stock[m], color=color, ls=style, lw=1.8 if style == "-" else 1.2,
                            label=f"future {number[future]}: {result.names[future]}" if policy == "rolling" else None)
        ax.set_title(f"{result.materials[m]} ({result.scenario.materials[m].unit})", fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(_short)
        ax.grid(alpha=0.3)
        _period_axis(ax, result.labels)
    _legend(fig, axes, ncol=2)
    fig.suptitle("End-of-period stock along a few futures: rolling (solid) and static (dashed)", fontsize=11)
    return fig


CHARTS = {"simulate-costs": chart_costs, "simulate-shortfall": chart_shortfall, "simulate-stock": chart_stock_paths}
#: The longest name written inside the folder (checked against the file system's limits before simulating).
LONGEST_FILE = max((f"charts/{name}.png" for name in CHARTS), key=len)


def simulate_charts(result: SimulationResult, summary: dict) -> dict[str, bytes]:
    """Chart name -> PNG bytes (matplotlib's Agg canvas, fixed sizes, no timestamps: same bytes)."""
    import matplotlib

    from optimizer.report import _png

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False}):
        return {name: _png(chart(result, summary)) for name, chart in CHARTS.items()}


#: Each chart's title and what it shows, for the report.
CHART_WORDS = {
    "simulate-costs": ("Realised cost of each policy", "The share of futures (vertical) in which a policy cost at most "
                       "the amount (horizontal), discounted. Dashed: its mean; dotted: its CVaR, the mean of the "
                       "costliest futures. A curve further left is a cheaper policy."),
    "simulate-shortfall": ("How often demand goes unmet", "The share of futures in which some demand for the material "
                           "was not met, by policy."),
    "simulate-stock": ("Stock along a few futures", "End-of-period stock in the most frequent future and in rolling's "
                       "cheapest, median and costliest ones: rolling solid, static dashed."),
}


def simulate_report_html(result: SimulationResult, summary: dict, charts: dict[str, bytes]) -> str:
    """report.html of a simulation (self-contained): what was drawn, each policy's statistics in words
    and as a table, what re-planning and hedging save, and the charts."""
    from optimizer.report import CSS, _esc, _money, _pct, _table, figure_html

    cur, alpha, stats = summary["currency"], summary["alpha"], summary["policies"]
    lead = [f"{summary['futures']} futures ({summary['distinct_futures']} distinct) drawn from "
            f"<code>{_esc(summary['drawn_from'])}</code> with seed {summary['seed']}, each played by three "
            "policies: <b>rolling</b> re-plans at every stage on the tree of what can still happen, "
            "<b>naive</b> re-plans at the same points for a single future (no new disruption), "
            f"<b>static</b> follows the first plan for its reference scenario "
            f"(<code>{_esc(summary['first_plan']['reference_scenario'])}</code>) without re-planning."]
    saves = [words.format(_esc(_money(summary[key], cur))) for key, words in (
        ("replanning_saves", "re-planning at every stage saves <b>{}</b> on average against static"),
        ("hedging_saves", "planning for disruptions saves <b>{}</b> on average against naive"))
        if summary[key] is not None]
    if saves:
        sentence = "; ".join(saves)
        lead.append(sentence[0].upper() + sentence[1:] + ".")
    rows = []
    for policy in POLICIES:
        st = stats[policy]
        cells = [_esc(_money(st[k], cur)) if st.get(k) is not None else "-" for k in ("mean", "cvar", "worst",
                                                                                      "mean_money")]
        chance = _pct(st["shortfall_probability"]) if st.get("shortfall_probability") is not None else "-"
        rows.append([f"<b>{policy}</b>", str(st["futures"]), str(st["failed"]), *cells, chance])
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Stress test: {_esc(summary['name'])}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>Stress test: {_esc(summary['name'])}</h1>",
        f'<p class="lead">{" ".join(lead)}</p>',
        "<h2>Policies</h2>",
        _table(["policy", "futures played", "failed", "mean cost", f"CVaR {_pct(alpha)}", "worst cost",
                "mean money", "P(shortfall)"], rows, {1, 2, 3, 4, 5, 6, 7}),
        '<p class="sub">Costs are each future\'s C_k (SPEC 4.2) with every executed decision fixed, discounted; '
        "money is the part of it paid or received (no penalties, no risk premium). A future fails for a policy "
        "when one of its re-plans finds no feasible plan.</p>",
        "<h2>Charts</h2>",
        *(figure_html(key, png, *CHART_WORDS[key]) for key, png in charts.items()),
        f'<p class="foot">Written by <code>optimize simulate</code>; every future\'s figures are in '
        f"<code>simulate.csv</code>, its decisions in <code>decisions.csv</code>; scenario_sha256 "
        f"<code>{_esc(summary['scenario_sha256'])}</code>. Figures in {_esc(cur)}.</p>",
        "</main></body></html>",
    ]
    return "\n".join(out) + "\n"


# --- the folder ------------------------------------------------------------------------------------------


def simulation_files(result: SimulationResult, charts: bool = True) -> dict[str, bytes]:
    """Every file of the result folder, relative path -> bytes."""
    summary = simulate_summary(result)
    files = {
        "simulate.csv": csv_bytes(simulate_table(result)),
        "decisions.csv": csv_bytes(decisions_table(result)),
        "stockpile.csv": csv_bytes(stockpile_table(result)),
        "summary.json": json_bytes(summary),
        "scenario.json": json_bytes(result.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)),
        "run.json": json_bytes(result.run),
    }
    if charts:
        pngs = simulate_charts(result, summary)
        files.update({f"charts/{name}.png": png for name, png in pngs.items()})
        files["report.html"] = simulate_report_html(result, summary, pngs).encode()
    return files


def render_summary(result: SimulationResult, target: Path) -> str:
    """What the terminal shows: each policy's statistics, what re-planning and hedging save."""
    summary = simulate_summary(result)
    cur = summary["currency"]
    lines = [f"{summary['futures']} futures ({summary['distinct_futures']} distinct) drawn from "
             f"{summary['drawn_from']} with seed {summary['seed']}; costs discounted, {cur}", "",
             f"  {'policy':<8} {'mean':>16} {'CVaR ' + format(summary['alpha'], '.0%'):>16} {'worst':>16} "
             f"{'P(shortfall)':>13} {'failed':>7}"]
    for policy in POLICIES:
        s = summary["policies"][policy]
        if s.get("mean") is None:
            lines.append(f"  {policy:<8} {'-':>16} {'-':>16} {'-':>16} {'-':>13} {s['failed']:>7}")
            continue
        lines.append(f"  {policy:<8} {s['mean']:>16,.0f} {s['cvar']:>16,.0f} {s['worst']:>16,.0f} "
                     f"{s['shortfall_probability']:>13.1%} {s['failed']:>7}")
    lines.append("")
    for key, words in (("replanning_saves", "re-planning every stage saves (static - rolling)"),
                       ("hedging_saves", "planning for disruptions saves (naive - rolling)")):
        if summary[key] is not None:
            lines.append(f"{words}: {summary[key]:,.0f} {cur} on average")
    lines.append(f"results in {target}")
    return "\n".join(lines) + "\n"
