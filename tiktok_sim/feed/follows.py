"""The follow graph: sorted (user, creator) keys with per-user offsets, growing as users follow."""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.feed.controls import contains_sorted

MERGE_MINUTES = 60.0  # new follow edges join the graph (and the follower trickle) hourly
ROOM = 8  # the graph keeps room for an eighth more edges than it starts with (3 days add about 4%)


class FollowGraph:
    """Who follows whom; followers matter to ranking only as follow candidates."""

    def __init__(self, keys: np.ndarray, users: int, creators: int) -> None:
        """Wrap the initial edges.

        Args:
            keys: sorted unique int64 ``user * creators + creator``.
            users: audience size.
            creators: number of creators.
        """
        # The graph is the first ``_count`` keys; the rest is room for the run's new edges, so the
        # hourly merge never copies the graph in the middle of a tick.
        self._count = keys.size
        self._edges = _with_room(keys, keys.size)
        self._users, self._creators = users, creators
        # keys[start[u]:start[u + 1]] are user u's edges (keys sort by user first)
        self.start = np.searchsorted(keys, np.arange(users + 1, dtype=np.int64) * creators)
        self.initial = np.bincount(keys % creators, minlength=creators)
        self.gained = np.zeros(creators, dtype=np.int64)
        self._pending = np.empty(0, dtype=np.int64)
        self._next_merge = MERGE_MINUTES

    @property
    def keys(self) -> np.ndarray:
        """(edges,) sorted unique int64 ``user * creators + creator``."""
        return self._edges[: self._count]

    def follows(self, users: np.ndarray, creators: np.ndarray) -> np.ndarray:
        """(n,) bool: whether each user follows the creator beside it (edges merged so far)."""
        return contains_sorted(self.keys, users.astype(np.int64) * self._creators + creators)

    def random_followed(self, users: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``users`` with any edge, one followed creator at random: (rows, creators)."""
        lo, hi = self.start[users], self.start[users + 1]
        rows = np.flatnonzero(hi > lo)
        pick = lo[rows] + np.floor(rng.random(rows.size) * (hi - lo)[rows]).astype(np.int64)
        return rows, self.keys[pick] % self._creators

    def add(self, users: np.ndarray, creators: np.ndarray, wants: np.ndarray, now: float) -> np.ndarray:
        """Keep only follows that create a new edge, record those edges, and return them as a mask.

        New edges wait in a small sorted buffer that is merged into the graph hourly:
        merging copies the whole edge array, so doing it every tick would dominate.
        Until then the duplicate check covers the buffer, so counts stay exact; only
        the follower trickle sees a new edge up to an hour late.
        """
        idx = np.flatnonzero(wants)
        keys = users[idx] * self._creators + creators[idx]
        exists = contains_sorted(self.keys, keys) | contains_sorted(self._pending, keys)
        idx, keys = idx[~exists], keys[~exists]
        fresh, first = np.unique(keys, return_index=True)
        followed = np.zeros(wants.size, dtype=bool)
        followed[idx[first]] = True
        self.gained += np.bincount(fresh % self._creators, minlength=self._creators)
        self._pending = np.union1d(self._pending, fresh)
        if now >= self._next_merge:
            self._merge(now)
        return followed

    def _merge(self, now: float) -> None:
        """Merge the pending edges into the graph in place.

        A copy of the graph (0.7 GB at 10M users) would come on top of a tick's arrays.
        """
        fresh, count = self._pending, self._count + self._pending.size
        if count > self._edges.size:  # past the room made at the start: grow it once more
            self._edges = _with_room(self.keys, count)
        _merge_in_place(self._edges, self._count, fresh, self.start, self._creators)
        self._count = count
        self._pending = np.empty(0, dtype=np.int64)
        self._next_merge = now + MERGE_MINUTES


def _with_room(keys: np.ndarray, count: int) -> np.ndarray:
    """``keys`` first in an int64 array with room for ``count`` keys, an eighth more and 1,024 (small graphs)."""
    edges = np.empty(count + count // ROOM + 1024, dtype=np.int64)
    edges[: keys.size] = keys
    return edges


@numba.njit(cache=True)
def _merge_in_place(edges: np.ndarray, count: int, fresh: np.ndarray, start: np.ndarray, creators: int) -> None:
    """Merge ascending ``fresh`` keys (none in the graph yet) into ``edges[:count]``, and move each user's start.

    The merge runs from the back, so no key is overwritten before it is moved. ``start[u]``
    gains the fresh edges of the users before ``u``.
    """
    i, k = count - 1, count + fresh.size - 1
    for j in range(fresh.size - 1, -1, -1):
        while i >= 0 and edges[i] > fresh[j]:
            edges[k] = edges[i]
            i -= 1
            k -= 1
        edges[k] = fresh[j]
        k -= 1
    added, j = 0, 0
    for u in range(start.size):
        while j < fresh.size and fresh[j] // creators < u:
            added += 1
            j += 1
        start[u] += added
