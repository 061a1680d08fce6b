"""Derived measures: result tables, the funnel, inequality, reach curves, calibration figures."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tiktok_sim import __version__
from tiktok_sim.model.exposure import GATE_NAMES, check_names
from tiktok_sim.results import WATCH_BIN_WIDTH, RunResult
from tiktok_sim.scenario.loader import scenario_sha256
from tiktok_sim.scenario.schema import Stage
from tiktok_sim.world.catalog import ACTIONS, A, Status
from tiktok_sim.world.population import language_index

if TYPE_CHECKING:
    from tiktok_sim.engine import Engine

SCHEMA_VERSION = 2
"""The results' layout: 2 added videos.csv's creator columns, creators.csv's region and language, the top view
shares and an experiment's creators tables; ``check`` and ``report`` still read version 1."""
TOP_SHARES = (0.01, 0.04, 0.20)
VIEW_SHARES = {"top1_view_share": 0.01, "top10_view_share": 0.10}
"""Key figures: the share of all views taken by the top 1% and top 10% of videos (summary.json, experiments)."""
REACH_TOP = 100
RATE_OF = {"completion": "completions", "like": "likes", "comment": "comments", "share": "shares",
           "follow": "follows", "not_interested": "not_interested", "report": "reports"}  # fmt: skip
"""summary.json's per-impression rates and the video count each is the total of."""
STOP_KINDS = ("gate", "short_served", "early_stop")
"""How a pool that stopped a video closed: served, its window ran out, or clearly below a gate early."""
CREATOR_OF_VIDEO = {"followers": "initial_followers", "region": "region", "language": "language"}
"""videos.csv's columns about the video's creator -> the creators.csv column each repeats (followers: at the start)."""
VIDEO_COUNTS = ("views", "completions", "likes", "comments", "shares", "follows", "not_interested", "reports")


def stop_reasons(status: np.ndarray, stop_code: np.ndarray, short: np.ndarray, early: np.ndarray) -> np.ndarray:
    """(n,) str why each video is where it is on the ladder.

    A stop on a fully served pool reads ``gate:<gate>``, one after a window that ran out
    before the pool was served ``short_served:<gate>``, and one before the pool was served
    because the video was clearly below a gate ``early_stop:<gate>``.
    """
    kinds = {kind: np.array([f"{kind}:{g}" if g != "no_audience" else g for g in GATE_NAMES], dtype=object)
             for kind in STOP_KINDS}  # fmt: skip
    reason = np.full(status.size, "in_progress", dtype=object)
    reason[status == Status.REVIEW] = "in_review"
    reason[status == Status.COMPLETE] = "ladder_complete"
    reason[status == Status.REMOVED] = "removed"
    stopped = np.flatnonzero(status == Status.STOPPED)
    kind = np.where(early[stopped], "early_stop", np.where(short[stopped], "short_served", "gate"))
    for name, texts in kinds.items():
        mine = stopped[kind == name]
        reason[mine] = texts[stop_code[mine]]
    return reason


def missed_gates(n: int, gates: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) str every gate each video missed at its last evaluation, worst first ("like;completion")."""
    out = np.full(n, "", dtype=object)
    if not gates:
        return out
    vid, value, need = gates["video_id"], gates["value"], gates["threshold"]
    with np.errstate(divide="ignore", invalid="ignore"):
        shortfall = np.where(need > 0, value / need, 0.0)
    rows = last_misses(n, gates)
    rows = rows[np.lexsort((shortfall[rows], vid[rows]))]
    for v, g in zip(vid[rows].tolist(), gates["gate"][rows].tolist(), strict=True):
        out[v] = f"{out[v]};{GATE_NAMES[g]}" if out[v] else GATE_NAMES[g]
    return out


def last_misses(n: int, gates: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of the gate log where one of ``n`` videos missed a gate at its last evaluation."""
    vid, batch = gates["video_id"], gates["batch"]
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, vid, batch)
    return np.flatnonzero((batch == last[vid]) & (gates["value"] < gates["threshold"]))


def collect(engine: Engine) -> RunResult:
    """Turn an engine's final state into a :class:`RunResult`."""
    cat, cre, n = engine.catalog, engine.cre, len(engine.catalog)
    total, gates = cat.total[:n], engine.gate_log()
    videos: dict[str, np.ndarray] = {
        "video_id": np.arange(n),
        "creator_id": cat.creator[:n].astype(np.int64),
        "creator_name": np.array(cre.names, dtype=object)[cat.creator[:n]],
        "upload_min": cat.upload_min[:n],
        "eligible_min": cat.eligible_min[:n],
        "length_s": cat.length_s[:n],
        "topic": np.array(engine.scenario.topics, dtype=object)[cat.topic[:n]],
        "quality": cat.quality[:n],
        "hook": cat.hook[:n],
        "trending_sound": cat.trending[:n],
        "sound": cat.sound[:n].astype(np.int64),
        "spam": cat.spam[:n],
        "duplicate": cat.duplicate[:n],
        "sensitive": cat.sensitive[:n],
        "stage_reached": cat.stage[:n].astype(np.int64),
        **{name: total[:, A[name]] for name in VIDEO_COUNTS},
        "stop_reason": stop_reasons(cat.status[:n], cat.stop_code[:n], cat.short_stop[:n], cat.early_stop[:n]),
        "missed_gates": missed_gates(n, gates),
    }
    views_by_creator = np.bincount(cat.creator[:n], weights=total[:, A["views"]], minlength=cre.count)
    creators = {
        "creator_id": np.arange(cre.count),
        "name": np.array(cre.names, dtype=object),
        "featured": cre.featured,
        "initial_followers": engine.follows.initial,
        "followers_gained": engine.follows.gained,
        "videos": np.bincount(cat.creator[:n], minlength=cre.count),
        "views": views_by_creator.astype(np.int64),
        "region": np.array([r.name for r in engine.scenario.users.regions], dtype=object)[cre.region],
        "language": np.array(language_index(engine.scenario), dtype=object)[cre.language],
    }
    videos |= {column: creators[source][videos["creator_id"]] for column, source in CREATOR_OF_VIDEO.items()}
    exploit = engine.exploit_hits / engine.exploit_total if engine.exploit_total else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = engine.early_affinity / engine.early_count
    return RunResult(
        scenario=engine.scenario,
        seed=engine.seed,
        users=engine.pop.count,
        creators=cre.count,
        impressions=int(engine.totals[A["views"]]),
        unfilled_slots=engine.unfilled,
        videos=videos,
        creators_table=creators,
        stages=engine.stage_log(),
        gates=gates,
        audience=engine.audience.table(),
        reach=_reach_table(engine, videos),
        action_totals={name: int(engine.totals[A[name]]) for name in ACTIONS},
        watch_hist=engine.watch_hist,
        watch_sum=engine.watch_sum,
        personalization=curve,
        exploit_share=exploit,
        viewers=engine.viewers.summary(
            ~engine.pop.picked, engine.recommender.controls.hides, int(engine.totals[A["reports"]])
        ),
        engine={
            "seen_filter_false_positive_rate": engine.recommender.seen.false_positive_rate(),
            "seen_filter_mb": engine.recommender.seen.nbytes / 1e6,
            "unfilled_slots": engine.unfilled,
        },
        impressions_log=engine.impressions_log(),
    )


def _reach_table(engine: Engine, videos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cumulative views per hour since upload, for featured creators' videos and the top 100."""
    featured = np.flatnonzero(engine.cre.featured[videos["creator_id"]])
    top = np.argsort(-videos["views"], kind="stable")[:REACH_TOP]
    chosen = np.union1d(featured, top).astype(np.int64)
    chosen = chosen[videos["views"][chosen] > 0]
    vid, hour, views = engine.reach_log(chosen)
    out_v, out_h, out_c = [], [], []
    for v in chosen:
        mine = vid == v
        per_hour = np.bincount(hour[mine], weights=views[mine]).astype(np.int64)
        out_v.append(np.full(per_hour.size, v))
        out_h.append(np.arange(per_hour.size))
        out_c.append(np.cumsum(per_hour))
    if not out_v:
        empty = np.empty(0, dtype=np.int64)
        return {"video_id": empty, "hour": empty, "views": empty}
    return {"video_id": np.concatenate(out_v), "hour": np.concatenate(out_h), "views": np.concatenate(out_c)}


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, 1 = one takes all)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() == 0:
        return 0.0
    ranks = np.arange(1, x.size + 1)
    return float((2 * (ranks * x).sum() / (x.size * x.sum())) - (x.size + 1) / x.size)


def top_share(values: np.ndarray, share: float) -> float:
    """Share of the total taken by the top ``share`` of items (at least one item)."""
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if x.sum() == 0:
        return 0.0
    k = max(1, int(np.ceil(share * x.size)))
    return float(x[:k].sum() / x.sum())


def watch_quantile(hist: np.ndarray, q: float) -> float:
    """Quantile of the watch ratio from its 0.01-wide histogram (bin midpoint)."""
    if hist.sum() == 0:
        return float("nan")
    idx = int(np.searchsorted(np.cumsum(hist), q * hist.sum()))
    return round((idx + 0.5) * WATCH_BIN_WIDTH, 3)


def funnel(result: RunResult) -> list[dict[str, int]]:
    """Per stage: pool size, videos that entered it, and videos that passed its gates."""
    reached, complete = result.videos["stage_reached"], result.videos["stop_reason"] == "ladder_complete"
    ladder = result.scenario.ladder
    rows = []
    for s, stage in enumerate(ladder):
        entered, passed = climbed(reached, complete, s, len(ladder))
        rows.append({"stage": s, "pool_size": stage.pool, "entered": entered, "passed": passed})
    return rows


def climbed(reached: np.ndarray, complete: np.ndarray, stage: int, stages: int) -> tuple[int, int]:
    """(entered, passed) of ``stage`` among videos that reached ``reached``.

    A stage is entered by every video that reached it, and passed by those that went further
    or, at the last of ``stages``, completed the ladder.
    """
    entered = int((reached >= stage).sum())
    passed = int(complete.sum()) if stage == stages - 1 else int((reached > stage).sum())
    return entered, passed


def creator_figures(
    views: np.ndarray,
    reached: np.ndarray,
    complete: np.ndarray,
    missed: np.ndarray,
    ladder: list[Stage],
    follows: tuple[int, int],
) -> dict[str, float]:
    """One creator's headline figures: what a creator asks of their own videos.

    Args:
        views: (n,) views of each of the creator's videos.
        reached: (n,) highest stage each entered (-1: never left review).
        complete: (n,) bool, each completed the ladder.
        missed: (n,) str the gates each missed at its last evaluation ("like;completion").
        ladder: the stages.
        follows: followers at the start of the run, and gained during it.

    Returns:
        ``videos``; ``pass_rate_stage_<k>`` (passed / entered, NaN if none entered);
        ``reach_pool_<k>`` for k >= 1 (share of the videos that entered pool k); mean and
        median views; views per starting follower; followers gained; ``missed_<gate>``, the
        share of videos stopped (or judged last) below each gate the ladder has.
    """
    n, stages = views.size, len(ladder)
    followers, gained = follows
    figures: dict[str, float] = {"videos": float(n)}
    for k in range(stages):
        entered, passed = climbed(reached, complete, k, stages)
        figures[f"pass_rate_stage_{k}"] = passed / entered if entered else math.nan
    for k in range(1, stages):
        figures[f"reach_pool_{k}"] = float((reached >= k).sum()) / n if n else math.nan
    figures["views_mean"] = float(views.mean()) if n else math.nan
    figures["views_median"] = float(np.median(views)) if n else math.nan
    figures["views_per_follower"] = float(views.sum()) / max(followers, 1)
    figures["followers_gained"] = float(gained)
    lists = [str(m).split(";") for m in missed]
    for gate in dict.fromkeys(g for stage in ladder for g in check_names(stage)):
        figures[f"missed_{gate}"] = sum(gate in m for m in lists) / n if n else math.nan
    return figures


def figures_of(result: RunResult, creator_id: int) -> dict[str, float]:
    """:func:`creator_figures` of one creator of a run."""
    v, c = result.videos, result.creators_table
    mine = v["creator_id"] == creator_id
    return creator_figures(
        v["views"][mine],
        v["stage_reached"][mine],
        v["stop_reason"][mine] == "ladder_complete",
        v["missed_gates"][mine],
        result.scenario.ladder,
        (int(c["initial_followers"][creator_id]), int(c["followers_gained"][creator_id])),
    )


def featured_figures(result: RunResult) -> dict[str, dict[str, float]]:
    """:func:`creator_figures` of every featured creator, by name."""
    c = result.creators_table
    return {str(c["name"][cid]): figures_of(result, int(cid)) for cid in np.flatnonzero(c["featured"])}


def engagement_per_view(videos: dict[str, np.ndarray], min_views: int = 100) -> np.ndarray:
    """(likes + comments + shares) / views per video with at least ``min_views`` views."""
    views = videos["views"]
    keep = views >= min_views
    engaged = videos["likes"] + videos["comments"] + videos["shares"]
    return engaged[keep] / views[keep]


def calibration(result: RunResult) -> dict[str, Any]:
    """The figures FACTS.md publishes, measured on this run."""
    days = result.scenario.run.duration / 1440.0
    lengths = result.videos["length_s"]
    epv = engagement_per_view(result.videos)
    per_user = result.impressions / max(result.users, 1) / days
    return {
        "views_gini": round(gini(result.videos["views"]), 4),
        "engagement_per_view_median": round(float(np.median(epv)), 4) if epv.size else None,
        "engagement_per_view_mean": round(float(np.mean(epv)), 4) if epv.size else None,
        "video_length_s": {
            "median": round(float(np.median(lengths)), 2) if lengths.size else None,
            "mean": round(float(np.mean(lengths)), 2) if lengths.size else None,
            "p25": round(float(np.quantile(lengths, 0.25)), 2) if lengths.size else None,
            "p75": round(float(np.quantile(lengths, 0.75)), 2) if lengths.size else None,
        },
        "plays_per_user_day_mean": round(per_user, 2),
        "exploit_share_first_200": round(result.exploit_share, 4),
        "cold_start_affinity_by_25_views": [round(float(a), 3) for a in result.personalization],
    }


def summary(result: RunResult) -> dict[str, Any]:
    """The ``summary.json`` document."""
    totals, views = result.action_totals, max(result.impressions, 1)
    hist = result.watch_hist
    video_views = result.videos["views"]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "scenario": result.scenario.model_dump(mode="json"),
        "scenario_sha256": scenario_sha256(result.scenario),
        "seed": result.seed,
        "users": result.users,
        "creators": result.creators,
        "videos": result.n_videos,
        "impressions": result.impressions,
        "rates": {k: round(totals[v] / views, 6) for k, v in RATE_OF.items()},
        "watch_ratio": {
            "p25": watch_quantile(hist, 0.25),
            "p50": watch_quantile(hist, 0.50),
            "p75": watch_quantile(hist, 0.75),
            "mean": round(result.watch_sum / views, 4),
        },
        "views_gini": round(gini(video_views), 4),
        "top_share": {f"{round(s * 100)}%": round(top_share(video_views, s), 4) for s in TOP_SHARES},
        **{name: round(top_share(video_views, s), 4) for name, s in VIEW_SHARES.items()},
        "funnel": funnel(result),
        "featured": {name: {k: round(x, 6) for k, x in f.items()} for name, f in featured_figures(result).items()},
        "viewers": result.viewers,
        "calibration": calibration(result),
        "engine": {k: round(v, 6) if isinstance(v, float) else v for k, v in result.engine.items()},
        "runtime_s": round(result.runtime_s, 3),
    }
