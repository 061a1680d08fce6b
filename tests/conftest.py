"""Shared fixtures: a tiny world, run once per session with every impression recorded."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tiktok_sim import engine, simulate
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
# Hypothesis caches what it learns; keep that out of the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tiktok-sim-hypothesis")
SCENARIOS = ROOT / "scenarios"

TINY = """\
name: tiny
seed: 11
run: {duration: 1d, backlog: 12h}
users: {count: 3000}
creators: {count: 120}
featured:
  - {name: me, niche: [food], followers: 300, posts_per_day: 3, post_hours: [9, 18], video_length_s: 15,
     quality: 0.7, hook: 0.6}
ladder:
  - {pool: 100, window: 6h, gates: [{type: absolute, completion: 0.3, like: 0.04}]}
  - {pool: 400, window: 12h, gates: [{type: score, min: 0.7}]}
  - {pool: 1500, window: 1d, gates: [{type: percentile, top: 0.3, history: 20}]}
"""


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenarios") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_file: Path) -> Scenario:
    return load_scenario(tiny_file)


@pytest.fixture(scope="session")
def tiny_result(tiny: Scenario) -> RunResult:
    return simulate(tiny, record_impressions=True)


@pytest.fixture(scope="session")
def tiny_in_parts(tiny: Scenario) -> RunResult:
    """The tiny world with every tick served in parts of about 400 slots, as the largest worlds' ticks are."""
    whole = engine.TICK_PART_SLOTS
    engine.TICK_PART_SLOTS = 400  # the tiny world's ticks hold up to about 3,000 slots
    try:
        return simulate(tiny, record_impressions=True)
    finally:
        engine.TICK_PART_SLOTS = whole
