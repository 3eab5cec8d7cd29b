"""Disruption processes -> the scenario tree (SPEC 8): stages, exact enumeration or seeded sampling,
paths with equal parameters merged into one scenario, readable names.

Index letters: e event, j stage, i sampled path. A *code* is the set of events active in a stage, as a
bit mask (bit e set when event e is active). A *class* numbers the distinct parameter values of a
stage: two codes have the same class in stage j when the rules they put in force give equal
parameters in every period of the stage (compared exactly as `data.build_tree` compares scenarios).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from optimizer.data import Calendar, month_index, month_label, resolve_rules, rule_signature
from optimizer.errors import Problem, ScenarioError, UsageError
from optimizer.spec import PERIOD_MONTHS, Case, Disruptions, Event, Rule, Scenario

#: Longest scenario name a scenario file accepts (`spec.Case.name`); longer names are cut and hashed.
MAX_NAME = 200


@dataclass(frozen=True)
class Stages:
    """Branching points: stage j starts `j * length` months after horizon.start; the last may be short."""

    unit: Literal["year", "quarter"]
    start: int
    """First month of the horizon, months since year 0."""
    length: int
    """Months per stage."""
    count: int
    """Stages that start within the horizon."""
    periods_per_stage: int
    periods: int

    @classmethod
    def of(cls, sc: Scenario) -> Stages:
        """The stages of a scenario with a `disruptions` section (its stage no shorter than a period)."""
        assert sc.disruptions is not None
        length, period = PERIOD_MONTHS[sc.disruptions.stage], PERIOD_MONTHS[sc.horizon.period]
        months = sc.horizon.periods * period
        return cls(sc.disruptions.stage, month_index(sc.horizon.start), length, -(-months // length),
                   length // period, sc.horizon.periods)

    def first_month(self, j: int) -> int:
        """First month of stage j, months since year 0."""
        return self.start + j * self.length

    def period_range(self, j: int) -> range:
        """Periods of stage j."""
        return range(j * self.periods_per_stage, min((j + 1) * self.periods_per_stage, self.periods))

    def label(self, j: int) -> str:
        """Stage j in scenario names: `2028` (years from January), `2028Q3` (quarters from a calendar
        quarter's first month), else the stage's first month `2028-07`."""
        month = self.first_month(j)
        if self.unit == "year" and month % 12 == 0:
            return str(month // 12)
        if self.unit == "quarter" and month % 3 == 0:
            return f"{month // 12}Q{month % 12 // 3 + 1}"
        return month_label(month)

    def first_start(self, event: Event) -> int | None:
        """First stage at which `event` can start (j >= 1, not before `earliest`); None if none can."""
        earliest = month_index(event.earliest) if event.earliest else self.start
        first = max(1, -(-(earliest - self.start) // self.length))
        return first if first < self.count else None


def stage_probability(event: Event, stages: Stages) -> float:
    """q = 1 - (1 - annual_probability) ** (stage_len / 12): chance that an inactive event starts at a stage."""
    return 1.0 - (1.0 - event.annual_probability) ** (stages.length / 12.0)


@dataclass(frozen=True)
class History:
    """What has happened by the start of stage `stage` (included): the state a tree is generated from.

    `generate` starts from the beginning (stage 0, nothing in force); a re-plan of `optimize simulate`
    (SPEC 9) starts from the stage it is made at, where events in force keep the stages they have
    already lasted and draw the rest of their duration (`remaining_durations`).
    """

    codes: tuple[int, ...]
    """Events in force in stages 0..stage (bit masks)."""
    started: tuple[int | None, ...]
    """Per event: the first stage of its run in force at `stage` (None: not in force then)."""
    happened: int
    """Events that have started at least once (bit mask)."""

    @classmethod
    def beginning(cls, n_events: int) -> History:
        """Stage 0: no event can start before stage 1, so none is in force."""
        return cls((0,), (None,) * n_events, 0)

    @classmethod
    def of_path(cls, codes: tuple[int, ...], starts: tuple[int, ...], stage: int, n_events: int) -> History:
        """The history through `stage` of a path given by its codes and its starts per stage (bit e of
        `starts[j]` set when event e starts at stage j; a repeat may start as its previous run ends)."""
        started = tuple(max(j for j in range(stage + 1) if starts[j] >> e & 1) if codes[stage] >> e & 1 else None
                        for e in range(n_events))
        happened = 0
        for start in starts[:stage + 1]:
            happened |= start
        return cls(tuple(codes[:stage + 1]), started, happened)

    @property
    def stage(self) -> int:
        return len(self.codes) - 1


def remaining_durations(event: Event, elapsed: int, left: int) -> tuple[np.ndarray, np.ndarray]:
    """Stages an event in force for `elapsed` stages before this one still stays in force, this stage
    included, and their probabilities: its duration d given d > elapsed (P(d) / P(D > elapsed)), less
    `elapsed`, cut at the `left` stages to the horizon's end (equal cuts added up)."""
    stages, prob = _durations(event)
    keep = (stages > elapsed) & (prob > 0)
    if not keep.any():
        raise ValueError(f"event {event.name} cannot have lasted more than {elapsed} stages")
    rest = np.minimum(stages[keep] - elapsed, left)
    values, where = np.unique(rest, return_inverse=True)
    return values, np.bincount(where, weights=prob[keep]) / prob[keep].sum()


def likeliest_continuation(process: Disruptions, stages: Stages, history: History) -> tuple[int, ...]:
    """The codes of every stage of the single future a planner who ignores new disruptions expects
    (SPEC 9's `naive` policy): the history, then each event in force lasts its most probable remaining
    duration (the shorter on ties; `remaining_durations`) and no event starts."""
    j, J = history.stage, stages.count
    codes = list(history.codes) + [0] * (J - 1 - j)
    for e, event in enumerate(process.events):
        if history.started[e] is not None:
            values, prob = remaining_durations(event, j - history.started[e], J - j)
            stays = int(values[np.argmax(prob)])  # argmax takes the first maximum: the shortest
            for later in range(j + 1, j + stays):
                codes[later] |= 1 << e
    return tuple(codes)


@dataclass(frozen=True)
class Occurrence:
    """One stretch of stages in which an event is in force (a run of an event; repeats that touch are one)."""

    event: str
    first_stage: int
    stages: int
    """Stages in force within the horizon."""
    start: str
    """First month in force, YYYY-MM."""
    until: str | None
    """First month no longer in force (YYYY-MM); None: in force to the horizon's end."""


@dataclass(frozen=True)
class TreeScenario:
    """A generated scenario: the simplest of the event histories it stands for, and their total probability."""

    name: str
    probability: float
    occurrences: tuple[Occurrence, ...]
    nodes: tuple[int, ...]
    """Its node of the stage tree in every stage."""
    case: Case


@dataclass(frozen=True)
class DisruptionTree:
    """The scenarios a `disruptions` section generates, and the tree their stages form.

    Node n of the stage tree groups the scenarios whose parameters are equal through the end of stage
    `node_stage[n]`; the LP's own tree (`data.Tree`) is the same, refined to periods.
    """

    stages: Stages
    events: tuple[Event, ...]
    stage_probability: tuple[float, ...]
    """q of each event."""
    method: Literal["exact", "sampled"]
    max_scenarios: int
    seed: int
    scenarios: tuple[TreeScenario, ...]
    node_stage: tuple[int, ...]
    node_parent: tuple[int, ...]
    """-1 for the root (stage 0)."""
    node_probability: tuple[float, ...]

    @property
    def cases(self) -> list[Case]:
        """The scenarios as a `scenarios:` list would give them, in tree order."""
        return [s.case for s in self.scenarios]

    def to_json(self) -> dict[str, Any]:
        """`tree.json` of the result folder (and `optimize tree --json`)."""
        return {
            "stage": self.stages.unit,
            "stages": [month_label(self.stages.first_month(j)) for j in range(self.stages.count)],
            "method": self.method,
            "max_scenarios": self.max_scenarios,
            "seed": self.seed,
            "events": [
                {"name": e.name, "annual_probability": e.annual_probability, "stage_probability": q,
                 "duration": {str(d): p for d, p in e.durations.items()}, "earliest": e.earliest,
                 "repeat": e.repeat}
                for e, q in zip(self.events, self.stage_probability)
            ],
            "scenarios": [
                {"name": s.name, "probability": s.probability, "nodes": list(s.nodes),
                 "occurrences": [{"event": o.event, "from": o.start, "until": o.until, "stages": o.stages}
                                 for o in s.occurrences]}
                for s in self.scenarios
            ],
            "nodes": [
                {"stage": j, "parent": parent, "probability": p, "scenarios": members}
                for j, parent, p, members in zip(self.node_stage, self.node_parent, self.node_probability,
                                                 self.node_members())
            ],
        }

    def node_members(self) -> list[list[str]]:
        """Names of the scenarios through each node of the stage tree."""
        members: list[list[str]] = [[] for _ in self.node_stage]
        for s in self.scenarios:
            for n in s.nodes:
                members[n].append(s.name)
        return members


# --- generation ----------------------------------------------------------------------------------

_GENERATED: dict[int, DisruptionTree] = {}


def generate(sc: Scenario) -> DisruptionTree:
    """The scenario tree of `sc.disruptions` (SPEC 8). Memoized per Scenario object (they are frozen):
    a run asks for it when resolving data and again when writing tree.json."""
    tree = _GENERATED.get(id(sc))
    if tree is None:
        tree = _generate(sc)
        _GENERATED[id(sc)] = tree
        weakref.finalize(sc, _GENERATED.pop, id(sc), None)
    return tree


def _generate(sc: Scenario) -> DisruptionTree:
    return generate_from(sc, History.beginning(len(sc.disruptions.events)))


def generate_from(sc: Scenario, history: History, classes: StageClasses | None = None) -> DisruptionTree:
    """The scenario tree of `sc.disruptions` given `history` (SPEC 8, and the re-plans of SPEC 9): every
    scenario follows the history through its stage, then branches as the process does; events in force
    at that stage last the rest of their duration given how long they have lasted. `classes` may be
    shared between calls on the same scenario (they depend on the events in force only)."""
    process = sc.disruptions
    assert process is not None
    stages = Stages.of(sc)
    classes = classes or StageClasses(sc, stages)
    outcomes = enumerate_outcomes(process, stages, classes, history)
    method: Literal["exact", "sampled"] = "exact"
    if outcomes is None:
        outcomes = sample_outcomes(process, stages, classes, history)
        method = "sampled"
    return _assemble(sc, stages, classes, outcomes, method)


class StageClasses:
    """class(j, code): the parameters of stage j with the events of `code` in force, numbered per stage.

    A code's parameters are resolved once (policies plus the effects of its events, over the whole
    horizon, by `data.resolve_rules`, stacked as `data.build_tree` compares them) and cut into stages;
    codes whose cuts are byte-equal share a class. Cuts are kept as 256-bit BLAKE2 digests of their
    bytes, so memory does not grow with the entities times the codes seen.
    """

    def __init__(self, sc: Scenario, stages: Stages):
        self.sc = sc
        self.calendar = Calendar.of(sc.horizon)
        self.stages = stages
        self.events = sc.disruptions.events
        self._of_code: dict[int, tuple[int, ...]] = {}
        self._interned: list[dict[bytes, int]] = [{} for _ in range(stages.count)]

    def __call__(self, j: int, code: int) -> int:
        classes = self._of_code.get(code)
        if classes is None:
            rules = list(self.sc.policies) + [rule for e in active_events(code, len(self.events))
                                              for rule in self.events[e].effects]
            signature = rule_signature(resolve_rules(self.sc, self.calendar, [rules]))[:, :, 0]
            classes = self._of_code[code] = tuple(
                self._intern(stage, signature[:, periods.start:periods.stop])
                for stage, periods in enumerate(map(self.stages.period_range, range(self.stages.count))))
        return classes[j]

    def _intern(self, j: int, parameters: np.ndarray) -> int:
        interned = self._interned[j]
        return interned.setdefault(hashlib.blake2b(np.ascontiguousarray(parameters).tobytes(),
                                                   digest_size=32).digest(), len(interned))


def active_events(code: int, n_events: int) -> list[int]:
    """Events whose bit is set in `code`, in listed order."""
    return [e for e in range(n_events) if code >> e & 1]


@dataclass(frozen=True)
class Outcome:
    """A distinct scenario before naming: its classes per stage, probability, and the codes per stage of
    the history that names it."""

    classes: tuple[int, ...]
    probability: float
    codes: tuple[int, ...]


def _durations(event: Event) -> tuple[np.ndarray, np.ndarray]:
    """Stages and probabilities of an event's duration, probabilities scaled to sum to exactly 1."""
    pairs = event.durations
    stages = np.array(list(pairs), dtype=int)
    prob = np.array(list(pairs.values()), dtype=float)
    return stages, prob / prob.sum()


def enumerate_outcomes(process: Disruptions, stages: Stages, classes: StageClasses,
                       history: History | None = None) -> list[Outcome] | None:
    """Every distinct scenario with its exact probability, or None once there are more than max_scenarios.

    A dynamic program over stages. Its nodes are (class prefix, process state): the classes of stages
    0..j, and per event the stages it stays in force (0 = inactive) and whether it has happened.
    Histories reaching the same node have the same future, so their probabilities add; each node keeps
    the simplest history to name the scenario (fewest event-stages in force, then the likeliest, then
    the first found): both criteria extend stage by stage, so the best history of a node extends the
    best of its parents. Every node has at least one continuation, so the number of distinct class
    prefixes at stage j is a lower bound on the number of scenarios: the enumeration stops as soon as
    it exceeds max_scenarios.

    The program starts from `history` (default: the beginning): its stages form the one prefix, and
    each event in force there stays in force for each of its `remaining_durations`, independently.
    """
    E, J = len(process.events), stages.count
    history = history or History.beginning(E)
    first = [stages.first_start(e) for e in process.events]
    q = [stage_probability(e, stages) for e in process.events]
    durations = [_durations(e) for e in process.events]
    # node key: (prefix id, remaining stages per event, happened mask) -> [probability, best, history]
    # where best = (-event-stages in force, probability) of the history kept; a history is a linked
    # list (code of the stage, previous history) so that extending it is O(1)
    prefix_of: dict[tuple[int, int], int] = {}
    prefix_classes: list[tuple[int, ...]] = [tuple(classes(j, code) for j, code in enumerate(history.codes))]
    past: tuple[int, Any] | None = None
    for code in history.codes:
        past = (code, past)
    in_force = -sum(code.bit_count() for code in history.codes)
    nodes: dict[tuple[int, tuple[int, ...], int], list[Any]] = {}
    for remaining, p in _initial_states(process, stages, history):
        nodes[(0, remaining, history.happened)] = [p, (in_force, p), past]
    transitions: dict[tuple[int, tuple[int, ...], int], list[tuple[tuple[int, ...], int, int, float]]] = {}
    for j in range(history.stage + 1, J):
        left = J - j
        new: dict[tuple[int, tuple[int, ...], int], list[Any]] = {}
        stage_prefixes = 0  # new prefixes of stage j: each prefix of stage j-1 has its own children
        for (prefix, remaining, happened), (prob, best, history) in nodes.items():
            remaining = tuple(max(r - 1, 0) for r in remaining)
            key = (j, remaining, happened)
            if key not in transitions:
                transitions[key] = _transitions(process, j, left, remaining, happened, first, q, durations)
            for after, happened_after, code, p in transitions[key]:
                cls = classes(j, code)
                child = prefix_of.get((prefix, cls))
                if child is None:
                    child = prefix_of[(prefix, cls)] = len(prefix_classes)
                    prefix_classes.append(prefix_classes[prefix] + (cls,))
                    stage_prefixes += 1
                    if stage_prefixes > process.max_scenarios:
                        return None
                node = (child, after, happened_after)
                extended = (best[0] - code.bit_count(), best[1] * p)
                entry = new.get(node)
                if entry is None:
                    new[node] = [prob * p, extended, (code, history)]
                else:
                    entry[0] += prob * p
                    if extended > entry[1]:
                        entry[1], entry[2] = extended, (code, history)
        nodes = new
    by_prefix: dict[int, list[Any]] = {}
    for (prefix, _, _), (prob, best, history) in nodes.items():
        entry = by_prefix.get(prefix)
        if entry is None:
            by_prefix[prefix] = [prob, best, history]
        else:
            entry[0] += prob
            if best > entry[1]:
                entry[1], entry[2] = best, history
    return [Outcome(prefix_classes[prefix], prob, _unlink(history)) for prefix, (prob, _, history)
            in by_prefix.items()]


def _unlink(history: tuple[int, Any] | None) -> tuple[int, ...]:
    codes = []
    while history is not None:
        codes.append(history[0])
        history = history[1]
    return tuple(reversed(codes))


def _initial_states(process: Disruptions, stages: Stages, history: History
                    ) -> list[tuple[tuple[int, ...], float]]:
    """The process states at the history's stage with their probabilities: per event, the stages it
    stays in force from then on (this stage included; 0 when not in force), independently."""
    j = history.stage
    choices = []
    for e, event in enumerate(process.events):
        if history.started[e] is None:
            choices.append([(0, 1.0)])
        else:
            values, prob = remaining_durations(event, j - history.started[e], stages.count - j)
            choices.append(list(zip(values.tolist(), prob.tolist())))
    return [(tuple(r for r, _ in combo), math.prod(p for _, p in combo)) for combo in itertools.product(*choices)]


def _transitions(process: Disruptions, j: int, left: int, remaining: tuple[int, ...], happened: int,
                 first: list[int | None], q: list[float], durations: list[tuple[np.ndarray, np.ndarray]]
                 ) -> list[tuple[tuple[int, ...], int, int, float]]:
    """Every way stage j can start from a state (events still in force already counted down): for each
    event that may start, no start (1 - q) or a start lasting d stages (q * P(d), d cut at the horizon's
    end, equal cuts added up), independently. Returns (remaining, happened, code, probability) with
    zero-probability branches left out."""
    choices = []
    for e, event in enumerate(process.events):
        may_start = (remaining[e] == 0 and first[e] is not None and j >= first[e]
                     and (event.repeat or not happened >> e & 1) and q[e] > 0)
        if not may_start:
            choices.append([(remaining[e], 0, 1.0)])
            continue
        starts: dict[int, float] = {}
        for d, p in zip(*durations[e]):
            if p > 0:
                starts[min(int(d), left)] = starts.get(min(int(d), left), 0.0) + q[e] * float(p)
        options = [(0, 0, 1.0 - q[e])] if q[e] < 1 else []
        choices.append(options + [(d, 1 << e, p) for d, p in starts.items()])
    once = sum(1 << e for e, event in enumerate(process.events) if not event.repeat)  # need to remember
    out = []
    for combo in itertools.product(*choices):
        after = tuple(r for r, _, _ in combo)
        started = sum(bit for _, bit, _ in combo)
        code = sum(1 << e for e, r in enumerate(after) if r > 0)
        out.append((after, happened | (started & once), code, math.prod(p for _, _, p in combo)))
    return out


@dataclass(frozen=True)
class SampledPaths:
    """Paths drawn from a disruption process: per path and stage, the events in force and those starting."""

    codes: np.ndarray
    """[N, J] bit masks of the events in force (the history's own stages included)."""
    starts: np.ndarray
    """[N, J] bit masks of the events starting at each stage after the history's (0 before)."""


def sample_paths(process: Disruptions, stages: Stages, n: int, seed: int, history: History | None = None
                 ) -> SampledPaths:
    """n paths of the process from `history` (default: the beginning), drawn with numpy's PCG64 seeded
    by `seed`.

    Draw order (what makes a seed reproducible): first, for each event in force at the history's stage
    in listed order, n uniforms w pick the stages it stays in force (the first value of
    `remaining_durations` whose cumulative probability exceeds w); then for each later stage j and each
    event in listed order, n uniforms u decide the starts (an event that may start does when u < q) and
    then n uniforms v its duration (the first d whose cumulative probability exceeds v), whether or not
    they are used.
    """
    E, J = len(process.events), stages.count
    history = history or History.beginning(E)
    j0 = history.stage
    rng = np.random.default_rng(seed)
    first = [stages.first_start(e) for e in process.events]
    q = [stage_probability(e, stages) for e in process.events]
    durations = [_durations(e) for e in process.events]
    remaining = np.zeros((n, E), dtype=int)
    happened = np.tile(np.array([bool(history.happened >> e & 1) for e in range(E)], dtype=bool), (n, 1))
    codes = np.zeros((n, J), dtype=np.int64)
    codes[:, :j0 + 1] = history.codes
    starts = np.zeros((n, J), dtype=np.int64)
    for e, event in enumerate(process.events):
        if history.started[e] is not None:
            values, prob = remaining_durations(event, j0 - history.started[e], J - j0)
            w = rng.random(n)
            remaining[:, e] = values[np.minimum(np.searchsorted(np.cumsum(prob), w, side="right"), len(values) - 1)]
    for j in range(j0 + 1, J):
        remaining = np.maximum(remaining - 1, 0)
        for e, event in enumerate(process.events):
            u, v = rng.random(n), rng.random(n)
            if first[e] is None or j < first[e]:
                continue
            d, p = durations[e]
            drawn = d[np.minimum(np.searchsorted(np.cumsum(p), v, side="right"), len(d) - 1)]
            start = (remaining[:, e] == 0) & (event.repeat | ~happened[:, e]) & (u < q[e])
            remaining[start, e] = np.minimum(drawn[start], J - j)
            happened[start, e] = True
            starts[start, j] |= 1 << e
        codes[:, j] = (remaining > 0).astype(np.int64) @ (1 << np.arange(E, dtype=np.int64))
    return SampledPaths(codes, starts)


def sample_outcomes(process: Disruptions, stages: Stages, classes: StageClasses, history: History | None = None
                    ) -> list[Outcome]:
    """max_scenarios paths drawn by `sample_paths` with the process's seed, each of probability 1/N; paths
    with equal classes in every stage are one scenario, named after its simplest history (fewest
    event-stages in force), then the most frequent, then the first in numeric order."""
    N = process.max_scenarios
    codes = sample_paths(process, stages, N, process.seed, history).codes
    histories, counts = np.unique(codes, axis=0, return_counts=True)
    groups: dict[tuple[int, ...], list[Any]] = {}
    for row, count in zip(histories.tolist(), counts.tolist()):
        key = tuple(classes(j, code) for j, code in enumerate(row))
        rank = (-sum(code.bit_count() for code in row), count)  # simplest, then most frequent
        entry = groups.get(key)
        if entry is None:
            groups[key] = [count, rank, tuple(row)]
        else:
            entry[0] += count
            if rank > entry[1]:
                entry[1], entry[2] = rank, tuple(row)
    return [Outcome(key, count / N, row) for key, (count, _, row) in groups.items()]


# --- naming and assembly -------------------------------------------------------------------------


def runs(codes: tuple[int, ...], n_events: int) -> list[tuple[int, int, int]]:
    """The runs of a history (codes per stage): (first stage, event, stages in force) of every stretch in
    which an event is in force, ordered by first stage then listed order."""
    out = []
    for e in range(n_events):
        j = 0
        while j < len(codes):
            if codes[j] >> e & 1:
                end = j
                while end < len(codes) and codes[end] >> e & 1:
                    end += 1
                out.append((j, e, end - j))
                j = end
            else:
                j += 1
    return sorted(out)


class Runs:
    """What a run becomes (its Occurrence, its part of a name, its rules), made once per run: many
    scenarios share a run, and the LP's rule resolution works per rule object."""

    def __init__(self, events: tuple[Event, ...], stages: Stages):
        self.events, self.stages = events, stages
        self._made: dict[tuple[int, int, int], tuple[Occurrence, str, list[Rule]]] = {}

    def __call__(self, run: tuple[int, int, int]) -> tuple[Occurrence, str, list[Rule]]:
        made = self._made.get(run)
        if made is None:
            made = self._made[run] = self._make(*run)
        return made

    def _make(self, j: int, e: int, length: int) -> tuple[Occurrence, str, list[Rule]]:
        """Effects in force from the run's first month until the first month after it (None: the
        horizon's end); a rule's name is its own, else the event's."""
        event, st = self.events[e], self.stages
        end = j + length
        occ = Occurrence(event.name, j, length, month_label(st.first_month(j)),
                         month_label(st.first_month(end)) if end < st.count else None)
        rules = [Rule.model_construct(**{**{name: getattr(effect, name) for name in effect.model_fields_set},
                                         "name": effect.name or event.name, "from_": occ.start, "until": occ.until})
                 for effect in event.effects]
        return occ, f"{event.name}@{st.label(j)}x{length}", rules


def scenario_name(tokens: list[str]) -> str:
    """`calm`, or `event@<stage>x<stages>` per run joined by `+` (`cn-ban@2028x2+cu-quota@2030x1`).
    A name longer than a scenario file allows keeps its first characters and a hash of the whole."""
    if not tokens:
        return "calm"
    name = "+".join(tokens)
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[:MAX_NAME - 13]}~{digest}"
    return name


def normalised(probabilities: list[float]) -> list[float]:
    """Probabilities that sum to 1 as a scenario file must: each divided by their exactly rounded sum.

    Merging paths adds thousands of products of stage probabilities, and their floating-point sum
    drifts from 1 by a few ulps: a tree of one scenario (every path merged) would be written with
    `probability: 1.0000000000000002`, which validation refuses (<= 1). With S = fsum(p), the sum
    rounded once, p_k <= S (rounding is monotone and p_k is one of the terms), so p_k / S <= 1; the
    results sum to 1 within K * 2**-53 (one rounding per division), and a single scenario gets
    exactly 1.0."""
    total = math.fsum(probabilities)
    return [p / total for p in probabilities]


def path_scenario(made: Runs, codes: tuple[int, ...], probability: float, nodes: tuple[int, ...] = ()
                  ) -> TreeScenario:
    """The scenario of one history (codes per stage): named after its runs, their effects as rules with
    the stages' months as windows."""
    parts = [made(run) for run in runs(codes, len(made.events))]
    name = scenario_name([token for _, token, _ in parts])
    rules = [rule for _, _, made_rules in parts for rule in made_rules]
    case = Case.model_construct(name=name, probability=probability, **({"events": rules} if rules else {}))
    return TreeScenario(name, probability, tuple(occ for occ, _, _ in parts), nodes, case)


def _assemble(sc: Scenario, stages: Stages, classes: StageClasses, outcomes: list[Outcome],
              method: Literal["exact", "sampled"]) -> DisruptionTree:
    """Order the scenarios depth first (likelier branches first), number the stage tree, name the scenarios
    and write their events as rules with the stages' months as windows. Scenario probabilities are
    `normalised`; a node's probability is the exactly rounded sum of its scenarios' (at most 1)."""
    process = sc.disruptions
    events = tuple(process.events)
    probability = normalised([o.probability for o in outcomes])
    prefix_of: dict[tuple[int, int], int] = {}  # (parent prefix, class) -> prefix: a node of the stage tree
    members: list[list[float]] = []  # prefix -> probabilities of the scenarios through it
    paths = []
    for o, p in zip(outcomes, probability):
        path, parent = [], -1
        for cls in o.classes:
            prefix = prefix_of.get((parent, cls))
            if prefix is None:
                prefix = prefix_of[(parent, cls)] = len(members)
                members.append([])
            members[prefix].append(p)
            path.append(prefix)
            parent = prefix
        paths.append(path)
    # the root's sum of K normalised shares may round to a hair above 1
    prefix_prob = [min(math.fsum(ps), 1.0) for ps in members]
    order = sorted(range(len(outcomes)), key=lambda i: [(-prefix_prob[prefix], cls) for prefix, cls
                                                        in zip(paths[i], outcomes[i].classes)])
    node_of: dict[int, int] = {}  # prefix -> node, numbered depth first
    node_stage: list[int] = []
    node_parent: list[int] = []
    node_probability: list[float] = []
    made = Runs(events, stages)
    scenarios = []
    for i in order:
        o = outcomes[i]
        for j, prefix in enumerate(paths[i]):
            if prefix not in node_of:
                node_of[prefix] = len(node_stage)
                node_stage.append(j)
                node_parent.append(node_of[paths[i][j - 1]] if j else -1)
                node_probability.append(prefix_prob[prefix])
        scenarios.append(path_scenario(made, o.codes, probability[i], tuple(node_of[prefix] for prefix in paths[i])))
    return DisruptionTree(stages, events, tuple(stage_probability(e, stages) for e in events), method,
                          process.max_scenarios, process.seed, tuple(scenarios), tuple(node_stage),
                          tuple(node_parent), tuple(node_probability))


# --- `optimize tree`: the tree in words, and the equivalent scenario file -------------------------


def _share(p: float) -> str:
    return f"{p:.4g}"


def _duration_words(event: Event) -> str:
    if isinstance(event.duration, int):
        return f"lasts {event.duration}"
    return "lasts " + ", ".join(f"{d} ({_share(p)})" for d, p in event.durations.items())


def render_tree(tree: DisruptionTree, file: str) -> str:
    """The tree as `optimize tree` prints it: events, scenarios (numbered in tree order) with their events'
    first and last months, and per stage the groups of scenarios the plan can tell apart by its end."""
    st = tree.stages
    unit = "yearly" if st.unit == "year" else "quarterly"
    K = len(tree.scenarios)
    how = (f"all paths, {K} scenario{'s' if K != 1 else ''} (exact)" if tree.method == "exact" else
           f"{tree.max_scenarios} paths sampled with seed {tree.seed}, {K} distinct scenarios "
           f"(more than max_scenarios {tree.max_scenarios} exist)")
    lines = [f"{file}: {len(tree.events)} event{'s' if len(tree.events) != 1 else ''}, {st.count} {unit} stages "
             f"from {month_label(st.start)}; {how}", "", "events (q: chance to start at a stage start):"]
    width = max(len(e.name) for e in tree.events)
    for event, q in zip(tree.events, tree.stage_probability):
        first = st.first_start(event)
        when = f"from {month_label(st.first_month(first))}" if first is not None else "never"
        lines.append(f"  {event.name:<{width}}  {_share(event.annual_probability)} a year, q {_share(q)}; "
                     f"{_duration_words(event)} {st.unit}(s); starts {when}; "
                     f"{'may repeat' if event.repeat else 'at most once'}")
    number_width = len(str(K))
    name_width = min(max(len(s.name) for s in tree.scenarios), 60)
    lines += ["", f"  {'#':>{number_width}}  {'scenario':<{name_width}}  {'probability':>11}  events (from -> until)"]
    for k, s in enumerate(tree.scenarios, start=1):
        events = ", ".join(f"{o.event} {o.start} -> {o.until or 'end'}" for o in s.occurrences) or "-"
        lines.append(f"  {k:>{number_width}}  {s.name:<{name_width}}  {_share(s.probability):>11}  {events}")
    lines += ["", "branching (scenario numbers; | separates the groups the plan can tell apart by the stage's end):"]
    members = tree.node_members()
    number = {s.name: k for k, s in enumerate(tree.scenarios, start=1)}
    for j in range(st.count):
        groups = [members[n] for n in range(len(tree.node_stage)) if tree.node_stage[n] == j]
        ranges = [_range(number[g[0]], number[g[-1]]) for g in groups]
        shown = " | ".join(ranges)
        if len(shown) > 80:
            shown = shown[:shown.rfind(" | ", 0, 80)] + " | ..."
        lines.append(f"  {st.label(j):<7}  {len(groups):>5} group{'s' if len(groups) != 1 else ' '}  {shown}")
    return "\n".join(lines) + "\n"


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def expanded(sc: Scenario, tree: DisruptionTree | None = None) -> Scenario:
    """The same scenario with the generated `scenarios:` list instead of its `disruptions` section."""
    return sc.model_copy(update={"scenarios": (tree or generate(sc)).cases, "disruptions": None})


def scenarios_yaml(text: str | None, file: str, sc: Scenario, tree: DisruptionTree) -> str:
    """The scenario file with its `disruptions` section replaced by the `scenarios:` list it generates,
    every other line (comments included) as written. A file whose top level is not a block mapping
    (flow style, JSON) or that is not YAML (`text` None: a workbook) is written out whole from the
    validated scenario instead, as `optimize convert` writes scenarios."""
    from optimizer.convert import scenario_yaml
    from optimizer.fields import document
    from optimizer.loader import parse_yaml_text

    K = len(tree.scenarios)
    how = (f"every path, merged into {K} scenarios" if tree.method == "exact" else
           f"{tree.max_scenarios} paths sampled with seed {tree.seed}, merged into {K} scenarios")
    header = (f"Generated by `optimize tree --write-scenarios` from the `disruptions` section of {Path(file).name}\n"
              f"({how}). Solving this file gives the same plan as solving that section.")
    doc = document(expanded(sc, tree))
    where = None
    if text is not None:
        _, smap = parse_yaml_text(text, file)
        smap.locate(("disruptions",))  # positions of every key, from the round-trip parser
        where = smap.positions.get(("disruptions",))
    if where is None or where[1] != 1:
        return scenario_yaml(doc, header)
    top = sorted(pos for path, pos in smap.positions.items() if len(path) == 1)
    lines = text.splitlines(keepends=True)
    begin = where[0] - 1
    later = [line - 1 for line, _ in top if line > where[0]]
    end = later[0] if later else len(lines)
    while end > begin + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    before = "".join(lines[:begin])
    if before and not before.endswith("\n"):
        before += "\n"
    return before + scenario_yaml({"scenarios": doc["scenarios"]}, header) + "".join(lines[end:])


def tree_command(path: Path, write_to: Path | None = None, as_json: bool = False) -> str:
    """`optimize tree SCENARIO.yaml [--write-scenarios FILE] [--json]`: what to print (the tree, or
    tree.json); with `write_to`, the equivalent scenario file is written there first (atomically)."""
    from optimizer.convert import write_atomically
    from optimizer.export import json_bytes
    from optimizer.loader import WORKBOOK_SUFFIXES
    from optimizer.pipeline import load_scenario

    sc = load_scenario(path)
    if sc.disruptions is None:
        raise ScenarioError([Problem(("disruptions",), "no `disruptions` section: this scenario's scenarios are "
                                                       "the ones it lists")], file=str(path))
    tree = generate(sc)
    if write_to is not None:
        if write_to.exists() and write_to.resolve() == Path(path).resolve():
            raise UsageError(f"--write-scenarios {write_to} is the scenario file itself: write the scenarios to "
                             "another file")
        text = None if Path(path).suffix.lower() in WORKBOOK_SUFFIXES else Path(path).read_text(encoding="utf-8")
        write_atomically(write_to, scenarios_yaml(text, str(path), sc, tree).encode())
    if as_json:
        return json_bytes(tree.to_json()).decode()
    written = f"\nscenarios written to {write_to}\n" if write_to is not None else ""
    return render_tree(tree, str(path)) + written
