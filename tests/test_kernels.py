"""Pure kernels with parameters that make random outcomes certain."""

from __future__ import annotations

import operator
import pickle
import threading
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest

from tiktok_sim.background import Background, InTurn
from tiktok_sim.feed import request
from tiktok_sim.feed.context import Contexts, small_unique
from tiktok_sim.feed.controls import ViewerControls
from tiktok_sim.feed.fill import fill_slots
from tiktok_sim.feed.follows import FollowGraph
from tiktok_sim.feed.offer import RATIO_CLIP, context_weights, slice_factor
from tiktok_sim.feed.sourcing import TICKETS, group_tables, ticket_counts, ticket_table
from tiktok_sim.model import exposure, ranking
from tiktok_sim.model.engagement import Exposure, covariates, probability, react
from tiktok_sim.model.reaction_kernels import SKIP_CEILING
from tiktok_sim.scenario.schema import AbsoluteGate, Engagement, PercentileGate, Reaction, ScoreGate, Stage
from tiktok_sim.seen import FALSE_POSITIVE_RATE, SeenFilter
from tiktok_sim.world.catalog import ACTIONS, A

N = 5000


def impressions(n: int = N, *, length: float = 10.0, language_ok: bool = True) -> Exposure:
    rng = np.random.default_rng(0)
    return Exposure(
        affinity=rng.random(n, dtype=np.float32) * 3,
        quality=rng.random(n, dtype=np.float32),
        hook=rng.random(n, dtype=np.float32),
        length_s=np.full(n, length, dtype=np.float32),
        language_ok=np.full(n, language_ok),
        style=rng.random(n, dtype=np.float32) * 2,
        trend=np.zeros(n, dtype=np.float32),
        complete_shift=np.zeros(n, dtype=np.float32),
        flagged=np.zeros(n, dtype=bool),
    )


def never(**kw: float) -> Reaction:
    return Reaction(base=0.0, **kw)


def always(**kw: float) -> Reaction:
    return Reaction(base=1.0, **kw)


def test_certain_skip_means_short_watches_and_no_positive_reactions() -> None:
    params = Engagement(skip=always(), like=always(), follow=always(), not_interested=always())
    out = react(impressions(), params, np.random.default_rng(1))
    assert out.skipped.all() and not out.completed.any() and not out.followed.any()
    assert (out.watch_ratio <= SKIP_CEILING).all()
    assert out.not_interested.all()  # "not interested" needs a skip, and base 1 makes it certain
    # Likes scale with the share watched: certain likes happen as often as the mean share (5,000 draws).
    assert out.liked.mean() == pytest.approx(out.watch_ratio.mean(), abs=0.02) and out.liked.mean() < 0.3


def test_a_skip_watches_skip_seconds_on_average_so_short_videos_lose_a_larger_share() -> None:
    params = Engagement(skip=always(), skip_seconds=2.0)
    long = react(impressions(length=40.0), params, np.random.default_rng(7)).watch_ratio
    short = react(impressions(length=5.0), params, np.random.default_rng(7)).watch_ratio
    # Uniform over 0-4 s: a mean of 2 s, so 0.05 of a 40 s video (5,000 draws each) ...
    assert long.mean() == pytest.approx(0.05, rel=0.03) and long.max() <= 0.1
    # ... and of a 5 s video 0.4 uncapped, but a skip leaves before the middle: the
    # capped uniform's mean is 0.5 - 0.5**2 / (2 * 0.8) = 0.344.
    assert short.mean() == pytest.approx(0.344, rel=0.03) and short.max() == pytest.approx(SKIP_CEILING)
    instant = react(impressions(), Engagement(skip=always(), skip_seconds=0.0), np.random.default_rng(7))
    assert (instant.watch_ratio == 0.0).all()


def test_certain_completion_and_replay() -> None:
    params = Engagement(skip=never(), complete=always(), replay=always(), like=always(), follow=always())
    out = react(impressions(), params, np.random.default_rng(2))
    assert out.completed.all() and out.replayed.all() and out.liked.all() and out.followed.all()
    assert (out.watch_ratio > 1.0).all()
    assert not out.not_interested.any()


def test_completion_without_replay_watches_into_the_next_loop_for_swipe_seconds_at_most() -> None:
    params = Engagement(skip=never(), complete=always(), replay=never(), swipe_seconds=2.0)
    out = react(impressions(length=10.0), params, np.random.default_rng(3))
    assert (out.watch_ratio >= 1.0).all() and (out.watch_ratio <= 1.2).all()
    assert out.watch_ratio.mean() == pytest.approx(1.1, abs=0.005)  # uniform over the 2 s: 5,000 draws
    still = react(impressions(), Engagement(skip=never(), complete=always(), replay=never(), swipe_seconds=0.0),
                  np.random.default_rng(3))  # fmt: skip
    assert (still.watch_ratio == 1.0).all()


def test_replays_of_short_videos_loop_more_times_than_replays_of_long_ones() -> None:
    params = Engagement(skip=never(), complete=always(), replay=always(), swipe_seconds=0.0, replay_seconds=8.0)
    short = react(impressions(length=4.0), params, np.random.default_rng(6)).watch_ratio
    long = react(impressions(length=40.0), params, np.random.default_rng(6)).watch_ratio
    # Extra seconds are exponential with mean 8 s: 1 + 8/4 = 3 against 1 + 8/40 = 1.2 (5,000 draws each).
    assert short.mean() == pytest.approx(3.0, rel=0.05)
    assert long.mean() == pytest.approx(1.2, rel=0.02)


def test_partial_watch_lies_strictly_between_skip_and_completion() -> None:
    params = Engagement(skip=never(), complete=never())
    out = react(impressions(), params, np.random.default_rng(4))
    assert ((out.watch_ratio > 0.0) & (out.watch_ratio < 1.0)).all()
    assert not out.followed.any()  # following needs a completion


def test_language_mismatch_forces_skips() -> None:
    params = Engagement(skip=Reaction(base=0.1), language_mismatch=50.0)
    out = react(impressions(language_ok=False), params, np.random.default_rng(5))
    assert out.skipped.all()


def test_finishing_a_long_video_is_harder() -> None:
    reaction = Reaction(base=0.5, length=-0.9)
    short = probability(reaction, impressions(length=8.0)).mean()
    long = probability(reaction, impressions(length=60.0)).mean()
    assert long < short - 0.3


def react_with_arrays(x: Exposure, params: Engagement, u: np.ndarray) -> dict[str, np.ndarray]:
    """The reactions written as numpy array code, model by model: what the compiled passes must equal."""
    rows = lambda values, at: {k: v[at] for k, v in values.items()}  # noqa: E731
    f = covariates(x)
    mismatch = np.where(x.language_ok, np.float32(0.0), np.float32(params.language_mismatch))
    p_skip = probability(params.skip, x, mismatch, f)
    p_complete = (1 - p_skip) * probability(params.complete, x, x.complete_shift, f)
    skipped = u[0] < p_skip
    completed = ~skipped & (u[0] < p_skip + p_complete)
    done, gone = np.flatnonzero(completed), np.flatnonzero(skipped)
    replayed = np.zeros(x.quality.size, dtype=bool)
    replayed[done] = u[0][done] < p_skip[done] + p_complete[done] * probability(params.replay, x, 0.0, rows(f, done))
    length = np.maximum(x.length_s, np.float32(1.0))
    early = np.minimum(np.float32(0.2), np.float32(3.0) / length)
    ratio = early + (np.float32(1.0) - early) * np.float32(0.999) * u[1]
    ratio[gone] = np.minimum(np.float32(2.0 * params.skip_seconds) * u[1][gone] / length[gone], np.float32(0.5))
    swipe = np.minimum(np.float32(params.swipe_seconds) / length[done], np.float32(1.0))
    ratio[done] = np.float32(1.0) + swipe * u[1][done]
    again = np.flatnonzero(replayed)
    extra = -np.log1p(-u[1][again] * np.float32(0.999)) * np.float32(params.replay_seconds) / length[again]
    ratio[again] = np.float32(1.0) + extra
    watched = np.minimum(ratio, np.float32(1.0))
    decided = {name: np.zeros(x.quality.size, dtype=bool) for name in ("followed", "not_interested", "reported")}
    decided["followed"][done] = u[6][done] < probability(params.follow, x, 0.0, rows(f, done))
    decided["not_interested"][gone] = u[6][gone] < probability(params.not_interested, x, 0.0, rows(f, gone))
    flag_shift = np.where(x.flagged[gone], np.float32(params.flagged_report), np.float32(0.0))
    decided["reported"][gone] = u[7][gone] < probability(params.report, x, flag_shift, rows(f, gone))
    watch = {
        name: u[k] < probability(getattr(params, model), x, 0.0, f) * watched
        for k, (name, model) in enumerate(
            [("liked", "like"), ("commented", "comment"), ("shared", "share"), ("favorited", "favorite")], start=2
        )
    }
    return {"watch_ratio": ratio, "skipped": skipped, "completed": completed, "replayed": replayed, **decided, **watch}


@pytest.mark.parametrize(
    "params",
    [Engagement(), Engagement(language_mismatch=0.0, skip_seconds=0.0, like=Reaction(base=0.5, quality=-3.0))],
)
def test_compiled_reactions_equal_the_array_code_to_the_bit(params: Engagement) -> None:
    rng = np.random.default_rng(11)
    n = 300_000  # several runs of each kernel's parallel loop, and numpy's vector loops' tails
    x = Exposure(
        affinity=rng.gamma(0.5, 2.0, n).astype(np.float32),
        quality=rng.random(n, dtype=np.float32),
        hook=rng.random(n, dtype=np.float32),
        length_s=rng.lognormal(2.2, 0.8, n).astype(np.float32),
        language_ok=rng.random(n) < 0.8,
        style=rng.gamma(1.0, 1.0, n).astype(np.float32),
        trend=rng.random(n, dtype=np.float32) * (rng.random(n) < 0.2),
        complete_shift=rng.normal(0.0, 0.2, n).astype(np.float32),
        flagged=rng.random(n) < 0.1,
    )
    u = np.random.default_rng(12).random((8, n), dtype=np.float32)
    compiled = react(x, params, np.random.default_rng(12))
    for name, expected in react_with_arrays(x, params, u).items():
        got = getattr(compiled, name)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), name
    assert compiled.replayed.any() and compiled.reported.any() and compiled.followed.any()


def test_an_extreme_logit_gives_0_or_1_without_a_warning() -> None:
    x = impressions()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would print several lines
        p = probability(Reaction(base=0.5, quality=1e6, hook=-1e6), x)
    assert np.isin(p, [0.0, 1.0]).mean() > 0.99 and np.array_equal(p > 0.5, x.quality - 0.5 > x.hook - 0.5)


KIND_BANDS = np.array([request.EXPLORE, request.REGULAR, request.RESERVE], dtype=np.int8)


def rank(blocks: list[list[tuple[int, int]]], value: np.ndarray, rng_seed: int = 0) -> list[list[int]]:
    """Videos of each block in ranked order; entries are (kind, video), kinds as in KIND_BANDS.

    One ticket table holds every video at the ticket of its own id, so each entry's ticket is its video.
    """
    value = np.append(value.astype(np.float32), -np.inf)  # the sentinel: no candidate
    m = value.size
    counts = np.array([np.bincount([k for k, _ in block], minlength=3) for block in blocks], dtype=np.int64)
    size = counts.sum(axis=1)
    start = np.cumsum(size) - size
    tickets = np.array([v for block in blocks for _, v in sorted(block)], dtype=np.uint16)
    table = np.minimum(np.arange(TICKETS), m - 1).astype(np.int32)[None, :]
    n = len(blocks)
    cand, _band, keys, _seen = request.rank_blocks(
        (start, counts, np.zeros((n, 3), dtype=np.int64), start, size),
        (0, n),
        (KIND_BANDS, -1),
        table,
        tickets,
        np.empty(0, dtype=np.int64),
        (
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.intp),
            np.zeros(n, dtype=np.int64),
            np.ones(n, dtype=bool),
        ),
        np.zeros((1, 1), dtype=np.int16),  # one viewer, every estimate neutral
        (np.zeros((3, m), dtype=np.intp), value[None, :], np.empty((0, m), dtype=np.float32), np.zeros(m, dtype=bool)),
        rng_seed,
        (np.arange(m, dtype=np.int64), *_no_views()),
    )
    ranked = np.repeat(start, size) + (keys & request.OFFSET_MASK)
    return [cand[ranked[s : s + k]].tolist() for s, k in zip(start, size, strict=True)]


def test_blocks_rank_by_band_then_score_and_stay_in_place() -> None:
    value = np.array([0.5, 9.0, 2.0, 7.0, 1.0, 0.1, 3.0])
    none = value.size  # the sentinel ranks last, as no candidate
    blocks = [[(1, 0), (1, none), (1, 2), (2, 3)], [(2, 4), (1, 5), (0, 6)]]
    assert rank(blocks, value) == [[2, 0, 3, none], [6, 5, 4]]  # explore, regular by score, reserve, invalid


def test_exploring_candidates_come_first_in_random_order() -> None:
    value = np.arange(1.0, 21.0)
    blocks = [[(0, v) for v in range(10)] + [(1, v) for v in range(10, 20)]]
    orders = [rank(blocks, value, seed)[0] for seed in range(2)]
    for order in orders:
        assert sorted(order[:10]) == list(range(10)) and order[10:] == list(range(19, 9, -1))
    assert orders[0][:10] != orders[1][:10]  # not by score, and not the same twice


def test_scores_order_like_floats_within_a_band() -> None:
    rng = np.random.default_rng(3)
    value = rng.lognormal(0.0, 2.0, 5000)
    order = rank([[(1, v) for v in range(value.size)]], value)[0]
    ordered = value[order]
    assert (np.diff(ordered) <= ordered[:-1] * 2.0**-14).all()  # descending, to the 14 mantissa bits kept


def _no_views() -> tuple[np.ndarray, np.ndarray]:
    empty = SeenFilter(capacity=1000)
    return empty.words, empty.masks


def fill(
    ranked: list[int],
    creator: list[int],
    sound: list[int],
    *,
    slots: int,
    quota: list[float] | None = None,
    seen: list[int] = (),  # type: ignore[assignment]
    last: tuple[int, int] = (-1, -1),
    ahead: int | None = None,
) -> list[int]:
    """Videos one viewer (user 0) is shown from a block whose entries rank in the order given.

    Ranking puts the first ``ahead`` entries in order (all by default); the rest are given
    in reverse, for the walk to order.
    """
    n = len(ranked)
    ahead = n if ahead is None else ahead
    videos = np.arange(len(creator) + 1, dtype=np.int64)
    videos[-1] = -1
    seen_filter = SeenFilter(capacity=1000)
    seen_filter.add(np.asarray(seen, dtype=np.int64))  # user 0: the key is the video id
    controls = ViewerControls(users=1, creators=100, sounds=100)
    controls.last_creator[0], controls.last_sound[0] = last
    keys = np.r_[np.arange(ahead), np.arange(n - 1, ahead - 1, -1)].astype(np.int64)  # key j: the j-th best
    cand = np.asarray(ranked, dtype=np.int64)
    seen_at = np.zeros(n, dtype=bool)
    seen_at[:ahead] = seen_filter.contains(videos[cand[keys[:ahead]]])
    out = fill_slots(
        np.zeros(1, dtype=np.int64),
        (np.zeros(1, dtype=np.int64), np.array([slots]), np.zeros(1, dtype=np.int64), np.array([n]), np.array([ahead])),
        (keys, np.full(n, request.REGULAR, dtype=np.int8), cand, seen_at),
        (videos, np.append(creator, -1).astype(np.int64), np.append(sound, -1).astype(np.int64)),
        np.asarray(quota if quota is not None else [np.inf] * (len(creator) + 1), dtype=np.float64),
        (seen_filter.words, seen_filter.masks),
        (controls.last_creator, controls.last_sound),
        controls.rules(),
        1.0,
        np.random.default_rng(0),
    )
    return [ranked[e] for e in out if e >= 0]


def test_sort_top_orders_the_smallest_keys_first_and_keeps_the_rest() -> None:
    rng = np.random.default_rng(8)
    for size, top in [(40, 13), (40, 1), (40, 40), (5, 9), (1, 1), (200, 30)]:
        keys = rng.permutation(1000)[:size].astype(np.int64)
        block = np.r_[[-1, -2], keys, [-3]]  # neighbours of the block must not move
        request.sort_top(block, 2, 2 + size, top)
        assert block[:2].tolist() == [-1, -2] and block[-1] == -3
        assert block[2 : 2 + min(top, size)].tolist() == sorted(keys)[: min(top, size)]
        assert sorted(block[2 : 2 + size]) == sorted(keys)


def test_a_walk_past_the_ordered_entries_orders_the_rest_itself() -> None:
    ranked = list(range(30))
    creator, sound = [v // 2 for v in ranked], [100 + v for v in ranked]  # pairs share a creator
    seen = list(range(0, 30, 3))
    expected = fill(ranked, creator, sound, slots=12, seen=seen)
    assert len(expected) == 12 and expected[-1] > 13  # the walk goes past every ahead below
    for ahead in (1, 4, 13):
        assert fill(ranked, creator, sound, slots=12, seen=seen, ahead=ahead) == expected


def test_fill_takes_the_best_entries_that_are_unseen_in_quota_and_new_to_the_block() -> None:
    creator, sound = [0, 1, 2, 3, 4], [10, 11, 12, 13, 14]
    assert fill([4, 3, 2, 1, 0], creator, sound, slots=3) == [4, 3, 2]
    assert fill([4, 3, 2, 1, 0], creator, sound, slots=3, seen=[3]) == [4, 2, 1]
    assert fill([4, 3, 2, 1, 0], creator, sound, slots=3, quota=[1, 1, 1, 0, 1, 1]) == [4, 2, 1]
    assert fill([4, 4, 3], creator, sound, slots=3) == [4, 3]  # drawn twice, shown once; a slot stays empty


def test_fill_never_shows_two_in_a_row_from_one_creator_or_sound() -> None:
    creator, sound = [0, 0, 1, 2], [10, 11, 12, 12]
    # 1 waits behind 0 (same creator) and is shown as soon as it no longer clashes.
    assert fill([0, 1, 2, 3], creator, sound, slots=4) == [0, 2, 1, 3]
    # Across ticks: the viewer was last shown creator 0, so the block starts with video 2.
    assert fill([0, 2, 3], creator, sound, slots=1, last=(0, 99)) == [2]
    assert fill([0, 1], creator, sound, slots=2) == [0]  # nothing else to show after 0: the slot stays empty


def test_completion_counts_more_for_longer_videos() -> None:
    factor = ranking.completion_factor(np.array([10.0, 40.0]), 0.5)
    assert factor.tolist() == [1.0, 2.0]


def counts(views: int, **actions: int) -> np.ndarray:
    row = np.zeros((1, len(ACTIONS)), dtype=np.int64)
    row[0, A["views"]] = views
    for name, value in actions.items():
        row[0, A[name]] = value
    return row


def watch(watched: float = 50.0, length: float = 10.0, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, watched), np.full(n, length)


def stage(*gates: object) -> Stage:
    return Stage(pool=100, window=60.0, gates=list(gates))


def test_absolute_gate_passes_at_the_threshold_and_names_the_worst_miss() -> None:
    gate = AbsoluteGate(completion=0.30, like=0.05)
    history = exposure.ScoreHistory()
    ok = exposure.evaluate(0, stage(gate), counts(100, completions=30, likes=5), *watch(), history)
    assert ok.passed.tolist() == [True]
    miss = exposure.evaluate(0, stage(gate), counts(100, completions=29, likes=1), *watch(), history)
    assert miss.passed.tolist() == [False]
    assert exposure.GATE_NAMES[miss.failed[0]] == "like"  # 1% of 5% is a worse miss than 29% of 30%
    assert (miss.value[0], miss.threshold[0]) == (0.01, 0.05)


def test_score_gate() -> None:
    gate = ScoreGate(weights={"like": 10.0}, min=0.5)
    history = exposure.ScoreHistory()
    assert exposure.evaluate(0, stage(gate), counts(100, likes=5), *watch(), history).passed.tolist() == [True]
    assert exposure.evaluate(0, stage(gate), counts(100, likes=4), *watch(), history).passed.tolist() == [False]


def test_percentile_gate_passes_the_top_share_of_recent_scores() -> None:
    gate = PercentileGate(top=0.25, weights={"like": 1.0}, history=100)
    history = exposure.ScoreHistory()
    batch = np.zeros((100, len(ACTIONS)), dtype=np.int64)
    batch[:, A["views"]] = 100
    batch[:, A["likes"]] = np.arange(100)
    first = exposure.evaluate(0, stage(gate), batch, *watch(n=100), history)
    assert first.passed.all()  # no history yet: nothing to rank against
    second = exposure.evaluate(0, stage(gate), batch, *watch(n=100), history)
    assert 24 <= second.passed.sum() <= 26  # the top quarter of the same spread


def test_watch_gates_measure_share_and_seconds_watched() -> None:
    gate = AbsoluteGate(avg_watched=0.5, watch_time=12.0)
    history = exposure.ScoreHistory()
    ok = exposure.evaluate(0, stage(gate), counts(100), *watch(50.0, 24.0), history)
    assert ok.passed.tolist() == [True]  # half of 24 s is exactly 12 s
    short = exposure.evaluate(0, stage(gate), counts(100), *watch(50.0, 20.0), history)
    assert exposure.GATE_NAMES[short.failed[0]] == "watch_time" and short.value[0] == 10.0
    shallow = exposure.evaluate(0, stage(gate), counts(100), *watch(40.0, 60.0), history)
    assert exposure.GATE_NAMES[shallow.failed[0]] == "avg_watched"


def test_no_audience() -> None:
    verdict = exposure.evaluate(0, stage(), counts(0), *watch(0.0), exposure.ScoreHistory())
    assert exposure.GATE_NAMES[verdict.failed[0]] == "no_audience"


def test_seen_filter_has_no_false_negatives_and_few_false_positives() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 1 << 50, size=200_000)
    seen = SeenFilter(capacity=200_000)
    seen.add(keys)
    seen.add(keys[:1000])  # duplicates are harmless
    assert seen.contains(keys).all()
    unseen = rng.integers(1 << 51, 1 << 52, size=200_000)
    rate = seen.contains(unseen).mean()
    # Sized for 0.5% once full: 200,000 tries of it have a standard error of 3.2%, so 15% is
    # over 4 of them. (The whole filter's fill to the k-th power would say about 0.1%.)
    assert rate == pytest.approx(FALSE_POSITIVE_RATE, rel=0.15)
    assert seen.false_positive_rate() == pytest.approx(rate, rel=0.15)
    assert seen.nbytes < 200_000 * 15 / 8  # about 14.6 bits per key, not 16
    held, final = seen.nbytes, seen.false_positive_rate()
    seen.release()  # at the run's end: the summary still reports them
    assert seen.words.size == 0 and (seen.nbytes, seen.false_positive_rate()) == (held, final)


def test_a_filter_sized_for_a_lower_rate_takes_more_bits_and_reaches_that_rate() -> None:
    rng = np.random.default_rng(1)
    keys, unseen = rng.integers(0, 1 << 50, size=100_000), rng.integers(1 << 51, 1 << 52, size=400_000)
    rates, sizes = [], []
    for target in (0.02, 0.001):
        seen = SeenFilter(capacity=keys.size, false_positive=target)
        seen.add(keys)
        rates.append(seen.contains(unseen).mean())
        sizes.append(seen.nbytes)
        assert rates[-1] == pytest.approx(target, rel=0.2)  # 400 tries per expected hit at 0.1%: 5% error
    assert sizes[1] > 1.8 * sizes[0]


@pytest.mark.parametrize("hashes", [1, 6, 16])
def test_seen_masks_set_the_bits_of_the_smallest_draws_as_every_run_before(hashes: int) -> None:
    masks = SeenFilter(capacity=10, hashes=hashes).masks
    draws = np.random.default_rng(0x5EE7).random((masks.size, 64))
    rows = np.random.default_rng(9).integers(0, masks.size, 200)
    smallest = np.argsort(draws[rows], axis=1)[:, :hashes].astype(np.uint64)  # the table's definition
    assert np.array_equal(masks[rows], np.bitwise_or.reduce(np.uint64(1) << smallest, axis=1))


def test_keys_added_in_the_background_are_in_every_later_read_and_in_a_saved_copy() -> None:
    keys = np.random.default_rng(1).integers(0, 1 << 50, size=300_000)
    whole = SeenFilter(capacity=600_000)
    whole.add(keys)
    seen = SeenFilter(capacity=600_000)
    seen.add_in_background(keys[:150_000])
    seen.add_in_background(keys[150_000:])  # waits for the first batch
    copy = pickle.loads(pickle.dumps(seen))  # a checkpoint holds every key
    assert np.array_equal(copy.words, whole.words)
    assert seen.contains(keys).all() and np.array_equal(seen.words, whole.words)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_helper_runs_on_its_own_thread_only_where_the_process_may_use_two(threads: int) -> None:
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    try:
        ran_on: list[threading.Thread] = []

        def double(x: int) -> int:
            ran_on.append(threading.current_thread())
            return x * 2

        job = Background.beside(double, 21)
        failed = Background.beside(operator.truediv, 1, 0)
    finally:
        numba.set_num_threads(before)
    assert job.result() == 42
    with pytest.raises(ZeroDivisionError):  # the helper's error reaches its caller
        failed.result()
    on_main = ran_on == [threading.current_thread()]
    assert on_main == (numba.get_num_threads() == 1 or threads == 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_results_handed_out_in_turn_come_in_order_from_both_threads_and_stop_at_an_error(threads: int) -> None:
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    try:
        ran_on: set[threading.Thread] = set()

        def square(i: int) -> int:
            ran_on.add(threading.current_thread())
            time.sleep(0.002 * (i % 3))  # uneven calls, so the threads finish out of order
            return i * i

        assert list(InTurn(square, 40)) == [i * i for i in range(40)]
        two_threads = numba.get_num_threads() > 1
        assert (len(ran_on) == 2) == two_threads
        computed: list[int] = []

        def fails_at_5(i: int) -> int:
            computed.append(i)
            if i == 5:
                raise ValueError(i)
            return i

        taken = []
        with pytest.raises(ValueError):  # raised to the caller at its turn, after the results before it
            for result in InTurn(fails_at_5, 1000):
                taken.append(result)
        assert taken == [0, 1, 2, 3, 4] and len(computed) < 1000  # the helper stopped too
    finally:
        numba.set_num_threads(before)


def test_ticket_counts_fill_the_table_and_keep_each_share_in_expectation() -> None:
    demand = np.array([0.0, 3.0, 1e-6, 7.5, 0.0, 2.25, 0.0])  # zeros at both ends, one share below a ticket
    share = demand / demand.sum() * TICKETS
    offsets = (np.arange(4000) + 0.5) / 4000  # an even grid standing in for the uniform offset
    counts = np.array([ticket_counts(demand, float(u)) for u in offsets])
    assert (counts.sum(axis=1) == TICKETS).all()
    assert (counts >= np.floor(share)).all() and (counts <= np.ceil(share)).all()
    # Over the offset each count averages its share; the grid's step bounds the error at 1/4000.
    np.testing.assert_allclose(counts.mean(axis=0), share, rtol=0, atol=1 / 4000 + 1e-9)


@pytest.mark.parametrize("n", [0, 1, 40, 2000])
def test_group_tables_are_each_groups_ticket_table(n: int) -> None:
    rng = np.random.default_rng(n)
    index, weight = rng.integers(0, 5000, n), rng.random(n) * 1e3
    weight[rng.random(n) < 0.3] = 0.0
    language = rng.integers(0, 3, n)
    speaks = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=bool)  # group 2 speaks nothing
    slots = np.array([500.0, 120.0, 80.0, 0.0])  # and group 3 has no slots: neither draws anything
    out = np.empty((4, TICKETS), dtype=np.int32)
    group_tables(out, index, weight, language, speaks, slots, -7, 0.37)
    share = np.where(
        speaks[:, language], slots[:, None] / np.maximum((slots[:, None] * speaks[:, language]).sum(0), 1e-12), 0
    )
    for g in range(4):
        assert np.array_equal(out[g], ticket_table(index, weight * share[g], -7, 0.37)), g
        if weight @ share[g] > 0:  # each video's index repeated as often as it has tickets, in order
            assert np.array_equal(out[g], np.repeat(index, ticket_counts(weight * share[g], 0.37))), g
    assert (out[2:] == -7).all()


def _contexts() -> Contexts:
    """Two language groups (speaks language 0; speaks 0 and 1), two regions, two devices: every mix."""
    mix = np.array([(g, r, d) for g in (0, 1) for r in (0, 1) for d in (0, 1)])
    return Contexts(
        group=np.zeros(1, dtype=np.intp),
        speaks=np.array([[True, False], [True, True]]),
        context=np.zeros(1, dtype=np.intp),
        group_of=mix[:, 0],
        region=mix[:, 1],
        device=mix[:, 2],
    )


@pytest.mark.parametrize("weights", [(0.0, 0.0, 0.0), (1.0, 0.1, 0.1), (3.0, 0.5, 2.0)])
def test_each_weak_signal_moves_a_score_by_at_most_its_weight(weights: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(7)
    n = 400
    language, region = rng.integers(0, 2, n), rng.integers(0, 2, n)
    device_log = np.clip(rng.normal(0.0, 2.0, (2, n)), -1.0, 1.0).astype(np.float32)  # as slice_factor clips it
    value = rng.random(n).astype(np.float32) + 0.1
    ctx = _contexts()
    weight = context_weights(ctx, value, language, region, device_log, weights)[:, :n]
    assert np.isneginf(context_weights(ctx, value, language, region, device_log, weights)[:, n]).all()
    ratio = np.log(weight / value)
    w_language, w_country, w_device = weights
    speaks = ctx.speaks[ctx.group_of][:, language]
    expected = -w_language * ~speaks - w_country * (ctx.region[:, None] != region) + w_device * device_log[ctx.device]
    np.testing.assert_allclose(ratio, expected, atol=1e-5)
    assert (np.abs(ratio) <= w_language + w_country + w_device + 1e-5).all()
    if w_language:  # a language the viewer speaks is worth exactly exp(weight) more, other things equal
        assert ratio.min() < -w_language + w_device + 1e-5


def test_slice_factor_is_bounded_and_shrinks_quiet_slices_toward_the_video() -> None:
    views = np.array([[1000.0, 0.0], [10.0, 10.0]], dtype=np.float32)
    signal = np.array([[900.0, 0.0], [0.0, 30.0]], dtype=np.float32)
    log = slice_factor(views, signal, prior_views=50.0, floor=1e-3)
    assert log.shape == (2, 2) and (np.abs(log) <= RATIO_CLIP).all()
    assert log[1, 0] == 0.0  # a slice with no views is the video's own rate
    assert log[0, 1] < 0 < log[1, 1]  # the slice that delighted is favoured, the other not


def test_each_viewers_top_estimate_is_read_in_place_and_ties_go_to_the_first_as_argmax() -> None:
    rng = np.random.default_rng(5)
    affinity = rng.choice(np.array([-300, 0, 300], np.int16), size=(500, 9))  # many ties
    users = rng.integers(0, 500, 2000)
    top = ranking.top_estimates(affinity, users, 6)  # the first 6 columns only (the topics)
    assert top.tolist() == np.argmax(affinity[users, :6], axis=1).tolist()
    assert ranking.top_estimates(np.zeros((2, 6), np.int16), np.array([1]), 6).tolist() == [0]


def test_learning_adds_every_step_to_the_log_affinity_and_clips() -> None:
    affinity = np.zeros((3, 4), dtype=np.int16)
    affinity[2, 1] = ranking.estimate_levels(4.5)
    users = np.array([0, 0, 2])  # grouped by user; user 0 touches column 1 twice
    columns = np.array([[1, 1, 1], [3, 2, 0]])
    shown = (columns[:, [2, 0, 1]].copy(), np.array([1, 2, 0]))  # columns by offer index; each impression's index
    ranking.update_affinity(affinity, users, shown, np.array([1.0, 2.0, 3.0], np.float32), 0.5)
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[0, [1, 3, 2]] = [1.5, 0.5, 1.0]
    expected[2, [1, 0]] = [ranking.ESTIMATE_BOUND, 1.5]  # 4.5 + 1.5 is clipped to the bound
    # within half a level of the exact sum (0.5 * 5 / 32767)
    np.testing.assert_allclose(ranking.log_estimates(affinity), expected, atol=8e-5)
    assert affinity[1].tolist() == [0] * 4  # a viewer with no impression is untouched


def test_an_estimates_level_round_trips_within_half_a_step_and_its_exp_is_tabled() -> None:
    log = np.linspace(-6.0, 6.0, 10_001)
    levels = ranking.estimate_levels(log)
    assert levels.dtype == np.int16
    clipped = np.clip(log, -ranking.ESTIMATE_BOUND, ranking.ESTIMATE_BOUND)
    step = ranking.ESTIMATE_BOUND / ranking.ESTIMATE_LEVELS
    assert np.abs(ranking.log_estimates(levels) - clipped).max() <= step / 2 + 1e-6
    exp = ranking.EXP_OF_LEVEL[levels.astype(np.int64) + ranking.ESTIMATE_LEVELS]
    np.testing.assert_allclose(exp, np.exp(ranking.log_estimates(levels)), rtol=1e-6)
    assert ranking.EXP_OF_LEVEL[ranking.ESTIMATE_LEVELS] == 1.0  # level 0 is neutral


def test_the_kernel_cache_folder_changes_with_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # numba checks only a kernel's own file; a stale inlined callee would silently change results.
    from tiktok_sim import compiled

    monkeypatch.setattr(compiled, "PACKAGE", tmp_path)
    (tmp_path / "seen.py").write_text("A = 1\n")
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "fill.py").write_text("B = 1\n")
    before = compiled.sources_hash()
    (tmp_path / "seen.py").write_text("A = 2\n")
    assert compiled.sources_hash() != before


@pytest.mark.parametrize("confidence", [0.51, 0.9, 0.99])
def test_an_early_stop_is_the_one_sided_binomial_test_on_every_judged_video(confidence: float) -> None:
    from scipy.special import bdtr

    from tiktok_sim.scenario.schema import EarlyStop

    rng = np.random.default_rng(5)
    views = rng.integers(0, 400, 5000)
    completions = rng.binomial(views, rng.uniform(0.1, 0.5, views.size))
    rows = np.zeros((views.size, len(ACTIONS)), dtype=np.int64)
    rows[:, A["views"]], rows[:, A["completions"]] = views, completions
    rule = Stage(
        pool=100, window=60.0, gates=[AbsoluteGate(completion=0.3)], early_stop=EarlyStop(confidence=confidence)
    )
    expected = (views >= 100) & (bdtr(completions, views, 0.3) < 1.0 - confidence)  # every video, no shortcut
    failing = exposure.clearly_failing(rule, rows)
    assert failing.tolist() == expected.tolist()
    assert 0 < failing.sum() < (views >= 100).sum()  # both outcomes occur


def test_early_stops_judge_a_whole_ladder_as_each_stage_would_its_own_videos() -> None:
    from scipy.special import bdtr

    from tiktok_sim.scenario.schema import EarlyStop

    rng = np.random.default_rng(6)
    views = rng.integers(0, 400, 6000)
    rows = np.zeros((views.size, len(ACTIONS)), dtype=np.int64)
    rows[:, A["views"]] = views
    rows[:, A["completions"]] = rng.binomial(views, rng.uniform(0.1, 0.5, views.size))
    rows[:, A["likes"]] = rng.binomial(views, rng.uniform(0.01, 0.08, views.size))
    ladder = [
        Stage(pool=100, window=60.0, gates=[AbsoluteGate(completion=0.3)], early_stop=EarlyStop()),
        Stage(pool=100, window=60.0, gates=[AbsoluteGate(completion=0.3)], early_stop=None),  # never early
        Stage(  # two gates on one rate: the higher minimum decides
            pool=100,
            window=60.0,
            gates=[AbsoluteGate(completion=0.2, like=0.05), AbsoluteGate(completion=0.35)],
            early_stop=EarlyStop(min_views=50, confidence=0.9),
        ),
    ]
    stage = rng.integers(0, 3, views.size)
    failing = exposure.EarlyStops(ladder).failing(stage, rows)
    for s, rule in enumerate(ladder):
        at = stage == s
        assert failing[at].tolist() == exposure.clearly_failing(rule, rows[at]).tolist(), s
    assert not failing[stage == 1].any() and failing[stage == 0].any() and failing[stage == 2].any()
    # Stage 2 against its rule written out: either rate clearly below, completion at 0.35.
    k, n = rows[stage == 2, A["completions"]], views[stage == 2]
    likes = rows[stage == 2, A["likes"]]
    expected = (n >= 50) & ((bdtr(k, n, 0.35) < 0.1) | (bdtr(likes, n, 0.05) < 0.1))
    assert failing[stage == 2].tolist() == expected.tolist()


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).integers(0, 50, 1000),  # settings: counted in a table
        np.array([3, 3, 1]),
        np.array([], dtype=np.int64),
        np.random.default_rng(1).integers(0, 1 << 40, 100),  # too large a domain: sorted
        np.array([-1, 2, -1]),
    ],
)
def test_small_unique_answers_as_np_unique_does(values: np.ndarray) -> None:
    uniques, inverse = small_unique(values)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert uniques.dtype == expected.dtype and np.array_equal(uniques, expected)
    assert np.array_equal(inverse, expected_inverse.reshape(-1))


@pytest.mark.parametrize("room", [True, False])
def test_merging_follows_in_place_gives_the_graph_a_fresh_insert_would(room: bool) -> None:
    # A random graph over 50 users x 7 creators, merged hourly three times; without room, it grows.
    rng = np.random.default_rng(11)
    users, creators = 50, 7
    keys = np.unique(rng.integers(0, users * creators, 120))
    graph = FollowGraph(keys, users, creators)
    if not room:
        graph._edges = graph.keys.copy()
    expected = keys.copy()
    for hour in range(1, 4):
        fresh = np.setdiff1d(np.unique(rng.integers(0, users * creators, 40)), expected)
        wants = np.ones(fresh.size, dtype=bool)
        graph.add(fresh // creators, fresh % creators, wants, now=60.0 * hour)
        expected = np.union1d(expected, fresh)
        np.testing.assert_array_equal(graph.keys, expected)
        np.testing.assert_array_equal(graph.start, np.searchsorted(expected, np.arange(users + 1) * creators))
