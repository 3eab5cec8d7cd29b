"""Validation stage: dict -> Scenario, collecting every problem with its field path and YAML position.

Pydantic checks types and ranges; the `check_*` functions here check what spans fields
(ids, references, series lengths, filters, probabilities). Nothing here builds a model.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
import types
import typing
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pydantic
from pydantic import BaseModel

from optimizer import countries
from optimizer.errors import Cell, Problem, ScenarioError, format_path
from optimizer.loader import SourceMap
from optimizer.spec import PERIOD_MONTHS, Case, Filter, Rule, Scenario, Strict

PROBABILITY_TOLERANCE = 1e-6


def validate(raw: Any, smap: SourceMap | None = None) -> Scenario:
    """Validate a scenario dict; raise ScenarioError listing every problem found, sorted by line.

    One pass: the loader's findings (duplicate keys), every field error, and the cross-field checks,
    which run on whatever validated when some fields did not (see `salvage`).
    """
    smap = smap or SourceMap("<dict>")
    try:
        scenario = Scenario.model_validate(raw)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [_from_pydantic(err, raw, smap) for err in errors]
        partial, replaced = salvage(Scenario, raw, [_field_path(err["loc"]) for err in errors])
        problems += [p for p in check_scenario(partial, partial=True)
                     if not any(p.path[: len(r)] == r for r in replaced)]  # not what a placeholder caused
        raise ScenarioError(_ordered(smap.problems, problems, smap), file=smap.file) from None
    problems = check_scenario(scenario)
    if problems or smap.problems:
        raise ScenarioError(_ordered(smap.problems, problems, smap), file=smap.file)
    return scenario


def check_scenario(sc: Scenario, partial: bool = False) -> list[Problem]:
    """Every cross-field problem of a scenario. `partial`: some fields of `sc` did not validate and hold
    placeholders (see `salvage`); a check that cannot run on what is left is skipped."""
    checks = (
        check_unique_ids,
        check_references,
        check_series_lengths,
        check_penalties,
        check_filters,
        check_names,
        check_limits,
        check_probabilities,
        check_disruptions,
        check_release_filters,
        check_home_country,
        check_processor_gain,
        check_discrete,
    )
    problems = []
    for check in checks:
        try:
            problems += check(sc)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, ArithmeticError):
            if not partial:  # on a partial scenario, a placeholder this check cannot take: skip it
                raise
    return problems


def _ordered(loaded: list[Problem], problems: list[Problem], smap: SourceMap) -> list[Problem]:
    """The loader's problems and one validation problem per field path, each placed (file position, or
    the `--set` argument that wrote the field), sorted by line; problems with the whole file first."""
    placed = [_place(p, smap) for p in [*loaded, *_dedupe(problems)]]
    return sorted(placed, key=lambda p: (p.origin is not None, _sort_key(p.position)))


def _sort_key(position: Any) -> tuple[Any, ...]:
    """Whole-file problems first, then by line and column (or sheet, row and column of a workbook)."""
    if position is None:
        return (0,)
    if isinstance(position, Cell):
        return (2, position.sheet, position.row, position.column)
    return (1, *position)


def _place(problem: Problem, smap: SourceMap) -> Problem:
    origin = smap.origin(problem.path)
    if origin is not None:  # a field given on the command line: name the argument, not a file line
        set_path, argument = origin
        message = problem.message
        if problem.path != set_path:
            message = f"{format_path(problem.path)}: {message}"
        return Problem(problem.path, message, None, origin=argument)
    if problem.position is None:
        return Problem(problem.path, problem.message, smap.locate(problem.path))
    return problem


# --- pydantic errors -> problems -------------------------------------------------------------


_SERIES_ITEM = re.compile(r"^(?:item (\d+)|key (\S+)): ")
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|tuple|literal|function-\w+)\[.*\])$")


def _field_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without the union members it names (`where.region.literal[...]`)."""
    return tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAG.match(p)))


def _from_pydantic(err: dict[str, Any], raw: Any, smap: SourceMap) -> Problem:
    loc = _field_path(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(Scenario, loc[:-1])
        message = f"unknown field `{key}`"
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean `{close[0]}`?"
        elif allowed:
            message += f"; allowed here: {', '.join(sorted(allowed))}"
        return Problem(loc, message, smap.locate(loc))
    if kind == "missing":
        return Problem(loc, "required field is missing", smap.locate(loc))
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        got = err.get("input")
        message = f"{_short(got)} is not one of {expected}"
        choices = [e.strip(" '") for e in str(expected).replace(" or ", ",").split(",")]
        close = difflib.get_close_matches(got, choices, n=1) if isinstance(got, str) else []
        if close:
            message += f"; did you mean `{close[0]}`?"
        return Problem(loc, message, smap.locate(loc))
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if kind == "series":  # `item 3: ...` or `key 2027-01: ...`: point at that value, not the whole series
        item = _SERIES_ITEM.match(message)
        if item:
            at = (*loc, int(item.group(1)) if item.group(1) else item.group(2))
            return Problem(loc, message, smap.locate(at))
    if kind in {"string_pattern_mismatch"}:
        message = f"{_short(err.get('input'))} does not match the pattern {err['ctx']['pattern']}"
        if loc and loc[-1] in {"id", "material", "input", "name"}:
            message += " (lower-case letters, digits, '-' and '_')"
    elif kind in _BOUNDS:
        sign, bound = _BOUNDS[kind]
        limit = err["ctx"][bound]
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        message = f"must be {sign} {limit}, got {_short(err.get('input'))}"
    elif kind.endswith("_type") or kind in {"finite_number", "too_short", "too_long"}:
        message = f"{message}, got {_short(err.get('input'))}"
    return Problem(loc, message, smap.locate(loc))


#: pydantic's range errors, in the words of our own number checks (`must be >= 0, got -1`)
_BOUNDS = {"greater_than_equal": (">=", "ge"), "less_than_equal": ("<=", "le"), "greater_than": (">", "gt"),
           "less_than": ("<", "lt")}


def _short(value: Any) -> str:
    """A value for a message, cut to a readable length."""
    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict, short.maxlevel = 60, 60, 6, 4, 2
    return short.repr(value)


def _allowed_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Field names (by alias) of the model found at `path` below `model`; [] if not a model."""
    target: Any = model
    for part in path:
        target = _child_type(target, part)
        if target is None:
            return []
    if isinstance(target, type) and issubclass(target, Strict):
        return [f.alias or name for name, f in target.model_fields.items()]
    return []


def _child_type(tp: Any, part: Any) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return _unwrap(field.annotation)
        return None
    origin = typing.get_origin(tp)
    if origin in (list, tuple) and isinstance(part, int):
        return _unwrap(typing.get_args(tp)[0])
    if origin is dict:
        return _unwrap(typing.get_args(tp)[1])
    return None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional; pick the model out of `Model | None`."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in args if typing.get_origin(a) in (list, dict)]
            tp = (models or lists or args)[0]
        else:
            return tp


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One problem per field path (a union reports each member's failure; the first says enough)."""
    seen: set[Any] = set()
    out = []
    for p in problems:
        if p.path not in seen:
            seen.add(p.path)
            out.append(p)
    return out


# --- what validated, when not everything did ----------------------------------------------------


def salvage(model: type[BaseModel], raw: Any, errors: list[tuple[Any, ...]]) -> tuple[Any, list[tuple[Any, ...]]]:
    """`model` built from `raw` that did not validate, for the cross-field checks to run on what did.

    `errors` are the paths of pydantic's errors. A field with no error below it is validated alone; a
    model (or a list of models) with errors below it is salvaged the same way, item by item; a field
    whose own value is wrong holds a placeholder no check takes for a problem: NaN for a number, None
    for anything else (a filter treats an unknown region, country or material as matching). Returns
    the instance and the paths of the placeholders: a problem there or below is a consequence.
    """
    replaced: list[tuple[Any, ...]] = []
    return _salvage_model(model, raw, errors, (), replaced), replaced


def _salvage_model(model: type[BaseModel], raw: Any, errors: list[tuple[Any, ...]], path: tuple[Any, ...],
                   replaced: list[tuple[Any, ...]]) -> BaseModel:
    if not isinstance(raw, dict):
        replaced.append(path)
        raw, errors = {}, []
    values = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        below = [e[1:] for e in errors if e[:1] == (key,)]
        if key not in raw:
            if info.is_required():
                values[name] = _placeholder(info.annotation)
                replaced.append((*path, key))
        elif not below:
            values[name] = _adapter(model, name).validate_python(raw[key])
        else:
            values[name] = _salvage_field(model, name, raw[key], below, (*path, key), replaced)
    return model.model_construct(**values)


def _salvage_field(model: type[BaseModel], name: str, raw: Any, errors: list[tuple[Any, ...]],
                   path: tuple[Any, ...], replaced: list[tuple[Any, ...]]) -> Any:
    annotation = model.model_fields[name].annotation
    tp = _unwrap(annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _salvage_model(tp, raw, [e for e in errors if e], path, replaced)  # () : a model-level rule
    item = _unwrap(typing.get_args(tp)[0]) if typing.get_origin(tp) is list else None
    if isinstance(item, type) and issubclass(item, BaseModel) and isinstance(raw, list):
        out = []
        for i, value in enumerate(raw):
            below = [e[1:] for e in errors if e[:1] == (i,)]
            out.append(_salvage_model(item, value, below, (*path, i), replaced) if below
                       else _adapter(model, name, item=True).validate_python(value))
        return out
    replaced.append(path)
    return _placeholder(annotation)


def _placeholder(annotation: Any) -> Any:
    """A value no check mistakes for a problem: NaN where a number (or SERIES) belongs, else None."""
    return math.nan if _unwrap(annotation) in (float, Any) else None


_ADAPTERS: dict[tuple[Any, ...], pydantic.TypeAdapter] = {}


def _adapter(model: type[BaseModel], name: str, item: bool = False) -> pydantic.TypeAdapter:
    """A validator of one field of `model` (with its constraints), or of one item of a list field."""
    key = (model, name, item)
    if key not in _ADAPTERS:
        info = model.model_fields[name]
        tp = typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        if item:
            tp = typing.get_args(_unwrap(info.annotation))[0]
        _ADAPTERS[key] = pydantic.TypeAdapter(tp)
    return _ADAPTERS[key]


# --- cross-field checks ------------------------------------------------------------------------


def _entity_ids(sc: Scenario) -> Iterator[tuple[tuple[Any, ...], str]]:
    for kind in ("materials", "sources", "processors"):
        for i, item in enumerate(getattr(sc, kind)):
            yield (kind, i, "id"), item.id


def check_unique_ids(sc: Scenario) -> list[Problem]:
    """Material, source and processor ids share one namespace and must be unique."""
    first: dict[str, tuple[Any, ...]] = {}
    problems = []
    for path, ident in _entity_ids(sc):
        if ident in first:
            problems.append(Problem(path, f"duplicate id `{ident}` (first used at {format_path(first[ident])})"))
        else:
            first[ident] = path
    return problems


def _unknown(kind: str, value: str, known: list[str]) -> str:
    message = f"unknown {kind} `{value}`"
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    return message + (f"; did you mean `{close[0]}`?" if close else "")


def check_references(sc: Scenario) -> list[Problem]:
    """Sources, processors and limits refer to materials that exist."""
    materials = [m.id for m in sc.materials]
    known = set(materials)
    problems = []
    for i, src in enumerate(sc.sources):
        if src.material not in known:
            problems.append(Problem(("sources", i, "material"), _unknown("material", src.material, materials)))
    for i, proc in enumerate(sc.processors):
        if proc.input not in known:
            problems.append(Problem(("processors", i, "input"), _unknown("material", proc.input, materials)))
        for out in proc.outputs:
            if out not in known:
                problems.append(Problem(("processors", i, "outputs", out), _unknown("material", out, materials)))
    for i, lim in enumerate(sc.limits):
        if lim.material not in known:
            problems.append(Problem(("limits", i, "material"), _unknown("material", lim.material, materials)))
    return problems


def _series_fields(sc: Scenario) -> Iterator[tuple[tuple[Any, ...], Any]]:
    for i, m in enumerate(sc.materials):
        yield ("materials", i, "demand"), m.demand
        yield ("materials", i, "arrivals"), m.arrivals
        if m.stockpile is not None:
            for name in ("capacity", "holding_cost", "target"):
                yield ("materials", i, "stockpile", name), getattr(m.stockpile, name)
    for i, s in enumerate(sc.sources):
        for name in ("price", "freight", "capacity"):
            yield ("sources", i, name), getattr(s, name)
    for i, p in enumerate(sc.processors):
        for name in ("capacity", "cost"):
            yield ("processors", i, name), getattr(p, name)


def check_series_lengths(sc: Scenario) -> list[Problem]:
    """A SERIES list has exactly one value per period."""
    periods = sc.horizon.periods
    return [
        Problem(path, f"a series list needs exactly {periods} values (horizon.periods), got {len(value)}")
        for path, value in _series_fields(sc)
        if isinstance(value, tuple) and len(value) != periods
    ]


def _positive_anywhere(series: Any) -> bool:
    if isinstance(series, (int, float)):
        return series > 0
    values = series.values() if isinstance(series, dict) else series
    return any(v > 0 for v in values)


def check_penalties(sc: Scenario) -> list[Problem]:
    """Demand needs a shortfall penalty; a soft target needs a target penalty."""
    problems = []
    for i, m in enumerate(sc.materials):
        if m.shortfall_penalty is None and _positive_anywhere(m.demand):
            problems.append(Problem(("materials", i, "shortfall_penalty"),
                                    f"`{m.id}` has demand, so it needs a shortfall_penalty ($/{m.unit} unmet)"))
        st = m.stockpile
        if st is not None and not st.hard_target and st.target_penalty is None and _positive_anywhere(st.target):
            problems.append(Problem(("materials", i, "stockpile", "target_penalty"),
                                    "a target > 0 needs a target_penalty (or hard_target: true)"))
    return problems


# Which entities each kind of rule acts on, for "a filter that matches nothing" (SPEC section 2).
RULE_TARGETS = {
    "tariff": ("sources",),
    "price": ("sources",),
    "ban": ("sources", "processors"),
    "capacity": ("sources", "processors"),
    "demand": ("materials",),
    "release": ("materials",),
}


def filter_matches(flt: Filter, kind: str, entity: Any) -> bool:
    """Whether `entity` (a Material, Source or Processor; `kind` says which) matches the filter.

    An attribute that is None (a placeholder for a value that did not validate, see `salvage`) is
    unknown and matches whatever the filter asks for."""
    for key in ("source", "processor", "material", "region", "country"):
        wanted = flt.values(key)
        if wanted is None:
            continue
        if key == "material":
            if kind == "materials":
                have = {entity.id}
            elif kind == "sources":
                have = {entity.material}
            else:
                have = {entity.input, *(entity.outputs if entity.outputs is not None else (None,))}
        elif key == "source":
            have = {entity.id} if kind == "sources" else set()
        elif key == "processor":
            have = {entity.id} if kind == "processors" else set()
        else:
            have = {getattr(entity, key)} if kind != "materials" else set()
        if None in have:
            continue
        if not have.intersection(wanted):
            return False
    return True


def _rules(sc: Scenario) -> Iterator[tuple[tuple[Any, ...], Rule]]:
    for i, rule in enumerate(sc.policies):
        yield ("policies", i), rule
    for k, case in enumerate(sc.scenarios or []):
        for j, rule in enumerate(case.events):
            yield ("scenarios", k, "events", j), rule
    for e, event in enumerate(sc.disruptions.events if sc.disruptions else []):
        for j, rule in enumerate(event.effects):
            yield ("disruptions", "events", e, "effects", j), rule


def _check_filter_ids(sc: Scenario, flt: Filter, path: tuple[Any, ...]) -> list[Problem]:
    problems = []
    for key, kind in (("source", "sources"), ("processor", "processors"), ("material", "materials")):
        known = [e.id for e in getattr(sc, kind)]
        for value in flt.values(key) or ():
            if value not in known:
                problems.append(Problem((*path, "where", key), _unknown(key, value, known)))
    return problems


def check_filters(sc: Scenario) -> list[Problem]:
    """Filters name existing ids, and match at least one entity the rule acts on."""
    problems = []
    for path, rule in _rules(sc):
        problems += _check_filter_ids(sc, rule.where, path)
        if _not_for_release(rule):
            continue  # check_release_filters names the key; matching nothing follows from it
        kinds = RULE_TARGETS.get(rule.type, ())  # () : a type that did not validate
        if kinds and not any(filter_matches(rule.where, kind, e) for kind in kinds for e in getattr(sc, kind)):
            what = " or ".join(k[:-1] for k in kinds)
            problems.append(Problem((*path, "where"), f"this {rule.type} rule's filter matches no {what}"))
    for i, lim in enumerate(sc.limits):
        path = ("limits", i)
        problems += _check_filter_ids(sc, lim.where, path)
        if not any(filter_matches(lim.where, "sources", s) for s in sc.sources):
            problems.append(Problem((*path, "where"), "this limit's filter matches no source"))
    return problems


def check_names(sc: Scenario) -> list[Problem]:
    """Budget, limit and scenario names are unique within their list."""
    problems = []
    for kind in ("budgets", "limits", "scenarios"):
        names = [item.name for item in getattr(sc, kind) or []]
        counts = Counter(names)
        seen: set[str] = set()
        for i, name in enumerate(names):
            if counts[name] > 1 and name in seen:
                problems.append(Problem((kind, i, "name"), f"duplicate {kind[:-1]} name `{name}`"))
            seen.add(name)
    return problems


def check_limits(sc: Scenario) -> list[Problem]:
    """A share limit's minimum cannot exceed its maximum."""
    return [
        Problem(("limits", i), f"min_share {lim.min_share} is above max_share {lim.max_share}")
        for i, lim in enumerate(sc.limits)
        if lim.min_share is not None and lim.max_share is not None and lim.min_share > lim.max_share
    ]


def check_probabilities(sc: Scenario) -> list[Problem]:
    """Scenario probabilities sum to 1 (within 1e-6), and none is 0.

    A scenario of probability 0 weighs nothing in the objective, so its plan is whatever the other
    scenarios leave it and its cost means nothing; reporting them would mislead (docs/model.md)."""
    if not sc.scenarios:
        return []
    problems = [
        Problem(("scenarios", k, "probability"), f"scenario `{case.name}` has probability 0: its plan and cost "
                "would mean nothing (it weighs nothing in the objective); remove it or give it a probability")
        for k, case in enumerate(sc.scenarios) if case.probability == 0
    ]
    total = sum(case.probability for case in sc.scenarios)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        problems.append(Problem(("scenarios",), f"probabilities sum to {total:.9g}, not 1"))
    return problems


def check_disruptions(sc: Scenario) -> list[Problem]:
    """A disruptions section replaces `scenarios`, branches at stages no shorter than a period, has a
    stage 1 to start events at, unique event names, and every event can start within the horizon."""
    process = sc.disruptions
    if process is None:
        return []
    from optimizer.disruptions import Stages, month_label  # stage arithmetic has one home (beside the data)

    problems = []
    if sc.scenarios:
        problems.append(Problem(("disruptions",), "cannot be combined with `scenarios`: the disruptions generate "
                                                  "the scenarios (remove one of the two)"))
    names = [event.name for event in process.events]
    for e, name in enumerate(names):
        if name in names[:e]:
            problems.append(Problem(("disruptions", "events", e, "name"), f"duplicate event name `{name}`"))
    if PERIOD_MONTHS[process.stage] < PERIOD_MONTHS[sc.horizon.period]:
        problems.append(Problem(("disruptions", "stage"), f"a {process.stage} stage is shorter than the horizon's "
                                f"periods ({sc.horizon.period}): use stage: year"))
        return problems
    stages = Stages.of(sc)
    if stages.count < 2:
        problems.append(Problem(("disruptions", "stage"), f"the horizon ({sc.horizon.periods} "
                                f"{sc.horizon.period}{'s' if sc.horizon.periods != 1 else ''}) ends within the "
                                f"first {process.stage}: events start at the second stage at the earliest"))
        return problems
    last = month_label(stages.first_month(stages.count - 1))
    for e, event in enumerate(process.events):
        if event.earliest is not None and stages.first_start(event) is None:
            problems.append(Problem(("disruptions", "events", e, "earliest"),
                                    f"no stage starts on or after {event.earliest} within the horizon (the last "
                                    f"starts {last}): the event could never start"))
    return problems


def _not_for_release(rule: Rule) -> list[str]:
    """The filter keys of a release rule other than `material` (SPEC v2 allows that one only)."""
    if rule.type != "release":
        return []
    return [key for key in ("source", "processor", "region", "country") if rule.where.values(key) is not None]


def check_release_filters(sc: Scenario) -> list[Problem]:
    """A release rule's filter names materials only (SPEC v2): a stockpile belongs to a material."""
    return [
        Problem((*path, "where", key), f"a release rule filters on `material` only, not on `{key}`")
        for path, rule in _rules(sc) for key in _not_for_release(rule)
    ]


def check_home_country(sc: Scenario) -> list[Problem]:
    """With `home_country` given, a `region: domestic` source is in that country (SPEC v2)."""
    if sc.home_country is None:
        return []
    return [
        Problem(("sources", i, "country"), f"source `{src.id}` is `region: domestic` but its country is "
                f"{src.country}, not home_country {sc.home_country}")
        for i, src in enumerate(sc.sources) if src.region == "domestic" and src.country != sc.home_country
    ]


#: A combination of processors gaining more than this (per unit of material fed in all) makes
#: material from nothing; a cycle returning what it takes in, up to rounding, is fine.
GAIN_TOLERANCE = 1e-9


def check_processor_gain(sc: Scenario) -> list[Problem]:
    """No combination of processors makes material from nothing.

    Processor p turns one unit of its input into `yield[p, m]` units of each output m; run at rates
    x >= 0 they change the amount of material m by
        net_m(x) = sum_p x_p * (yield[p, m] - [m is the input of p]).
    If net_m(x) >= 0 for every m and > 0 for some, the plan can loop material through them and sell
    or use the surplus for free: a processor whose input is among its outputs with a yield above 1,
    or a: x -> {y: 0.6, z: 0.6}, b: y -> x, c: z -> x (1 x returns 1.2 x). Such an x needs a cycle in
    the material graph (input -> output), looked for first; only then a tiny LP decides:
        maximise sum_m net_m(x)   s.t.   net_m(x) >= 0 for every m,   sum_p x_p <= 1,   x >= 0,
    and an optimum above GAIN_TOLERANCE is a gain.
    """
    procs = [(i, p) for i, p in enumerate(sc.processors)
             if isinstance(p.input, str) and p.outputs and all(math.isfinite(y) for y in p.outputs.values())]
    edges = {(p.input, m) for _, p in procs for m, y in p.outputs.items() if y > 0}
    if not _has_cycle(edges):
        return []
    from scipy.optimize import linprog

    materials = sorted({m for edge in edges for m in edge} | {p.input for _, p in procs})
    row = {m: r for r, m in enumerate(materials)}
    net = np.zeros((len(materials), len(procs)))  # net[m, p]: material m per unit fed to p
    for col, (_, p) in enumerate(procs):
        net[row[p.input], col] -= 1.0
        for m, y in p.outputs.items():
            net[row[m], col] += y
    result = linprog(-net.sum(axis=0), A_ub=np.vstack([-net, np.ones((1, len(procs)))]),
                     b_ub=np.r_[np.zeros(len(materials)), 1.0], bounds=(0, None), method="highs")
    if result.status != 0 or -result.fun <= GAIN_TOLERANCE:
        return []
    x = result.x / result.x.max()
    used = [(col, i, p) for col, (i, p) in enumerate(procs) if x[col] > 1e-9]
    units = {m.id: m.unit for m in sc.materials}
    feeds = ", ".join(f"{x[col]:.4g} {units.get(p.input, '')} {p.input} to `{p.id}`".replace("  ", " ")
                      for col, _, p in used)
    gains = net @ x
    extra = ", ".join(f"{gains[r]:.4g} {units.get(m, '')} {m}".replace("  ", " ")
                      for m, r in row.items() if gains[r] > GAIN_TOLERANCE)
    names = ", ".join(f"`{p.id}`" for _, _, p in used)
    first = used[0][1]
    return [Problem(("processors", first, "outputs"),
                    f"{'processors' if len(used) > 1 else 'processor'} {names} make{'' if len(used) > 1 else 's'} "
                    f"material from nothing: feeding {feeds} "
                    f"gives all of it back and {extra} more; check the yields (a cycle of processors must not "
                    "return more than it takes in)")]


def _has_cycle(edges: set[tuple[str, str]]) -> bool:
    """Whether a directed graph has a cycle (Kahn's algorithm: what cannot be ordered lies on one)."""
    nodes = {n for edge in edges for n in edge}
    indegree = dict.fromkeys(nodes, 0)
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        successors[a].append(b)
        indegree[b] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    ordered = 0
    while ready:
        n = ready.pop()
        ordered += 1
        for m in successors[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return ordered < len(nodes)


def check_discrete(sc: Scenario) -> list[Problem]:
    """SPEC 2 (v2): `min_order` and `fixed_cost` need a finite supply bound (a `capacity`; with an
    expansion, capacity plus `expansion.max`), the big-M of the order rows (SPEC 4.1.12); a module
    (`expansion.unit`) is no larger than `expansion.max`."""
    problems = []
    for i, src in enumerate(sc.sources):
        for name in ("min_order", "fixed_cost"):
            if getattr(src, name) > 0 and src.capacity is None:
                problems.append(Problem(("sources", i, name), f"source `{src.id}` has no capacity, so `{name}` has no "
                                        "finite supply bound to work with: give the source a capacity (units per "
                                        "period; an expansion adds its `max` to it)"))
    for kind in ("sources", "processors"):
        for i, entity in enumerate(getattr(sc, kind)):
            exp = entity.expansion
            if exp is not None and exp.unit > exp.max:
                problems.append(Problem((kind, i, "expansion", "unit"), f"a module of {exp.unit:g} is larger than "
                                        f"`expansion.max` {exp.max:g}: not one could be built"))
    return problems


# --- warnings: valid input that probably does not say what the planner means ---------------------


def warn_target_held_through_disruption(sc: Scenario) -> list[Problem]:
    """SPEC 2 (v2): a material with a soft target whose source a scenario bans or cuts (capacity
    multiplier < 1) with no release rule for it in the periods the rule covers, while the target
    penalty summed over the remaining periods from the rule's first one exceeds the shortfall
    penalty: the plan would rather hold stock than serve demand. One warning per rule, naming the
    scenarios and materials. With a `disruptions` section each event is read as a scenario in
    which its effects hold from the first stage it can start at (the tree is not generated)."""
    from optimizer.data import Calendar  # data builds on this module

    cal = Calendar.of(sc.horizon)
    found: dict[tuple[tuple[Any, ...], str], list[str]] = {}  # (rule path, material) -> scenarios
    figures: dict[tuple[tuple[Any, ...], str], str] = {}
    rule_at: dict[tuple[Any, ...], tuple[Rule, int]] = {}
    for name, rules in _rules_in_force(sc, cal):
        for mat in sc.materials:
            st = mat.stockpile
            if (st is None or st.hard_target or not st.target_penalty or not mat.shortfall_penalty
                    or not _positive_anywhere(mat.demand)):
                continue
            target = cal.series(st.target)
            released = np.zeros(cal.periods, dtype=bool)
            for _, rule, covers in rules:
                if rule.type == "release" and filter_matches(rule.where, "materials", mat):
                    released |= covers
            own = [s for s in sc.sources if s.material == mat.id]
            for path, rule, covers in rules:
                cuts = rule.type == "ban" or (rule.type == "capacity" and rule.multiplier < 1)
                if not cuts or not covers.any() or (covers & released).any():
                    continue
                if not any(filter_matches(rule.where, "sources", s) for s in own):
                    continue
                first = int(np.flatnonzero(covers)[0])
                held = st.target_penalty * int((target[first:] > 0).sum())
                if held > mat.shortfall_penalty:
                    found.setdefault((path, mat.id), []).append(name)
                    figures[path, mat.id] = f"{mat.id} {held:,.6g} > {mat.shortfall_penalty:,.6g}"
                    rule_at[path] = (rule, first)
    grouped: dict[tuple[tuple[Any, ...], tuple[str, ...]], list[str]] = {}
    for (path, material), names in found.items():
        grouped.setdefault((path, tuple(names)), []).append(material)
    problems = []
    for (path, names), materials in grouped.items():
        rule, first = rule_at[path]
        label = f"rule `{rule.name}`" if rule.name else f"this {rule.type} rule"
        verb = "bans" if rule.type == "ban" else "cuts"
        listed = materials[0] if len(materials) == 1 else f"[{', '.join(materials)}]"
        problems.append(Problem(path, (
            f"in {_plural('scenario', list(names))}, {label} {verb} a source of {', '.join(materials)} from "
            f"{cal.labels[first]} with no release rule for {'it' if len(materials) == 1 else 'them'}: the target "
            f"penalty summed over the remaining periods exceeds the shortfall penalty "
            f"({'; '.join(figures[path, m] for m in materials)}), so the plan would rather hold stock than serve "
            f"demand; to draw the stockpile down, add {{type: release, where: {{material: {listed}}}}}")))
    return problems


def _rules_in_force(sc: Scenario, cal) -> Iterator[tuple[str, list[tuple[tuple[Any, ...], Rule, np.ndarray]]]]:
    """(scenario name, [(rule path, rule, covered periods [T] bool)]) of every scenario: the policies
    plus its events; with `disruptions`, one per event (`event <name>`) with its effects from the first
    stage the event can start at."""
    policies = [(("policies", i), rule, cal.window(rule.from_, rule.until)) for i, rule in enumerate(sc.policies)]
    if sc.disruptions is not None and not sc.scenarios:
        from optimizer.disruptions import Stages, month_label  # stage arithmetic has one home

        stages = Stages.of(sc)
        for e, event in enumerate(sc.disruptions.events):
            first = stages.first_start(event)
            if first is None:
                continue
            covers = cal.window(month_label(stages.first_month(first)), None)
            yield f"event {event.name}", policies + [(("disruptions", "events", e, "effects", j), rule, covers)
                                                     for j, rule in enumerate(event.effects)]
        return
    for k, case in enumerate(sc.scenarios or [Case(name="base", probability=1.0)]):
        yield case.name, policies + [(("scenarios", k, "events", j), rule, cal.window(rule.from_, rule.until))
                                     for j, rule in enumerate(case.events)]


def _plural(word: str, names: list[str]) -> str:
    return f"{word}{'s' if len(names) != 1 else ''} {', '.join(names)}"


def warn_lead_times(sc: Scenario) -> list[Problem]:
    """A lead time (source or expansion) with which nothing can ever arrive within the horizon.

    SPEC allows it (such orders and builds simply get no variables), but a planner who writes it
    almost always meant something else: a shorter lead time, or a longer horizon."""
    from optimizer.data import month_index, month_label  # data imports this module

    hz = sc.horizon
    length = PERIOD_MONTHS[hz.period]
    start, periods = month_index(hz.start), hz.periods
    end = month_label(start + periods * length)

    def span(n: int) -> str:
        return f"{n} {hz.period}{'s' if n != 1 else ''}"

    problems = []
    for kind, items in (("sources", sc.sources), ("processors", sc.processors)):
        for i, item in enumerate(items):
            lead = getattr(item, "lead_time", 0)
            if lead:
                first_order = 0
                if item.available_from is not None:
                    first_order = max(0, -(-(month_index(item.available_from) - start) // length))
                never_available = first_order >= periods or (
                    item.available_until is not None
                    and start + first_order * length >= month_index(item.available_until))
                if lead >= periods:
                    problems.append(Problem((kind, i, "lead_time"), f"{span(lead)} is not shorter than the "
                                            f"horizon ({span(periods)}): nothing ordered can arrive before it ends "
                                            f"({end}), so `{item.id}` is never used"))
                elif not never_available and first_order + lead >= periods:
                    problems.append(Problem((kind, i, "lead_time"), f"{span(lead)}: ordered from "
                                            f"{month_label(start + first_order * length)} at the earliest "
                                            f"(available_from), nothing arrives before the horizon ends ({end}), "
                                            f"so `{item.id}` is never used"))
            if item.expansion is not None and item.expansion.lead_time >= periods:
                problems.append(Problem((kind, i, "expansion", "lead_time"), f"{span(item.expansion.lead_time)} "
                                        f"is not shorter than the horizon ({span(periods)}): capacity "
                                        f"built for `{item.id}` can never be used before it ends ({end})"))
    return problems


def warn_countries(sc: Scenario) -> list[Problem]:
    """A `country` that is not an assigned ISO 3166-1 alpha-2 code (nor INTL), with a did-you-mean."""
    located = [(("home_country",), sc.home_country)] if sc.home_country is not None else []
    for kind in ("sources", "processors"):
        located += [((kind, i, "country"), item.country) for i, item in enumerate(getattr(sc, kind))]
    used = [code for _, code in located]
    problems = []
    for path, code in located:
        if not countries.is_known(code):
            hint = countries.suggestion(code, used)
            problems.append(Problem(path, f"`{code}` is not an assigned ISO 3166-1 alpha-2 country code (nor "
                                          f"INTL)" + (f"; did you mean `{hint}`?" if hint else "")))
    return problems


#: Checks of a valid scenario whose findings are warnings: printed and recorded, never stopping a run
#: (same shape as the error checks of `check_scenario`; `optimize validate --strict` makes them errors).
WARNING_CHECKS = (
    warn_target_held_through_disruption,
    warn_lead_times,
    warn_countries,
)


def scenario_warnings(sc: Scenario) -> list[str]:
    """Every warning about a valid scenario, as `<field path>: <message>` (list items named by their
    id or name where they have one)."""
    return [f"{_named_path(sc, p.path)}: {p.message}" for check in WARNING_CHECKS for p in check(sc)]


def located_warnings(sc: Scenario, problems: list[Problem], smap: SourceMap) -> list[str]:
    """Warnings as `<file>:<line>:<column>: <field path>: <message>` (a workbook cell, or the `--set`
    argument that gave the field, instead of the line), list items named as in `scenario_warnings`."""
    out = []
    for problem in problems:
        placed = _place(problem, smap)
        if placed.origin is not None:
            where = placed.origin
        elif isinstance(placed.position, Cell):
            where = f"{smap.file}:{placed.position}"
        elif placed.position is not None:
            where = f"{smap.file}:{placed.position[0]}:{placed.position[1]}"
        else:
            where = smap.file
        out.append(f"{where}: {_named_path(sc, problem.path)}: {problem.message}")
    return out


def _named_path(sc: Scenario, path: tuple[Any, ...]) -> str:
    """`("scenarios", 1, "events", 0)` -> `scenarios[full-ban].events[0]`: list items named by their id or
    name where they have one (an unnamed item, or one past the end, keeps its index)."""
    out, node = "", sc
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = getattr(node, "id", None) or getattr(node, "name", None)
            out += f"[{label if isinstance(label, str) else part}]"
        else:
            out += f".{part}" if out else str(part)
            node = getattr(node, part, None) if isinstance(node, BaseModel) else None
    return out or "(top level)"
