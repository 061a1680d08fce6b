"""The video catalog: a growing table of parallel arrays, one row per upload."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

ACTIONS = ("views", "completions", "replays", "likes", "comments", "shares", "favorites", "follows", "not_interested")
"""Columns of the per-video counters, in order."""
A = {name: i for i, name in enumerate(ACTIONS)}


class Status(IntEnum):
    """Where a video is on its way up the ladder."""

    REVIEW = 0
    OPEN = 1  # in a pool, being served
    STOPPED = 2  # failed a gate; followers' trickle only
    COMPLETE = 3  # passed the last gate


_COLUMNS: dict[str, tuple[type, int | float]] = {
    "creator": (np.int32, -1),
    "topic": (np.intp, 0),  # native index width: these index user tables in the hot path
    "language": (np.intp, 0),
    "sound": (np.int32, 0),
    "trending": (np.bool_, False),
    "length_s": (np.float32, 0.0),
    "quality": (np.float32, 0.0),
    "hook": (np.float32, 0.0),
    "upload_min": (np.float64, 0.0),
    "eligible_min": (np.float64, np.inf),
    "status": (np.int8, Status.REVIEW),
    "stage": (np.int8, -1),
    "stage_epoch": (np.int32, 0),
    "stage_entered_min": (np.float64, np.nan),
    "stage_deadline_min": (np.float64, np.nan),
    "stop_code": (np.int16, -1),
    "value": (np.float32, 0.0),
    "watch_sum": (np.float64, 0.0),
}


class Catalog:
    """Videos as parallel arrays that grow by doubling.

    Columns are attributes (``catalog.topic``, ...) sized to the capacity; rows at and
    past ``len(catalog)`` are unused. ``total`` and ``stage_counts`` are
    (capacity, len(ACTIONS)) counters for the whole life and for the current stage.
    Always index through the catalog: growing replaces the arrays.
    """

    creator: np.ndarray
    topic: np.ndarray
    language: np.ndarray
    sound: np.ndarray
    trending: np.ndarray
    length_s: np.ndarray
    quality: np.ndarray
    hook: np.ndarray
    upload_min: np.ndarray
    eligible_min: np.ndarray
    status: np.ndarray
    stage: np.ndarray
    stage_epoch: np.ndarray
    stage_entered_min: np.ndarray
    stage_deadline_min: np.ndarray
    stop_code: np.ndarray
    value: np.ndarray
    watch_sum: np.ndarray
    total: np.ndarray
    stage_counts: np.ndarray

    def __init__(self, capacity: int = 1024, hashtags_per_video: int = 0) -> None:
        """Allocate empty columns."""
        self._n = 0
        self._capacity = 0
        self._hashtag_width = hashtags_per_video
        self._grow(max(capacity, 16))

    def __len__(self) -> int:
        """Number of videos uploaded so far."""
        return self._n

    def _grow(self, capacity: int) -> None:
        def grow(old: np.ndarray | None, shape: tuple[int, ...], dtype: type, fill: int | float) -> np.ndarray:
            new: np.ndarray = np.full(shape, fill, dtype=dtype)
            if old is not None:
                new[: self._n] = old[: self._n]
            return new

        for name, (dtype, fill) in _COLUMNS.items():
            setattr(self, name, grow(getattr(self, name, None), (capacity,), dtype, fill))
        self.total = grow(getattr(self, "total", None), (capacity, len(ACTIONS)), np.int64, 0)
        self.stage_counts = grow(getattr(self, "stage_counts", None), (capacity, len(ACTIONS)), np.int64, 0)
        self.hashtags = grow(getattr(self, "hashtags", None), (capacity, self._hashtag_width), np.int32, -1)
        self._capacity = capacity

    def append(self, **columns: np.ndarray) -> np.ndarray:
        """Add a batch of videos; return their ids.

        Args:
            columns: equal-length arrays for any of the catalog's columns (and ``hashtags``).
        """
        size = len(next(iter(columns.values())))
        if self._n + size > self._capacity:
            self._grow(max(2 * self._capacity, self._n + size))
        ids = np.arange(self._n, self._n + size)
        for name, values in columns.items():
            getattr(self, name)[ids] = values
        self._n += size
        return ids

    def nbytes(self) -> int:
        """Memory held by the columns."""
        return sum(getattr(self, name).nbytes for name in (*_COLUMNS, "total", "stage_counts", "hashtags"))
