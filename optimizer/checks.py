"""Validation stage: dict -> Scenario, collecting every problem with its field path and YAML position.

Pydantic checks types and ranges; the `check_*` functions here check what spans fields
(ids, references, series lengths, filters, probabilities). Nothing here builds a model.
"""

from __future__ import annotations

import difflib
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

from optimizer.errors import Problem, ScenarioError, format_path
from optimizer.loader import SourceMap
from optimizer.spec import PERIOD_MONTHS, Case, Filter, Rule, Scenario, Strict

PROBABILITY_TOLERANCE = 1e-6


def validate(raw: Any, smap: SourceMap | None = None) -> Scenario:
    """Validate a scenario dict; raise ScenarioError listing every problem found."""
    smap = smap or SourceMap("<dict>")
    try:
        scenario = Scenario.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [_from_pydantic(err, raw, smap) for err in exc.errors(include_url=False)]
        raise ScenarioError(_dedupe(problems), file=smap.file) from None
    problems = [
        Problem(p.path, p.message, smap.locate(p.path)) for p in check_scenario(scenario)
    ]
    if problems:
        raise ScenarioError(_dedupe(problems), file=smap.file)
    return scenario


def check_scenario(sc: Scenario) -> list[Problem]:
    """Every cross-field problem of a type-valid scenario."""
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
    )
    return [problem for check in checks for problem in check(sc)]


# --- pydantic errors -> problems -------------------------------------------------------------


_SERIES_ITEM = re.compile(r"^(?:item (\d+)|key (\S+)): ")
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|(list|dict|tuple|literal|function-\w+)\[.*\])$")


def _from_pydantic(err: dict[str, Any], raw: Any, smap: SourceMap) -> Problem:
    # pydantic names the union member that failed (`where.region.literal[...]`): not a field, drop it
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _UNION_TAG.match(p)))
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
        message = f"{got!r} is not one of {expected}"
        close = difflib.get_close_matches(str(got), [e.strip(" '") for e in str(expected).replace(" or ", ",").split(",")], n=1)
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
    elif kind.endswith("_type") or kind in {"finite_number", "greater_than_equal", "less_than_equal",
                                             "greater_than", "less_than", "too_short", "too_long"}:
        message = f"{message}, got {_short(err.get('input'))}"
    return Problem(loc, message, smap.locate(loc))


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
    """Whether `entity` (a Material, Source or Processor; `kind` says which) matches the filter."""
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
                have = {entity.input, *entity.outputs}
        elif key == "source":
            have = {entity.id} if kind == "sources" else set()
        elif key == "processor":
            have = {entity.id} if kind == "processors" else set()
        else:
            have = {getattr(entity, key)} if kind != "materials" else set()
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
        kinds = RULE_TARGETS[rule.type]
        if not any(filter_matches(rule.where, kind, e) for kind in kinds for e in getattr(sc, kind)):
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
    """Scenario probabilities sum to 1 (within 1e-6)."""
    if not sc.scenarios:
        return []
    total = sum(case.probability for case in sc.scenarios)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        return [Problem(("scenarios",), f"probabilities sum to {total:.9g}, not 1")]
    return []


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


#: Checks whose problems are warnings: printed and recorded, never stopping a run.
WARNING_CHECKS = (warn_target_held_through_disruption,)


def scenario_warnings(sc: Scenario) -> list[str]:
    """Every warning about a valid scenario, as `<field path>: <message>` (list items named by their
    id or name where they have one)."""
    return [f"{_named_path(sc, p.path)}: {p.message}" for check in WARNING_CHECKS for p in check(sc)]


def _named_path(sc: Scenario, path: tuple[Any, ...]) -> str:
    """`("scenarios", 1, "events", 0)` -> `scenarios[full-ban].events[0]` (an unnamed item keeps its index)."""
    out, node = "", sc
    for part in path:
        if isinstance(part, int):
            node = node[part]
            name = getattr(node, "id", None) or getattr(node, "name", None)
            out += f"[{name if name else part}]"
        else:
            node = getattr(node, part)
            out += f".{part}" if out else part
    return out
