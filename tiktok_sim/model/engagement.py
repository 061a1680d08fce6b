"""The world's reaction kernels: what a synthetic user does with one impression.

Pure functions over arrays plus an injected generator. Nothing here is visible to
the recommender except through the outcomes it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.model import reaction_kernels as kernels
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
        style: (n,) float32 true taste for the sound's and hashtags' styles relative to an
            even spread (1 = average).
        trend: (n,) float32 the sound's trend popularity now, 0 (not trending) to 1 (peak).
        complete_shift: (n,) float32 logit added to finishing (the viewer's device).
        flagged: (n,) bool, spam or a duplicate (more often reported).
    """

    affinity: np.ndarray
    quality: np.ndarray
    hook: np.ndarray
    length_s: np.ndarray
    language_ok: np.ndarray
    style: np.ndarray
    trend: np.ndarray
    complete_shift: np.ndarray
    flagged: np.ndarray


@dataclass(frozen=True)
class Outcomes:
    """What users did, one row per impression.

    Attributes:
        watch_ratio: (n,) float32 share of the video watched; above 1 for replays.
        skipped, completed, replayed, liked, commented, shared, favorited, followed,
        not_interested, reported: (n,) bool.
        hid_creator, hid_sound: (n,) bool, a "not interested" that also hid the creator or sound.
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
    reported: np.ndarray
    hid_creator: np.ndarray
    hid_sound: np.ndarray


def probability(
    reaction: Reaction, x: Exposure, shift: np.ndarray | float = 0.0, features: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """(n,) float32 probability of ``reaction`` under its logistic model.

    Args:
        reaction: intercept (as a base probability) and coefficients.
        x: the impressions.
        shift: extra logit added, e.g. a language mismatch.
        features: the centred covariates from :func:`covariates`, if already computed
            (possibly for a subset of ``x``'s rows: they decide the size of the result).
    """
    f = covariates(x) if features is None else features
    z = np.full(f["quality"].size, base_logit(reaction), dtype=np.float32)
    z += shift
    for name in kernels.TERMS:
        coefficient = getattr(reaction, name)
        if coefficient:
            z += np.float32(coefficient) * f[name]
    np.negative(z, out=z)
    with np.errstate(over="ignore"):  # a logit below -88 overflows to inf, whose reciprocal is the right 0
        np.exp(z, out=z)
    z += np.float32(1.0)
    return np.reciprocal(z, out=z)


def base_logit(reaction: Reaction) -> float:
    """The logit of the reaction's base probability, kept finite at 0 and 1."""
    base = min(max(reaction.base, 1e-9), 1 - 1e-9)
    return float(np.log(base / (1 - base)))


def covariates(x: Exposure) -> dict[str, np.ndarray]:
    """The centred terms every reaction shares, computed once per batch."""
    return dict(zip(kernels.TERMS, covariate_rows(x), strict=True))


def covariate_rows(x: Exposure) -> np.ndarray:
    """(terms, n) float32: the centred terms in the kernels' order (``kernels.TERMS``)."""
    rows = np.empty((len(kernels.TERMS), x.quality.size), dtype=np.float32)
    quality, hook, interest, length, style, trend = rows
    np.subtract(x.quality, np.float32(0.5), out=quality)
    np.subtract(x.hook, np.float32(0.5), out=hook)
    np.log(np.add(x.affinity, np.float32(_AFFINITY_FLOOR), out=interest), out=interest)
    np.log2(np.divide(x.length_s, np.float32(10.0), out=length), out=length)
    np.log(np.add(x.style, np.float32(_AFFINITY_FLOOR), out=style), out=style)
    trend[:] = x.trend
    return rows


CHUNK = 1 << 20
"""Impressions reacted to at once. A national tick holds millions: whole, its temporaries
would be hundreds of MB, faulted in afresh every tick; a chunk's are a few MB, reused."""


def uniforms(n: int, rng: np.random.Generator) -> np.ndarray:
    """The (8, n) float32 uniforms that decide ``n`` impressions' watch and reactions (see :func:`react`)."""
    return rng.random((8, n), dtype=np.float32)


def react(x: Exposure, params: Engagement, rng: np.random.Generator, u: np.ndarray | None = None) -> Outcomes:
    """Draw every impression's watch and reactions.

    The watch is an early skip (a few seconds), a partial watch, a completion
    or a replay (ratio above 1). Likes, comments, shares and saves scale with the share
    watched; follows need a completion; "not interested" and reports need a skip, and a
    "not interested" may also hide the creator or the sound.

    The uniforms are drawn for all impressions at once (``u``: already drawn from ``rng`` by
    :func:`uniforms`, or drawn here), and the hides after every chunk, so the results do not
    depend on the chunk size.
    """
    n = x.affinity.size
    u = uniforms(n, rng) if u is None else u
    out = Outcomes(
        watch_ratio=np.empty(n, dtype=np.float32),
        **{name: np.zeros(n, dtype=bool) for name in _DECIDED},
    )
    for lo in range(0, n, CHUNK):
        rows = slice(lo, min(lo + CHUNK, n))
        part = Exposure(**{name: getattr(x, name)[rows] for name in _EXPOSURE})
        for name, values in _react_rows(part, params, u[:, rows]).items():
            getattr(out, name)[rows] = values
    marked = np.flatnonzero(out.not_interested)
    hide = rng.random((2, marked.size))
    out.hid_creator[marked] = hide[0] < params.hide_creator
    out.hid_sound[marked] = hide[1] < params.hide_sound
    return out


_EXPOSURE = tuple(Exposure.__dataclass_fields__)
_DECIDED = tuple(name for name in Outcomes.__dataclass_fields__ if name != "watch_ratio")


def _react_rows(x: Exposure, params: Engagement, u: np.ndarray) -> dict[str, np.ndarray]:
    """The outcomes of some impressions, given their (8, n) uniforms; the hides are drawn by the caller.

    One uniform decides the watch chain by conditional inversion: skip, else complete, else
    replay. A skip watches a few seconds whatever the length, so skips of short videos watch a
    larger share (KuaiRec's first quartile); it swipes before the middle. The feed loops a
    finished video: a finisher swipes a few seconds into the next loop, and a replay watches on
    for an exponential number of seconds, so short videos loop most (KuaiRec). Following needs a
    completion and "not interested" a skip: exclusive, so they share a uniform.
    """
    n = x.affinity.size
    e = np.empty((len(kernels.MODELS), n), dtype=np.float32)
    shifts = (np.float32(params.language_mismatch), np.float32(params.flagged_report))
    kernels.logits(
        covariate_rows(x),
        (x.language_ok, x.complete_shift, x.flagged, np.array(shifts, dtype=np.float32)),
        _model(params),
        e,
    )
    with np.errstate(over="ignore"):  # a logit below -88 overflows to inf, whose reciprocal is the right 0
        np.exp(e, out=e)
    ratio = np.empty(n, dtype=np.float32)
    decided = np.empty((len(kernels.DECIDED), n), dtype=bool)
    seconds = np.array([2.0 * params.skip_seconds, params.swipe_seconds], dtype=np.float32)
    kernels.decide(e, u, x.length_s, seconds, ratio, decided)
    out = dict(zip(kernels.DECIDED, decided, strict=True))
    # A replay's extra seconds need numpy's log1p (see the kernels' module).
    again = np.flatnonzero(out["replayed"])
    length = np.maximum(x.length_s[again], np.float32(1.0))
    extra = -np.log1p(-u[1][again] * np.float32(0.999)) * np.float32(params.replay_seconds) / length
    ratio[again] = np.float32(1.0) + extra
    return {"watch_ratio": ratio, **out}


def _model(params: Engagement) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each model's base logit, coefficients and which coefficients are used, in the kernels' order."""
    reactions = [getattr(params, name) for name in kernels.MODELS]
    coefficients = np.array([[getattr(r, t) for t in kernels.TERMS] for r in reactions])
    base = np.array([base_logit(r) for r in reactions], dtype=np.float32)
    return base, coefficients.astype(np.float32), coefficients != 0
