"""Where and why a creator's videos stall, in words."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tiktok_sim.model.exposure import GATE_CODE, RATE_COLUMNS
from tiktok_sim.results import RunResult


def _fmt_value(gate: str, value: float) -> str:
    return f"{value:.1%}" if gate in RATE_COLUMNS else f"{value:.3g}"


def bottleneck(result: RunResult, video_ids: np.ndarray) -> str:
    """One sentence naming the most common place and reason the videos stopped.

    For example: "7 of 10 videos stopped at pool 1: completion 24.0% < 30.0% gate".
    """
    n = video_ids.size
    if not n:
        return "No videos were uploaded during the run."
    reasons = result.videos["stop_reason"][video_ids]
    stages = result.videos["stage_reached"][video_ids]
    stopped = [
        (int(s), str(r)) for s, r in zip(stages, reasons, strict=True) if r.startswith("gate:") or r == "no_audience"
    ]
    if not stopped:
        done = int((reasons == "ladder_complete").sum())
        climbing = int((reasons == "in_progress").sum())
        return f"No video stalled: {climbing} still climbing, {done} completed the ladder, of {n}."
    (stage, reason), count = Counter(stopped).most_common(1)[0]
    if reason == "no_audience":
        return f"{count} of {n} videos stopped at pool {stage}: no audience was served in the window."
    gate = reason.removeprefix("gate:")
    st = result.stages
    rows = np.isin(st["video_id"], video_ids) & (st["stage"] == stage) & (st["failed_gate"] == GATE_CODE[gate])
    value = float(np.median(st["failed_value"][rows]))
    need = float(np.median(st["failed_threshold"][rows]))
    return (
        f"{count} of {n} videos stopped at pool {stage}: "
        f"{gate} {_fmt_value(gate, value)} < {_fmt_value(gate, need)} gate (medians)."
    )
