"""Synthetic, SPEC-valid scenarios for benchmarks: small (~5k variables), medium (~150k), large (~2M).

Deterministic given (size, seed): the same call writes the same bytes. Every feature of SPEC section 2
appears: all five rule types (as policies and as scenario events), processors with co-products and
expansion, source expansion, budgets, share limits over periods and over the horizon, stockpiles with
soft and hard targets, and 10-20 disruption scenarios whose events start at different dates, so the
non-anticipativity tree branches over time.

    python benchmarks/generate.py --size medium --out benchmarks/scenarios/
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Size:
    """Shape of a generated scenario."""

    minerals: int  # materials with demand
    sources_per_mineral: int
    periods: int  # months
    scenarios: int  # including the base scenario
    branch_span: float  # events start within this fraction of the horizon (earlier = more tree nodes)


SIZES = {
    "small": Size(minerals=5, sources_per_mineral=3, periods=18, scenarios=10, branch_span=0.6),
    "medium": Size(minerals=20, sources_per_mineral=6, periods=60, scenarios=12, branch_span=0.5),
    "large": Size(minerals=50, sources_per_mineral=12, periods=120, scenarios=20, branch_span=0.4),
}

MINERALS = [
    "lithium", "cobalt", "nickel", "graphite", "manganese", "gallium", "germanium", "dysprosium", "terbium",
    "neodymium", "praseodymium", "tungsten", "antimony", "vanadium", "titanium", "platinum", "palladium",
    "indium", "tellurium", "niobium", "tantalum", "beryllium", "bismuth", "chromium", "hafnium", "magnesium",
    "aluminum", "arsenic", "barite", "cerium", "cesium", "erbium", "europium", "fluorspar", "gadolinium",
    "holmium", "iridium", "lanthanum", "lutetium", "rhodium", "rubidium", "ruthenium", "samarium",
    "scandium", "thulium", "tin", "ytterbium", "yttrium", "zinc", "zirconium",
]

# (region, country) of the k-th source of a mineral, cycled; the first is always China.
SUPPLIERS = [
    ("china", "CN"), ("allied", "AU"), ("domestic", "US"), ("allied", "CA"), ("other", "CD"),
    ("allied", "JP"), ("other", "BR"), ("deep_sea", "INTL"), ("allied", "DE"), ("other", "ID"),
    ("allied", "KR"), ("other", "ZA"),
]
REGION_PRICE = {"china": 1.0, "allied": 1.35, "domestic": 1.6, "other": 1.15, "deep_sea": 1.25}


def month(start_year: int, offset: int) -> str:
    """`YYYY-MM` of the month `offset` months after January of `start_year`."""
    return f"{start_year + offset // 12:04d}-{offset % 12 + 1:02d}"


def generate(size: str | Size = "small", seed: int = 0, aversion: float = 0.0) -> dict[str, Any]:
    """A scenario as a plain dict (what the YAML file holds)."""
    shape = SIZES[size] if isinstance(size, str) else size
    name = size if isinstance(size, str) else "custom"
    rng = np.random.default_rng(seed)
    T, year0 = shape.periods, 2026
    years = max(1, T // 12)

    def num(x: float, digits: int = 4) -> float:
        return float(f"{x:.{digits}g}")

    def yearly(base: float, drift: float, noise: float) -> dict[str, float]:
        """A step-function SERIES with one value per year."""
        level = base
        out = {}
        for y in range(years):
            out[month(year0, 12 * y)] = num(level)
            level *= 1.0 + drift + noise * rng.standard_normal()
        return out

    mineral_ids = [MINERALS[i] if i < len(MINERALS) else f"mineral-{i:03d}" for i in range(shape.minerals)]
    n_feed = max(1, shape.minerals // 5)
    feed_ids = [f"nodules-{f:02d}" for f in range(n_feed)]
    base_price = {m: num(float(rng.lognormal(np.log(2.0e4), 1.0))) for m in mineral_ids}
    demand_level = {m: num(float(rng.uniform(50, 500))) for m in mineral_ids}

    materials: list[dict[str, Any]] = []
    hard = mineral_ids[-1]  # one material with a hard target, reachable from its initial stock
    for i, m in enumerate(mineral_ids):
        p, d = base_price[m], demand_level[m]
        season = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(T) / 12 + i)
        growth = (1.0 + rng.uniform(0.0, 0.04)) ** (np.arange(T) / 12)
        mat: dict[str, Any] = {
            "id": m,
            "unit": "t",
            "demand": [num(v) for v in d * season * growth] if i % 2 == 0 else yearly(d, 0.03, 0.02),
            "shortfall_penalty": num(8 * p),
            "sale_price": num(0.2 * p),
        }
        if i % 4 == 1:
            mat["arrivals"] = {month(year0, 0): num(0.2 * d), month(year0, 6): 0}
        if i % 5 != 4:  # most minerals can be stockpiled
            target = {month(year0, 0): 0, month(year0, min(12, T - 1)): num(1.5 * d)}
            stock: dict[str, Any] = {
                "initial": num(0.5 * d),
                "capacity": num(12 * d) if i % 3 else {month(year0, 0): num(4 * d),
                                                       month(year0, min(24, T - 1)): num(10 * d)},
                "holding_cost": num(0.004 * p),
                "target": target,
                "target_penalty": num(0.05 * p),
            }
            if m == hard:
                stock.update(initial=num(2 * d), target=num(d), hard_target=True)
                stock.pop("target_penalty")
                stock["capacity"] = num(12 * d)
            mat["stockpile"] = stock
        elif m == hard:
            mat["stockpile"] = {"initial": num(2 * d), "target": num(d), "hard_target": True,
                                "holding_cost": num(0.004 * p)}
        materials.append(mat)
    for f in feed_ids:
        materials.append({"id": f, "unit": "t", "description": "polymetallic feedstock, processed only",
                          "stockpile": {"initial": 0, "holding_cost": 1.0}})

    sources: list[dict[str, Any]] = []
    for i, m in enumerate(mineral_ids):
        p, d = base_price[m], demand_level[m]
        for j in range(shape.sources_per_mineral):
            region, country = SUPPLIERS[j % len(SUPPLIERS)]
            src: dict[str, Any] = {
                "id": f"{m}-{country.lower()}-{j:02d}",
                "material": m,
                "region": region,
                "country": country,
                "price": yearly(num(p * REGION_PRICE[region] * rng.uniform(0.9, 1.1)), 0.02, 0.05),
            }
            if j % 3 == 1:
                src["freight"] = num(0.03 * p)
            if m == hard and region == "domestic":
                src["price"] = num(3 * p)  # expensive but never capped, banned or out of window
            elif region == "domestic" and i % 2 == 0:
                pass  # unlimited, expensive domestic supply
            else:
                share = rng.uniform(0.2, 0.8)
                src["capacity"] = num(share * d) if j % 2 else {month(year0, 0): num(share * d),
                                                                month(year0, T // 2): num(share * d * 1.3)}
            if j % 4 == 3:
                src["lead_time"] = int(1 + j % 3)
            if region in ("deep_sea", "other") and m != hard and j % 2 == 0:
                src["available_from"] = month(year0, min(T - 1, 6 + 3 * (i % 5)))
            if region == "other" and j % 3 == 0 and T > 24:
                src["available_until"] = month(year0, T - 12)
            if j % 5 == 2:
                src["risk"] = num(rng.uniform(0.1, 0.6))
            if j % 6 == 1 and "capacity" in src:
                src["expansion"] = {"max": num(0.5 * d), "capex": num(6 * p), "lead_time": int(3 + j % 6)}
            sources.append(src)
    for f, feed in enumerate(feed_ids):
        for j, (region, country) in enumerate([("deep_sea", "INTL"), ("other", "ID"), ("allied", "AU")]):
            sources.append({
                "id": f"{feed}-{country.lower()}",
                "material": feed,
                "region": region,
                "country": country,
                "price": yearly(num(150 * (1 + 0.2 * j)), 0.01, 0.03),
                "capacity": num(4000 * (1 + j)),
                "lead_time": j,
            })

    processors: list[dict[str, Any]] = []
    for f, feed in enumerate(feed_ids):
        outs = [mineral_ids[(5 * f + r) % len(mineral_ids)] for r in range(4)]
        # yields chosen so outputs are worth about 1-2x the feedstock cost: processing competes with buying
        outputs = {m: num(float(rng.uniform(0.2, 0.6)) * 300 / base_price[m], 3) for m in outs}
        processors.append({
            "id": f"refinery-{f:02d}",
            "region": "domestic" if f % 2 == 0 else "allied",
            "country": "US" if f % 2 == 0 else "CA",
            "input": feed,
            "outputs": outputs,
            "capacity": {month(year0, 0): 0, month(year0, min(T - 1, 12)): 2000},
            "cost": num(40 + 10 * f),
            "available_from": month(year0, min(T - 1, 3 * f)),
            "expansion": {"max": 6000, "capex": 900, "lead_time": 6 + f % 6},
        })

    def pick(seq: list[str], k: int, offset: int) -> list[str]:
        return [seq[(offset + r) % len(seq)] for r in range(min(k, len(seq)))]

    policies = [
        {"type": "tariff", "name": "tariff-cn", "rate": 1.45, "where": {"country": "CN"}, "from": "2025-04"},
        {"type": "tariff", "name": "tariff-other", "rate": 0.25, "where": {"region": "other"},
         "from": month(year0, min(T - 1, 12))},
        {"type": "ban", "name": "cn-export-ban", "where": {"region": "china", "material": pick(mineral_ids, 2, 5)},
         "from": month(year0, min(T - 1, 6))},
        {"type": "capacity", "name": "other-derating", "multiplier": 0.9, "where": {"region": "other"},
         "from": month(year0, min(T - 1, 24))},
        {"type": "price", "name": "allied-premium", "multiplier": 1.05, "where": {"region": "allied"},
         "from": month(year0, min(T - 1, 12))},
        {"type": "demand", "name": "ev-growth", "multiplier": 1.1, "where": {"material": pick(mineral_ids, 3, 0)},
         "from": month(year0, min(T - 1, 36))},
    ]

    annual = sum(demand_level[m] * base_price[m] for m in mineral_ids) * 12
    budgets = [
        {"name": f"fy{year0 + y}", "amount": num(1.6 * annual), "from": month(year0, 12 * y),
         "until": month(year0, 12 * y + 12)}
        for y in range(years)
    ]

    limits = []
    for i, m in enumerate(mineral_ids):
        if i % 3 == 0:
            limits.append({"name": f"cap-china-{m}", "material": m, "where": {"region": "china"},
                           "max_share": 0.4, "over": "period"})
        if i % 4 == 2:
            limits.append({"name": f"allied-floor-{m}", "material": m, "where": {"region": ["allied", "domestic"]},
                           "min_share": 0.25, "over": "horizon", "from": month(year0, min(T - 1, 12))})

    # Disruptions: event dates spread over the first `branch_span` of the horizon, all different.
    K = shape.scenarios
    span = max(K, int(shape.branch_span * T))
    starts = sorted(rng.choice(np.arange(1, max(span, K) + 1), size=K - 1, replace=False).tolist())
    kinds = ["ban", "price", "capacity", "demand", "tariff"]
    weights = rng.uniform(0.5, 1.5, size=K - 1)
    probs = [num(0.6 * w / weights.sum(), 6) for w in weights]
    scenarios: list[dict[str, Any]] = [{"name": "base", "probability": num(1.0 - sum(probs), 9)}]
    for k, start in enumerate(starts):
        begin = month(year0, min(T - 1, start))
        focus = pick(mineral_ids, 1 + k % 3, 3 * k)
        kind = kinds[k % len(kinds)]
        events: list[dict[str, Any]]
        if kind == "ban":
            events = [{"type": "ban", "where": {"region": "china", "material": focus}, "from": begin},
                      {"type": "price", "where": {"material": focus, "region": ["allied", "other"]},
                       "multiplier": 1.6, "from": begin}]
        elif kind == "price":
            events = [{"type": "price", "where": {"region": ["allied", "domestic"]}, "multiplier": num(1.2 + 0.1 * (k % 4)),
                       "from": begin, "until": month(year0, min(T, start + 18))}]
        elif kind == "capacity":
            events = [{"type": "capacity", "where": {"region": "other"}, "multiplier": 0.5, "from": begin},
                      {"type": "capacity", "where": {"processor": processors[k % len(processors)]["id"]},
                       "multiplier": 0.0, "from": begin, "until": month(year0, min(T, start + 12))}]
        elif kind == "demand":
            events = [{"type": "demand", "where": {"material": focus}, "multiplier": num(1.3 + 0.1 * (k % 3)),
                       "from": begin}]
        else:
            events = [{"type": "tariff", "where": {"region": "other"}, "rate": 0.5, "from": begin},
                      {"type": "ban", "where": {"country": "CN"}, "from": month(year0, min(T - 1, start + 6))}]
        scenarios.append({"name": f"{kind}-{begin}", "probability": probs[k], "events": events})

    return {
        "name": f"bench-{name}",
        "description": f"synthetic benchmark scenario ({name}, seed {seed}): {shape.minerals} minerals x "
                       f"{shape.sources_per_mineral} sources x {T} months x {K} scenarios",
        "home_country": "US",
        "currency": "USD",
        "horizon": {"start": month(year0, 0), "periods": T, "period": "month", "discount_rate": 0.03},
        "materials": materials,
        "sources": sources,
        "processors": processors,
        "policies": policies,
        "budgets": budgets,
        "limits": limits,
        "risk": {"aversion": aversion, "alpha": 0.9, "premium": 0.1},
        "scenarios": scenarios,
    }


def to_yaml(data: Any, indent: int = 0) -> str:
    """Block YAML for mappings and lists of mappings; flow (JSON) style for scalars and small collections."""
    pad = " " * indent
    lines = []
    if isinstance(data, dict):
        for key, value in data.items():
            if _is_block(value):
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(value, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_flow(value)}")
    elif isinstance(data, list):
        for item in data:
            body = to_yaml(item, indent + 2) if _is_block(item) else f"{pad}  {_flow(item)}"
            lines.append(f"{pad}- {body.lstrip()}")
    return "\n".join(lines)


def _is_block(value: Any) -> bool:
    if isinstance(value, dict):
        return any(isinstance(v, (dict, list)) for v in value.values()) or (len(value) > 4 and not _is_series(value))
    if isinstance(value, list):
        return any(isinstance(v, (dict, list)) for v in value)
    return False


def _is_series(value: dict) -> bool:
    return all(isinstance(k, str) and len(k) == 7 and k[4] == "-" for k in value)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _plain_ok(value) else json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__}")


def _number(x: float) -> str:
    """A float without an exponent (YAML 1.2 and 1.1 agree on these)."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return np.format_float_positional(x, trim="-")


_PLAIN = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*|\d{4}-\d{2})$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _plain_ok(text: str) -> bool:
    """Text that YAML reads back as the same string without quotes."""
    return bool(_PLAIN.match(text)) and text.lower() not in _RESERVED


def write(size: str, out: Path, seed: int = 0, aversion: float = 0.0) -> Path:
    """Write `<out>/<size>.yaml` (only when its bytes change) and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{size}.yaml"
    text = (f"# Generated by benchmarks/generate.py --size {size} --seed {seed}; do not edit.\n"
            + to_yaml(generate(size, seed, aversion)) + "\n")
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--aversion", type=float, default=0.0, help="CVaR weight lambda (default 0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "scenarios")
    args = parser.parse_args(argv)
    print(write(args.size, args.out, args.seed, args.aversion))
    return 0


if __name__ == "__main__":
    sys.exit(main())
