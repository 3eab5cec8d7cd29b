"""Explain an infeasible or unbounded plan in the scenario's own terms.

Infeasible: HiGHS's irreducible infeasible subset (`Highs.getIis`) mapped back to materials,
periods, scenarios, bans, capacities, lead times and budgets. Unbounded: HiGHS's primal ray mapped
back to the purchases and sales that can grow without limit.
"""

from __future__ import annotations

import numpy as np

from optimizer.checks import filter_matches
from optimizer.data import ModelData
from optimizer.model.lp import Formulation, StandardForm
from optimizer.solve import SolverSession, SolveStatus
from optimizer.spec import Scenario

MAX_ITEMS = 12


def explain_failure(status: SolveStatus, form: Formulation, session: SolverSession, problem: StandardForm,
                    scenario: Scenario) -> str:
    """One paragraph naming what makes the plan infeasible or unbounded (constraints an extension
    added are named by their Pyomo names)."""
    try:
        if status == SolveStatus.UNBOUNDED:
            return "the plan is unbounded: " + _unbounded(form, session)
        return "the plan is infeasible: " + _infeasible(form, session, problem, scenario)
    except Exception as exc:  # noqa: BLE001 - an explanation must never hide the status itself
        return f"the plan is {status.replace('_', ' ')} (no detailed explanation: {exc})"


def _where(form: Formulation, index: int, families: dict) -> tuple[str, int] | None:
    for name, fam in families.items():
        size = fam.size if hasattr(fam, "size") else len(fam.entity)
        if fam.first <= index < fam.first + size:
            return name, index - fam.first
    return None


def _period(d: ModelData, node: int) -> str:
    return d.calendar.labels[int(d.tree.t[node])]


def _scenarios(d: ModelData, node: int) -> str:
    members = [d.scenarios[k] for k in np.flatnonzero(d.tree.node_of[d.tree.t[node]] == node)]
    if len(members) == len(d.scenarios):
        return "all scenarios" if len(members) > 1 else f"scenario {members[0]}"
    return ("scenario " if len(members) == 1 else "scenarios ") + ", ".join(members)


def _infeasible(form: Formulation, session: SolverSession, problem: StandardForm, sc: Scenario) -> str:
    """A MILP is explained from its linear relaxation (SPEC 4.5), and the text says so."""
    rows, cols = session.irreducible_infeasible_subset()
    if session.is_mip:
        if not rows and not cols:
            return _whole_numbers(form.data)
        prefix = "shown on its linear relaxation (orders and modules fractional), infeasible too: "
        return prefix + _subset(form, rows, cols, problem, sc)
    return _subset(form, rows, cols, problem, sc)


def _whole_numbers(d: ModelData) -> str:
    """A MILP whose linear relaxation is feasible: name the discrete decisions and what they can
    clash with (there is no irreducible subset of a MILP to read)."""
    discrete = [f"min_order {d.min_order[s]:,.6g} {d.units[d.src_material[s]]} of {d.sources[s]}"
                for s in np.flatnonzero(d.min_order > 0)]
    discrete += [f"fixed_cost {d.fixed_cost[s]:,.6g} {d.currency} of {d.sources[s]}"
                 for s in np.flatnonzero(d.fixed_cost > 0)]
    for exp, names in ((d.src_exp, d.sources), (d.proc_exp, d.processors)):
        discrete += [f"{names[e]} expansion in modules of {exp.unit[e]:,.6g}" for e in np.flatnonzero(exp.unit > 0)]
    against = [f"budget {d.budget_names[b]} {d.budget_amount[b]:,.6g} {d.currency}" for b in range(len(d.budget_names))]
    against += [f"share limit {name}" for name in d.limit_names]
    against += _hard_targets(d)
    text = ("its linear relaxation (orders and modules fractional) is feasible, so the whole-number decisions "
            f"make it infeasible: {_join(discrete)}")
    return text + (f"; they clash with {_join(against)}" if against else "")


def _subset(form: Formulation, rows: list[int], cols: list[int], problem: StandardForm, sc: Scenario) -> str:
    """The scenario's terms for an irreducible infeasible subset (rows, columns) of the LP."""
    d = form.data
    lp = form.lp
    parts: list[str] = [f"your constraint {problem.extra_rows[r - lp.n_rows]}" for r in rows if r >= lp.n_rows]
    materials: dict[int, int] = {}  # material -> latest node involved
    for r in rows:
        hit = _where(form, r, lp.rows)
        if hit is None:
            continue
        name, i = hit
        fam = lp.rows[name]
        node = int(fam.labels["node"][i])
        if name == "material_balance":
            m = int(fam.labels["material"][i])
            materials[m] = max(materials.get(m, node), node)
        elif name == "budget_max":
            b = int(fam.labels["budget"][i])
            parts.append(f"budget {d.budget_names[b]} {d.budget_amount[b]:,.6g} {d.currency} ({_scenarios(d, node)})")
        elif name in ("share_max", "share_min"):
            lim = int(fam.labels["limit"][i])
            parts.append(f"share limit {d.limit_names[lim]} on {d.materials[d.limit_material[lim]]}")
        elif name in ("supply_max", "process_max"):
            e = int(fam.labels["entity"][i])
            names = d.sources if name == "supply_max" else d.processors
            parts.append(f"{names[e]} capacity in {_period(d, node)}")
    for c in cols:
        hit = _where(form, c, lp.vars)
        if hit is None:
            continue
        name, i = hit
        fam = lp.vars[name]
        e, node = int(fam.entity[i]), int(fam.node[i])
        t = int(d.tree.t[node])
        if name == "stock":
            unit = d.units[e]
            target = d.target[e, t, d.tree.rep[node]]
            if d.hard_target[e] and target > 0:
                parts.insert(0, f"{d.materials[e]} hard target {target:,.6g} {unit} in {_period(d, node)} "
                                f"({_scenarios(d, node)}) cannot be met")
            if np.isfinite(d.stock_cap[e, t]):
                parts.append(f"{d.materials[e]} stock capacity {d.stock_cap[e, t]:,.6g} {unit} in {_period(d, node)}")
            materials[e] = max(materials.get(e, node), node)
        elif name == "buy":
            k = int(d.tree.rep[node])
            cap = d.src_cap[e, t] * d.src_cmult[e, t, k]
            parts.append(f"{d.sources[e]} capacity {cap:,.6g} {d.units[d.src_material[e]]} per period")
        elif name == "process":
            k = int(d.tree.rep[node])
            parts.append(f"{d.processors[e]} capacity {d.proc_cap[e, t] * d.proc_cmult[e, t, k]:,.6g} per period")
        elif name.startswith("built_"):
            exp = d.src_exp if name.endswith("source") else d.proc_exp
            names = d.sources if name.endswith("source") else d.processors
            parts.append(f"{names[e]} expansion limit {exp.max[e]:,.6g} per period")
    for m, node in materials.items():
        t = int(d.tree.t[node])
        arrived = float(d.arrivals[m, : t + 1].sum())
        parts.append(f"{d.materials[m]} initial stock {d.initial[m]:,.6g} {d.units[m]}"
                     + (f" and contracted arrivals {arrived:,.6g} {d.units[m]} through {_period(d, node)}"
                        if arrived > 0 else ""))
        parts += _supply_blockers(d, sc, m, node)
    if not parts:
        parts = _hard_targets(d)
    return _join(parts) or "no conflicting constraint could be identified"


def _supply_blockers(d: ModelData, sc: Scenario, m: int, node: int) -> list[str]:
    """Why a material's sources cannot deliver by `node`'s period: bans (with rule names), windows, lead times."""
    t = int(d.tree.t[node])
    k = int(d.tree.rep[node])
    case = sc.cases[k]
    rules = [*sc.policies, *case.events]
    out = []
    for s in np.flatnonzero(d.src_material == m):
        src = sc.sources[s]
        banned = [r for r in rules if r.type == "ban" and filter_matches(r.where, "sources", src)]
        if banned and (d.src_ban[s, : t + 1, k] | d.arrival_ban[s, : t + 1, k]).all():
            rule = banned[0]
            label = f" by rule {rule.name}" if rule.name else ""
            since = f" from {rule.from_}" if rule.from_ else ""
            out.append(f"{d.sources[s]} banned{since}{label}")
        elif not d.src_window[s, : t + 1].any():
            out.append(f"{d.sources[s]} not available before {src.available_from}")
        elif d.src_lead[s] > t:
            out.append(f"{d.sources[s]} lead time {d.src_lead[s]} period{'s' if d.src_lead[s] != 1 else ''}")
        elif np.isfinite(d.src_cap[s, t]):
            out.append(f"{d.sources[s]} capacity {d.src_cap[s, t] * d.src_cmult[s, t, k]:,.6g} {d.units[m]} per period")
    return out


def _hard_targets(d: ModelData) -> list[str]:
    return [f"{d.materials[m]} hard target" for m in np.flatnonzero(d.hard_target)]


def _unbounded(form: Formulation, session: SolverSession) -> str:
    d = form.data
    lp = form.lp
    ray = session.primal_ray()
    parts = []
    if ray is not None:
        for name in ("surplus", "stock", "buy", "process"):
            fam = lp.vars[name]
            moving = np.flatnonzero(np.abs(ray[fam.cols]) > 1e-9)
            names = {"surplus": d.materials, "stock": d.materials, "buy": d.sources, "process": d.processors}[name]
            ents = sorted({names[int(fam.entity[i])] for i in moving})
            if ents:
                verb = {"surplus": "selling", "stock": "holding", "buy": "buying from",
                        "process": "processing in"}[name]
                parts.append(f"{verb} {', '.join(ents)} without limit")
    sells = [f"{d.materials[m]} sells at {d.sale_price[m]:,.6g}" for m in np.flatnonzero(d.sale_price > 0)]
    sells += [f"{d.materials[m]} stock is worth {d.end_value[m]:,.6g} at the end"
              for m in np.flatnonzero(d.end_value > 0)]
    text = _join(parts) or "some decision can grow without limit while lowering cost"
    if sells:
        text += f" ({_join(sells)}; give the sources or the stockpile a capacity, or lower the sale price or end value)"
    return text


def _join(parts: list[str]) -> str:
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    more = len(seen) - MAX_ITEMS
    return ", ".join(seen[:MAX_ITEMS]) + (f" and {more} more" if more > 0 else "")
