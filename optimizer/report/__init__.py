"""`optimize report DIR`: DIR/report.html (one self-contained file) and the print PNGs in DIR/charts/.

Reads only the result folder (summary.json, the tables, scenario.json; tree.json, analysis.json and
frontier.csv when present). The page embeds plotly.min.js once, inline, and each chart's data and PNG
fallback: it opens offline, and the same folder gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from optimizer.diff import load_folder
from optimizer.errors import OptimizerError
from optimizer.report import charts
from optimizer.errors import UsageError
from optimizer.report.figures import Chart, _short, render_png  # noqa: F401  (_short: simulate_output's charts)
from optimizer.report.page import CSS, render_html  # noqa: F401  (CSS: simulate_output's page)
from optimizer.report.page import esc as _esc  # noqa: F401
from optimizer.report.page import table as _table  # noqa: F401
from optimizer.report.plan import money as _money  # noqa: F401
from optimizer.report.plan import pct as _pct  # noqa: F401
from optimizer.report.static import (MAX_PANELS, _empty, _figure, _grid, _legend, _period_axis,  # noqa: F401
                                     _png, figure_html)
from optimizer.report.plan import Plan, load_plan

__all__ = ["CHARTS", "build_charts", "check_report_support", "load_plan", "render_html", "report_files",
           "write_report"]

CHARTS = ("stock", "shortfall", "tree", "money", "spend", "costs", "frontier", "shadow_prices")
"""Chart keys in page order; `frontier` only when frontier.csv is in the folder."""


def build_charts(plan: Plan) -> dict[str, Chart]:
    out = {
        "stock": charts.chart_stock(plan),
        "shortfall": charts.chart_shortfall(plan),
        "tree": charts.chart_tree(plan),
        "money": charts.chart_money(plan),
        "spend": charts.chart_spend(plan),
        "costs": charts.chart_costs(plan),
        "frontier": charts.chart_frontier(plan),
        "shadow_prices": charts.chart_shadow_prices(plan),
    }
    return {k: v for k, v in out.items() if v is not None}


def plotly_js() -> str:
    """plotly.min.js of the installed plotly (pinned in pyproject.toml), read from its package data."""
    from importlib.resources import files

    return (files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:  # plain open: the same permissions as the other result files
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_report_support() -> None:
    """Raise a clear error when matplotlib or plotly (the `report` extra) is missing: checked before solving."""
    try:
        import matplotlib  # noqa: F401
        import plotly  # noqa: F401
    except ImportError:
        raise OptimizerError("the report needs matplotlib and plotly: "
                             "pip install 'mineral-stockpile-optimizer[report]'") from None


def report_files(folder: str | Path, name: str | None = None) -> dict[str, bytes]:
    """report.html and charts/<chart>.png of a result folder, name -> bytes. `name` is the folder's name
    in the report when it differs from the folder read (a run reports on its temporary folder)."""
    check_report_support()
    if (Path(folder) / "simulate.csv").is_file():  # its report is written with it, from the simulation itself
        raise UsageError(f"{folder} is the folder of a stress test (optimize simulate): its report, "
                         f"{Path(folder) / 'report.html'}, was written with it")
    rf = load_folder(folder)
    plan = load_plan(rf)  # reads the optional files (tree.json, analysis.json, frontier.csv) of the real folder
    if name is not None:
        plan = dataclasses.replace(plan, folder=dataclasses.replace(rf, path=rf.path.with_name(name)))
    drawn = {key: (chart, render_png(chart)) for key, chart in build_charts(plan).items()}
    return {**{f"charts/{key}.png": png for key, (chart, png) in drawn.items() if chart.points},
            "report.html": render_html(plan, drawn, plotly_js()).encode()}


def write_report(folder: str | Path) -> Path:
    """Write FOLDER/report.html and FOLDER/charts/*.png from a result folder; returns the HTML path."""
    folder = Path(folder)
    files = report_files(folder)
    chart_dir = folder / "charts"
    chart_dir.mkdir(exist_ok=True)
    for stale in chart_dir.glob("*.png"):  # a chart with nothing to draw this time, or of an older report
        if f"charts/{stale.name}" not in files:
            stale.unlink()
    for name, data in files.items():
        _write_atomic(folder / name, data)
    return folder / "report.html"
