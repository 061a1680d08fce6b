"""SimPy wiring: uploads, review, the ladder's pools and the feed tick, over the world's arrays.

SimPy events are coarse (a day's upload times, one feed tick, one batch's stage
deadline); each feed tick serves every active user's slots in whole-batch passes (numpy
and compiled kernels), so no Python code runs per impression or per user. The system's
side of a tick (its estimates, the seen filter, viewer controls, requests and filling) is
``tiktok_sim.feed.recommender.Recommender``; the world's reactions and the ranking
kernels are in ``tiktok_sim.model``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from tiktok_sim import checkpoint
from tiktok_sim.audience import AudienceLog
from tiktok_sim.background import Background
from tiktok_sim.feed.follows import FollowGraph
from tiktok_sim.feed.offer import Offer, add_slice_counts
from tiktok_sim.feed.recommender import Recommender, TickOffer
from tiktok_sim.feed.viewers import ViewerStats
from tiktok_sim.model import engagement, exposure, ranking
from tiktok_sim.results import (
    PERSONALIZATION_BUCKET,
    PERSONALIZATION_BUCKETS,
    WATCH_BIN_WIDTH,
    WATCH_BINS,
)
from tiktok_sim.run_logs import ColumnLog, ReachLog
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.world import (
    ACTIONS,
    Catalog,
    Status,
    Tastes,
    build_creators,
    build_follow_keys,
    complete_population,
    draw_tastes,
    initial_followers,
    sample_lengths,
)
from tiktok_sim.world.catalog import A, tally
from tiktok_sim.world.exposures import gather
from tiktok_sim.world.sounds import build_trends, pick_hashtags, pick_sounds

Progress = Callable[[float, float], None]
"""Called after each feed tick with (simulated minutes done, total)."""

VALUE_FLOOR = 1e-3  # smallest expected value per impression: keeps ratios finite
TICK_PART_SLOTS = 1 << 21
"""Most feed slots served at once. A larger tick (worlds of several million users) is served in
parts of consecutive users, one after another, so its temporaries (some 250 bytes a slot) stay
near half a GB however large the world; a tick this size or smaller is served whole."""


def expected_impressions(scenario: Scenario) -> float:
    """Impressions the audience would watch if every slot were filled."""
    users = scenario.users
    spd = users.sessions_per_day
    device = sum(d.share * d.session_multiplier for d in users.devices)
    per_day = spd.median * math.exp(spd.sigma**2 / 2) * users.videos_per_session * device
    return users.count * per_day * scenario.run.duration / 1440.0


def expected_videos(scenario: Scenario) -> float:
    """Uploads expected over the run and its backlog."""
    ppd = scenario.creators.posts_per_day
    per_day = scenario.creators.count * ppd.median * math.exp(ppd.sigma**2 / 2)
    per_day += sum(f.uploads_per_day() for f in scenario.featured)
    return per_day * (scenario.run.duration + scenario.run.backlog) / 1440.0


def local_hour(minute: float | np.ndarray, offset_min: np.ndarray) -> np.ndarray:
    """(n,) int64 local hour (0-23) at UTC ``minute`` in regions ``offset_min`` minutes ahead of UTC."""
    return (np.floor((minute + offset_min) / 60.0) % 24).astype(np.int64)


def tick_parts(slots: np.ndarray, most: int) -> list[slice]:
    """Consecutive runs of requests with about equal slots, each about ``most`` or fewer; one run if they fit."""
    total = int(slots.sum())
    parts = -(-total // most)
    if parts <= 1:
        return [slice(0, slots.size)]
    ends = np.searchsorted(np.cumsum(slots), np.arange(1, parts) * (total / parts)).tolist()
    bounds = [0, *ends, slots.size]
    return [slice(lo, hi) for lo, hi in itertools.pairwise(bounds) if lo < hi]


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


@dataclasses.dataclass
class UploadDay:
    """One UTC day's uploads, released batch by batch.

    Attributes:
        day: the UTC day (negative: the backlog before the run).
        who: (n,) uploading creator of each upload.
        at: (n,) its exact minute.
        release: (n,) the tick it is released at.
        times: ascending distinct release ticks.
        next: index in ``times`` of the next batch; ``times.size`` once only the day's end is left.
    """

    day: int
    who: np.ndarray
    at: np.ndarray
    release: np.ndarray
    times: np.ndarray
    next: int = 0


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
        world_seq, upload_seq, feed_seq, react_seq, review_seq = root.spawn(5)
        pop_rng, creator_rng, follow_rng, trend_rng = (np.random.default_rng(s) for s in world_seq.spawn(4))
        self._upload_rng = np.random.default_rng(upload_seq)
        self._feed_rng = np.random.default_rng(feed_seq)
        self._react_rng = np.random.default_rng(react_seq)
        self._review_rng = np.random.default_rng(review_seq)

        self.cre = build_creators(scenario, creator_rng)
        self.trends = build_trends(scenario, trend_rng)
        targets = initial_followers(scenario, follow_rng)
        # The follow graph is built on the other core while the users are drawn: it waits only
        # for their languages and interests (separate streams: the same world either way).
        tastes: Future[Tastes] = Future()
        edges = Background(build_follow_keys, self.cre, tastes.result, targets, follow_rng)
        try:
            tastes.set_result(draw_tastes(scenario, pop_rng))
        except BaseException as error:
            tastes.set_exception(error)  # the graph's thread ends with it
            raise
        self.pop = complete_population(scenario, pop_rng, tastes.result())
        self.follows = FollowGraph(edges.result(), scenario.users.count, self.cre.count)

        n_users, n_topics = self.pop.count, len(scenario.topics)
        self.catalog = Catalog(
            int(expected_videos(scenario) * 1.3) + 16,
            scenario.videos.hashtags_per_video,
            segments=n_topics,
            devices=len(scenario.users.devices),
        )
        self.creator_latest = np.full(self.cre.count, -1, dtype=np.int64)
        self._in_review = np.empty(0, dtype=np.int64)

        self.user_views = np.zeros(n_users, dtype=np.int32)
        self.recommender = Recommender(
            scenario,
            (self.pop, self.cre, self.catalog, self.follows),
            self.creator_latest,
            self.user_views,
            int(expected_impressions(scenario)) + 1024,  # the seen filter's rate is for this many
            self._feed_rng,
        )
        contexts = self.recommender.contexts
        self._speakers = np.bincount(contexts.group, minlength=contexts.speaks.shape[0]) @ contexts.speaks
        self.viewers = ViewerStats(n_users, n_topics, scenario.run.duration)

        diurnal = np.asarray(scenario.users.diurnal, dtype=np.float64)
        self._diurnal = diurnal / diurnal.sum()
        self._rates_hour: np.ndarray | None = None
        self._rates: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self._pools = np.array([s.pool for s in scenario.ladder], dtype=np.int64)
        self._early_stops = exposure.EarlyStops(scenario.ladder)
        self._history = exposure.ScoreHistory()
        self._device_completion = np.array([d.completion_length for d in scenario.users.devices], dtype=np.float32)

        self.totals = np.zeros(len(ACTIONS), dtype=np.int64)
        self.watch_hist = np.zeros(WATCH_BINS, dtype=np.int64)
        self.watch_sum = 0.0
        self.signal_sum = 0.0
        self.unfilled = 0
        self.early_affinity = np.zeros(PERSONALIZATION_BUCKETS)
        self.early_count = np.zeros(PERSONALIZATION_BUCKETS)
        self.exploit_hits = 0
        self.exploit_total = 0
        self._reach = ReachLog()
        self._stages = ColumnLog()
        self._gates = ColumnLog()
        self.audience = AudienceLog([r.name for r in scenario.users.regions])
        self._log: list[tuple[np.ndarray, np.ndarray, float]] | None = [] if record_impressions else None

        self.checkpoint_to: Path | None = None  # a folder to save the state in at each day boundary
        self.now_min = 0.0  # the clock when the state was saved: where a resumed run starts
        self._upload_day: UploadDay | None = None
        self._sequence = 0
        self._pending: dict[int, tuple[float, str, tuple[np.ndarray, np.ndarray] | None]] = {}
        self.env = simpy.Environment()

    def __getstate__(self) -> dict[str, Any]:
        """What a checkpoint saves: everything but the clock's queue (see ``_pending``) and callbacks."""
        state = self.__dict__.copy()
        for transient in ("env", "_progress"):
            state.pop(transient)
        state["checkpoint_to"], state["now_min"] = None, self.env.now
        return state

    def resume(self, progress: Progress | None = None) -> Engine:
        """Carry on a run restored from a checkpoint to the end of its duration.

        The clock starts at the checkpoint's minute, and the waits pending then are scheduled
        again in the order they were first made, so events due at the same minute run in the
        same order and the results are byte-identical to an uninterrupted run.
        """
        self._progress = progress
        self.env = simpy.Environment(initial_time=self.now_min)
        pending, self._pending = sorted(self._pending.items()), {}
        upload: simpy.Event | None = None
        for _key, (at, kind, payload) in pending:
            delay = at - self.now_min
            if kind == "upload":
                upload = self._timeout(delay, "upload")
            else:
                assert payload is not None
                self._deadline(delay, *payload)
        if upload is not None:
            self.env.process(self._uploads(resume_on=upload))
        self.env.process(self._feed())
        self.env.run(until=self.scenario.run.duration + 1e-9)
        return self

    # ------------------------------------------------------------------ processes

    def run(self) -> Engine:
        """Simulate the scenario's duration; read the outcome with ``tiktok_sim.metrics.collect``."""
        self.env.process(self._uploads())
        self.env.process(self._feed())
        self.env.run(until=self.scenario.run.duration + 1e-9)
        return self

    def _uploads(self, resume_on: simpy.Event | None = None) -> simpy.events.ProcessGenerator:
        """Each simulated day, draw every creator's uploads and release them tick by tick.

        Each video keeps its exact upload minute; releasing a tick's uploads together
        changes nothing observable, since feeds only change at ticks. Days start
        ``run.backlog`` before zero; uploads dated before zero are released at once, so
        the feed does not start empty. Featured creators with a schedule upload exactly at
        its local times (day 0 is a Monday).

        The day being released lives in ``self._upload_day``, not in this generator, so a
        checkpoint can save it and :meth:`resume` can carry on (``resume_on``: the wait the
        checkpoint interrupted).
        """
        if resume_on is None:
            self._upload_day = self._plan_uploads(-math.ceil(self.scenario.run.backlog / 1440.0))
        else:
            yield resume_on
            self._upload_step()
        while self._upload_day is not None:
            plan = self._upload_day
            at = plan.times[plan.next] if plan.next < plan.times.size else (plan.day + 1) * 1440.0
            yield self._timeout(max(0.0, at - self.env.now), "upload")
            self._upload_step()

    def _plan_uploads(self, day: int) -> UploadDay | None:
        """Draw UTC day ``day``'s uploads (None once the run is over)."""
        run, rng, cre = self.scenario.run, self._upload_rng, self.cre
        if day * 1440.0 >= run.duration:
            return None
        offsets = self.pop.region_offset_min[cre.region]
        counts = rng.poisson(cre.posts_per_day)
        who = np.repeat(np.arange(cre.count), counts)
        hour = (np.cumsum(cre.post_hours, axis=1)[who] < rng.random(who.size)[:, None]).sum(axis=1).clip(max=23)
        local = hour * 60.0 + rng.random(who.size) * 60.0
        at = np.floor(day * 1440.0 + np.mod(local - offsets[who], 1440.0))
        planned = self._scheduled(day, offsets)
        if planned.size:
            who, at = np.concatenate([who, planned[:, 0]]), np.concatenate([at, planned[:, 1]])
        keep = (at < run.duration) & (at >= -run.backlog)
        who, at = who[keep], at[keep]
        release = np.maximum(np.ceil(at / run.tick) * run.tick, 0.0)
        return UploadDay(day, who, at, release, np.unique(release))

    def _upload_step(self) -> None:
        """The wait is over: release the next batch, or, at the day's end, draw the next day."""
        plan = self._upload_day
        assert plan is not None
        if plan.next < plan.times.size:
            batch = plan.release == plan.times[plan.next]
            self._upload(plan.who[batch], plan.at[batch])
            plan.next += 1
        else:
            self._upload_day = self._plan_uploads(plan.day + 1)

    def _timeout(self, delay: float, kind: str, payload: tuple[np.ndarray, np.ndarray] | None = None) -> simpy.Event:
        """A timeout that a checkpoint can see: its minute and kind, in the order it was made."""
        event = self.env.timeout(delay)
        self._sequence += 1
        self._pending[self._sequence] = (self.env.now + delay, kind, payload)
        key = self._sequence

        def done(_event: simpy.Event) -> None:
            del self._pending[key]

        event.callbacks.insert(0, done)
        return event

    def _scheduled(self, day: int, offsets: np.ndarray) -> np.ndarray:
        """(k, 2) creator and UTC minute of the scheduled uploads falling in UTC day ``day``.

        A schedule's weekdays are the creator's local days, so a local evening can fall on the
        next UTC day: each local day around ``day`` is tried.
        """
        rows = []
        for c, days, minute in self.cre.schedule:
            for local in (day - 1, day, day + 1):
                at = local * 1440 + minute - offsets[c]
                if local % 7 in days and day * 1440 <= at < (day + 1) * 1440:
                    rows.append((c, at))
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def _feed(self) -> simpy.events.ProcessGenerator:
        """Every tick: admit reviewed videos, serve the active users, evaluate full pools."""
        tick, duration = self.scenario.run.tick, self.scenario.run.duration
        while self.env.now + tick <= duration + 1e-9:
            yield self.env.timeout(tick)
            self._admit_reviewed()
            self._tick()
            if self._progress is not None:
                self._progress(self.env.now, duration)
            if self.checkpoint_to is not None and self.env.now % 1440.0 == 0 and self.env.now < duration:
                checkpoint.save(self, self.checkpoint_to)

    # ------------------------------------------------------------------ uploads, review and stages

    def _upload(self, creators: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Add videos for ``creators`` uploaded at minutes ``at``; they start in review. Returns their ids.

        Spam is of poor quality; a duplicate re-uploads an earlier video's content.
        """
        rng, cre, spec, cat = self._upload_rng, self.cre, self.scenario, self.catalog
        n = creators.size
        column = np.floor(rng.random(n) * cre.niche_count[creators]).astype(np.int64)
        spread = spec.creators.video_spread
        videos = spec.videos
        sound, trending = pick_sounds(videos, self.trends, self.env.now, cre.trending_prob[creators], rng)
        flags = rng.random((3, n))
        spam = flags[0] < videos.spam_prob
        duplicate = (flags[1] < videos.duplicate_prob) & (len(cat) > 0)
        quality = np.clip(cre.quality[creators] + spread * rng.standard_normal(n), 0.0, 1.0)
        content = {
            "topic": cre.niche[creators, column],
            "sound": sound,
            "trending": trending,
            "length_s": sample_lengths(spec, cre.length_median_s[creators], rng),
            "quality": np.where(spam, 0.3 * quality, quality),
            "hook": np.clip(cre.hook[creators] + spread * rng.standard_normal(n), 0.0, 1.0),
            "hashtags": pick_hashtags(videos, n, rng),
        }
        copies = np.flatnonzero(duplicate)
        if copies.size:
            original = rng.integers(0, len(cat), copies.size)
            for name in content:
                content[name][copies] = getattr(cat, name)[original]
        delay = videos.review_delay.median * np.exp(videos.review_delay.sigma * rng.standard_normal(n))
        ids = cat.append(
            creator=creators,
            language=cre.language[creators],
            upload_min=at,
            eligible_min=at + delay,
            spam=spam,
            duplicate=duplicate,
            sensitive=flags[2] < videos.sensitive_prob,
            value=np.full(n, self._prior_value(), dtype=np.float32),
            **content,
        )
        self._in_review = np.concatenate([self._in_review, ids])
        return ids

    def _admit_reviewed(self) -> None:
        """Videos whose review has ended: blocked if caught as spam or a duplicate, else eligible.

        A first review opens pool 0; a review triggered by reports returns the video
        where it was (its pool restarts).
        """
        cat = self.catalog
        waiting = self._in_review
        done = (
            np.where(cat.rereviewed[waiting], cat.rereview_end_min[waiting], cat.eligible_min[waiting]) <= self.env.now
        )
        if not done.any():
            return
        ids = self._in_review[done]
        self._in_review = self._in_review[~done]
        flagged = cat.spam[ids] | cat.duplicate[ids]
        caught = flagged & (self._review_rng.random(ids.size) < self.scenario.videos.review_catch)
        cat.status[ids[caught]] = Status.REMOVED
        ids = ids[~caught]
        back = cat.rereviewed[ids]
        first = ids[~back]
        self.creator_latest[cat.creator[first]] = first  # ids ascend, so the newest wins
        self._enter(first, 0)
        again = ids[back]
        reopen = cat.resume_status[again] == Status.OPEN
        cat.status[again[~reopen]] = cat.resume_status[again[~reopen]]
        for stage in np.unique(cat.stage[again[reopen]]):
            self._enter(again[reopen][cat.stage[again[reopen]] == stage], int(stage))

    def _send_back_to_review(self, reported: np.ndarray) -> None:
        """Videos reported often enough go back to review once, leaving the feed meanwhile.

        Only ``reported`` (ascending ids reported this tick) can newly reach the threshold:
        more views only lower a report rate.
        """
        cat, rec = self.catalog, self.scenario.recommender
        reports, views = cat.total[reported, A["reports"]], np.maximum(cat.total[reported, A["views"]], 1)
        status = cat.status[reported]
        live = (status == Status.OPEN) | (status == Status.STOPPED) | (status == Status.COMPLETE)
        ids = reported[
            live
            & ~cat.rereviewed[reported]
            & (reports >= rec.reports_to_review)
            & (reports >= rec.report_rate_to_review * views)
        ]
        if not ids.size:
            return
        delay = self.scenario.videos.review_delay
        cat.resume_status[ids] = cat.status[ids]
        cat.status[ids] = Status.REVIEW
        cat.rereviewed[ids] = True
        cat.rereview_end_min[ids] = self.env.now + delay.median * np.exp(
            delay.sigma * self._review_rng.standard_normal(ids.size)
        )
        self._in_review = np.concatenate([self._in_review, ids])

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
        cat.stage_watched[ids] = 0.0
        self._deadline(window, ids, cat.stage_epoch[ids].copy())

    def _deadline(self, delay: float, ids: np.ndarray, epochs: np.ndarray) -> None:
        """Evaluate ``ids`` after ``delay`` minutes unless they have left the stage (``epochs``) by then."""
        deadline = self._timeout(delay, "deadline", (ids, epochs))
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
            watched, length = cat.stage_watched[batch], cat.length_s[batch].astype(np.float64)
            verdict = exposure.evaluate(int(stage), ladder[stage], counts, watched, length, self._history)
            # The window ran out before the pool was served: the gates judged a smaller sample.
            short = counts[:, A["views"]] < self._pools[stage]
            # Judged before its window ended on a short pool: only an early stop does that.
            early = short & (now < cat.stage_deadline_min[batch])
            batch_index = np.full(batch.size, self._stages.batches)  # each batch judged together has its number
            self._stages.append(
                {
                    "video_id": batch,
                    "stage": np.full(batch.size, stage),
                    # Videos judged together share one relative cut-off: `check` replays them as a batch.
                    "batch": batch_index,
                    "entered_min": cat.stage_entered_min[batch],
                    "evaluated_min": np.full(batch.size, now),
                    **{name: counts[:, A[name]] for name in ACTIONS},
                    "watched": watched,
                    "length_s": length,
                    "pool": np.full(batch.size, self._pools[stage]),
                    "short_served": short,
                    "early_stop": early,
                    "passed": verdict.passed,
                    "failed_gate": verdict.failed,
                    "failed_value": verdict.value,
                    "failed_threshold": verdict.threshold,
                }
            )
            k = verdict.checks.size
            self._gates.append(
                {
                    "video_id": np.repeat(batch, k),
                    "stage": np.full(batch.size * k, stage),
                    "batch": np.repeat(batch_index, k),
                    "gate": np.tile(verdict.checks, batch.size),
                    "value": verdict.values.ravel(),
                    "threshold": verdict.thresholds.ravel(),
                }
            )
            failed = batch[~verdict.passed]
            cat.status[failed] = Status.STOPPED
            cat.stop_code[failed] = verdict.failed[~verdict.passed]
            cat.short_stop[failed] = short[~verdict.passed]
            cat.early_stop[failed] = early[~verdict.passed]
            passed = batch[verdict.passed]
            if stage + 1 < len(ladder):
                self._enter(passed, int(stage) + 1)
            else:
                cat.status[passed] = Status.COMPLETE
                cat.completed_min[passed] = now

    # ------------------------------------------------------------------ feed tick

    def _active_users(self) -> tuple[np.ndarray, np.ndarray]:
        """Users active this tick (ascending) and their feed slots."""
        tick, pop, rng = self.scenario.run.tick, self.pop, self._feed_rng
        mid = self.env.now - tick / 2.0
        hour = local_hour(mid, pop.region_offset_min)
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
        keep = slots > 0
        return active[keep], slots[keep]

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        """Open videos and how many more impressions each may take this tick.

        A pool larger than the audience that can still see the video is capped by that audience.
        """
        cat = self.catalog
        ids = np.flatnonzero(cat.status[: len(cat)] == Status.OPEN)
        remaining = self._pools[cat.stage[ids]] - cat.stage_counts[ids, A["views"]]
        unreached = self._speakers[cat.language[ids]] - cat.total[ids, A["views"]]
        return ids, np.maximum(np.minimum(remaining, unreached), 0)

    def _tick(self) -> None:
        users, slots = self._active_users()
        open_ids, remaining = self._open()
        floor = max(VALUE_FLOOR, self.signal_sum / max(int(self.totals[A["views"]]), 1))
        tick = self.recommender.open_tick((users, slots), open_ids, remaining, self.env.now, floor)
        reported: list[np.ndarray] = []
        learning = None
        for i, part in enumerate(tick_parts(slots, TICK_PART_SLOTS)):
            if i:  # the parts before learned and took quota
                self._settle(learning)
                open_ids, remaining = self._open()
            learning = self._serve(tick, (users[part], slots[part]), open_ids, remaining, reported)
        if reported:  # the ladder runs once a tick, after all of its parts, as after the tick served whole
            self._send_back_to_review(np.unique(np.concatenate(reported)))
            self._climb()
        self._settle(learning)

    def _serve(
        self,
        tick: TickOffer,
        requests: tuple[np.ndarray, np.ndarray],
        open_ids: np.ndarray,
        remaining: np.ndarray,
        reported: list[np.ndarray],
    ) -> tuple[Background, np.ndarray] | None:
        """Serve ``requests`` (ascending users, their slots) from the tick's offer, react and count.

        Appends the videos reported to ``reported``, and returns the learning still running
        on the other core, with the viewers it learns from (see :meth:`_settle`).
        """
        segment, served, offer = self.recommender.serve(tick, requests, open_ids, remaining)
        self.unfilled += int(requests[1].sum()) - served.user.size
        if not served.video.size:
            return None
        users, videos = served.user, served.video
        cat, pop, scenario = self.catalog, self.pop, self.scenario
        # The reactions' uniforms are their stream's first draws: the other core makes them meanwhile.
        drawn = Background.beside(engagement.uniforms, users.size, self._react_rng)
        topics, sounds, creators, x = gather(
            users, videos, (pop, cat), self.trends.now(self.env.now), self._device_completion
        )
        length, language_ok = x.length_s, x.language_ok
        # The viewer figures need no reactions: they are tallied on the other core meanwhile.
        viewers = Background.beside(self._observe_viewers, users, topics, x.affinity, served.explored, language_ok)
        out = engagement.react(x, scenario.engagement, self._react_rng, drawn.result())
        del x  # a tenth of the tick's memory: freed before the counting, where a large tick peaks
        self._observe_audience(users, videos, creators, served.explored, language_ok, out.completed)
        out = dataclasses.replace(out, followed=self.follows.add(users, creators, out.followed, self.env.now))
        self.recommender.controls.record(users, creators, sounds, out.not_interested, out.hid_creator, out.hid_sound)

        finish = ranking.completion_factor(length, scenario.recommender.completion_length)
        signal = ranking.signal(out, scenario.recommender.signal_weights, finish)
        # Learning and the slice counts touch only the estimates and the slice tables, which
        # nothing reads until the next tick's feed: the other core does them while this one
        # counts the impressions and runs the ladder.
        gain = self._gain(signal)  # adds the tick's signal to the platform's sum
        learned = Background.beside(
            self._learn_and_count_slices,
            (users, (offer.columns, served.pick), gain),
            (videos, (segment, served.owner), (pop.device, users), signal),
        )
        self._count(served.pick, offer, out)
        viewers.result()  # it reads the views before this tick's
        self.user_views += np.bincount(users, minlength=self.user_views.size).astype(np.int32)
        if self._log is not None:
            self._log.append((users, videos, self.env.now))

        reported.append(videos[out.reported])
        return learned, users

    def _climb(self) -> None:
        """Evaluate the open videos whose pool is full and those clearly failing (see ``EarlyStops``)."""
        cat = self.catalog
        open_ids = np.flatnonzero(cat.status[: len(cat)] == Status.OPEN)
        stage, counts = cat.stage[open_ids], cat.stage_counts[open_ids]
        done = (counts[:, A["views"]] >= self._pools[stage]) | self._early_stops.failing(stage, counts)
        if done.any():
            self._evaluate(open_ids[done])

    def _settle(self, learning: tuple[Background, np.ndarray] | None) -> None:
        """Wait for a part's learning, then note the viewers it personalized."""
        if learning is not None:
            learned, users = learning
            learned.result()
            self._mark_personalized(users)

    def _observe_audience(
        self,
        users: np.ndarray,
        videos: np.ndarray,
        creators: np.ndarray,
        explored: np.ndarray,
        language_ok: np.ndarray,
        completed: np.ndarray,
    ) -> None:
        """Tally who saw featured creators' videos (see :mod:`tiktok_sim.audience`)."""
        mine = np.flatnonzero(self.cre.featured[creators])
        if not mine.size:
            return
        u = users[mine]
        follower = self.follows.follows(u, creators[mine])
        source = np.where(explored[mine], 2, np.where(follower, 1, 0))
        region = self.pop.region[u]
        hour = local_hour(self.env.now, self.pop.region_offset_min[region])
        self.audience.record(videos[mine].astype(np.int64), source, ~language_ok[mine], region, hour, completed[mine])

    def _count(self, pick: np.ndarray, offer: Offer, out: engagement.Outcomes) -> None:
        """Add the impressions (``pick``: offer indices) to per-video, per-stage and run-wide counters."""
        cat = self.catalog
        actions = np.stack([out.completed, out.replayed, out.liked, out.commented, out.shared, out.favorited,
                            out.followed, out.not_interested, out.reported])  # fmt: skip
        counts, watch, watched = tally(pick, actions, out.watch_ratio, offer.none)
        shown = np.flatnonzero(counts[:, 0])
        uniq, agg = offer.ids[shown], counts[shown]  # offer ids ascend, so uniq does
        cat.total[uniq] += agg
        cat.watch_sum[uniq] += watch[shown]
        is_open = cat.status[uniq] == Status.OPEN
        cat.stage_counts[uniq[is_open]] += agg[is_open]
        cat.stage_watched[uniq[is_open]] += watched[shown][is_open]

        self.totals += agg.sum(axis=0)
        bins = np.minimum((out.watch_ratio / WATCH_BIN_WIDTH).astype(np.int64), WATCH_BINS - 1)
        self.watch_hist += np.bincount(bins, minlength=WATCH_BINS)
        self.watch_sum += float(out.watch_ratio.sum(dtype=np.float64))
        hour = np.floor((self.env.now - cat.upload_min[uniq]) / 60.0).astype(np.int64)
        self._reach.add(uniq, hour, agg[:, A["views"]])
        rec = self.scenario.recommender
        cat.value[uniq] = ranking.video_value(
            cat.total[uniq], cat.watch_sum[uniq], self._prior(), rec.prior_views, rec.signal_weights,
            ranking.completion_factor(cat.length_s[uniq], rec.completion_length),
        )  # fmt: skip

    def _count_slices(self, videos: np.ndarray, segment: np.ndarray, device: np.ndarray, signal: np.ndarray) -> None:
        """Views and positive signal per video and audience slice (the viewer's segment, device)."""
        cat = self.catalog
        gain = np.maximum(signal, np.float32(0.0))
        add_slice_counts(cat.segment_views, cat.segment_signal, videos, segment, gain)
        add_slice_counts(cat.device_views, cat.device_signal, videos, device, gain)

    def _prior(self) -> np.ndarray:
        """Platform-wide rates per view (last entry: mean watch ratio) that shrink new videos' rates."""
        views = max(int(self.totals[A["views"]]), 1)
        return np.append(self.totals / views, self.watch_sum / views if self.totals[0] else 0.5)

    def _prior_value(self) -> float:
        rec, prior = self.scenario.recommender, self._prior()
        zero = np.zeros((1, len(ACTIONS)), dtype=np.int64)
        return float(ranking.video_value(zero, np.zeros(1), prior, 1.0, rec.signal_weights, np.ones(1))[0])

    def _gain(self, signal: np.ndarray) -> np.ndarray:
        """What the system learns from each impression: its signal relative to the platform's average.

        The average counts this tick's impressions, before ``_count`` adds them to the totals.
        """
        self.signal_sum += float(signal.sum(dtype=np.float64))
        views = int(self.totals[A["views"]]) + signal.size
        return signal - np.float32(self.signal_sum / max(views, 1))

    def _learn_and_count_slices(self, learn: tuple[Any, ...], slices: tuple[Any, ...]) -> None:
        """Move the viewers' estimates and count the audience slices, on the other core.

        Args:
            learn: users, (the offer's estimate columns, each impression's offer index), gain.
            slices: videos, (each request's segment, each impression's request), (each user's
                device, each impression's user), signal: the per-impression columns are
                gathered here, not on the caller's core.
        """
        self.recommender.learn(*learn)
        videos, (segment, owner), (device, users), signal = slices
        self._count_slices(videos, segment[owner], device[users], signal)

    def _observe_viewers(
        self, users: np.ndarray, topics: np.ndarray, affinity: np.ndarray, explored: np.ndarray, language_ok: np.ndarray
    ) -> None:
        """The tick's personalization and viewer figures (before ``user_views`` counts the tick)."""
        self._measure_personalization(users, topics, affinity)
        top3 = ((self.pop.top_topics[users] >> topics.astype(np.int64)) & 1).astype(bool)
        self.viewers.observe(self.env.now, users, topics, top3, explored, language_ok)

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

    def _mark_personalized(self, users: np.ndarray) -> None:
        """Note when cold-start users' estimates first put a true top-3 topic first."""
        unique = users[np.r_[True, users[1:] != users[:-1]]]  # impressions come grouped by user
        waiting = unique[~self.pop.picked[unique] & (self.viewers.personalized_at[unique] < 0)]
        self.viewers.mark_personalized(
            waiting,
            self.user_views[waiting],
            self.recommender.topic_estimates(waiting),
            self.pop.top_topics[waiting],
        )

    # ------------------------------------------------------------------ collected by metrics

    def reach_log(self, videos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(video, hour since upload, views) int32 rows of ``videos``: their views in that hour, in one or more rows."""
        return self._reach.rows_of(videos)

    def stage_log(self) -> dict[str, np.ndarray]:
        """Every stage evaluation, as columns."""
        return self._stages.columns()

    def gate_log(self) -> dict[str, np.ndarray]:
        """Every gate check of every stage evaluation, as columns: its value and threshold."""
        return self._gates.columns()

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
