"""The video catalog: a growing table of parallel arrays, one row per upload."""

from __future__ import annotations

from enum import IntEnum

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)

ACTIONS = (
    "views", "completions", "replays", "likes", "comments", "shares", "favorites", "follows", "not_interested",
    "reports",
)  # fmt: skip
"""Columns of the per-video counters, in order."""
A = {name: i for i, name in enumerate(ACTIONS)}


@numba.njit(cache=True)
def tally(
    index: np.ndarray, actions: np.ndarray, ratio: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Impressions summed per video in one pass: (size, ACTIONS) counts, watch ratios, and ratios capped at 1.

    Args:
        index: (n,) each impression's video, as an index below ``size``.
        actions: (len(ACTIONS) - 1, n) bool, each action after the view.
        ratio: (n,) watch ratio.
        size: rows of the result.
    """
    counts = np.zeros((size, actions.shape[0] + 1), dtype=np.int64)
    watch = np.zeros(size)
    watched = np.zeros(size)
    for i in range(index.size):
        v = index[i]
        counts[v, 0] += 1
        for j in range(actions.shape[0]):
            counts[v, j + 1] += actions[j, i]
        watch[v] += ratio[i]
        watched[v] += min(ratio[i], 1.0)
    return counts, watch, watched


class Status(IntEnum):
    """Where a video is on its way up the ladder."""

    REVIEW = 0
    OPEN = 1  # in a pool, being served
    STOPPED = 2  # failed a gate; followers' trickle only
    COMPLETE = 3  # passed the last gate; stays eligible as popular content
    REMOVED = 4  # blocked by review (spam or a duplicate)


_COLUMNS: dict[str, tuple[type, int | float]] = {
    "creator": (np.int32, -1),
    "topic": (np.intp, 0),  # native index width: these index user tables in the hot path
    "language": (np.intp, 0),
    "sound": (np.int32, 0),
    "trending": (np.bool_, False),
    "spam": (np.bool_, False),
    "duplicate": (np.bool_, False),
    "sensitive": (np.bool_, False),
    "rereviewed": (np.bool_, False),  # sent back to review by reports once already
    "rereview_end_min": (np.float64, np.inf),  # when that second review ends
    "resume_status": (np.int8, Status.REVIEW),  # where a re-reviewed video returns to
    "completed_min": (np.float64, np.nan),  # when it completed the ladder
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
    "short_stop": (np.bool_, False),  # stopped after a window that ran out before its pool was served
    "early_stop": (np.bool_, False),  # stopped before its pool was served, clearly below a gate
    "value": (np.float32, 0.0),
    "watch_sum": (np.float64, 0.0),
    "stage_watched": (np.float64, 0.0),  # summed share watched (replays count once) in the current stage
}


class Catalog:
    """Videos as parallel arrays that grow by doubling.

    Columns are attributes (``catalog.topic``, ...) sized to the capacity; rows at and
    past ``len(catalog)`` are unused. ``total`` and ``stage_counts`` are
    (capacity, len(ACTIONS)) counters for the whole life and for the current stage;
    the segment and device tables hold views and positive signal per audience slice.
    Always index through the catalog: growing replaces the arrays.
    """

    creator: np.ndarray
    topic: np.ndarray
    language: np.ndarray
    sound: np.ndarray
    trending: np.ndarray
    spam: np.ndarray
    duplicate: np.ndarray
    sensitive: np.ndarray
    rereviewed: np.ndarray
    rereview_end_min: np.ndarray
    resume_status: np.ndarray
    completed_min: np.ndarray
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
    short_stop: np.ndarray
    early_stop: np.ndarray
    value: np.ndarray
    watch_sum: np.ndarray
    stage_watched: np.ndarray
    total: np.ndarray
    stage_counts: np.ndarray
    hashtags: np.ndarray
    segment_views: np.ndarray
    segment_signal: np.ndarray
    device_views: np.ndarray
    device_signal: np.ndarray

    def __init__(self, capacity: int = 1024, hashtags_per_video: int = 0, segments: int = 1, devices: int = 1) -> None:
        """Allocate empty columns.

        Args:
            capacity: rows to allocate at first.
            hashtags_per_video: width of ``hashtags``.
            segments: width of ``segment_views`` and ``segment_signal`` (the system's audience segments).
            devices: width of ``device_views`` and ``device_signal``.
        """
        self._n = 0
        self._capacity = 0
        self._wide: dict[str, tuple[int, type, int | float]] = {
            "total": (len(ACTIONS), np.int32, 0),  # a video's counts stay far below 2**31
            "stage_counts": (len(ACTIONS), np.int32, 0),
            "hashtags": (hashtags_per_video, np.int32, -1),
            "segment_views": (segments, np.float32, 0.0),
            "segment_signal": (segments, np.float32, 0.0),
            "device_views": (devices, np.float32, 0.0),
            "device_signal": (devices, np.float32, 0.0),
        }
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
        for name, (width, dtype, fill) in self._wide.items():
            setattr(self, name, grow(getattr(self, name, None), (capacity, width), dtype, fill))
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
        return sum(getattr(self, name).nbytes for name in (*_COLUMNS, *self._wide))
