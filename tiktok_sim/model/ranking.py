"""The system's side: what it estimates from signals, and how it ranks candidates.

The recommender never reads true interests. It sees outcomes only, and keeps:

* a per-user log-affinity estimate for each topic, and for hashed buckets of sounds and
  hashtags (0 = neutral), stored as an int16 level in one (users, columns) table;
* per-video action rates, shrunk toward the platform average by ``prior_views``.

A completion counts ``(seconds / 10) ** completion_length`` times its weight, so finishing
a longer video is the stronger signal, as the platform describes.

A candidate's value is the sum over actions of P(action) x value(action), with the
scenario's signal weights as the action values, as in TikTok's published account.
Follower count is not a factor: big accounts win only because more people follow them.
"""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.model.engagement import Outcomes
from tiktok_sim.prefetch import AHEAD, prefetch_row
from tiktok_sim.scenario.schema import Signal
from tiktok_sim.world.catalog import A

SIGNAL_SOURCES: dict[Signal, tuple[str, str]] = {
    "completion": ("completions", "completed"),
    "replay": ("replays", "replayed"),
    "like": ("likes", "liked"),
    "comment": ("comments", "commented"),
    "share": ("shares", "shared"),
    "favorite": ("favorites", "favorited"),
    "follow": ("follows", "followed"),
    "not_interested": ("not_interested", "not_interested"),
}
"""Signal name -> (counter column, outcome field). ``watch`` uses the watch ratio."""

ESTIMATE_BOUND = 5.0  # log-affinity estimates stay within +-5 so one user cannot saturate ranking
ESTIMATE_LEVELS = 32767
"""A log-affinity estimate is kept as an int16 level, ``level / ESTIMATE_LEVELS * ESTIMATE_BOUND``: steps of
0.00015, far below a view's step (``learning_rate`` x gain), in half the memory of a float32 (1 GB less at
10M users)."""
_LEVELS_PER_UNIT = ESTIMATE_LEVELS / ESTIMATE_BOUND
EXP_OF_LEVEL = np.exp(np.arange(-ESTIMATE_LEVELS, ESTIMATE_LEVELS + 1) / _LEVELS_PER_UNIT).astype(np.float32)
"""exp of each level's estimate, at index ``level + ESTIMATE_LEVELS``: what ranking multiplies (256 KB)."""


def estimate_levels(log_estimates: np.ndarray | float) -> np.ndarray:
    """int16 levels of log-affinity estimates, clipped to the bound."""
    clipped = np.clip(np.asarray(log_estimates, dtype=np.float64), -ESTIMATE_BOUND, ESTIMATE_BOUND)
    return np.rint(clipped * _LEVELS_PER_UNIT).astype(np.int16)


def log_estimates(levels: np.ndarray) -> np.ndarray:
    """float32 log-affinity estimates of int16 levels."""
    return (levels / np.float32(_LEVELS_PER_UNIT)).astype(np.float32)


def completion_factor(length_s: np.ndarray, exponent: float) -> np.ndarray:
    """(n,) float32 weight of finishing a video of ``length_s`` seconds: (seconds / 10) ** exponent."""
    return np.power(np.asarray(length_s, dtype=np.float32) / np.float32(10.0), np.float32(exponent))


def signal(outcomes: Outcomes, weights: dict[Signal, float], finish: np.ndarray) -> np.ndarray:
    """(n,) float32 value of what each impression's viewer did.

    Args:
        outcomes: the impressions' outcomes.
        weights: signal weights.
        finish: (n,) float32 weight of a completion (see :func:`completion_factor`).
    """
    total = np.float32(weights.get("watch", 0.0)) * np.minimum(outcomes.watch_ratio, np.float32(1.0))
    for name, (_, field) in SIGNAL_SOURCES.items():
        if weights.get(name):
            term = np.float32(weights[name]) * getattr(outcomes, field)
            total = total + (term * finish if name == "completion" else term)
    return total.astype(np.float32)


def video_value(
    counts: np.ndarray,
    watch_sum: np.ndarray,
    prior: np.ndarray,
    prior_views: float,
    weights: dict[Signal, float],
    finish: np.ndarray,
) -> np.ndarray:
    """(n,) float32 expected value of one more impression of each video.

    Args:
        counts: (n, len(ACTIONS)) lifetime counters.
        watch_sum: (n,) summed watch ratios.
        prior: (len(ACTIONS) + 1,) platform-wide rates per view, the last entry the mean watch ratio.
        prior_views: pseudo-views of the prior.
        weights: signal weights.
        finish: (n,) weight of a completion of each video (see :func:`completion_factor`).
    """
    denom = counts[:, A["views"]] + prior_views
    value = np.float64(weights.get("watch", 0.0)) * (np.minimum(watch_sum, counts[:, 0]) + prior[-1] * prior_views)
    for name, (column, _) in SIGNAL_SOURCES.items():
        if weights.get(name):
            col = A[column]
            term = weights[name] * (counts[:, col] + prior[col] * prior_views)
            value = value + (term * finish if name == "completion" else term)
    return np.maximum(value / denom, 1e-3).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def top_estimates(affinity: np.ndarray, users: np.ndarray, columns: int) -> np.ndarray:
    """(n,) each user's highest of their first ``columns`` estimates; the first of a tie, as ``np.argmax``.

    Read in place, row by row (no (users, columns) copy), the rows a few users ahead fetched meanwhile.
    """
    out = np.empty(users.size, dtype=np.intp)
    rows = affinity.reshape(affinity.size)
    for i in range(users.size):
        if i + AHEAD < users.size:
            prefetch_row(rows, users[i + AHEAD], affinity.shape[1])
        row = affinity[users[i]]
        best = 0
        for c in range(1, columns):
            if row[c] > row[best]:
                best = c
        out[i] = best
    return out


def update_affinity(
    affinity: np.ndarray,
    users: np.ndarray,
    shown: tuple[np.ndarray, np.ndarray],
    gain: np.ndarray,
    learning_rate: float,
) -> None:
    """Move each viewer's log-affinity estimates by ``learning_rate * gain`` (in place, duplicates add).

    Each touched cell's steps are summed, added to the cell's estimate, clipped, and stored
    back as the nearest level: only the cells the tick touched.
    One core does it, without the GIL: the engine runs it beside the tick's counting.

    Args:
        affinity: (n_users, n_columns) int16 levels of the log-affinity estimates.
        users: (n,) viewer of each impression, grouped (each user's impressions together).
        shown: (k, m) the estimate columns each offered video touches (topic, sound, hashtag),
            and (n,) each impression's offer index: read in place, not gathered per impression.
        gain: (n,) float32 signal minus the platform's average signal.
        learning_rate: step size.
    """
    first = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    _update(affinity, users, first, shown, np.float32(learning_rate) * gain)


@numba.njit(cache=True, nogil=True)
def _update(
    affinity: np.ndarray,
    users: np.ndarray,
    first: np.ndarray,
    shown: tuple[np.ndarray, np.ndarray],
    step: np.ndarray,
) -> None:
    columns, pick = shown
    per_unit = np.float32(_LEVELS_PER_UNIT)
    rows, width = affinity.reshape(affinity.size), affinity.shape[1]
    total = np.full(width, np.nan, dtype=np.float32)  # NaN: a column this viewer's steps have not touched
    for g in range(first.size - 1):
        if g + 2 < first.size - 1:  # the viewer after next: their row is far outside the caches
            prefetch_row(rows, users[first[g + 2]], width)
        u = users[first[g]]
        for i in range(first[g], first[g + 1]):
            for k in range(columns.shape[0]):
                c = columns[k, pick[i]]
                total[c] = step[i] if np.isnan(total[c]) else total[c] + step[i]
        for i in range(first[g], first[g + 1]):
            for k in range(columns.shape[0]):
                c = columns[k, pick[i]]
                if not np.isnan(total[c]):
                    level = min(max(affinity[u, c] + total[c] * per_unit, -ESTIMATE_LEVELS), ESTIMATE_LEVELS)
                    affinity[u, c] = np.int16(np.floor(level + np.float32(0.5)))
                    total[c] = np.nan
