"""Explain an infeasible or unbounded plan in the scenario's own terms."""

from __future__ import annotations

from optimizer.spec import Scenario


def explain_failure(status: str, sc: Scenario) -> str:
    """A short explanation naming the rules and materials that can cause `status`."""
    if status == "unbounded":
        return "the plan is unbounded: " + _unbounded_causes(sc)
    causes = _infeasible_causes(sc)
    text = "the plan is infeasible: " if status == "infeasible" else "the plan is infeasible or unbounded: "
    return text + (causes or "no hard constraint found to blame; check the scenario")


def _infeasible_causes(sc: Scenario) -> str:
    parts = []
    for m in sc.materials:
        st = m.stockpile
        if st is not None and st.hard_target:
            parts.append(
                f"material `{m.id}` has a hard stockpile target ({st.target}) that purchases, processing, "
                f"stock capacity ({st.capacity if st.capacity is not None else 'unlimited'}), bans, lead times "
                "and budgets cannot meet"
            )
    if parts:
        parts.append("budgets: " + ", ".join(f"{b.name} {b.amount:.3g}" for b in sc.budgets) if sc.budgets else "")
    return "; ".join(p for p in parts if p)


def _unbounded_causes(sc: Scenario) -> str:
    parts = []
    by_material: dict[str, list[str]] = {}
    for s in sc.sources:
        if s.capacity is None:
            by_material.setdefault(s.material, []).append(s.id)
    for m in sc.materials:
        if m.sale_price > 0 and m.id in by_material:
            parts.append(
                f"`{m.id}` sells at {m.sale_price:.6g} per {m.unit} while unlimited sources "
                f"({', '.join(by_material[m.id])}) may cost less; give them a capacity or lower the sale price"
            )
    if not parts:
        parts.append("a material can be bought or processed without limit and sold at a profit")
    return "; ".join(parts)
