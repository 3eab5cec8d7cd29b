"""Solution stage: solver values -> tables in scenario terms, one function per table.

Decisions live on tree nodes; each table repeats a node's values for every scenario through it.
Tables are built as integer codes and numbers (CodedTable), ordered and summed there, and become
Arrow tables in the Solution: the result files are written from those, so a run never imports pandas
(~0.3 s, as much as NumPy and HiGHS together). `Solution.purchases` and the other table attributes
are pandas DataFrames made on first use, for Python users.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from optimizer.data import ModelData
from optimizer.model.lp import (CASH, PAID, PENALTIES, RECEIVED, TERMS, CostTerm, Formulation, cost_terms,
                                node_cost_coefs)
from optimizer.solve import SolveResult, SolveStatus
from optimizer.schema import TABLES
from optimizer.spec import Scenario

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Amount = TypeVar("Amount", float, np.ndarray)

ZERO = 1e-9


@dataclass(frozen=True)
class Solution:
    """A solved plan: status, headline figures, and the result tables. Built once, by
    `pipeline.finish`, and not changed afterwards.

    `arrow_tables` holds every table of `schema.TABLES` as an Arrow table (what the result files are
    written from); `purchases`, `stockpile`, `processing`, `expansion` and `prices` are the same
    tables as pandas DataFrames, made on first use (text columns as pandas strings, numbers float)."""

    status: SolveStatus
    objective: float | None
    summary: dict
    arrow_tables: dict[str, pa.Table]
    scenario: Scenario
    run: dict = field(default_factory=dict)
    explanation: str | None = None
    """Why there is no plan (infeasible or unbounded), in the scenario's terms."""
    analysis: dict | None = None
    """Decision analytics (SPEC 7, `--analyze`), written as analysis.json."""
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    def frame(self, name: str) -> pd.DataFrame:
        """Table `name` as a pandas DataFrame (made once)."""
        if name not in self._frames:
            self._frames[name] = dataframe(self.arrow_tables[name])
        return self._frames[name]

    purchases = property(lambda self: self.frame("purchases"), doc="purchases.csv as a DataFrame")
    stockpile = property(lambda self: self.frame("stockpile"), doc="stockpile.csv as a DataFrame")
    processing = property(lambda self: self.frame("processing"), doc="processing.csv as a DataFrame")
    expansion = property(lambda self: self.frame("expansion"), doc="expansion.csv as a DataFrame")
    prices = property(lambda self: self.frame("prices"), doc="prices.csv as a DataFrame")

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables as DataFrames by name, in the order of `schema.TABLES`."""
        return {name: self.frame(name) for name in TABLES}

    def write(self, directory: str | Path, formats: tuple[str, ...] = ("csv", "json"), *, report: bool = False,
              force: bool = False) -> Path:
        """Write the result folder atomically; an existing folder is replaced only when it is a result
        folder (or empty) unless `force` (see export.write_results)."""
        from optimizer.export import write_results

        return write_results(self, Path(directory), formats, report=report, force=force)


def scenario_sha256(scenario: Scenario) -> str:
    """Hash of the validated scenario (canonical JSON), identifying the input of a result folder."""
    text = json.dumps(scenario.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_members(d: ModelData, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of `nodes`, every scenario passing through it: (entry index, scenario)."""
    return d.tree.members(nodes)


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.abs(values) < ZERO, 0.0, values) + 0.0


def build_solution(form: Formulation, result: SolveResult, scenario: Scenario, *, explanation: str | None = None,
                   run: dict | None = None, extra_summary: dict | None = None,
                   analysis: dict | None = None) -> Solution:
    """Turn solver output into tables and a summary (no solution: empty tables); `extra_summary`
    entries are added to summary.json (e.g. `stability`, `regret`)."""
    d = form.data
    run = run if run is not None else {}
    usable = result.has_solution and (result.status.is_optimal or result.status.is_limit)
    if not usable:
        summary = {
            "name": d.name,
            "status": str(result.status),
            "objective": None,
            "scenario_sha256": scenario_sha256(scenario),
        }
        return Solution(result.status, None, summary, {name: empty_table(name) for name in TABLES}, scenario, run,
                        explanation)
    x = result.x
    terms = cost_terms(d, form.lp)
    costs = scenario_costs(form, terms, x)
    cash = scenario_cash(form, terms, x)
    purchases = purchases_table(form, x)
    stockpile = stockpile_table(form, x)
    processing = processing_table(form, x)
    expansion = expansion_table(form, x)
    prices = prices_table(form, result.row_dual)
    summary = summarize(form, result, costs, cash, purchases, processing, expansion, stockpile, scenario)
    summary["cost_breakdown"] = cost_breakdown(d, scenario_terms(form, terms, x))
    summary["marginal_values"] = marginal_values(form, result)
    summary["mip_gap"], summary["best_bound"] = result.mip_gap, result.mip_bound
    if result.integer_columns:
        summary["mip"] = mip_summary(result)
    summary.update(extra_summary or {})
    tables = {"purchases": purchases, "stockpile": stockpile, "processing": processing, "expansion": expansion,
              "prices": prices}
    return Solution(result.status, summary["objective"], summary, {name: tables[name].arrow() for name in TABLES},
                    scenario, run, explanation, analysis)


CostEntries = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(LP column, node bearing it, $ per unit): C_k per unit of every column (`cost_entries`)."""


def cost_entries(form: Formulation, terms: list[CostTerm]) -> CostEntries:
    """`node_cost_coefs` of every family as LP columns, family after family: what `costs_by_scenario`
    prices any plan with (worth keeping when many plans of one LP are priced)."""
    lp = form.lp
    parts = [(lp.vars[name].cols[index], node, coef)
             for name, (index, node, coef) in node_cost_coefs(form.data, lp, terms).items()]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    col, node, coef = (np.concatenate(x) for x in zip(*parts))
    return col, node, coef


def costs_by_scenario(form: Formulation, entries: CostEntries, x: np.ndarray) -> np.ndarray:
    """C_k of SPEC 4.2 for every scenario, [K] $ (discounted), of plan x priced by `entries`:
    sum over the nodes of scenario k of coefficient * x[column]."""
    col, node, coef = entries
    d = form.data
    per_node = np.bincount(node, weights=coef * x[col], minlength=d.tree.size)
    return per_node[d.tree.node_of].sum(axis=0)


def scenario_costs(form: Formulation, terms: list[CostTerm], x: np.ndarray) -> np.ndarray:
    """C_k of SPEC 4.2 for every scenario, [K] $ (discounted); `terms` are `lp.cost_terms`."""
    return costs_by_scenario(form, cost_entries(form, terms), x)


def scenario_terms(form: Formulation, terms: list[CostTerm], x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Every cost term of every scenario (`terms`: `lp.cost_terms`), {"discounted" | "undiscounted": {term: [K] $}}."""
    d, lp = form.data, form.lp
    disc = d.calendar.discount
    N = d.tree.size
    per_node = {kind: {name: np.zeros(N) for name in TERMS} for kind in ("discounted", "undiscounted")}
    for term in terms:
        value = term.amount * x[lp.vars[term.family].cols[term.index]]
        per_node["undiscounted"][term.name] += np.bincount(term.node, weights=value, minlength=N)
        per_node["discounted"][term.name] += np.bincount(term.node, weights=disc[term.period] * value, minlength=N)
    return {kind: {name: v[d.tree.node_of].sum(axis=0) for name, v in terms.items()}
            for kind, terms in per_node.items()}


def scenario_cash(form: Formulation, terms: list[CostTerm], x: np.ndarray) -> np.ndarray:
    """Cash spend of every scenario (SPEC 6): undiscounted purchases (delivered) + processing + capex
    (+ fixed costs), [K] $; `terms` are `lp.cost_terms`."""
    d, lp = form.data, form.lp
    per_node = np.zeros(d.tree.size)
    for term in terms:
        if term.name in CASH:
            np.add.at(per_node, term.node, term.amount * x[lp.vars[term.family].cols[term.index]])
    return per_node[d.tree.node_of].sum(axis=0)


def money(terms: Mapping[str, Amount]) -> Amount:
    """What is really paid or received (SPEC 6's `money`): the PAID terms minus the RECEIVED ones,
    of one scenario's terms ($) or of every scenario's ([K] $)."""
    return sum(terms[n] for n in PAID) - sum(terms[n] for n in RECEIVED)


def scenario_money(form: Formulation, terms: list[CostTerm], x: np.ndarray) -> np.ndarray:
    """`money` of every scenario, discounted (as `cost_breakdown` reports it), [K] $."""
    return money(scenario_terms(form, terms, x)["discounted"])


def cost_breakdown(d: ModelData, terms: dict[str, dict[str, np.ndarray]]) -> dict:
    """summary.json's `cost_breakdown` (SPEC 6): each term of C_k apart, per scenario and in
    expectation, discounted and undiscounted, with the subtotals money (paid minus received), penalties
    (not money) and total = money + penalties (discounted: C_k). Undiscounted, cash_spend."""
    def block(kind: str, values: dict[str, float]) -> dict[str, float]:
        out = {name: values[name] for name in TERMS}
        out["money"] = money(values)
        out["penalties"] = sum(values[n] for n in PENALTIES)
        out["total"] = out["money"] + out["penalties"]
        if kind == "undiscounted":
            out["cash_spend"] = sum(values[n] for n in CASH)
        return out

    def both(pick) -> dict:
        return {kind: block(kind, {name: pick(v) for name, v in terms[kind].items()}) for kind in terms}

    return {
        "definitions": BREAKDOWN_DEFINITIONS,
        "expected": both(lambda v: float(d.prob @ v)),
        "scenarios": {name: both(lambda v, k=k: float(v[k])) for k, name in enumerate(d.scenarios)},
    }


#: What the keys of `cost_breakdown` add up to, written into summary.json so the file explains itself.
BREAKDOWN_DEFINITIONS = {
    "money": " + ".join(PAID) + " - " + " - ".join(RECEIVED),
    "penalties": " + ".join(PENALTIES) + " (not money)",
    "total": "money + penalties; discounted, it is the scenario's cost C_k (expected: expected_cost)",
    "cash_spend": " + ".join(CASH) + ", undiscounted (the summary's cash_spend)",
    "tariffs": "the part of purchases that is tariff (already in purchases)",
    "purchases": "landed cost of delivered orders (an order stopped by a ban on arrival is not paid)",
}


def cvar(costs: np.ndarray, prob: np.ndarray, alpha: float) -> float:
    """CVaR_alpha of a discrete cost distribution: min over eta of eta + E[max(0, C - eta)] / (1 - alpha)."""
    return float(cvar_rows(np.asarray(costs, dtype=float)[None, :], prob, alpha)[0])


def cvar_rows(costs: np.ndarray, prob: np.ndarray, alpha: float) -> np.ndarray:
    """`cvar` of every row of costs [G, K] (the minimum over eta is attained at one of the costs)."""
    excess = np.maximum(0.0, costs[:, None, :] - costs[:, :, None])  # [G, eta, K]
    return (costs + (excess * prob).sum(axis=2) / (1.0 - alpha)).min(axis=1)


def _expand(form: Formulation, fam_name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entity, node, scenario, value) rows of a variable family, one per scenario through each node."""
    fam = form.lp.vars[fam_name]
    vals = x[fam.cols]
    keep = np.abs(vals) >= ZERO
    idx, k = scenario_members(form.data, fam.node[keep])
    return fam.entity[keep][idx], fam.node[keep][idx], k, vals[keep][idx]


def _labels(d: ModelData) -> list[str | None]:
    """Period labels indexed by period; index `periods` (past the horizon) is empty."""
    return [*d.calendar.labels, None]


def _period(d: ModelData, t: np.ndarray) -> np.ndarray:
    """Codes into `_labels(d)`: periods past the horizon map to the empty label."""
    return np.minimum(t, d.calendar.periods)


def _rank(names: list[str | None]) -> np.ndarray:
    """Position of each name in text order (code points, empty last): integer keys that sort rows
    exactly as sorting the text would."""
    order = sorted(range(len(names)), key=lambda i: (names[i] is None, names[i] or ""))
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank


@dataclass
class CodedTable:
    """A result table before pandas: text columns as codes into name lists, numbers as arrays.

    Rows are ordered and grouped on the integer codes, and text is made once per distinct name (in
    Arrow), which is what keeps building the tables cheap next to HiGHS's solve.
    """

    columns: dict[str, np.ndarray]
    """column -> codes (text columns) or values (numbers), in column order"""
    names: dict[str, list[str | None]]
    """text column -> the names its codes index"""

    def ordered_by(self, keys: Sequence[str]) -> CodedTable:
        order = np.lexsort([_rank(self.names[key])[self.columns[key]] for key in reversed(keys)])
        return CodedTable({col: values[order] for col, values in self.columns.items()}, self.names)

    def arrow(self) -> pa.Table:
        """The table in Arrow: text columns as strings (each distinct name made once), numbers float64."""
        from optimizer import columns

        return columns.table({col: columns.coded_strings(self.names[col], values) if col in self.names
                              else columns.floats(values) for col, values in self.columns.items()})


def empty_table(name: str) -> pa.Table:
    """Table `name` with its columns (schema.TABLES) and no rows: what a run without a plan writes."""
    from optimizer import columns

    spec = TABLES[name]
    return columns.table({col: columns.strings([]) if col in spec.text_columns else columns.floats(np.zeros(0))
                          for col in spec.column_names})


def dataframe(table: pa.Table) -> pd.DataFrame:
    """An Arrow result table as pandas: text columns as pandas strings (missing -> NA), numbers float."""
    import pandas as pd
    import pyarrow as pa

    data = {}
    for col, values in zip(table.column_names, table.columns):
        if pa.types.is_string(values.type):
            data[col] = pd.Series(values.combine_chunks(), dtype="str")
        else:
            data[col] = values.to_numpy()
    return pd.DataFrame(data, columns=table.column_names)


def purchases_table(form: Formulation, x: np.ndarray) -> CodedTable:
    """One row per order: scenario, period, source, quantity, prices, spend, arrival period.

    An order that a ban `on: arrival` stops in a scenario (SPEC 4.1.11) keeps its row there with the
    quantity ordered, spend 0 and no arrival period."""
    d = form.data
    s, n, k, q = _expand(form, "buy", x)
    t = d.tree.t[n]
    unit = d.price[s, t] * d.pmult[s, t, k]
    tariff = d.tariff[s, t, k]
    landed = d.landed[s, t, k]
    delivered = d.delivered[s, t, k]
    arrival = np.where(delivered > 0, t + d.src_lead[s], d.calendar.periods)
    table = CodedTable(
        {
            "scenario": k,
            "period": _period(d, t),
            "source": s,
            "material": d.src_material[s],
            "region": s,
            "country": s,
            "quantity": _clean(q),
            "unit_price": _clean(unit),
            "tariff_rate": _clean(tariff),
            "landed_cost": _clean(landed),
            "spend": _clean(landed * q * delivered),
            "arrival_period": _period(d, arrival),
        },
        {"scenario": d.scenarios, "period": _labels(d), "source": d.sources, "material": d.materials,
         "region": d.src_region, "country": d.src_country, "arrival_period": _labels(d)},
    )
    return table.ordered_by(TABLES["purchases"].keys)


def _dense(form: Formulation, fam_name: str, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape)
    fam = form.lp.vars.get(fam_name)
    if fam is not None:
        out[fam.entity, fam.node] = x[fam.cols]
    return out


def stockpile_table(form: Formulation, x: np.ndarray) -> CodedTable:
    """One row per scenario, period and material: level, target, below target, shortfall, surplus, demand."""
    d = form.data
    tree = d.tree
    M, N = len(d.materials), tree.size
    cols = {
        "level": _dense(form, "stock", x, (M, N)),
        "target": np.where(d.has_stock[:, None], d.target[:, tree.t, tree.rep], 0.0),
        "below_target": _dense(form, "below", x, (M, N)),
        "shortfall": _dense(form, "short", x, (M, N)),
        "surplus": _dense(form, "surplus", x, (M, N)),
        "demand": d.demand[:, tree.t] * d.dmult[:, tree.t, tree.rep],
    }
    T, K = tree.node_of.shape
    node = tree.node_of  # [T, K]
    m, t, k = np.indices((M, T, K)).reshape(3, -1)
    nk = node[t, k]
    values = {name: _clean(arr[m, nk]) for name, arr in cols.items()}
    nonzero = np.any(np.stack([np.abs(v) >= ZERO for v in values.values()]), axis=0)
    table = CodedTable(
        {"scenario": k[nonzero], "period": t[nonzero], "material": m[nonzero],
         **{name: v[nonzero] for name, v in values.items()}},
        {"scenario": d.scenarios, "period": _labels(d), "material": d.materials},
    )
    return table.ordered_by(TABLES["stockpile"].keys)


def processing_table(form: Formulation, x: np.ndarray) -> CodedTable:
    """One row per processor run and material: input consumed (flow=input) or co-product made (output)."""
    d = form.data
    p, n, k, q = _expand(form, "process", x)
    t = d.tree.t[n]
    unit_cost = d.proc_cost[p, t]
    parts = [(p, t, k, d.proc_input[p], np.zeros(len(p), dtype=np.int64), q, unit_cost, unit_cost * q)]
    for m in range(len(d.materials)):
        y = d.yields[p, m]
        sel = y > 0
        made = y[sel] * q[sel]
        parts.append((p[sel], t[sel], k[sel], np.full(len(made), m), np.ones(len(made), dtype=np.int64), made,
                      np.zeros(len(made)), np.zeros(len(made))))
    p, t, k, m, flow, qty, cost, spend = (np.concatenate(column) for column in zip(*parts))
    keep = np.abs(qty) >= ZERO
    table = CodedTable(
        {"scenario": k[keep], "period": t[keep], "processor": p[keep], "material": m[keep], "flow": flow[keep],
         "quantity": _clean(qty[keep]), "unit_cost": _clean(cost[keep]), "spend": _clean(spend[keep])},
        {"scenario": d.scenarios, "period": _labels(d), "processor": d.processors, "material": d.materials,
         "flow": ["input", "output"]},
    )
    return table.ordered_by(TABLES["processing"].keys)


def expansion_table(form: Formulation, x: np.ndarray) -> CodedTable:
    """One row per capacity build: scenario, period, kind, entity, capacity built, capex, spend, usable from.
    Entity codes index sources, then processors."""
    d = form.data
    parts = []
    for kind, name, offset, exp in ((0, "build_source", 0, d.src_exp),
                                    (1, "build_processor", len(d.sources), d.proc_exp)):
        if name not in form.lp.vars:
            continue
        e, n, k, q = _expand(form, name, x)
        t = d.tree.t[n]
        parts.append((k, t, np.full(len(e), kind), e + offset, q, exp.capex[e], exp.capex[e] * q, t + exp.lead[e]))
    empty = np.zeros(0, dtype=np.int64)
    k, t, kind, e, built, capex, spend, usable = (np.concatenate(column) for column in zip(*parts)) if parts \
        else (empty,) * 8
    table = CodedTable(
        {"scenario": k, "period": _period(d, t), "kind": kind, "entity": e, "built": _clean(built),
         "capex": _clean(capex), "spend": _clean(spend), "usable_from": _period(d, usable)},
        {"scenario": d.scenarios, "period": _labels(d), "kind": ["source", "processor"],
         "entity": [*d.sources, *d.processors], "usable_from": _labels(d)},
    )
    return table.ordered_by(TABLES["expansion"].keys)


def prices_table(form: Formulation, row_dual: np.ndarray) -> CodedTable:
    """Shadow price of each material balance: dual / (prob_node * disc_t), in that period's money [$/unit]."""
    d = form.data
    fam = form.lp.rows["material_balance"]
    dual = row_dual[fam.first: fam.first + fam.size]
    m, n = fam.labels["material"], fam.labels["node"]
    tree = d.tree
    weight = tree.prob[n] * d.calendar.discount[tree.t[n]]
    price = np.divide(dual, weight, out=np.zeros_like(dual), where=weight > 0)
    idx, k = scenario_members(d, n)
    value = _clean(price[idx])
    keep = np.abs(value) >= ZERO
    table = CodedTable(
        {"scenario": k[keep], "period": tree.t[n[idx[keep]]], "material": m[idx[keep]], "shadow_price": value[keep]},
        {"scenario": d.scenarios, "period": _labels(d), "material": d.materials},
    )
    return table.ordered_by(TABLES["prices"].keys)


def marginal_values(form: Formulation, result: SolveResult) -> dict:
    """What one more unit of each budget ($) and of each stockpile capacity (unit, in every period)
    would lower the objective by, from the duals; 0 where the limit does not bind."""
    d = form.data
    out: dict[str, dict[str, float]] = {"budgets": {}, "stock_capacity": {}}
    fam = form.lp.rows.get("budget_max")
    for b, name in enumerate(d.budget_names):
        value = 0.0
        if fam is not None and result.row_dual is not None:
            rows = fam.first + np.flatnonzero(fam.labels["budget"] == b)
            value = float(-result.row_dual[rows].sum())
        out["budgets"][name] = max(value, 0.0)
    stock = form.lp.vars["stock"]
    if result.col_dual is not None and len(stock.entity):
        hi = d.stock_cap[stock.entity, d.tree.t[stock.node]]
        at_cap = np.isfinite(hi) & (np.abs(result.x[stock.cols] - hi) <= 1e-9 * np.maximum(1.0, np.abs(hi)))
        gain = np.where(at_cap, -result.col_dual[stock.cols], 0.0)
        for m in np.flatnonzero(d.has_stock):
            if np.isfinite(d.stock_cap[m]).any():
                out["stock_capacity"][d.materials[m]] = max(float(gain[stock.entity == m].sum()), 0.0)
    return out


#: How a MILP's shadow prices and marginal values were obtained (SPEC 4.5), in summary.json's `mip` block.
FIXED_INTEGER_LP = "the LP with every order and module fixed at its value in this plan"
"""What a MILP's shadow prices, marginal values and ranges are of (SPEC 4.5, 7.4)."""
RELAXATION_LP = "the linear relaxation, orders and modules fractional"
"""...and those of its relaxation (`--relax`)."""
DUALS_OF_FIXED = f"of {FIXED_INTEGER_LP} (prices.csv and marginal_values)"
DUALS_OF_RELAXATION = f"of {RELAXATION_LP} (prices.csv and marginal_values)"


def mip_summary(result: SolveResult) -> dict:
    """summary.json's `mip` block for a program with integer decisions (SPEC 4.5): how many integer
    variables there are, whether the linear relaxation was solved instead (`--relax`), and what the
    shadow prices are of. The gap and best bound are top-level keys (`mip_gap`, `best_bound`: null
    for an LP, a relaxation, or a MILP with no bound proven)."""
    return {
        "integer_variables": result.integer_columns,
        "relaxed": result.relaxed,
        "shadow_prices": DUALS_OF_RELAXATION if result.relaxed else DUALS_OF_FIXED,
    }


def _weighted_totals(names: list[str], codes: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Total of `values` by name, for the names that occur in `codes`, in name order."""
    total = np.bincount(codes, weights=values, minlength=len(names))
    present = np.bincount(codes, minlength=len(names)) > 0
    return {str(names[i]): float(total[i]) for i in sorted(np.flatnonzero(present), key=names.__getitem__)}


def _spend_by_region(form: Formulation, x: np.ndarray, purchases: CodedTable, processing: CodedTable,
                     expansion: CodedTable) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(region names, region code, scenario, spend) of every purchase, processor run and build row,
    and of every order's fixed cost (SPEC v2: paid to the source, delivered or not)."""
    d = form.data
    regions = sorted(set(d.src_region) | set(d.proc_region))
    code = {name: i for i, name in enumerate(regions)}
    src = np.array([code[r] for r in d.src_region], dtype=np.int64)
    proc = np.array([code[r] for r in d.proc_region], dtype=np.int64)
    s, k, fixed = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if "order" in form.lp.vars:
        s, _, k, placed = _expand(form, "order", x)
        fixed = d.fixed_cost[s] * placed
    region = np.concatenate([src[purchases.columns["source"]], proc[processing.columns["processor"]],
                             np.concatenate([src, proc])[expansion.columns["entity"]], src[s]]).astype(np.int64)
    scenario = np.concatenate([*(t.columns["scenario"] for t in (purchases, processing, expansion)), k]
                              ).astype(np.int64)
    spend = np.concatenate([*(t.columns["spend"] for t in (purchases, processing, expansion)), fixed])
    return regions, region, scenario, spend


def summarize(form: Formulation, result: SolveResult, costs: np.ndarray, cash: np.ndarray,
              purchases: CodedTable, processing: CodedTable, expansion: CodedTable,
              stockpile: CodedTable, scenario: Scenario) -> dict:
    """summary.json content (SPEC section 6); totals by material and region are probability-weighted
    over scenarios."""
    d = form.data
    prob = d.prob
    expected = float(prob @ costs)
    risk = cvar(costs, prob, d.alpha)
    regions, region, k_spend, spend = _spend_by_region(form, result.x, purchases, processing, expansion)
    M = len(d.materials)
    k_stock, m_stock = stockpile.columns["scenario"], stockpile.columns["material"]
    shortfall = stockpile.columns["shortfall"]
    short_by_scenario = np.bincount(k_stock * M + m_stock, weights=shortfall,
                                    minlength=len(d.scenarios) * M).reshape(len(d.scenarios), M)
    scenarios = {}
    for k, name in enumerate(d.scenarios):
        short = {str(d.materials[m]): float(short_by_scenario[k, m]) for m in np.flatnonzero(short_by_scenario[k])}
        scenarios[name] = {
            "probability": float(prob[k]),
            "cost": float(costs[k]),
            "cash_spend": float(cash[k]),
            "shortfall": dict(sorted(short.items())),
        }
    return {
        "name": d.name,
        "status": str(result.status),
        "objective": float(result.objective) if result.objective is not None else None,
        "expected_cost": expected,
        "cvar": risk,
        "cvar_alpha": d.alpha,
        "risk_aversion": d.aversion,
        "cash_spend": float(prob @ cash),
        "currency": d.currency,
        "periods": d.calendar.periods,
        "period_months": d.calendar.length,
        "start": d.calendar.labels[0],
        "scenarios": scenarios,
        "shortfall_by_material": _weighted_totals(d.materials, m_stock, prob[k_stock] * shortfall),
        "spend_by_region": _weighted_totals(regions, region, prob[k_spend] * spend),
        "scenario_sha256": scenario_sha256(scenario),
    }
