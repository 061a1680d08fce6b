"""Who saw featured creators' videos: views and completions by source, language, region and time of day.

Only featured creators' videos are tallied, so the cost is a mask over each tick's
impressions and a count over a few of them. The table answers "who was my pool?": how much
came from the pool, from followers or from exploring slots, how much crossed a language
barrier (and how that audience finished the video), where the viewers were, and when.
"""

from __future__ import annotations

import numpy as np

SOURCES = ("pool", "follower", "exploring")
LANGUAGES = ("speaks it", "other language")
DAYPARTS = ("night 0-6", "morning 6-12", "afternoon 12-18", "evening 18-24")
"""The viewer's local hours."""
DIMENSIONS = ("source", "language", "region", "daypart")
AUDIENCE_COLUMNS = ("video_id", "dimension", "value", "views", "completions")
_VALUE_SPAN = 256  # values per dimension in a packed key; regions are far fewer


class AudienceLog:
    """Per featured video: views and completions by each dimension's value."""

    def __init__(self, regions: list[str]) -> None:
        """Start empty; ``regions`` names the region codes."""
        self._values = (SOURCES, LANGUAGES, tuple(regions), DAYPARTS)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def record(
        self,
        videos: np.ndarray,
        source: np.ndarray,
        other_language: np.ndarray,
        region: np.ndarray,
        local_hour: np.ndarray,
        completed: np.ndarray,
    ) -> None:
        """Add one tick's impressions of featured videos (all arrays (n,), codes into each dimension's values)."""
        if not videos.size:
            return
        codes = (source, other_language.astype(np.int64), region.astype(np.int64), local_hour // 6)
        keys = np.concatenate([(videos * len(DIMENSIONS) + d) * _VALUE_SPAN + c for d, c in enumerate(codes)]).astype(
            np.int64
        )
        unique, inverse = np.unique(keys, return_inverse=True)
        done = np.tile(completed, len(DIMENSIONS)).astype(np.float64)
        views = np.bincount(inverse, minlength=unique.size)
        self._parts.append((unique, views, np.bincount(inverse, weights=done, minlength=unique.size)))

    def table(self) -> dict[str, np.ndarray]:
        """The tidy table: one row per (video, dimension, value) seen, by video then dimension."""
        if not self._parts:
            return {c: np.empty(0, dtype=object if c in ("dimension", "value") else np.int64) for c in AUDIENCE_COLUMNS}
        keys = np.concatenate([p[0] for p in self._parts])
        unique, inverse = np.unique(keys, return_inverse=True)
        views = np.bincount(inverse, weights=np.concatenate([p[1] for p in self._parts]), minlength=unique.size)
        done = np.bincount(inverse, weights=np.concatenate([p[2] for p in self._parts]), minlength=unique.size)
        rest, value = np.divmod(unique, _VALUE_SPAN)
        video, dimension = np.divmod(rest, len(DIMENSIONS))
        return {
            "video_id": video,
            "dimension": np.array(DIMENSIONS, dtype=object)[dimension],
            "value": np.array([self._values[d][v] for d, v in zip(dimension, value, strict=True)], dtype=object),
            "views": views.astype(np.int64),
            "completions": done.astype(np.int64),
        }
