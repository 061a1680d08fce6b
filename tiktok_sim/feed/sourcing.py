"""Candidate sourcing: which videos a feed slot gets to rank.

Pool candidates come from a table of exactly ``TICKETS`` entries per language group, so a
draw is 16 random bits and videos reach mostly viewers who speak their language; a
scenario-set share of slots draws from every language. Cold-start users and exploring
slots also draw from popular videos (high on the ladder or high in observed value, fading
with age), and a slot's last candidate may be a followed creator's latest video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)

TICKETS = 1 << 16  # resolution of a candidate-sampling table
POPULAR_SET = 1024  # popular videos kept per tick: enough for every language to have its own


def ticket_counts(demand: np.ndarray, offset: float) -> np.ndarray:
    """(..., n) tickets per video: ``TICKETS`` in all along the last axis (none where no demand).

    Each count is its share of ``TICKETS`` rounded down or up; over a uniform ``offset``
    in [0, 1) its expectation is the share exactly. Rows of a 2-D ``demand`` are counted
    as each would be alone.
    """
    total = demand.sum(axis=-1, keepdims=True)
    drawn = total > 0
    edges = np.floor(np.cumsum(demand * (TICKETS / np.where(drawn, total, 1.0)), axis=-1) + offset)
    edges = np.minimum(edges.astype(np.int64), TICKETS)  # float error must not overshoot the table
    if edges.shape[-1]:
        edges[..., -1] = np.where(drawn[..., 0], TICKETS, 0)
    return np.diff(edges, prepend=0, axis=-1)


@numba.njit(cache=True, nogil=True)
def _fill_rows(out: np.ndarray, index: np.ndarray, counts: np.ndarray, none: int) -> None:
    """Row ``g`` of ``out``: ``counts[g, i]`` copies of each ``index[i]`` in turn, or all ``none`` if it has no counts.

    One pass of writes into the tables: a tick's fixed cost, which small worlds feel.
    """
    for g in range(out.shape[0]):
        p = 0
        for i in range(index.size):
            c = counts[g, i]
            if c:
                out[g, p : p + c] = index[i]  # a slice is filled as one store loop, element loops are not
                p += c
        out[g, p:] = none  # a row with no counts (a full row ends at TICKETS)


def ticket_table(index: np.ndarray, weight: np.ndarray, none: int, offset: float) -> np.ndarray:
    """(TICKETS,) int32 entries of ``index`` in proportion to ``weight``; all ``none`` if no weight."""
    out = np.empty((1, TICKETS), dtype=np.int32)
    _fill_rows(out, index, ticket_counts(weight, offset)[None, :], none)  # no weight: no counts, all none
    return out[0]


def group_tables(
    out: np.ndarray,
    index: np.ndarray,
    weight: np.ndarray,
    language: np.ndarray,
    speaks: np.ndarray,
    group_slots: np.ndarray,
    none: int,
    offset: float,
) -> None:
    """Fill ``out`` (groups, TICKETS) with each language group's share of every video's weight.

    A video's weight is split over the groups that speak its language in proportion to
    their slots this tick, so its expected draws match its weight whatever the mix.

    Args:
        out: (groups, TICKETS) int32 tables to fill.
        index: (n,) what the table holds for each video (its offer index).
        weight: (n,) float64 demand.
        language: (n,) each video's language.
        speaks: (groups, languages) bool.
        group_slots: (groups,) slots of each group this tick.
        none: the sentinel for a group with nothing to draw.
        offset: uniform in [0, 1) for systematic rounding.
    """
    speak = speaks[:, language]  # (groups, n)
    audience = (group_slots[:, None] * speak).sum(axis=0)
    share = np.where(speak, group_slots[:, None] / np.maximum(audience, 1e-12), 0.0)
    # Every group's table at once, row by row as ticket_table would make each: one pass per
    # step instead of one per group (a tick's fixed cost, which small worlds feel).
    _fill_rows(out, index, ticket_counts(weight * share, offset), none)


@dataclass(frozen=True)
class Sources:
    """This tick's tables of candidate draws, as offer indices.

    Attributes:
        tables: (2 * groups + 1, TICKETS) int32: rows 0..groups-1 the pool tables per language
            group, row ``groups`` any language, then the popular tables per group.
        groups: number of language groups.
    """

    tables: np.ndarray
    groups: int


def tickets(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) uint16 random tickets: 16 random bits each, a quarter of a raw draw."""
    return rng.bit_generator.random_raw(-(-n // 4)).view(np.uint16)[:n]


def popular_weight(value: np.ndarray, stage: np.ndarray, age_min: np.ndarray, half_life: float) -> np.ndarray:
    """(n,) float64 pull of popular content: observed value, doubled per stage climbed, halving with age."""
    return value.astype(np.float64) * np.exp2(stage.astype(np.float64) - age_min / half_life)
