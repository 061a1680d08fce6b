"""The creator-facing terminal report, built from a RunResult only."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from tiktok_sim.metrics import calibration, figures_of, funnel
from tiktok_sim.model.exposure import GATE_NAMES, RATE_COLUMNS
from tiktok_sim.report.bottleneck import bottleneck
from tiktok_sim.report.charts import fitted_chart
from tiktok_sim.report.layout import PLAIN, Cell, Col, Fit, count, fit_table, wrapped
from tiktok_sim.results import RunResult
from tiktok_sim.scenario.schema import WEEKDAYS

TOP_VIDEOS = 10
TOP_CREATORS = 10
CURVES_PER_CHART = 8


def render_report(result: RunResult, width: int = 100, featured: list[int] | None = None) -> Group:
    """Every section of the report, in reading order.

    Args:
        result: the run.
        width: the widest charts are drawn (tables and charts fit the width they are printed at).
        featured: the creators given a section of their own (default: the scenario's featured ones).
    """
    parts: list[RenderableType] = [header(result), funnel_table(result), top_videos(result), creators_table(result)]
    chosen = np.flatnonzero(result.creators_table["featured"]).tolist() if featured is None else featured
    for cid in chosen:
        parts.append(featured_section(result, int(cid), width))
    parts += [viewers_table(result), calibration_table(result)]
    return Group(*parts)


def header(result: RunResult) -> Panel:
    """Scenario, seed, population and speed, and what an unfilled slot is."""
    rate = result.impressions / result.runtime_s if result.runtime_s else 0.0
    items = [
        ("scenario", result.scenario.name), ("seed", str(result.seed)), ("users", f"{result.users:,}"),
        ("creators", f"{result.creators:,}"), ("videos", f"{result.n_videos:,}"),
        ("impressions", f"{result.impressions:,}"), ("runtime", f"{result.runtime_s:.1f} s"),
        ("speed", f"{rate:,.0f} impressions/s"), ("unfilled slots", f"{result.unfilled_slots:,}"),
    ]  # fmt: skip
    requested = result.impressions + result.unfilled_slots
    share = f" ({result.unfilled_slots / requested:.1%} of all)" if requested else ""
    note = (
        f"unfilled slots: places in users' feeds{share} that no video could fill: every candidate drawn for "
        "one was already seen, out of its pool's quota, or ruled out by the viewer's controls or the feed's "
        "no-two-in-a-row rule."
    )
    return Panel(Group(Fit(lambda width: _items(items, width)), wrapped(note, style="dim")), title="tiktok-sim",
                 title_align="left")  # fmt: skip


def _items(items: list[tuple[str, str]], width: int) -> Text:
    """'label value' pairs three spaces apart, a new line rather than a pair split over two."""
    text, used = Text(), 0
    for i, (label, value) in enumerate(items):
        size = len(label) + 1 + len(value)
        if used and used + 3 + size > width:
            text.append("\n")
            used = 0
        elif used:
            text.append("   ")
            used += 3
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold" if i == 0 else "")
        used += size
    return text


FUNNEL_NOTE = (
    "stage k: the k-th rung of the ladder (0: the seed pool). pool: that rung's audience, the views a video is "
    "served before its gates judge it. Rates: the median video's, at that stage."
)


def funnel_table(result: RunResult) -> Fit:
    """Entered, passed and pass rate per stage, median stage rates, and the gate most often failed."""
    cols = [Col("stage"), Col("pool"), Col("entered"), Col("passed"), Col("pass rate"), Col("completion", drop=1),
            Col("like", drop=2), Col("comment", drop=4), Col("share", drop=3),
            Col("most failed gate", "left", wrap=True, give=0.3)]  # fmt: skip
    st = result.stages
    rows: list[list[Cell]] = []
    for row in funnel(result):
        s = row["stage"]
        at = st["stage"] == s if st else np.zeros(0, dtype=bool)
        views = np.maximum(st["views"][at], 1) if st else np.ones(0)
        medians = [
            f"{np.median(st[col][at] / views):.1%}" if st and at.any() else "-"
            for col in ("completions", "likes", "comments", "shares")
        ]
        failed = Counter(st["failed_gate"][at & (st["failed_gate"] >= 0)].tolist()) if st else Counter()
        worst = ""
        if failed:
            code, n = failed.most_common(1)[0]
            worst = f"{GATE_NAMES[code]} ({n:,})"
        rate = f"{row['passed'] / row['entered']:.0%}" if row["entered"] else "-"
        sizes = [count(row[k]) for k in ("pool_size", "entered", "passed")]
        rows.append([str(s), *sizes, rate, *medians, worst])
    return fit_table(cols, rows, title="Funnel: who climbs the ladder", caption=FUNNEL_NOTE)


def top_videos(result: RunResult) -> Fit:
    """The most viewed videos."""
    v = result.videos
    cols = [Col("video"), Col("creator", "left", wrap=True), Col("topic", "left", wrap=True, drop=2),
            Col("length", drop=4), Col("stage"), Col("views"), Col("completion", drop=1), Col("like", drop=3),
            Col("stop reason", "left", wrap=True, breaks=":")]  # fmt: skip
    rows: list[list[Cell]] = []
    for i in np.argsort(-v["views"], kind="stable")[:TOP_VIDEOS]:
        views = max(int(v["views"][i]), 1)
        rows.append([
            str(v["video_id"][i]), str(v["creator_name"][i]), str(v["topic"][i]), f"{v['length_s'][i]:.0f}s",
            str(v["stage_reached"][i]), count(int(v["views"][i])), f"{v['completions'][i] / views:.0%}",
            f"{v['likes'][i] / views:.1%}", str(v["stop_reason"][i]),
        ])  # fmt: skip
    return fit_table(cols, rows, title=f"Top {TOP_VIDEOS} videos")


def creators_table(result: RunResult) -> Fit:
    """Featured creators and the most viewed others."""
    c = result.creators_table
    cols = [Col("creator", "left", wrap=True), Col("featured", drop=2), Col("followers"), Col("gained", drop=1),
            Col("videos"), Col("views"), Col("median views/video", breaks="/")]  # fmt: skip
    order = np.argsort(-c["views"], kind="stable")
    chosen = list(dict.fromkeys([*np.flatnonzero(c["featured"]).tolist(), *order[:TOP_CREATORS].tolist()]))
    rows: list[list[Cell]] = []
    for i in chosen:
        mine = result.videos["views"][result.videos["creator_id"] == i]
        rows.append([
            str(c["name"][i]), "yes" if c["featured"][i] else "", count(int(c["initial_followers"][i])),
            count(int(c["followers_gained"][i])), count(int(c["videos"][i])), count(int(c["views"][i])),
            count(float(np.median(mine))) if mine.size else "-",
        ])  # fmt: skip
    return fit_table(cols, rows, title="Creators")


def featured_section(result: RunResult, creator_id: int, width: int) -> Panel:
    """Reach curves, stage per video, the bottleneck in words, and the cohort comparison."""
    v = result.videos
    name = str(result.creators_table["name"][creator_id])
    mine = np.flatnonzero(v["creator_id"] == creator_id)
    parts: list[RenderableType] = []
    curves = []
    reach = result.reach
    for vid in mine[np.argsort(-v["views"][mine], kind="stable")][:CURVES_PER_CHART]:
        rows = reach["video_id"] == vid
        if rows.any():
            curves.append((f"#{vid}", reach["hour"][rows], reach["views"][rows]))
    if curves:
        parts.append(fitted_chart(curves, widest=width - 6, title=f"{name}: reach of top videos"))

    zone, offset = creator_zone(result, creator_id)
    clock = "local time" if offset is not None else "time (UTC)"
    cols = [Col("video"), Col("uploaded (h)"), Col(clock), Col("length", drop=3), Col("stage"), Col("views"),
            Col("completion", drop=1), Col("like", drop=2),
            Col("stop reason", "left", wrap=True, breaks=":")]  # fmt: skip
    table: list[list[Cell]] = []
    for i in mine:
        views = max(int(v["views"][i]), 1)
        table.append([
            f"#{i}", f"{v['upload_min'][i] / 60:.1f}", local_clock(float(v["upload_min"][i]), offset or 0),
            f"{v['length_s'][i]:.0f}s", str(v["stage_reached"][i]), count(int(v["views"][i])),
            f"{v['completions'][i] / views:.0%}", f"{v['likes'][i] / views:.1%}", str(v["stop_reason"][i]),
        ])  # fmt: skip
    parts.append(fit_table(cols, table, style=PLAIN))
    parts.append(wrapped(featured_note(name, zone, offset), style="dim"))
    parts.append(Text("Figures: ", style="bold") + Text(_figures(figures_of(result, creator_id))))
    parts.append(Text("Bottleneck: ", style="bold") + Text(bottleneck(result, mine)))
    parts.append(Text(cohort_comparison(result, creator_id, mine)))
    return Panel(Group(*parts), title=Text(f"Featured: {name}"), title_align="left")  # a name is not markup


def creator_zone(result: RunResult, creator_id: int) -> tuple[str, int | None]:
    """A featured creator's region and its UTC offset in minutes; ("", None) for a creator whose region is not kept.

    A featured creator lives in its ``region``, else the first; a synthetic creator's region is
    drawn in the run and not written to the results.
    """
    name = str(result.creators_table["name"][creator_id])
    regions = result.scenario.users.regions
    for f in result.scenario.featured:
        if f.name == name:
            region = next((r for r in regions if r.name == f.region), regions[0])
            return region.name, round(region.utc_offset * 60)
    kept = result.creators_table.get("region")  # in results of schema version 2 and later
    found = next((r for r in regions if kept is not None and r.name == str(kept[creator_id])), None)
    return ("", None) if found is None else (found.name, round(found.utc_offset * 60))


def local_clock(minute: float, offset: int) -> str:
    """'Sat 19:24': the weekday and time ``offset`` minutes ahead of a run minute (minute 0 is Monday 00:00 UTC)."""
    local = math.floor(minute) + offset
    day, rest = divmod(local, 1440)
    return f"{WEEKDAYS[day % 7].title()} {rest // 60:02d}:{rest % 60:02d}"


def _utc(offset: int) -> str:
    hours, minutes = divmod(abs(offset), 60)
    sign = "+" if offset >= 0 else "-"
    return "UTC" if not offset else f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def featured_note(name: str, zone: str, offset: int | None) -> str:
    """What the featured table's times and stages mean."""
    clock = (
        f"local time: {name}'s clock ({zone}, {_utc(offset)})"
        if offset is not None
        else f"time (UTC): {name}'s region is not kept in the results"
    )
    return (
        "uploaded (h): hours after the run started (negative: a backlog upload, from before it); "
        f"{clock}; stage: the highest rung reached (0: the seed pool)."
    )


def _figures(f: dict[str, float]) -> str:
    """'3 videos; passed pool 0: 33%; reached pool 1: 33%, pool 2: 0%; views mean 640, median 300; ...'."""

    def shown(value: float, spec: str) -> str:
        return "-" if math.isnan(value) else format(value, spec)  # a creator without videos has no rates

    reach = []
    for key, share in f.items():
        if key.startswith("reach_pool_"):
            reach.append(f"pool {key.removeprefix('reach_pool_')}: {shown(share, '.0%')}")
            if not share > 0:
                break  # no video got further
    return (
        f"{f['videos']:.0f} videos; passed pool 0: {shown(f['pass_rate_stage_0'], '.0%')}; "
        f"reached {', '.join(reach) or 'no higher pool'}; views mean {shown(f['views_mean'], ',.0f')}, "
        f"median {shown(f['views_median'], ',.0f')}; {shown(f['views_per_follower'], '.2f')} views per follower; "
        f"{f['followers_gained']:+,.0f} followers."
    )


def cohort_comparison(result: RunResult, creator_id: int, mine: np.ndarray) -> str:
    """The creator's median views and stage against other creators' videos on the same topics."""
    v = result.videos
    topics = set(v["topic"][mine].tolist())
    cohort = (v["creator_id"] != creator_id) & np.isin(v["topic"], list(topics)) & (v["stage_reached"] >= 0)
    if not mine.size or not cohort.any():
        return "Cohort: no comparable videos."
    own, other = float(np.median(v["views"][mine])), float(np.median(v["views"][cohort]))
    ratio = f" ({own / other:.1f}x)" if other else ""
    own_rates, other_rates = _rates(v, mine), _rates(v, np.flatnonzero(cohort))
    rates = ", ".join(f"{k} {own_rates[k]:.1%} vs {other_rates[k]:.1%}" for k in ("completion", "like", "share"))
    return (
        f"Cohort ({int(cohort.sum()):,} videos on {', '.join(sorted(topics))}): median views {own:,.0f} vs "
        f"{other:,.0f}{ratio}; {rates}."
    )


def _rates(v: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, float]:
    views = max(int(v["views"][idx].sum()), 1)
    plural = {"completion": "completions", "like": "likes", "share": "shares"}
    return {k: float(v[col][idx].sum()) / views for k, col in plural.items() if k in RATE_COLUMNS}


def viewers_table(result: RunResult) -> Fit:
    """The user side: how fast cold-start feeds personalize, how narrow they get, what viewers push back on."""
    v = result.viewers
    rows: list[list[Cell]] = [
        ["cold-start feeds: median videos to personalize / share personalized",
         f"{_shown(v.get('median_videos_to_personalization'), ',.0f')} / {_shown(v.get('personalized_share'), '.0%')}"],
        ["feed topic entropy (bits), start -> end", _start_to_end(v.get("feed_topic_entropy_bits"), ".2f")],
        ["impressions on true top-3 topics, start -> end", _start_to_end(v.get("top3_interest_share"), ".1%")],
        ["exploring impressions", _shown(v.get("exploration_share"), ".1%")],
        ["impressions in a language the viewer does not speak", _shown(v.get("other_language_share"), ".1%")],
        ["hides / reports per 1,000 impressions",
         f"{_shown(v.get('hides_per_1000'), '.2f')} / {_shown(v.get('reports_per_1000'), '.2f')}"],
    ]  # fmt: skip
    return fit_table([Col("figure", "left", wrap=True), Col("value")], rows,
                     title="Viewers: personalization and filter bubble")  # fmt: skip


def _start_to_end(by_period: dict[str, float | None] | None, spec: str) -> str:
    """E.g. "3.33 -> 3.38": a per-period figure at the run's first and last third."""
    periods = by_period or {}
    return f"{_shown(periods.get('start'), spec)} -> {_shown(periods.get('end'), spec)}"


def _shown(value: float | None, spec: str) -> str:
    """``value`` formatted, or "-" for a figure without data (a run too short or too small to tell)."""
    return "-" if value is None else format(value, spec)


PUBLISHED = {
    "views_gini": ("Gini of views per video", "0.93", "tiktokodds.com (2020)"),
    "engagement_per_view_median": ("(likes+comments+shares)/views, median", "3.4%", "Rival IQ 2024"),
    "plays_per_user_day_mean": ("plays per user per day, mean", "66.5", "KuaiRec"),
    "exploit_share_first_200": ("early impressions on a top-3 interest", "30-50%", "Vombatkere et al. 2024"),
}


def calibration_table(result: RunResult) -> Fit:
    """Simulated figures next to the published ones."""
    cal = calibration(result)
    rows: list[list[Cell]] = []
    for key, (label, published, source) in PUBLISHED.items():
        value = cal[key]
        shown = "-" if value is None else f"{value:.1%}" if "%" in published else f"{value:,.3g}"
        rows.append([label, shown, published, source])
    length = cal["video_length_s"]
    if length["median"] is not None:
        rows.append(["video length median / mean (s)", f"{length['median']:.1f} / {length['mean']:.1f}", "9.6 / 14.6",
                     "KuaiRec"])  # fmt: skip
    curve = cal["cold_start_affinity_by_25_views"]
    if curve and np.isfinite(curve[0]) and np.isfinite(curve[-1]):
        rows.append(["cold-start feed affinity, views 0-25 -> 175-200", f"{curve[0]:.2f} -> {curve[-1]:.2f}",
                     "rises within ~200", "Baumann et al. 2025"])  # fmt: skip
    cols = [Col("figure", "left", wrap=True, breaks="/"), Col("simulated", "left"),
            Col("published", "left", wrap=True), Col("source", "left", wrap=True)]  # fmt: skip
    return fit_table(cols, rows, title="Calibration against published figures")
