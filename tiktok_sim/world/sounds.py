"""Sounds and hashtags: the styles users have tastes over, and trends that rise and fade.

Sound ``s`` has style ``s % styles`` and hashtag ``h`` has style ``h % styles``, so no
table is needed. Sounds ``0 .. trending_sounds - 1`` trend: each has a peak minute, and
its popularity rises toward it exponentially (``trend_rise``) and decays after it
(``trend_decay``), from 0 (not trending) to 1 (at its peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.scenario.schema import Scenario, Videos


@dataclass(frozen=True)
class Trends:
    """When each trending sound peaks.

    Attributes:
        peak_min: (trending_sounds,) float64 minute of each trend's peak.
        rise: minutes a trend takes to grow e-fold toward its peak.
        decay: minutes a trend takes to fade e-fold after its peak.
    """

    peak_min: np.ndarray
    rise: float
    decay: float

    def now(self, now: float) -> np.ndarray:
        """(trending_sounds,) float32 popularity of every trending sound at minute ``now``."""
        lag = now - self.peak_min
        return np.exp(np.where(lag < 0, lag / self.rise, -lag / self.decay)).astype(np.float32)


def build_trends(scenario: Scenario, rng: np.random.Generator) -> Trends:
    """Trend peaks spread evenly at random over the backlog and the run."""
    videos, run = scenario.videos, scenario.run
    peaks = rng.uniform(-run.backlog, run.duration, videos.trending_sounds)
    return Trends(peak_min=peaks, rise=videos.trend_rise, decay=videos.trend_decay)


def bucket_of(ids: np.ndarray, buckets: int) -> np.ndarray:
    """(n,) intp hashed bucket of sounds or hashtags: the system's compact view of them.

    A multiplicative (Fibonacci) hash, so neighbouring ids, and hence styles, spread over
    buckets: the system does not know the styles, it only sees which sound was used.
    """
    mixed = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    return (mixed % np.uint64(buckets)).astype(np.intp)


def pick_sounds(
    videos: Videos, trends: Trends, now: float, prob: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(n,) sounds for new uploads and whether each is trending.

    Creators who use a trending sound (each upload with its creator's chance ``prob``)
    ride the trends that are strong now.
    """
    n = prob.size
    trending = (rng.random(n) < prob) & (videos.trending_sounds > 0)
    trending |= videos.trending_sounds >= videos.sounds  # nothing else to use
    sound = rng.integers(min(videos.trending_sounds, videos.sounds - 1), videos.sounds, n)
    if trending.any():
        pull = trends.now(now).astype(np.float64)
        if pull.sum() <= 0:  # every trend has faded out of float range: none stands out
            pull = np.ones(pull.size)
        sound[trending] = rng.choice(pull.size, size=int(trending.sum()), p=pull / pull.sum())
    return sound, trending


def pick_hashtags(videos: Videos, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, hashtags_per_video) hashtags sharing one style per video (the first one's)."""
    tags = rng.integers(0, videos.hashtags, (n, videos.hashtags_per_video))
    styles = videos.styles
    aligned = tags - tags % styles + (tags[:, :1] % styles)
    aligned = np.where(aligned >= videos.hashtags, aligned - styles, aligned)
    return np.where(aligned >= 0, aligned, tags)
