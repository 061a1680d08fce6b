"""What viewers ruled out, and the feed's diversity rule, in bounded memory.

* "Not interested" damps that video's creator and sound for the viewer: each user keeps
  their last ``RING`` such creators and sounds, and a pick matching one is passed over
  with the scenario's damping probability.
* Hide creator and hide sound are exact: sorted (user, creator) and (user, sound) keys,
  O(hides), checked only for the few users who hid anything. A hidden creator or sound
  never appears again for that user.
* No two consecutive videos in a feed share a creator or a sound: each user's last shown
  creator and sound carry the rule across ticks (the rule itself is applied where feeds
  are filled).
"""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)

RING = 2  # recent "not interested" marks remembered per user: at realistic rates a user makes about one a run


def contains_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(n,) bool membership of ``keys`` in an ascending array."""
    if not sorted_keys.size:
        return np.zeros(keys.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


@numba.njit(cache=True)
def _in_sorted(table: np.ndarray, key: int) -> bool:
    at = np.searchsorted(table, key)
    return bool(at < table.size and table[at] == key)


@numba.njit(cache=True)
def passed_over(
    user: int,
    creator: int,
    sound: int,
    rules: tuple[np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray, np.ndarray],
    damping: float,
    rng: np.random.Generator,
) -> bool:
    """True if the viewer hid this creator or sound, or marked one "not interested" and the damping passes it over."""
    hid_any, hidden_creator, hidden_sound, creators, sounds, damped, marks = rules
    if hid_any[user] and (
        _in_sorted(hidden_creator, user * creators + creator) or _in_sorted(hidden_sound, user * sounds + sound)
    ):
        return True
    if marks[user] > 0:
        for cell in range(damped.shape[1]):
            mark = damped[user, cell]
            if mark >= 0 and ((mark >> 32) == creator or (mark & 0xFFFFFFFF) == sound):
                return bool(rng.random() < damping)  # only a matching pick spends a draw
    return False


class ViewerControls:
    """Per-user negative feedback and the last creator and sound each user was shown."""

    def __init__(self, users: int, creators: int, sounds: int) -> None:
        """Start with nothing ruled out."""
        self._creators, self._sounds = creators, sounds
        # creator << 32 | sound of each user's last RING "not interested" marks; -1 = empty
        self.damped = np.full((users, RING), -1, dtype=np.int64)
        self._next = np.zeros(users, dtype=np.int32)  # marks made so far
        self.hidden_creator = np.empty(0, dtype=np.int64)
        self.hidden_sound = np.empty(0, dtype=np.int64)
        self._hid_any = np.zeros(users, dtype=bool)
        self.last_creator = np.full(users, -1, dtype=np.int32)
        self.last_sound = np.full(users, -1, dtype=np.int32)

    def rules(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray, np.ndarray]:
        """What :func:`passed_over` reads: hides, their key widths, and the "not interested" rings."""
        return (
            self._hid_any,
            self.hidden_creator,
            self.hidden_sound,
            self._creators,
            self._sounds,
            self.damped,
            self._next,
        )

    def record(
        self,
        users: np.ndarray,
        creators: np.ndarray,
        sounds: np.ndarray,
        not_interested: np.ndarray,
        hid_creator: np.ndarray,
        hid_sound: np.ndarray,
    ) -> None:
        """Remember this tick's "not interested" marks and hides."""
        idx = np.flatnonzero(not_interested)
        if idx.size:
            u = users[idx]
            order = np.argsort(u, kind="stable")  # a user marking twice in a tick fills two ring cells
            u, idx = u[order], idx[order]
            first = np.r_[True, u[1:] != u[:-1]]
            start = np.flatnonzero(first)
            rank = np.arange(u.size) - np.repeat(start, np.diff(np.r_[start, u.size]))
            cell = (self._next[u] + rank) % RING
            self.damped[u, cell] = (creators[idx].astype(np.int64) << 32) | sounds[idx]
            np.add.at(self._next, u, 1)
        for mask, ids, size, name in (
            (hid_creator, creators, self._creators, "hidden_creator"),
            (hid_sound, sounds, self._sounds, "hidden_sound"),
        ):
            idx = np.flatnonzero(mask)
            if idx.size:
                keys = np.unique(users[idx].astype(np.int64) * size + ids[idx])
                old = getattr(self, name)
                keys = keys[~contains_sorted(old, keys)]
                setattr(self, name, np.insert(old, np.searchsorted(old, keys), keys))
                self._hid_any[users[idx]] = True

    @property
    def hides(self) -> int:
        """Creators and sounds hidden so far."""
        return int(self.hidden_creator.size + self.hidden_sound.size)
