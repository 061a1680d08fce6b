"""A video's journey as a terminal table: each pool, how it was served, every gate and the cohort."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from tiktok_sim.explain import Check, Journey, Visit
from tiktok_sim.model.exposure import RATE_COLUMNS
from tiktok_sim.report.layout import OPEN, Cell, Col, Num, abbreviate, fit_table, wrapped

NOTE = (
    "pool: the stage (the rung of the ladder, 0 the seed pool) and, in brackets, its audience size. open: when "
    "the video entered the pool, and how much of its window it used. Times are the run's clock, in UTC: day 1 "
    "starts with the run, day 0 holds the backlog uploaded before it. served: views against the pool size (~: "
    "still open). Cohort below: the share of the stage's evaluations whose value was below this one."
)


def explain_note() -> RenderableType:
    """What the journeys' columns and clock mean: printed once, after them."""
    return wrapped(NOTE, indent=0, style="dim")


def render_journey(journey: Journey) -> RenderableType:
    """Heading, one row per pool entered, and a closing sentence."""
    v = journey.video
    upload = float(v["upload_min"])
    heading = Text.assemble(
        (f"Video {v['video_id']}", "bold"),
        f" by {v['creator_name']}: {v['topic']}, {float(v['length_s']):.0f} s, hook {float(v['hook']):.2f}, "
        f"quality {float(v['quality']):.2f}{', trending sound' if v['trending_sound'] == '1' else ''}; "
        f"uploaded {_clock(upload)}. {int(v['views']):,} views in all; {_outcome(v['stop_reason'])}.",
    )
    cols = [Col("pool", wrap=True, give=0.5), Col("open", "left", wrap=True), Col("served", wrap=True, give=0.5),
            Col("ended", "left", wrap=True),
            Col("gates: value / threshold (cohort below)", "left", wrap=True, give=0.1)]  # fmt: skip
    rows: list[list[Cell]] = []
    for visit in journey.visits:
        rows.append([
            Num(f"{visit.stage} ({visit.pool:,})", f"{visit.stage} ({abbreviate(visit.pool)})"),
            _window(visit),
            Num(f"{'~' if visit.evaluated_min is None else ''}{visit.views:,} / {visit.pool:,}",
                f"{'~' if visit.evaluated_min is None else ''}{abbreviate(visit.views)} / {abbreviate(visit.pool)}"),
            visit.ended,
            "\n".join(_check(c) for c in visit.checks) or "-",
        ])  # fmt: skip
    return Group(heading, fit_table(cols, rows, style=OPEN), Text(_verdict(journey)), wrapped(_who(journey)), Text(""))


def _who(journey: Journey) -> str:
    """Who saw it, by source, language, region and time of day, with each group's completion."""
    if not journey.audience:
        return "Who saw it: recorded for featured creators' videos only."
    lines = []
    for dimension, rows in journey.audience.items():
        total = sum(views for _, views, _ in rows) or 1
        parts = [f"{value} {views / total:.0%} ({done / views:.0%} completed)" for value, views, done in rows if views]
        lines.append(f"  {dimension}: " + ", ".join(parts))
    return "Who saw it (share of views, and how many finished it):\n" + "\n".join(lines)


def _clock(minute: float) -> str:
    """'day 2 19:05' for a minute since the run started (day 0 is the backlog before it)."""
    day, rest = divmod(int(minute), 1440)
    return f"day {day + 1} {rest // 60:02d}:{rest % 60:02d}"


def _window(visit: Visit) -> str:
    if visit.evaluated_min is None:
        return f"{_clock(visit.entered_min)}, {visit.window_min / 60:g} h window"
    used = (visit.evaluated_min - visit.entered_min) / 60
    return f"{_clock(visit.entered_min)}, {used:.1f} of {visit.window_min / 60:g} h"


def _fmt(gate: str, value: float) -> str:
    return f"{value:.1%}" if gate in RATE_COLUMNS else f"{value:.3g}"


def _check(check: Check) -> str:
    mark = "met" if check.met else "MISSED"
    need = "warming up" if check.threshold is None else _fmt(check.gate, check.threshold)
    return f"{mark:6} {check.gate} {_fmt(check.gate, check.value)} / {need} ({check.cohort_below:.0%})"


def _outcome(reason: str) -> str:
    kind, _, gate = reason.partition(":")
    return {
        "gate": f"stopped on the {gate} gate after a fully served pool",
        "short_served": f"stopped on the {gate} gate after its window ran out before the pool was served",
        "early_stop": f"stopped early: its {gate} rate was clearly below the gate before the pool was served",
        "no_audience": "stopped: nobody was served in the window",
        "ladder_complete": "completed the ladder",
        "in_progress": "still climbing when the run ended",
        "in_review": "in review when the run ended",
        "removed": "removed by review",
    }.get(kind, reason)


def _verdict(journey: Journey) -> str:
    """What the last evaluation says: every gate missed, and whether the sample was short."""
    judged = [v for v in journey.visits if v.passed is not None]
    if not judged or judged[-1].passed:
        return "Every evaluation it had, it passed." if judged else "It was never evaluated."
    last = judged[-1]
    missed = [c for c in last.checks if not c.met]
    if not missed:
        return f"Pool {last.stage} had no audience in its window."
    gaps = "; ".join(f"{c.gate} {_fmt(c.gate, c.value)} against {_fmt(c.gate, c.threshold or 0)}" for c in missed)
    short = ""
    if last.ended.startswith("stopped early"):
        short = f" It was stopped after {last.views:,} of {last.pool:,} views: that was enough to be sure."
    elif 0 < last.views < last.pool:
        short = f" Its pool was short-served ({last.views:,} of {last.pool:,} views), so these rates rest on a"
        short += " smaller sample."
    return f"At pool {last.stage} it missed {len(missed)} gate{'s' * (len(missed) > 1)}: {gaps}.{short}"
