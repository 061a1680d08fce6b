"""Degenerate but valid worlds run, or are refused in one line; they never crash, and every run keeps the invariants.

Hypothesis draws ``--set`` overrides at the edges of the schema: one user or creator, no
follow edges, a single stage, pools far larger than the audience, windows and durations of a
fraction of a minute, everyone skipping, everything spam. Each world runs through the CLI
(report, files and ``check``), then again in-process with every impression recorded.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tiktok_sim import simulate
from tiktok_sim.cli import main
from tiktok_sim.errors import ScenarioError
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import load_scenario

BASE = """\
name: degenerate
run: {duration: 3h, backlog: 6h}
users: {count: 5, sessions_per_day: {median: 24, sigma: 0}}
creators: {count: 2, posts_per_day: {median: 24, sigma: 0}}
topics: [food, diy]
videos: {trending_sounds: 1}
ladder: [{pool: 3, window: 1h}]
"""

GATES = (
    "[]",
    "[{type: absolute, completion: 1.0, like: 1.0}]",
    "[{type: absolute, avg_watched: 0.0001, watch_time: 0.001}]",
    "[{type: score, min: 0}]",
    "[{type: percentile, top: 1.0, history: 10}]",
)
WINDOWS = ("0.001", "1m", "1h", "1d", "0")  # 0 is refused: a pool needs time to fill
FEATURED = (
    "[]",
    "[{name: me, niche: [food], followers: 0, posts_per_day: 0.001, post_hours: [0], video_length_s: 0.1,"
    " quality: 0, hook: 0}]",
    "[{name: me, niche: [food, diy], followers: 100000, posts_per_day: 200, post_hours: [0, 12, 23],"
    " video_length_s: 600, quality: 1, hook: 1}]",
)
REGIONS = (
    "[{name: x, share: 1, utc_offset: 0, languages: [xx]}]",
    "[{name: x, share: 0.5, utc_offset: 14, languages: [xx]}, {name: y, share: 0.5, utc_offset: -12, languages: [yy]}]",
)


@st.composite
def ladders(draw: st.DrawFn) -> str:
    """One to three stages with growing pools, from a single impression to far beyond any audience."""
    pools = sorted(draw(st.lists(st.sampled_from([1, 2, 10, 1_000, 10**7]), min_size=1, max_size=3, unique=True)))
    stages = [
        f"{{pool: {pool}, window: {draw(st.sampled_from(WINDOWS))}, gates: {draw(st.sampled_from(GATES))}}}"
        for pool in pools
    ]
    return f"[{', '.join(stages)}]"


def edge(*values: str) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


OVERRIDES = st.fixed_dictionaries(
    {"users.count": st.integers(1, 30).map(str), "creators.count": st.integers(1, 4).map(str), "ladder": ladders()},
    optional={
        "run.duration": edge("0.001", "1m", "15m", "6h", "0"),
        "run.tick": edge("0.5", "1", "240"),
        "run.backlog": edge("0", "1h", "1d"),
        "topics": edge("[food]", "[food, diy]"),
        "featured": edge(*FEATURED),
        "users.regions": edge(*REGIONS),
        "users.signup_pick_prob": edge("0", "1"),
        "users.signup_picks": edge("1", "5"),
        "users.sessions_per_day": edge("{median: 0.001, sigma: 0}", "{median: 300, sigma: 0}"),
        "users.videos_per_session": edge("0.01", "200"),
        "users.sensitive_opt_in": edge("0", "1"),
        "creators.followers": edge("{median: 0.001, sigma: 0}", "{median: 1000000, sigma: 0}", "{median: 1, sigma: 5}"),
        "creators.posts_per_day": edge("{median: 0.001, sigma: 0}", "{median: 100, sigma: 0}"),
        "creators.niche_topics": edge("1", "5"),
        "creators.video_length": edge(
            "{type: lognormal, median: 10, sigma: 0}", "{type: lognormal, median: 0.1, sigma: 3}"
        ),
        "videos.review_delay": edge("{median: 0.001, sigma: 0}", "{median: 100000, sigma: 0}"),
        "videos.sounds": edge("1", "500"),
        "videos.trending_sounds": edge("0", "1"),
        "videos.hashtags": edge("1"),
        "videos.hashtags_per_video": edge("1", "30"),
        "videos.styles": edge("1", "64"),
        "videos.spam_prob": edge("0", "1"),
        "videos.duplicate_prob": edge("0", "1"),
        "videos.sensitive_prob": edge("0", "1"),
        "videos.review_catch": edge("0", "1"),
        "engagement.skip.base": edge("0", "1"),
        "engagement.complete.base": edge("0", "1"),
        "engagement.like.base": edge("0", "1"),
        "engagement.follow.base": edge("0", "1"),
        "engagement.not_interested.base": edge("0", "1"),
        "engagement.report.base": edge("0", "1"),
        "engagement.hide_creator": edge("0", "1"),
        "recommender.exploration": edge("0", "1"),
        "recommender.candidates": edge("1", "64"),
        "recommender.follow_candidates": edge("0", "1"),
        "recommender.other_language": edge("0", "1"),
        "recommender.cold_start_views": edge("0", "1000"),
        "recommender.popular_candidates": edge("0", "1"),
        "recommender.reports_to_review": edge("1"),
        "recommender.report_rate_to_review": edge("0"),
    },
)

PROBLEM = re.compile(r"^(--set|\S+\.yaml:\d+:\d+): \S")
EDGES = settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_invariants(result: RunResult) -> None:
    """What tests/test_invariants.py checks on its tiny world, for any world."""
    log = result.impressions_log
    assert log is not None
    views = result.videos["views"]
    assert views.sum() == result.impressions == log["video"].size  # views conserved
    assert (np.bincount(log["video"], minlength=result.n_videos) == views).all()
    pairs = log["user"].astype(np.int64) * max(result.n_videos, 1) + log["video"]
    assert np.unique(pairs).size == pairs.size  # nobody sees a video twice
    assert (log["minute"] >= result.videos["eligible_min"][log["video"]]).all()  # no view before review
    if result.stages:  # no stage serves beyond its pool (a run may end before any evaluation)
        pools = np.array([stage.pool for stage in result.scenario.ladder])
        assert (result.stages["views"] <= pools[result.stages["stage"]]).all()


@EDGES
@given(overrides=OVERRIDES, seed=st.integers(0, 2**32 - 1))
def test_degenerate_worlds_run_or_are_refused_in_one_line(overrides: dict[str, str], seed: int) -> None:
    sets = [f"{key}={value}" for key, value in overrides.items()]
    with tempfile.TemporaryDirectory() as folder:
        base, out = Path(folder) / "base.yaml", Path(folder) / "out"
        base.write_text(BASE)
        options = [item for s in sets for item in ("--set", s)]
        ran = CliRunner().invoke(main, ["run", str(base), "--seed", str(seed), "--out", str(out), *options])
        assert ran.exit_code in (0, 2) and "Traceback" not in ran.output, (sets, ran.output[-3000:])
        event(f"exit {ran.exit_code}")
        if ran.exit_code == 2:
            assert isinstance(ran.exception, SystemExit)
            lines = ran.output.strip().splitlines()
            assert lines and all(PROBLEM.match(line) for line in lines), (sets, ran.output)
            return
        checked = CliRunner().invoke(main, ["check", str(out)])
        assert (checked.exit_code, checked.output) == (0, f"{out}: ok\n"), (sets, checked.output)
        result = simulate(load_scenario(base, sets), seed=seed, record_impressions=True)
        event("impressions served" if result.impressions else "no impressions")
        assert_invariants(result)


def test_a_zero_length_window_is_refused_with_its_reason(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    with pytest.raises(ScenarioError) as info:
        load_scenario(base, ["ladder=[{pool: 3, window: 0}]"])
    assert [str(p) for p in info.value.problems] == ["--set: ladder.0.window: expected greater than 0, found 0"]


def test_followers_of_creators_who_have_not_posted_get_an_empty_feed(tmp_path: Path) -> None:
    # A follow draw looks up the followed creator's latest video; before any upload there is none.
    path = tmp_path / "s.yaml"
    path.write_text("""\
name: before the first upload
run: {duration: 1h, backlog: 0}
users: {count: 2, sessions_per_day: {median: 200, sigma: 0}}
creators: {count: 2, followers: {median: 1000000, sigma: 0}, posts_per_day: {median: 0.001, sigma: 0}}
recommender: {follow_candidates: 1}
""")  # fmt: skip
    result = simulate(load_scenario(path), seed=1, record_impressions=True)
    assert result.creators_table["initial_followers"].sum() > 0
    assert (result.n_videos, result.impressions) == (0, 0)
