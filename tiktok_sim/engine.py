"""SimPy wiring: uploads, feed ticks and pool evaluations over the world's arrays.

SimPy events are coarse (a day's upload times, one feed tick, one batch's stage
deadline); each feed tick serves every active user's slots as numpy batches, so no
Python code runs per impression or per user.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import simpy

from tiktok_sim.model import engagement, exposure, ranking
from tiktok_sim.results import (
    PERSONALIZATION_BUCKET,
    PERSONALIZATION_BUCKETS,
    WATCH_BIN_WIDTH,
    WATCH_BINS,
    RunResult,
)
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.seen import SeenFilter
from tiktok_sim.world import (
    ACTIONS,
    Catalog,
    Status,
    build_creators,
    build_follow_keys,
    build_population,
    initial_followers,
    sample_lengths,
)
from tiktok_sim.world.catalog import A

Progress = Callable[[float, float], None]
"""Called after each feed tick with (simulated minutes done, total)."""

LANGUAGE_PENALTY = np.float32(0.05)  # score factor for a language the user does not speak: rare, not banned
RETRY_ROUNDS = 3  # a slot whose pick was seen or over quota falls back to its next-best candidate
TICKETS = 1 << 16  # resolution of the candidate-sampling table
FOLLOW_MERGE_MINUTES = 60.0  # new follow edges join the graph (and the follower trickle) hourly


def expected_impressions(scenario: Scenario) -> float:
    """Impressions the audience would watch if every slot were filled."""
    users = scenario.users
    spd = users.sessions_per_day
    device = sum(d.share * d.session_multiplier for d in users.devices)
    per_day = spd.median * math.exp(spd.sigma**2 / 2) * users.videos_per_session * device
    return users.count * per_day * scenario.run.duration / 1440.0


def expected_videos(scenario: Scenario) -> float:
    """Uploads expected over the run."""
    ppd = scenario.creators.posts_per_day
    per_day = scenario.creators.count * ppd.median * math.exp(ppd.sigma**2 / 2)
    per_day += sum(f.posts_per_day for f in scenario.featured)
    return per_day * scenario.run.duration / 1440.0


def ticket_counts(demand: np.ndarray, offset: float) -> np.ndarray:
    """(n,) tickets per video, exactly ``TICKETS`` in all, by systematic rounding.

    Each count is its share of ``TICKETS`` rounded down or up; over a uniform ``offset``
    in [0, 1) its expectation is the share exactly.
    """
    edges = np.floor(np.cumsum(demand * (TICKETS / demand.sum())) + offset).astype(np.int64)
    edges = np.minimum(edges, TICKETS)  # float error must not overshoot the table
    edges[-1] = TICKETS
    return np.diff(edges, prepend=0)


def _zero_truncated_poisson(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 draws of Poisson(lam) conditioned on being at least 1, by inversion."""
    target = rng.random(lam.size) * -np.expm1(-lam)  # uniform over the mass above zero
    term = lam * np.exp(-lam)  # P(N = 1)
    cumulative = term.copy()
    draws = np.ones(lam.size, dtype=np.int64)
    more = np.flatnonzero(target > cumulative)
    k = 1
    while more.size:
        k += 1
        term[more] *= lam[more] / k
        cumulative[more] += term[more]
        draws[more] = k
        more = more[target[more] > cumulative[more]]
    return draws


def _contains_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(n,) bool membership of ``keys`` in an ascending array."""
    if not sorted_keys.size:
        return np.zeros(keys.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def _repeated(keys: np.ndarray) -> np.ndarray:
    """(n,) bool: keys that already occurred earlier in ``keys``."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    dup = np.zeros(keys.size, dtype=bool)
    dup[order[1:]] = ordered[1:] == ordered[:-1]
    return dup


def _within_quota(v: np.ndarray, bad: np.ndarray, left: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: picks that fit their video's remaining quota; a random subset where over."""
    fits = np.ones(v.size, dtype=bool)
    over = np.bincount(v[~bad], minlength=left.size) > left
    if not over.any():
        return fits
    idx = np.flatnonzero(~bad & over[v])
    order = idx[np.argsort(v[idx] + rng.random(idx.size))]  # by video, random within a video
    sorted_v = v[order]
    start = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    rank = np.arange(order.size) - np.repeat(start, np.diff(np.r_[start, order.size]))
    fits[order] = rank < left[sorted_v]
    return fits


@dataclasses.dataclass(frozen=True)
class _Offer:
    """The videos one feed tick can show, compacted so per-candidate gathers hit small arrays.

    Index ``ids.size`` is a sentinel meaning "no candidate": its weight is -inf.
    """

    ids: np.ndarray  # (M,) ascending video ids: the open videos and every creator's latest
    topic: np.ndarray  # (M + 1,)
    weight: np.ndarray  # (language groups, M + 1) float32: expected action value x language factor
    open_index: np.ndarray  # (open,) each open video's index
    latest_index: np.ndarray  # (creators,) each creator's latest video's index, or the sentinel


class Engine:
    """Owns all mutable state of one run; the scenario stays frozen."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        progress: Progress | None = None,
        record_impressions: bool = False,
    ) -> None:
        """Build the world from the scenario and seed.

        Args:
            scenario: the resolved scenario.
            seed: root of every random stream in the run.
            progress: optional callback after each feed tick.
            record_impressions: keep every (user, video, minute); for tests and audits.
        """
        self.scenario = scenario
        self.seed = seed
        self._progress = progress
        root = np.random.SeedSequence(seed)
        world_seq, upload_seq, feed_seq, react_seq = root.spawn(4)
        pop_rng, creator_rng, follow_rng = (np.random.default_rng(s) for s in world_seq.spawn(3))
        self._upload_rng = np.random.default_rng(upload_seq)
        self._feed_rng = np.random.default_rng(feed_seq)
        self._react_rng = np.random.default_rng(react_seq)

        self.pop = build_population(scenario, pop_rng)
        self.cre = build_creators(scenario, creator_rng)
        targets = initial_followers(scenario, follow_rng)
        self.follow_keys = build_follow_keys(self.cre, self.pop, targets, follow_rng)
        self.initial_followers = np.bincount(self.follow_keys % self.cre.count, minlength=self.cre.count)
        # follow_keys[follow_start[u]:follow_start[u + 1]] are user u's edges (keys sort by user first)
        self.follow_start = np.searchsorted(
            self.follow_keys, np.arange(scenario.users.count + 1, dtype=np.int64) * self.cre.count
        )
        self.followers_gained = np.zeros(self.cre.count, dtype=np.int64)
        self._pending_follows = np.empty(0, dtype=np.int64)
        self._next_follow_merge = FOLLOW_MERGE_MINUTES

        self.catalog = Catalog(int(expected_videos(scenario) * 1.3) + 16, scenario.videos.hashtags_per_video)
        self.creator_latest = np.full(self.cre.count, -1, dtype=np.int64)
        self._in_review = np.empty(0, dtype=np.int64)

        n_users, n_topics = self.pop.count, len(scenario.topics)
        self.estimates = np.zeros((n_users, n_topics), dtype=np.float32)
        rows = np.flatnonzero(self.pop.picked)
        self.estimates[rows[:, None], self.pop.picked_topics[rows]] = np.log(scenario.recommender.picked_prior)
        self._affinity = np.exp(self.estimates)  # exp of the estimates, refreshed where they change
        self.user_views = np.zeros(n_users, dtype=np.int32)
        languages = np.arange(len(self.pop.languages), dtype=np.int64)
        # Users who speak the same languages share a row of language factors: few rows, whatever the audience.
        masks, group = np.unique(self.pop.langmask, return_inverse=True)
        self._language_group = group.astype(np.intp)
        speaks = ((masks[:, None] >> languages) & 1).astype(bool)
        self._speakers = np.bincount(self._language_group, minlength=masks.size) @ speaks
        self._group_factor = np.where(speaks, np.float32(1.0), LANGUAGE_PENALTY).astype(np.float32)
        self.seen = SeenFilter(int(expected_impressions(scenario) * 1.2) + 1024)

        diurnal = np.asarray(scenario.users.diurnal, dtype=np.float64)
        self._diurnal = diurnal / diurnal.sum()
        self._rates_hour: np.ndarray | None = None
        self._rates: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self._pools = np.array([s.pool for s in scenario.ladder], dtype=np.int64)
        self._history = exposure.ScoreHistory()

        self.totals = np.zeros(len(ACTIONS), dtype=np.int64)
        self.watch_hist = np.zeros(WATCH_BINS, dtype=np.int64)
        self.watch_sum = 0.0
        self.signal_sum = 0.0
        self.unfilled = 0
        self.early_affinity = np.zeros(PERSONALIZATION_BUCKETS)
        self.early_count = np.zeros(PERSONALIZATION_BUCKETS)
        self.exploit_hits = 0
        self.exploit_total = 0
        self._reach: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._stage_rows: list[dict[str, np.ndarray]] = []
        self._log: list[tuple[np.ndarray, np.ndarray, float]] | None = [] if record_impressions else None

        self.env = simpy.Environment()

    # ------------------------------------------------------------------ processes

    def run(self) -> RunResult:
        """Simulate the scenario's duration and collect the result."""
        self.env.process(self._uploads())
        self.env.process(self._feed())
        self.env.run(until=self.scenario.run.duration + 1e-9)
        from tiktok_sim.metrics import collect  # metrics imports the package root, which imports this module

        return collect(self)

    def _uploads(self) -> simpy.events.ProcessGenerator:
        """Each simulated day, draw every creator's uploads and release them tick by tick.

        Each video keeps its exact upload minute; releasing a tick's uploads together
        changes nothing observable, since feeds only change at ticks. Days start
        ``run.backlog`` before zero; uploads dated before zero are released at once, so
        the feed does not start empty.
        """
        run, rng, cre = self.scenario.run, self._upload_rng, self.cre
        cdf = np.cumsum(cre.post_hours, axis=1)
        offsets = self.pop.region_offset_min[cre.region]
        day = -math.ceil(run.backlog / 1440.0)
        while day * 1440.0 < run.duration:
            counts = rng.poisson(cre.posts_per_day)
            who = np.repeat(np.arange(cre.count), counts)
            hour = (cdf[who] < rng.random(who.size)[:, None]).sum(axis=1).clip(max=23)
            local = hour * 60.0 + rng.random(who.size) * 60.0
            at = np.floor(day * 1440.0 + np.mod(local - offsets[who], 1440.0))
            keep = (at < run.duration) & (at >= -run.backlog)
            who, at = who[keep], at[keep]
            release = np.maximum(np.ceil(at / run.tick) * run.tick, 0.0)
            for t in np.unique(release):
                yield self.env.timeout(max(0.0, t - self.env.now))
                batch = release == t
                self._upload(who[batch], at[batch])
            day += 1
            yield self.env.timeout(max(0.0, day * 1440.0 - self.env.now))

    def _feed(self) -> simpy.events.ProcessGenerator:
        """Every tick: admit reviewed videos, serve the active users, evaluate full pools."""
        tick, duration = self.scenario.run.tick, self.scenario.run.duration
        while self.env.now + tick <= duration + 1e-9:
            yield self.env.timeout(tick)
            self._admit_reviewed()
            self._tick()
            if self._progress is not None:
                self._progress(self.env.now, duration)

    # ------------------------------------------------------------------ uploads and stages

    def _upload(self, creators: np.ndarray, at: np.ndarray) -> None:
        """Add videos for ``creators`` uploaded at minutes ``at``; they start in review."""
        rng, cre, spec = self._upload_rng, self.cre, self.scenario
        n = creators.size
        column = np.floor(rng.random(n) * cre.niche_count[creators]).astype(np.int64)
        spread = spec.creators.video_spread
        videos = spec.videos
        trending = rng.random(n) < videos.trending_sound_prob
        sound = np.where(
            trending | (videos.trending_sounds >= videos.sounds),
            rng.integers(0, max(videos.trending_sounds, 1), n),
            rng.integers(videos.trending_sounds, videos.sounds, n) if videos.trending_sounds < videos.sounds else 0,
        )
        delay = videos.review_delay.median * np.exp(videos.review_delay.sigma * rng.standard_normal(n))
        ids = self.catalog.append(
            creator=creators,
            topic=cre.niche[creators, column],
            language=cre.language[creators],
            sound=sound,
            trending=trending & (videos.trending_sounds > 0),
            length_s=sample_lengths(spec, cre.length_median_s[creators], rng),
            quality=np.clip(cre.quality[creators] + spread * rng.standard_normal(n), 0.0, 1.0),
            hook=np.clip(cre.hook[creators] + spread * rng.standard_normal(n), 0.0, 1.0),
            upload_min=at,
            eligible_min=at + delay,
            hashtags=rng.integers(0, videos.hashtags, (n, videos.hashtags_per_video)),
            value=np.full(n, self._prior_value(), dtype=np.float32),
        )
        self._in_review = np.concatenate([self._in_review, ids])

    def _admit_reviewed(self) -> None:
        """Videos whose review has ended enter pool 0 now."""
        done = self.catalog.eligible_min[self._in_review] <= self.env.now
        if not done.any():
            return
        ids = self._in_review[done]
        self._in_review = self._in_review[~done]
        self.creator_latest[self.catalog.creator[ids]] = ids  # ids ascend, so the newest wins
        self._enter(ids, 0)

    def _enter(self, ids: np.ndarray, stage: int) -> None:
        """Open ``stage``'s pool for ``ids`` and schedule its evaluation at the window's end."""
        if not ids.size:
            return
        cat, window = self.catalog, self.scenario.ladder[stage].window
        cat.status[ids] = Status.OPEN
        cat.stage[ids] = stage
        cat.stage_epoch[ids] += 1
        cat.stage_entered_min[ids] = self.env.now
        cat.stage_deadline_min[ids] = self.env.now + window
        cat.stage_counts[ids] = 0
        epochs = cat.stage_epoch[ids].copy()
        deadline = self.env.timeout(window)
        deadline.callbacks.append(lambda _event: self._on_deadline(ids, epochs))

    def _on_deadline(self, ids: np.ndarray, epochs: np.ndarray) -> None:
        cat = self.catalog
        still = (cat.status[ids] == Status.OPEN) & (cat.stage_epoch[ids] == epochs)
        if still.any():
            self._evaluate(ids[still])

    def _evaluate(self, ids: np.ndarray) -> None:
        """Apply each video's stage gates: promote, stop, or complete the ladder."""
        cat, ladder, now = self.catalog, self.scenario.ladder, self.env.now
        stages = cat.stage[ids].copy()  # promotions below must not re-enter this loop
        for stage in np.unique(stages):
            batch = ids[stages == stage]
            counts = cat.stage_counts[batch]
            verdict = exposure.evaluate(int(stage), ladder[stage], counts, self._history)
            self._stage_rows.append(
                {
                    "video_id": batch,
                    "stage": np.full(batch.size, stage),
                    # Videos judged together share one relative cut-off: `check` replays them as a batch.
                    "batch": np.full(batch.size, len(self._stage_rows)),
                    "entered_min": cat.stage_entered_min[batch],
                    "evaluated_min": np.full(batch.size, now),
                    **{name: counts[:, A[name]] for name in ACTIONS},
                    "passed": verdict.passed,
                    "failed_gate": verdict.failed,
                    "failed_value": verdict.value,
                    "failed_threshold": verdict.threshold,
                }
            )
            failed = batch[~verdict.passed]
            cat.status[failed] = Status.STOPPED
            cat.stop_code[failed] = verdict.failed[~verdict.passed]
            passed = batch[verdict.passed]
            if stage + 1 < len(ladder):
                self._enter(passed, int(stage) + 1)
            else:
                cat.status[passed] = Status.COMPLETE

    # ------------------------------------------------------------------ feed tick

    def _active_slots(self) -> np.ndarray:
        """User id per feed slot this tick, sorted: active users repeated by their slot count."""
        tick, pop, rng = self.scenario.run.tick, self.pop, self._feed_rng
        mid = self.env.now - tick / 2.0
        hour = (np.floor((mid + pop.region_offset_min) / 60.0) % 24).astype(np.int64)
        if self._rates_hour is None or not np.array_equal(hour, self._rates_hour):
            # Session rates only change with each region's local hour: several ticks reuse them.
            self._rates_hour = hour
            lam = pop.sessions_per_day * (self._diurnal[hour][pop.region] * (tick / 60.0)).astype(np.float32)
            self._rates = (lam, -np.expm1(-lam))
        lam, any_session = self._rates
        # Exact Poisson sessions, drawn cheaply: who has any (Bernoulli), then how many (zero-truncated).
        active = np.flatnonzero(rng.random(lam.size, dtype=np.float32) < any_session)
        sessions = _zero_truncated_poisson(lam[active].astype(np.float64), rng)
        slots = rng.poisson(sessions * pop.videos_per_session[active])
        return np.repeat(active, slots)

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        """Open videos and how many more impressions each may take this tick.

        A pool larger than the audience that can still see the video is capped by that audience.
        """
        cat = self.catalog
        ids = np.flatnonzero(cat.status[: len(cat)] == Status.OPEN)
        remaining = self._pools[cat.stage[ids]] - cat.stage_counts[ids, A["views"]]
        unreached = self._speakers[cat.language[ids]] - cat.total[ids, A["views"]]
        return ids, np.maximum(np.minimum(remaining, unreached), 0)

    def _offer(self, open_ids: np.ndarray) -> _Offer:
        """This tick's candidate videos, compacted, with what scoring needs of each."""
        cat, latest = self.catalog, self.creator_latest
        offered = np.zeros(len(cat), dtype=bool)
        offered[open_ids] = True
        offered[latest[latest >= 0]] = True
        ids = np.flatnonzero(offered)
        none = ids.size  # the sentinel's index
        index = np.cumsum(offered) - 1  # video id -> its index in ids
        weight = np.empty((self._group_factor.shape[0], none + 1), dtype=np.float32)
        np.multiply(cat.value[ids], self._group_factor[:, cat.language[ids]], out=weight[:, :none])
        weight[:, none] = -np.inf
        return _Offer(
            ids=ids,
            topic=np.append(cat.topic[ids], 0),
            weight=weight,
            open_index=index[open_ids],
            latest_index=np.where(latest >= 0, index[latest], none),
        )

    def _paced_demand(self, open_ids: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        """Each open video's remaining quota spread over the ticks left in its window."""
        deadline = self.catalog.stage_deadline_min[open_ids]
        ticks_left = np.maximum(1.0, np.ceil((deadline - self.env.now) / self.scenario.run.tick))
        return remaining / ticks_left

    def _candidates(self, users: np.ndarray, offer: _Offer, demand: np.ndarray) -> np.ndarray:
        """(C, S) candidates per slot, as indices into the offer (its sentinel = none).

        Pool candidates are drawn in proportion to each open video's paced demand
        (aligned with ``offer.open_index``), through a table of exactly ``TICKETS``
        entries so a draw is 16 random bits; the last candidate may instead be a followed
        creator's latest video, which is how stopped videos keep a follower trickle.
        """
        rng, rec = self._feed_rng, self.scenario.recommender
        n_slots, width, none = users.size, rec.candidates, offer.ids.size
        if demand.sum() > 0:
            table = np.repeat(offer.open_index, ticket_counts(demand, rng.random()))
            draws = rng.bit_generator.random_raw(-(-n_slots * width // 4)).view(np.uint16)[: n_slots * width]
            cands = np.take(table, draws.astype(np.intp)).reshape(width, n_slots)
        else:
            cands = np.full((width, n_slots), none, dtype=np.intp)

        follow_slots = np.flatnonzero(rng.random(n_slots) < rec.follow_candidates)
        fu = users[follow_slots]
        lo, hi = self.follow_start[fu], self.follow_start[fu + 1]
        has = hi > lo
        pick = lo[has] + np.floor(rng.random(int(has.sum())) * (hi - lo)[has]).astype(np.int64)
        latest = offer.latest_index[self.follow_keys[pick] % self.cre.count]
        slots = follow_slots[has]
        cands[width - 1, slots] = np.where(latest != none, latest, cands[width - 1, slots])
        return cands

    def _scores(self, users: np.ndarray, cands: np.ndarray, offer: _Offer) -> np.ndarray:
        """(C, S) float32 ranking scores from the system's estimates; -inf for no candidate.

        score = exp(estimated topic affinity) x the video's expected action value, scaled
        down for a language the user does not speak. Every per-candidate gather but the
        user's affinity hits the offer's small arrays.
        """
        n_topics = self._affinity.shape[1]
        score = np.take(self._affinity, users * n_topics + np.take(offer.topic, cands))
        score *= np.take(offer.weight, self._language_group[users] * offer.weight.shape[1] + cands)
        return score

    def _select(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill slots with unseen, in-quota videos: (users, videos) of the impressions."""
        rng, cat = self._feed_rng, self.catalog
        open_ids, remaining = self._open()
        offer = self._offer(open_ids)
        cands = self._candidates(users, offer, self._paced_demand(open_ids, remaining))
        scores = self._scores(users, cands, offer)
        explore = rng.random(users.size) < self.scenario.recommender.exploration
        n_slots, width = users.size, cands.shape[0]

        left = np.full(len(cat), np.inf)
        left[open_ids] = remaining
        taken_u: list[np.ndarray] = []
        taken_v: list[np.ndarray] = []
        pending = np.arange(n_slots)
        for round_ in range(RETRY_ROUNDS):
            first = round_ == 0  # every slot is pending: skip the copies
            row = ranking.choose(scores if first else scores[:, pending], explore if first else explore[pending], rng)
            pending, row = pending[row >= 0], row[row >= 0]
            if not pending.size:
                break
            picked = np.take(cands, row * n_slots + pending)
            v, u = np.take(offer.ids, picked), users[pending]
            keys = (u << 32) | v
            # Earlier rounds' picks are already in the seen filter, so only this round can repeat itself.
            where, bits = self.seen.locate(keys)
            seen, words = self.seen.probe(where, bits)
            bad = seen | _repeated(keys)
            bad |= ~_within_quota(v, bad, left, rng)
            ok = ~bad
            taken_u.append(u[ok])
            taken_v.append(v[ok])
            self.seen.add_at(where[ok], bits[ok], words[ok])
            left -= np.bincount(v[ok], minlength=left.size)
            # Rule the rejected video out of the slot (it may be more than one of its candidates).
            slots = pending[bad]
            cells = np.arange(width)[:, None] * n_slots + slots
            scores.reshape(-1)[cells[np.take(cands, cells) == picked[bad]]] = -np.inf
            pending = slots
        self.unfilled += int(pending.size)
        if not taken_u:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(taken_u), np.concatenate(taken_v)

    def _tick(self) -> None:
        users, videos = self._select(self._active_slots())
        if not videos.size:
            return
        cat, pop, scenario = self.catalog, self.pop, self.scenario
        topics = np.take(cat.topic, videos)
        n_topics = len(scenario.topics)
        x = engagement.Exposure(
            affinity=np.take(pop.interest, users * n_topics + topics) * np.float32(n_topics),
            quality=np.take(cat.quality, videos),
            hook=np.take(cat.hook, videos),
            length_s=np.take(cat.length_s, videos),
            language_ok=((np.take(pop.langmask, users) >> np.take(cat.language, videos)) & 1) == 1,
        )
        out = engagement.react(x, scenario.engagement, self._react_rng)
        out = dataclasses.replace(out, followed=self._new_follows(users, videos, out.followed))

        self._count(users, videos, out)
        self._learn(users, topics, out)
        self._measure_personalization(users, topics, x.affinity)
        self.user_views += np.bincount(users, minlength=self.user_views.size).astype(np.int32)
        if self._log is not None:
            self._log.append((users, videos, self.env.now))

        open_ids = np.flatnonzero(cat.status[: len(cat)] == Status.OPEN)
        full = open_ids[cat.stage_counts[open_ids, A["views"]] >= self._pools[cat.stage[open_ids]]]
        if full.size:
            self._evaluate(full)

    def _new_follows(self, users: np.ndarray, videos: np.ndarray, wants: np.ndarray) -> np.ndarray:
        """Keep only follows that create a new edge, and record those edges.

        New edges wait in a small sorted buffer that is merged into the graph hourly:
        merging copies the whole edge array, so doing it every tick would dominate.
        Until then the duplicate check covers the buffer, so counts stay exact; only
        the follower trickle sees a new edge up to an hour late.
        """
        n_creators = self.cre.count
        idx = np.flatnonzero(wants)
        keys = users[idx] * n_creators + self.catalog.creator[videos[idx]]
        exists = _contains_sorted(self.follow_keys, keys) | _contains_sorted(self._pending_follows, keys)
        idx, keys = idx[~exists], keys[~exists]
        fresh, first = np.unique(keys, return_index=True)
        followed = np.zeros(wants.size, dtype=bool)
        followed[idx[first]] = True
        self.followers_gained += np.bincount(fresh % n_creators, minlength=n_creators)
        self._pending_follows = np.union1d(self._pending_follows, fresh)
        if self.env.now >= self._next_follow_merge:
            self._merge_follows()
        return followed

    def _merge_follows(self) -> None:
        """Move buffered follow edges into the graph and its per-user offsets."""
        fresh, n_creators = self._pending_follows, self.cre.count
        self.follow_keys = np.insert(self.follow_keys, np.searchsorted(self.follow_keys, fresh), fresh)
        self.follow_start[1:] += np.cumsum(np.bincount(fresh // n_creators, minlength=self.pop.count))
        self._pending_follows = np.empty(0, dtype=np.int64)
        self._next_follow_merge = self.env.now + FOLLOW_MERGE_MINUTES

    def _count(self, users: np.ndarray, videos: np.ndarray, out: engagement.Outcomes) -> None:
        """Add the impressions to per-video, per-stage and run-wide counters."""
        cat = self.catalog
        n = len(cat)
        views = np.bincount(videos, minlength=n)
        uniq = np.flatnonzero(views)
        columns = (out.completed, out.replayed, out.liked, out.commented, out.shared, out.favorited,
                   out.followed, out.not_interested)  # fmt: skip
        agg = np.empty((uniq.size, len(ACTIONS)), dtype=np.int64)
        agg[:, 0] = views[uniq]
        for j, flags in enumerate(columns, start=1):
            agg[:, j] = np.bincount(videos[flags], minlength=n)[uniq]
        cat.total[uniq] += agg
        cat.watch_sum[uniq] += np.bincount(videos, weights=out.watch_ratio, minlength=n)[uniq]
        is_open = cat.status[uniq] == Status.OPEN
        cat.stage_counts[uniq[is_open]] += agg[is_open]

        self.totals += agg.sum(axis=0)
        bins = np.minimum((out.watch_ratio / WATCH_BIN_WIDTH).astype(np.int64), WATCH_BINS - 1)
        self.watch_hist += np.bincount(bins, minlength=WATCH_BINS)
        self.watch_sum += float(out.watch_ratio.sum(dtype=np.float64))
        hour = np.floor((self.env.now - cat.upload_min[uniq]) / 60.0).astype(np.int64)
        self._reach.append((uniq, hour, agg[:, A["views"]]))
        cat.value[uniq] = ranking.video_value(
            cat.total[uniq], cat.watch_sum[uniq], self._prior(), self.scenario.recommender.prior_views,
            self.scenario.recommender.signal_weights,
        )  # fmt: skip

    def _prior(self) -> np.ndarray:
        """Platform-wide rates per view (last entry: mean watch ratio) that shrink new videos' rates."""
        views = max(int(self.totals[A["views"]]), 1)
        return np.append(self.totals / views, self.watch_sum / views if self.totals[0] else 0.5)

    def _prior_value(self) -> float:
        weights, prior = self.scenario.recommender.signal_weights, self._prior()
        zero = np.zeros((1, len(ACTIONS)), dtype=np.int64)
        return float(ranking.video_value(zero, np.zeros(1), prior, 1.0, weights)[0])

    def _learn(self, users: np.ndarray, topics: np.ndarray, out: engagement.Outcomes) -> None:
        """Update the system's topic estimates from what the viewers did."""
        rec = self.scenario.recommender
        signal = ranking.signal(out, rec.signal_weights)
        self.signal_sum += float(signal.sum(dtype=np.float64))
        baseline = np.float32(self.signal_sum / max(int(self.totals[A["views"]]), 1))
        ranking.update_estimates(self.estimates, users, topics, signal - baseline, rec.learning_rate)
        touched = users * self.estimates.shape[1] + topics
        self._affinity.reshape(-1)[touched] = np.exp(self.estimates.reshape(-1)[touched])

    def _measure_personalization(self, users: np.ndarray, topics: np.ndarray, affinity: np.ndarray) -> None:
        """Accumulate the time-to-personalization curve and the early exploit share."""
        seen_before = self.user_views[users]
        early = seen_before < PERSONALIZATION_BUCKET * PERSONALIZATION_BUCKETS
        cold = early & ~self.pop.picked[users]
        bucket = seen_before[cold] // PERSONALIZATION_BUCKET
        self.early_affinity += np.bincount(bucket, weights=affinity[cold], minlength=PERSONALIZATION_BUCKETS)
        self.early_count += np.bincount(bucket, minlength=PERSONALIZATION_BUCKETS)
        hits = (self.pop.top_topics[users[early]] >> topics[early].astype(np.int64)) & 1
        self.exploit_hits += int(hits.sum())
        self.exploit_total += int(early.sum())

    # ------------------------------------------------------------------ collected by metrics

    def reach_log(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(video, hour since upload, views) rows, one per video and tick it was shown in."""
        if not self._reach:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        return tuple(np.concatenate(parts) for parts in zip(*self._reach, strict=True))  # type: ignore[return-value]

    def stage_log(self) -> dict[str, np.ndarray]:
        """Every stage evaluation, as columns."""
        if not self._stage_rows:
            return {}
        return {k: np.concatenate([row[k] for row in self._stage_rows]) for k in self._stage_rows[0]}

    def impressions_log(self) -> dict[str, np.ndarray] | None:
        """Every impression, if recorded."""
        if self._log is None:
            return None
        users = [u for u, _, _ in self._log]
        return {
            "user": np.concatenate(users) if users else np.empty(0, dtype=np.int64),
            "video": np.concatenate([v for _, v, _ in self._log]) if users else np.empty(0, dtype=np.int64),
            "minute": np.concatenate([np.full(u.size, t) for u, _, t in self._log]) if users else np.empty(0),
        }
