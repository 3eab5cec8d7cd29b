"""`optimize report` and `--format`: the decision-first HTML report (interactive Plotly charts with PNG
fallbacks, one inline copy of plotly.min.js), binding rules ranked by worth, parquet/xlsx.

Every shipped scenario's report is rendered in headless Chromium (skipped when `chromium` is not
installed): every chart must draw all its points, and every headline figure must equal summary.json.
The shipped scenarios are solved once per test process (test_scenarios.solved) and reported once.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml as pyyaml

from conftest import scenario
from test_scenarios import NAMES, solved

RICH = scenario(
    name="rich",
    horizon={"start": "2026-01", "periods": 6, "period": "quarter"},
    materials=[
        {"id": "dy", "unit": "kg", "demand": 10, "shortfall_penalty": 1000,
         "stockpile": {"initial": 0, "capacity": 15, "holding_cost": 0.1, "target": 5, "target_penalty": 50}},
        {"id": "ni", "unit": "t", "demand": 4, "shortfall_penalty": 500},
        {"id": "nodules", "unit": "t"},
    ],
    sources=[
        {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10, "capacity": 30},
        {"id": "au", "material": "dy", "region": "allied", "country": "AU", "price": 25, "capacity": 8,
         "expansion": {"max": 10, "capex": 20, "lead_time": 1}},
        {"id": "nod", "material": "nodules", "region": "deep_sea", "country": "INTL", "price": 1},
        {"id": "ni-ca", "material": "ni", "region": "allied", "country": "CA", "price": 60},
    ],
    processors=[{"id": "ref", "region": "domestic", "country": "US", "input": "nodules", "outputs": {"ni": 0.5},
                 "capacity": 4, "cost": 2}],
    policies=[{"type": "tariff", "rate": 1.0, "where": {"country": "CN"}}],
    budgets=[{"name": "fy26", "amount": 600, "from": "2026-01", "until": "2027-01"}],
    limits=[{"name": "cap-china", "material": "dy", "where": {"region": "china"}, "max_share": 0.5}],
    scenarios=[
        {"name": "base", "probability": 0.6},
        {"name": "ban", "probability": 0.4, "events": [{"type": "ban", "where": {"region": "china"},
                                                        "from": "2026-07"}]},
    ],
)
TABLES = ("purchases", "stockpile", "processing", "expansion", "prices")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120"})


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Path:
    """`optimize rich.yaml --report --format csv,json,parquet,xlsx` once for the module."""
    root = tmp_path_factory.mktemp("report")
    path = root / "rich.yaml"
    path.write_text(pyyaml.safe_dump(RICH, sort_keys=False))
    out = root / "out"
    proc = run_cli(str(path), "--out", str(out), "--report", "--format", "csv,json,parquet,xlsx")
    assert proc.returncode == 0, proc.stderr
    assert f"Report written to {out / 'report.html'}" in proc.stdout
    return out


PLOTLY_BANNER = "plotly.js v"


def page_outside_library(page: str) -> str:
    """The page without the inline plotly.min.js (whose code mentions URLs it never loads here)."""
    start = page.index("<script>/**")
    return page[:start] + page[page.index("</script>", start):]


def figures(page: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r'data-figure="([^"]+)" data-value="([^"]+)"', page)}


def summary_value(summary: dict, key: str) -> float:
    value = summary
    for part in key.split("."):
        value = value[part]
    return float(value)


def test_report_is_self_contained_with_every_chart(result):
    """plotly.min.js inline exactly once; no http(s) load, no import; each drawn chart has its JSON, its
    PNG fallback (also in charts/) and a data-points count."""
    page = (result / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert page.count(PLOTLY_BANNER) == 1 and page.count("<script>/**") == 1
    rest = page_outside_library(page)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", rest, re.I)
    assert "@import" not in rest and "url(" not in rest and "<link" not in rest
    plots = re.findall(r'<div class="plot" id="chart-([a-z_]+)" data-points="(\d+)">', rest)
    assert [k for k, _ in plots] == ["stock", "shortfall", "tree", "money", "spend", "costs", "shadow_prices"]
    imgs = re.findall(r'<img class="fallback" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', rest)
    assert len(imgs) == len(plots)
    for (key, points), b64 in zip(plots, imgs):
        assert int(points) > 0, key
        assert base64.b64decode(b64) == (result / "charts" / f"{key}.png").read_bytes(), key
    assert sorted(p.name for p in (result / "charts").iterdir()) == sorted(f"{k}.png" for k, _ in plots)


def test_chart_json_is_a_valid_plotly_figure_with_one_colour_per_future(result):
    """Each chart's JSON passes plotly's own validation; a future has the same colour in every chart."""
    import json

    import plotly.graph_objects as go

    page = (result / "report.html").read_text()
    colours: dict[str, set[str]] = {}
    for key, text in re.findall(r'<script type="application/json" id="chart-([a-z_]+)-data">(.*?)</script>', page):
        fig = json.loads(text.replace("<\\/", "</"))
        go.Figure(fig)  # raises on an unknown property or a bad value
        for trace in fig["data"]:
            colour = (trace.get("line") or trace.get("marker") or {}).get("color")
            if trace["name"] in ("base", "ban") and isinstance(colour, str):
                colours.setdefault(trace["name"], set()).add(colour)
    assert colours.keys() == {"base", "ban"} and all(len(c) == 1 for c in colours.values()), colours
    assert colours["base"] != colours["ban"]
    from optimizer.palette import REGION_COLORS

    assert not (colours["base"] | colours["ban"]) & set(REGION_COLORS.values())


def test_cost_chart_places_each_future_at_its_cost(result):
    """The risk chart's x axis is cost, a number: each future's dot sits at its cost from summary.json (charts carry 6 significant digits), on
    the same linear axis as the expected-cost and CVaR lines (a category axis once piled the dots at the
    left, by index, far from those lines). Axes of periods stay categories."""
    import json

    page = (result / "report.html").read_text()
    charts = {key: json.loads(text.replace("<\\/", "</")) for key, text in
              re.findall(r'<script type="application/json" id="chart-([a-z_]+)-data">(.*?)</script>', page)}
    summary = json.loads((result / "summary.json").read_text())
    costs = charts["costs"]
    assert costs["layout"]["xaxis"].get("type") != "category"
    dots = {t["name"]: t["x"][0] for t in costs["data"] if t["name"] in summary["scenarios"]}
    assert dots == pytest.approx({k: v["cost"] for k, v in summary["scenarios"].items()}, rel=1e-5)
    lines = sorted(shape["x0"] for shape in costs["layout"]["shapes"])
    assert lines == pytest.approx(sorted([summary["expected_cost"], summary["cvar"]]), rel=1e-5)
    assert charts["stock"]["layout"]["xaxis"]["type"] == "category"


def test_report_leads_with_the_decision_and_keeps_money_apart_from_penalties(result):
    """Sections in order; decide-now orders are the orders before the split (2026-07: periods 2026-01 and
    2026-04, worked out from RICH's ban); penalties are never called spending."""
    page = (result / "report.html").read_text()
    heads = re.findall(r"<h2>(\d)\. ", page)
    assert heads == ["1", "2", "3", "4", "5"]
    assert "Every future looks the same until <b>2026-07</b>" in page
    p = pd.read_csv(result / "purchases.csv")
    now = p[(p["scenario"] == "base") & p["period"].isin(["2026-01", "2026-04"])]
    assert figures(page)["decide_now_orders"] == pytest.approx(now["spend"].sum(), rel=1e-9)
    e = pd.read_csv(result / "expansion.csv")
    now_builds = e[e["period"].isin(["2026-01", "2026-04"])].drop_duplicates(["period", "entity"])
    assert figures(page)["decide_now_capex"] == pytest.approx(now_builds["spend"].sum(), rel=1e-9, abs=1e-9)
    assert "<b>penalties</b> (not money)" in page and not re.search(r"penalt[a-z]* (is|are) spen", page)


def test_report_is_deterministic_and_leaves_other_files_alone(result, tmp_path):
    """Rewriting the report gives the same bytes; the other files equal those of a run without --report."""
    from optimizer.report import write_report

    before = {p.name: p.read_bytes() for p in result.rglob("*") if p.is_file()}
    assert write_report(result) == result / "report.html"
    after = {p.name: p.read_bytes() for p in result.rglob("*") if p.is_file()}
    assert after == before
    import optimizer

    plain = tmp_path / "plain"
    optimizer.solve(RICH).write(plain, ("csv", "json", "parquet", "xlsx"))
    for f in plain.iterdir():
        if f.name != "run.json":
            assert f.read_bytes() == (result / f.name).read_bytes(), f.name


def test_parquet_and_xlsx_read_back_like_the_csv(result):
    """Every table as parquet and as a sheet of results.xlsx (plus a summary sheet) holds the CSV's values."""
    book = pd.read_excel(result / "results.xlsx", sheet_name=None)
    assert list(book) == ["summary", *TABLES]
    summary = dict(zip(book["summary"]["field"], book["summary"]["value"]))
    assert summary["name"] == "rich" and summary["status"] == "optimal"
    for name in TABLES:
        csv = pd.read_csv(result / f"{name}.csv", keep_default_na=False)
        for other in (pd.read_parquet(result / f"{name}.parquet"), book[name]):
            assert list(other.columns) == list(csv.columns), name
            assert len(other) == len(csv), name
            if len(csv):
                pd.testing.assert_frame_equal(other.astype(str).replace("nan", ""),
                                              csv.astype(other.dtypes.to_dict()).astype(str).replace("nan", ""),
                                              check_dtype=False)


def test_unknown_format_and_bad_report_folder_exit_1(tmp_path):
    """--format with an unknown name, and `report` on a folder that is not a result: exit 1, no traceback."""
    path = tmp_path / "s.yaml"
    path.write_text(pyyaml.safe_dump(scenario(), sort_keys=False))
    proc = run_cli(str(path), "--out", str(tmp_path / "o"), "--format", "csv,pdf")
    assert proc.returncode == 1 and "--format" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
    proc = run_cli("report", str(tmp_path))
    assert proc.returncode == 1 and "summary.json is missing" in proc.stderr and "Traceback" not in proc.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict[str, Path]:
    """Result folder with report.html of every shipped scenario (each solved once per test process)."""
    from optimizer.report import write_report

    root = tmp_path_factory.mktemp("shipped")
    out = {}
    for name in NAMES:
        folder = solved(name).write(root / name)
        write_report(folder)
        out[name] = folder
    return out


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after the page's scripts ran (Plotly drew every chart), from headless Chromium."""
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=240)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


@pytest.mark.parametrize("name", NAMES)
def test_shipped_report_headline_matches_summary(shipped, name):
    """Every headline figure of every shipped scenario's report equals summary.json's value."""
    import json

    page = (shipped[name] / "report.html").read_text()
    summary = json.loads((shipped[name] / "summary.json").read_text())
    shown = figures(page)
    for key in ("expected_cost", "cvar", "objective", "cash_spend", "cost_breakdown.expected.discounted.money",
                "cost_breakdown.expected.discounted.penalties"):
        assert shown[key] == summary_value(summary, key), key
    for key, value in shown.items():
        if not key.startswith(("decide_now", "fiscal_year")):
            assert value == summary_value(summary, key), key


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
@pytest.mark.parametrize("name", NAMES)
def test_shipped_report_renders_every_chart_in_chromium(shipped, name, tmp_path):
    """Chromium runs the page offline: Plotly draws every chart with all the points the page declares,
    and the headline figures in the rendered DOM equal summary.json."""
    import json

    dom = dump_dom(shipped[name] / "report.html", tmp_path)
    declared = re.findall(r'id="chart-([a-z_]+)" data-points="(\d+)"', dom)
    assert declared, dom[:500]
    for key, points in declared:
        drawn = re.search(rf'id="chart-{key}" data-points="\d+"[^>]*data-rendered="(\d+)"', dom)
        assert drawn and drawn.group(1) == points and int(points) > 0, (name, key)
        assert re.search(rf'id="chart-{key}"[^>]*>\s*<div class="plot-container', dom), (name, key)
    summary = json.loads((shipped[name] / "summary.json").read_text())
    for key, value in figures(dom).items():
        if not key.startswith(("decide_now", "fiscal_year")):
            assert value == summary_value(summary, key), (name, key)


def test_report_of_a_generated_tree_shows_the_tree_and_each_events_response(tmp_path):
    """A ban process (p 0.5 a year from 2027, lasting 1 year) over 3 yearly periods: tree.json's futures
    in the tree chart, and the event's rows (stock before, lowest during) in the response table."""
    import optimizer
    from optimizer.report import write_report

    raw = scenario(
        name="tree", horizon={"start": "2026-01", "periods": 3, "period": "year"},
        materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000,
                    "stockpile": {"initial": 0, "target": 10, "target_penalty": 50, "holding_cost": 0.1}}],
        sources=[{"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10},
                 {"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 20,
                  "capacity": 5}],
        disruptions={"events": [{"name": "cn-ban", "annual_probability": 0.5, "duration": 1, "earliest": "2027-01",
                                 "effects": [{"type": "ban", "where": {"region": "china"}},
                                             {"type": "release", "where": {"material": "dy"}}]}]})
    folder = optimizer.solve(raw).write(tmp_path / "tree")
    assert (folder / "tree.json").is_file()
    page = write_report(folder).read_text()
    rest = page_outside_library(page)
    assert 'id="chart-tree"' in rest and "first split 2027-01" in rest
    response = rest[rest.index("<th>event</th>"):]
    assert "<td>cn-ban</td>" in response and "<td>dy</td>" in response
