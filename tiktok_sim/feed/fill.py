"""Filling each feed request's slots from its ranked block, one viewer after another.

Blocks are served in turn from a random first block each tick, so no viewer is always
first to a video's last quota, and memory is read in order. Each block is walked in rank
order. An entry is taken unless its video is out of quota, already seen, or ruled out by
the viewer (hidden, or damped by "not interested"). An entry that would follow a video
with the same creator or sound waits: it is taken as soon as it no longer clashes, ahead
of lower-ranked entries. So no two consecutive videos in a feed share a creator or a
sound, within a tick or across ticks.

Ranking put only each block's first ``ahead`` entries in order; a walk that gets past
them orders a few more at a time.

This walk is sequential by nature (each pick changes the next one's neighbour, the
quota and the seen set), so it is compiled rather than written as array passes.
"""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.feed.controls import passed_over
from tiktok_sim.feed.request import INVALID, OFFSET_MASK, sort_top
from tiktok_sim.seen import contains_one

_MORE = 8
"""Entries a walk puts in order at a time once it is past those ranking ordered."""


@numba.njit(cache=True, nogil=True)
def fill_slots(
    order: np.ndarray,
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    entries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    shown: tuple[np.ndarray, np.ndarray, np.ndarray],
    quota: np.ndarray,
    seen: tuple[np.ndarray, np.ndarray],
    last: tuple[np.ndarray, np.ndarray],
    rules: tuple[np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray, np.ndarray],
    damping: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(sum of slots,) int64 entry filling each slot, block by block in feed order; -1 where unfilled.

    A video drawn twice for one block is shown once: an entry whose video the block
    already took is skipped.

    Args:
        order: (A,) blocks in the order they are served.
        blocks: (A,) viewer, slots, start and size of each block, and how many of its
            entries are in order.
        entries: (M,) rank keys (block by block, best first as far as ``ahead``; the walk
            sorts the rest if it needs them), each entry's band and offer index, and the seen
            bits of the places in order (see :func:`tiktok_sim.feed.request.rank_blocks`).
        shown: (offer + 1,) video, creator and sound of each offer index.
        quota: (offer + 1,) float impressions each offer index may still take; decremented.
        seen: the seen filter's words and masks, as of the tick's start (the caller adds the picks).
        last: (users,) creator and sound each user was shown last; updated.
        rules: the viewers' controls (see ``ViewerControls.rules``).
        damping: chance a "not interested" mark passes a matching pick over.
        rng: the feed's random stream.
    """
    users, slots, start, size, ahead = blocks
    keys, band, cand, seen_at = entries
    video, creator, sound = shown
    last_creator, last_sound = last
    words, masks = seen
    hid_any, marks = rules[0], rules[6]
    slot_start = np.cumsum(slots) - slots
    out = np.full(slots.sum(), -1, dtype=np.int64)
    waiting = np.empty(max(size.max(), 1) if size.size else 1, dtype=np.int64)
    taken_by = np.full(quota.size, -1, dtype=np.int64)  # the block that last took each offer index
    careful = hid_any[users] | (marks[users] > 0)  # most viewers ruled nothing out
    prev_creator, prev_sound = last_creator[users], last_sound[users]
    for b in order:
        u = users[b]
        prev_c, prev_s = prev_creator[b], prev_sound[b]
        filled, n_waiting = 0, 0
        j, end, deep = start[b], start[b] + size[b], start[b] + ahead[b]
        ordered = deep
        while filled < slots[b]:
            take = -1
            w = 0
            while w < n_waiting and take < 0:  # the best waiting entry that no longer clashes
                c = cand[waiting[w]]
                if creator[c] != prev_c and sound[c] != prev_s:
                    if quota[c] >= 1 and taken_by[c] != b:
                        take = waiting[w]
                    n_waiting -= 1
                    waiting[w:n_waiting] = waiting[w + 1 : n_waiting + 1]
                else:
                    w += 1
            while take < 0 and j < end:
                if j == ordered:  # past the entries ranking put in order: order a few more
                    sort_top(keys, j, end, _MORE)
                    ordered = min(j + _MORE, end)
                e = start[b] + (keys[j] & OFFSET_MASK)
                j += 1
                if band[e] == INVALID:  # invalid entries rank last
                    j = end
                    break
                c = cand[e]
                if quota[c] < 1 or taken_by[c] == b:
                    continue
                if seen_at[j - 1] if j <= deep else contains_one(words, masks, (u << 32) | video[c]):
                    continue
                if careful[b] and passed_over(u, creator[c], sound[c], rules, damping, rng):
                    continue
                if creator[c] == prev_c or sound[c] == prev_s:
                    waiting[n_waiting] = e
                    n_waiting += 1
                    continue
                take = e
            if take < 0:
                break
            c = cand[take]
            quota[c] -= 1
            prev_c, prev_s = creator[c], sound[c]
            out[slot_start[b] + filled] = take
            taken_by[c] = b
            filled += 1
        last_creator[u], last_sound[u] = prev_c, prev_s
    return out
