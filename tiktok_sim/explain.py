"""One video's journey up the ladder, read back from a saved run's directory.

Everything comes from the files a run writes: videos.csv says what the video is,
stages.csv when each pool opened, how much of it was served and what was decided, and
gates.csv every gate's value against its threshold. The cohort is every video judged at
the same stage in the same run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiktok_sim.audience import AUDIENCE_COLUMNS
from tiktok_sim.check.read import Malformed, Row, read_json, read_table
from tiktok_sim.check.run import scenario_of
from tiktok_sim.output import GATE_COLUMNS, LEGACY_VIDEO_COLUMNS
from tiktok_sim.scenario.schema import Stage

_STAGE_COLUMNS = ("video_id", "stage", "batch", "entered_min", "evaluated_min", "views", "pool", "passed")


class ExplainError(Exception):
    """The directory or the video cannot be explained; the message is one line."""


@dataclass(frozen=True)
class Check:
    """One gate at one evaluation."""

    gate: str
    value: float
    threshold: float | None  # None: a percentile gate still warming up, which passes everything
    cohort_below: float  # share of the stage's other evaluations with a lower value

    @property
    def met(self) -> bool:
        """The video reached the threshold."""
        return self.threshold is None or self.value >= self.threshold


@dataclass(frozen=True)
class Visit:
    """One pool a video entered: how it was served and judged."""

    stage: int
    pool: int
    window_min: float
    entered_min: float
    evaluated_min: float | None  # None: still open when the run ended
    views: int
    passed: bool | None
    checks: tuple[Check, ...]

    @property
    def ended(self) -> str:
        """Why the pool closed: its quota was met, it was clearly failing early, its window ran out, or nobody came."""
        if self.evaluated_min is None:
            return "still open at the end of the run"
        if self.views >= self.pool:
            return "quota met"
        if self.evaluated_min < self.entered_min + self.window_min:
            return "stopped early, clearly below a gate"
        return "no audience in the window" if not self.views else "window ran out"


@dataclass(frozen=True)
class Journey:
    """A video, every pool it entered, and where it ended."""

    video: Row
    visits: tuple[Visit, ...]
    audience: dict[str, list[tuple[str, int, int]]]  # dimension -> (value, views, completions); featured only


def explain_journeys(directory: Path, video_ids: list[int] | None = None, creator: str | None = None) -> list[Journey]:
    """The journeys of ``video_ids``, or of every video ``creator`` posted, from a run's directory.

    Raises:
        ExplainError: not a run's directory, an unreadable file, or no such video or creator.
    """
    try:
        return _explain(directory, video_ids, creator)
    except Malformed as exc:
        raise ExplainError(f"{directory}: {exc}") from None


def _explain(directory: Path, video_ids: list[int] | None, creator: str | None) -> list[Journey]:
    missing = [name for name in ("videos.csv", "gates.csv") if not (directory / name).is_file()]
    if missing:
        if (directory / "summary.json").is_file() and not (directory / "runs.csv").is_file():
            raise ExplainError(f"{directory}: a run's results without {missing[0]}; explain reads it")
        kind = "an experiment's" if (directory / "runs.csv").is_file() else "not a run's"
        raise ExplainError(f"{directory}: {kind} results; explain reads one run's directory (tiktok-sim run --out DIR)")
    videos = read_table(directory / "videos.csv", "videos.csv", LEGACY_VIDEO_COLUMNS, exact=False)  # any version
    if creator is not None:
        video_ids = [v.int("video_id") for v in videos if v["creator_name"] == creator]
        if not video_ids:
            names = sorted({v["creator_name"] for v in videos})
            raise ExplainError(f"{directory}: no videos by {creator!r} (creators: {', '.join(names[:8])}...)")
    for vid in video_ids or []:
        if not 0 <= vid < len(videos):
            raise ExplainError(f"{directory}: no video {vid}; videos are numbered 0 to {len(videos) - 1}")
    summary = read_json(directory / "summary.json", "summary.json")
    if not isinstance(summary, dict) or not isinstance(summary.get("scenario"), dict):
        raise Malformed("summary.json: expected an object with the run's 'scenario'")
    ladder = scenario_of(summary["scenario"], "summary.json").ladder
    evaluations: dict[str, list[Row]] = defaultdict(list)
    for row in read_table(directory / "stages.csv", "stages.csv", _STAGE_COLUMNS, exact=False):
        evaluations[row["video_id"]].append(row)
    checks: dict[tuple[str, str], list[Row]] = defaultdict(list)  # by (batch, video)
    gates = read_table(directory / "gates.csv", "gates.csv", GATE_COLUMNS)
    for row in gates:
        checks[(row["batch"], row["video_id"])].append(row)
    cohort = _cohort_values(gates)
    audience = _audience(read_table(directory / "audience.csv", "audience.csv", AUDIENCE_COLUMNS))
    return [
        _journey(videos[vid], evaluations[str(vid)], checks, cohort, ladder, audience.get(vid, {}))
        for vid in video_ids or []
    ]


def _audience(rows: list[Row]) -> dict[int, dict[str, list[tuple[str, int, int]]]]:
    """audience.csv by video, then dimension."""
    out: dict[int, dict[str, list[tuple[str, int, int]]]] = {}
    for row in rows:
        by_dimension = out.setdefault(row.int("video_id"), {})
        by_dimension.setdefault(row["dimension"], []).append((row["value"], row.int("views"), row.int("completions")))
    return out


def _cohort_values(gates: list[Row]) -> dict[int, dict[str, np.ndarray]]:
    """Sorted values of every gate at every stage, over all evaluations of the run."""
    values: dict[int, dict[str, list[float]]] = {}
    for row in gates:
        values.setdefault(row.int("stage"), {}).setdefault(row["gate"], []).append(row.float("value"))
    return {s: {g: np.sort(v) for g, v in by_gate.items()} for s, by_gate in values.items()}


def _journey(
    video: Row,
    evaluations: list[Row],
    checks: dict[tuple[str, str], list[Row]],
    cohort: dict[int, dict[str, np.ndarray]],
    ladder: list[Stage],
    audience: dict[str, list[tuple[str, int, int]]],
) -> Journey:
    visits = []
    for row in evaluations:
        judged = tuple(_check(g, cohort[row.int("stage")][g["gate"]]) for g in checks[(row["batch"], row["video_id"])])
        stage = row.int("stage")
        visits.append(
            Visit(
                stage,
                row.int("pool"),
                ladder[stage].window,
                row.float("entered_min"),
                row.float("evaluated_min"),
                row.int("views"),
                row["passed"] == "1",
                judged,
            )
        )
    reached = video.int("stage_reached")
    if video["stop_reason"] == "in_progress" and reached >= 0:
        entered = visits[-1].evaluated_min if visits else video.float("eligible_min")
        served = video.int("views") - sum(v.views for v in visits)  # followers' trickle included
        pool = ladder[reached]
        visits.append(Visit(reached, pool.pool, pool.window, entered or 0.0, None, served, None, ()))
    return Journey(video, tuple(visits), audience)


def _check(row: Row, values: np.ndarray) -> Check:
    value = row.float("value")
    threshold = row.float("threshold") if row["threshold"] else None
    below = float(np.searchsorted(values, value, side="left")) / max(values.size - 1, 1)
    return Check(row["gate"], value, threshold, min(below, 1.0))
