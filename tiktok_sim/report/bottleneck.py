"""Where and why a creator's videos stall, in words."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tiktok_sim.metrics import last_misses
from tiktok_sim.model.exposure import GATE_CODE, RATE_COLUMNS
from tiktok_sim.results import RunResult

_STOPS = ("gate:", "short_served:", "early_stop:", "no_audience")


def _fmt_value(gate: str, value: float) -> str:
    return f"{value:.1%}" if gate in RATE_COLUMNS else f"{value:.3g}"


def bottleneck(result: RunResult, video_ids: np.ndarray) -> str:
    """Where most of the videos stopped, every gate they missed there, and whether their pools were short-served.

    For example: "3 of 4 videos stopped at pool 0. Missed: like by 3 (median 2.1% against 3.5%),
    completion by 2 (14.0% against 30.0%). 2 of the 3 were short-served: the window closed
    at a median 61% of the 300-view pool."
    """
    n = video_ids.size
    if not n:
        return "No videos were uploaded during the run."
    v = result.videos
    reasons = v["stop_reason"][video_ids]
    stopped = video_ids[[str(r).startswith(_STOPS) for r in reasons]]
    if not stopped.size:
        done = int((reasons == "ladder_complete").sum())
        climbing = int((reasons == "in_progress").sum())
        return f"No video stalled: {climbing} still climbing, {done} completed the ladder, of {n}."
    stage, count = Counter(v["stage_reached"][stopped].tolist()).most_common(1)[0]
    here = stopped[v["stage_reached"][stopped] == stage]
    sentence = f"{count} of {n} videos stopped at pool {stage}."
    silent = int((v["stop_reason"][here] == "no_audience").sum())
    if silent:
        sentence += f" {silent} of them had no audience at all in the window."
    missed = Counter(g for gates in v["missed_gates"][here] if gates for g in gates.split(";"))
    if missed:
        sentence += " Missed: " + ", ".join(_gate_phrase(result, here, g, k) for g, k in missed.most_common()) + "."
    return (sentence + _early_phrase(result, here, count) + _short_phrase(result, here, stage, count)
            + _language_phrase(result, here))  # fmt: skip


def _early_phrase(result: RunResult, videos: np.ndarray, count: int) -> str:
    """How many were stopped early, clearly below a gate, and after how many views."""
    early = np.array([str(r).startswith("early_stop:") for r in result.videos["stop_reason"][videos]], dtype=bool)
    if not early.any():
        return ""
    which = "It was" if count == 1 else f"{int(early.sum())} of the {count} were"
    # The views the stage had served when it stopped: followers may add a few later.
    st = result.stages
    rows = np.isin(st["video_id"], videos[early]) & (st["early_stop"] == 1)
    views = float(np.median(st["views"][rows]))
    return f" {which} stopped early, clearly below a gate, after a median {views:,.0f} views in the stage."


def _gate_phrase(result: RunResult, videos: np.ndarray, gate: str, count: int) -> str:
    """'like by 3 (median 2.1% against 3.5%)': how many missed ``gate`` at their last evaluation, and by how much."""
    g = result.gates
    rows = last_misses(result.n_videos, g)
    rows = rows[np.isin(g["video_id"][rows], videos) & (g["gate"][rows] == GATE_CODE[gate])]
    value, need = float(np.median(g["value"][rows])), float(np.median(g["threshold"][rows]))
    return f"{gate} by {count} (median {_fmt_value(gate, value)} against {_fmt_value(gate, need)})"


def _short_phrase(result: RunResult, videos: np.ndarray, stage: int, count: int) -> str:
    """How many of the stopped pools the window closed on before they were served, and how full they got."""
    short = np.array([str(r).startswith("short_served:") for r in result.videos["stop_reason"][videos]], dtype=bool)
    if not short.any():
        return ""
    st = result.stages
    rows = np.isin(st["video_id"], videos[short]) & (st["stage"] == stage) & (st["passed"] == 0)
    pool = int(st["pool"][rows][0])
    served = float(np.median(st["views"][rows] / pool))
    which = "It was" if count == 1 else f"{int(short.sum())} of the {count} were"
    return f" {which} short-served: the window closed at a median {served:.0%} of the {pool:,}-view pool."


def _language_phrase(result: RunResult, videos: np.ndarray) -> str:
    """A hidden cause: how much of the audience did not speak the videos' language, and what that did to completion."""
    a = result.audience
    if not a or not a["video_id"].size:
        return ""
    rows = np.isin(a["video_id"], videos) & (a["dimension"] == "language")
    other = rows & (a["value"] == "other language")
    views, foreign = int(a["views"][rows].sum()), int(a["views"][other].sum())
    if not views or foreign < 0.05 * views:
        return ""
    done, speakers = int(a["completions"][rows].sum()), views - foreign
    among = (done - int(a["completions"][other].sum())) / speakers if speakers else 0.0
    return (
        f" {foreign / views:.0%} of their views went to viewers who do not speak the video's language: "
        f"completion was {done / views:.1%} overall and {among:.1%} among those who do."
    )
