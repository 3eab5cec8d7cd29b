"""Disruption processes (SPEC 8): hand-worked trees, merging, sampling, names, validation, the
stochastic program on the generated tree, `optimize tree` and `--write-scenarios`."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import scenario
from test_validation import problems_of
from optimizer.checks import validate
from optimizer.data import RULE_PARAMETERS, build_data, rule_signature
from optimizer.disruptions import (
    History,
    StageClasses,
    Stages,
    expanded,
    generate,
    generate_from,
    likeliest_continuation,
    remaining_durations,
    sample_paths,
    render_tree,
    sample_outcomes,
    scenarios_yaml,
    tree_command,
)
from optimizer.errors import ScenarioError
from optimizer.loader import parse_yaml_text
from optimizer.pipeline import solve

CN_US = [
    {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10},
    {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 20},
]
BAN_CN = [{"type": "ban", "where": {"region": "china"}}]


def process(events: list[dict], years: int = 3, **fields) -> dict:
    """A yearly scenario from 2026-01 with `years` periods, a cheap Chinese and a dear US source."""
    return scenario(horizon={"start": "2026-01", "periods": years, "period": "year"}, sources=CN_US,
                    disruptions={"events": events, **fields})


def event(name: str = "ban", p: float = 0.2, duration=1, effects=None, **fields) -> dict:
    return {"name": name, "annual_probability": p, "duration": duration, "effects": effects or BAN_CN, **fields}


def tree_of(raw: dict) -> dict[str, float]:
    """{scenario name: probability} of the generated tree, in tree order."""
    return {s.name: s.probability for s in generate(validate(raw)).scenarios}


def approx(expected: dict[str, float]):
    return pytest.approx(expected, rel=1e-12, abs=1e-15)


# --- hand-worked trees ------------------------------------------------------------------------


def test_one_event_two_branching_stages_fixed_duration():
    """Years 2026-2028: stages 0, 1, 2; the ban may start at stage 1 (2027) or 2 (2028), q = 0.2, one year.

    Paths: starts 2027 (0.2; it cannot start again: it has happened); no start 2027, starts 2028
    (0.8 * 0.2 = 0.16); never (0.8 * 0.8 = 0.64). Ordered depth first, likelier branch first.
    """
    tree = generate(validate(process([event()])))
    assert {s.name: s.probability for s in tree.scenarios} == approx(
        {"calm": 0.64, "ban@2028x1": 0.16, "ban@2027x1": 0.2})
    assert [s.name for s in tree.scenarios] == ["calm", "ban@2028x1", "ban@2027x1"]
    assert tree.method == "exact"
    ban27 = tree.scenarios[2]
    assert [(r.type, r.from_, r.until, r.name) for r in ban27.case.events] == [("ban", "2027-01", "2028-01", "ban")]
    assert [(r.from_, r.until) for r in tree.scenarios[1].case.events] == [("2028-01", None)]
    # stage tree: root; 2027 splits {calm, ban@2028} from {ban@2027}; 2028 splits calm from ban@2028
    assert [s.nodes for s in tree.scenarios] == [(0, 1, 2), (0, 1, 3), (0, 4, 5)]
    assert tree.node_probability == pytest.approx((1.0, 0.8, 0.64, 0.16, 0.2, 0.2))


def test_a_duration_distribution_and_durations_cut_at_the_horizon():
    """Four years (stages 2027, 2028, 2029 can start it), q = 0.5, lasting 1 (0.6) or 2 (0.4) years.

    starts 2027: x1 0.5*0.6 = 0.3, x2 0.5*0.4 = 0.2; starts 2028 (0.5*0.5): x1 0.15, x2 0.10 (to the
    end); starts 2029 (0.125): one year or two, both cut at the horizon's end to 1 year: one scenario
    of 0.125; calm 0.125. Sum 1.
    """
    got = tree_of(process([event(p=0.5, duration={1: 0.6, 2: 0.4})], years=4))
    assert got == approx({"calm": 0.125, "ban@2029x1": 0.125, "ban@2028x1": 0.15, "ban@2028x2": 0.1,
                          "ban@2027x1": 0.3, "ban@2027x2": 0.2})


def test_earliest_moves_the_first_start_to_the_next_stage_start():
    """earliest 2028-04 is inside the 2028 stage: the first stage that starts on or after it is 2029.
    Four years: only stage 2029 can start it: ban@2029x1 0.5, calm 0.5."""
    got = tree_of(process([event(p=0.5, earliest="2028-04")], years=4))
    assert got == approx({"calm": 0.5, "ban@2029x1": 0.5})


def test_quarter_stages_scale_the_annual_probability_and_are_named_by_quarter():
    """Quarter stages of a quarterly horizon 2026Q1-2026Q3: q = 1 - (1 - 0.9375) ** (3/12) = 0.5.
    Q2 start (0.5, one quarter); Q3 start (0.25); calm 0.25."""
    raw = scenario(horizon={"start": "2026-01", "periods": 3, "period": "quarter"}, sources=CN_US,
                   disruptions={"stage": "quarter", "events": [event(p=0.9375)]})
    tree = generate(validate(raw))
    assert tree.stage_probability == pytest.approx((0.5,))
    assert {s.name: s.probability for s in tree.scenarios} == approx(
        {"calm": 0.25, "ban@2026Q3x1": 0.25, "ban@2026Q2x1": 0.5})


def test_stages_not_at_a_calendar_boundary_are_named_by_month():
    """Years from 2026-07: stage 1 starts 2027-07, so names use the month (a calendar year would mislead)."""
    raw = process([event()], years=2)
    raw["horizon"]["start"] = "2026-07"
    assert tree_of(raw) == approx({"calm": 0.8, "ban@2027-07x1": 0.2})


def test_repeat_lets_an_event_start_again_once_it_has_ended():
    """The first tree with `repeat: true`: four paths. Starts 2027 and again 2028 (0.2 * 0.2 = 0.04): in
    force 2027-2028, the same parameters as one two-year ban, so it is named `ban@2027x2`; starts 2027
    only (0.2 * 0.8 = 0.16); starts 2028 only (0.16); never (0.64)."""
    got = tree_of(process([event(repeat=True)]))
    assert got == approx({"calm": 0.64, "ban@2028x1": 0.16, "ban@2027x1": 0.16, "ban@2027x2": 0.04})


def test_repeat_never_restarts_an_event_still_in_force():
    """Two-year ban, q = 0.5, repeat, four years: started 2027 it is in force through 2028, so it cannot
    start in 2028; it may start again in 2029 (touching: in force 2027-2029, `x3`).
    starts 2027 (0.5): again 2029 -> x3 0.25, not -> x2 0.25; starts 2028 (0.25): x2 to the end;
    starts 2029 (0.125): cut to x1; calm 0.125."""
    got = tree_of(process([event(p=0.5, duration=2, repeat=True)], years=4))
    assert got == approx({"calm": 0.125, "ban@2029x1": 0.125, "ban@2028x2": 0.25, "ban@2027x2": 0.25,
                          "ban@2027x3": 0.25})


def test_two_independent_events():
    """Two years, one branching stage (2027): a (q 0.2) and b (q 0.5) start independently.
    none 0.8*0.5 = 0.4, b only 0.4, a only 0.2*0.5 = 0.1, both 0.1; names list events in listed order."""
    b_effects = [{"type": "price", "where": {"source": "us"}, "multiplier": 2.0}]
    got = tree_of(process([event("a", 0.2), event("b", 0.5, effects=b_effects)], years=2))
    assert got == approx({"calm": 0.4, "b@2027x1": 0.4, "a@2027x1": 0.1, "a@2027x1+b@2027x1": 0.1})


def test_paths_with_equal_parameters_are_one_scenario_named_after_the_likeliest():
    """a (q 0.2) and b (q 0.5) ban the same sources; c multiplies a price by 1 (no parameter changes).
    Two years: calm 0.8*0.5 = 0.4 (c changes nothing, so c's paths are calm too); a, b or both all
    ban China in 2027: one scenario of 0.6, named after its likeliest history, b alone (0.4)."""
    noop = [{"type": "price", "where": {"source": "us"}, "multiplier": 1.0}]
    got = tree_of(process([event("a", 0.2), event("b", 0.5), event("c", 0.7, effects=noop)], years=2))
    assert got == approx({"calm": 0.4, "b@2027x1": 0.6})


def test_an_event_already_in_force_by_policy_changes_nothing():
    """A policy bans China from 2028: a ban starting 2028 changes no parameter, so it is calm (0.64 +
    0.16 = 0.8); a ban starting 2027 is a real difference in 2027."""
    raw = process([event()])
    raw["policies"] = [{"type": "ban", "where": {"region": "china"}, "from": "2028-01"}]
    assert tree_of(raw) == approx({"calm": 0.8, "ban@2027x1": 0.2})


def test_the_plan_cannot_know_how_long_a_ban_lasts():
    """Ban certain from 2027 (q = 1), lasting 1 or 2 years with equal odds; demand 10 a year; China 10,
    US 30; stock costs 6 per unit and year.

    2027 is identical in both scenarios, so the 2027 decisions are shared. Hand optimum: in 2026 buy
    20 from China (10 to use, 10 held: 10 + 6 = 16 < 30 for 2027); holding 10 more for 2028 would cost
    10 + 12 = 22 against an expected 0.5*10 + 0.5*30 = 20: no; buying from the US in 2027 for 2028 costs
    36 > 20: no. 2028: China 10 if the ban ended (x1), US 10 if not (x2).
    C(x1) = 200 + 60 + 100 = 360, C(x2) = 200 + 60 + 300 = 560; objective 0.5*360 + 0.5*560 = 460.
    """
    raw = process([event(p=1.0, duration={1: 0.5, 2: 0.5}, earliest="2027-01")])
    raw["materials"][0]["stockpile"] = {"holding_cost": 6}
    raw["sources"][1]["price"] = 30
    solution = solve(raw)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(460.0)
    buys = {(r.scenario, r.period, r.source): r.quantity for r in solution.purchases.itertuples()}
    assert buys == pytest.approx({
        ("ban@2027x1", "2026-01", "cn"): 20, ("ban@2027x1", "2028-01", "cn"): 10,
        ("ban@2027x2", "2026-01", "cn"): 20, ("ban@2027x2", "2028-01", "us"): 10,
    })


def test_hand_worked_stochastic_program_on_the_generated_tree():
    """The first tree (calm 0.64, ban 2028 0.16, ban 2027 0.2), demand 10 a year, no stock: each year
    buys China (10 a unit) unless banned, then the US (20). Costs 300, 400, 400; objective
    0.64*300 + 0.36*400 = 336."""
    solution = solve(process([event()]))
    assert solution.objective == pytest.approx(336.0)
    assert solution.summary["scenarios"]["ban@2027x1"]["cost"] == pytest.approx(400.0)
    us = solution.purchases.query("source == 'us'")
    assert sorted(zip(us.scenario, us.period)) == [("ban@2027x1", "2027-01"), ("ban@2028x1", "2028-01")]


# --- exact or sampled ----------------------------------------------------------------------------


def test_max_scenarios_switches_to_sampling_only_beyond_the_exact_count():
    """The duration tree has 6 scenarios: max 6 enumerates them, max 5 samples 5 paths (each 1/5)."""
    raw = process([event(p=0.5, duration={1: 0.6, 2: 0.4})], years=4, max_scenarios=6)
    assert generate(validate(raw)).method == "exact"
    raw["disruptions"]["max_scenarios"] = 5
    tree = generate(validate(raw))
    assert tree.method == "sampled" and len(tree.scenarios) <= 5
    assert all(math.isclose(s.probability * 5, round(s.probability * 5)) for s in tree.scenarios)
    assert sum(s.probability for s in tree.scenarios) == pytest.approx(1.0)


def test_enumeration_stops_early_on_a_huge_process():
    """Eight repeatable events over 40 quarterly stages have far more than 10**12 paths: the dynamic
    program gives up at the first stage with more than 50 distinct prefixes and samples instead."""
    sources = [{"id": f"s{i}", "material": "dy", "region": "other", "country": "CD", "price": 10 + i}
               for i in range(8)]
    events = [event(f"e{i}", 0.3, {1: 0.5, 2: 0.5}, [{"type": "ban", "where": {"source": f"s{i}"}}], repeat=True)
              for i in range(8)]
    raw = scenario(horizon={"start": "2026-01", "periods": 40, "period": "quarter"}, sources=sources,
                   disruptions={"stage": "quarter", "max_scenarios": 50, "seed": 3, "events": events})
    tree = generate(validate(raw))
    assert tree.method == "sampled" and 1 < len(tree.scenarios) <= 50


# --- properties ---------------------------------------------------------------------------------


@st.composite
def processes(draw) -> dict:
    """Small random processes: 1-3 events on their own sources (so no two events have equal effects),
    2-5 yearly or quarterly stages (fewer with more events), random probabilities, durations (1-3
    stages), earliest and repeat."""
    n_events = draw(st.integers(1, 3))
    quarterly = draw(st.booleans())
    stages = draw(st.integers(2, 6 - n_events))  # at most 4,096 paths for the brute force
    sources = [{"id": f"s{i}", "material": "dy", "region": "other", "country": "CD", "price": 10 + i}
               for i in range(n_events)]
    events = []
    for i in range(n_events):
        durations = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True))
        weights = [draw(st.integers(1, 4)) for _ in durations]
        duration = ({d: w / sum(weights) for d, w in zip(durations, weights)} if len(durations) > 1
                    else durations[0])
        fields = {"repeat": draw(st.booleans())}
        if draw(st.booleans()):
            first = draw(st.integers(0, stages - 1)) * (3 if quarterly else 12)
            fields["earliest"] = f"{2026 + first // 12}-{first % 12 + 1:02d}"
        effects = [{"type": draw(st.sampled_from(["ban", "capacity"])), "where": {"source": f"s{i}"}}]
        if effects[0]["type"] == "capacity":
            effects[0]["multiplier"] = 0.5
        events.append(event(f"e{i}", draw(st.sampled_from([0.1, 0.3, 0.5, 0.9, 1.0])), duration, effects, **fields))
    period = "quarter" if quarterly else "year"
    return scenario(horizon={"start": "2026-01", "periods": stages, "period": period}, sources=sources,
                    materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 100}],
                    disruptions={"stage": period, "max_scenarios": 100_000, "events": events})


Path = tuple[float, list[tuple[int, int, int]]]  # (probability, [(event, first stage, stage after its end)])


def every_path(raw: dict) -> list[Path]:
    """Every path of the process by plain recursion over stages and events, with its probability."""
    sc = validate(raw)
    stages = Stages.of(sc)
    events = sc.disruptions.events
    q = [1 - (1 - e.annual_probability) ** (stages.length / 12) for e in events]
    paths: list[Path] = []

    def walk(j: int, until: list[int], happened: list[bool], prob: float, spans: list) -> None:
        if j == stages.count:
            paths.append((prob, spans))
            return
        options = []
        for e, ev in enumerate(events):
            month = stages.first_month(j)
            free = until[e] <= j and (ev.repeat or not happened[e])
            allowed = ev.earliest is None or month >= int(ev.earliest[:4]) * 12 + int(ev.earliest[5:]) - 1
            if j >= 1 and free and allowed:
                options.append([(None, 1 - q[e])] + [(d, q[e] * p) for d, p in ev.durations.items()])
            else:
                options.append([(None, 1.0)])
        for combo in itertools.product(*options):
            p = math.prod(w for _, w in combo)
            if p == 0:
                continue
            new_until, new_happened, new_spans = list(until), list(happened), list(spans)
            for e, (d, _) in enumerate(combo):
                if d is not None:
                    new_until[e], new_happened[e] = j + d, True
                    new_spans.append((e, j, j + d))
            walk(j + 1, new_until, new_happened, prob * p, new_spans)

    walk(0, [0] * len(events), [False] * len(events), 1.0, [])
    return paths


def by_parameters(raw: dict, paths: list[Path]) -> dict[bytes, float]:
    """Paths grouped by the parameters `data.build_data` resolves for them, probabilities renormalised
    to sum to 1: {parameters: probability}."""
    stages = Stages.of(validate(raw))
    month = lambda j: f"{(stages.first_month(j)) // 12}-{stages.first_month(j) % 12 + 1:02d}"  # noqa: E731
    cases = [{"name": f"p{i}", "probability": prob,
              "events": [{**eff, "from": month(a), **({"until": month(b)} if b < stages.count else {})}
                         for e, a, b in spans for eff in raw["disruptions"]["events"][e]["effects"]]}
             for i, (prob, spans) in enumerate(paths)]
    total = sum(c["probability"] for c in cases)
    plain = {k: v for k, v in raw.items() if k != "disruptions"}
    data = build_data(validate({**plain, "scenarios": [{**c, "probability": c["probability"] / total}
                                                        for c in cases]}))
    signature = rule_signature({name: getattr(data, name) for name in RULE_PARAMETERS})
    out: dict[bytes, float] = {}
    for k, (prob, _) in enumerate(paths):
        key = signature[:, :, k].tobytes()
        out[key] = out.get(key, 0.0) + prob / total
    return out


def brute_force(raw: dict) -> dict[bytes, float]:
    """Every path of the process, grouped by parameters: {parameters: probability}."""
    return by_parameters(raw, every_path(raw))


def generated(raw: dict, history: History | None = None) -> dict[bytes, float]:
    """The generated scenarios (from `history`, default the beginning) grouped the same way:
    {parameters: probability}."""
    sc = validate(raw)
    if history is not None:
        sc = expanded(sc, generate_from(sc, history))
    data = build_data(sc)
    signature = rule_signature({name: getattr(data, name) for name in RULE_PARAMETERS})
    out = {signature[:, :, k].tobytes(): p for k, p in enumerate(data.prob)}
    assert len(out) == len(data.prob)  # no two scenarios alike
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(processes())
def test_enumeration_equals_every_path_merged_by_parameters(raw):
    """Exact enumeration gives exactly the distinct parameter sets of all paths, with the summed path
    probabilities; probabilities sum to 1; every scenario is distinct."""
    expected, got = brute_force(raw), generated(raw)
    assert set(got) == set(expected)
    for key, p in expected.items():
        assert got[key] == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(processes())
def test_sampling_agrees_with_enumeration_on_event_frequencies(raw):
    """With 40,000 sampled paths, the chance that each event is in force in each stage is that of the
    exact tree within 0.02 (five standard errors at most 0.0025 each)."""
    sc = validate(raw)
    stages = Stages.of(sc)
    exact = generate(sc)
    sampled_process = sc.disruptions.model_copy(update={"max_scenarios": 40_000, "seed": 11})
    outcomes = sample_outcomes(sampled_process, stages, StageClasses(sc, stages))
    E = len(sc.disruptions.events)
    freq_exact = np.zeros((stages.count, E))
    for s in exact.scenarios:
        for o in s.occurrences:
            e = [ev.name for ev in exact.events].index(o.event)
            freq_exact[o.first_stage:o.first_stage + o.stages, e] += s.probability
    freq_sampled = np.zeros((stages.count, E))
    for o in outcomes:
        bits = (np.array(o.codes)[:, None] >> np.arange(E)) & 1
        freq_sampled += o.probability * bits
    assert np.abs(freq_exact - freq_sampled).max() < 0.02


# --- trees from a history: the re-plans of `optimize simulate` (SPEC 9) ------------------------------


def test_a_ban_in_force_lasts_the_rest_of_its_duration():
    """Four years, the ban (1 year 0.5, 2 years 0.3, 3 years 0.2) started in 2027 (stage 1).

    Re-planned in 2027, when it has lasted no stage before this one: it ends after 2027 (0.5), 2028 (0.3)
    or runs to the horizon's end (0.2); it cannot start again. Re-planned in 2028 with the ban still in
    force, it has lasted one stage, so d > 1: two years with 0.3 / 0.5 = 0.6, three with 0.4.
    Re-planned in 2028 with nothing yet: it may start in 2029 (q = 0.5), any duration cut to one year.
    """
    sc = validate(process([event(p=0.5, duration={1: 0.5, 2: 0.3, 3: 0.2})], years=4))
    tree = lambda history: {s.name: s.probability for s in generate_from(sc, history).scenarios}  # noqa: E731
    assert tree(History(codes=(0, 1), started=(1,), happened=1)) == approx(
        {"ban@2027x1": 0.5, "ban@2027x2": 0.3, "ban@2027x3": 0.2})
    assert tree(History((0, 1, 1), (1,), 1)) == approx({"ban@2027x2": 0.6, "ban@2027x3": 0.4})
    assert tree(History((0, 0, 0), (None,), 0)) == approx({"calm": 0.5, "ban@2029x1": 0.5})
    assert tree(History.beginning(1)) == tree_of(process([event(p=0.5, duration={1: 0.5, 2: 0.3, 3: 0.2})],
                                                         years=4))


def test_history_of_a_path_and_remaining_durations():
    """A repeat event in force 2027-2029 that started again in 2029 (its first run lasted two years): in
    2029 its run in force started in 2029; it has happened since 2027. A run that cannot have lasted
    as long as the history says is an error."""
    history = History.of_path((0, 1, 1, 1), (0, 1, 0, 1), stage=3, n_events=1)
    assert history == History((0, 1, 1, 1), (3,), 1)
    assert History.of_path((0, 1, 1, 0), (0, 1, 0, 0), stage=3, n_events=1) == History((0, 1, 1, 0), (None,), 1)
    ev = validate(process([event(duration={1: 0.5, 3: 0.5})])).disruptions.events[0]
    values, prob = remaining_durations(ev, elapsed=1, left=5)
    assert values.tolist() == [2] and prob.tolist() == [1.0]
    values, prob = remaining_durations(ev, elapsed=0, left=2)  # 3 is cut to the 2 stages left
    assert values.tolist() == [1, 2] and prob == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="cannot have lasted more than 3 stages"):
        remaining_durations(ev, elapsed=3, left=5)


def test_likeliest_continuation_keeps_events_in_force_their_likeliest_rest_and_starts_none():
    """Five years, a ban of 1 (0.2), 2 (0.5) or 3 (0.3) years started 2027: re-planned in 2027 it lasts
    two years (2027, 2028); in 2028, d > 1 gives 2 (0.625) or 3 (0.375): it ends after 2028. With
    1 and 2 years equally likely, the shorter. Nothing else starts."""
    sc = validate(process([event(p=0.9, duration={1: 0.2, 2: 0.5, 3: 0.3})], years=5))
    st_, proc = Stages.of(sc), sc.disruptions
    assert likeliest_continuation(proc, st_, History((0, 1), (1,), 1)) == (0, 1, 1, 0, 0)
    assert likeliest_continuation(proc, st_, History((0, 1, 1), (1,), 1)) == (0, 1, 1, 0, 0)
    assert likeliest_continuation(proc, st_, History((0, 0), (None,), 0)) == (0, 0, 0, 0, 0)
    tied = validate(process([event(duration={1: 0.5, 2: 0.5})], years=5)).disruptions
    assert likeliest_continuation(tied, st_, History((0, 1), (1,), 1)) == (0, 1, 0, 0, 0)


def test_paths_sampled_from_a_history_follow_it():
    """The ban (1 or 3 years) in force since 2027, sampled from 2028: it has lasted a year, so it lasts
    three (2027-2029) on every path and never starts again; the history's stages are kept."""
    sc = validate(process([event(p=0.9, duration={1: 0.5, 3: 0.5})], years=5))
    paths = sample_paths(sc.disruptions, Stages.of(sc), 50, seed=3, history=History((0, 1, 1), (1,), 1))
    assert (paths.codes == np.array([0, 1, 1, 1, 0])).all()
    assert (paths.starts == 0).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(processes(), st.data())
def test_a_tree_from_a_history_is_the_tree_of_the_paths_that_share_it(raw, data):
    """Generating from the history of a random path at a random stage gives exactly the distinct
    parameter sets of every path with the same events in force and the same starts through that
    stage, with their probabilities renormalised (the conditional tree)."""
    sc = validate(raw)
    J, E = Stages.of(sc).count, len(sc.disruptions.events)
    paths = every_path(raw)

    def masks(spans: list[tuple[int, int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        codes, starts = [0] * J, [0] * J
        for e, first, end in spans:
            starts[first] |= 1 << e
            for j in range(first, min(end, J)):
                codes[j] |= 1 << e
        return tuple(codes), tuple(starts)

    codes, starts = masks(data.draw(st.sampled_from(paths))[1])
    j = data.draw(st.integers(0, J - 1))
    history = History.of_path(codes, starts, j, E)
    same = [path for path in paths
            if all(mask[:j + 1] == ours[:j + 1] for mask, ours in zip(masks(path[1]), (codes, starts)))]
    expected, got = by_parameters(raw, same), generated(raw, history)
    assert set(got) == set(expected)
    for key, p in expected.items():
        assert got[key] == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_same_seed_same_tree_and_another_seed_another():
    """Sampling is reproducible to the byte from the seed alone (fresh Scenario objects each time)."""
    raw = process([event(p=0.5, duration={1: 0.6, 2: 0.4}, repeat=True)], years=6, max_scenarios=8, seed=5)
    first = json.dumps(generate(validate(raw)).to_json())
    assert json.dumps(generate(validate(raw)).to_json()) == first
    assert generate(validate(raw)).method == "sampled"
    written = [scenarios_yaml(json.dumps(raw), "s.yaml", sc, generate(sc)) for sc in (validate(raw), validate(raw))]
    assert written[0] == written[1]
    raw["disruptions"]["seed"] = 6
    assert json.dumps(generate(validate(raw)).to_json()) != first


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(processes())
def test_written_scenarios_solve_to_the_same_plan(raw):
    """The `scenarios:` file written from a process validates and solves to the same objective and the
    same purchases as the process itself."""
    raw["sources"] = [{**s, "capacity": 6} for s in raw["sources"]] + [
        {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 50}]
    raw["materials"][0]["stockpile"] = {"holding_cost": 1}
    sc = validate(raw)
    text = scenarios_yaml(json.dumps(raw), "s.yaml", sc, generate(sc))  # JSON: not a block mapping
    again = validate(*parse_yaml_text(text, "written.yaml"))
    assert again.disruptions is None
    first, second = solve(sc), solve(again)
    assert second.objective == first.objective
    assert second.purchases.equals(first.purchases)


# --- the scenario file and the command -----------------------------------------------------------

FILE = """\
# dysprosium, with a hazard
name: hazard
home_country: US
horizon: {start: 2026-01, periods: 16, period: quarter}
materials:
  - id: dy
    demand: 10
    shortfall_penalty: 1000
    stockpile: {holding_cost: 0.5}   # per tonne and quarter
sources:
  - {id: cn, material: dy, region: china, country: CN, price: 10}
  - {id: us, material: dy, region: domestic, country: US, price: 30, capacity: 8}
disruptions:
  stage: year
  events:
    - name: cn-ban      # an export ban
      annual_probability: 0.15
      duration: {1: 0.5, 2: 0.5}
      effects:
        - {type: ban, where: {region: china}}
        - {type: demand, where: {material: dy}, multiplier: 0.8}

# what we worry about
risk: {aversion: 0.5}
"""


def test_written_file_keeps_every_other_line_and_comment():
    """The `disruptions` block (not the comment introducing the next section) becomes `scenarios:`."""
    raw, smap = parse_yaml_text(FILE, "hazard.yaml")
    sc = validate(raw, smap)
    text = scenarios_yaml(FILE, "hazard.yaml", sc, generate(sc))
    before, after = FILE.split("disruptions:\n")
    assert text.startswith(before)
    assert text.endswith("\n# what we worry about\nrisk: {aversion: 0.5}\n")
    assert "  - name: cn-ban@2027x2\n" in text
    assert "      - {type: ban, name: cn-ban, where: {region: china}, from: 2027-01, until: 2029-01}\n" in text
    again = validate(*parse_yaml_text(text, "written.yaml"))
    assert [c.name for c in again.scenarios] == [s.name for s in generate(sc).scenarios]
    assert [c.probability for c in again.scenarios] == [s.probability for s in generate(sc).scenarios]


def test_tree_command_prints_and_writes(tmp_path):
    """`optimize tree` prints events, scenarios and branching; --write-scenarios writes a valid file
    whose result tables equal the process's, byte for byte."""
    from typer.testing import CliRunner

    from optimizer.cli import app

    path = tmp_path / "hazard.yaml"
    path.write_text(FILE)
    out = tmp_path / "tree.yaml"
    result = CliRunner().invoke(app, ["tree", str(path), "--write-scenarios", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "1 event, 4 yearly stages from 2026-01; all paths, 6 scenarios (exact)" in text
    assert "cn-ban 2027-01 -> 2029-01" in text and "cn-ban@2029x1" in text and "cn-ban 2029-01 -> end" in text
    assert "2026         1 group   1-6" in text
    assert out.exists()
    runs = [CliRunner().invoke(app, [str(p), "--out", str(tmp_path / name), "-q"])
            for p, name in ((path, "a"), (out, "b"))]
    assert [r.exit_code for r in runs] == [0, 0]
    for table in ("purchases.csv", "stockpile.csv", "prices.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
    tree = json.loads((tmp_path / "a" / "tree.json").read_text())
    assert tree["method"] == "exact" and len(tree["scenarios"]) == 6
    assert not (tmp_path / "b" / "tree.json").exists()
    as_json = CliRunner().invoke(app, ["tree", str(path), "--json"])
    assert json.loads(as_json.output) == tree


def test_tree_command_errors(tmp_path):
    """No disruptions section, or writing over the scenario file itself: exit 1 with a message."""
    from typer.testing import CliRunner

    from optimizer.cli import app

    plain = tmp_path / "plain.yaml"
    plain.write_text(FILE.split("disruptions:")[0])
    result = CliRunner().invoke(app, ["tree", str(plain)])
    assert result.exit_code == 1 and "no `disruptions` section" in result.output
    path = tmp_path / "hazard.yaml"
    path.write_text(FILE)
    result = CliRunner().invoke(app, ["tree", str(path), "--write-scenarios", str(path)])
    assert result.exit_code == 1 and "is the scenario file itself" in result.output
    assert path.read_text() == FILE


def test_render_lists_groups_per_stage():
    """Branching: one group per stage-tree node, as ranges of scenario numbers."""
    tree = generate(validate(process([event()])))
    text = render_tree(tree, "s.yaml")
    assert "  2027         2 groups  1-2 | 3" in text
    assert "  2028         3 groups  1 | 2 | 3" in text


def test_tree_command_function_reads_the_file(tmp_path):
    path = tmp_path / "hazard.yaml"
    path.write_text(FILE)
    assert "6 scenarios" in tree_command(path)


# --- validation ------------------------------------------------------------------------------------


def test_every_problem_of_a_disruptions_section_at_once_with_lines():
    """Probabilities, durations, effects with windows, filters, unknown ids: one message each, with line."""
    text = FILE.replace("annual_probability: 0.15", "annual_probability: 1.5").replace(
        "{1: 0.5, 2: 0.5}", "{1: 0.5, 2: 0.4}").replace(
        "{type: ban, where: {region: china}}", "{type: ban, where: {region: allied}, from: 2027-01}").replace(
        "{material: dy}, multiplier: 0.8}", "{material: dx}, multiplier: 0.8}")
    msgs = problems_of(text)
    assert any(m.startswith("s.yaml:17:") and "annual_probability" in m for m in msgs)
    assert any(m.startswith("s.yaml:18:") and "duration" in m and "sum to 0.9" in m for m in msgs)
    assert any(m.startswith("s.yaml:20:") and "effects[0]" in m and "remove `from`" in m for m in msgs)
    # the cross-field checks run as well, on what validated (issue 11, item 15)
    assert any(m.startswith("s.yaml:20:") and "effects[0].where: this ban rule's filter matches no" in m for m in msgs)
    assert any(m.startswith("s.yaml:21:") and "unknown material `dx`" in m for m in msgs)
    assert len(msgs) == 6, msgs


def test_cross_field_problems_of_a_disruptions_section():
    """Filters that match nothing and unknown ids in effects, duplicate event names, and an earliest after
    the last stage start, all reported together with their lines."""
    text = FILE.replace("{region: china}}", "{region: allied}}").replace(
        "{material: dy}, multiplier", "{material: dx}, multiplier").replace(
        "      effects:", "      earliest: 2029-02\n      effects:")
    text = text.replace("\n# what we worry about", """\
    - name: cn-ban
      annual_probability: 0.1
      duration: 1
      effects: [{type: price, where: {source: cn}, multiplier: 2}]
# what we worry about""")
    msgs = problems_of(text)
    assert any(":21:" in m and "effects[0].where" in m and "matches no source or processor" in m for m in msgs)
    assert any(":22:" in m and "effects[1].where.material" in m and "unknown material `dx`" in m for m in msgs)
    assert any(":23:" in m and "events[1].name" in m and "duplicate event name" in m for m in msgs)
    assert any(":19:" in m and "earliest" in m and "could never start" in m for m in msgs)
    assert len(msgs) == 5  # the unknown material also matches nothing


@pytest.mark.parametrize(("change", "expected"), [
    ({"scenarios": [{"name": "base", "probability": 1.0}]}, "cannot be combined with `scenarios`"),
    ({"horizon": {"start": "2026-01", "periods": 3, "period": "year"}, "stage": "quarter"},
     "a quarter stage is shorter than the horizon's periods (year)"),
    ({"horizon": {"start": "2026-01", "periods": 4, "period": "quarter"}},
     "ends within the first year: events start at the second stage at the earliest"),
])
def test_section_level_problems(change, expected):
    raw = process([event()])
    if "stage" in change:
        raw["disruptions"]["stage"] = change.pop("stage")
    raw.update(change)
    with pytest.raises(ScenarioError) as info:
        validate(raw)
    assert any(expected in p.message for p in info.value.problems), info.value.render()


@pytest.mark.parametrize(("duration", "expected"), [
    (0, "whole number of stages from 1"), (1.5, "whole number"), (True, "whole number"),
    ({}, "at least one"), ({"x": 1.0}, "whole number"), ({1: 1.2}, "[0, 1]"), ({1: 0.5}, "sum to 0.5"),
])
def test_bad_durations(duration, expected):
    with pytest.raises(ScenarioError) as info:
        validate(process([event(duration=duration)]))
    assert any(expected in p.message for p in info.value.problems), info.value.render()


def test_validate_counts_the_generated_scenarios(tmp_path):
    from typer.testing import CliRunner

    from optimizer.cli import app

    path = tmp_path / "hazard.yaml"
    path.write_text(FILE)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "6 scenarios" in result.output


def test_schema_describes_the_section():
    from optimizer.spec import Scenario

    schema = json.dumps(Scenario.model_json_schema(by_alias=True))
    assert "annual_probability" in schema and "max_scenarios" in schema


def test_terminal_summary_lists_the_likeliest_and_costliest_of_many_scenarios():
    """A generated tree can have thousands of scenarios: the terminal shows the 10 most probable and the
    5 costliest of the others, in the summary's order; up to 15 scenarios, all of them."""
    from optimizer.summary import _scenarios_shown

    scenarios = {f"s{i:02d}": {"probability": (40 - i) / 820, "cost": float(i % 7)} for i in range(40)}
    shown = _scenarios_shown(scenarios)
    assert shown == [f"s{i:02d}" for i in range(10)] + ["s12", "s13", "s20", "s27", "s34"]
    few = dict(list(scenarios.items())[:15])
    assert _scenarios_shown(few) == list(few)


def test_a_workbook_carries_the_disruptions(tmp_path):
    """`optimize convert` to a workbook and back keeps the process: the same tree, name for name; its
    scenarios are written as a whole YAML file (a workbook has no lines to keep)."""
    from optimizer.convert import convert_file
    from optimizer.loader import read_scenario

    path = tmp_path / "hazard.yaml"
    path.write_text(FILE)
    convert_file(path, out=tmp_path / "hazard.xlsx")
    from_workbook = validate(*read_scenario(tmp_path / "hazard.xlsx"))
    assert from_workbook.disruptions == validate(*parse_yaml_text(FILE)).disruptions
    assert generate(from_workbook).to_json() == generate(validate(*parse_yaml_text(FILE))).to_json()
    written = validate(*parse_yaml_text(scenarios_yaml(None, "hazard.xlsx", from_workbook, generate(from_workbook))))
    assert written.scenarios == generate(from_workbook).cases and written.disruptions is None
