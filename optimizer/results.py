"""Solution stage: solver values -> tables in scenario terms (pandas), one function per table.

Decisions live on tree nodes; each table repeats a node's values for every scenario through it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.data import ModelData
from optimizer.model.lp import Formulation, node_cost_coefs, spend_coefs
from optimizer.solve import SolveResult
from optimizer.spec import Scenario

ZERO = 1e-9


@dataclass
class Solution:
    """A solved plan: status, headline figures, and the result tables as DataFrames."""

    status: str
    objective: float | None
    summary: dict
    purchases: pd.DataFrame
    stockpile: pd.DataFrame
    processing: pd.DataFrame
    expansion: pd.DataFrame
    prices: pd.DataFrame
    scenario: Scenario
    run: dict = field(default_factory=dict)
    explanation: str | None = None
    """Why there is no plan (infeasible or unbounded), in the scenario's terms."""

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "purchases": self.purchases,
            "stockpile": self.stockpile,
            "processing": self.processing,
            "expansion": self.expansion,
            "prices": self.prices,
        }

    def write(self, directory: str | Path, formats: tuple[str, ...] = ("csv", "json")) -> Path:
        """Write the result folder atomically (see export.write_results)."""
        from optimizer.export import write_results

        return write_results(self, Path(directory), formats)


def scenario_sha256(scenario: Scenario) -> str:
    """Hash of the validated scenario (canonical JSON), identifying the input of a result folder."""
    text = json.dumps(scenario.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_members(d: ModelData, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of `nodes`, every scenario passing through it: (entry index, scenario)."""
    tree = d.tree
    K = len(d.scenarios)
    member = tree.node_of[tree.t[nodes]] == nodes[:, None]  # [n, K]
    idx, k = np.nonzero(member.reshape(len(nodes), K))
    return idx, k


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.abs(values) < ZERO, 0.0, values) + 0.0


def build_solution(form: Formulation, result: SolveResult, scenario: Scenario) -> Solution:
    """Turn solver output into tables and a summary (no solution: empty tables)."""
    d = form.data
    usable = result.has_solution and result.status in ("optimal", "time_limit", "iteration_limit")
    if not usable:
        empty = pd.DataFrame()
        summary = {
            "name": d.name,
            "status": result.status,
            "objective": None,
            "scenario_sha256": scenario_sha256(scenario),
        }
        return Solution(result.status, None, summary, empty, empty, empty, empty, empty, scenario)
    x = result.x
    costs = scenario_costs(form, x)
    cash = scenario_cash(form, x)
    purchases = purchases_table(form, x)
    stockpile = stockpile_table(form, x)
    processing = processing_table(form, x)
    expansion = expansion_table(form, x)
    prices = prices_table(form, result.row_dual)
    summary = summarize(form, result, costs, cash, purchases, processing, expansion, stockpile, scenario)
    summary["marginal_values"] = marginal_values(form, result)
    return Solution(result.status, summary["objective"], summary, purchases, stockpile, processing,
                    expansion, prices, scenario)


def scenario_costs(form: Formulation, x: np.ndarray) -> np.ndarray:
    """C_k of SPEC 4.2 for every scenario, [K] $ (discounted)."""
    return _path_sum(form, node_cost_coefs(form.data, form.lp), x)


def scenario_cash(form: Formulation, x: np.ndarray) -> np.ndarray:
    """Undiscounted purchases + processing + capex of every scenario, [K] $."""
    return _path_sum(form, spend_coefs(form.data, form.lp), x)


def _path_sum(form: Formulation, coefs: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    d = form.data
    per_node = np.zeros(d.tree.size)
    for name, coef in coefs.items():
        fam = form.lp.vars[name]
        np.add.at(per_node, fam.node, coef * x[fam.cols])
    return per_node[d.tree.node_of].sum(axis=0)


def cvar(costs: np.ndarray, prob: np.ndarray, alpha: float) -> float:
    """CVaR_alpha of a discrete cost distribution: min over eta of eta + E[max(0, C - eta)] / (1 - alpha)."""
    return float(min(eta + np.sum(prob * np.maximum(0.0, costs - eta)) / (1.0 - alpha) for eta in costs))


def _expand(form: Formulation, fam_name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entity, node, scenario, value) rows of a variable family, one per scenario through each node."""
    fam = form.lp.vars[fam_name]
    vals = x[fam.cols]
    keep = np.abs(vals) >= ZERO
    idx, k = scenario_members(form.data, fam.node[keep])
    return fam.entity[keep][idx], fam.node[keep][idx], k, vals[keep][idx]


def _labels(d: ModelData, t: np.ndarray) -> np.ndarray:
    labels = np.array(d.calendar.labels + [None], dtype=object)
    return labels[np.minimum(t, d.calendar.periods)]


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def purchases_table(form: Formulation, x: np.ndarray) -> pd.DataFrame:
    """One row per order: scenario, period, source, quantity, prices, spend, arrival period."""
    d = form.data
    s, n, k, q = _expand(form, "buy", x)
    t = d.tree.t[n]
    unit = d.price[s, t] * d.pmult[s, t, k]
    tariff = d.tariff[s, t, k]
    landed = d.landed[s, t, k]
    df = pd.DataFrame({
        "scenario": np.array(d.scenarios, dtype=object)[k],
        "period": _labels(d, t),
        "source": np.array(d.sources, dtype=object)[s],
        "material": np.array(d.materials, dtype=object)[d.src_material[s]],
        "region": np.array(d.src_region, dtype=object)[s],
        "country": np.array(d.src_country, dtype=object)[s],
        "quantity": _clean(q),
        "unit_price": _clean(unit),
        "tariff_rate": _clean(tariff),
        "landed_cost": _clean(landed),
        "spend": _clean(landed * q),
        "arrival_period": _labels(d, t + d.src_lead[s]),
    })
    return _sorted(df, ["scenario", "period", "source"])


def _dense(form: Formulation, fam_name: str, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape)
    fam = form.lp.vars.get(fam_name)
    if fam is not None:
        out[fam.entity, fam.node] = x[fam.cols]
    return out


def stockpile_table(form: Formulation, x: np.ndarray) -> pd.DataFrame:
    """One row per scenario, period and material: level, target, below target, shortfall, surplus, demand."""
    d = form.data
    tree = d.tree
    M, N = len(d.materials), tree.size
    cols = {
        "level": _dense(form, "stock", x, (M, N)),
        "target": np.where(d.has_stock[:, None], d.target[:, tree.t], 0.0),
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
    df = pd.DataFrame({
        "scenario": np.array(d.scenarios, dtype=object)[k[nonzero]],
        "period": _labels(d, t[nonzero]),
        "material": np.array(d.materials, dtype=object)[m[nonzero]],
        **{name: v[nonzero] for name, v in values.items()},
    })
    return _sorted(df, ["scenario", "period", "material"])


def processing_table(form: Formulation, x: np.ndarray) -> pd.DataFrame:
    """One row per processor run and material: input consumed (flow=input) or co-product made (output)."""
    d = form.data
    p, n, k, q = _expand(form, "process", x)
    t = d.tree.t[n]
    unit_cost = d.proc_cost[p, t]
    frames = [pd.DataFrame({
        "p": p, "t": t, "k": k, "material": d.proc_input[p], "flow": "input", "quantity": q,
        "unit_cost": unit_cost, "spend": unit_cost * q,
    })]
    for m in range(len(d.materials)):
        y = d.yields[p, m]
        sel = y > 0
        frames.append(pd.DataFrame({
            "p": p[sel], "t": t[sel], "k": k[sel], "material": m, "flow": "output", "quantity": y[sel] * q[sel],
            "unit_cost": 0.0, "spend": 0.0,
        }))
    raw = pd.concat(frames, ignore_index=True)
    raw = raw[np.abs(raw["quantity"].to_numpy(dtype=float)) >= ZERO]
    df = pd.DataFrame({
        "scenario": np.array(d.scenarios, dtype=object)[raw["k"].to_numpy(dtype=int)],
        "period": _labels(d, raw["t"].to_numpy(dtype=int)),
        "processor": np.array(d.processors, dtype=object)[raw["p"].to_numpy(dtype=int)],
        "material": np.array(d.materials, dtype=object)[raw["material"].to_numpy(dtype=int)],
        "flow": raw["flow"].to_numpy(dtype=object),
        "quantity": _clean(raw["quantity"].to_numpy(dtype=float)),
        "unit_cost": _clean(raw["unit_cost"].to_numpy(dtype=float)),
        "spend": _clean(raw["spend"].to_numpy(dtype=float)),
    })
    return _sorted(df, ["scenario", "period", "processor", "flow", "material"])


def expansion_table(form: Formulation, x: np.ndarray) -> pd.DataFrame:
    """One row per capacity build: scenario, period, kind, entity, capacity built, capex, spend, usable from."""
    d = form.data
    frames = []
    for kind, names, exp in (("source", d.sources, d.src_exp), ("processor", d.processors, d.proc_exp)):
        if f"build_{kind}" not in form.lp.vars:
            continue
        e, n, k, q = _expand(form, f"build_{kind}", x)
        t = d.tree.t[n]
        frames.append(pd.DataFrame({
            "scenario": np.array(d.scenarios, dtype=object)[k],
            "period": _labels(d, t),
            "kind": kind,
            "entity": np.array(names, dtype=object)[e],
            "built": _clean(q),
            "capex": _clean(exp.capex[e]),
            "spend": _clean(exp.capex[e] * q),
            "usable_from": _labels(d, t + exp.lead[e]),
        }))
    columns = ["scenario", "period", "kind", "entity", "built", "capex", "spend", "usable_from"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("scenario", "period", "kind", "entity", "usable_from") else float) for c in columns})
    return _sorted(pd.concat(frames, ignore_index=True), ["scenario", "period", "kind", "entity"])


def prices_table(form: Formulation, row_dual: np.ndarray) -> pd.DataFrame:
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
    df = pd.DataFrame({
        "scenario": np.array(d.scenarios, dtype=object)[k[keep]],
        "period": _labels(d, tree.t[n[idx[keep]]]),
        "material": np.array(d.materials, dtype=object)[m[idx[keep]]],
        "shadow_price": value[keep],
    })
    return _sorted(df, ["scenario", "period", "material"])


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


def _by(df: pd.DataFrame, key: str, value: str, weights: dict[str, float]) -> dict[str, float]:
    """Probability-weighted total of `value` by `key` over scenarios."""
    if df.empty:
        return {}
    w = df["scenario"].map(weights).to_numpy(dtype=float)
    out = (df.assign(_w=df[value].to_numpy(dtype=float) * w).groupby(key)["_w"].sum())
    return {str(k): float(v) for k, v in sorted(out.items())}


def summarize(form: Formulation, result: SolveResult, costs: np.ndarray, cash: np.ndarray,
              purchases: pd.DataFrame, processing: pd.DataFrame, expansion: pd.DataFrame,
              stockpile: pd.DataFrame, scenario: Scenario) -> dict:
    """summary.json content (SPEC section 6)."""
    d = form.data
    prob = d.prob
    weights = dict(zip(d.scenarios, prob.tolist()))
    expected = float(prob @ costs)
    risk = cvar(costs, prob, d.alpha)
    region_of = dict(zip(d.processors, d.proc_region)) | dict(zip(d.sources, d.src_region))
    spend = pd.concat([
        purchases[["scenario", "region", "spend"]] if not purchases.empty else None,
        processing.assign(region=processing["processor"].map(region_of))[["scenario", "region", "spend"]]
        if not processing.empty else None,
        expansion.assign(region=expansion["entity"].map(region_of))[["scenario", "region", "spend"]]
        if not expansion.empty else None,
    ]) if not (purchases.empty and processing.empty and expansion.empty) else pd.DataFrame(
        columns=["scenario", "region", "spend"])
    short_by_scenario = (
        stockpile.groupby(["scenario", "material"])["shortfall"].sum() if not stockpile.empty else pd.Series(dtype=float)
    )
    scenarios = {}
    for k, name in enumerate(d.scenarios):
        shortfall = {str(m): float(v) for (s, m), v in short_by_scenario.items() if s == name and v != 0}
        scenarios[name] = {
            "probability": float(prob[k]),
            "cost": float(costs[k]),
            "cash_spend": float(cash[k]),
            "shortfall": dict(sorted(shortfall.items())),
        }
    return {
        "name": d.name,
        "status": result.status,
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
        "shortfall_by_material": {m: v for m, v in _by(stockpile, "material", "shortfall", weights).items()},
        "spend_by_region": _by(spend, "region", "spend", weights),
        "scenario_sha256": scenario_sha256(scenario),
    }
