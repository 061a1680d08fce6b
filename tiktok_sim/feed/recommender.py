"""The system's side of a feed tick: what it knows of each viewer, and how it fills their slots.

The recommender never reads true interests. It keeps per-user estimates (topics, hashed
sound and hashtag buckets) learned from signals, the seen filter and the viewers' controls,
and each tick it compacts the videos it can offer, builds the ticket tables, draws and ranks
one request block per active user, and fills their slots. The engine owns the world, the
ladder and the clock, and hands the recommender what is open and how much quota is left.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiktok_sim.background import Background, InTurn
from tiktok_sim.feed import request, sourcing
from tiktok_sim.feed.context import build_contexts
from tiktok_sim.feed.controls import ViewerControls
from tiktok_sim.feed.fill import fill_slots
from tiktok_sim.feed.follows import FollowGraph
from tiktok_sim.feed.offer import Offer, context_weights, slice_factor, with_sentinel
from tiktok_sim.model import ranking
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.seen import SeenFilter
from tiktok_sim.world import Catalog, Status
from tiktok_sim.world.creators import Creators
from tiktok_sim.world.population import Population
from tiktok_sim.world.sounds import bucket_of

# The kinds of draw in a request block, and for each: its band, and its table row as
# row_kind * (groups + 1) + group (if per group) + groups (if any language). Tables are
# [pool per group | any language | popular per group], see ``sourcing.Sources``.
_EXPLORE_POPULAR, _EXPLORE_POOL, _COLD_POPULAR, _ANY_LANGUAGE, _POOL, _FOLLOW, _RESERVE = range(7)
_KIND_BAND = np.array([request.EXPLORE, request.EXPLORE] + [request.REGULAR] * 4 + [request.RESERVE], dtype=np.int8)
_KIND_ROW = np.array([1, 0, 1, 0, 0, 0, 1], dtype=np.int32)  # 1: the popular tables
_KIND_GROUP = np.array([1, 1, 1, 0, 1, 1, 1], dtype=np.int32)
_KIND_ANY = np.array([0, 0, 0, 1, 0, 0, 0], dtype=np.int32)


@dataclasses.dataclass(frozen=True)
class Requests:
    """This tick's feed requests: one block of candidate draws per active user, ranked a span at a time.

    Attributes:
        segment: (A,) the active users' segment: the system's estimated top topic.
        start: (A,) where each block starts.
        size: (A,) each block's size.
        blocks: what :func:`tiktok_sim.feed.request.rank_blocks` reads of the blocks: start,
            (A, kinds) int32 draws of each kind and their ticket-table rows, first follow draw,
            and how many of the best entries to put in order (the slots and twice ``candidates`` more).
        bits: (M,) uint16 ticket drawn for each entry.
        followed: (follow draws,) offer index of each follow draw's video (the sentinel for none).
        viewer: what ``rank_blocks`` reads of each block's viewer.
        seed: this tick's seed for exploring candidates' random order.
    """

    segment: np.ndarray
    start: np.ndarray
    size: np.ndarray
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    bits: np.ndarray
    followed: np.ndarray
    viewer: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    seed: int


@dataclasses.dataclass(frozen=True)
class Served:
    """The impressions of one tick, in feed order: viewer, offer index and video, and whether explored."""

    user: np.ndarray
    owner: np.ndarray
    pick: np.ndarray
    video: np.ndarray
    explored: np.ndarray


@dataclasses.dataclass
class TickOffer:
    """What the parts of one tick share: the videos offered, and the offer and ticket tables being made.

    Attributes:
        ids: (m,) offered videos, ascending.
        index: (videos,) offer index of every video (``ids.size`` if not offered).
        open_ids: (n,) the videos open when the tick began.
        making: the offer and its ticket tables, on the other core.
    """

    ids: np.ndarray
    index: np.ndarray
    open_ids: np.ndarray
    making: Background
    _made: tuple[Offer, sourcing.Sources] | None = None

    def made(self) -> tuple[Offer, sourcing.Sources]:
        """The offer and its ticket tables, once made."""
        if self._made is None:
            self._made = self.making.result()
        return self._made


class Recommender:
    """The system's state and its feed: estimates, the seen filter, viewer controls, requests."""

    def __init__(
        self,
        scenario: Scenario,
        world: tuple[Population, Creators, Catalog, FollowGraph],
        creator_latest: np.ndarray,
        user_views: np.ndarray,
        capacity: int,
        rng: np.random.Generator,
    ) -> None:
        """Start knowing only the users' signup picks.

        Args:
            scenario: the resolved scenario.
            world: the population, creators, catalog and follow graph (read, never written).
            creator_latest: (creators,) each creator's latest eligible video, kept by the engine.
            user_views: (users,) impressions each user has had, kept by the engine.
            capacity: expected impressions, to size the seen filter.
            rng: the feed's random stream.
        """
        self.scenario = scenario
        self.pop, self.cre, self.catalog, self.follows = world
        self.creator_latest = creator_latest
        self.user_views = user_views
        self._rng = rng
        n_users, n_topics, rec = self.pop.count, len(scenario.topics), scenario.recommender
        # Estimates: topics, then hashed sound buckets, then hashed hashtag buckets.
        self._sound_column = n_topics
        self._hashtag_column = n_topics + rec.sound_buckets
        # int16 levels of the estimates (0 = neutral; see ranking.ESTIMATE_LEVELS)
        self.affinity = np.zeros((n_users, n_topics + rec.sound_buckets + rec.hashtag_buckets), dtype=np.int16)
        rows = np.flatnonzero(self.pop.picked)
        self.affinity[rows[:, None], self.pop.picked_topics[rows]] = ranking.estimate_levels(np.log(rec.picked_prior))
        self.contexts = build_contexts(self.pop)
        self.controls = ViewerControls(n_users, self.cre.count, scenario.videos.sounds)
        self.seen = SeenFilter(capacity)

    def learn(self, users: np.ndarray, shown: tuple[np.ndarray, np.ndarray], gain: np.ndarray) -> None:
        """Move the viewers' topic, sound and hashtag estimates by each impression's gain.

        ``shown``: the offer's (3, m) estimate columns and each impression's offer index.
        """
        ranking.update_affinity(self.affinity, users, shown, gain, self.scenario.recommender.learning_rate)

    def release(self) -> None:
        """Free the seen filter's bits and the estimates once the run is over (5.7 GB in the national world).

        The results are collected without them, and collecting is where a large run would
        otherwise peak.
        """
        self.seen.release()
        self.affinity = np.empty((0, self.affinity.shape[1]), dtype=self.affinity.dtype)

    def topic_estimates(self, users: np.ndarray) -> np.ndarray:
        """(n, topics) float32 log-affinity estimates of ``users`` for each topic."""
        return ranking.log_estimates(self.affinity[users, : len(self.scenario.topics)])

    def _popular(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """The most popular eligible videos and their pull: high on the ladder or high in value, fading with age.

        Videos still climbing and those that completed the ladder qualify; a stopped video
        keeps only its followers' trickle.
        """
        cat, n = self.catalog, len(self.catalog)
        status = cat.status[:n]
        ids = np.flatnonzero((status == Status.OPEN) | (status == Status.COMPLETE))
        weight = sourcing.popular_weight(
            cat.value[ids],
            cat.stage[ids],
            now - cat.upload_min[ids],
            self.scenario.recommender.popular_half_life,
        )
        if ids.size > sourcing.POPULAR_SET:
            top = np.argpartition(-weight, sourcing.POPULAR_SET - 1)[: sourcing.POPULAR_SET]
            ids, weight = ids[top], weight[top]
        return ids, weight

    def offer(self, open_ids: np.ndarray, popular_ids: np.ndarray, floor: float) -> Offer:
        """This tick's candidate videos, compacted, with what scoring needs of each."""
        return self._offer(*self._offered(open_ids, popular_ids), floor)

    def _offered(self, open_ids: np.ndarray, popular_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The videos this tick can show (ascending) and the offer index of every video (``ids.size`` if none)."""
        cat, latest = self.catalog, self.creator_latest
        status = cat.status[latest]
        latest = latest[(latest >= 0) & (status != Status.REVIEW) & (status != Status.REMOVED)]
        offered = np.zeros(len(cat), dtype=bool)
        offered[open_ids] = True
        offered[latest] = True
        offered[popular_ids] = True
        ids = np.flatnonzero(offered)
        return ids, np.where(offered, np.cumsum(offered) - 1, ids.size)

    def _offer(self, ids: np.ndarray, index: np.ndarray, floor: float) -> Offer:
        """The offer of videos ``ids``, with what scoring needs of each."""
        cat, rec = self.catalog, self.scenario.recommender
        device_log = slice_factor(cat.device_views[ids], cat.device_signal[ids], rec.prior_views, floor)
        weak = rec.weak_signals
        weight = context_weights(
            self.contexts,
            cat.value[ids],
            cat.language[ids],
            self.cre.region[cat.creator[ids]],
            device_log,
            (weak.language, weak.country, weak.device),
        )
        similar = None
        if rec.similar_users:
            log = slice_factor(cat.segment_views[ids], cat.segment_signal[ids], rec.prior_views, floor)
            similar = with_sentinel(np.exp(np.float32(rec.similar_users) * log).astype(np.float32, order="C"), -np.inf)
        sounds = cat.sound[ids]
        columns = np.stack(
            [
                cat.topic[ids],
                self._sound_column + bucket_of(sounds, rec.sound_buckets),
                self._hashtag_column + bucket_of(cat.hashtags[ids, 0], rec.hashtag_buckets),
            ]
        )
        return Offer(
            ids=ids,
            columns=with_sentinel(columns.astype(np.intp), 0),
            creator=with_sentinel(cat.creator[ids].astype(np.int64), -1),
            sound=with_sentinel(sounds.astype(np.int64), -1),
            weight=weight,
            sensitive=with_sentinel(cat.sensitive[ids], False),
            similar=similar,
            index=index,
        )

    def _sources(
        self,
        offer: Offer,
        open_ids: np.ndarray,
        demand: np.ndarray,
        popular: tuple[np.ndarray, np.ndarray],
        group_slots: np.ndarray,
        offset: float,
    ) -> sourcing.Sources:
        """This tick's pool tables (per language group, and any language) and popular tables."""
        ctx, cat = self.contexts, self.catalog
        groups = ctx.speaks.shape[0]
        tables = np.empty((2 * groups + 1, sourcing.TICKETS), dtype=np.int32)
        open_index = offer.index[open_ids]
        sourcing.group_tables(
            tables[:groups], open_index, demand, cat.language[open_ids], ctx.speaks, group_slots, offer.none, offset
        )
        tables[groups] = sourcing.ticket_table(open_index, demand, offer.none, offset)
        pop_ids, pop_weight = popular
        hits = tables[groups + 1 :]
        sourcing.group_tables(
            hits, offer.index[pop_ids], pop_weight, cat.language[pop_ids], ctx.speaks, group_slots, offer.none, offset
        )
        empty = hits[:, 0] == offer.none  # nothing popular in those languages yet: the pools stand in
        hits[empty] = tables[:groups][empty]
        return sourcing.Sources(tables=tables, groups=groups)

    def _offer_and_sources(
        self,
        offered: tuple[np.ndarray, np.ndarray, float],
        open_ids: np.ndarray,
        remaining: np.ndarray,
        now: float,
        popular: tuple[np.ndarray, np.ndarray],
        tables: tuple[np.ndarray, float],
    ) -> tuple[Offer, sourcing.Sources]:
        """The offer and the tick's ticket tables (``tables``: each language group's slots, and the rounding offset)."""
        offer = self._offer(*offered)
        demand = self._paced_demand(open_ids, remaining, now)
        return offer, self._sources(offer, open_ids, demand, popular, *tables)

    def _paced_demand(self, open_ids: np.ndarray, remaining: np.ndarray, now: float) -> np.ndarray:
        """Each open video's remaining quota spread over the ticks left in its window."""
        deadline = self.catalog.stage_deadline_min[open_ids]
        ticks_left = np.maximum(1.0, np.ceil((deadline - now) / self.scenario.run.tick))
        return remaining / ticks_left

    def _requests(self, users: np.ndarray, slots: np.ndarray, index: np.ndarray, none: int) -> Requests:
        """One block of candidates per active user: exploring, regular and reserve draws.

        A user with k slots gets k x ``candidates`` regular draws, so each slot is chosen
        from as many as in a one-candidate-set-per-slot feed, while the block as a whole is
        ranked once and its order can keep neighbours apart.

        Regular candidates come from the pools of the viewer's languages (a few from any
        language); a cold-start viewer (no signup picks, few views) draws part of them
        from popular videos, and some are followed creators' latest videos, which is how
        stopped videos keep a follower trickle. Exploring candidates come half from
        popular videos, reserves all from them.
        """
        rng, rec, pop = self._rng, self.scenario.recommender, self.pop
        width = rec.candidates
        explore = rng.binomial(slots, rec.exploration)
        regular = (slots - explore) * width  # exploring slots rank no regular draws of their own
        # How many draws of each kind a block holds is drawn per user; their order within
        # the block does not matter, since blocks are ranked before use.
        counts = np.zeros((users.size, len(_KIND_BAND)), dtype=np.int32)
        explorers = np.flatnonzero(explore > 0)
        estimated = Background.beside(self._estimated_interests, users, explorers)  # no draws: on the other core
        counts[explorers, _EXPLORE_POPULAR] = rng.binomial(explore[explorers], 0.5)
        counts[:, _EXPLORE_POOL] = explore - counts[:, _EXPLORE_POPULAR]
        cold = np.flatnonzero(~pop.picked[users] & (self.user_views[users] < rec.cold_start_views))
        counts[cold, _COLD_POPULAR] = rng.binomial(regular[cold], rec.popular_candidates)
        left = regular - counts[:, _COLD_POPULAR]
        counts[:, _ANY_LANGUAGE] = np.minimum(rng.binomial(regular, rec.other_language), left)
        left -= counts[:, _ANY_LANGUAGE]
        counts[:, _FOLLOW] = np.minimum(rng.binomial(slots, rec.follow_candidates), left)
        counts[:, _POOL] = left - counts[:, _FOLLOW]
        counts[:, _RESERVE] = width - 1
        size = counts.sum(axis=1)
        start = np.cumsum(size) - size

        # Follow draws become followed creators' latest videos where there is one.
        follower = np.repeat(users, counts[:, _FOLLOW])
        followed = np.full(follower.size, none, dtype=np.int64)
        rows, creators = self.follows.random_followed(follower, rng)
        latest = self.creator_latest[creators]
        posted = latest >= 0  # index only real videos: before any upload the offer is empty
        followed[rows[posted]] = index[latest[posted]]

        segment, familiar = estimated.result()
        group = self.contexts.group[users].astype(np.int32)[:, None]
        groups = self.contexts.speaks.shape[0]
        table_rows = _KIND_ROW * (groups + 1) + _KIND_GROUP * group + _KIND_ANY * groups
        return Requests(
            segment=segment,
            start=start,
            size=size,
            blocks=(
                start,
                counts,
                table_rows,
                np.cumsum(counts[:, _FOLLOW], dtype=np.int64) - counts[:, _FOLLOW],
                np.minimum(size, slots + 2 * width),  # most walks end within this (see fill.py)
            ),
            bits=sourcing.tickets(int(size.sum()), rng),
            followed=followed,
            viewer=(users, self.contexts.context[users], segment, familiar, pop.opted_in[users]),
            seed=int(rng.integers(1 << 62)),
        )

    def _estimated_interests(self, users: np.ndarray, explorers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each user's segment (estimated top topic), and a bit mask of the explorers' three highest estimates.

        Exploring candidates in those topics rank as regular ones.
        """
        n_topics = len(self.scenario.topics)
        # The stored levels are ordered as the estimates are.
        segment = ranking.top_estimates(self.affinity, users, n_topics)
        familiar = np.zeros(users.size, dtype=np.int64)
        if explorers.size:
            topics = self.affinity[users[explorers], :n_topics]
            top = np.argpartition(-topics, min(3, n_topics) - 1, axis=1)[:, :3]
            familiar[explorers] = np.bitwise_or.reduce(np.left_shift(1, top.astype(np.int64)), axis=1)
        return segment, familiar

    def open_tick(
        self,
        requests: tuple[np.ndarray, np.ndarray],
        open_ids: np.ndarray,
        remaining: np.ndarray,
        now: float,
        floor: float,
    ) -> TickOffer:
        """Begin a tick: the videos it offers, with the offer and its ticket tables made on the other core.

        Args:
            requests: (A,) the tick's active users and (A,) their slots: each language
                group's share of the slots sizes its ticket tables.
            open_ids: (n,) videos in an open pool.
            remaining: (n,) impressions each may still take.
            now: the simulated minute.
            floor: the smallest rate the audience-slice factors consider.
        """
        users, slots = requests
        ctx = self.contexts
        popular = self._popular(now)
        ids, index = self._offered(open_ids, popular[0])
        group_slots = np.bincount(ctx.group[users], weights=slots, minlength=ctx.speaks.shape[0])
        offset = self._rng.random()
        # The offer's scoring factors and the ticket tables take no random draws: they are
        # made on the other core while this one draws the first requests.
        making = Background.beside(
            self._offer_and_sources, (ids, index, floor), open_ids, remaining, now, popular, (group_slots, offset)
        )
        return TickOffer(ids=ids, index=index, open_ids=open_ids, making=making)

    def serve(
        self,
        tick: TickOffer,
        requests: tuple[np.ndarray, np.ndarray],
        open_ids: np.ndarray,
        remaining: np.ndarray,
    ) -> tuple[np.ndarray, Served, Offer]:
        """Fill each request's slots with its best unseen, in-quota videos the viewer did not rule out.

        Args:
            tick: the tick's offer (see :meth:`open_tick`).
            requests: (A,) ascending active users and (A,) their slots: the whole tick, or
                one of its parts.
            open_ids: (n,) videos in an open pool now.
            remaining: (n,) impressions each may still take: a part after the first sees
                what the earlier parts took.

        Returns:
            Each request's segment (the viewer's estimated top topic), the impressions in feed
            order (see ``tiktok_sim.feed.fill`` for how each block is walked), and the tick's
            offer. The rest of the requests (a few bytes per candidate) is freed here.
        """
        users, slots = requests
        rng, rec = self._rng, self.scenario.recommender
        req = self._requests(users, slots, tick.index, tick.ids.size)
        offer, sources = tick.made()
        quota = np.full(offer.none + 1, np.inf)
        if open_ids is not tick.open_ids:  # a later part: pools closed since the tick began are still in the tables
            quota[offer.index[tick.open_ids]] = 0
        quota[offer.index[open_ids]] = remaining
        video = with_sentinel(offer.ids.astype(np.int64), -1)
        similar = offer.similar if offer.similar is not None else np.empty((0, offer.none + 1), dtype=np.float32)
        slot_start = np.cumsum(slots) - slots
        pick = np.full(int(slots.sum()), -1, dtype=np.int64)  # offer index filling each slot, block by block
        explored = np.zeros(pick.size, dtype=bool)
        first = int(rng.integers(max(users.size, 1)))  # a random first block each tick (or part)
        rules = self.controls.rules()
        ahead = req.blocks[4]
        spans = _spans(req.size, first)
        words, masks = self.seen.words, self.seen.masks

        def rank(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            lo, hi, _ = spans[i]
            return request.rank_blocks(
                req.blocks,
                (lo, hi),
                (_KIND_BAND, _FOLLOW),
                sources.tables,
                req.bits,
                req.followed,
                req.viewer,
                self.affinity,
                (offer.columns, offer.weight, similar, offer.sensitive),
                req.seed,
                (video, words, masks),
            )

        # Spans are ranked on both cores, ahead of the walk, which serves each in turn.
        for (lo, hi, order), (cand, band, keys, seen_at) in zip(spans, InTurn(rank, len(spans)), strict=True):
            filled = fill_slots(
                order,
                (users[lo:hi], slots[lo:hi], req.start[lo:hi] - req.start[lo], req.size[lo:hi], ahead[lo:hi]),
                (keys, band, cand, seen_at),
                (video, offer.creator, offer.sound),
                quota,
                (words, masks),
                (self.controls.last_creator, self.controls.last_sound),
                rules,
                rec.not_interested_damping,
                rng,
            )
            got = np.flatnonzero(filled >= 0)
            pick[slot_start[lo] + got] = cand[filled[got]]
            explored[slot_start[lo] + got] = band[filled[got]] == request.EXPLORE
        taken = pick >= 0
        owner, pick = np.repeat(np.arange(users.size), slots)[taken], pick[taken]
        self.seen.add_in_background((users[owner] << 32) | video[pick])
        served = Served(user=users[owner], owner=owner, pick=pick, video=video[pick], explored=explored[taken])
        return req.segment, served, offer


SPAN_ENTRIES = 1 << 21
"""Most candidates ranked at once: their arrays stay under glibc's 32 MB mmap threshold."""
SPANS = 8
"""A tick is cut into about this many spans, so that one core can rank while the other serves."""
FEWEST_ENTRIES = 1 << 12
"""Fewest candidates worth a span of their own: each span costs two kernel calls."""


def _spans(size: np.ndarray, first: int) -> list[tuple[int, int, np.ndarray]]:
    """Spans of blocks ``(lo, hi)`` with their blocks' serving order (from 0 = block ``lo``).

    Blocks are served from block ``first`` round to ``first - 1``, cut in that order into
    consecutive spans of about a ``SPANS``-th of the tick's entries (at least
    ``FEWEST_ENTRIES``, at most ``SPAN_ENTRIES``, and at least one block), each served in
    block order. How a tick is cut does not change its results.
    """
    if not size.size:
        return []
    entries = min(SPAN_ENTRIES, max(FEWEST_ENTRIES, int(size.sum()) // SPANS))
    ends = np.concatenate([[0], np.cumsum(size)])
    spans = []
    for lo, stop in ((first, size.size), (0, first)):
        while lo < stop:
            hi = int(np.searchsorted(ends, ends[lo] + entries, side="right")) - 1
            hi = min(max(hi, lo + 1), stop)
            spans.append((lo, hi, np.arange(hi - lo)))
            lo = hi
    return spans
