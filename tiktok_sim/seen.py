"""Already-seen pairs without a users x videos matrix: a blocked Bloom filter.

Each (user, video) pair sets ``k`` bits inside one 64-bit word, so a lookup costs one
random memory access. There are no false negatives, so no user ever sees a video twice;
a false positive hides an unseen video from one user, at a rate reported after the run.
The filter is sized so that once it holds every expected impression that rate is
``FALSE_POSITIVE_RATE`` (0.5%, at about 14.6 bits per impression with k = 6); it is lower
earlier in the run.

The per-key functions are compiled, so the feed can test and set keys one pick at a time.
A tick's picks are added on another thread, while the engine tallies the tick: every read
of the words waits for that.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.background import Background

_MASK_BITS = 16  # bit patterns come from a table indexed by 16 hash bits: one gather instead of k shifts


GOLDEN = np.uint64(0x9E3779B97F4A7C15)
"""splitmix64's increment: spreads consecutive inputs before :func:`mix`."""


@numba.njit(cache=True)
def mix(h: np.uint64) -> np.uint64:
    """The splitmix64 finalizer: a well-spread 64-bit hash of ``h``."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True)
def slot(words: np.ndarray, masks: np.ndarray, key: int) -> tuple[int, np.uint64]:
    """(word index, bit mask) of ``key``."""
    h = mix(np.uint64(key) + GOLDEN)
    # The low 32 bits scaled to the table (no power-of-two rounding); the top bits pick the mask.
    index = ((h & np.uint64(0xFFFFFFFF)) * np.uint64(words.size)) >> np.uint64(32)
    return int(index), masks[int(h >> np.uint64(64 - _MASK_BITS))]


@numba.njit(cache=True)
def covers(word: np.uint64, mask: np.uint64) -> bool:
    """True if the filter's ``word`` holds every bit of a key's ``mask`` (see :func:`slot`)."""
    return (word & mask) == mask


@numba.njit(cache=True)
def contains_one(words: np.ndarray, masks: np.ndarray, key: int) -> bool:
    """True if ``key`` may have been added; False means certainly not."""
    index, mask = slot(words, masks, key)
    return covers(words[index], mask)


@numba.njit(cache=True)
def add_one(words: np.ndarray, masks: np.ndarray, key: int) -> None:
    """Insert ``key``."""
    index, mask = slot(words, masks, key)
    words[index] |= mask


@numba.njit(cache=True)
def _contains_all(words: np.ndarray, masks: np.ndarray, keys: np.ndarray) -> np.ndarray:
    out = np.empty(keys.size, dtype=np.bool_)
    for i in range(keys.size):
        out[i] = contains_one(words, masks, keys[i])
    return out


@numba.njit(cache=True, nogil=True)
def _add_all(words: np.ndarray, masks: np.ndarray, keys: np.ndarray) -> None:
    for i in range(keys.size):
        add_one(words, masks, keys[i])


def _mask_table(hashes: int) -> np.ndarray:
    """(2**16,) uint64 words with ``hashes`` distinct bits set, fixed for every run."""
    rng = np.random.default_rng(0x5EE7)
    # The ``hashes`` smallest of 64 draws pick the bits; which they are matters, not their order,
    # so a partition gives the table a full sort gave, in a third of the time.
    bits = np.argpartition(rng.random((1 << _MASK_BITS, 64)), hashes - 1, axis=1)[:, :hashes].astype(np.uint64)
    return np.bitwise_or.reduce(np.uint64(1) << bits, axis=1)


FALSE_POSITIVE_RATE = 0.005
"""The seen filter's false-positive rate once it holds every expected impression."""


def full_false_positive_rate(bits_per_key: float, hashes: int) -> float:
    """The false-positive rate of a filter of ``bits_per_key`` bits per key once it holds them all.

    A word holds a Poisson number ``L`` of keys (mean ``64 / bits_per_key``), each a random
    ``hashes``-subset of its 64 bits. An unseen key passes when all of its bits are set: by
    inclusion-exclusion over which ``j`` of them are still clear, each clear after ``L``
    keys with chance ``(C(64 - j, k) / C(64, k)) ** L``.
    """
    load = 64.0 / bits_per_key
    keys = np.arange(int(load * 4) + 64)
    chance = np.exp(keys * math.log(load) - load - np.array([math.lgamma(n + 1.0) for n in keys]))
    k = hashes
    passing = sum((-1) ** j * math.comb(k, j) * (math.comb(64 - j, k) / math.comb(64, k)) ** keys for j in range(k + 1))
    return float(chance @ passing)


@functools.cache  # 10 ms of bisection, the same for every run: the engine and --dry-run both ask
def bits_per_key(false_positive: float, hashes: int) -> float:
    """Fewest bits per key at which a full filter's false-positive rate is ``false_positive``."""
    low, high = 1.0, 1024.0  # the rate falls as the bits grow
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (low, middle) if full_false_positive_rate(middle, hashes) <= false_positive else (middle, high)
    return high


def words_for(capacity: int, false_positive: float = FALSE_POSITIVE_RATE, hashes: int = 6) -> int:
    """64-bit words a filter of ``capacity`` keys needs for ``false_positive`` once full."""
    return max(1, math.ceil(capacity * bits_per_key(false_positive, hashes) / 64))


class SeenFilter:
    """Set membership for int64 (user, video) keys, O(expected impressions) bits.

    Attributes:
        words: the filter's bits; pass with ``masks`` to :func:`contains_one` and :func:`add_one`.
        masks: the bit patterns keys map to.
    """

    def __init__(self, capacity: int, false_positive: float = FALSE_POSITIVE_RATE, hashes: int = 6) -> None:
        """Size the filter for ``capacity`` insertions.

        Args:
            capacity: expected number of distinct keys.
            false_positive: the false-positive rate once ``capacity`` keys are in.
            hashes: distinct bits set per key within its 64-bit word.
        """
        if not 1 <= hashes <= 16:
            raise ValueError(f"hashes must be in 1..16, found {hashes}")
        words = words_for(capacity, false_positive, hashes)
        if words >= 1 << 32:
            raise ValueError(f"capacity must need fewer than 2**32 words, found {words:,}")
        self._words = np.zeros(words, dtype=np.uint64)
        self.masks = _mask_table(hashes)
        self._hashes = hashes
        self._adding: Background | None = None
        self._released: tuple[float, int] | None = None  # the rate and size when the bits were freed

    def _settle(self) -> None:
        """Wait for keys still being added on another thread."""
        if self._adding is not None:
            self._adding.result()
            self._adding = None

    @property
    def words(self) -> np.ndarray:
        """The filter's bits, with every key added so far."""
        self._settle()
        return self._words

    def __getstate__(self) -> dict[str, object]:
        """The state to save (a checkpoint): the bits once every key is in."""
        self._settle()
        return dict(self.__dict__)

    @property
    def nbytes(self) -> int:
        """Memory held (until :meth:`release`)."""
        return self._released[1] if self._released is not None else int(self._words.nbytes)

    def release(self) -> None:
        """Free the bits once nothing will be added or looked up; the rate and size stay readable."""
        self._released = (self.false_positive_rate(), self.nbytes)
        self._words = np.empty(0, dtype=np.uint64)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """(n,) bool: True if the key may have been added; False means certainly not."""
        return _contains_all(self.words, self.masks, keys.astype(np.int64, copy=False))

    def add(self, keys: np.ndarray) -> None:
        """Insert keys (duplicates allowed)."""
        _add_all(self.words, self.masks, keys.astype(np.int64, copy=False))

    def add_in_background(self, keys: np.ndarray) -> None:
        """Insert keys beside the caller (see ``Background.beside``); the next read of :attr:`words` waits for them.

        ``keys`` is read, not copied: the caller must not change it.
        """
        self._adding = Background.beside(_add_all, self.words, self.masks, keys.astype(np.int64, copy=False))

    def false_positive_rate(self) -> float:
        """The chance an unseen key reads as seen now: its word holds all of its ``k`` bits.

        A key's ``k`` bits are a random ``k``-subset of its word's 64, so a word with ``c``
        bits set passes it with chance C(c, k) / C(64, k), averaged over the words. (The
        fill of the whole filter to the ``k``-th power underestimates this: fuller words
        pass more keys than emptier ones lose.)
        """
        if self._released is not None:
            return self._released[0]
        words_with = np.zeros(65, dtype=np.int64)
        step = 1 << 22  # words counted at a time: a national filter's counts as int64 would take GBs
        for lo in range(0, self.words.size, step):
            words_with += np.bincount(np.bitwise_count(self.words[lo : lo + step]), minlength=65)
        set_bits = np.arange(65)
        passing = np.array([math.comb(int(c), self._hashes) for c in set_bits], dtype=np.float64)
        return float(words_with @ passing) / (self.words.size * math.comb(64, self._hashes))
