"""The replications table: each key metric's mean, sd and 95% confidence interval."""

from __future__ import annotations

import math

from rich.table import Table


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
