"""What a run produced: plain tables of facts, from which every report number is derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiktok_sim.scenario.schema import Scenario

WATCH_BINS = 600
WATCH_BIN_WIDTH = 0.01
"""Watch ratios are histogrammed in 0.01 steps up to 6.0, so quantiles are exact to 0.01."""

PERSONALIZATION_BUCKET = 25
PERSONALIZATION_BUCKETS = 8
"""A user's first 200 views, in buckets of 25, for the time-to-personalization curve."""


@dataclass
class RunResult:
    """Everything a run measured.

    Attributes:
        scenario: the resolved scenario.
        seed: the root seed (drawn if the scenario gave none).
        users, creators: population sizes.
        impressions: impressions served.
        unfilled_slots: feed slots no eligible video could fill.
        videos: one array per column, one row per video (see ``VIDEO_COLUMNS``).
        creators_table: one array per column, one row per creator.
        stages: one array per column, one row per stage evaluation.
        gates: one array per column, one row per gate check of a stage evaluation.
        audience: who saw featured creators' videos (see ``tiktok_sim.audience``).
        reach: ``video_id``, ``hour``, ``views`` (views in that hour since upload).
        action_totals: impressions, completions, ... summed over the run.
        watch_hist: (WATCH_BINS,) int64 counts of watch ratios.
        watch_sum: sum of watch ratios.
        personalization: (PERSONALIZATION_BUCKETS,) mean true affinity (1 = an even spread)
            of what cold-start users were shown, by how many views they had had.
        exploit_share: share of users' first 200 impressions on one of their 3 strongest topics.
        viewers: the user side: feed diversity, filter bubble, exploration, languages, controls.
        engine: diagnostics (false-positive rate of the seen filter, memory).
        runtime_s: wall time of the run.
        impressions_log: (user, video, minute) of every impression, when recorded.
    """

    scenario: Scenario
    seed: int
    users: int
    creators: int
    impressions: int
    unfilled_slots: int
    videos: dict[str, np.ndarray]
    creators_table: dict[str, np.ndarray]
    stages: dict[str, np.ndarray]
    reach: dict[str, np.ndarray]
    action_totals: dict[str, int]
    watch_hist: np.ndarray
    watch_sum: float
    personalization: np.ndarray
    exploit_share: float
    viewers: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, float] = field(default_factory=dict)
    runtime_s: float = 0.0
    impressions_log: dict[str, np.ndarray] | None = None
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    audience: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_videos(self) -> int:
        """Number of uploads."""
        return int(self.videos["video_id"].size)
