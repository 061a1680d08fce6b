"""The calibration table: every published figure beside its simulated mean, interval, band and verdict."""

from __future__ import annotations

import math

from rich.text import Text

from tiktok_sim.calibrate import Figure, Verdict
from tiktok_sim.report.layout import Cell, Col, Fit, fit_table


def _shown(figure: Figure, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.1%}" if figure.percent else f"{value:,.3g}"


def band(figure: Figure) -> str:
    """The tolerance band as text: "0.88-0.97", "30.0%-50.0%", ">= 1.2"."""
    if math.isinf(figure.high):
        return f">= {_shown(figure, figure.low)}"
    return f"{_shown(figure, figure.low)}-{_shown(figure, figure.high)}"


def calibration_table(name: str, reps: int, root: int, verdicts: list[Verdict]) -> Fit:
    """One row per figure: simulated mean [95% CI], published value, tolerance band, ok/off and source."""
    off = sum(not v.ok for v in verdicts)
    cols = [Col("figure", "left", wrap=True, give=0.5), Col("simulated [95% CI]", wrap=True, give=0.5),
            Col("published", "left", wrap=True), Col("tolerance", "left"), Col("", "left"),
            Col("source", "left", wrap=True)]  # fmt: skip
    rows: list[list[Cell]] = []
    for v in verdicts:
        interval = f" [{_shown(v.figure, v.ci_low)}, {_shown(v.figure, v.ci_high)}]" if v.n > 1 else ""
        verdict = Text("ok", style="green") if v.ok else Text("off", style="bold red")
        rows.append([v.figure.label, _shown(v.figure, v.mean) + interval, v.figure.published, band(v.figure), verdict,
                     v.figure.source])  # fmt: skip
    return fit_table(cols, rows, title=f"Calibration of {name}: {reps} replications, root seed {root}",
                     caption=f"{len(verdicts) - off} of {len(verdicts)} figures within tolerance")  # fmt: skip


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
