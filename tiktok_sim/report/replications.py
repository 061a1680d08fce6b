"""The replications table: each key metric's mean, sd and 95% confidence interval."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table
from rich.text import Text

from tiktok_sim.report.charts import reach_chart


def _fmt(value: float | str | int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"


def replications_table(name: str, root_seed: int, reps: int, rows: list[dict[str, float | str | int]]) -> Table:
    """A Rich table of metric, mean, sd, 95% CI and n."""
    table = Table(title=f"{name}: {reps} replications (root seed {root_seed})", title_justify="left")
    for col in ("metric", "mean", "sd", "95% CI", "n"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in rows:
        ci = f"{_fmt(row['ci_lo'])} - {_fmt(row['ci_hi'])}"
        table.add_row(str(row["metric"]), _fmt(row["mean"]), _fmt(row["sd"]), ci, str(row["n"]))
    return table


def sweep_table(
    name: str,
    root_seed: int,
    reps: int,
    keys: list[str],
    points: list[dict[str, float | str]],
    metrics: tuple[str, ...],
) -> Table:
    """Swept values against each metric's mean and 95% CI."""
    table = Table(title=f"{name}: sweep, {reps} replications per point (root seed {root_seed})", title_justify="left")
    for key in keys:
        table.add_column(key.replace(".", ".\n"))  # keys are long, values short: one part per line
    for metric in metrics:
        table.add_column(f"{metric}\nmean [95% CI]", justify="right", overflow="fold")
    for point in points:
        cells = [
            f"{_fmt(point.get(f'{m}_mean', math.nan))}\n[{_fmt(point.get(f'{m}_ci_lo', math.nan))}, "
            f"{_fmt(point.get(f'{m}_ci_hi', math.nan))}]"
            for m in metrics
        ]
        table.add_row(*(str(point[k]) for k in keys), *cells)
    return table


def reach_band_charts(bands: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], width: int = 100) -> list[Text]:
    """One chart per featured creator: the median video's reach, p10-p90 across replications."""
    charts = []
    for name, (p10, p50, p90) in bands.items():
        hours = np.arange(p50.size)
        curves = [("p90", hours, p90), ("median", hours, p50), ("p10", hours, p10)]
        charts.append(reach_chart(curves, width=width, title=f"{name}: median video's reach, p10-p90 band"))
    return charts
