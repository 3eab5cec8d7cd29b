"""Warm re-solves, price files, --set overrides and sweeps (local processes and a Dask cluster)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optimizer
from conftest import scenario
from optimizer.checks import validate
from optimizer.errors import ScenarioError
from optimizer.overrides import apply_prices, apply_set, parse_prices
from optimizer.planner import Planner
from optimizer.sweep import make_variants, prepare_variants, run_sweep, solve_sweep
from test_cli import EMBARGO, run_cli, write_scenario

MULTI = scenario(
    horizon={"start": "2026-01", "periods": 6, "period": "quarter"},
    materials=[
        {"id": "dy", "demand": [10, 12, 9, 14, 11, 10], "shortfall_penalty": 1000,
         "stockpile": {"holding_cost": 0.5, "capacity": 40}},
        {"id": "ga", "demand": 5, "shortfall_penalty": 800},
    ],
    sources=[
        {"id": "cn-dy", "material": "dy", "region": "china", "country": "CN", "price": [10, 11, 12, 11, 10, 9],
         "capacity": 25},
        {"id": "au-dy", "material": "dy", "region": "allied", "country": "AU", "price": 22, "capacity": 30},
        {"id": "ca-ga", "material": "ga", "region": "allied", "country": "CA", "price": 40, "capacity": 8},
        {"id": "us-ga", "material": "ga", "region": "domestic", "country": "US", "price": 55},
    ],
    budgets=[{"name": "fy26", "amount": 900, "from": "2026-01", "until": "2027-01"}],
    scenarios=[
        {"name": "base", "probability": 0.7},
        {"name": "ban", "probability": 0.3,
         "events": [{"type": "ban", "where": {"region": "china"}, "from": "2026-10"}]},
    ],
)


def test_warm_price_update_matches_cold_solve_with_fewer_iterations():
    """update_prices + solve gives the cold solve's objective, starting from the previous basis."""
    planner = Planner(validate(MULTI))
    first = planner.solve()
    changes = planner.update_prices({"cn-dy": 15.0, "ca-ga": [38, 39, 41, 42, 43, 44]})
    assert changes > 0
    warm = planner.solve()
    cold_sc = validate(MULTI)
    cold_sc = apply_prices(cold_sc, parse_prices("source,price\ncn-dy,15\n"))
    cold_sc = apply_prices(cold_sc, parse_prices(
        "source,from,price\nca-ga,2026-01,38\nca-ga,2026-04,39\nca-ga,2026-07,41\nca-ga,2026-10,42\n"
        "ca-ga,2027-01,43\nca-ga,2027-04,44\n"))
    cold = optimizer.solve(cold_sc, route="direct")
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert warm.objective != pytest.approx(first.objective)
    assert warm.run["solver"]["simplex_iterations"] < cold.run["solver"]["simplex_iterations"]
    pd.testing.assert_frame_equal(warm.stockpile, cold.stockpile, atol=1e-6)


def test_price_update_with_orders_stranded_in_some_scenarios_matches_cold_solve():
    """With a ban `on: arrival` (SPEC v2) that strands an order in one scenario only, a purchase's
    cost sits at the nodes of its arrival: update_prices (which re-formulates from the one declaration
    of the cost terms and pushes the changed coefficients in place) still gives the cold solve's
    objective and plan."""
    doc = {**MULTI, "sources": [{**s, "lead_time": 1} if s["id"] == "cn-dy" else s for s in MULTI["sources"]],
           "scenarios": [MULTI["scenarios"][0], {"name": "ban", "probability": 0.3, "events": [
               {"type": "ban", "where": {"region": "china"}, "on": "arrival", "from": "2026-10"}]}]}
    planner = Planner(validate(doc))
    planner.solve()
    assert planner.update_prices({"cn-dy": 15.0}) > 0
    warm = planner.solve()
    cold = optimizer.solve(apply_prices(validate(doc), parse_prices("source,price\ncn-dy,15\n")), route="direct")
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    pd.testing.assert_frame_equal(warm.purchases, cold.purchases, atol=1e-6)


def test_update_with_new_structure_rebuilds():
    """A change that removes variables (a new ban) rebuilds the model (returns -1) and stays correct."""
    planner = Planner(validate(MULTI))
    planner.solve()
    changed = dict(MULTI, policies=[{"type": "ban", "where": {"source": "ca-ga"}}])
    assert planner.update(validate(changed)) == -1
    assert planner.solve().objective == pytest.approx(optimizer.solve(changed).objective, rel=1e-9)


def test_update_prices_rejects_unknown_source_and_bad_values():
    """Unknown ids get a did-you-mean; negative prices are refused."""
    planner = Planner(validate(MULTI))
    with pytest.raises(ScenarioError, match="did you mean `cn-dy`"):
        planner.update_prices({"cn-yd": 3.0})
    with pytest.raises(ScenarioError, match=">= 0"):
        planner.update_prices({"cn-dy": -3.0})


def test_price_file_with_from_is_a_step_function():
    """Rows with `from` replace the price from the period containing that month on; earlier periods
    keep the file's prices; a row without `from` applies from the start."""
    sc = validate(MULTI)
    rows = parse_prices("source,from,price\ncn-dy,2026-08,30\ncn-dy,2027-02,31\nau-dy,,20\n")
    new = apply_prices(sc, rows)
    prices = {s.id: s.price for s in new.sources}
    assert prices["cn-dy"] == [10, 11, 30, 30, 31, 31] or tuple(prices["cn-dy"]) == (10, 11, 30, 30, 31, 31)
    assert tuple(prices["au-dy"]) == (20,) * 6


@pytest.mark.parametrize("text, message", [
    ("source,price\nzz,3\n", "unknown source `zz`"),
    ("source,from,price\ncn-dy,2026-13,3\n", "not a month"),
    ("source,price\ncn-dy,-1\n", ">= 0"),
    ("source,price\ncn-dy,abc\n", "not a number"),
    ("source,cost\ncn-dy,3\n", "expected columns"),
    ("source,price\ncn-dy,3\ncn-dy,4\n", "already priced on line 2"),
    ("", "empty"),
    ("source,from,price\n", "p.csv:1:1: (top level): the price file has a header but no prices: a truncated file?"),
    ("source,price\n\n \n", "the price file has a header but no prices"),
    ("source,from,price\ncn-dy,2026-04,3\ncn-dy,2027-07,4\n",
     "p.csv:3:1: from: 2027-07 is after the horizon (it ends before 2027-07): this price would never apply"),
    ("source,price\n" + "x" * 200_000 + ",3\n", "p.csv:2:1: (top level): not a readable CSV file: field larger"),
])
def test_bad_price_files_name_the_line(text, message):
    """Every price-file problem is bad input naming the CSV line."""
    with pytest.raises(ScenarioError) as info:
        apply_prices(validate(MULTI), parse_prices(text, "p.csv"))
    rendered = info.value.render()
    assert message in rendered
    if text:
        assert "p.csv:" in rendered


def test_header_only_price_file_on_the_command_line(tmp_path):
    """A nightly job fed a truncated price file stops with exit 1 naming the file; nothing is re-planned."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    (tmp_path / "p.csv").write_text("source,from,price\n")
    for command in (["validate", str(path)], [str(path), "--out", str(tmp_path / "o")]):
        proc = run_cli(*command, "--prices", str(tmp_path / "p.csv"))
        assert proc.returncode == 1 and f"{tmp_path / 'p.csv'}:1:1" in proc.stderr and "no prices" in proc.stderr
        assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("assignment, message", [
    ("risk.aversion=2", "--set risk.aversion=2: must be <= 1, got 2"),
    ("sources[cn-dy].material=dyy", "--set sources[cn-dy].material=dyy: unknown material `dyy`; did you mean `dy`?"),
    ("sources[cn-dy].expansion={max: 5}", "--set sources[cn-dy].expansion={max: 5}: sources[0].expansion.capex: "
                                          "required field is missing"),
    ("sources[cn-xx].price=1", "--set sources[cn-xx].price=1: no item `cn-xx` in `sources`; did you mean `cn-dy`?"),
    ("risk.aversion", "--set risk.aversion: not PATH=VALUE (e.g. --set risk.aversion=0.5)"),
    ("sources[9].price=1", "--set sources[9].price=1: index 9 is out of range: the list has 4 items"),
    ("limits[0].max_share=0.5", "--set limits[0].max_share=0.5: no `limits` list in the scenario"),
    ("risk={aversion: 1, aversion: 0}", "--set risk={aversion: 1, aversion: 0}: duplicate key `aversion`"),
])
def test_set_problems_name_the_argument_as_typed(assignment, message):
    """A problem in a field a --set gave names that argument, not a position in the file (issue 11)."""
    from optimizer.checks import validate as check
    from optimizer.loader import SourceMap
    from optimizer.overrides import apply_set as set_one

    raw = {**MULTI, "sources": [dict(s) for s in MULTI["sources"]], "scenarios": [dict(c) for c in MULTI["scenarios"]]}
    smap = SourceMap("s.yaml", {(): (1, 1)})
    with pytest.raises(ScenarioError) as info:
        smap.origins[set_one(raw, assignment)] = f"--set {assignment}"
        check(raw, smap)
    rendered = info.value.render()
    assert message in rendered and "s.yaml:" not in rendered.split("\n", 1)[1], rendered


def test_set_examples_of_the_help_readme_and_tutorial_work_as_written(tmp_path):
    """Every --set example shown to users applies to the file it is shown with and validates."""
    import re

    from conftest import ROOT
    from optimizer.cli import SET_HELP
    from optimizer.pipeline import load_scenario

    help_examples = [e.replace("\\[", "[") for e in re.findall(r"e\.g\. (\S+) or (\S+)", SET_HELP)[0]]
    overrides = (ROOT / "README.md").read_text().split("### Re-solves")[1].split("### Stable")[0]
    commands = overrides.split("```sh")[1].split("```")[0]
    readme_examples = [a or b for a, b in re.findall(r"--set '([^']+)'|--set ([^\s']+)", commands)]
    readme_examples += re.findall(r"`([\w\[\]-]+(?:\.[\w\[\]-]+)+=[^`]+)`", overrides)
    tutorial = (ROOT / "docs" / "tutorial.md").read_text()
    shown = {ROOT / "scenarios" / "baseline.yaml": help_examples + readme_examples,
             ROOT / "docs" / "tutorial" / "dysprosium.yaml": re.findall(r"--set '([^']+)'", tutorial)}
    assert len(readme_examples) == 4 and len(shown[ROOT / "docs" / "tutorial" / "dysprosium.yaml"]) == 5
    for path, examples in shown.items():
        for example in examples:
            load_scenario(path, [example])


def test_set_overrides_by_id_index_and_path():
    """--set addresses list items by id or index and nested fields by dots; values parse as YAML."""
    raw = {**MULTI, "sources": [dict(s) for s in MULTI["sources"]]}
    apply_set(raw, "sources[cn-dy].price=400")
    apply_set(raw, "risk.aversion=0.5")
    apply_set(raw, "materials[1].demand=[1, 2, 3, 4, 5, 6]")
    apply_set(raw, "scenarios[ban].probability=0.3")
    sc = validate(raw)
    assert sc.sources[0].price == 400 and sc.risk.aversion == 0.5
    assert tuple(sc.materials[1].demand) == (1, 2, 3, 4, 5, 6)
    with pytest.raises(ScenarioError, match="no item `cn-xx`"):
        apply_set(raw, "sources[cn-xx].price=1")


def test_cli_set_is_validated_like_the_file(tmp_path):
    """An invalid --set value is reported like a file error (exit 1)."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    proc = run_cli(str(path), "--set", "sources[cn].price=-5", "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "--set sources[cn].price=-5: must be >= 0, got -5" in proc.stderr
    proc = run_cli(str(path), "--set", "sources[cn].price=5", "--json", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0 and '"objective": 430.0' in proc.stdout


def _prices(tmp_path, n: int) -> list:
    files = []
    for i in range(n):
        path = tmp_path / f"p{i:02d}.csv"
        path.write_text(f"source,price\ncn-dy,{8 + i}\nca-ga,{35 + 2 * i}\n")
        files.append(path)
    return files


def test_sweep_matches_individual_solves_and_survives_a_bad_variant(tmp_path):
    """Each variant's objective equals a cold solve; a bad price file is reported, the rest go on."""
    path = write_scenario(tmp_path / "s.yaml", MULTI)
    files = _prices(tmp_path, 3)
    bad = tmp_path / "zz-bad.csv"
    bad.write_text("source,price\nnope,3\n")
    table = run_sweep(path, make_variants([*files, bad]), tmp_path / "out")
    assert list(table["variant"]) == ["p00", "p01", "p02", "zz-bad"]
    assert list(table["status"]) == ["optimal"] * 3 + ["bad_input"]
    assert "unknown source `nope`" in table["message"].iloc[3]
    for f, objective in zip(files, table["objective"]):
        cold = optimizer.solve(apply_prices(validate(MULTI), parse_prices(f.read_text())))
        assert objective == pytest.approx(cold.objective, rel=1e-9)
        assert (tmp_path / "out" / f.stem / "summary.json").exists()
    written = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(written.columns[:7]) == ["variant", "status", "objective", "expected_cost", "cvar", "cash_spend",
                                         "shortfall_total"]


def test_sweep_workers_and_set_grid_give_the_same_table(tmp_path):
    """--workers 2 gives the same sweep.csv as one process; --set-grid crosses with price files."""
    path = write_scenario(tmp_path / "s.yaml", MULTI)
    variants = make_variants(_prices(tmp_path, 2), set_grid=["risk.aversion=0,0.5"])
    assert [v.name for v in variants] == ["p00_aversion-0", "p00_aversion-0.5", "p01_aversion-0", "p01_aversion-0.5"]
    one = run_sweep(path, variants, tmp_path / "one", workers=1)
    two = run_sweep(path, variants, tmp_path / "two", workers=2)
    assert (tmp_path / "one" / "sweep.csv").read_bytes() == (tmp_path / "two" / "sweep.csv").read_bytes()
    assert np.isfinite(one["objective"]).all() and len(two) == 4


def test_sweep_on_a_dask_cluster_equals_local(tmp_path):
    """--scheduler sends variants to a real dask.distributed LocalCluster on loopback; same results."""
    distributed = pytest.importorskip("distributed")
    path = write_scenario(tmp_path / "s.yaml", MULTI)
    variants = make_variants(_prices(tmp_path, 3))
    local = run_sweep(path, variants, tmp_path / "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_sweep(path, variants, tmp_path / "remote", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, remote)
    for v in variants:
        assert (tmp_path / "local" / v.name / "purchases.csv").read_bytes() == (
            tmp_path / "remote" / v.name / "purchases.csv").read_bytes()


def test_dask_sweep_sends_scenarios_not_paths_and_writes_here(tmp_path):
    """The client validates every variant and sends the scenario itself: the workers of a real
    LocalCluster solve although the scenario and price files are gone by then, and every result
    folder is written by the client (the same bytes as a local sweep)."""
    distributed = pytest.importorskip("distributed")
    path = write_scenario(tmp_path / "s.yaml", MULTI)
    variants = make_variants(_prices(tmp_path, 2), set_grid=["risk.aversion=0,0.5"])
    prepared = prepare_variants(path, variants)
    for f in tmp_path.glob("*.*"):
        f.unlink()  # no worker can read the inputs by path now
    local = solve_sweep(prepared, tmp_path / "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = solve_sweep(prepared, tmp_path / "remote", scheduler=cluster.scheduler_address)
    assert (remote["status"] == "optimal").all() and len(remote) == 4
    pd.testing.assert_frame_equal(local, remote)
    for v in variants:
        assert (tmp_path / "remote" / v.name / "summary.json").read_bytes() == (
            tmp_path / "local" / v.name / "summary.json").read_bytes()


def test_sweep_cli(tmp_path):
    """`optimize sweep FILE --prices a.csv b.csv --out DIR` writes one folder per variant and sweep.csv."""
    path = write_scenario(tmp_path / "s.yaml", MULTI)
    files = _prices(tmp_path, 2)
    proc = run_cli("sweep", str(path), "--prices", str(files[0]), "--prices", str(files[1]), "--out",
                   str(tmp_path / "sw"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "sw").iterdir()) == [".optimize-result", "p00", "p01", "sweep.csv"]


def test_watch_resolves_on_change_and_stops_cleanly(tmp_path):
    """`optimize watch` solves, re-solves when the price file changes (printing the diff), and exits 130
    on Ctrl-C with one line (SPEC section 5: 130 interrupted)."""
    import signal
    import subprocess
    import sys
    import threading
    import time

    path = write_scenario(tmp_path / "s.yaml", MULTI)
    prices = tmp_path / "prices.csv"
    prices.write_text("source,price\ncn-dy,10\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "optimizer", "watch", str(path), "--prices", str(prices),
                             "--out", str(out), "--interval", "0.1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.time() + 60
        while sum(text in line for line in list(lines)) < count and time.time() < deadline:
            time.sleep(0.1)

    wait_for("optimal: objective")
    prices.write_text("source,price\ncn-dy,16\n")
    wait_for("Rows:")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    reader.join(timeout=10)
    stdout = "".join(lines)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: stopped watching")
    assert stdout.count("optimal: objective") == 2
    assert "Plan diff: previous -> out" in stdout and "cn-dy" in stdout
    assert "Traceback" not in stderr
