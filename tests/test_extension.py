"""The labelled Pyomo model and user extensions (issue 13 item 4): build it, index it by labels,
add constraints of your own through `--extension` or the API, and get clear errors when an
extension breaks the model."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyomo.environ as pyo
import pytest

import optimizer
from conftest import ROOT, scenario
from optimizer.extension import ExtensionError
from test_cli import run_cli, write_scenario

EXAMPLE = ROOT / "docs" / "extensions" / "ree_country_cap.py"
TWO_FUTURES = scenario(
    horizon={"start": "2026-01", "periods": 3, "period": "month"},
    sources=[{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 10, "capacity": 6},
             {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 4}],
    scenarios=[{"name": "calm", "probability": 0.5},
               {"name": "ban", "probability": 0.5,
                "events": [{"type": "ban", "where": {"region": "china"}, "from": "2026-02"}]}],
)


def test_model_is_indexed_by_labels_and_tree_aware():
    """m.buy[source, period, scenario]: scenarios that cannot be told apart yet share one variable
    (January), and split once the ban is known (February); sets and units are there."""
    m = optimizer.build_model(TWO_FUTURES)
    assert list(m.SCENARIOS) == ["calm", "ban"] and list(m.PERIODS) == ["2026-01", "2026-02", "2026-03"]
    assert set(m.SOURCES) == {"us", "cn"}
    assert m.buy["cn", "2026-01", "calm"] is m.buy["cn", "2026-01", "ban"]
    assert m.buy["us", "2026-02", "calm"] is not m.buy["us", "2026-02", "ban"]
    assert ("cn", "2026-02", "ban") not in m.buy  # banned: no variable
    assert "unit" in m.buy_node.doc and m.landed["cn", "2026-01", "ban"] == pytest.approx(4.0)


def test_unextended_model_solves_to_the_fast_routes_plan():
    m = optimizer.build_model(TWO_FUTURES)
    via_model, fast = optimizer.solve_model(m), optimizer.solve(TWO_FUTURES)
    assert via_model.objective == fast.objective
    pd.testing.assert_frame_equal(via_model.purchases, fast.purchases)


def test_a_users_constraint_changes_the_plan_by_hand():
    """Demand 10/month, us 10 $/t (cap 6), cn 4 $/t. Free optimum: all from cn while allowed
    (calm: 30 t from cn = 120; ban: 10 from cn in Jan, then 6 + 4 short at 1000 in Feb and Mar).
    The user caps January's cn order at 3 t: January buys 3 from cn and 6 from us and is 1 t short
    (1000 > 10, so every unit we can buy is bought): January costs 3*4 + 6*10 + 1*1000 = 1072 in both
    futures instead of 40."""
    m = optimizer.build_model(TWO_FUTURES)
    m.cap_january = pyo.Constraint(expr=m.buy["cn", "2026-01", "calm"] <= 3)
    free, capped = optimizer.solve(TWO_FUTURES), optimizer.solve_model(m)
    assert capped.objective == pytest.approx(free.objective + 1072 - 40)
    jan = capped.purchases[capped.purchases["period"] == "2026-01"]
    assert jan.groupby("source")["quantity"].max().to_dict() == pytest.approx({"cn": 3.0, "us": 6.0})


def test_example_extension_through_the_cli_and_the_api(tmp_path):
    """docs/extensions/ree_country_cap.py on china-embargo: in every scenario no country gets more
    than 40 % of the rare-earth spend, and the API gives the same bytes as the CLI."""
    out = tmp_path / "cli"
    proc = run_cli(str(ROOT / "scenarios" / "china-embargo.yaml"), "--extension", str(EXAMPLE), "--out", str(out),
                   "-q")
    assert proc.returncode == 0, proc.stderr
    purchases = pd.read_csv(out / "purchases.csv", keep_default_na=False)
    ree = purchases[purchases["material"].isin(["dysprosium", "terbium", "ndpr"])]
    by_country = ree.groupby(["scenario", "country"])["spend"].sum()
    totals = ree.groupby("scenario")["spend"].sum()
    shares = by_country / totals.reindex(by_country.index.get_level_values(0)).to_numpy()
    assert shares.max() <= 0.4 + 1e-6, shares.sort_values().tail()
    free = pd.read_csv(ROOT / "tests" / "golden" / "china-embargo" / "purchases.csv", keep_default_na=False)
    free = free[free["material"].isin(["dysprosium", "terbium", "ndpr"])]
    assert (free.groupby(["scenario", "country"])["spend"].sum()
            / free.groupby("scenario")["spend"].sum()).max() > 0.4  # the rule binds
    api = optimizer.solve(optimizer.load_scenario(ROOT / "scenarios" / "china-embargo.yaml"), extension=EXAMPLE)
    assert (out / "purchases.csv").read_bytes() == api.purchases.pipe(_csv)


def _csv(df: pd.DataFrame) -> bytes:
    from optimizer.export import csv_bytes

    return csv_bytes(df)


def test_infeasible_extension_is_explained_by_the_users_constraint_names():
    def extend(m, data):
        m.at_least = pyo.Constraint(expr=m.buy["us", "2026-01", "calm"] >= 5)
        m.at_most = pyo.Constraint(expr=m.buy["us", "2026-01", "calm"] <= 3)

    sol = optimizer.solve(TWO_FUTURES, extension=extend)
    assert sol.status == "infeasible"
    assert "your constraint at_least" in sol.explanation and "your constraint at_most" in sol.explanation


def test_extension_that_breaks_the_model_is_named(tmp_path):
    def nonlinear(m, data):
        m.square = pyo.Constraint(expr=m.buy["us", "2026-01", "calm"] ** 2 <= 4)

    with pytest.raises(ExtensionError, match="nonlinear") as err:
        optimizer.solve(TWO_FUTURES, extension=nonlinear)
    assert "not a linear program" in str(err.value)

    broken = tmp_path / "broken.py"
    broken.write_text("def extend(model, data):\n    x = 1\n    return model.no_such_thing\n")
    path = write_scenario(tmp_path / "s.yaml", TWO_FUTURES)
    proc = run_cli(str(path), "--extension", str(broken), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "broken.py:extend failed" in proc.stderr and "line 3" in proc.stderr
    assert not (tmp_path / "o").exists()

    (tmp_path / "none.py").write_text("X = 1\n")
    proc = run_cli(str(path), "--extension", str(tmp_path / "none.py"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "defines no function `extend(model, data)`" in proc.stderr


def test_the_fast_route_does_not_import_pyomo(tmp_path):
    """Pyomo is imported only when a model is asked for (an extension, build_model)."""
    path = write_scenario(tmp_path / "s.yaml", TWO_FUTURES)
    code = ("import sys, optimizer\n"
            f"optimizer.solve(optimizer.load_scenario({str(path)!r}))\n"
            "print('pyomo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
