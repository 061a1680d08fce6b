"""The user side of a run: how fast feeds personalize, how narrow they get, what crosses languages.

Per-user topic entropy is measured on a fixed sample of users (the first ``SAMPLE``, who
are a random sample since users are drawn independently), so memory stays O(sample x
topics) at any audience size; every other figure counts every impression.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLE = 2000  # users whose per-period topic mix is kept for the entropy figure
PERIODS = ("start", "middle", "end")  # thirds of the run
PERSONALIZED_MARGIN = 1.0  # log-affinity the system must give a true top-3 topic to count as personalized
MIN_PERIOD_VIEWS = 5  # a sampled user's period counts toward entropy only with this many views


class ViewerStats:
    """Accumulates user-side figures tick by tick."""

    def __init__(self, users: int, topics: int, duration: float) -> None:
        """Start empty for a run of ``duration`` minutes."""
        self._duration = duration
        self._sample = min(SAMPLE, users)
        self._topic_counts = np.zeros((len(PERIODS), self._sample, topics), dtype=np.int32)
        self._top3 = np.zeros((len(PERIODS), 2), dtype=np.int64)  # hits, impressions
        self.explored = 0
        self.other_language = 0
        self.impressions = 0
        self.personalized_at = np.full(users, -1, dtype=np.int32)

    def observe(
        self,
        now: float,
        users: np.ndarray,
        topics: np.ndarray,
        top3_hit: np.ndarray,
        explored: np.ndarray,
        language_ok: np.ndarray,
    ) -> None:
        """Count one tick's impressions (all arrays (n,), one row per impression)."""
        period = min(int(3 * now / self._duration), len(PERIODS) - 1) if self._duration > 0 else 0
        sampled = users < self._sample
        np.add.at(self._topic_counts[period], (users[sampled], topics[sampled]), 1)
        self._top3[period] += (int(top3_hit.sum()), users.size)
        self.explored += int(explored.sum())
        self.other_language += int((~language_ok).sum())
        self.impressions += users.size

    def mark_personalized(self, users: np.ndarray, views: np.ndarray, estimates: np.ndarray, top: np.ndarray) -> None:
        """Record the view count at which cold users' feeds first rank a true top-3 topic first.

        Args:
            users: (n,) unique users who have no mark yet and picked no categories.
            views: (n,) their views so far.
            estimates: (n, topics) the system's topic estimates for them.
            top: (n,) int64 bitmask of their three strongest true topics.
        """
        best = np.argmax(estimates, axis=1)
        hit = ((top >> best) & 1).astype(bool) & (estimates[np.arange(users.size), best] >= PERSONALIZED_MARGIN)
        self.personalized_at[users[hit]] = views[hit]

    def summary(self, cold: np.ndarray, hides: int, reports: int) -> dict[str, Any]:
        """The ``viewers`` block of ``summary.json``.

        Args:
            cold: (users,) bool, users who picked no categories at signup.
            hides: creators and sounds hidden.
            reports: videos reported.
        """
        views = max(self.impressions, 1)
        at = self.personalized_at[cold]
        done = at[at >= 0]
        return {
            "feed_topic_entropy_bits": dict(zip(PERIODS, self._entropy(), strict=True)),
            "top3_interest_share": {
                p: round(hit / n, 4) if n else None for p, (hit, n) in zip(PERIODS, self._top3.tolist(), strict=True)
            },
            "exploration_share": round(self.explored / views, 4),
            "other_language_share": round(self.other_language / views, 4),
            "median_videos_to_personalization": float(np.median(done)) if done.size else None,
            "personalized_share": round(done.size / at.size, 4) if at.size else None,
            "hides_per_1000": round(1000 * hides / views, 4),
            "reports_per_1000": round(1000 * reports / views, 4),
        }

    def _entropy(self) -> list[float | None]:
        """Mean per-user topic entropy (bits) of the sampled users' feeds, per period."""
        out: list[float | None] = []
        for counts in self._topic_counts:
            totals = counts.sum(axis=1)
            rows = counts[totals >= MIN_PERIOD_VIEWS].astype(np.float64)
            if not rows.size:
                out.append(None)
                continue
            p = rows / rows.sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                h = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
            out.append(round(float(h.mean()), 4))
        return out
