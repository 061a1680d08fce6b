"""The figures of ``plot``: pure functions, data in and a matplotlib figure out.

matplotlib is imported inside each function (it is an extra), and every figure is drawn on an
Agg canvas: no display, no pyplot state. Every figure is WIDTH inches wide at DPI.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tiktok_sim.experiments import ALPHA, is_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
WIDTH = 10.0
"""Inches: every picture is WIDTH * DPI = 1000 pixels wide."""
HEIGHT = 5.0
"""Inches: a picture of one panel is 500 pixels high; one of several panels grows with their number."""
PANEL_HEIGHT = 3.6
INTERVAL = ("mean", "ci_lo", "ci_hi")
CHANGE = ("rel", "rel_lo", "rel_hi")
DIFFERENCE = ("diff", "ci_lo", "ci_hi")
WIDE_CHANGE = 3.0
"""A comparison's relative changes spanning more than this (300%) are drawn on a symmetric log axis."""

Curve = tuple[str, np.ndarray, np.ndarray]
"""A video's reach: label, (hours,) hours since upload, (hours,) cumulative views."""
Band = tuple[str, np.ndarray, np.ndarray, np.ndarray]
"""A reach band: label, then p10, median and p90 of cumulative views, each (hours,) from hour 0."""
Panel = tuple[str, list[Any]]
"""A panel's title and what it draws (curves or bands)."""


def reach_figure(panels: list[Panel]) -> Figure:
    """Cumulative views against hours since upload: a panel per (title, curves), a line per video."""
    figure, axes = _panels(len(panels))
    for ax, (title, curves) in zip(axes, panels, strict=False):
        for label, hours, views in curves:
            ax.plot(hours, views, label=label, linewidth=1.4)
        _reach_axes(ax, title, bool(curves))
    return figure


def band_figure(panels: list[Panel]) -> Figure:
    """Reach bands: a panel per (title, bands); each band's median as a line, p10-p90 shaded."""
    figure, axes = _panels(len(panels))
    for ax, (title, bands) in zip(axes, panels, strict=False):
        for colour, (label, p10, p50, p90) in zip(_colours(len(bands)), bands, strict=True):
            hours = np.arange(p50.size)
            spread = "p10-p90" if len(bands) == 1 else None  # several bands: each colour is its point's
            ax.fill_between(hours, p10, p90, color=colour, alpha=0.2, linewidth=0, label=spread)
            ax.plot(hours, p50, color=colour, label=label, linewidth=1.6)
        _reach_axes(ax, title, bool(bands))
    return figure


def _reach_axes(ax: Axes, title: str, drawn: bool) -> None:
    ax.set_title(title, loc="left", fontsize="medium")
    ax.set_xlabel("hours since upload")
    ax.set_ylabel("views (cumulative)")
    _thousands(ax)
    if drawn:
        ax.legend(fontsize="small", ncols=2)
    else:
        _nothing(ax, "no video of these was viewed")


def funnel_figure(
    stages: list[str],
    entered: np.ndarray,
    passed: np.ndarray,
    title: str,
    unit: str,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> Figure:
    """Videos entering and passing each stage, as bars on a log axis, each stage's pass rate above them.

    Args:
        stages: (stages,) labels.
        entered: (stages,) videos entering each stage.
        passed: (stages,) videos passing it.
        title: the picture's title.
        unit: the y axis's label.
        low: (stages,) whiskers of ``entered``, with ``high``, or None.
        high: see ``low``.
    """
    figure, axes = _panels(1, height=HEIGHT)
    ax = axes[0]
    x = np.arange(len(stages))
    spread = None if low is None or high is None else np.vstack([entered - low, high - entered])
    ax.bar(x - 0.2, entered, 0.4, label="entered", color="#4c72b0", yerr=spread, capsize=4)
    ax.bar(x + 0.2, passed, 0.4, label="passed", color="#dd8452")
    tops = np.maximum(entered, passed) if high is None else np.maximum.reduce([entered, passed, high])
    for i, (n_in, n_out) in enumerate(zip(entered, passed, strict=True)):
        if n_in > 0:
            ax.annotate(f"{n_out / n_in:.0%} passed", (i, tops[i]), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize="small")  # fmt: skip
    ax.set_xticks(x, stages)
    if np.nanmax(np.append(entered, 0)) > 0:
        ax.set_yscale("log")  # clipped, not masked: bars stand on zero
        ax.margins(y=0.15)
    else:
        _nothing(ax, "no video entered the ladder")
    ax.set_ylabel(unit)
    ax.set_title(title, loc="left", fontsize="medium")
    _thousands(ax)
    ax.legend(fontsize="small")
    return figure


def funnel_lines_figure(lines: list[tuple[str, np.ndarray]], title: str) -> Figure:
    """Videos entering each stage, then completing the ladder: a line per (label, (stages + 1,) counts)."""
    figure, axes = _panels(1, height=HEIGHT)
    ax = axes[0]
    stages = max((counts.size for _, counts in lines), default=1) - 1
    for colour, (label, counts) in zip(_colours(len(lines)), lines, strict=True):
        ax.plot(np.arange(counts.size), counts, marker="o", color=colour, label=label)
    ax.set_xticks(np.arange(stages + 1), [*(f"stage {s}" for s in range(stages)), "completed"])
    if any(np.nanmax(counts) > 0 for _, counts in lines):
        ax.set_yscale("log", nonpositive="mask")  # a stage no video entered leaves its line
        ax.legend(fontsize="small")
    else:
        _nothing(ax, "no video entered the ladder")
    ax.set_ylabel("videos per replication")
    ax.set_title(title, loc="left", fontsize="medium")
    _thousands(ax)
    return figure


def views_figure(series: list[tuple[str, np.ndarray, float]], title: str, unit: str) -> Figure:
    """Histograms of views per video on log axes, with logarithmic bins of whole views.

    A video without views has no place on a log axis: how many there were is said instead.

    Args:
        series: (label, (videos,) views, weight of each video) per histogram; one is drawn
            filled with its median marked, several as outlines.
        title: the picture's title.
        unit: the y axis's label.
    """
    figure, axes = _panels(1, height=HEIGHT)
    ax = axes[0]
    views = [np.asarray(values) for _, values, _ in series]
    seen_any = [values[values > 0] for values in views if (values > 0).any()]
    if not seen_any:
        _nothing(ax, "no video was viewed")
    else:
        low, top = min(int(values.min()) for values in seen_any), max(int(values.max()) for values in seen_any)
        edges = np.unique(np.floor(np.logspace(math.log10(low), math.log10(top + 1), 31)))
        edges = np.append(edges[edges <= top], top + 1)
        colours = _colours(len(series))
        for colour, (label, _, weight), values in zip(colours, series, views, strict=True):
            seen = values[values > 0]
            unseen = f"{(values.size - seen.size) / max(values.size, 1):.0%} without views"
            named = f"{label} ({unseen})" if label else f"{values.size * weight:,.0f} videos ({unseen})"
            ax.hist(seen, bins=list(edges), weights=np.full(seen.size, weight), label=named, color=colour,
                    histtype="stepfilled" if len(series) == 1 else "step", linewidth=1.4,
                    alpha=0.85 if len(series) == 1 else 1.0)  # fmt: skip
        if len(series) == 1 and views[0].size and np.median(views[0]) > 0:
            median = float(np.median(views[0]))
            ax.axvline(median, color="#333", linestyle="--", linewidth=1, label=f"median {median:,.0f} views")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _thousands(ax, "x")
        _thousands(ax)
        ax.legend(fontsize="small")
    ax.set_xlabel("views per video")
    ax.set_ylabel(unit)
    ax.set_title(title, loc="left", fontsize="medium")
    return figure


def intervals_figure(rows: list[dict[str, Any]], title: str) -> Figure:
    """Each metric's mean and 95% interval: the rates together on one 0-100% axis, every other on its own.

    Args:
        rows: ``metric``, ``mean``, ``ci_lo``, ``ci_hi`` per metric (summary.json's ``summary``).
        title: the picture's title.
    """
    rates = [row for row in rows if is_rate(str(row.get("metric")))]
    others = [row for row in rows if not is_rate(str(row.get("metric")))]
    figure, panels = _forest_panels(rates, others)
    if rates:
        ax = next(panels)
        _forest(ax, rates, percent=True)
        ax.set_xlim(0, 1)
        ax.set_title("rates", loc="left", fontsize="small")
    for ax, row in zip(panels, others, strict=True):
        _forest(ax, [row], percent=False)
    figure.suptitle(f"{title}: means with 95% confidence intervals", x=0.01, ha="left", fontsize="medium")
    return figure


def comparison_figure(rows: list[dict[str, Any]], title: str) -> Figure:
    """B against A, paired: each metric's change with its 95% interval, an effect Holm declares in red.

    The relative changes, B / A - 1 with Fieller's interval, share one axis; a metric whose
    ratio says nothing (A's mean not clearly above zero) gets its difference B - A on an axis
    of its own.

    Args:
        rows: ``metric``, ``rel``, ``rel_lo``, ``rel_hi``, ``diff``, ``ci_lo``, ``ci_hi`` and
            ``p_adj`` per metric (summary.json's ``comparison``).
        title: the picture's title.
    """
    relative = [row for row in rows if math.isfinite(_number(row.get("rel")))]
    absolute = [row for row in rows if not math.isfinite(_number(row.get("rel")))]
    figure, panels = _forest_panels(relative, absolute)
    if relative:
        ax = next(panels)
        _forest(ax, relative, percent=True, keys=CHANGE, signed=True)
        ax.set_title("relative change, B / A - 1", loc="left", fontsize="small")
        low, high = ax.get_xlim()
        if high - low > WIDE_CHANGE:  # an interval of thousands of percent would flatten every other
            from matplotlib.ticker import PercentFormatter

            ax.set_xscale("symlog", linthresh=0.5)
            ax.set_xticks([tick for tick in (-1.0, 0.0, 1.0, 10.0, 100.0, 1000.0) if low <= tick <= high])
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_title("relative change, B / A - 1 (log beyond ±50%)", loc="left", fontsize="small")
    for ax, row in zip(panels, absolute, strict=True):
        _forest(ax, [row], percent=False, keys=DIFFERENCE, signed=True)
        ax.set_title("difference, B - A", loc="left", fontsize="x-small")
    figure.suptitle(f"{title}: changes with 95% confidence intervals (red: an effect after Holm's adjustment)",
                    x=0.01, ha="left", fontsize="medium")  # fmt: skip
    return figure


def _forest(
    ax: Axes, rows: list[dict[str, Any]], percent: bool, keys: tuple[str, str, str] = INTERVAL, signed: bool = False
) -> None:
    """A row per metric: its estimate (``keys``: value, low, high) as a dot, its interval as a line.

    The figures are written on the right. The axis reaches zero, so an interval's width shows
    against the figure's size; a row whose Holm-adjusted p (``p_adj``) is below ALPHA, an effect, is red.
    """
    from matplotlib.ticker import PercentFormatter

    y = np.arange(len(rows))[::-1]
    mean, lo, hi = (np.array([_number(row.get(key)) for row in rows]) for key in keys)
    declared = np.array([_number(row.get("p_adj")) < ALPHA for row in rows])
    ax.hlines(y, lo, hi, color=np.where(declared, "#c44e52", "#4c72b0").tolist(), linewidth=2.5)
    ax.scatter(mean, y, color=np.where(declared, "#7a1f22", "#1f2f4f").tolist(), s=25, zorder=3)
    ax.set_yticks(y, [str(row.get("metric")) for row in rows], fontsize="small")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.tick_params(axis="x", labelsize="small")
    ax.grid(axis="x", alpha=0.3)
    if signed:
        ax.axvline(0, color="#333", linewidth=0.8)
    drawn = np.concatenate([mean, lo, hi])
    drawn = drawn[np.isfinite(drawn)]
    if not drawn.size:
        ax.set_xticks([])
    else:
        low, high = min(drawn.min(), 0.0), max(drawn.max(), 0.0)
        pad = 0.04 * (high - low) or 1.0
        ax.set_xlim(low - pad, high + pad)
        _thousands(ax, "x")
    if percent:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    beside = ax.get_yaxis_transform()  # x in axes fractions, y in data: just right of the panel
    for row, m, low, high in zip(y, mean, lo, hi, strict=True):
        text = _interval_text(m, low, high, percent, signed)
        ax.text(1.01, row, text, transform=beside, va="center", fontsize="small")


def _interval_text(mean: float, lo: float, hi: float, percent: bool, signed: bool = False) -> str:
    """A mean and its interval, e.g. 12.3% [4.5%, 30.1%] (+12.3% when ``signed``); no data is "-"."""
    sign = "+" if signed else ""

    def shown(value: float) -> str:
        if not math.isfinite(value):
            return "-"
        if percent:
            return f"{value:{sign}.1%}"
        return f"{value:{sign},.3g}" if abs(value) < 1000 else f"{value:{sign},.0f}"

    return f"{shown(mean)} [{shown(lo)}, {shown(hi)}]"


def sweep_figure(points: list[dict[str, Any]], keys: list[str], metrics: list[str], title: str) -> Figure:
    """A panel per metric: its mean at each point of the sweep, with its 95% interval.

    With one swept key whose values are all numbers, points are placed by value; otherwise
    each is a labelled position.

    Args:
        points: the swept values and ``<metric>_mean``, ``_ci_lo``, ``_ci_hi`` per point
            (summary.json's ``points``).
        keys: the swept keys.
        metrics: the metrics drawn, a panel each.
        title: the picture's title.
    """
    figure, axes = _panels(len(metrics), height_each=2.6)
    values = [_number(point.get(keys[0])) for point in points] if len(keys) == 1 else []
    numeric = bool(values) and all(math.isfinite(value) for value in values)
    x = np.array(values) if numeric else np.arange(len(points), dtype=np.float64)
    order = np.argsort(x, kind="stable")
    labels = [", ".join(f"{key}={point.get(key)}" for key in keys) for point in points]
    for ax, metric in zip(axes, metrics, strict=False):
        mean, lo, hi = (np.array([_number(p.get(f"{metric}_{end}")) for p in points]) for end in INTERVAL)
        below, above = np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)
        ax.errorbar(x[order], mean[order], yerr=np.vstack([below, above])[:, order], fmt="o-", capsize=4,
                    color="#4c72b0", ecolor="#8da0cb")  # fmt: skip
        ax.set_title(metric, loc="left", fontsize="small")
        ax.tick_params(labelsize="small")
        ax.grid(alpha=0.3)
        if numeric:
            ax.set_xlabel(keys[0], fontsize="small")
        else:
            ax.set_xticks(x, labels, rotation=30 if len(points) > 2 else 0, ha="right" if len(points) > 2 else "center")
        if not np.isfinite(mean).any():
            _nothing(ax, "no data")
    figure.suptitle(f"{title}: means with 95% confidence intervals", x=0.01, ha="left", fontsize="medium")
    return figure


# Helpers.


def _panels(n: int, height: float | None = None, height_each: float = PANEL_HEIGHT) -> tuple[Figure, list[Axes]]:
    """A figure WIDTH wide with ``n`` panels, two to a row when there are several; unused places are hidden."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(n, 1)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    figure = Figure(figsize=(WIDTH, height if height is not None else height_each * rows), dpi=DPI,
                    layout="constrained")  # fmt: skip
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[n:]:
        ax.set_axis_off()
    return figure, axes[:n]


def _forest_panels(shared: list[dict[str, Any]], alone: list[dict[str, Any]]) -> tuple[Figure, Iterator[Axes]]:
    """A figure with one panel for the ``shared`` rows (if any), then one per row of ``alone``."""
    heights = ([0.3 * len(shared) + 0.8] if shared else []) + [0.75] * len(alone)
    figure, axes = _stacked(heights or [1.0])
    if not shared and not alone:
        _nothing(axes[0], "no metrics")
    return figure, iter(axes)


def _stacked(heights: list[float]) -> tuple[Figure, list[Axes]]:
    """A figure WIDTH wide of panels one above the other, ``heights`` inches each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, sum(heights) + 0.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(heights), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    return figure, list(axes[:, 0])


def _colours(n: int) -> list[Any]:
    """``n`` distinguishable colours: matplotlib's ten, or a viridis ramp for more."""
    from matplotlib import colormaps

    return [colormaps["tab10"](i) for i in range(n)] if n <= 10 else list(colormaps["viridis"](np.linspace(0, 0.9, n)))


def _thousands(ax: Axes, which: str = "y") -> None:
    """Numbers on an axis as 12,345 rather than 1.2345e4 (call it after setting the axis's scale).

    On a log axis the values between powers of ten are labelled when matplotlib would label
    them (an axis spanning a decade or two), in the same style.
    """
    from matplotlib.ticker import FuncFormatter, LogFormatter

    class Plain(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:,.10g}" if super().__call__(x, pos) else ""

    axis = ax.xaxis if which == "x" else ax.yaxis
    if axis.get_scale() == "log":
        axis.set_major_formatter(Plain())
        axis.set_minor_formatter(Plain(labelOnlyBase=False))
    else:
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))


def _nothing(ax: Axes, message: str) -> None:
    """Say in the panel that there is nothing to draw."""
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="#666")


def _number(value: Any) -> float:
    """A JSON value as a number; NaN for null, or for anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan
