"""Pure kernels with parameters that make random outcomes certain."""

from __future__ import annotations

import numpy as np
import pytest

from tiktok_sim.engine import TICKETS, ticket_counts
from tiktok_sim.model import exposure, ranking
from tiktok_sim.model.engagement import Exposure, probability, react
from tiktok_sim.scenario.schema import AbsoluteGate, Engagement, PercentileGate, Reaction, ScoreGate, Stage
from tiktok_sim.seen import SeenFilter
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
    )


def never(**kw: float) -> Reaction:
    return Reaction(base=0.0, **kw)


def always(**kw: float) -> Reaction:
    return Reaction(base=1.0, **kw)


def test_certain_skip_means_short_watches_and_no_positive_reactions() -> None:
    params = Engagement(skip=always(), like=always(), follow=always(), not_interested=always())
    out = react(impressions(), params, np.random.default_rng(1))
    assert out.skipped.all() and not out.completed.any() and not out.followed.any()
    assert (out.watch_ratio < 0.2).all()
    assert out.not_interested.all()  # "not interested" needs a skip, and base 1 makes it certain
    assert out.liked.mean() < 0.2  # likes scale with the share watched


def test_certain_completion_and_replay() -> None:
    params = Engagement(skip=never(), complete=always(), replay=always(), like=always(), follow=always())
    out = react(impressions(), params, np.random.default_rng(2))
    assert out.completed.all() and out.replayed.all() and out.liked.all() and out.followed.all()
    assert (out.watch_ratio > 1.0).all()
    assert not out.not_interested.any()


def test_completion_without_replay_is_exactly_one() -> None:
    params = Engagement(skip=never(), complete=always(), replay=never())
    out = react(impressions(), params, np.random.default_rng(3))
    assert (out.watch_ratio == 1.0).all()


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


def test_choose_takes_the_best_valid_candidate_or_none() -> None:
    scores = np.array([[0.1, 0.9, 0.5], [-np.inf, -np.inf, -np.inf], [2.0, -np.inf, 1.0]], dtype=np.float32)
    best = ranking.choose(scores.T, np.zeros(3, dtype=bool), np.random.default_rng(0))
    assert best.tolist() == [1, -1, 0]


@pytest.mark.parametrize("width", [2, 6, 8, 9, 64])
def test_choose_agrees_with_argmax_on_random_scores(width: int) -> None:
    rng = np.random.default_rng(width)
    scores = (rng.lognormal(0.0, 2.0, size=(width, 20_000))).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    none = np.zeros(scores.shape[1], dtype=bool)
    best = ranking.choose(scores, none, rng)
    valid = np.isfinite(scores).any(axis=0)
    assert (best == np.where(valid, np.argmax(scores, axis=0), -1)).all()
    close = scores.copy()
    finite = np.isfinite(close[0])
    close[1, finite] = np.nextafter(close[0, finite], np.float32(np.inf))  # within row 0's packed bits
    best = ranking.choose(close, none, rng)
    assert (best == np.where(np.isfinite(close).any(axis=0), np.argmax(close, axis=0), -1)).all()
    scores = np.minimum(scores, np.float32(2.0))
    scores[0] = scores[-1] = np.float32(3.0)  # an exact tie goes to the first candidate
    assert (ranking.choose(scores, none, rng) == 0).all()


def test_exploration_only_takes_valid_candidates() -> None:
    scores = np.tile(np.array([[-np.inf], [0.1], [-np.inf], [0.2]], dtype=np.float32), (1, 2000))
    best = ranking.choose(scores, np.ones(2000, dtype=bool), np.random.default_rng(0))
    assert set(best.tolist()) == {1, 3}  # both valid ones, never an invalid one, despite 0.1 < 0.2


def counts(views: int, **actions: int) -> np.ndarray:
    row = np.zeros((1, len(ACTIONS)), dtype=np.int64)
    row[0, A["views"]] = views
    for name, value in actions.items():
        row[0, A[name]] = value
    return row


def stage(*gates: object) -> Stage:
    return Stage(pool=100, window=60.0, gates=list(gates))


def test_absolute_gate_passes_at_the_threshold_and_names_the_worst_miss() -> None:
    gate = AbsoluteGate(completion=0.30, like=0.05)
    history = exposure.ScoreHistory()
    ok = exposure.evaluate(0, stage(gate), counts(100, completions=30, likes=5), history)
    assert ok.passed.tolist() == [True]
    miss = exposure.evaluate(0, stage(gate), counts(100, completions=29, likes=1), history)
    assert miss.passed.tolist() == [False]
    assert exposure.GATE_NAMES[miss.failed[0]] == "like"  # 1% of 5% is a worse miss than 29% of 30%
    assert (miss.value[0], miss.threshold[0]) == (0.01, 0.05)


def test_score_gate() -> None:
    gate = ScoreGate(weights={"like": 10.0}, min=0.5)
    history = exposure.ScoreHistory()
    assert exposure.evaluate(0, stage(gate), counts(100, likes=5), history).passed.tolist() == [True]
    assert exposure.evaluate(0, stage(gate), counts(100, likes=4), history).passed.tolist() == [False]


def test_percentile_gate_passes_the_top_share_of_recent_scores() -> None:
    gate = PercentileGate(top=0.25, weights={"like": 1.0}, history=100)
    history = exposure.ScoreHistory()
    batch = np.zeros((100, len(ACTIONS)), dtype=np.int64)
    batch[:, A["views"]] = 100
    batch[:, A["likes"]] = np.arange(100)
    first = exposure.evaluate(0, stage(gate), batch, history)
    assert first.passed.all()  # no history yet: nothing to rank against
    second = exposure.evaluate(0, stage(gate), batch, history)
    assert 24 <= second.passed.sum() <= 26  # the top quarter of the same spread


def test_no_audience() -> None:
    verdict = exposure.evaluate(0, stage(), counts(0), exposure.ScoreHistory())
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
    assert rate < 0.01  # tolerance: documented as well under 1% at 16 bits per key
    assert seen.false_positive_rate() == pytest.approx(rate, abs=0.005)


def test_ticket_counts_fill_the_table_and_keep_each_share_in_expectation() -> None:
    demand = np.array([0.0, 3.0, 1e-6, 7.5, 0.0, 2.25, 0.0])  # zeros at both ends, one share below a ticket
    share = demand / demand.sum() * TICKETS
    offsets = (np.arange(4000) + 0.5) / 4000  # an even grid standing in for the uniform offset
    counts = np.array([ticket_counts(demand, float(u)) for u in offsets])
    assert (counts.sum(axis=1) == TICKETS).all()
    assert (counts >= np.floor(share)).all() and (counts <= np.ceil(share)).all()
    # Over the offset each count averages its share; the grid's step bounds the error at 1/4000.
    np.testing.assert_allclose(counts.mean(axis=0), share, rtol=0, atol=1 / 4000 + 1e-9)
