"""The reactions' arithmetic as two compiled passes around numpy's ``exp``, bit-identical to array code.

Written as numpy array code, a batch of reactions makes about a hundred passes over its
impressions (ten logistic models, each a few adds, an ``exp`` and a reciprocal, then the
watch and the decisions on subsets), on one core. Here :func:`logits` writes every model's
negated logit in one parallel pass, numpy takes the ``exp`` of them all in one call, and
:func:`decide` draws the watch and the decisions in another parallel pass.

``exp``, ``log``, ``log2`` and ``log1p`` stay numpy's: its vectorised float32 versions differ
from the C library's (which compiled code calls) in the last bit of many values, and a
probability one bit off may flip a decision. The rest is float32 arithmetic done in numpy's order, so
the results are the same to the bit.
"""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)

SKIP, COMPLETE, REPLAY, FOLLOW, NOT_INTERESTED, REPORT, LIKE, COMMENT, SHARE, FAVORITE = range(10)
"""Rows of the logits: the order of the models."""
MODELS = ("skip", "complete", "replay", "follow", "not_interested", "report", "like", "comment", "share", "favorite")
TERMS = ("quality", "hook", "interest", "length", "style", "trend")
"""A model's covariates, in the order numpy added them."""

DECIDED = (
    "skipped", "completed", "replayed", "followed", "not_interested", "reported", "liked", "commented", "shared",
    "favorited",
)  # fmt: skip
"""Rows of :func:`decide`'s decisions."""
SKIP_CEILING = 0.5
"""Most of a video a skip watches: past the middle, leaving is a partial watch."""

_RUN = 4096
"""Impressions a core takes at a time."""

_WATCH_CHAIN, _WATCH, _LIKE, _COMMENT, _SHARE, _FAVORITE, _FOLLOW_OR_MARK, _REPORT = range(8)
"""Rows of the uniforms: what each decides."""


@numba.njit(cache=True, parallel=True)
def logits(
    terms: np.ndarray,
    shifts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    model: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: np.ndarray,
) -> None:
    """Write each model's negated logit for each impression into ``out`` (models, n) float32.

    Args:
        terms: (terms, n) float32 centred quality, centred hook, log interest, log2 length
            ratio, log style and trend (see :func:`tiktok_sim.model.engagement.covariates`).
        shifts: (n,) language spoken, finishing shift (the device), flagged, and the
            (2,) float32 logits added to a skip in another language and to reporting a flagged video.
        model: (models,) float32 base logit, (models, terms) float32 coefficients and
            (models, terms) whether each is used (numpy skipped a zero one).
        out: (models, n) float32, written.
    """
    language_ok, complete_shift, flagged, added = shifts
    base, coefficient, used = model
    n = out.shape[1]
    # A model at a time over a run of impressions: each step is one loop over contiguous
    # values, which the compiler turns into vector instructions, on rows that stay in cache.
    for run in numba.prange((n + _RUN - 1) // _RUN):
        lo, hi = run * _RUN, min((run + 1) * _RUN, n)
        for m in range(out.shape[0]):
            z = out[m, lo:hi]
            z[:] = base[m]
            if m == SKIP:
                spoken = language_ok[lo:hi]
                for i in range(z.size):
                    z[i] += np.float32(0.0) if spoken[i] else added[0]
            elif m == COMPLETE:
                device = complete_shift[lo:hi]
                for i in range(z.size):
                    z[i] += device[i]
            elif m == REPORT:
                spam = flagged[lo:hi]
                for i in range(z.size):
                    z[i] += added[1] if spam[i] else np.float32(0.0)
            for t in range(terms.shape[0]):
                if used[m, t]:
                    c, term = coefficient[m, t], terms[t, lo:hi]
                    for i in range(z.size):
                        z[i] += c * term[i]
            for i in range(z.size):
                z[i] = -z[i]


@numba.njit(cache=True, parallel=True)
def decide(
    exp_logits: np.ndarray,
    u: np.ndarray,
    length_s: np.ndarray,
    seconds: np.ndarray,
    watch_ratio: np.ndarray,
    decided: np.ndarray,
) -> None:
    """Each impression's watch and decisions, from the models' ``exp(-logit)`` and its uniforms.

    Args:
        exp_logits: (models, n) float32 ``exp`` of :func:`logits`' output.
        u: (8, n) float32 uniforms.
        length_s: (n,) float32 seconds.
        seconds: (2,) float32 twice the mean seconds of a skip, and the seconds of the next loop a
            finisher watches before swiping on.
        watch_ratio: (n,) float32, written; a replay's extra seconds are left to the caller (see
            :func:`tiktok_sim.model.engagement.react`), which needs numpy's ``log1p``.
        decided: (10, n) bool, written: the decisions named in :data:`DECIDED`, in its order.
    """
    skip_twice, swipe_seconds = seconds
    one = np.float32(1.0)
    e_skip, e_complete, e_replay = exp_logits[SKIP], exp_logits[COMPLETE], exp_logits[REPLAY]
    e_follow, e_mark, e_report = exp_logits[FOLLOW], exp_logits[NOT_INTERESTED], exp_logits[REPORT]
    chains, watches, marks, reports = u[_WATCH_CHAIN], u[_WATCH], u[_FOLLOW_OR_MARK], u[_REPORT]
    for i in numba.prange(u.shape[1]):
        p_skip = one / (e_skip[i] + one)
        p_complete = (one - p_skip) * (one / (e_complete[i] + one))
        chain = chains[i]
        skipped = chain < p_skip
        completed = not skipped and chain < p_skip + p_complete
        replayed = False
        if completed:
            p_replay = p_complete * (one / (e_replay[i] + one))
            replayed = chain < p_skip + p_replay
        length = max(length_s[i], one)
        watch = watches[i]
        if skipped:
            ratio = min(skip_twice * watch / length, np.float32(SKIP_CEILING))
        elif completed:
            ratio = one + min(swipe_seconds / length, one) * watch
        else:
            early = min(np.float32(0.2), np.float32(3.0) / length)
            ratio = early + (one - early) * np.float32(0.999) * watch
        watch_ratio[i] = ratio
        watched = min(ratio, one)
        decided[0, i] = skipped
        decided[1, i] = completed
        decided[2, i] = replayed
        decided[3, i] = completed and marks[i] < one / (e_follow[i] + one)
        decided[4, i] = skipped and marks[i] < one / (e_mark[i] + one)
        decided[5, i] = skipped and reports[i] < one / (e_report[i] + one)
        for k in range(4):
            decided[6 + k, i] = u[_LIKE + k, i] < (one / (exp_logits[LIKE + k, i] + one)) * watched
