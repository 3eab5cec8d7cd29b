"""Hypothesis strategies: small random scenario dicts that are valid under SPEC version 2.

`scenario_dicts()` by default uses only fields of SPEC version 1 and draws exactly what it drew
before version 2, with two adjustments that keep a document's meaning the same under both
versions: a `domestic` source is in `home_country` when one is given (v2 rejects anything else),
and where an omitted `home_country` would matter (a domestic source and a tariff rule) it is given
as the domestic sources' country. Keyword flags add the v2 fields: `v2=True` release rules (in
policies and events), `stockpile.end_value`, bans `on: arrival`, and the v2 reading of an omitted
`home_country` (domestic sources never tariffed); `discrete=True` `min_order` / `fixed_cost` on
sources with a capacity and `expansion.unit`. `stranding_dicts()` draws v2 scenarios in which
orders shared before the split are delivered in some scenarios and stranded in others;
`disruption_processes()` draws a scenario with a small `disruptions` section (SPEC 8) instead of
`scenarios`.

The generated scenarios are meant to be solvable:
* bounded: costs are >= 0 except surplus sales and end values; when any material has a
  sale_price > 0 or an end_value > 0, every source gets a capacity, processors only turn a
  material into materials later in the list (no cycles), so the quantity that can be sold or
  kept is finite;
* feasible: targets are soft, except (sometimes) a constant hard target that the initial stock
  already meets and every stockpile capacity allows. Budgets, share limits and bans can always
  be met by buying nothing (shortfall is penalised, not forbidden).
Every rule and limit filter is built from an entity it must match, with existing ids only.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PERIOD_LENGTH = {"month": 1, "quarter": 3, "year": 12}
REGIONS = ["domestic", "allied", "deep_sea", "china", "other"]
COUNTRY_OF = {"domestic": ["US"], "allied": ["AU", "CA", "JP"], "deep_sea": ["INTL"], "china": ["CN"],
              "other": ["CD", "ID"]}


def month_text(index: int) -> str:
    """Months since January of year 0 -> 'YYYY-MM'."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_index(text: str) -> int:
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


def amount(draw, lo: int, hi: int, step: float = 1.0) -> float:
    """A 'nice' float in [lo*step, hi*step] (multiples of step keep the LP well scaled)."""
    return float(draw(st.integers(lo, hi))) * step


def a_month(draw, ctx: dict) -> int:
    """A month index near the horizon (a little before its start to a little after its end)."""
    start, span = ctx["start"], ctx["span"]
    if draw(st.integers(0, 2)):  # mostly the start of a period (or the end of the horizon)
        return start + draw(st.integers(0, ctx["T"])) * ctx["length"]
    return draw(st.integers(start - ctx["length"], start + span + ctx["length"]))


def window(draw, ctx: dict, key_from: str = "from", key_until: str = "until") -> dict:
    """Optional from/until keys; `until` strictly after `from`."""
    out: dict[str, str] = {}
    start = a_month(draw, ctx) if draw(st.booleans()) else None
    end = a_month(draw, ctx) if draw(st.booleans()) else None
    if start is not None and end is not None and end <= start:
        end = start + draw(st.integers(1, 2 * ctx["length"]))
    if start is not None:
        out[key_from] = month_text(start)
    if end is not None:
        out[key_until] = month_text(end)
    return out


def series(draw, ctx: dict, lo: int, hi: int, step: float = 1.0) -> Any:
    """A SERIES in one of its three forms: constant, one value per period, {YYYY-MM: value}."""
    form = draw(st.sampled_from(["constant", "list", "mapping"]))
    if form == "constant":
        return amount(draw, lo, hi, step)
    if form == "list":
        return [amount(draw, lo, hi, step) for _ in range(ctx["T"])]
    keys = sorted({a_month(draw, ctx) for _ in range(draw(st.integers(1, 3)))})
    return {month_text(key): amount(draw, lo, hi, step) for key in keys}


def positive_anywhere(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return value > 0
    values = value.values() if isinstance(value, dict) else value
    return any(v > 0 for v in values)


def max_of(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return float(max(value.values() if isinstance(value, dict) else value))


def min_of(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return float(min(value.values() if isinstance(value, dict) else value))


def expansion(draw, discrete: bool = False) -> dict:
    out = {"max": amount(draw, 0, 20), "capex": amount(draw, 0, 40, 0.5)}
    if draw(st.booleans()):
        out["lead_time"] = draw(st.integers(0, 2))
    if discrete and out["max"] > 0 and draw(st.integers(0, 2)):
        out["unit"] = amount(draw, 1, int(out["max"]))  # whole modules, unit <= max (SPEC 2)
    return out


# --- filters --------------------------------------------------------------------------------------


def _attrs(kind: str, entity: dict) -> dict[str, list[str]]:
    """What each filter key can match on `entity` (kind: sources, processors, materials)."""
    if kind == "sources":
        return {"source": [entity["id"]], "material": [entity["material"]], "region": [entity["region"]],
                "country": [entity["country"]]}
    if kind == "processors":
        return {"processor": [entity["id"]], "material": [entity["input"], *entity["outputs"]],
                "region": [entity["region"]], "country": [entity["country"]]}
    return {"material": [entity["id"]]}


def _pool(key: str, doc: dict) -> list[str]:
    """Existing values a filter key may list (ids must exist)."""
    if key == "source":
        return [s["id"] for s in doc["sources"]]
    if key == "processor":
        return [p["id"] for p in doc.get("processors", [])]
    if key == "material":
        return [m["id"] for m in doc["materials"]]
    if key == "region":
        return REGIONS
    return ["US", "CN", "AU", "CA", "JP", "INTL", "CD", "ID"]


def a_filter(draw, doc: dict, kind: str, entity: dict) -> dict:
    """A filter that matches `entity` (so it matches something), sometimes listing more values."""
    attrs = _attrs(kind, entity)
    keys = draw(st.lists(st.sampled_from(sorted(attrs)), max_size=2, unique=True))
    out: dict[str, Any] = {}
    for key in keys:
        values = [draw(st.sampled_from(attrs[key]))]
        extra = [v for v in _pool(key, doc) if v not in values]
        if extra and draw(st.booleans()):
            values.append(draw(st.sampled_from(extra)))
        out[key] = values[0] if len(values) == 1 and draw(st.booleans()) else values
    return out


RULE_TARGETS = {"tariff": ["sources"], "price": ["sources"], "ban": ["sources", "processors"],
                "capacity": ["sources", "processors"], "demand": ["materials"]}
#: SPEC v2: a release rule's filter has the key `material` only.
V2_RULE_TARGETS = RULE_TARGETS | {"release": ["materials"]}


def a_rule(draw, doc: dict, ctx: dict, v2: bool = False, timed: bool = True) -> dict:
    """A rule of any type matching some entity; v2 adds release rules and bans `on: arrival`;
    timed=False leaves out from/until (the effects of a disruption event, SPEC 8)."""
    targets = V2_RULE_TARGETS if v2 else RULE_TARGETS
    kinds_present = [t for t, kinds in targets.items() if any(doc.get(k) for k in kinds)]
    if v2:  # bans (which may now stop arrivals) and release rules twice as often
        kinds_present += [t for t in ("ban", "release") if t in kinds_present]
    rtype = draw(st.sampled_from(kinds_present))
    kind = draw(st.sampled_from([k for k in targets[rtype] if doc.get(k)]))
    entity = draw(st.sampled_from(doc[kind]))
    rule: dict[str, Any] = {"type": rtype}
    if draw(st.booleans()):
        rule["name"] = f"r{draw(st.integers(0, 99))}"
    flt = a_filter(draw, doc, kind, entity)  # on a material: the key `material` only, as release needs
    if flt or draw(st.booleans()):
        rule["where"] = flt
    if rtype == "ban" and v2 and draw(st.integers(0, 3)):
        rule["on"] = draw(st.sampled_from(["order", "arrival", "arrival"]))
    if rtype == "tariff":
        rule["rate"] = amount(draw, 0, 8, 0.25)
    elif rtype == "capacity":
        rule["multiplier"] = draw(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]))
    elif rtype == "price":
        rule["multiplier"] = draw(st.sampled_from([0.0, 0.5, 1.0, 1.25, 2.0, 3.0]))
    elif rtype == "demand":
        rule["multiplier"] = draw(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]))
    if timed:
        rule.update(window(draw, ctx))
    return rule


def disruption(draw, doc: dict, ctx: dict, v2: bool = False) -> dict:
    """A consequential scenario event starting at the beginning of a later period (t >= 1).

    Scenarios then share their first periods and diverge later, the situation where
    non-anticipativity matters (the plan must hedge before it knows). With v2 a ban may stop
    deliveries (`on: arrival`) instead of orders."""
    t = draw(st.integers(1, ctx["T"] - 1))
    start = month_text(ctx["start"] + t * ctx["length"])
    demanded = [m for m in doc["materials"] if positive_anywhere(m.get("demand", 0.0))]
    rtype = draw(st.sampled_from(["ban", "price", "capacity", "demand"] if demanded else ["ban", "price", "capacity"]))
    if rtype == "demand":
        rule: dict[str, Any] = {"type": "demand", "where": {"material": draw(st.sampled_from(demanded))["id"]},
                                "multiplier": draw(st.sampled_from([1.5, 2.0, 3.0]))}
    else:
        src = draw(st.sampled_from(doc["sources"]))
        where = draw(st.sampled_from([{"source": src["id"]}, {"region": src["region"]}, {"material": src["material"]}]))
        rule = {"type": rtype, "where": where}
        if rtype == "ban" and v2 and draw(st.booleans()):
            rule["on"] = "arrival"
        if rtype == "price":
            rule["multiplier"] = draw(st.sampled_from([2.0, 3.0, 5.0]))
        elif rtype == "capacity":
            rule["multiplier"] = draw(st.sampled_from([0.0, 0.5]))
    rule["from"] = start
    if draw(st.integers(0, 3)) == 0:
        rule["until"] = month_text(ctx["start"] + draw(st.integers(t + 1, ctx["T"])) * ctx["length"])
    return rule


# --- the scenario ---------------------------------------------------------------------------------


@st.composite
def scenario_dicts(draw, max_periods: int = 5, max_scenarios: int = 3, risk: bool = True,
                   hard_targets: bool = True, hedging: bool = False, v2: bool = False,
                   discrete: bool = False) -> dict:
    """A random, small, SPEC-valid scenario dict (see the module docstring for the guarantees).

    hedging=True: at least 2 periods and 2 scenarios, every later scenario has a disruption that
    starts after the first period, and materials with demand can be stored cheaply: the
    situations where the scenario tree (non-anticipativity) shapes the plan.
    v2=True: also release rules (a disruption is sometimes followed by one from the same month), end
    values, bans `on: arrival`, an omitted home_country read as v2.
    discrete=True: also min_order / fixed_cost (on sources with a capacity) and expansion.unit.
    """
    period = draw(st.sampled_from(["month", "quarter", "year"]))
    T = draw(st.integers(2 if hedging else 1, max(max_periods, 2 if hedging else 1)))
    start = month_index("2026-01") + draw(st.integers(-6, 12))
    length = PERIOD_LENGTH[period]
    ctx = {"T": T, "start": start, "length": length, "span": T * length}
    horizon: dict[str, Any] = {"start": month_text(start), "periods": T}
    if draw(st.booleans()):
        horizon["period"] = period
    else:
        ctx["length"] = length = 1
        ctx["span"] = T
    if draw(st.booleans()):
        horizon["discount_rate"] = draw(st.sampled_from([0.0, 0.03, 0.1, 0.25]))
    doc: dict[str, Any] = {"name": "prop", "horizon": horizon}
    if draw(st.booleans()):
        doc["home_country"] = draw(st.sampled_from(["US", "AU"]))

    # materials
    M = draw(st.integers(1, 3))
    selling = draw(st.booleans())
    valuing = v2 and draw(st.booleans())  # some stock keeps its worth at the end
    materials = []
    for m in range(M):
        mat: dict[str, Any] = {"id": f"m{m}"}
        if draw(st.integers(0, 3)):
            mat["demand"] = series(draw, ctx, 0, 20)
        if positive_anywhere(mat.get("demand", 0.0)) or draw(st.booleans()):
            mat["shortfall_penalty"] = amount(draw, 20, 400, 5.0)
        if selling and draw(st.booleans()):
            mat["sale_price"] = amount(draw, 1, 60, 0.5)
        if draw(st.booleans()):
            mat["arrivals"] = series(draw, ctx, 0, 6)
        storable = hedging and positive_anywhere(mat.get("demand", 0.0))
        if storable or draw(st.booleans()):
            stock: dict[str, Any] = {}
            if draw(st.booleans()):
                stock["initial"] = amount(draw, 0, 30)
            if draw(st.booleans()):
                stock["capacity"] = series(draw, ctx, 0, 40)
            if draw(st.booleans()):
                stock["holding_cost"] = series(draw, ctx, 0, 3 if storable else 10, 0.5)
            if hard_targets and draw(st.integers(0, 5)) == 0:
                # a constant hard target met by the initial stock and allowed by every capacity
                ceiling = min(stock.get("initial", 0.0), min_of(stock.get("capacity", 1e9)))
                stock["target"] = float(int(ceiling * draw(st.sampled_from([0.0, 0.5, 1.0]))))
                stock["hard_target"] = True
            elif draw(st.booleans()):
                stock["target"] = series(draw, ctx, 0, 15)
                if positive_anywhere(stock["target"]) or draw(st.booleans()):
                    stock["target_penalty"] = amount(draw, 0, 60, 0.5)
                if draw(st.integers(0, 3)) == 0:
                    stock["hard_target"] = False
            if valuing and draw(st.booleans()):
                stock["end_value"] = amount(draw, 0, 120, 0.5)
            mat["stockpile"] = stock
        materials.append(mat)
    doc["materials"] = materials
    any_sale = any(m.get("sale_price", 0.0) > 0 or m.get("stockpile", {}).get("end_value", 0.0) > 0
                   for m in materials)

    # sources
    S = draw(st.integers(1, 4))
    sources = []
    for s in range(S):
        region = draw(st.sampled_from(REGIONS))
        demanded = [m["id"] for m in materials if positive_anywhere(m.get("demand", 0.0))]
        if demanded and draw(st.integers(0, 2)):
            material = draw(st.sampled_from(demanded))  # mostly supply what is needed
        else:
            material = f"m{draw(st.integers(0, M - 1))}"
        src: dict[str, Any] = {
            "id": f"s{s}",
            "material": material,
            "region": region,
            "country": draw(st.sampled_from(COUNTRY_OF[region])),
            "price": series(draw, ctx, 1, 100),
        }
        if region == "domestic" and "home_country" in doc:
            src["country"] = doc["home_country"]  # SPEC v2: a domestic source is in home_country
        if draw(st.booleans()):
            src["freight"] = series(draw, ctx, 0, 10, 0.5)
        if any_sale or draw(st.booleans()):
            src["capacity"] = series(draw, ctx, 0, 25)
        if draw(st.booleans()):
            src["lead_time"] = draw(st.integers(0, 2))
        if draw(st.integers(0, 3)) == 0:
            src.update(window(draw, ctx, "available_from", "available_until"))
        if draw(st.integers(0, 2)) == 0:
            src["risk"] = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
        if "capacity" in src and draw(st.booleans()):
            src["expansion"] = expansion(draw, discrete)
        if discrete and "capacity" in src:  # a finite supply bound, as SPEC 2 requires
            if draw(st.integers(0, 2)) == 0:
                src["min_order"] = amount(draw, 1, 8)
            if draw(st.integers(0, 2)) == 0:
                src["fixed_cost"] = amount(draw, 1, 40, 5.0)
        sources.append(src)
    doc["sources"] = sources

    # processors: input m_i, outputs among later materials (no cycles)
    processors = []
    if M >= 2:
        for p in range(draw(st.integers(0, 2))):
            i = draw(st.integers(0, M - 2))
            later = [f"m{j}" for j in range(i + 1, M)]
            outs = draw(st.lists(st.sampled_from(later), min_size=1, max_size=len(later), unique=True))
            region = draw(st.sampled_from(REGIONS))
            proc: dict[str, Any] = {
                "id": f"p{p}",
                "region": region,
                "country": draw(st.sampled_from(COUNTRY_OF[region])),
                "input": f"m{i}",
                "outputs": {o: draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 1.5])) for o in outs},
            }
            if draw(st.booleans()):
                proc["capacity"] = series(draw, ctx, 0, 20)
            if draw(st.booleans()):
                proc["cost"] = series(draw, ctx, 0, 20, 0.5)
            if draw(st.integers(0, 3)) == 0:
                proc.update(window(draw, ctx, "available_from", "available_until"))
            if "capacity" in proc and draw(st.booleans()):
                proc["expansion"] = expansion(draw, discrete)
            processors.append(proc)
    if processors or draw(st.booleans()):
        doc["processors"] = processors

    # policies
    policies = [a_rule(draw, doc, ctx, v2) for _ in range(draw(st.integers(0, 3)))]
    if policies or draw(st.integers(0, 4)) == 0:
        doc["policies"] = policies

    # budgets
    budgets = []
    for b in range(draw(st.integers(0, 2))):
        # sized against a rough full spend (demand at a typical price of 50) so budgets often bind
        rough = 50.0 * T * sum(max_of(m.get("demand", 0.0)) for m in materials)
        share = draw(st.sampled_from([0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 0.0]))
        budget = {"name": f"b{b}", "amount": float(10 * round(share * rough / 10))}
        budget.update(window(draw, ctx))
        budgets.append(budget)
    if budgets:
        doc["budgets"] = budgets

    # share limits
    limits = []
    for l in range(draw(st.integers(0, 2))):
        src = draw(st.sampled_from(sources))
        if draw(st.integers(0, 3)):
            material = src["material"]
        else:
            material = f"m{draw(st.integers(0, M - 1))}"
        limit: dict[str, Any] = {"name": f"l{l}", "material": material}
        flt = a_filter(draw, doc, "sources", src)
        if flt or draw(st.booleans()):
            limit["where"] = flt
        lo = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.2, 0.5, 0.8])))
        hi = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0])))
        if lo is None and hi is None:
            hi = 0.5
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        if hi is not None:
            limit["max_share"] = hi
        if lo is not None:
            limit["min_share"] = lo
        if draw(st.booleans()):
            limit["over"] = draw(st.sampled_from(["period", "horizon"]))
        limit.update(window(draw, ctx))
        limits.append(limit)
    if limits:
        doc["limits"] = limits

    # risk
    if risk and draw(st.integers(0, 2)):
        r: dict[str, Any] = {}
        if draw(st.booleans()):
            r["aversion"] = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
        if draw(st.booleans()):
            r["alpha"] = draw(st.sampled_from([0.5, 0.8, 0.95]))
        if draw(st.integers(0, 2)):
            r["premium"] = draw(st.sampled_from([0.0, 0.1, 0.5, 2.0]))
        doc["risk"] = r

    # scenarios
    K = min(max_scenarios, draw(st.sampled_from([2, 3] if hedging else [0, 1, 2, 2, 3, 3])))
    if K:
        weights = [draw(st.integers(1, 4)) for _ in range(K)]  # probability 0 is an error (docs/model.md)
        cases = []
        for k in range(K):
            case: dict[str, Any] = {"name": "base" if k == 0 else f"case-{k}", "probability": weights[k] / sum(weights)}
            events = [a_rule(draw, doc, ctx, v2) for _ in range(draw(st.integers(0, 2)))]
            if k and T >= 2 and (hedging or draw(st.integers(0, 3))):
                events.append(disruption(draw, doc, ctx, v2))
                if v2 and draw(st.booleans()):
                    events.append({"type": "release", "where": {"material": draw(st.sampled_from(materials))["id"]},
                                   "from": events[-1]["from"]})
            if events or draw(st.booleans()):
                case["events"] = events
            cases.append(case)
        total = sum(c["probability"] for c in cases)
        cases[-1]["probability"] = max(0.0, 1.0 - (total - cases[-1]["probability"]))
        doc["scenarios"] = cases
    if not v2:
        same_meaning_in_v1_and_v2(doc)
    return doc


def same_meaning_in_v1_and_v2(doc: dict) -> None:
    """SPEC v2 changed what an omitted `home_country` means (v1: every source can be tariffed; v2:
    domestic sources never are). Where that would matter (a domestic source and a tariff rule), give
    the domestic sources' country (always US when home_country is omitted) as `home_country`: the
    document then means the same under both versions (in place)."""
    domestic = [s for s in doc["sources"] if s["region"] == "domestic"]
    rules = doc.get("policies", []) + [r for c in doc.get("scenarios") or [] for r in c.get("events", [])]
    rules += [r for e in doc.get("disruptions", {}).get("events", []) for r in e["effects"]]
    if "home_country" not in doc and domestic and any(r["type"] == "tariff" for r in rules):
        doc["home_country"] = domestic[0]["country"]


# --- disruption processes (SPEC 8) ------------------------------------------------------------------

STAGE_LENGTH = {"quarter": 3, "year": 12}


def _span(doc: dict) -> int:
    """Months in the horizon."""
    return doc["horizon"]["periods"] * PERIOD_LENGTH[doc["horizon"].get("period", "month")]


def _stage_options(doc: dict) -> dict[str, int]:
    """Stage lengths no shorter than a period, with their number of branching stages (starts j >= 1
    inside the horizon), where there is at least one."""
    period = PERIOD_LENGTH[doc["horizon"].get("period", "month")]
    span = _span(doc)
    return {name: (span - 1) // length for name, length in STAGE_LENGTH.items()
            if length >= period and (span - 1) // length >= 1}


def _per_event_paths(stages: int, durations: int, repeat: bool) -> int:
    """An upper bound on one event's paths over `stages` branching stages."""
    return (1 + durations) ** stages if repeat else 1 + stages * durations


@st.composite
def disruption_processes(draw, v2: bool = True, max_paths: int = 24) -> dict:
    """A small scenario with a `disruptions` section instead of `scenarios` (SPEC 8).

    Stages no shorter than a period, one to three branching stages (four for a horizon of 5 years),
    one or two events whose effects are rules of any type (v2 ones
    included), a fixed duration or a distribution over 1-3 stages, sometimes `earliest` and
    `repeat`; at most `max_paths` paths (before merging), so the tree is enumerated exactly
    (`max_scenarios` is set above that) and the stochastic program stays tiny."""
    doc = draw(scenario_dicts(max_periods=5, max_scenarios=0, v2=v2).filter(lambda d: bool(_stage_options(d))))
    h = doc["horizon"]
    span = _span(doc)
    start = month_index(h["start"])
    options = _stage_options(doc)
    small = {name: j for name, j in options.items() if j <= 3}
    stage = draw(st.sampled_from(sorted(small or options)))
    length, branching = STAGE_LENGTH[stage], options[stage]
    ctx = {"T": h["periods"], "start": start, "length": PERIOD_LENGTH[h.get("period", "month")], "span": span}
    events, paths = [], 1
    for e in range(draw(st.integers(1, 2))):
        event: dict[str, Any] = {"name": f"ev{e}", "annual_probability": draw(st.sampled_from([0.1, 0.25, 0.5, 0.8]))}
        form = draw(st.sampled_from(["fixed", "two", "three"]))
        if form == "fixed":
            event["duration"] = draw(st.integers(1, 3))
        elif form == "two":
            p = draw(st.sampled_from([0.25, 0.5, 0.75]))
            event["duration"] = {1: p, draw(st.integers(2, 3)): 1.0 - p}
        else:
            event["duration"] = {1: 0.5, 2: 0.25, 3: 0.25}
        durations = 1 if form == "fixed" else len(event["duration"])
        if draw(st.integers(0, 3)) == 0:  # on or before the last stage start: the event can happen
            event["earliest"] = month_text(start + draw(st.integers(0, branching * length)))
        repeat = draw(st.integers(0, 3)) == 0
        if paths * _per_event_paths(branching, durations, repeat) > max_paths:
            repeat = False
        if paths * _per_event_paths(branching, durations, repeat) > max_paths:
            break
        paths *= _per_event_paths(branching, durations, repeat)
        if repeat or draw(st.booleans()):
            event["repeat"] = repeat
        event["effects"] = [a_rule(draw, doc, ctx, v2, timed=False) for _ in range(draw(st.integers(1, 3)))]
        events.append(event)
    doc["disruptions"] = {"stage": stage, "max_scenarios": 64, "seed": draw(st.integers(0, 99)), "events": events}
    if not v2:
        same_meaning_in_v1_and_v2(doc)
    return doc


@st.composite
def stranding_dicts(draw, max_periods: int = 5) -> dict:
    """A v2 scenario whose later scenarios stop deliveries of a source with a lead time: a ban
    `on: arrival` from a period at or after that lead time, so orders placed before anyone can tell
    the scenarios apart are delivered in some and stranded in others (SPEC 4.0, 4.1.11)."""
    doc = draw(scenario_dicts(max_periods=max_periods, hedging=True, v2=True))
    T = doc["horizon"]["periods"]
    length = PERIOD_LENGTH[doc["horizon"].get("period", "month")]
    src = draw(st.sampled_from(doc["sources"]))
    src["lead_time"] = draw(st.integers(1, max(1, min(2, T - 1))))
    for case in doc["scenarios"][1:]:
        start = draw(st.integers(src["lead_time"], T - 1))
        rule = {"type": "ban", "where": {"source": src["id"]}, "on": "arrival",
                "from": month_text(month_index(doc["horizon"]["start"]) + start * length)}
        case.setdefault("events", []).append(rule)
    return doc
