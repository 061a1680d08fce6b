"""The creator-facing terminal report, built from a RunResult only."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tiktok_sim.metrics import calibration, figures_of, funnel
from tiktok_sim.model.exposure import GATE_NAMES, RATE_COLUMNS
from tiktok_sim.report.bottleneck import bottleneck
from tiktok_sim.report.charts import reach_chart
from tiktok_sim.results import RunResult

TOP_VIDEOS = 10
TOP_CREATORS = 10
CURVES_PER_CHART = 8


def render_report(result: RunResult, width: int = 100, featured: list[int] | None = None) -> Group:
    """Every section of the report, in reading order.

    Args:
        result: the run.
        width: the width charts are drawn at.
        featured: the creators given a section of their own (default: the scenario's featured ones).
    """
    parts: list[RenderableType] = [header(result), funnel_table(result), top_videos(result), creators_table(result)]
    chosen = np.flatnonzero(result.creators_table["featured"]).tolist() if featured is None else featured
    for cid in chosen:
        parts.append(featured_section(result, int(cid), width))
    parts += [viewers_table(result), calibration_table(result)]
    return Group(*parts)


def header(result: RunResult) -> Panel:
    """Scenario, seed, population and speed."""
    rate = result.impressions / result.runtime_s if result.runtime_s else 0.0
    text = Text.assemble(
        ("scenario ", "dim"), (result.scenario.name, "bold"),
        ("   seed ", "dim"), str(result.seed),
        ("   users ", "dim"), f"{result.users:,}",
        ("   creators ", "dim"), f"{result.creators:,}",
        ("   videos ", "dim"), f"{result.n_videos:,}",
        ("\nimpressions ", "dim"), f"{result.impressions:,}",
        ("   runtime ", "dim"), f"{result.runtime_s:.1f} s",
        ("   speed ", "dim"), f"{rate:,.0f} impressions/s",
        ("   unfilled slots ", "dim"), f"{result.unfilled_slots:,}",
    )  # fmt: skip
    return Panel(text, title="tiktok-sim", title_align="left")


def funnel_table(result: RunResult) -> Table:
    """Entered, passed and pass rate per stage, median stage rates, and the gate most often failed."""
    table = Table(title="Funnel: who climbs the ladder", title_justify="left")
    for col in ("stage", "pool", "entered", "passed", "pass rate", "completion", "like", "comment", "share",
                "most failed gate"):  # fmt: skip
        # medians of the stage's per-video rates
        table.add_column(col, justify="left" if col == "most failed gate" else "right")
    st = result.stages
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
            code, count = failed.most_common(1)[0]
            worst = f"{GATE_NAMES[code]} ({count:,})"
        rate = f"{row['passed'] / row['entered']:.0%}" if row["entered"] else "-"
        table.add_row(
            str(s), f"{row['pool_size']:,}", f"{row['entered']:,}", f"{row['passed']:,}", rate, *medians, worst
        )
    return table


def top_videos(result: RunResult) -> Table:
    """The most viewed videos."""
    v = result.videos
    table = Table(title=f"Top {TOP_VIDEOS} videos", title_justify="left")
    for col in ("video", "creator", "topic", "length", "stage", "views", "completion", "like", "stop reason"):
        table.add_column(col, justify="left" if col in ("creator", "topic", "stop reason") else "right")
    for i in np.argsort(-v["views"], kind="stable")[:TOP_VIDEOS]:
        views = max(int(v["views"][i]), 1)
        table.add_row(
            str(v["video_id"][i]), str(v["creator_name"][i]), str(v["topic"][i]), f"{v['length_s'][i]:.0f}s",
            str(v["stage_reached"][i]), f"{v['views'][i]:,}", f"{v['completions'][i] / views:.0%}",
            f"{v['likes'][i] / views:.1%}", str(v["stop_reason"][i]),
        )  # fmt: skip
    return table


def creators_table(result: RunResult) -> Table:
    """Featured creators and the most viewed others."""
    c = result.creators_table
    table = Table(title="Creators", title_justify="left")
    for col in ("creator", "featured", "followers", "gained", "videos", "views", "median views/video"):
        table.add_column(col, justify="left" if col == "creator" else "right")
    order = np.argsort(-c["views"], kind="stable")
    chosen = list(dict.fromkeys([*np.flatnonzero(c["featured"]).tolist(), *order[:TOP_CREATORS].tolist()]))
    for i in chosen:
        mine = result.videos["views"][result.videos["creator_id"] == i]
        table.add_row(
            str(c["name"][i]), "yes" if c["featured"][i] else "", f"{c['initial_followers'][i]:,}",
            f"{c['followers_gained'][i]:,}", f"{c['videos'][i]:,}", f"{c['views'][i]:,}",
            f"{np.median(mine):,.0f}" if mine.size else "-",
        )  # fmt: skip
    return table


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
        parts.append(reach_chart(curves, width=width - 6, title=f"{name}: reach of top videos"))

    videos = Table(show_edge=False, box=None, pad_edge=False)
    for col in ("video", "uploaded (h)", "length", "stage", "views", "completion", "like", "stop reason"):
        videos.add_column(col, justify="left" if col == "stop reason" else "right")
    for i in mine:
        views = max(int(v["views"][i]), 1)
        videos.add_row(
            f"#{i}", f"{v['upload_min'][i] / 60:.1f}", f"{v['length_s'][i]:.0f}s", str(v["stage_reached"][i]),
            f"{v['views'][i]:,}", f"{v['completions'][i] / views:.0%}", f"{v['likes'][i] / views:.1%}",
            str(v["stop_reason"][i]),
        )  # fmt: skip
    parts.append(videos)
    parts.append(Text("Figures: ", style="bold") + Text(_figures(figures_of(result, creator_id))))
    parts.append(Text("Bottleneck: ", style="bold") + Text(bottleneck(result, mine)))
    parts.append(Text(cohort_comparison(result, creator_id, mine)))
    return Panel(Group(*parts), title=f"Featured: {name}", title_align="left")


def _figures(f: dict[str, float]) -> str:
    """'3 videos; passed pool 0: 33%; reached pool 1: 33%, pool 2: 0%; views mean 640, median 300; ...'."""
    reach = []
    for key, share in f.items():
        if key.startswith("reach_pool_"):
            reach.append(f"pool {key.removeprefix('reach_pool_')}: {share:.0%}")
            if not share > 0:
                break  # no video got further
    passed = f["pass_rate_stage_0"]
    return (
        f"{f['videos']:.0f} videos; passed pool 0: {'-' if math.isnan(passed) else f'{passed:.0%}'}; "
        f"reached {', '.join(reach) or 'no higher pool'}; views mean {f['views_mean']:,.0f}, "
        f"median {f['views_median']:,.0f}; {f['views_per_follower']:.2f} views per follower; "
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


def viewers_table(result: RunResult) -> Table:
    """The user side: how fast cold-start feeds personalize, how narrow they get, what viewers push back on."""
    v = result.viewers
    table = Table(title="Viewers: personalization and filter bubble", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = (
        ("cold-start feeds: median videos to personalize / share personalized",
         f"{_shown(v.get('median_videos_to_personalization'), ',.0f')} / {_shown(v.get('personalized_share'), '.0%')}"),
        ("feed topic entropy (bits), start -> end", _start_to_end(v.get("feed_topic_entropy_bits"), ".2f")),
        ("impressions on true top-3 topics, start -> end", _start_to_end(v.get("top3_interest_share"), ".1%")),
        ("exploring impressions", _shown(v.get("exploration_share"), ".1%")),
        ("impressions in a language the viewer does not speak", _shown(v.get("other_language_share"), ".1%")),
        ("hides / reports per 1,000 impressions",
         f"{_shown(v.get('hides_per_1000'), '.2f')} / {_shown(v.get('reports_per_1000'), '.2f')}"),
    )  # fmt: skip
    for label, value in rows:
        table.add_row(label, value)
    return table


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


def calibration_table(result: RunResult) -> Table:
    """Simulated figures next to the published ones."""
    cal = calibration(result)
    table = Table(title="Calibration against published figures", title_justify="left")
    for col in ("figure", "simulated", "published", "source"):
        table.add_column(col)
    for key, (label, published, source) in PUBLISHED.items():
        value = cal[key]
        shown = "-" if value is None else f"{value:.1%}" if "%" in published else f"{value:,.3g}"
        table.add_row(label, shown, published, source)
    length = cal["video_length_s"]
    if length["median"] is not None:
        table.add_row(
            "video length median / mean (s)", f"{length['median']:.1f} / {length['mean']:.1f}", "9.6 / 14.6", "KuaiRec"
        )
    curve = cal["cold_start_affinity_by_25_views"]
    if curve and np.isfinite(curve[0]) and np.isfinite(curve[-1]):
        table.add_row("cold-start feed affinity, views 0-25 -> 175-200", f"{curve[0]:.2f} -> {curve[-1]:.2f}",
                      "rises within ~200", "Baumann et al. 2025")  # fmt: skip
    return table
