"""Already-seen pairs without a users x videos matrix: a blocked Bloom filter.

Each (user, video) pair sets ``k`` bits inside one 64-bit word, so a lookup costs one
random memory access. There are no false negatives, so no user ever sees a video twice;
a false positive hides an unseen video from one user, at a rate reported after the run
(about 0.1-0.5% when sized at 16 bits per expected impression, k = 6).
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_MASK_BITS = 16  # bit patterns come from a table indexed by 16 hash bits: one gather instead of k shifts
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a well-spread 64-bit hash of each key."""
    h = keys.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ (h >> np.uint64(30))) * _M1
    h = (h ^ (h >> np.uint64(27))) * _M2
    return h ^ (h >> np.uint64(31))


def _mask_table(hashes: int) -> np.ndarray:
    """(2**16,) uint64 words with ``hashes`` distinct bits set, fixed for every run."""
    rng = np.random.default_rng(0x5EE7)
    bits = np.argsort(rng.random((1 << _MASK_BITS, 64)), axis=1)[:, :hashes].astype(np.uint64)
    return np.bitwise_or.reduce(np.uint64(1) << bits, axis=1)


class SeenFilter:
    """Set membership for int64 (user, video) keys, O(expected impressions) bits."""

    def __init__(self, capacity: int, bits_per_item: int = 16, hashes: int = 6) -> None:
        """Size the filter for ``capacity`` insertions.

        Args:
            capacity: expected number of distinct keys.
            bits_per_item: memory per key; 16 gives well under 1% false positives.
            hashes: distinct bits set per key within its 64-bit word.
        """
        if not 1 <= hashes <= 16:
            raise ValueError(f"hashes must be in 1..16, found {hashes}")
        words = max(1, capacity * bits_per_item // 64)
        self._words = np.zeros(1 << int(np.ceil(np.log2(words))), dtype=np.uint64)
        self._hashes = hashes
        self._masks = _mask_table(hashes)

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return int(self._words.nbytes)

    def locate(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word index, bit mask) of each key: hash once, then test and set by location."""
        return self._locate(keys)

    def probe(self, index: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`contains`, for keys already located; also the words read, for :meth:`add_at`."""
        words = np.take(self._words, index)
        return (words & mask) == mask, words

    def add_at(self, index: np.ndarray, mask: np.ndarray, words: np.ndarray | None = None) -> None:
        """Like :meth:`add`, for keys already located (``words``: as :meth:`probe` read them, if it did)."""
        if words is not None:  # saves reading each word again
            self._words[index] = words | mask
            missing = (np.take(self._words, index) & mask) != mask
            index, mask = index[missing], mask[missing]
        # Fancy-index assignment keeps one write per repeated word; repeat until every bit landed.
        while index.size:
            self._words[index] |= mask
            missing = (self._words[index] & mask) != mask
            index, mask = index[missing], mask[missing]

    def _locate(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = _mix(keys)
        index = (h & np.uint64(self._words.size - 1)).astype(np.int64)
        return index, self._masks[(h >> np.uint64(64 - _MASK_BITS)).astype(np.int64)]

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """(n,) bool: True if the key may have been added; False means certainly not."""
        return self.probe(*self._locate(keys))[0]

    def add(self, keys: np.ndarray) -> None:
        """Insert keys (duplicates allowed)."""
        self.add_at(*self._locate(keys))

    def false_positive_rate(self) -> float:
        """Estimated chance an unseen key reads as seen, from the current fill."""
        fill = float(np.bitwise_count(self._words).sum()) / (64 * self._words.size)
        return fill**self._hashes
