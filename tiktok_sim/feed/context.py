"""What the system knows of a viewer without watching them: account settings.

Users who share languages, region and device share one *context*: the per-tick table
of weak-signal factors has a row per context, not per user, so it stays small whatever
the audience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.world import Population


@dataclass(frozen=True)
class Contexts:
    """Users grouped by their settings.

    Attributes:
        group: (users,) int32 language group (users who speak the same languages).
        speaks: (groups, languages) bool.
        context: (users,) int32 context id.
        group_of: (contexts,) intp each context's language group.
        region: (contexts,) intp.
        device: (contexts,) intp.
    """

    group: np.ndarray
    speaks: np.ndarray
    context: np.ndarray
    group_of: np.ndarray
    region: np.ndarray
    device: np.ndarray


def build_contexts(pop: Population) -> Contexts:
    """Group the population by language set, then by (languages, region, device)."""
    masks, group = small_unique(pop.langmask)
    languages = np.arange(len(pop.languages), dtype=np.int64)
    speaks = ((masks[:, None] >> languages) & 1).astype(bool)
    regions, devices = int(pop.region_offset_min.size), int(pop.device.max(initial=0)) + 1
    combined = (group.astype(np.int64) * regions + pop.region) * devices + pop.device
    keys, context = small_unique(combined)
    return Contexts(
        group=group.astype(np.int32),  # per user: int32 halves them against intp
        speaks=speaks,
        context=context.astype(np.int32),
        group_of=(keys // (regions * devices)).astype(np.intp),
        region=(keys // devices % regions).astype(np.intp),
        device=(keys % devices).astype(np.intp),
    )


_SMALL_DOMAIN = 1 << 22
"""Largest key counted in a table rather than sorted: 32 MB of counts at most."""


def small_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers.

    Settings take few values: counting them in a table is one pass, where ``np.unique``
    sorts every user (seconds at 10M users). Larger keys fall back to the sort.
    """
    if not values.size or values.min() < 0 or values.max() >= _SMALL_DOMAIN:
        uniques, inverse = np.unique(values, return_inverse=True)
        return uniques, inverse.reshape(-1)
    present = np.bincount(values, minlength=1) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(values.dtype), rank[values]
