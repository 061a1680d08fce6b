"""A feed request is a ranked batch: one candidate set per active user per tick.

A user with ``k`` slots this tick gets one block of candidates: a few exploring ones,
``k x C`` regular ones (``C`` = ``recommender.candidates``), and ``C - 1`` popular
reserves. The block is ordered by band, then by score:

* band 0, exploring candidates outside the user's estimated top interests, in random order;
* band 1, regular candidates (and exploring ones that turned out familiar), best first;
* band 2, popular reserves, best first: used only when the rest run out;
* band 3, no candidate, or one this viewer may not be shown.

:func:`rank_blocks` draws, scores and keys the candidates of a span of blocks in one
compiled pass, then orders each block's packed 64-bit keys (band, score, offset) in place:
only as far as the feed usually walks (its slots and a few more). The rest are ordered by
:func:`tiktok_sim.feed.fill.fill_slots` if a walk gets there, which few do.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.model.ranking import ESTIMATE_LEVELS, EXP_OF_LEVEL
from tiktok_sim.prefetch import prefetch_row
from tiktok_sim.seen import GOLDEN, covers, mix, slot

EXPLORE, REGULAR, RESERVE, INVALID = 0, 1, 2, 3
_OFFSET_BITS = 16
_SCORE_BITS = 22
_SCORE_LEVELS = 1 << _SCORE_BITS
_BAND_SHIFT = _OFFSET_BITS + _SCORE_BITS
_RUN = 64
"""Blocks a core ranks before it reads their seen bits at once."""
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


@numba.njit(cache=True)
def sort_top(keys: np.ndarray, lo: int, hi: int, top: int) -> None:
    """Put the ``top`` smallest of ``keys[lo:hi]`` first, sorted; the rest follow in any order.

    An insertion sort into the first ``top`` places: blocks are a few dozen entries, and
    the feed reads a third of them, so this does about half a full sort's work.
    """
    end = lo + max(min(top, hi - lo), 1)
    for i in range(lo + 1, hi):
        value = keys[i]
        if i >= end:
            if value >= keys[end - 1]:
                continue
            keys[i] = keys[end - 1]  # the largest of the top leaves for the rest
            j = end - 2
        else:
            j = i - 1
        while j >= lo and keys[j] > value:
            keys[j + 1] = keys[j]
            j -= 1
        keys[j + 1] = value


@numba.njit(cache=True)
def _row_sum(counts: np.ndarray, b: int) -> int:
    """Entries of block ``b``: the sum of its row of draw counts, as a plain loop."""
    total = 0
    for k in range(counts.shape[1]):
        total += counts[b, k]
    return total


@numba.njit(cache=True)
def _draw_block(
    b: int,
    p: int,
    drawn: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int],
    kinds: tuple[np.ndarray, int],
    follow: tuple[np.ndarray, int, int],
    cand: np.ndarray,
    band: np.ndarray,
) -> None:
    """Draw block ``b``'s candidates, kind by kind, into ``cand`` and ``band`` from place ``p`` on.

    Args:
        b: the block.
        p: its first place in ``cand``.
        drawn: every block's draws of each kind and their ticket-table rows, the tables,
            the tickets, and the span's first entry (where this span's tickets start).
        kinds: band of each kind of draw, and which kind is a follow draw.
        follow: the followed videos of the follow draws, this block's first follow draw,
            and the sentinel for a draw that found none (it keeps its ticket).
        cand: offer index of each place.
        band: band of each place.
    """
    counts, rows, tables, bits, base = drawn
    kind_band, follow_kind = kinds
    followed, f, none = follow
    for k in range(counts.shape[1]):
        table = tables[rows[b, k]]
        for _ in range(counts[b, k]):
            cand[p] = table[bits[base + p]]
            band[p] = kind_band[k]
            if k == follow_kind:
                if followed[f] != none:
                    cand[p] = np.int32(followed[f])
                f += 1
            p += 1


@numba.njit(cache=True)
def _key_block(
    b: int,
    places: tuple[int, int],
    entry: int,
    viewer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    affinity: np.ndarray,
    offer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    cand: np.ndarray,
    band: np.ndarray,
    keys: np.ndarray,
) -> None:
    """Score block ``b``'s places ``places`` and write their rank keys; settle each band.

    ``entry`` is the tick-wide entry number of the block's first place: exploring entries'
    random order depends on it alone, not on how the tick was split into spans.
    """
    users, context, segment, familiar, opted_in = viewer
    columns, weight, similar, sensitive = offer
    none = weight.shape[1] - 1
    first, end = places
    u, mine, see_all, group = users[b], familiar[b], opted_in[b], segment[b]
    weights = weight[context[b]]
    for p in range(first, end):
        c = cand[p]
        score = (
            EXP_OF_LEVEL[affinity[u, columns[0, c]] + ESTIMATE_LEVELS]
            * EXP_OF_LEVEL[affinity[u, columns[1, c]] + ESTIMATE_LEVELS]
            * EXP_OF_LEVEL[affinity[u, columns[2, c]] + ESTIMATE_LEVELS]
        )
        score *= weights[c]
        if similar.shape[0]:
            score *= similar[group, c]
        bd = band[p]
        if c == none or (sensitive[c] and not see_all) or not score >= 0:  # -inf: never shown in this context
            bd = INVALID
        elif bd == EXPLORE and (mine >> columns[0, c]) & 1:
            bd = REGULAR
        if bd == EXPLORE:
            rank = _noise(seed, entry + p - first)
        elif bd == INVALID:
            rank = np.int64(0)
        else:
            rank = _SCORE_LEVELS - 1 - _score_order(np.float32(score))
        band[p] = bd
        keys[p] = (np.int64(bd) << _BAND_SHIFT) | (rank << _OFFSET_BITS) | (p - first)


@numba.njit(cache=True, nogil=True)
def rank_blocks(
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    span: tuple[int, int],
    kinds: tuple[np.ndarray, int],
    tables: np.ndarray,
    bits: np.ndarray,
    followed: np.ndarray,
    viewer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    affinity: np.ndarray,
    offer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    seen: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offer index (int32), band (int8), rank key (int64) and seen bit of the candidates of blocks ``span``.

    The arrays start at the span's first entry. Each block's keys start with its first
    ``ahead`` keys in order (see :func:`sort_top`), and the seen bits tell, for those
    places only, whether the viewer saw the entry's video before: read here, ahead of the
    feed's sequential walk, on whichever core ranks the span.

    score = exp(estimated affinity for the topic, sound and hashtag) x the video's expected
    action value x its weak-signal factors for the viewer's context x the similar-users
    factor for the viewer's segment. Only the user's estimates are a large table.

    Every block is computed on its own, so the result does not depend on how a tick is cut
    into spans. The kernel runs on one core and releases the GIL: the feed ranks spans on
    both cores, ahead of its walk (see ``tiktok_sim.background.InTurn``).

    Args:
        blocks: (A,) start of each block, (A, kinds) how many draws of each kind it holds
            and the ticket-table row each kind draws from, (A,) its first follow draw, and
            (A,) how many of its best entries to put in order.
        span: the first block and one past the last block to rank.
        kinds: (kinds,) band of each kind of draw, and which kind is a follow draw.
        tables: (rows, TICKETS) int32 ticket tables of offer indices.
        bits: (M,) uint16 ticket drawn for each entry.
        followed: (follow draws,) followed creator's latest video per follow draw, in
            block order; the sentinel keeps the ticket drawn.
        viewer: (A,) user, context, segment, bit mask of the estimated top topics
            (exploring candidates there rank as regular ones) and sensitive-content opt-in.
        affinity: (users, estimates) int16 levels of the system's estimates (see ``ranking.ESTIMATE_LEVELS``).
        offer: (3, m) estimate columns, (contexts, m) weight, (segments, m) similar-users
            factor (no rows when off) and (m,) sensitivity of each offer index; the last
            index, m - 1, is the sentinel for no candidate.
        seed: this tick's seed for exploring candidates' random order.
        seen: (m,) video of each offer index, and the seen filter's words and masks.
    """
    start, counts, rows, first_follow, ahead = blocks
    users = viewer[0]
    none = offer[1].shape[1] - 1
    video, words, masks = seen
    lo, hi = span
    base = start[lo] if hi > lo else 0
    n = start[hi - 1] + _row_sum(counts, hi - 1) - base if hi > lo else 0
    cand = np.empty(n, dtype=np.int32)
    band = np.empty(n, dtype=np.int8)
    keys = np.empty(n, dtype=np.int64)
    seen_at = np.empty(n, dtype=np.bool_)
    drawn = (counts, rows, tables, bits, base)
    estimates = affinity.reshape(affinity.size)
    # A run of blocks at a time: each block's entries are drawn, keyed and put in order while
    # they are in cache, and the viewer's values are read once; the next viewer's estimates are
    # fetched meanwhile. The seen filter is read last, for the whole run at once: its words are
    # random reads from a table far larger than the cache, and independent reads overlap their waits.
    for run in range((hi - lo + _RUN - 1) // _RUN):
        run_lo, run_hi = lo + run * _RUN, min(lo + (run + 1) * _RUN, hi)
        checks = 0
        for b in range(run_lo, run_hi):
            checks += ahead[b]
        at = np.empty(checks, dtype=np.int64)
        word = np.empty(checks, dtype=np.int64)
        mask = np.empty(checks, dtype=np.uint64)
        i = 0
        for b in range(run_lo, run_hi):
            if b + 1 < hi:
                prefetch_row(estimates, users[b + 1], affinity.shape[1])
            first = start[b] - base
            end = first + _row_sum(counts, b)
            seen_at[first:end] = False
            _draw_block(b, first, drawn, kinds, (followed, first_follow[b], none), cand, band)
            _key_block(b, (first, end), base + first, viewer, affinity, offer, seed, cand, band, keys)
            sort_top(keys, first, end, ahead[b])
            viewer_key = np.int64(users[b]) << 32
            for j in range(first, first + ahead[b]):
                at[i] = j
                word[i], mask[i] = slot(words, masks, viewer_key | video[cand[first + (keys[j] & OFFSET_MASK)]])
                i += 1
        for i in range(checks):
            seen_at[at[i]] = covers(words[word[i]], mask[i])
    return cand, band, keys, seen_at
