"""An independent, deliberately naive reading of SPEC section 8: the scenario tree of a
`disruptions` process, by exact enumeration of every path (no sampling), for tests only.

* Stage j starts j * stage_len months after horizon.start; events may start at stage starts
  j >= 1 inside the horizon and not before `earliest`.
* At each such stage an inactive event (not yet happened, unless `repeat`) starts with
  q = 1 - (1 - annual_probability) ** (stage_len / 12), independently of the other events; it
  lasts d stages, d drawn from `duration` (a number: fixed); its effects are in force from the
  start of stage j until the start of stage j + d, or the horizon's end. An event whose effects end
  at stage j + d is inactive again from that stage on (with `repeat` it may start again there).
* A path's probability is the product of its draws; paths whose effective parameters are equal
  (every parameter of every period, as reference_lp resolves them) are one scenario.

The result converts to a SPEC `scenarios:` list (`tree_document`) that reference_lp solves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from reference_lp import PERIOD_LENGTH, month_number, month_text, resolve

STAGE_LENGTH = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event on a path: it starts at stage `stage` and lasts `duration` stages."""

    event: str
    stage: int
    duration: int


@dataclass
class TreeScenario:
    """A scenario of the tree: its probability, one representative path and every rule it adds."""

    probability: float
    occurrences: tuple[Occurrence, ...]
    rules: list[dict]
    paths: int  # how many paths were merged into it


def _durations(raw: Any) -> list[tuple[int, float]]:
    if isinstance(raw, dict):
        return [(int(d), float(p)) for d, p in raw.items() if float(p) > 0]
    return [(int(raw), 1.0)]


@dataclass(frozen=True)
class Stages:
    """The stage calendar: stage j starts at month number `start + j * length`."""

    start: int  # month number of horizon.start
    length: int  # months per stage
    end: int  # month number just after the horizon

    def month(self, j: int) -> int:
        return self.start + j * self.length

    def branching(self) -> list[int]:
        """Stage indices j >= 1 that start inside the horizon: where events may start."""
        return [j for j in range(1, (self.end - self.start) // self.length + 2) if self.month(j) < self.end]


def event_paths(event: dict, stages: Stages) -> list[tuple[float, list[Occurrence]]]:
    """Every path of one event over the branching stages, with its probability."""
    q = 1.0 - (1.0 - float(event["annual_probability"])) ** (stages.length / 12.0)
    earliest = month_number(event["earliest"]) if event.get("earliest") else None
    repeat = bool(event.get("repeat", False))
    durations = _durations(event["duration"])
    out: list[tuple[float, list[Occurrence]]] = []
    branching = stages.branching()

    def walk(i: int, prob: float, occurrences: list[Occurrence], active_until: int, happened: bool) -> None:
        if i == len(branching):
            out.append((prob, occurrences))
            return
        j = branching[i]
        eligible = (j >= active_until and (repeat or not happened)
                    and (earliest is None or stages.month(j) >= earliest))
        if not eligible or q == 0.0:
            walk(i + 1, prob, occurrences, active_until, happened)
            return
        if q < 1.0:
            walk(i + 1, prob * (1.0 - q), occurrences, active_until, happened)
        for d, pd in durations:
            walk(i + 1, prob * q * pd, occurrences + [Occurrence(event["name"], j, d)], j + d, True)

    walk(0, 1.0, [], 0, False)
    return out


def stages_of(doc: dict) -> Stages:
    h = doc["horizon"]
    start = month_number(h["start"])
    end = start + int(h["periods"]) * PERIOD_LENGTH[h.get("period") or "month"]
    return Stages(start, STAGE_LENGTH[doc["disruptions"]["stage"]], end)


def _rules(doc: dict, occurrences: list[Occurrence], stages: Stages) -> list[dict]:
    """The effect rules of a path with their windows [start of j, start of j + d or the horizon's end)."""
    effects = {e["name"]: e["effects"] for e in doc["disruptions"]["events"]}
    rules = []
    for occ in occurrences:
        stop = stages.month(occ.stage + occ.duration)
        for effect in effects[occ.event]:
            rule = copy.deepcopy(effect)
            rule["from"] = month_text(stages.month(occ.stage))
            if stop < stages.end:
                rule["until"] = month_text(stop)
            rules.append(rule)
    return rules


def enumerate_tree(doc: dict) -> list[TreeScenario]:
    """Every path of the process, merged where the effective parameters are equal, in the order of
    first appearance (paths enumerated event by event, not starting before starting)."""
    stages = stages_of(doc)
    per_event = [event_paths(e, stages) for e in doc["disruptions"]["events"]]
    paths: list[tuple[float, list[Occurrence]]] = [(1.0, [])]
    for options in per_event:
        paths = [(p * pe, occ + occ_e) for p, occ in paths for pe, occ_e in options]
    rules = [_rules(doc, occ, stages) for _, occ in paths]
    # Effective parameters of every path, resolved by the reference LP on one scenarios: list.
    flat = without_disruptions(doc)
    flat["scenarios"] = [{"name": f"path-{i}", "probability": p, "events": r}
                         for i, ((p, _), r) in enumerate(zip(paths, rules))]
    par = resolve(flat)
    merged: dict[tuple, TreeScenario] = {}
    for i, (p, occ) in enumerate(paths):
        key = tuple(par.signature(i, t) for t in range(par.T))
        if key in merged:
            merged[key].probability += p
            merged[key].paths += 1
        else:
            merged[key] = TreeScenario(p, tuple(occ), rules[i], 1)
    return list(merged.values())


def without_disruptions(doc: dict) -> dict:
    out = copy.deepcopy(doc)
    out.pop("disruptions", None)
    out.pop("scenarios", None)
    return out


def scenario_name(occurrences: tuple[Occurrence, ...], stages: Stages) -> str:
    """`calm`, or `event@YYYY-MMxd+...` (start month and duration in stages of each occurrence)."""
    if not occurrences:
        return "calm"
    return "+".join(f"{o.event}@{month_text(stages.month(o.stage))}x{o.duration}" for o in occurrences)


def tree_scenarios(doc: dict) -> list[dict]:
    """The tree as a SPEC `scenarios:` list (name, probability, events)."""
    stages = stages_of(doc)
    return [{"name": scenario_name(s.occurrences, stages), "probability": s.probability, "events": s.rules}
            for s in enumerate_tree(doc)]


def tree_document(doc: dict) -> dict:
    """The scenario with its `disruptions` section replaced by the equivalent `scenarios:` list."""
    out = without_disruptions(doc)
    out["scenarios"] = tree_scenarios(doc)
    return out


def distribution(doc_with_scenarios: dict) -> dict[tuple, float]:
    """Probability by effective parameters (every period, to 12 significant digits, so the order
    in which multipliers were applied does not matter) of a scenario list: two lists describe the
    same tree when these maps agree, whatever the names and the order."""
    par = resolve(doc_with_scenarios)
    out: dict[tuple, float] = {}
    for k in range(par.K):
        key = tuple(tuple(tuple(float(f"{v:.12g}") for v in part) for part in par.signature(k, t))
                    for t in range(par.T))
        out[key] = out.get(key, 0.0) + par.prob[k]
    return out
