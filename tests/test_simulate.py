"""`optimize simulate` (SPEC 9): hand-worked policies, properties of executed decisions, time consistency,
outputs, workers and Dask."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import scenario
from typer.testing import CliRunner

from optimizer.checks import validate
from optimizer import simulate
from optimizer.cli import app, run
from optimizer.destination import MARKER
from optimizer.disruptions import generate
from optimizer.model.lp import cost_terms
from optimizer.results import cvar, scenario_costs
from optimizer.simulate import POLICIES, Future, Simulation, draw_futures, run_simulation, simulate_command
from optimizer.simulate_output import simulation_files

CN_US = [
    {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10},
    {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 30},
]
BAN = {"name": "ban", "annual_probability": 0.25, "duration": 1, "effects": [{"type": "ban", "where": {"region": "china"}}]}
CALM, BANNED = Future((0, 0), (0, 0)), Future((0, 1), (0, 1))


def hand_worked() -> dict:
    """One material, one event, two yearly stages (2026, 2027); see `test_hand_worked_policies`."""
    return scenario(
        name="hand", horizon={"start": "2026-01", "periods": 2, "period": "year"},
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 100,
                    "stockpile": {"initial": 0, "capacity": 5, "holding_cost": 2}}],
        sources=CN_US, disruptions={"events": [BAN]})


def test_hand_worked_policies():
    """Demand 10 a year, cn at 10, us at 30, shortfall 100, storage for 5 at 2 a year, no discount. A ban
    on cn may start in 2027 (q = 0.25, one year): two futures, calm (0.75) and ban (0.25).

    First plan (the stochastic program): a unit stocked in 2026 costs 10 + 2 and saves 10 in calm
    (-2) or 30 in the ban (+18): expected +3 > 0, so fill the store. 2026: buy 15 cn (150), hold 5 (10).
    2027 calm: buy 5 cn (50) -> 210; ban: buy 5 us (150) -> 310. Objective 0.75 * 210 + 0.25 * 310 = 235.
    Its reference scenario is calm (the most probable).

    rolling: 2026 as the first plan; re-planned in 2027 it buys what the first plan's branch buys:
      calm 210, ban 310 (no shortfall).
    naive: 2026 plans for calm alone: no stock (holding costs 2), buy 10 cn (100). 2027 calm: 10 cn ->
      200; ban: re-planned with the ban in force, 10 us (300) -> 400.
    static: executes calm's decisions of the first plan: 15 cn in 2026, 5 cn in 2027. Calm: 210. Ban:
      the 2027 order is banned (placed as far as the future allows: not at all); the 5 in store
      meet half the demand, 5 fall short (500): 150 + 10 + 500 = 660, of which money 160.
    """
    sim = Simulation(validate(hand_worked()))
    assert sim.first_plan.objective == pytest.approx(235.0)
    assert sim.first_plan.reference == "calm"
    expected = {  # future: policy: (cost, money, shortfall, [cn 2026, cn 2027], [us 2026, us 2027])
        CALM: {"rolling": (210, 210, 0, [15, 5], [0, 0]), "naive": (200, 200, 0, [10, 10], [0, 0]),
               "static": (210, 210, 0, [15, 5], [0, 0])},
        BANNED: {"rolling": (310, 310, 0, [15, 0], [0, 5]), "naive": (400, 400, 0, [10, 0], [0, 10]),
                 "static": (660, 160, 5, [15, 0], [0, 0])},
    }
    for future, policies in expected.items():
        played = sim.play(future)
        for policy, (cost, money, short, cn, us) in policies.items():
            got = played[policy]
            assert got.status == "optimal"
            assert (got.cost, got.money, got.shortfall.sum()) == pytest.approx((cost, money, short)), (future, policy)
            assert got.decisions["buy"].ravel().tolist() == pytest.approx(cn + us), (future, policy)


def test_hand_worked_policies_with_a_fixed_cost_per_order():
    """The hand-worked world with a fixed cost of 25 in every period cn is ordered from (SPEC v2: an order
    binary per period): the re-plans are MILPs and the executed orders are decisions like the rest.

    Calm needs cn in both years whatever is stored (the store holds 5 of the 10 demanded), so the fixed
    cost changes no decision: the first plan stores 5 as before. Calm: 150 + 25 + 10 + 50 + 25 = 260;
    ban: 150 + 25 + 10 + 150 (us) = 335; objective 0.75 * 260 + 0.25 * 335 = 278.75.
    rolling: 260 and 335. naive: no stock; calm 2 x (100 + 25) = 250; ban 125 + 300 = 425.
    static in the ban: its 2027 cn order is banned, so no order is placed and no fixed cost paid:
    150 + 25 + 10 + 500 (5 short) = 685, of which money 185.
    """
    raw = hand_worked()
    raw["sources"][0].update(fixed_cost=25, capacity=20)  # a fixed cost needs a capacity; 20 never binds
    sim = Simulation(validate(raw))
    assert sim.first_plan.form.lp.has_integers
    assert sim.first_plan.objective == pytest.approx(278.75)
    expected = {CALM: {"rolling": (260, 260), "naive": (250, 250), "static": (260, 260)},
                BANNED: {"rolling": (335, 335), "naive": (425, 425), "static": (685, 185)}}
    for future, policies in expected.items():
        played = sim.play(future)
        for policy, (cost, money) in policies.items():
            assert (played[policy].cost, played[policy].money) == pytest.approx((cost, money)), (future, policy)


# --- properties on random small worlds -----------------------------------------------------------


@st.composite
def worlds(draw, aversion: bool = True, sampled: bool = True) -> dict:
    """One stocked material, 2-3 sources with distinct prices (so optima are unique), 1-2 events each on
    its own source (so no two events have equal effects), 2-4 yearly stages of yearly or quarterly
    periods; random aversion and, with `sampled`, trees small enough to be sampled."""
    stages = draw(st.integers(2, 4))
    quarterly = draw(st.booleans()) and stages <= 3
    n_sources = draw(st.integers(2, 3))
    sources = [{"id": f"s{i}", "material": "dy", "region": "other", "country": "CD",
                "price": draw(st.integers(5, 40)) + 0.37 * i, "lead_time": draw(st.integers(0, 1)),
                **({"capacity": c} if (c := draw(st.sampled_from([None, 6, 12]))) else {})}
               for i in range(n_sources)]
    sources[-1].pop("capacity", None)  # one unlimited source: there is always a way to buy
    events = []
    for i in range(draw(st.integers(1, min(2, n_sources)))):
        durations = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True))
        weights = [draw(st.integers(1, 4)) for _ in durations]
        kind = draw(st.sampled_from(["ban", "capacity", "price"]))
        effect = {"type": kind, "where": {"source": f"s{i}"}, **({"multiplier": 0.4 if kind == "capacity" else 2.5}
                                                                  if kind != "ban" else {})}
        events.append({"name": f"e{i}", "annual_probability": draw(st.sampled_from([0.2, 0.5, 0.8])),
                       "duration": {d: w / sum(weights) for d, w in zip(durations, weights)}, "effects": [effect]})
    process = {"events": events}
    if sampled and draw(st.booleans()):
        process.update(max_scenarios=draw(st.integers(2, 4)), seed=draw(st.integers(0, 5)))
    return scenario(
        name="world", horizon={"start": "2026-01", "periods": stages * (4 if quarterly else 1),
                               "period": "quarter" if quarterly else "year", "discount_rate": 0.05},
        materials=[{"id": "dy", "demand": draw(st.integers(5, 15)), "shortfall_penalty": 300,
                    "stockpile": {"initial": draw(st.integers(0, 10)), "capacity": draw(st.integers(5, 30)),
                                  "holding_cost": draw(st.sampled_from([0.5, 1.3, 2.9]))}}],
        sources=sources, disruptions=process,
        risk={"aversion": draw(st.sampled_from([0.0, 0.5])) if aversion else 0.0, "alpha": 0.8})


def tree_futures(sim: Simulation) -> list[tuple[Future, float, str]]:
    """Every scenario of the first plan's tree as a future (its runs' stages and starts), with its
    probability and name."""
    tree = generate(sim.sc)
    J = tree.stages.count
    names = [e.name for e in tree.events]
    out = []
    for s in tree.scenarios:
        codes, starts = [0] * J, [0] * J
        for o in s.occurrences:
            e = names.index(o.event)
            starts[o.first_stage] |= 1 << e
            for j in range(o.first_stage, o.first_stage + o.stages):
                codes[j] |= 1 << e
        out.append((Future(tuple(codes), tuple(starts)), s.probability, s.name))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.integers(0, 10))
def test_past_decisions_never_change_once_executed(raw, seed):
    """In every policy's trajectory, each re-plan keeps every decision executed before it, adds the
    decisions of its own periods, and the realised outcome is computed from exactly those."""
    sim = Simulation(validate(raw))
    for future in sorted(set(draw_futures(sim.sc, 4, seed))):
        steps = sim.world.steps(future)
        played = sim.play(future)
        for policy in POLICIES:
            trajectory = sim.trajectory(policy, future)
            assert len(trajectory) == len(steps)
            for before, after, step in zip(trajectory, trajectory[1:], steps[1:]):
                for name, values in before.executed.items():
                    assert np.array_equal(after.executed[name][:, :step.start], values[:, :step.start],
                                          equal_nan=True), (policy, name)
                    assert np.isnan(values[:, step.start:]).all()
            final = trajectory[-1].executed
            for name in ("buy", "process", "build_source", "build_processor"):
                assert played[policy].decisions[name] == pytest.approx(np.nan_to_num(final[name]), abs=1e-9)
            assert played[policy].stock == pytest.approx(final["stock"], abs=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(aversion=False, sampled=False))
def test_rolling_is_time_consistent_and_static_never_beats_it(raw):
    """Aversion 0, every scenario of the exact tree as a future: re-planning at every stage reproduces
    the first plan's cost of that scenario (what it planned for each branch is still optimal once the
    branch is reached), so rolling's expected cost is the first plan's objective; static, a policy the
    first plan could have chosen, is never cheaper in expectation; naive neither."""
    sim = Simulation(validate(raw))
    first = sim.first_plan
    planned = dict(zip(first.form.data.scenarios, scenario_costs(first.form, cost_terms(first.form.data, first.form.lp), first.x)))
    expected = dict.fromkeys(POLICIES, 0.0)
    for future, probability, name in tree_futures(sim):
        played = sim.play(future)
        assert played["rolling"].cost == pytest.approx(planned[name], rel=1e-7, abs=1e-6), name
        for policy in POLICIES:
            assert played[policy].status == "optimal"
            expected[policy] += probability * played[policy].cost
    assert expected["rolling"] == pytest.approx(first.objective, rel=1e-7)
    assert expected["static"] >= expected["rolling"] - 1e-6 * abs(expected["rolling"])
    assert expected["naive"] >= expected["rolling"] - 1e-6 * abs(expected["rolling"])


# --- the command, its folder, and the same bytes however it is run ------------------------------------------


def three_stages() -> dict:
    """The hand-worked world over three years with a second event (a price rise on us)."""
    raw = hand_worked()
    raw["horizon"]["periods"] = 3
    raw["disruptions"]["events"].append({"name": "us-price", "annual_probability": 0.4, "duration": {1: 0.5, 2: 0.5},
                                         "effects": [{"type": "price", "where": {"source": "us"}, "multiplier": 1.5}]})
    return raw


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a result folder but run.json, relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_command_writes_the_folder_and_the_summary(tmp_path):
    """simulate.csv has a row per future and policy with the SPEC's columns first; summary.json's
    statistics are those of the rows; report.html shows them with the charts; the CLI prints them and
    exits 0."""
    path = write(tmp_path, three_stages())
    out = tmp_path / "sim"
    run = CliRunner().invoke(app, ["simulate", str(path), "--futures", "12", "--seed", "5", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "rolling" in run.output and "re-planning every stage saves" in run.output
    table = pd.read_csv(out / "simulate.csv")
    assert list(table.columns) == ["future", "policy", "cost", "money", "shortfall_dy", "status", "failed_at", "events"]
    assert len(table) == 36 and table["future"].tolist() == [f for f in range(1, 13) for _ in POLICIES]
    assert table["policy"].tolist() == list(POLICIES) * 12
    summary = json.loads((out / "summary.json").read_text())
    for policy in POLICIES:
        cost = table.loc[table["policy"] == policy, "cost"].to_numpy()
        stats = summary["policies"][policy]
        assert stats["mean"] == pytest.approx(cost.mean(), rel=1e-9)
        assert stats["worst"] == pytest.approx(cost.max(), rel=1e-9)
        assert stats["cvar"] == pytest.approx(cvar(cost, np.full(12, 1 / 12), 0.95), rel=1e-9)
        short = table.loc[table["policy"] == policy, "shortfall_dy"].to_numpy()
        assert stats["shortfall_probability"] == pytest.approx((short > 1e-6).mean())
    assert summary["replanning_saves"] == pytest.approx(summary["policies"]["static"]["mean"]
                                                        - summary["policies"]["rolling"]["mean"])
    assert {p.name for p in (out / "charts").iterdir()} == {"simulate-costs.png", "simulate-shortfall.png",
                                                           "simulate-stock.png"}
    report = (out / "report.html").read_text()
    assert all(f'id="chart-{name}"' in report for name in ("simulate-costs", "simulate-shortfall", "simulate-stock"))
    assert f"{summary['policies']['rolling']['mean']:,.2f} USD" in report
    decisions = pd.read_csv(out / "decisions.csv")
    assert set(decisions["kind"]) <= {"buy", "process", "build"}


def test_same_seed_same_bytes_with_one_or_two_workers(tmp_path):
    """Same seed, same folder (run.json aside) in one process and in two worker processes; another seed
    draws other futures."""
    path = write(tmp_path, three_stages())
    simulate_command(path, 16, seed=2, out=tmp_path / "one")
    simulate_command(path, 16, seed=2, workers=2, out=tmp_path / "two")
    simulate_command(path, 16, seed=3, out=tmp_path / "other")
    assert folder_bytes(tmp_path / "one") == folder_bytes(tmp_path / "two")
    assert (tmp_path / "one" / "simulate.csv").read_bytes() != (tmp_path / "other" / "simulate.csv").read_bytes()


def test_listed_scenarios_are_drawn_by_probability_and_replanned_as_they_split(tmp_path):
    """Without `disruptions`: futures are the listed scenarios drawn by probability. base (0.75) and
    embargo (0.25, cn banned from 2027) are one node in 2026 and split in 2027: two steps. The
    policies give the hand-worked figures of the same world (the embargo is the ban)."""
    raw = hand_worked()
    raw.pop("disruptions")
    raw["scenarios"] = [{"name": "base", "probability": 0.75},
                        {"name": "embargo", "probability": 0.25,
                         "events": [{"type": "ban", "where": {"region": "china"}, "from": "2027-01"}]}]
    sim = Simulation(validate(raw))
    assert [(s.start, s.end) for s in sim.world.steps(Future(scenario=1))] == [(0, 1), (1, 2)]
    assert sim.first_plan.reference == "base"
    costs = {k: {p: o.cost for p, o in sim.play(Future(scenario=k)).items()} for k in (0, 1)}
    assert costs == {0: pytest.approx({"rolling": 210, "naive": 200, "static": 210}),
                     1: pytest.approx({"rolling": 310, "naive": 400, "static": 660})}
    drawn = draw_futures(sim.sc, 4000, seed=1)
    assert sum(f.scenario == 1 for f in drawn) / 4000 == pytest.approx(0.25, abs=0.03)


@pytest.mark.slow
def test_dask_gives_the_same_bytes_and_reruns_a_lost_workers_futures(tmp_path):
    """On a real LocalCluster of two worker processes, one killed as soon as the first chunk is back: the
    scheduler runs its chunks again elsewhere and the folder is the one a single process writes."""
    from distributed import Client, LocalCluster

    sc = validate(three_stages())
    local = simulation_files(run_simulation(sc, 24, seed=4))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_one(done: int) -> None:
            if not killed:
                victim = sorted(pids.values())[-1]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        distributed = simulation_files(run_simulation(sc, 24, seed=4, scheduler=cluster.scheduler_address,
                                                      progress=kill_one))
        assert killed
    assert {k: v for k, v in distributed.items() if k != "run.json"} == \
        {k: v for k, v in local.items() if k != "run.json"}


def test_bad_input_and_an_infeasible_first_plan_stop_before_anything_is_written(tmp_path, monkeypatch, capsys):
    """Bad input (a field, --futures 0, an unreachable scheduler, an --out that is not a result folder):
    one message, exit 1, no traceback; a first plan with no feasible plan (a hard target above what can
    be stored): exit 2; nothing written in any case."""
    def optimize(*args: str) -> tuple[int, str]:
        code = run(["simulate", *map(str, args)])
        return code, capsys.readouterr().err

    bad = three_stages()
    bad["materials"][0]["demand"] = -1
    out = tmp_path / "sim"
    code, err = optimize(write(tmp_path, bad), "--futures", 3, "--out", out)
    assert code == 1 and "materials[0].demand" in err and "Traceback" not in err
    good = write(tmp_path, three_stages())
    code, err = optimize(good, "--futures", 0, "--out", out)
    assert code == 1 and "--futures" in err
    monkeypatch.setattr(simulate, "DASK_CONNECT_SECONDS", 2)
    code, err = optimize(good, "--futures", 3, "--scheduler", "tcp://127.0.0.1:9", "--out", out)
    assert code == 1 and "cannot reach a Dask scheduler" in err
    stuck = three_stages()
    stuck["materials"][0]["stockpile"].update(target=50, hard_target=True)
    stuck["name"] = "stuck"
    code, err = optimize(write(tmp_path, stuck), "--futures", 3, "--out", out)
    assert code == 2 and "first plan" in err
    assert not out.exists()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    code, err = optimize(good, "--futures", 3, "--out", notes)
    assert code == 1 and "not a result folder" in err and (notes / "mine.txt").read_text() == "keep"


def test_the_folder_is_a_result_folder_replaced_by_the_next_run_or_with_force(tmp_path, capsys):
    """The folder carries the result-folder marker, so the next run replaces it; a folder of other files
    is replaced only with --force. `optimize report` on it points to the report written with it."""
    good = write(tmp_path, three_stages())
    out = tmp_path / "sim"
    assert run(["simulate", str(good), "--futures", "2", "--out", str(out), "-q"]) == 0
    assert (out / MARKER).is_file()
    assert run(["report", str(out)]) == 1 and "was written with it" in capsys.readouterr().err
    assert run(["simulate", str(good), "--futures", "3", "--seed", "1", "--out", str(out), "-q"]) == 0
    assert len(pd.read_csv(out / "simulate.csv")) == 3 * len(POLICIES)
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("gone")
    assert run(["simulate", str(good), "--futures", "2", "--out", str(other), "--force", "-q"]) == 0
    assert not (other / "mine.txt").exists() and (other / "simulate.csv").is_file()
    capsys.readouterr()
