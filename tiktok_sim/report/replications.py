"""The replications table: each key metric's mean, sd and 95% confidence interval."""

from __future__ import annotations

import math

import numpy as np

from tiktok_sim.report.charts import fitted_chart
from tiktok_sim.report.layout import Cell, Col, Fit, Num, abbreviate, fit_table, wrapped


def _fmt(value: float | str | int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"


def _num(value: float | str | int) -> str | Num:
    """A figure as :func:`_fmt` writes it, abbreviated in narrow layouts when it is 10,000 or more."""
    full = _fmt(value)
    return Num(full, abbreviate(float(value))) if isinstance(value, int | float) and abs(value) >= 10_000 else full


def replications_table(name: str, root_seed: int, reps: int, rows: list[dict[str, float | str | int]]) -> Fit:
    """A table of metric, mean, sd, 95% CI and n."""
    cols = [
        Col("metric", "left", wrap=True, breaks="_", give=0.3),
        Col("mean"),
        Col("sd"),
        Col("95% CI", wrap=True),
        Col("n"),
    ]
    cells: list[list[Cell]] = []
    for row in rows:
        ci = _written("{} - {}", row["ci_lo"], row["ci_hi"])
        cells.append([str(row["metric"]), _num(row["mean"]), _num(row["sd"]), ci, str(row["n"])])
    return fit_table(cols, cells, title=f"{name}: {reps} replications (root seed {root_seed})")


def _written(template: str, *values: float | str | int) -> Num:
    """``template`` filled with the figures written in full, and abbreviated."""
    cells = [_num(v) for v in values]
    full = [c if isinstance(c, str) else c.full for c in cells]
    return Num(template.format(*full), template.format(*(c if isinstance(c, str) else c.short for c in cells)))


def sweep_table(
    name: str,
    root_seed: int,
    reps: int,
    keys: list[str],
    points: list[dict[str, float | str]],
    metrics: tuple[str, ...],
) -> Fit:
    """Swept values against each metric's mean and 95% CI.

    As many metrics as the width holds go side by side, names and intervals whole; the rest
    follow in further tables, each repeating the swept keys. Names wrap after their dots and
    underscores only where one metric beside the keys would not fit whole.
    """
    cols = [Col(key, "left", wrap=True, breaks="._") for key in keys]
    cols += [Col(f"{metric}\nmean [95% CI]", wrap=True, breaks="_", loose=True) for metric in metrics]
    rows: list[list[Cell]] = []
    for point in points:
        row: list[Cell] = [str(point[k]) for k in keys]
        for m in metrics:
            row.append(_written("{}\n[{}, {}]", *(point.get(f"{m}_{k}", math.nan) for k in ("mean", "ci_lo", "ci_hi"))))
        rows.append(row)
    title = f"{name}: sweep, {reps} replications per point (root seed {root_seed})"
    return fit_table(cols, rows, title=title, keys=len(keys), unit="metrics")


def reach_band_charts(bands: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], width: int = 100) -> list[Fit]:
    """One chart per featured creator: the median video's reach, p10-p90 across replications."""
    charts = []
    for name, (p10, p50, p90) in bands.items():
        hours = np.arange(p50.size)
        curves = [("p90", hours, p90), ("median", hours, p50), ("p10", hours, p10)]
        charts.append(fitted_chart(curves, widest=width, title=f"{name}: median video's reach, p10-p90 band"))
    return charts


def render_comparison(heading: str, sentences: list[str], note: str) -> Fit:
    """Compare's answer: a heading, one sentence per metric, and what the p-values were adjusted over."""
    return wrapped("\n".join([heading, *sentences, note]), indent=4)
