"""The calibration table: every published figure beside its simulated mean, interval, band and verdict."""

from __future__ import annotations

import math

from rich.table import Table

from tiktok_sim.calibrate import Figure, Verdict


def _shown(figure: Figure, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.1%}" if figure.percent else f"{value:,.3g}"


def band(figure: Figure) -> str:
    """The tolerance band as text: "0.88-0.97", "30.0%-50.0%", ">= 1.2"."""
    if math.isinf(figure.high):
        return f">= {_shown(figure, figure.low)}"
    return f"{_shown(figure, figure.low)}-{_shown(figure, figure.high)}"


def calibration_table(name: str, reps: int, root: int, verdicts: list[Verdict]) -> Table:
    """One row per figure: simulated mean [95% CI], published value, tolerance band, ok/off and source."""
    off = sum(not v.ok for v in verdicts)
    table = Table(
        title=f"Calibration of {name}: {reps} replications, root seed {root}",
        title_justify="left",
        caption=f"{len(verdicts) - off} of {len(verdicts)} figures within tolerance",
        caption_justify="left",
    )
    table.add_column("figure", overflow="fold")
    table.add_column("simulated [95% CI]", justify="right")
    table.add_column("published")
    table.add_column("tolerance")
    table.add_column("", justify="center")
    table.add_column("source", overflow="fold")
    for v in verdicts:
        interval = f" [{_shown(v.figure, v.ci_low)}, {_shown(v.figure, v.ci_high)}]" if v.n > 1 else ""
        table.add_row(
            v.figure.label,
            _shown(v.figure, v.mean) + interval,
            v.figure.published,
            band(v.figure),
            "[green]ok[/]" if v.ok else "[bold red]off[/]",
            v.figure.source,
        )
    return table


def calibration_json(verdicts: list[Verdict]) -> list[dict[str, object]]:
    """The table as rows for ``--json``."""
    return [
        {
            "metric": v.figure.metric,
            "figure": v.figure.label,
            "mean": v.mean,
            "ci_lo": v.ci_low,
            "ci_hi": v.ci_high,
            "n": v.n,
            "published": v.figure.published,
            "low": v.figure.low,
            "high": v.figure.high if math.isfinite(v.figure.high) else None,
            "ok": v.ok,
            "source": v.figure.source,
        }
        for v in verdicts
    ]
