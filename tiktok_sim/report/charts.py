"""Reach curves drawn in the terminal with plotext."""

from __future__ import annotations

import math

import numpy as np
import plotext as plt
from rich.text import Text

from tiktok_sim.report.layout import Fit

MARKERS = ("•", "+", "x", "o", "*", "#", "=", "%")
"""One marker per series, so the lines stay apart without colour."""
COLOURS = ("blue+", "red+", "green+", "magenta+", "cyan+", "orange+", "yellow", "gray")
"""And one colour per series, where the terminal shows colour."""
Y_LABEL_COLUMNS = 10
"""About how many columns the y tick labels and the frame take from the chart's width."""


def reach_chart(
    curves: list[tuple[str, np.ndarray, np.ndarray]], width: int = 90, height: int = 16, title: str = ""
) -> Text:
    """Cumulative views against hours since upload, one line per video, each labelled at its end.

    Each line has its own marker (and colour), and its label, after its marker, at its last point.
    The x axis runs on past the last hour to leave room for the labels.

    Args:
        curves: (label, hours, cumulative views) per video; at most ``len(MARKERS)``.
        width: chart width in characters.
        height: chart height in characters.
        title: chart title.
    """
    plt.clear_figure()
    plt.limitsize(False, False)  # else plotext keeps within the size of the terminal it guesses
    plt.plotsize(width, height)
    plt.theme("clear")
    x_lo = min(float(h.min()) for _, h, _ in curves if h.size) if any(h.size for _, h, _ in curves) else 0.0
    x_hi = max([x_lo + 1.0, *(float(h.max()) for _, h, _ in curves if h.size)])
    y_lo = min([0.0, *(float(v.min()) for _, _, v in curves if v.size)])
    y_hi = max([y_lo + 1.0, *(float(v.max()) for _, _, v in curves if v.size)])
    label_columns = max(len(label) for label, _, _ in curves) + 3  # marker, space, gap
    plot_columns = max(width - Y_LABEL_COLUMNS - label_columns, 10)
    per_column = (x_hi - x_lo) / plot_columns
    plt.xlim(x_lo, x_hi + label_columns * per_column)
    plt.ylim(y_lo, y_hi)
    ticks = nice_ticks(x_lo, x_hi)
    plt.xticks(ticks, [f"{t:g}" for t in ticks])
    ends: list[tuple[float, str, str, float]] = []  # (views, label, colour, hour) at each line's end
    for i, (label, hours, views) in enumerate(curves):
        marker, colour = MARKERS[i % len(MARKERS)], COLOURS[i % len(COLOURS)]
        plt.plot(hours.tolist(), views.tolist(), marker=marker, color=colour)
        if hours.size:
            ends.append((float(views[-1]), f"{marker} {label}", colour, float(hours[-1])))
    ends.sort(key=lambda end: -end[0])
    heights = spread([y for y, _, _, _ in ends], (y_hi - y_lo) / max(height - 6, 1), y_lo, y_hi)
    for y, (_, text, colour, x) in zip(heights, ends, strict=True):
        plt.text(text, x + per_column, y, color=colour, alignment="left")
    plt.xlabel("hours since upload")
    plt.ylabel("views")
    if title:
        plt.title(title)
    return Text.from_ansi(plt.build())


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick positions (steps of 1, 2 or 5 times a power of ten) within [lo, hi], at most ``most`` of them."""
    span = max(hi - lo, 1e-9)
    for power in range(math.floor(math.log10(span / most)), math.ceil(math.log10(span)) + 2):
        for base in (1, 2, 5):
            step = base * 10.0**power
            first = math.ceil(lo / step) * step
            ticks = [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]
            if len(ticks) <= most:
                return [round(t, 9) for t in ticks]
    return [lo, hi]


def spread(heights: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label heights, highest first, moved down until each is ``gap`` below the one above, then up into [lo, hi]."""
    out: list[float] = []
    for y in heights:
        out.append(min(y, out[-1] - gap) if out else y)
    shift = max(0.0, lo - out[-1]) if out else 0.0
    return [min(y + shift, hi) for y in out]


def fitted_chart(curves: list[tuple[str, np.ndarray, np.ndarray]], widest: int = 120, title: str = "") -> Fit:
    """:func:`reach_chart` drawn as wide as the space it is rendered in, at most ``widest`` columns."""
    return Fit(lambda width: reach_chart(curves, width=max(min(width, widest), 30), title=title))
