"""The colours of every chart, defined once: one per region, one per future, one per cost term.

The three families do not share a hue, so red always means China and never a future; the reference
future is drawn in ink on top of the others so it never hides under them.
"""

from __future__ import annotations

REGION_COLORS = {
    "domestic": "#1f77b4",
    "allied": "#2ca02c",
    "deep_sea": "#17becf",
    "other": "#7f7f7f",
    "china": "#d62728",
    "processing": "#9467bd",
    "capex": "#8c564b",
}
UNKNOWN_REGION = "#aaaaaa"

REFERENCE_FUTURE = "#111111"
"""The reference future (`base`, else the most probable, as SPEC 7.3)."""
FUTURE_COLORS = ("#ff7f0e", "#c51b7d", "#9a9a00", "#e6ab02", "#5e3c99", "#f781bf")
"""The other named futures, in the order they are named; hues no region uses."""
OTHER_FUTURES = "#c8c8c8"
"""Futures too many to name (a generated tree): thin and light."""
TARGET = "#000000"

#: Terms of `cost_breakdown` (SPEC 6): money in greys (capex and processing as in the region charts),
#: penalties hatched, so a penalty never looks like spending.
MONEY_COLORS = {
    "purchases": "#4b5563",
    "processing": REGION_COLORS["processing"],
    "capex": REGION_COLORS["capex"],
    "fixed_costs": "#374151",
    "holding": "#9ca3af",
    "sales_revenue": "#cbd5e1",
    "end_value": "#e2e8f0",
}
PENALTY_COLORS = {
    "risk_premium": "#e5e7eb",
    "target_penalty": "#d1d5db",
    "shortfall_penalty": "#b8bec8",
}
PENALTY_HATCH = "/"


def region_color(region: str) -> str:
    return REGION_COLORS.get(region, UNKNOWN_REGION)


def future_colors(named: list[str], reference: str | None) -> dict[str, str]:
    """Colour of each named future: the reference in ink, the others in FUTURE_COLORS order."""
    out: dict[str, str] = {}
    others = iter(FUTURE_COLORS)
    for name in named:
        out[name] = REFERENCE_FUTURE if name == reference else next(others, OTHER_FUTURES)
    return out
