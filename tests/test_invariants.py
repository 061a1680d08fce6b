"""Invariants every run must keep, checked on a recorded run and on its written files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tiktok_sim.engine import Engine
from tiktok_sim.metrics import collect
from tiktok_sim.output import write_outputs
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario
from tiktok_sim.scenario.schema import AbsoluteGate, ScoreGate
from tiktok_sim.world.catalog import ACTIONS

# The tiny run, and the same world with its ticks served in parts (as the largest worlds' are).
IN_PARTS_TOO = pytest.mark.parametrize("run", ["tiny_result", "tiny_in_parts"])


@IN_PARTS_TOO
def test_views_are_conserved(run: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(run)
    log = result.impressions_log
    assert log is not None and result.impressions > 10_000
    assert result.videos["views"].sum() == result.impressions == log["video"].size
    per_video = np.bincount(log["video"], minlength=result.n_videos)
    assert (per_video == result.videos["views"]).all()


@IN_PARTS_TOO
def test_no_user_sees_a_video_twice(run: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(run)
    log = result.impressions_log
    assert log is not None
    keys = log["user"] * result.n_videos + log["video"]
    assert np.unique(keys).size == keys.size


@IN_PARTS_TOO
def test_no_view_before_review_ends(run: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(run)
    log = result.impressions_log
    assert log is not None
    eligible = result.videos["eligible_min"][log["video"]]
    assert (log["minute"] >= eligible).all()


@IN_PARTS_TOO
def test_every_promotion_met_its_gates(run: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(run)
    stages, ladder = result.stages, result.scenario.ladder
    passed = np.flatnonzero(stages["passed"])
    assert passed.size > 0
    for i in passed:
        views = stages["views"][i]
        assert views > 0
        rates = {
            "completion": stages["completions"][i] / views,
            "like": stages["likes"][i] / views,
            "comment": stages["comments"][i] / views,
            "share": stages["shares"][i] / views,
            "follow": stages["follows"][i] / views,
        }
        for gate in ladder[stages["stage"][i]].gates:
            if isinstance(gate, AbsoluteGate):
                assert all(rates[k] >= v for k, v in gate.thresholds().items())
            elif isinstance(gate, ScoreGate):
                assert sum(w * rates[k] for k, w in gate.weights.items()) >= gate.min


@IN_PARTS_TOO
def test_each_stage_serves_at_most_its_pool(run: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(run)
    stages, pools = result.stages, [s.pool for s in result.scenario.ladder]
    assert (stages["views"] <= np.array(pools)[stages["stage"]]).all()


def test_after_a_stop_only_followers_see_the_video(tiny: Scenario) -> None:
    engine = Engine(tiny, seed=2, record_impressions=True).run()
    result = collect(engine)
    log, stages = result.impressions_log, result.stages
    assert log is not None
    stopped_at = np.full(result.n_videos, np.inf)
    failed = stages["passed"] == 0
    stopped_at[stages["video_id"][failed]] = stages["evaluated_min"][failed]
    after = log["minute"] > stopped_at[log["video"]]
    assert after.sum() > 100  # the trickle exists
    creators = result.videos["creator_id"][log["video"][after]]
    edges = log["user"][after] * result.creators + creators
    # Follow edges only grow, so the final graph contains every edge that existed at the time.
    assert np.isin(edges, engine.follows.keys).all()


@pytest.fixture(scope="module")
def written(tiny_result: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    write_outputs(tiny_result, out)
    return out


def test_funnel_agrees_with_videos_csv(written: Path) -> None:
    summary = json.loads((written / "summary.json").read_text())
    with (written / "videos.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    reached = np.array([int(r["stage_reached"]) for r in rows])
    complete = np.array([r["stop_reason"] == "ladder_complete" for r in rows])
    last = len(summary["funnel"]) - 1
    for row in summary["funnel"]:
        s = row["stage"]
        assert row["entered"] == (reached >= s).sum()
        assert row["passed"] == (complete.sum() if s == last else (reached > s).sum())
    assert sum(int(r["views"]) for r in rows) == summary["impressions"]


def test_summary_has_the_contracted_fields(written: Path) -> None:
    summary = json.loads((written / "summary.json").read_text())
    contracted = (
        "schema_version", "tool_version", "scenario", "scenario_sha256", "seed", "users", "creators", "videos",
        "impressions", "rates", "watch_ratio", "views_gini", "top_share", "top1_view_share", "top10_view_share",
        "funnel", "runtime_s",
    )  # fmt: skip
    assert set(contracted) <= set(summary)
    assert summary["schema_version"] == 2
    assert set(summary["rates"]) == {"completion", "like", "comment", "share", "follow", "not_interested", "report"}
    assert set(summary["watch_ratio"]) == {"p25", "p50", "p75", "mean"}
    assert set(summary["top_share"]) == {"1%", "4%", "20%"}
    assert summary["watch_ratio"]["p25"] <= summary["watch_ratio"]["p50"] <= summary["watch_ratio"]["p75"]
    assert 0 < summary["views_gini"] < 1
    assert summary["top_share"]["1%"] <= summary["top_share"]["4%"] <= summary["top_share"]["20%"] <= 1


def test_top_view_shares_are_the_top_videos_share_of_all_views(written: Path) -> None:
    summary = json.loads((written / "summary.json").read_text())
    with (written / "videos.csv").open() as handle:
        views = sorted((int(r["views"]) for r in csv.DictReader(handle)), reverse=True)
    assert len(views) > 200  # so 1% and 10% are different numbers of videos
    for name, top in (("top1_view_share", -(-len(views) // 100)), ("top10_view_share", -(-len(views) // 10))):
        assert summary[name] == round(sum(views[:top]) / sum(views), 4)
    assert summary["top1_view_share"] == summary["top_share"]["1%"]
    assert summary["top_share"]["4%"] < summary["top10_view_share"] < summary["top_share"]["20%"]


def test_tables_have_their_columns(written: Path) -> None:
    def header(name: str) -> list[str]:
        return (written / name).read_text().splitlines()[0].split(",")

    assert header("videos.csv")[:14] == [
        "video_id", "creator_id", "creator_name", "upload_min", "length_s", "stage_reached", "views", "completions",
        "likes", "comments", "shares", "follows", "not_interested", "stop_reason",
    ]  # fmt: skip
    assert header("videos.csv")[-3:] == ["followers", "region", "language"]
    assert header("creators.csv") == [
        "creator_id", "name", "featured", "initial_followers", "followers_gained", "videos", "views", "region",
        "language",
    ]  # fmt: skip
    assert header("reach.csv") == ["video_id", "hour", "views"]
    assert set(ACTIONS) <= set(header("stages.csv"))


def test_reach_is_cumulative_and_covers_featured_videos(tiny_result: RunResult) -> None:
    reach, videos = tiny_result.reach, tiny_result.videos
    featured = videos["video_id"][(videos["creator_name"] == "me") & (videos["views"] > 0)]
    assert featured.size and np.isin(featured, reach["video_id"]).all()
    for vid in featured:
        curve = reach["views"][reach["video_id"] == vid]
        assert (np.diff(curve) >= 0).all() and curve[-1] == videos["views"][vid]


def test_followers_gained_match_follows(tiny_result: RunResult) -> None:
    assert tiny_result.creators_table["followers_gained"].sum() == tiny_result.videos["follows"].sum()


@pytest.fixture(scope="module")
def flagged_run(tiny: Scenario) -> tuple[Engine, RunResult]:
    """A recorded run with plenty of spam, duplicates and sensitive videos."""
    videos = tiny.videos.model_copy(update={"spam_prob": 0.1, "duplicate_prob": 0.1, "sensitive_prob": 0.2})
    engine = Engine(tiny.model_copy(update={"videos": videos}), seed=3, record_impressions=True).run()
    return engine, collect(engine)


def test_no_two_in_a_row_share_a_creator_or_a_sound(flagged_run: tuple[Engine, RunResult]) -> None:
    _, result = flagged_run
    log = result.impressions_log
    assert log is not None
    order = np.argsort(log["user"], kind="stable")  # each user's feed, in the order it was served
    user, video = log["user"][order], log["video"][order]
    same_user = user[1:] == user[:-1]
    assert same_user.sum() > 10_000
    for column in ("creator_id", "sound"):
        attribute = result.videos[column][video]
        assert not (same_user & (attribute[1:] == attribute[:-1])).any(), column


def test_sensitive_videos_reach_only_opted_in_users(flagged_run: tuple[Engine, RunResult]) -> None:
    engine, result = flagged_run
    log = result.impressions_log
    assert log is not None
    sensitive = result.videos["sensitive"][log["video"]]
    assert sensitive.sum() > 100
    assert engine.pop.opted_in[log["user"][sensitive]].all()


def test_review_blocks_most_spam_and_duplicates(flagged_run: tuple[Engine, RunResult]) -> None:
    _, result = flagged_run
    v = result.videos
    flagged = v["spam"] | v["duplicate"]
    removed = v["stop_reason"] == "removed"
    assert removed.sum() > 20 and not (removed & ~flagged).any()
    never_admitted = removed & (v["stage_reached"] < 0)
    assert (v["views"][never_admitted] == 0).all()
    # review_catch 0.8 blocks about 80% at upload; reports catch some of the rest later (binomial sd ~3%)
    assert removed[flagged].mean() > 0.7


def test_each_video_carries_its_creators_starting_followers_region_and_language(tiny_result: RunResult) -> None:
    videos, creators = tiny_result.videos, tiny_result.creators_table
    owner = videos["creator_id"]
    assert (videos["followers"] == creators["initial_followers"][owner]).all()
    assert (videos["region"] == creators["region"][owner]).all() and (
        videos["language"] == creators["language"][owner]
    ).all()
    first = {r.name: r.languages[0] for r in tiny_result.scenario.users.regions}
    assert [first[r] for r in creators["region"]] == creators["language"].tolist()
    assert len(set(videos["region"])) > 1 and len(set(videos["language"])) > 1 and len(set(videos["followers"])) > 1
