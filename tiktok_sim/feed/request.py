"""A feed request is a ranked batch: one candidate set per active user per tick.

A user with ``k`` slots this tick gets one block of candidates: a few exploring ones,
``k x C`` regular ones (``C`` = ``recommender.candidates``), and ``C - 1`` popular
reserves. The block is ordered by band, then by score:

* band 0, exploring candidates outside the user's estimated top interests, in random order;
* band 1, regular candidates (and exploring ones that turned out familiar), best first;
* band 2, popular reserves, best first: used only when the rest run out;
* band 3, no candidate.

The first ``k`` valid entries of a block fill its slots, in feed order. Every block is
sorted at once by one ``np.sort`` of packed 64-bit keys (user, band, score, offset), which
is several times cheaper than an argsort and keeps each block where it was.
"""

from __future__ import annotations

import numpy as np

EXPLORE, REGULAR, RESERVE, INVALID = 0, 1, 2, 3
_OFFSET_BITS = 16
_SCORE_BITS = 22
_BAND_SHIFT = _OFFSET_BITS + _SCORE_BITS
_OWNER_SHIFT = _BAND_SHIFT + 2
MAX_BLOCK = 1 << _OFFSET_BITS
"""Largest candidate block: a user's slots in one tick plus a few, far below this."""


def sort_blocks(
    owner: np.ndarray, offset: np.ndarray, band: np.ndarray, score: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(M,) offsets within each block, in ranked order; blocks stay where they were.

    Args:
        owner: (M,) block (user position) of each candidate, ascending.
        offset: (M,) position of each candidate within its block.
        band: (M,) int band (see the module docstring).
        score: (M,) float32 non-negative scores (ignored in bands 0 and 3).
        rng: draws the exploring candidates' random order.
    """
    # A non-negative float32's bit pattern is an order-preserving integer; keep its top 22 bits.
    top = score.view(np.int32).astype(np.int64) >> (31 - _SCORE_BITS)
    rank = np.int64((1 << _SCORE_BITS) - 1) - np.clip(top, 0, (1 << _SCORE_BITS) - 1)
    explore = band == EXPLORE
    rank[explore] = rng.integers(0, 1 << _SCORE_BITS, int(explore.sum()))
    keys = (owner.astype(np.int64) << _OWNER_SHIFT) | (band.astype(np.int64) << _BAND_SHIFT)
    keys |= (rank << _OFFSET_BITS) | offset
    keys.sort()
    return keys & np.int64(MAX_BLOCK - 1)


def block_ranks(valid: np.ndarray, start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(M,) rank of each entry among the valid entries of its block before it (0 = first valid)."""
    count = np.zeros(valid.size + 1, dtype=np.int64)
    np.cumsum(valid, out=count[1:])
    return count[1:] - 1 - np.repeat(count[start], size)  # an empty block may start at the end


def previous_chosen(chosen: np.ndarray, block_start: np.ndarray) -> np.ndarray:
    """(n,) position of the chosen entry before each chosen one in the same block, or -1.

    Args:
        chosen: (n,) ascending positions of the chosen entries.
        block_start: (n,) start position of each one's block.
    """
    prev = np.r_[-1, chosen[:-1]]
    return np.where(prev >= block_start, prev, -1)


def breaks_run(
    chosen: np.ndarray,
    fresh: np.ndarray,
    bad: np.ndarray,
    block_start: np.ndarray,
    shown: tuple[np.ndarray, np.ndarray],
    viewer: np.ndarray,
    last: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """(new,) bool: new picks that would follow a video with the same creator or sound.

    New picks always come after a block's confirmed ones, so dropping one can only give
    a later new pick a different predecessor: only those are checked again, until no
    pick clashes.

    Args:
        chosen: ascending positions chosen this round (confirmed and new).
        fresh: (chosen,) bool, the new ones.
        bad: (new,) bool, new picks already ruled out.
        block_start: (M,) where each position's block starts.
        shown: (M,) creator and sound at each position.
        viewer: (M,) user at each position.
        last: (users,) creator and sound each user was shown last, before this tick.
    """
    new_at = np.flatnonzero(fresh)  # where the new picks sit among the chosen
    clash = np.zeros(bad.size, dtype=bool)
    alive = np.ones(chosen.size, dtype=bool)
    alive[new_at[bad]] = False
    live = np.flatnonzero(alive)
    check = live[fresh[live]]
    while check.size:
        k = np.searchsorted(live, check)
        prev = chosen[live[np.maximum(k - 1, 0)]]
        pos = chosen[check]
        has = (k > 0) & (prev >= block_start[pos])
        u = viewer[pos]
        hit = np.zeros(pos.size, dtype=bool)
        for mine, before in zip(shown, last, strict=True):
            hit |= np.where(has, mine[prev], before[u]) == mine[pos]
        if not hit.any():
            break
        dropped = check[hit]
        alive[dropped] = False
        clash[np.searchsorted(new_at, dropped)] = True
        live = np.flatnonzero(alive)
        after = np.searchsorted(live, dropped)  # the pick after a dropped one has a new predecessor
        following = live[after[after < live.size]]
        check = np.unique(following[fresh[following]])
    return clash
