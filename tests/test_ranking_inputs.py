"""Follower count and past hits are not ranking inputs: followers matter only as follow candidates."""

from __future__ import annotations

import numpy as np
import pytest

from tiktok_sim.engine import Engine
from tiktok_sim.scenario import Scenario
from tiktok_sim.world.catalog import A


def _offer_weights(scenario: Scenario, followers: int, past_views: int) -> np.ndarray:
    """Weights the system gives a fresh upload of the featured creator (id 0), in every context."""
    featured = scenario.featured[0].model_copy(update={"followers": followers})
    engine = Engine(scenario.model_copy(update={"featured": [featured]}), seed=5)
    earlier = engine._upload(np.array([0]), np.array([0.0]))  # an earlier video of the creator...
    engine.catalog.total[earlier, A["views"]] = past_views  # ...that was a hit, or not
    fresh = engine._upload(np.array([0, 1, 2]), np.array([1.0, 1.0, 1.0]))
    offer = engine.recommender.offer(fresh, np.empty(0, dtype=np.int64), floor=1e-3)
    return offer.weight[:, offer.index[fresh]]


@pytest.mark.parametrize(("followers", "past_views"), [(5_000, 0), (0, 1_000_000)])
def test_followers_and_past_hits_do_not_change_a_new_videos_score(
    tiny: Scenario, followers: int, past_views: int
) -> None:
    baseline = _offer_weights(tiny, followers=0, past_views=0)
    assert np.array_equal(_offer_weights(tiny, followers, past_views), baseline)


def test_followers_do_change_who_gets_follow_candidates(tiny: Scenario) -> None:
    few = Engine(tiny.model_copy(update={"featured": [tiny.featured[0].model_copy(update={"followers": 10})]}), 5)
    many = Engine(tiny.model_copy(update={"featured": [tiny.featured[0].model_copy(update={"followers": 1_000})]}), 5)
    assert few.follows.initial[0] <= 10 < 500 < many.follows.initial[0]  # targets, less duplicate draws
