"""A feed request is a ranked batch: one candidate set per active user per tick.

A user with ``k`` slots this tick gets one block of candidates: a few exploring ones,
``k x C`` regular ones (``C`` = ``recommender.candidates``), and ``C - 1`` popular
reserves. The block is ordered by band, then by score:

* band 0, exploring candidates outside the user's estimated top interests, in random order;
* band 1, regular candidates (and exploring ones that turned out familiar), best first;
* band 2, popular reserves, best first: used only when the rest run out;
* band 3, no candidate, or one this viewer may not be shown.

:func:`rank_blocks` draws, scores and keys the candidates of a span of blocks in one
compiled pass, then sorts each block's packed 64-bit keys (band, score, offset) in place.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.seen import GOLDEN, mix

EXPLORE, REGULAR, RESERVE, INVALID = 0, 1, 2, 3
_OFFSET_BITS = 16
_SCORE_BITS = 22
_SCORE_LEVELS = 1 << _SCORE_BITS
_BAND_SHIFT = _OFFSET_BITS + _SCORE_BITS
MAX_BLOCK = 1 << _OFFSET_BITS
"""Largest candidate block: a user's slots in one tick times ``C``, far below this."""
OFFSET_MASK = MAX_BLOCK - 1
"""A sorted key's low bits: the entry's offset within its block."""


@numba.njit(cache=True)
def _noise(seed: int, p: int) -> np.int64:
    """A random-looking score rank for entry ``p`` under this tick's ``seed``."""
    return np.int64(mix(np.uint64(seed) ^ (np.uint64(p) * GOLDEN)) >> np.uint64(64 - _SCORE_BITS))


@intrinsic
def _bits_of(typingctx, value):  # type: ignore[no-untyped-def]
    """The IEEE-754 bit pattern of a float32, as an int32: one register move."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@numba.njit(cache=True)
def _score_order(score: np.float32) -> np.int64:
    """The top 22 bits of a non-negative float32's bit pattern: an order-preserving integer."""
    if score <= 0:
        return np.int64(0)
    return np.int64(_bits_of(score) >> (31 - _SCORE_BITS))  # type: ignore[call-arg]


@numba.njit(cache=True, parallel=True)
def rank_blocks(
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    span: tuple[int, int],
    kinds: tuple[np.ndarray, int],
    tables: np.ndarray,
    bits: np.ndarray,
    followed: np.ndarray,
    viewer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    affinity: np.ndarray,
    offer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offer index (int32), band (int8) and rank key (int64) of the candidates of blocks ``span``.

    The arrays start at the span's first entry, and the keys are sorted block by block:
    a tick is ranked a span of blocks at a time, so that no array is as long as all of a
    large tick's candidates.

    score = exp(estimated affinity for the topic, sound and hashtag) x the video's expected
    action value x its weak-signal factors for the viewer's context x the similar-users
    factor for the viewer's segment. Only the user's estimates are a large table.

    Every entry is computed on its own, so the work is shared between the machine's cores
    and the result does not depend on how many there are.

    Args:
        blocks: (A,) start of each block, (A, kinds) how many draws of each kind it holds
            and the ticket-table row each kind draws from, and (A,) its first follow draw.
        span: the first block and one past the last block to rank.
        kinds: (kinds,) band of each kind of draw, and which kind is a follow draw.
        tables: (rows, TICKETS) int32 ticket tables of offer indices.
        bits: (M,) uint16 ticket drawn for each entry.
        followed: (follow draws,) followed creator's latest video per follow draw, in
            block order; the sentinel keeps the ticket drawn.
        viewer: (A,) user, context, segment, bit mask of the estimated top topics
            (exploring candidates there rank as regular ones) and sensitive-content opt-in.
        affinity: (users, estimates) float32 exp of the system's estimates.
        offer: (3, m) estimate columns, (contexts, m) weight, (segments, m) similar-users
            factor (no rows when off) and (m,) sensitivity of each offer index; the last
            index, m - 1, is the sentinel for no candidate.
        seed: this tick's seed for exploring candidates' random order.
    """
    start, counts, rows, first_follow = blocks
    kind_band, follow_kind = kinds
    users, context, segment, familiar, opted_in = viewer
    columns, weight, similar, sensitive = offer
    none = weight.shape[1] - 1
    lo, hi = span
    base = start[lo] if hi > lo else 0
    n = start[hi - 1] + counts[hi - 1].sum() - base if hi > lo else 0
    cand = np.empty(n, dtype=np.int32)
    band = np.empty(n, dtype=np.int8)
    owner = np.empty(n, dtype=np.int32)
    for b in numba.prange(lo, hi):
        p, f = start[b] - base, first_follow[b]
        for k in range(counts.shape[1]):
            table = tables[rows[b, k]]
            for _ in range(counts[b, k]):
                cand[p] = table[bits[base + p]]
                band[p] = kind_band[k]
                owner[p] = b
                if k == follow_kind:
                    if followed[f] != none:
                        cand[p] = np.int32(followed[f])
                    f += 1
                p += 1
    keys = np.empty(n, dtype=np.int64)
    for p in numba.prange(n):
        c, b = cand[p], owner[p]
        u = users[b]
        score = affinity[u, columns[0, c]] * affinity[u, columns[1, c]] * affinity[u, columns[2, c]]
        score *= weight[context[b], c]
        if similar.shape[0]:
            score *= similar[segment[b], c]
        bd = band[p]
        if c == none or (sensitive[c] and not opted_in[b]) or not score >= 0:  # -inf: never shown in this context
            bd = INVALID
        elif bd == EXPLORE and (familiar[b] >> columns[0, c]) & 1:
            bd = REGULAR
        if bd == EXPLORE:
            rank = _noise(seed, base + p)
        elif bd == INVALID:
            rank = np.int64(0)
        else:
            rank = _SCORE_LEVELS - 1 - _score_order(np.float32(score))
        band[p] = bd
        keys[p] = (np.int64(bd) << _BAND_SHIFT) | (rank << _OFFSET_BITS) | (base + p - start[b])
    for b in numba.prange(lo, hi):
        keys[start[b] - base : start[b] - base + counts[b].sum()].sort()
    return cand, band, keys
