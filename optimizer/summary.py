"""Terminal summary of a solved plan (formatting only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from optimizer.results import Solution

if TYPE_CHECKING:
    import pyarrow as pa


def _money(x: float, currency: str) -> str:
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:,.2f} {suffix} {currency}"
    return f"{x:,.2f} {currency}"


def _scenarios_shown(scenarios: dict, most_probable: int = 10, costliest: int = 5) -> list[str]:
    """All scenarios when there are few; else the most probable and the costliest (a generated tree can
    have thousands), in the summary's order."""
    if len(scenarios) <= most_probable + costliest:
        return list(scenarios)
    by_probability = sorted(scenarios, key=lambda k: (-scenarios[k]["probability"], k))[:most_probable]
    by_cost = [k for k in sorted(scenarios, key=lambda k: (-scenarios[k]["cost"], k)) if k not in by_probability]
    keep = set(by_probability + by_cost[:costliest])
    return [k for k in scenarios if k in keep]


def _mip_rows(summary: dict, currency: str) -> tuple[str, str]:
    """The MIP line of the head table: the gap and best bound, or what a relaxation means."""
    mip = summary["mip"]
    if mip["relaxed"]:
        return ("relaxation", f"{mip['integer_variables']} integer decisions solved as fractions: the cost is a "
                              "lower bound, the orders and builds may not be whole")
    if summary["mip_gap"] is None:
        return ("MIP gap", "no bound proven yet")
    return ("MIP gap", f"{summary['mip_gap']:.4%} (best bound {_money(summary['best_bound'], currency)}; "
                       f"{mip['integer_variables']} integer decisions)")


def _rows(table: pa.Table, periods: list[str], scenario: str | None = None, columns: tuple[str, ...] = ()
          ) -> list[dict]:
    """Rows of an Arrow result table in `periods` (and of `scenario`), as dicts of `columns`. Plain Python:
    pyarrow.compute and to_numpy import pandas, which a run never does (~0.3 s of start-up)."""
    chosen = set(periods)
    rows = table.select(list(dict.fromkeys(("scenario", "period", *columns)))).to_pylist()
    return [r for r in rows if r["period"] in chosen and (scenario is None or r["scenario"] == scenario)]


def _qty(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def print_summary(console: Console, solution: Solution, folder: Path | None = None, top: int = 5) -> None:
    """In the report's order, short: the decision now, what it buys (shortfall), money, risk, why."""
    from optimizer.data import build_data
    from optimizer.decision import decide_now, first_split, fiscal_year, period_ranges, reference_future

    s = solution.summary
    cur = s.get("currency", "USD")
    data = build_data(solution.scenario)
    labels = list(data.calendar.labels)
    months = data.calendar.length
    prob = {k: float(v["probability"]) for k, v in s["scenarios"].items()}
    reference = reference_future(list(data.scenarios), prob)
    tables = solution.arrow_tables
    mip = s.get("mip")
    relaxed = " (LP relaxation)" if mip and mip["relaxed"] else ""
    console.print(f"[bold]{s['name']}: {s['status']}{relaxed}[/bold]")

    # 1. the decision
    now = decide_now(data, months, len(labels))
    split = first_split(data)
    orders: dict[tuple[str, str], list[float]] = {}
    for row in _rows(tables["purchases"], [labels[t] for t in now], reference, ("source", "material", "quantity",
                                                                                  "spend")):
        total = orders.setdefault((row["source"], row["material"]), [0.0, 0.0])
        total[0] += row["quantity"]
        total[1] += row["spend"]
    when = period_ranges(now, labels)
    title = (f"Decide now: {when}, the same in every future (first split {labels[split]})" if split
             else f"Decide now: {when}")
    table = Table(title=title, title_justify="left")
    for col in ("source", "material", "quantity", "spend"):
        table.add_column(col, justify="right" if col in ("quantity", "spend") else "left")
    ranked = sorted(orders.items(), key=lambda kv: (-kv[1][1], kv[0]))
    for (source, material), (quantity, spend) in ranked[:top]:
        table.add_row(source, material, _qty(quantity), _money(spend, cur))
    table.caption = (f"orders {_money(sum(v[1] for v in orders.values()), cur)} from {len(orders)} sources"
                     + (f"; top {top} shown" if len(orders) > top else ""))
    console.print(table)
    builds = {(r["period"], r["entity"], r["built"]): r for r in
              _rows(tables["expansion"], labels, None, ("period", "entity", "built", "spend", "usable_from"))}
    if builds:
        table = Table(title="Capacity builds", title_justify="left")
        for col in ("build", "decided", "capacity", "capex", "usable from"):
            table.add_column(col, justify="right" if col in ("capacity", "capex") else "left")
        for (period, entity, built), r in sorted(builds.items(), key=lambda kv: kv[0][:2]):
            table.add_row(entity, period, _qty(built), _money(r["spend"], cur), r["usable_from"])
        console.print(table)
    fy_name, fy_periods = fiscal_year(data, months, len(labels))
    fy = [labels[t] for t in fy_periods]
    spend = sum(prob.get(r["scenario"], 0.0) * r["spend"]
                for name in ("purchases", "processing", "expansion")
                for r in _rows(tables[name], fy, None, ("scenario", "spend") + (("flow",) if name == "processing"
                                                                                  else ()))
                if r.get("flow", "input") == "input")
    console.print(f"Spend this fiscal year ({fy_name}): {_money(spend, cur)} (expected, undiscounted)")

    # 2. what it buys
    short = {m: v for m, v in s["shortfall_by_material"].items() if v > 0}
    if short:
        table = Table(title="Shortfall", title_justify="left")
        for col in ("material", "expected", "worst future", "worst"):
            table.add_column(col, justify="right" if col in ("expected", "worst") else "left")
        for m, v in sorted(short.items(), key=lambda kv: -kv[1]):
            worst = max(s["scenarios"], key=lambda k: (s["scenarios"][k]["shortfall"].get(m, 0.0), k))
            table.add_row(m, _qty(v), worst, _qty(s["scenarios"][worst]["shortfall"][m]))
        console.print(table)
    else:
        console.print("No shortfall in any scenario.")

    # 3. money
    head = Table(title="Money", title_justify="left", show_header=False, box=None)
    breakdown = s["cost_breakdown"]
    expected = breakdown["expected"]["discounted"]
    head.add_row("expected cost", _money(s["expected_cost"], cur))
    head.add_row("  of which money", _money(expected["money"], cur) + "  (paid - received, discounted)")
    head.add_row("  of which penalties", _money(expected["penalties"], cur) + "  (shortfall, target, risk premium: "
                 "not money)")
    head.add_row("cash spend (expected)", _money(s["cash_spend"], cur))
    if s["spend_by_region"]:
        head.add_row("by region", ", ".join(f"{region} {_money(v, cur)}" for region, v in
                                            sorted(s["spend_by_region"].items(), key=lambda kv: -kv[1])))
    console.print(head)

    # 4. risk
    head = Table(title="Risk", title_justify="left", show_header=False, box=None)
    head.add_row("objective", _money(s["objective"], cur))
    head.add_row(f"CVaR {s['cvar_alpha']:.0%}", _money(s["cvar"], cur))
    if mip:
        head.add_row(*_mip_rows(s, cur))
        head.add_row("shadow prices", mip["shadow_prices"])
    console.print(head)
    if len(s["scenarios"]) > 1:
        table = Table(title="Scenarios")
        for col in ("scenario", "probability", "cost", "money", "penalties", "cash spend"):
            table.add_column(col, justify="right" if col != "scenario" else "left")
        shown = _scenarios_shown(s["scenarios"])
        for name in shown:
            row, own = s["scenarios"][name], breakdown["scenarios"][name]["discounted"]
            table.add_row(name, f"{row['probability']:.3f}", _money(row["cost"], cur), _money(own["money"], cur),
                          _money(own["penalties"], cur), _money(row["cash_spend"], cur))
        if len(shown) < len(s["scenarios"]):
            table.caption = f"the {len(shown)} most probable and costliest of {len(s['scenarios'])}; all in summary.json"
        console.print(table)
    if solution.analysis is not None:
        print_analysis(console, solution.analysis, cur)

    # 5. why: the limits whose marginal value summary.json holds (the report ranks every binding rule)
    values = s.get("marginal_values") or {}
    lines = [f"one more {cur} of budget {name} saves {v:.3g} {cur}" for name, v in
             sorted((values.get("budgets") or {}).items(), key=lambda kv: -kv[1]) if v > 1e-9]
    lines += [f"one more unit of {m} storage saves {_money(v, cur)}" for m, v in
              sorted((values.get("stock_capacity") or {}).items(), key=lambda kv: -kv[1]) if v > 1e-9]
    for line in lines[:3]:
        console.print(f"Binding: {line}")
    if folder is not None:
        console.print(f"Results written to {folder}/")


def print_analysis(console: Console, analysis: dict, currency: str) -> None:
    """Decision analytics in plain words, each with its definition on the next line."""
    from optimizer.analytics import plain_words

    console.print("Decision analytics (analysis.json; definitions in docs/analytics.md)", style="bold")
    for sentence, definition in plain_words(analysis, lambda x: _money(x, currency)):
        console.print(f"  {sentence}", markup=False)
        console.print(f"    {definition}", style="dim", markup=False)
