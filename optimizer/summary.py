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


def top_purchases(purchases: pa.Table, top: int) -> list[dict]:
    """The `top` rows of purchases.csv by spend (ties: scenario, period, source; a stable sort)."""
    import pyarrow.compute as pc

    order = pc.sort_indices(purchases, sort_keys=[("spend", "descending"), ("scenario", "ascending"),
                                                  ("period", "ascending"), ("source", "ascending")])
    return purchases.take(order[:top]).to_pylist()


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


def print_summary(console: Console, solution: Solution, folder: Path | None = None, top: int = 10) -> None:
    """Status, headline costs, shortfall by material, spend by region, top purchases."""
    s = solution.summary
    cur = s.get("currency", "USD")
    mip = s.get("mip")
    relaxed = " (LP relaxation)" if mip and mip["relaxed"] else ""
    head = Table(title=f"{s['name']}: {s['status']}{relaxed}", show_header=False, box=None)
    split = s["cost_breakdown"]
    expected = split["expected"]["discounted"]
    head.add_row("objective", _money(s["objective"], cur))
    head.add_row("expected cost", _money(s["expected_cost"], cur))
    head.add_row("  of which money", _money(expected["money"], cur) + "  (paid - received, discounted)")
    head.add_row("  of which penalties", _money(expected["penalties"], cur) + "  (shortfall, target, risk premium: "
                 "not money)")
    head.add_row(f"CVaR {s['cvar_alpha']:.0%}", _money(s["cvar"], cur))
    head.add_row("cash spend (expected)", _money(s["cash_spend"], cur))
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
            row, own = s["scenarios"][name], split["scenarios"][name]["discounted"]
            table.add_row(name, f"{row['probability']:.3f}", _money(row["cost"], cur), _money(own["money"], cur),
                          _money(own["penalties"], cur), _money(row["cash_spend"], cur))
        if len(shown) < len(s["scenarios"]):
            table.caption = f"the {len(shown)} most probable and costliest of {len(s['scenarios'])}; all in summary.json"
        console.print(table)
    short = {m: v for m, v in s["shortfall_by_material"].items() if v > 0}
    if short:
        table = Table(title="Expected shortfall by material")
        table.add_column("material")
        table.add_column("units", justify="right")
        for m, v in sorted(short.items(), key=lambda kv: -kv[1]):
            table.add_row(m, f"{v:,.3f}")
        console.print(table)
    else:
        console.print("No shortfall in any scenario.")
    if s["spend_by_region"]:
        table = Table(title="Expected spend by region")
        table.add_column("region")
        table.add_column("spend", justify="right")
        for region, v in sorted(s["spend_by_region"].items(), key=lambda kv: -kv[1]):
            table.add_row(region, _money(v, cur))
        console.print(table)
    rows = top_purchases(solution.arrow_tables["purchases"], top)
    if rows:
        table = Table(title=f"Top {len(rows)} purchases by spend")
        for col in ("scenario", "period", "source", "material", "quantity", "landed", "spend"):
            table.add_column(col, justify="right" if col in ("quantity", "landed", "spend") else "left")
        for row in rows:
            table.add_row(row["scenario"], row["period"], row["source"], row["material"], f"{row['quantity']:,.3f}",
                          f"{row['landed_cost']:,.2f}", _money(row["spend"], cur))
        console.print(table)
    if folder is not None:
        console.print(f"Results written to {folder}/")
