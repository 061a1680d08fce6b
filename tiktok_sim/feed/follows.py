"""The follow graph: sorted (user, creator) keys with per-user offsets, growing as users follow."""

from __future__ import annotations

import numpy as np

from tiktok_sim.feed.controls import contains_sorted

MERGE_MINUTES = 60.0  # new follow edges join the graph (and the follower trickle) hourly


class FollowGraph:
    """Who follows whom; followers matter to ranking only as follow candidates."""

    def __init__(self, keys: np.ndarray, users: int, creators: int) -> None:
        """Wrap the initial edges.

        Args:
            keys: sorted unique int64 ``user * creators + creator``.
            users: audience size.
            creators: number of creators.
        """
        self.keys = keys
        self._users, self._creators = users, creators
        # keys[start[u]:start[u + 1]] are user u's edges (keys sort by user first)
        self.start = np.searchsorted(keys, np.arange(users + 1, dtype=np.int64) * creators)
        self.initial = np.bincount(keys % creators, minlength=creators)
        self.gained = np.zeros(creators, dtype=np.int64)
        self._pending = np.empty(0, dtype=np.int64)
        self._next_merge = MERGE_MINUTES

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
        fresh = self._pending
        self.keys = np.insert(self.keys, np.searchsorted(self.keys, fresh), fresh)
        self.start[1:] += np.cumsum(np.bincount(fresh // self._creators, minlength=self._users))
        self._pending = np.empty(0, dtype=np.int64)
        self._next_merge = now + MERGE_MINUTES
