"""Gate pass rates against the binomial tail they must follow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import binom

from tiktok_sim import simulate
from tiktok_sim.scenario import load_scenario

POOL, RATE, GATE = 200, 0.05, 0.0575  # pass iff likes >= 11.5, i.e. >= 12 of 200

CONSTANT_LIKES = f"""\
name: binomial
seed: 3
run: {{duration: 1d, backlog: 0}}
users: {{count: 20000}}
creators: {{count: 250, posts_per_day: {{median: 3, sigma: 0}}}}
engagement:
  skip: {{base: 0}}
  complete: {{base: 1}}
  replay: {{base: 0}}
  like: {{base: {RATE}, quality: 0, hook: 0, interest: 0, length: 0}}
ladder:
  - {{pool: {POOL}, window: 12h, gates: [{{type: absolute, like: {GATE}}}]}}
  - {{pool: 100000, window: 7d}}
"""


def test_share_passing_matches_the_binomial_tail(tmp_path: Path) -> None:
    path = tmp_path / "binomial.yaml"
    path.write_text(CONSTANT_LIKES)
    result = simulate(load_scenario(path))
    stages = result.stages
    full = (stages["stage"] == 0) & (stages["views"] == POOL)
    assert full.sum() >= 400  # enough evaluations for the tolerance below
    observed = stages["passed"][full].mean()
    expected = binom.sf(np.ceil(GATE * POOL) - 1, POOL, RATE)
    # Tolerance 0.06 is about 2.5 standard errors at 400 videos (sd <= 0.024); the seed is fixed.
    assert abs(observed - expected) < 0.06, (observed, expected)
