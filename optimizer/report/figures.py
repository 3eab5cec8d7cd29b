"""A chart described once (panels of traces) and drawn twice: as Plotly JSON for the page and as a PNG
(matplotlib, Agg canvas, no pyplot) for print and for readers without JavaScript.

Both renderers read the same `Chart`, so the interactive chart and its printed fallback show the same
numbers in the same colours. Numbers are rounded to 6 significant digits and every id is derived from
the chart's key, so the same chart gives the same bytes.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

DPI = 80
WIDTH_IN = 11.0


@dataclass(frozen=True)
class Trace:
    """One series of one panel. `kind`: line, step (a level held over the period), bar, hbar or marker."""

    name: str
    x: list
    y: list
    color: str
    kind: str = "line"
    group: str = ""
    """Legend group: one legend entry toggles the series in every panel (a future, a region)."""
    dash: str = "solid"  # solid | dash | dot
    width: float = 2.0
    size: list | None = None
    """Marker diameters in pixels (kind marker)."""
    hover: list | None = None
    """Per-point hover text (plain text)."""
    hatch: bool = False
    legend: bool = True
    """False on the repeats of a group in later panels (one legend entry per group)."""


@dataclass(frozen=True)
class Panel:
    title: str
    traces: list[Trace]
    y_title: str = ""
    x_title: str = ""
    vlines: list[tuple[float, str, str, str]] = field(default_factory=list)
    """(x, label, colour, dash) reference lines across the panel."""
    y_zero: bool = True
    """The y axis starts at 0 (stock, quantities), else it fits the data."""
    y_ticks: bool = True
    """False where the y position carries no value (the scenario tree)."""


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    caption: str
    panels: list[Panel]
    columns: int = 1
    panel_height: int = 260
    barmode: str = "relative"  # relative (stacked, negatives below 0) | group
    empty: str = ""
    """What to say instead of a chart when there is nothing to draw."""

    @property
    def points(self) -> int:
        """Data points drawn (0: the chart says `empty` instead)."""
        return sum(v is not None for p in self.panels for t in p.traces for v in t.y)  # None: a gap in a line


def _num(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    v = float(v)
    if not math.isfinite(v):
        return None
    return 0.0 if v == 0 else float(f"{v:.6g}")


# --- Plotly ----------------------------------------------------------------------------------------

_PLOTLY_DASH = {"solid": "solid", "dash": "dash", "dot": "dot"}


def _unit(v: float) -> float:
    """A paper coordinate, rounded and kept in [0, 1] (float error puts the last row at -1e-16)."""
    return _num(min(1.0, max(0.0, v)))


def _grid(chart: Chart) -> tuple[int, int]:
    cols = max(1, min(chart.columns, len(chart.panels)))
    return math.ceil(len(chart.panels) / cols), cols


def plotly_figure(chart: Chart) -> dict:
    """The chart as a Plotly figure (data and layout, plain JSON types)."""
    rows, cols = _grid(chart)
    gap_x, gap_y = 0.08, min(0.3, 80 / (rows * chart.panel_height))  # room for tick labels and the next title
    width_each = (1 - gap_x * (cols - 1)) / cols
    height_each = (1 - gap_y * (rows - 1)) / rows
    layout: dict[str, Any] = {
        "height": 70 + 50 + rows * chart.panel_height, "margin": {"l": 70, "r": 20, "t": 40, "b": 40},
        "barmode": chart.barmode, "hovermode": "closest", "paper_bgcolor": "white", "plot_bgcolor": "white",
        "font": {"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        # Below the bottom row's tick labels (and axis title), not over them: the offset is in pixels, the
        # legend's y in fractions of the plot area's height; Plotly widens the bottom margin to fit it.
        "legend": {"orientation": "h", "y": -_num(_legend_offset_px(chart) / (rows * chart.panel_height + 50)),
                   "yanchor": "top", "x": 0, "groupclick": "togglegroup"},
        "annotations": [],
    }
    data = []
    for i, panel in enumerate(chart.panels):
        r, c = divmod(i, cols)
        n = "" if i == 0 else str(i + 1)
        x0 = c * (width_each + gap_x)
        y1 = 1 - r * (height_each + gap_y)
        horizontal = any(t.kind == "hbar" for t in panel.traces)
        category_axis = "y" if horizontal else "x"
        layout[f"xaxis{n}"] = {"domain": [_unit(x0), _unit(x0 + width_each)], "anchor": f"y{n}", "showgrid": True,
                               "gridcolor": "#eceef1", "title": {"text": panel.x_title}, "automargin": True,
                               "zeroline": False, "nticks": 12 // cols, "tickangle": 0}
        layout[f"yaxis{n}"] = {"domain": [_unit(y1 - height_each), _unit(y1)], "anchor": f"x{n}", "showgrid": True,
                               "gridcolor": "#eceef1", "title": {"text": panel.y_title}, "automargin": True,
                               "zeroline": True, "zerolinecolor": "#bbbbbb"}
        if panel.y_zero and not horizontal:
            layout[f"yaxis{n}"]["rangemode"] = "tozero"
        if horizontal:
            layout[f"yaxis{n}"]["autorange"] = "reversed"
        if not panel.y_ticks:
            layout[f"yaxis{n}"].update({"showticklabels": False, "showgrid": False, "zeroline": False})
        if _has_labels(panel):  # periods or names; a numeric axis (cost, CVaR) stays linear
            layout[f"{category_axis}axis{n}"]["type"] = "category"
        layout["annotations"].append({"text": f"<b>{panel.title}</b>", "xref": "paper", "yref": "paper",
                                      "x": _num(x0), "y": _num(y1), "xanchor": "left", "yanchor": "bottom",
                                      "showarrow": False, "font": {"size": 13}})
        for x, label, color, dash in panel.vlines:
            layout.setdefault("shapes", []).append(
                {"type": "line", "xref": f"x{n}", "yref": f"y{n} domain", "x0": _num(x), "x1": _num(x), "y0": 0,
                 "y1": 1, "line": {"color": color, "dash": _PLOTLY_DASH[dash], "width": 2}})
            layout["annotations"].append({"text": label, "xref": f"x{n}", "yref": f"y{n} domain", "x": _num(x),
                                          "y": 1, "xanchor": "left", "yanchor": "top", "showarrow": False,
                                          "font": {"size": 11, "color": color}})
        for t in panel.traces:
            data.append(_plotly_trace(t, n))
    layout["title"] = {"text": chart.title, "x": 0, "xanchor": "left", "font": {"size": 15}}
    return {"data": data, "layout": layout}


def _legend_offset_px(chart: Chart) -> int:
    """Room under the bottom row for its tick labels (30 px) and, where a panel has one, its x title (32 px)."""
    return 30 + (32 if any(p.x_title for p in chart.panels) else 0)


def _has_labels(panel: Panel) -> bool:
    """Whether the panel's traces are placed at labels (periods, names; a Trace's x, also for hbar) rather
    than at numbers (cost, CVaR)."""
    return any(isinstance(v, str) for t in panel.traces for v in t.x)


def _plotly_trace(t: Trace, n: str) -> dict:
    out: dict[str, Any] = {"name": t.name, "xaxis": f"x{n}", "yaxis": f"y{n}", "showlegend": t.legend}
    if t.group:
        out["legendgroup"] = t.group
    xs, ys = [_num(v) for v in t.x], [_num(v) for v in t.y]
    if t.kind in ("bar", "hbar"):
        horizontal = t.kind == "hbar"
        out.update({"type": "bar", "x": ys if horizontal else xs, "y": xs if horizontal else ys,
                    "orientation": "h" if horizontal else "v",
                    "marker": {"color": t.color, "line": {"width": 0}}, "textposition": "none"})
        if t.hatch:
            out["marker"]["pattern"] = {"shape": "/", "fgcolor": "#6b7280", "size": 6}
    else:
        out.update({"type": "scatter", "x": xs, "y": ys})
        if t.kind == "marker":
            out["mode"] = "markers"
            out["marker"] = {"color": t.color, "size": [_num(s) for s in (t.size or [])] or 9,
                             "line": {"color": "white", "width": 1}}
        else:
            out["mode"] = "lines"
            out["line"] = {"color": t.color, "width": t.width, "dash": _PLOTLY_DASH[t.dash]}
            if t.kind == "step":
                out["line"]["shape"] = "hvh"
    if t.hover is not None:
        out["text"] = list(t.hover)
        out["hovertemplate"] = "%{text}<extra></extra>"
    return out


def plotly_json(chart: Chart) -> str:
    """Compact JSON of the figure; `</` is escaped so the text can sit inside a <script> element."""
    text = json.dumps(plotly_figure(chart), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/")


# --- PNG (matplotlib) -------------------------------------------------------------------------------

_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":"}


def render_png(chart: Chart) -> bytes:
    """The chart as a PNG: same panels, traces and colours as the Plotly figure, for print."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = _grid(chart)
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 8, "axes.spines.top": False,
                                "axes.spines.right": False, "hatch.color": "#6b7280", "hatch.linewidth": 0.6}):
        height = 0.9 + rows * chart.panel_height / 100
        # Fixed margins, not constrained layout: its extra draw pass doubled the report's build time.
        fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
        FigureCanvasAgg(fig)
        if not chart.panels:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, chart.empty or "Nothing to show.", ha="center", va="center", fontsize=12)
        else:
            axes = fig.subplots(rows, cols, squeeze=False).ravel()
            for ax in axes[len(chart.panels):]:
                ax.set_visible(False)
            for ax, panel in zip(axes, chart.panels):
                _draw_panel(ax, panel, chart.barmode)
            handles: dict[str, Any] = {}
            for ax in axes[:len(chart.panels)]:
                for h, label in zip(*ax.get_legend_handles_labels()):
                    handles.setdefault(label, h)
            if handles:
                fig.legend(list(handles.values()), list(handles), loc="lower center",
                           ncol=min(len(handles), 5), fontsize=8, frameon=False)
            fig.suptitle(chart.title, fontsize=10, x=0.01, ha="left")
            legend_rows = math.ceil(len(handles) / 5) if handles else 0
            fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.65 / height, hspace=0.55, wspace=0.18,
                                bottom=(0.45 + 0.2 * legend_rows) / height)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return out.getvalue()


def _short(x: float, _pos: Any = None) -> str:
    """Axis tick: 1.5e9 -> 1.5bn, 2e6 -> 2M, 3000 -> 3k."""
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def _draw_panel(ax, panel: Panel, barmode: str) -> None:
    categories: list = []
    for t in panel.traces:
        if t.kind != "marker" and t.x and isinstance(t.x[0], str):
            categories += [x for x in t.x if x not in categories]
    pos = {c: i for i, c in enumerate(categories)}
    bars = [t for t in panel.traces if t.kind in ("bar", "hbar")]
    up: dict[Any, float] = {}
    down: dict[Any, float] = {}
    width = 0.8 / (len(bars) if barmode == "group" and bars else 1)
    for t in panel.traces:
        xs = [pos.get(x, x) for x in t.x]
        ys = [float("nan") if v is None else float(v) for v in t.y]
        label = t.name if t.legend else None
        if t.kind in ("bar", "hbar"):
            j = bars.index(t)
            shift = (j - (len(bars) - 1) / 2) * width if barmode == "group" else 0.0
            base = []
            for x, y in zip(xs, ys):
                acc = up if y >= 0 else down
                base.append(acc.get(x, 0.0) if barmode != "group" else 0.0)
                if barmode != "group":
                    acc[x] = acc.get(x, 0.0) + y
            where = [x + shift for x in xs]
            style = {"color": t.color, "label": label, "hatch": "////" if t.hatch else None}
            if t.kind == "hbar":
                ax.barh(where, ys, height=width, left=base, **style)
            else:
                ax.bar(where, ys, width=width, bottom=base, **style)
        elif t.kind == "marker":
            sizes = [s * s for s in (t.size or [81] * len(xs))]
            ax.scatter(xs, ys, s=sizes, color=t.color, label=label, zorder=3, edgecolors="white", linewidths=0.5)
        else:
            ax.plot(xs, ys, color=t.color, lw=t.width * 0.75, ls=_MPL_DASH[t.dash], label=label,
                    drawstyle="steps-mid" if t.kind == "step" else "default")
    for x, label, color, dash in panel.vlines:
        ax.axvline(x, color=color, ls=_MPL_DASH[dash], lw=1.5, label=label)
    horizontal = any(t.kind == "hbar" for t in panel.traces)
    if categories:
        step = max(1, math.ceil(len(categories) / (30 if horizontal else 8)))
        ticks = list(range(0, len(categories), step))
        if horizontal:
            ax.set_yticks(ticks, [categories[i] for i in ticks])
            ax.invert_yaxis()
        else:
            ax.set_xticks(ticks, [categories[i] for i in ticks])
    value_axis = ax.xaxis if horizontal else ax.yaxis
    value_axis.set_major_formatter(_short)
    if not horizontal and any(t.kind == "marker" for t in panel.traces):
        ax.xaxis.set_major_formatter(_short)
    if panel.y_zero and not horizontal:
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.grid(alpha=0.3)
    if not panel.y_ticks:
        ax.set_yticks([])
    ax.set_title(panel.title, fontsize=9, loc="left")
    if panel.y_title:
        ax.set_ylabel(panel.y_title, fontsize=8)
    if panel.x_title:
        ax.set_xlabel(panel.x_title, fontsize=8)
