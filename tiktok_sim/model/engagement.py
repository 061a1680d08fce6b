"""The world's reaction kernels: what a synthetic user does with one impression.

Pure functions over arrays plus an injected generator. Nothing here is visible to
the recommender except through the outcomes it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.scenario.schema import Engagement, Reaction

_AFFINITY_FLOOR = 0.01  # keeps log(affinity) finite for topics a user has no interest in


@dataclass(frozen=True)
class Exposure:
    """What decides a reaction, one row per impression.

    Attributes:
        affinity: (n,) float32 true interest in the topic relative to an even spread (1 = average).
        quality: (n,) float32 in [0, 1].
        hook: (n,) float32 in [0, 1].
        length_s: (n,) float32 seconds.
        language_ok: (n,) bool, the user speaks the video's language.
    """

    affinity: np.ndarray
    quality: np.ndarray
    hook: np.ndarray
    length_s: np.ndarray
    language_ok: np.ndarray


@dataclass(frozen=True)
class Outcomes:
    """What users did, one row per impression.

    Attributes:
        watch_ratio: (n,) float32 share of the video watched; above 1 for replays.
        skipped, completed, replayed, liked, commented, shared, favorited, followed,
        not_interested: (n,) bool.
    """

    watch_ratio: np.ndarray
    skipped: np.ndarray
    completed: np.ndarray
    replayed: np.ndarray
    liked: np.ndarray
    commented: np.ndarray
    shared: np.ndarray
    favorited: np.ndarray
    followed: np.ndarray
    not_interested: np.ndarray


def probability(reaction: Reaction, x: Exposure, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """(n,) float32 probability of ``reaction`` under its logistic model.

    Args:
        reaction: intercept (as a base probability) and coefficients.
        x: the impressions.
        shift: extra logit added, e.g. a language mismatch.
    """
    base = min(max(reaction.base, 1e-9), 1 - 1e-9)
    z = np.float32(np.log(base / (1 - base))) + np.asarray(shift, dtype=np.float32)
    if reaction.quality:
        z = z + np.float32(reaction.quality) * (x.quality - np.float32(0.5))
    if reaction.hook:
        z = z + np.float32(reaction.hook) * (x.hook - np.float32(0.5))
    if reaction.interest:
        z = z + np.float32(reaction.interest) * np.log(x.affinity + np.float32(_AFFINITY_FLOOR))
    if reaction.length:
        z = z + np.float32(reaction.length) * np.log2(x.length_s / np.float32(10.0))
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def react(x: Exposure, params: Engagement, rng: np.random.Generator) -> Outcomes:
    """Draw every impression's watch and reactions.

    The watch is an early skip (the first ~3 seconds), a partial watch, a completion
    or a replay (ratio above 1). Likes, comments, shares and saves scale with the share
    watched; follows need a completion; "not interested" needs a skip.
    """
    n = x.affinity.size
    u = rng.random((10, n), dtype=np.float32)
    mismatch = np.where(x.language_ok, np.float32(0.0), np.float32(params.language_mismatch))
    skipped = u[0] < probability(params.skip, x, mismatch)
    completed = ~skipped & (u[1] < probability(params.complete, x))
    replayed = completed & (u[2] < probability(params.replay, x))

    early = np.minimum(np.float32(0.2), np.float32(3.0) / np.maximum(x.length_s, np.float32(1.0)))
    ratio = early + (np.float32(1.0) - early) * np.float32(0.999) * u[3]  # partial watch
    ratio = np.where(skipped, early * u[3], ratio)
    ratio = np.where(completed, np.float32(1.0), ratio)
    ratio = np.where(replayed, np.float32(1.05) - np.float32(0.8) * np.log1p(-u[3] * np.float32(0.99)), ratio)

    watched = np.minimum(ratio, np.float32(1.0))
    return Outcomes(
        watch_ratio=ratio.astype(np.float32),
        skipped=skipped,
        completed=completed,
        replayed=replayed,
        liked=u[4] < probability(params.like, x) * watched,
        commented=u[5] < probability(params.comment, x) * watched,
        shared=u[6] < probability(params.share, x) * watched,
        favorited=u[7] < probability(params.favorite, x) * watched,
        followed=completed & (u[8] < probability(params.follow, x)),
        not_interested=skipped & (u[9] < probability(params.not_interested, x)),
    )
