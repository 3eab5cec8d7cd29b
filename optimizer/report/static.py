"""Static matplotlib charts and their HTML, for pages drawn from PNGs only (`optimize simulate`'s report):
an Agg canvas (no pyplot, no global backend switch), fixed sizes, no timestamps, so the same data gives
the same bytes. The planning report draws through figures.py instead."""

from __future__ import annotations

import base64
import io
import math

from optimizer.report.page import esc

DPI = 100
MAX_PANELS = 12


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return out.getvalue()


def _grid(n: int, width: float = 11.0, row_height: float = 2.6):
    cols = 1 if n == 1 else 2
    rows = max(1, math.ceil(n / cols))
    fig = _figure(width, 1.0 + row_height * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _period_axis(ax, labels: list[str]) -> None:
    step = max(1, math.ceil(len(labels) / 8))
    ticks = list(range(0, len(labels), step))
    ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=8)
    ax.set_xlim(-0.6, max(len(labels) - 0.4, 0.6))


def _empty(message: str):
    fig = _figure(11.0, 1.6)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#444444")
    return fig


def _legend(fig, axes, ncol: int | None = None) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                   ncol=ncol or min(len(labels), 6), fontsize=9, frameon=False)


def figure_html(key: str, png: bytes, title: str, caption: str) -> str:
    """A PNG chart embedded in the page (it opens offline), with its title, caption and file name."""
    b64 = base64.b64encode(png).decode()
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return (f'<figure id="chart-{key}"><img src="data:image/png;base64,{b64}" width="{w}" height="{h}" '
            f'alt="{esc(title)}"><figcaption><b>{esc(title)}.</b> {esc(caption)} '
            f"(<code>charts/{key}.png</code>)</figcaption></figure>")
