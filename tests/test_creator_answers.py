"""A creator's answers: why each video stopped (explain, stop reasons, the bottleneck) and their own figures."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tiktok_sim import simulate
from tiktok_sim.advise import with_updates
from tiktok_sim.check import check_results
from tiktok_sim.cli import main
from tiktok_sim.explain import ExplainError, explain_journeys
from tiktok_sim.metrics import featured_figures
from tiktok_sim.output import write_outputs
from tiktok_sim.report.bottleneck import bottleneck
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario


@pytest.fixture(scope="module")
def saved(tiny_result: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "run"
    write_outputs(tiny_result, out)
    return out


def _stopped(result: RunResult, kind: str) -> np.ndarray:
    return np.flatnonzero([str(r).startswith(kind) for r in result.videos["stop_reason"]])


def test_stop_reason_says_whether_the_pool_was_served(tiny_result: RunResult) -> None:
    st, v = tiny_result.stages, tiny_result.videos
    failed = st["passed"] == 0
    for kind, short in (("short_served:", True), ("gate:", False)):
        videos = _stopped(tiny_result, kind)
        assert videos.size, kind
        rows = failed & np.isin(st["video_id"], videos)
        assert np.all(st["short_served"][rows] == short), kind
        assert np.all((st["views"][rows] < st["pool"][rows]) == short), kind
    # every gate a stopped video missed is listed, the one its stop_reason names first
    for vid in _stopped(tiny_result, "gate:")[:20]:
        gate = str(v["stop_reason"][vid]).split(":")[1]
        assert str(v["missed_gates"][vid]).split(";")[0] == gate


def test_explain_reports_a_short_served_pool_as_such(tiny_result: RunResult, saved: Path) -> None:
    vid = int(_stopped(tiny_result, "short_served:")[0])
    (journey,) = explain_journeys(saved, [vid])
    last = journey.visits[-1]
    assert last.passed is False and last.ended == "window ran out" and 0 < last.views < last.pool
    missed = {c.gate for c in last.checks if not c.met}
    assert missed == set(str(tiny_result.videos["missed_gates"][vid]).split(";"))
    output = CliRunner().invoke(main, ["explain", str(saved), str(vid)], terminal_width=160).output
    assert "window ran out" in output and "short-served" in output


def test_explain_reports_a_full_pool_and_every_gate(tiny_result: RunResult, saved: Path) -> None:
    at_pool0 = tiny_result.videos["stage_reached"] == 0
    vid = int(next(v for v in _stopped(tiny_result, "gate:") if at_pool0[v]))
    (journey,) = explain_journeys(saved, [vid])
    last = journey.visits[-1]
    assert last.ended == "quota met" and last.views == last.pool
    assert [c.gate for c in last.checks] == ["completion", "like"]  # the tiny ladder's stage-0 gates, in order
    assert all(0.0 <= c.cohort_below <= 1.0 for c in last.checks)


def test_explain_refuses_what_it_cannot_explain(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ExplainError, match="no video 999999"):
        explain_journeys(saved, [999999])
    with pytest.raises(ExplainError, match="no videos by 'nobody'"):
        explain_journeys(saved, creator="nobody")
    result = CliRunner().invoke(main, ["explain", str(tmp_path), "0"])
    assert result.exit_code == 2 and "not a run's results" in result.output and "Traceback" not in result.output


def test_a_negative_video_id_is_named_as_such_not_as_an_unknown_option(saved: Path) -> None:
    result = CliRunner().invoke(main, ["explain", str(saved), "3", "-1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "-1: not an option, and no argument of this command takes a negative number" in result.output
    typo = CliRunner().invoke(main, ["explain", str(saved), "--creatr", "x"])
    assert typo.exit_code == 2 and "No such option '--creatr'" in typo.output  # a real option's typo stays one


def test_explain_names_a_missing_table_of_a_run(saved: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    (broken / "gates.csv").unlink()
    result = CliRunner().invoke(main, ["explain", str(broken), "0"])
    assert (
        result.exit_code == 2
        and result.output.strip() == f"error: {broken}: a run's results without gates.csv; explain reads it"
    )


@pytest.mark.parametrize("summary", ["[]", "null", '{"a": 1}'])
def test_explain_says_a_summary_without_the_scenario_is_unreadable(saved: Path, tmp_path: Path, summary: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    (broken / "summary.json").write_text(summary)
    result = CliRunner().invoke(main, ["explain", str(broken), "0"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {broken}: summary.json: expected an object with the run's 'scenario'"


def test_bottleneck_counts_every_video_stopped_at_the_stage(tiny_result: RunResult) -> None:
    v = tiny_result.videos
    mine = np.arange(v["video_id"].size)[:60]
    stops = [
        int(v["stage_reached"][i])
        for i in mine
        if str(v["stop_reason"][i]).startswith(("gate:", "short_served:", "no_audience"))
    ]
    stage, count = Counter(stops).most_common(1)[0]
    sentence = bottleneck(tiny_result, mine)
    assert sentence.startswith(f"{count} of {mine.size} videos stopped at pool {stage}.")
    missed = Counter(
        g
        for i in mine
        if v["stage_reached"][i] == stage and v["missed_gates"][i]
        for g in str(v["missed_gates"][i]).split(";")
    )
    for gate, k in missed.items():
        assert f"{gate} by {k} (" in sentence


def test_featured_figures_count_the_creators_videos(tiny_result: RunResult, saved: Path) -> None:
    v, c = tiny_result.videos, tiny_result.creators_table
    figures = featured_figures(tiny_result)["me"]
    mine = v["creator_name"] == "me"
    reached = v["stage_reached"][mine]
    assert figures["videos"] == mine.sum() >= 3
    assert figures["pass_rate_stage_0"] == pytest.approx((reached > 0).sum() / (reached >= 0).sum())
    assert figures["reach_pool_1"] == pytest.approx((reached >= 1).sum() / mine.sum())
    assert figures["views_mean"] == pytest.approx(v["views"][mine].mean())
    me = int(np.flatnonzero(c["name"] == "me")[0])
    assert figures["views_per_follower"] == pytest.approx(v["views"][mine].sum() / c["initial_followers"][me])
    # summary.json carries them, and check recomputes them
    summary = json.loads((saved / "summary.json").read_text())
    assert summary["featured"]["me"]["videos"] == figures["videos"]
    summary["featured"]["me"]["views_mean"] += 1
    tampered = saved.parent / "tampered"
    shutil.copytree(saved, tampered)
    (tampered / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((tampered / "manifest.json").read_text())
    manifest["files"]["summary.json"] = hashlib.sha256((tampered / "summary.json").read_bytes()).hexdigest()
    (tampered / "manifest.json").write_text(json.dumps(manifest))
    assert any("featured creators' figures" in p for p in check_results(tampered))


def test_a_featured_creators_own_trending_sound_prob_sets_their_sounds(tiny: Scenario) -> None:
    shares = []
    for prob in (0.0, 1.0):
        result = simulate(with_updates(tiny, 0, {"trending_sound_prob": prob}), seed=5)
        mine = result.videos["creator_name"] == "me"
        others = ~mine
        shares.append((result.videos["trending_sound"][mine].mean(), result.videos["trending_sound"][others].mean()))
    (mine_off, others_off), (mine_on, others_on) = shares
    assert mine_off == 0.0 and mine_on == 1.0
    # everyone else keeps the scenario's 25%: within 0.1 at ~300 uploads
    assert abs(others_off - 0.25) < 0.1 and abs(others_on - 0.25) < 0.1


def test_a_schedule_posts_exactly_at_its_local_times(tiny: Scenario) -> None:
    scheduled = with_updates(tiny, 0, {"posts_per_day": None, "post_hours": None,
                                       "schedule": ["18:00", "Mon/Wed 07:30"], "region": "us"})  # fmt: skip
    scheduled = scheduled.model_copy(update={"run": scheduled.run.model_copy(update={"duration": 3 * 1440.0})})
    offset = next(r.utc_offset for r in tiny.users.regions if r.name == "us") * 60
    for seed in (1, 2):
        v = simulate(scheduled, seed=seed).videos
        local = v["upload_min"][v["creator_name"] == "me"] + offset
        day, minute = np.divmod(local, 1440)
        days = [(int(d) % 7, int(m)) for d, m in zip(day, minute, strict=True)]
        # every day at 18:00, and 07:30 on Mondays (0) and Wednesdays (2), within the run and its backlog
        expected = [(d % 7, m) for d in range(-2, 4) for m in (450, 1080) if m == 1080 or d % 7 in (0, 2)]
        assert set(days) <= set(expected) and len(days) == len(set(days))
        assert {(0, 450), (0, 1080), (1, 1080), (2, 450)} <= set(days)


def test_a_schedule_is_read_strictly(tiny_file: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["validate", str(tiny_file), "--set", 'featured.0.schedule=["25:00"]'])
    assert bad.exit_code == 2 and "expected a time such as" in bad.output
    both = runner.invoke(main, ["validate", str(tiny_file), "--set", 'featured.0.schedule=["19:00"]'])
    assert both.exit_code == 2 and "or a schedule (one of the two)" in both.output


def test_audience_adds_up_to_each_featured_video(tiny_result: RunResult, saved: Path) -> None:
    a, v = tiny_result.audience, tiny_result.videos
    mine = np.flatnonzero(v["creator_name"] == "me")
    assert set(np.unique(a["video_id"])) <= set(mine.tolist())
    for vid in mine[v["views"][mine] > 0][:10]:
        for dimension in ("source", "language", "region", "daypart"):
            rows = (a["video_id"] == vid) & (a["dimension"] == dimension)
            assert a["views"][rows].sum() == v["views"][vid], (vid, dimension)
            assert a["completions"][rows].sum() == v["completions"][vid], (vid, dimension)
    (journey,) = explain_journeys(saved, [int(mine[0])])
    assert {"source", "language", "region", "daypart"} == set(journey.audience)


def test_bottleneck_names_an_other_language_audience(tiny_result: RunResult) -> None:
    mine = np.flatnonzero(tiny_result.videos["creator_name"] == "me")
    n = mine.size
    audience = {  # each video: 30 of 100 views cross a language barrier; 20 of the other 70 finish it
        "video_id": np.repeat(mine, 2),
        "dimension": np.array(["language", "language"] * n, dtype=object),
        "value": np.array(["speaks it", "other language"] * n, dtype=object),
        "views": np.array([70, 30] * n),
        "completions": np.array([20, 3] * n),
    }
    sentence = bottleneck(dataclasses.replace(tiny_result, audience=audience), mine)
    assert "30% of their views went to viewers who do not speak the video's language" in sentence
    assert "completion was 23.0% overall and 28.6% among those who do" in sentence


def test_bottleneck_gives_the_views_a_stage_had_served_when_it_stopped_early() -> None:
    from .test_effects import run

    result = run("base.yaml")  # the default ladder, which stops clear flops early
    v, st = result.videos, result.stages
    early = np.flatnonzero([str(r).startswith("early_stop:") for r in v["stop_reason"]])
    here = early[v["stage_reached"][early] == 0][:40]
    rows = np.isin(st["video_id"], here) & (st["early_stop"] == 1)
    served = float(np.median(st["views"][rows]))
    assert served < float(np.median(v["views"][here]))  # followers add views after the stop
    sentence = bottleneck(result, here)
    assert f"stopped early, clearly below a gate, after a median {served:,.0f} views in the stage." in sentence
