"""advise's answer as a table and a few plain sentences."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from tiktok_sim.advise import Advice, Effect
from tiktok_sim.report.layout import OPEN, Cell, Col, fit_table, wrapped

_UNITS = {"views_mean": "views per video", "views_median": "median views", "pass_rate_stage_0": "pool-0 pass rate",
          "reach_pool_1": "share reaching pool 1", "followers_gained": "followers gained"}  # fmt: skip


def _fmt(outcome: str, value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "-"
    if outcome in ("pass_rate_stage_0", "reach_pool_1"):
        return f"{value * 100:+.1f} pts" if signed else f"{value:.1%}"
    return f"{value:+,.1f}" if signed else f"{value:,.1f}"


def render_advice(advice: Advice) -> RenderableType:
    """The levers, best first, then what to do."""
    unit = _UNITS[advice.outcome]
    title = (f"Levers for {advice.creator}: effect on {unit} (base {_fmt(advice.outcome, advice.base)}; "
             f"{advice.reps} paired replications)")  # fmt: skip
    cols = [Col("lever", "left", wrap=True), Col("change", "left", wrap=True), Col("effect"),
            Col("95% CI", wrap=True, give=0.5), Col("Holm p"), Col("relieves", "left", wrap=True)]  # fmt: skip
    rows: list[list[Cell]] = []
    for effect in [*advice.effects, *([advice.combined] if advice.combined else [])]:
        rows.append([
            effect.lever.name, effect.lever.change, _fmt(advice.outcome, effect.mean, signed=True),
            f"{_fmt(advice.outcome, effect.lo, True)} to {_fmt(advice.outcome, effect.hi, True)}",
            f"{effect.p_holm:.3f}", effect.relieves or "-",
        ])  # fmt: skip
    return Group(fit_table(cols, rows, title=title, style=OPEN), Text(""), wrapped(summary_sentences(advice)))


def summary_sentences(advice: Advice) -> str:
    """What helps, what does not, and what the best levers do together."""
    unit = _UNITS[advice.outcome]
    helps = [e for e in advice.effects if e.helps]
    lines = []
    if helps:
        lines += [f"Do: {e.lever.name} ({e.lever.change}): {_fmt(advice.outcome, e.mean, True)} {unit}"
                  f"{', mostly by passing ' + e.relieves if e.relieves else ''}." for e in helps]  # fmt: skip
    else:
        alone = [e.lever.name for e in advice.effects if e.lo > 0]
        hint = f" ({', '.join(alone)}: above zero on its own 95% interval)" if alone else ""
        lines.append(f"No lever clearly raises {unit} once all {len(advice.effects)} are tested together "
                     f"(Holm, 5%){hint}: try more --reps, or a longer run.")  # fmt: skip
    hurts = [e for e in advice.effects if e.p_holm < 0.05 and e.mean < 0]
    if hurts:
        lines.append("Avoid: " + "; ".join(f"{e.lever.name} ({e.lever.change})" for e in hurts) + ".")
    if advice.combined:
        c = advice.combined
        lines.append(f"Together, {c.lever.name}: {_fmt(advice.outcome, c.mean, True)} {unit} "
                     f"(95% CI {_fmt(advice.outcome, c.lo, True)} to {_fmt(advice.outcome, c.hi, True)}).")  # fmt: skip
    lines.append(f"p-values are Holm-adjusted over {len(advice.effects)} levers.")
    return "\n".join(lines)


def advice_json(advice: Advice) -> dict[str, Any]:
    """The advice as plain data."""

    def row(e: Effect) -> dict[str, Any]:
        return {"lever": e.lever.name, "change": e.lever.change, "updates": e.lever.updates, "effect": e.mean,
                "ci_lo": e.lo, "ci_hi": e.hi, "p_holm": e.p_holm, "helps": e.helps, "relieves": e.relieves}  # fmt: skip

    return {
        "creator": advice.creator,
        "outcome": advice.outcome,
        "reps": advice.reps,
        "base": advice.base,
        "levers": [row(e) for e in advice.effects],
        "combined": row(advice.combined) if advice.combined else None,
    }
