"""Replications: seeds from task identity, identical tables whatever the executor, honest intervals."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from tiktok_sim import experiments
from tiktok_sim.check import check_results
from tiktok_sim.cli import main
from tiktok_sim.experiments import (
    Replications,
    compare,
    grid,
    holm,
    in_words,
    interval,
    is_rate,
    key_metrics,
    latin_hypercube,
    paired_row,
    parse_vary,
    rate_interval,
    ratio_interval,
    reach_bands,
    replicate,
    run_tasks,
    sweep,
    task_seed,
)
from tiktok_sim.output import finite
from tiktok_sim.scenario import Scenario, load_scenario
from tiktok_sim.scenario.sweep import texts, typed
from tiktok_sim.shards import ShardStore
from tiktok_sim.single_run import simulate

from .conftest import ROOT, SCENARIOS, TINY


@pytest.fixture(scope="module")
def short(tiny: Scenario) -> Scenario:
    return tiny.model_copy(update={"run": tiny.run.model_copy(update={"duration": 360.0})})


def test_seeds_come_from_task_identity() -> None:
    assert task_seed(7, 0, 3) == task_seed(7, 0, 3)
    seeds = {task_seed(7, s, r) for s in range(3) for r in range(5)}
    assert len(seeds) == 15 and all(0 <= x < 2**63 for x in seeds)
    assert task_seed(7, 0, 0) != task_seed(8, 0, 0)


def test_tables_are_identical_whatever_the_executor(short: Scenario) -> None:
    serial = replicate(short, 3, root_seed=5, executor="serial")
    one = replicate(short, 3, root_seed=5, executor="process", workers=1)
    two = replicate(short, 3, root_seed=5, executor="process", workers=2)
    assert serial.seeds == one.seeds == two.seeds
    for name, values in serial.metrics.items():
        np.testing.assert_array_equal(values, one.metrics[name])
        np.testing.assert_array_equal(values, two.metrics[name])
    assert len(set(serial.metrics["impressions"])) == 3  # replications differ from each other


def test_interval_is_the_student_t_interval() -> None:
    values = np.array([3.0, 5.0, 4.0, 8.0, 6.0])
    mean, sd, lo, hi = interval(values)
    expected = stats.t.interval(0.95, df=4, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(5.2) and sd == pytest.approx(values.std(ddof=1))
    assert (lo, hi) == pytest.approx(expected)
    assert np.isnan(interval(np.array([1.0]))[2])


def test_a_rate_near_zero_keeps_its_interval_inside_0_1() -> None:
    values = np.array([0.0, 0.0, 0.1, 0.05, 0.0])  # a pass rate that is mostly zero
    assert interval(values)[2] < 0  # the t-interval crosses zero
    mean, sd, lo, hi = rate_interval(values)
    assert (mean, sd) == pytest.approx(interval(values)[:2])
    assert 0 < lo < mean < hi < 1  # lopsided, never below 0: the mean is above 0
    summary = {
        r["metric"]: r for r in Replications([1] * 5, {"pass_rate_stage_0": values, "impressions": values}).summary()
    }
    assert (summary["pass_rate_stage_0"]["ci_lo"], summary["pass_rate_stage_0"]["ci_hi"]) == pytest.approx((lo, hi))
    assert float(summary["impressions"]["ci_lo"]) < 0  # counts keep the t-interval
    assert rate_interval(np.zeros(4))[2:] == (0.0, 0.0) and np.isnan(rate_interval(np.array([0.2]))[2])


def test_a_rate_interval_matches_the_t_interval_away_from_the_ends() -> None:
    values = np.array([0.49, 0.5, 0.51, 0.52, 0.48])
    assert rate_interval(values)[2:] == pytest.approx(interval(values)[2:], rel=0.002)


def test_rate_intervals_cover_a_small_rate_at_their_level() -> None:
    # 2,000 experiments of 5 replications; each replication's pass rate is 100 videos at a rate drawn
    # around 3% (replications differ by more than binomial spread). Nominal 95%; the estimate's sd is 0.005.
    rng = np.random.default_rng(3)
    p, covered, t_covered = 0.03, 0, 0
    for _ in range(2000):
        values = rng.binomial(100, rng.beta(p * 30, (1 - p) * 30, 5)) / 100
        covered += rate_interval(values)[2] <= p <= rate_interval(values)[3]
        t_covered += interval(values)[2] <= p <= interval(values)[3]
    assert covered / 2000 > 0.93 and t_covered / 2000 < covered / 2000


def test_rates_are_marked() -> None:
    rates = ["pass_rate_stage_0", "pass_rate_stage_6", "viewers_exploration_share", "viewers_top3_share_end",
             "top1_view_share", "top10_view_share"]  # fmt: skip
    others = ["impressions", "views_gini", "viewers_entropy_end", "viewers_hides_per_1000", "median_views_me"]
    assert all(is_rate(m) for m in rates) and not any(is_rate(m) for m in others)


def test_unreached_stages_are_null_in_the_json() -> None:
    args = ["run", str(SCENARIOS / "quickstart.yaml"), "--reps", "2", "--executor", "serial", "--json"]
    result = CliRunner().invoke(main, [*args, "--set", "run.duration=6h"])
    assert result.exit_code == 0 and "NaN" not in result.output
    top = next(row for row in json.loads(result.output)["summary"] if row["metric"] == "pass_rate_stage_6")
    assert top == {"metric": "pass_rate_stage_6", "mean": None, "sd": None, "ci_lo": None, "ci_hi": None, "n": 0}


def test_undefined_values_become_null() -> None:
    assert finite({"a": [float("nan"), 1.0, (float("inf"),)], "b": "x"}) == {"a": [None, 1.0, [None]], "b": "x"}


def test_bad_replication_arguments() -> None:
    with pytest.raises(ValueError, match="reps must be at least 1"):
        replicate(Scenario(), 0, 1)
    with pytest.raises(ValueError, match="executor must be one of"):
        replicate(Scenario(), 1, 1, executor="threads")


def test_cli_reps_json(tiny_file: Path) -> None:
    args = ["run", str(tiny_file), "--reps", "2", "--executor", "serial", "--json", "--set", "run.duration=6h"]
    result = CliRunner().invoke(main, [*args, "--seed", "9"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["root_seed"] == 9 and data["reps"] == 2 and len(data["seeds"]) == 2
    metrics = {row["metric"]: row for row in data["summary"]}
    assert {"views_per_video_mean", "views_gini", "pass_rate_stage_0", "median_views_me"} <= set(metrics)
    assert "NaN" not in result.output  # undefined values are written as null, keeping the JSON standard
    row = metrics["views_per_video_mean"]
    assert row["n"] == 2 and row["ci_lo"] <= row["mean"] <= row["ci_hi"]


def test_top_view_shares_are_key_metrics_of_every_experiment(short: Scenario) -> None:
    result = simulate(short, seed=task_seed(4, 0, 0))
    views = np.sort(result.videos["views"])[::-1]
    assert views.size > 100
    metrics = key_metrics(result)
    for name, top in (("top1_view_share", -(-views.size // 100)), ("top10_view_share", -(-views.size // 10))):
        assert metrics[name] == pytest.approx(views[:top].sum() / views.sum(), rel=1e-12)
    assert 0 < metrics["top1_view_share"] < metrics["top10_view_share"] < 1
    rows = {row["metric"]: row for row in replicate(short, 2, root_seed=4, executor="serial").summary()}
    assert rows["top10_view_share"]["mean"] == pytest.approx(np.mean([metrics["top10_view_share"],
        key_metrics(simulate(short, seed=task_seed(4, 0, 1)))["top10_view_share"]]))  # fmt: skip
    lo, hi = float(rows["top1_view_share"]["ci_lo"]), float(rows["top1_view_share"]["ci_hi"])
    assert 0 <= lo <= hi <= 1  # a rate's interval
    compared = {row["metric"] for row in compare(short, short, 2, root_seed=4, executor="serial")}
    assert {"top1_view_share", "top10_view_share"} <= compared


def test_grid_is_the_cartesian_product_first_axis_slowest() -> None:
    axes = parse_vary(["a=1,2", "b=x, y ,z"])
    assert axes == [("a", ["1", "2"]), ("b", ["x", "y", "z"])]
    points = grid(axes)
    assert len(points) == 6 and points[0] == {"a": "1", "b": "x"} and points[3] == {"a": "2", "b": "x"}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "expected at least one --vary"),
        (["a"], "expected key=v1,v2"),
        (["a="], "--vary a: expected at least one value"),
        (["a=1", "a=2"], "--vary a: expected each key once"),
        (["a=[]"], "--vary a: expected at least one value"),
        (["a=[1, [2"], r"--vary a: expected a YAML list of values such as \[\[6\], \[21\]\], found '\[1, \[2'"),
        (["a=[2024-01-01]"], "--vary a: expected a YAML list"),
        (["a=1,,2"], "--vary a: expected a value between each pair of commas, found '1,,2'"),
        (["a=1,2,"], "--vary a: expected a value between each pair of commas"),
    ],
)
def test_empty_or_invalid_sweeps_are_rejected(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_vary(items)


def test_vary_takes_a_yaml_list_whose_values_hold_commas(tiny_file: Path) -> None:
    axes = parse_vary(["featured.0.post_hours=[[6], [21, 22]]", "topics=[[food, diy]]", "a= [0.1,x]"])
    assert axes == [
        ("featured.0.post_hours", ["[6]", "[21, 22]"]),
        ("topics", ['["food", "diy"]']),
        ("a", ["0.1", "x"]),
    ]
    args = [
        "sweep",
        str(tiny_file),
        "--vary",
        "featured.0.post_hours=[[6],[21]]",
        "--reps",
        "1",
        "--executor",
        "serial",
    ]
    result = CliRunner().invoke(main, [*args, "--json", "--set", "run.duration=3h"])
    assert result.exit_code == 0, result.output
    assert [p["featured.0.post_hours"] for p in json.loads(result.output)["points"]] == [[6], [21]]  # typed
    placed = [("featured.0.post_hours=[21]", ("--vary", 0, 0))]
    assert load_scenario(tiny_file, (), placed).featured[0].post_hours == [21]  # the value reaches the scenario
    bad = CliRunner().invoke(main, ["sweep", str(tiny_file), "--vary", "featured.0.post_hours=[[6],[21]"])
    assert bad.exit_code == 2 and "--vary featured.0.post_hours: expected a YAML list of values" in bad.output


def test_swept_values_are_typed_as_the_overrides_applied_them() -> None:
    point = {"a": "0.02", "b": "5", "c": "true", "d": "us", "e": "[3, 19]", "f": "12h", "g": "null", "h": "'7'"}
    values = typed(point)
    assert values == {"a": 0.02, "b": 5, "c": True, "d": "us", "e": [3, 19], "f": "12h", "g": None, "h": "7"}
    assert [type(v) for v in values.values()] == [float, int, bool, str, list, str, type(None), str]
    assert texts(values) == {**point, "h": "7"}  # canonical text: what was written, quotes aside
    assert texts({"a": "0.02", "c": "true"}) == {"a": "0.02", "c": "true"}  # old results' text stays as written


def test_a_sweep_writes_its_values_typed_in_json_and_canonical_in_csv(tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "typed"
    args = ["sweep", str(tiny_file), "--vary", "featured.0.trending_sound_prob=[null, 0.5]", "--vary",
            "featured.0.region=us", "--vary", "users.count=900", "--vary", "featured.0.post_hours=[[19]]",
            "--reps", "1", "--executor", "serial", "--set", "run.duration=3h", "--seed", "2", "--out", str(out),
            "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected: list[dict[str, Any]] = [
        {"featured.0.trending_sound_prob": None, "featured.0.region": "us", "users.count": 900,
         "featured.0.post_hours": [19]},
        {"featured.0.trending_sound_prob": 0.5, "featured.0.region": "us", "users.count": 900,
         "featured.0.post_hours": [19]},
    ]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert [point["params"] for point in manifest["points"]] == expected
    summary = json.loads((out / "summary.json").read_text())
    assert [{k: p[k] for k in expected[0]} for p in summary["points"]] == expected
    records = [json.loads((out / "shards" / f"point0000{i}-rep00000.json").read_text()) for i in range(2)]
    assert [r["params"] for r in records] == expected
    assert isinstance(records[0]["params"]["users.count"], int)  # not 900.0, not "900"
    text = [("null", "us", "900", "[19]"), ("0.5", "us", "900", "[19]")]
    assert [tuple(r[k] for k in expected[0]) for r in _rows(out / "runs.csv")] == text
    assert {tuple(r[k] for k in expected[0]) for r in _rows(out / "summary.csv")} == set(text)
    assert check_results(out) == []


def test_sweep_points_are_seeded_by_identity(short: Scenario) -> None:
    slow = short.model_copy(update={"recommender": short.recommender.model_copy(update={"exploration": 0.5})})
    points = [({"exploration": "0.08"}, short), ({"exploration": "0.5"}, slow)]
    serial = sweep(points, 2, root_seed=3, executor="serial")
    parallel = sweep(points, 2, root_seed=3, executor="process", workers=2)
    for (params_a, a), (params_b, b) in zip(serial, parallel, strict=True):
        assert params_a == params_b and a.seeds == b.seeds
        np.testing.assert_array_equal(a.metrics["impressions"], b.metrics["impressions"])
    assert serial[0][1].seeds == [task_seed(3, 0, 0), task_seed(3, 0, 1)]
    assert serial[1][1].seeds == [task_seed(3, 1, 0), task_seed(3, 1, 1)]


def test_cli_sweep(tiny_file: Path) -> None:
    args = ["sweep", str(tiny_file), "--vary", "recommender.exploration=0.05,0.5", "--reps", "2"]
    result = CliRunner().invoke(main, [*args, "--executor", "serial", "--json", "--set", "run.duration=6h"])
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)["points"]
    assert [p["recommender.exploration"] for p in points] == [0.05, 0.5]
    assert all(p["views_gini_ci_lo"] <= p["views_gini_mean"] <= p["views_gini_ci_hi"] for p in points)
    bad = CliRunner().invoke(main, ["sweep", str(tiny_file), "--vary", "users.count=0"])
    assert bad.exit_code == 2 and "--vary: users.count: expected greater than 0, found 0" in bad.output
    empty = CliRunner().invoke(main, ["sweep", str(tiny_file)])
    assert empty.exit_code == 2 and "expected --vary KEY=V1,V2 or a sweep: block" in empty.output


def test_comparing_a_scenario_with_itself_gives_exactly_zero(short: Scenario) -> None:
    rows = {row["metric"]: row for row in compare(short, short, 3, root_seed=2, executor="serial")}
    # Common random numbers: replication r of A and B share a seed, so identical scenarios match exactly.
    for name in ("impressions", "views_gini", "median_views_me"):
        assert (rows[name]["diff"], rows[name]["ci_lo"], rows[name]["ci_hi"]) == (0.0, 0.0, 0.0)
    assert in_words(rows["impressions"]).startswith("B does not clearly change impressions (+0%")


def _row(**values: float) -> dict[str, float | str | int]:
    return {"metric": "m", "diff": 1.0, "ci_lo": 0.5, "ci_hi": 1.5, "rel": 0.23, "rel_lo": 0.15, "rel_hi": 0.31,
            "p_adj": 0.002, **values}  # fmt: skip


def test_in_words() -> None:
    assert in_words(_row()) == "B raises m by 23% (95% CI +15% to +31%, adjusted p 0.002)"
    down = _row(diff=-1.0, rel=-0.1, rel_lo=-0.2, rel_hi=-0.05, p_adj=0.0001)
    assert in_words(down) == "B lowers m by 10% (95% CI -20% to -5%, adjusted p < 0.001)"
    # An interval clear of zero is not an effect once the adjustment for many metrics is made.
    assert in_words(_row(p_adj=0.08)) == "B does not clearly change m (+23%, 95% CI +15% to +31%, adjusted p 0.08)"
    assert "not comparable" in in_words(_row(diff=float("nan")))


def test_holm_matches_hand_computed_values() -> None:
    # Sorted: .005 x4 = .02, .01 x3 = .03, .03 x2 = .06, .04 x1 = .04 -> .06 (never below an earlier step).
    adjusted = holm(np.array([0.01, np.nan, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, np.nan, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.5, 0.6])), [1.0, 1.0])  # capped at 1
    assert holm(np.array([])).size == 0


def test_a_base_near_zero_gives_a_difference_not_a_ratio() -> None:
    a = np.array([0.0, 0.0, 0.01, 0.0, 0.0])  # A's interval reaches 0: B / A could be anything
    b = np.array([0.05, 0.04, 0.06, 0.05, 0.03])
    assert all(np.isnan(ratio_interval(a, b)))
    row = {**paired_row("pass_rate_stage_2", a, b), "p_adj": 0.01}
    assert float(row["p"]) < 0.001 and np.isnan(float(row["rel"]))
    words = in_words(row)
    assert words.startswith("B raises pass_rate_stage_2 by 0.044 (95% CI +0.0329 to +0.0551, adjusted p 0.01;")
    assert words.endswith("a difference, not a ratio: A's mean is not clearly above zero)") and words.count("%") == 1


def test_the_ratio_interval_agrees_with_the_paired_test_and_stays_above_minus_100_percent() -> None:
    a = np.array([100.0, 40.0, 160.0, 90.0, 110.0])
    b = np.array([20.0, 90.0, 10.0, 70.0, 30.0])
    # Dividing B - A's interval by A's mean gives a drop of more than 100%, which a count cannot have.
    assert interval(b - a)[2] / a.mean() < -1
    rel, lo, hi = ratio_interval(a, b)
    assert rel == pytest.approx(b.mean() / a.mean() - 1) and -1 <= lo < rel < hi
    # At the ends of the interval the paired t-test of b - r a sits exactly on p = 0.05.
    a, b = np.array([10.0, 12.0, 9.0, 11.0, 13.0]), np.array([12.0, 15.0, 10.0, 14.0, 15.0])
    _, lo, hi = ratio_interval(a, b)
    for end in (lo, hi):
        assert stats.ttest_1samp(b - (1 + end) * a, 0.0).pvalue == pytest.approx(0.05)
    assert ratio_interval(a, a) == pytest.approx((0.0, 0.0, 0.0))


def test_ratio_intervals_cover_the_true_ratio_at_their_level() -> None:
    # 2,000 paired experiments of 5 replications: A lognormal around 100, B = 1.3 A times paired noise
    # of mean 1. Nominal 95%; the estimate's sd is 0.005.
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(2000):
        a = 100 * rng.lognormal(0, 0.3, 5)
        b = 1.3 * a * rng.lognormal(-0.02, 0.2, 5)
        _, lo, hi = ratio_interval(a, b)
        covered += lo <= 0.3 <= hi
    assert covered / 2000 > 0.92


def test_cli_compare(tiny_file: Path, tmp_path: Path) -> None:
    better = tmp_path / "better.yaml"
    (tmp_path / "tiny.yaml").write_text(tiny_file.read_text())  # extends: reaches only the folder of the file run
    me = "{name: me, niche: [food], followers: 300, posts_per_day: 3, post_hours: [9, 18], video_length_s: 8"
    better.write_text(f"extends: tiny.yaml\nfeatured:\n  - {me}, quality: 0.95, hook: 0.9}}\n")
    args = ["compare", str(tiny_file), str(better), "--reps", "8", "--executor", "serial"]
    result = CliRunner().invoke(main, [*args, "--set", "run.duration=12h", "--seed", "4"])
    assert result.exit_code == 0, result.output
    output = re.sub(r"\n {4}", " ", result.output)  # each sentence wrapped to the width, joined again
    assert re.search(r"B raises median_views_me by [\d,]+% \(95% CI \+[\d,]+% to \+[\d,]+%, adjusted p ", output)
    lines = output.splitlines()
    tested = sum(line.startswith("B ") for line in lines)
    assert lines[-1].startswith(f"Holm-adjusted over {tested} metrics: an effect is declared")
    assert CliRunner().invoke(main, [*args[:3], "--reps", "1"]).exit_code == 2


def test_compare_takes_the_files_seed(tiny_file: Path, tmp_path: Path) -> None:
    args = ["compare", str(tiny_file), str(tiny_file), "--reps", "2", "--executor", "serial", "--json"]
    result = CliRunner().invoke(main, [*args, "--set", "run.duration=3h"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["root_seed"] == 11  # tiny.yaml's seed:, not a drawn one
    (tmp_path / "tiny.yaml").write_text(tiny_file.read_text())  # extends: stays in the scenario's folder
    other = tmp_path / "other.yaml"
    other.write_text("extends: tiny.yaml\nseed: 12\n")
    refused = CliRunner().invoke(main, ["compare", str(tiny_file), str(other)])
    assert refused.exit_code == 2 and "A and B set different seeds (11 and 12): give --seed" in refused.output


def test_shards_resume_and_failures(short: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ShardStore(tmp_path)
    first = replicate(short, 3, root_seed=8, executor="serial", store=store)
    shards = sorted(p.name for p in store.folder.iterdir() if p.name.startswith("point00000-rep00001"))
    assert shards == [f"point00000-rep00001.{t}" for t in ("creators.csv", "funnel.csv", "json", "videos.csv")]
    assert len(list(store.folder.glob("*.json"))) == 3

    store.path(0, 1).unlink()  # as if interrupted before replication 1 finished
    runs: list[int] = []
    resumed = replicate(short, 3, root_seed=8, executor="serial", store=store, on_done=lambda: runs.append(1))
    assert len(runs) == 1  # only the missing replication ran again
    np.testing.assert_array_equal(first.metrics["impressions"], resumed.metrics["impressions"])

    real = experiments.run_task

    def flaky(
        scenario: Scenario, seed: int, with_tables: bool = False, measure: experiments.Measure | None = None
    ) -> experiments.TaskOutput:
        if seed == task_seed(9, 0, 1):
            raise RuntimeError("disk on fire")
        return real(scenario, seed, with_tables, measure)

    monkeypatch.setattr(experiments, "run_task", flaky)
    failed = replicate(short, 3, root_seed=9, executor="serial", store=ShardStore(tmp_path / "flaky"))
    record = json.loads((tmp_path / "flaky" / "shards" / "point00000-rep00001.json").read_text())
    assert record["error"] == "RuntimeError: disk on fire" and record["metrics"] is None
    assert np.isnan(failed.metrics["impressions"][1]) and np.isfinite(failed.metrics["impressions"][[0, 2]]).all()
    assert next(r for r in failed.summary() if r["metric"] == "impressions")["n"] == 2


def test_cli_sweep_out_and_resume(tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(tiny_file), "--vary", "recommender.exploration=0.05,0.5", "--reps", "2",
            "--executor", "serial", "--set", "run.duration=6h", "--out", str(out), "--json"]  # fmt: skip
    first = CliRunner().invoke(main, [*args, "--seed", "12"])
    assert first.exit_code == 0, first.output
    assert len(list((out / "shards").glob("*.json"))) == 4 and (out / "summary.json").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["root_seed"] == 12 and manifest["overrides"] == ["run.duration=6h"]
    assert {"scenario", "scenario_sha256", "tool_version", "python", "numpy", "simpy", "argv"} <= set(manifest)
    with (out / "runs.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert [(r["run_id"], r["recommender.exploration"]) for r in runs] == [
        ("p0-r0", "0.05"), ("p0-r1", "0.05"), ("p1-r0", "0.5"), ("p1-r1", "0.5"),
    ]  # fmt: skip
    with (out / "summary.csv").open() as handle:
        summary = list(csv.DictReader(handle))
    assert {"point", "recommender.exploration", "metric", "mean", "ci_lo", "ci_hi", "n"} <= set(summary[0])
    assert len({r["point"] for r in summary}) == 2
    (out / "shards" / "point00001-rep00000.json").unlink()
    again = CliRunner().invoke(main, [*args, "--resume"])  # the root seed comes from manifest.json
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert again.stderr == f"resumed: 3 of 4 tasks reused from {out}\n"
    assert CliRunner().invoke(main, ["run", str(tiny_file), "--reps", "2", "--resume"]).exit_code == 2


def test_dask_local_cluster_gives_the_same_table(short: Scenario) -> None:
    pytest.importorskip("distributed")
    tasks = [(short, task_seed(6, 0, r)) for r in range(3)]
    serial = json.dumps(finite(run_tasks(tasks, "serial")))
    for workers in (1, 2):
        assert json.dumps(finite(run_tasks(tasks, "dask", workers=workers))) == serial


def test_latin_hypercube_has_one_point_per_stratum() -> None:
    axes = parse_vary(["a=0.0:1.0", "n=100:200"])
    points = latin_hypercube(axes, 10, seed=4)
    a = sorted(float(p["a"]) for p in points)
    assert [int(x * 10) for x in a] == list(range(10))  # one point in each tenth of the range
    assert all(p["n"].isdigit() and 100 <= int(p["n"]) <= 200 for p in points)  # integer bounds stay integer
    assert latin_hypercube(axes, 10, seed=4) == points and latin_hypercube(axes, 10, seed=5) != points
    with pytest.raises(ValueError, match="expected lo:hi with lo < hi"):
        latin_hypercube(parse_vary(["a=2:1"]), 3, seed=0)


def test_reach_bands_across_replications(short: Scenario) -> None:
    reps = replicate(short, 3, root_seed=1, executor="serial")
    bands = reach_bands(reps)
    assert set(bands) == {"me"}
    p10, p50, p90 = bands["me"]
    assert p50.size == int(short.run.duration // 60) + 1  # hours 0..duration
    assert (p10 <= p50).all() and (p50 <= p90).all() and (np.diff(p50) >= 0).all() and p90[-1] > 0
    assert not any(str(row["metric"]).startswith("reach:") for row in reps.summary())


SWEPT = (
    TINY
    + """\
sweep:
  vary:
    recommender.exploration: [0.05, 0.5]
    featured.0.hook: [0.2, 0.9]
  reps: 2
"""
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_cli_sweep_from_the_yaml_block_writes_tidy_tables(tmp_path: Path) -> None:
    path = tmp_path / "swept.yaml"
    path.write_text(SWEPT)
    out = tmp_path / "out"
    args = ["sweep", str(path), "--executor", "serial", "--set", "run.duration=6h", "--out", str(out), "--json"]
    result = CliRunner().invoke(main, [*args, "--seed", "5"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["reps"] == 2 and len(document["points"]) == 4  # a 2 x 2 grid from the block
    assert [(p["recommender.exploration"], p["featured.0.hook"]) for p in document["points"]] == [
        (0.05, 0.2), (0.05, 0.9), (0.5, 0.2), (0.5, 0.9),
    ]  # fmt: skip

    runs, videos, funnel, creators = (_rows(out / f"{name}.csv") for name in ("runs", "videos", "funnel", "creators"))
    assert [r["run_id"] for r in runs] == [f"p{p}-r{r}" for p in range(4) for r in range(2)]
    assert {v["run_id"] for v in videos} == {r["run_id"] for r in runs}
    for run_id in ("p0-r0", "p3-r1"):  # each run's funnel agrees with its own videos
        reached = [int(v["stage_reached"]) for v in videos if v["run_id"] == run_id]
        stages = [f for f in funnel if f["run_id"] == run_id]
        assert [int(f["entered"]) for f in stages] == [sum(s >= i for s in reached) for i in range(len(stages))]
    assert {v["run_id"] for v in videos if v["creator_name"] == "me"} == {r["run_id"] for r in runs}
    # every run's creators, as a single run writes them, and each video carries its creator's columns
    assert [c["run_id"] for c in creators] == [r["run_id"] for r in runs for _ in range(121)]
    assert [c["creator_id"] for c in creators[:3]] == ["0", "1", "2"] and creators[0]["name"] == "me"
    own = {(c["run_id"], c["creator_id"]): (c["initial_followers"], c["region"], c["language"]) for c in creators}
    assert all((v["followers"], v["region"], v["language"]) == own[v["run_id"], v["creator_id"]] for v in videos)
    assert {c["featured"] for c in creators if c["name"] == "me"} == {"1"}

    pq = pytest.importorskip("pyarrow.parquet")
    for name, rows in (("videos", videos), ("funnel", funnel), ("runs", runs), ("creators", creators)):
        assert pq.read_table(out / f"{name}.parquet").num_rows == len(rows)

    checked = CliRunner().invoke(main, ["check", str(out)])
    assert checked.exit_code == 0, checked.output
    tampered = [dict(v) for v in videos]
    tampered[0]["views"] = str(int(tampered[0]["views"]) + 1)
    with (out / "videos.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(videos[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(tampered)
    caught = CliRunner().invoke(main, ["check", str(out)])
    assert caught.exit_code == 1 and "videos.csv: differs from its shards' videos tables" in caught.output

    assert "a sweep of 4 points" in CliRunner().invoke(main, ["validate", str(path)]).output
    bad = tmp_path / "bad.yaml"
    bad.write_text(SWEPT.replace("[0.2, 0.9]", "[0.2, 9]"))
    refused = CliRunner().invoke(main, ["sweep", str(bad), "--executor", "serial"])
    line = SWEPT.splitlines().index("    featured.0.hook: [0.2, 0.9]") + 1
    assert refused.exit_code == 2 and CliRunner().invoke(main, ["validate", str(bad)]).exit_code == 2
    assert f"{bad}:{line}:5: featured.0.hook: expected less than or equal to 1, found 9" in refused.output


def test_ctrl_c_mid_sweep_keeps_finished_shards(tmp_path: Path) -> None:
    path = tmp_path / "swept.yaml"
    path.write_text(SWEPT)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tiktok_sim", "sweep", str(path), "--reps", "6", "--workers", "2",
               "--seed", "4", "--out", str(out)]  # fmt: skip
    # A new session, so the signal can go to the whole process group, as a terminal's Ctrl-C does.
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "shards").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 20, stderr  # running tasks are stopped, not waited for
    assert "finished tasks are kept as shards" in stderr and "Traceback" not in stderr, stderr

    kept = {p: p.read_bytes() for p in (out / "shards").iterdir()}
    records = [json.loads(p.read_text()) for p in kept if p.suffix == ".json"]
    assert 1 <= len(records) < 24 and all(r["error"] is None for r in records), records
    for record in records:  # a record is written last, so its tables are there too
        stem = f"point{record['point']:05d}-rep{record['replication']:05d}"
        assert all((out / "shards" / f"{stem}.{table}.csv").is_file() for table in ("videos", "funnel", "creators"))
    assert not [p for p in kept if p.name.startswith(".")], kept.keys()  # no temporary file left behind

    resumed = subprocess.run([*command, "--resume", "--executor", "serial", "--json"], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert all(p.read_bytes() == data for p, data in kept.items())  # finished work was not redone
    assert len(_rows(out / "runs.csv")) == 24 and len(json.loads(resumed.stdout)["points"]) == 4


def test_workers_never_ask_for_more_threads_than_numba_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    # NUMBA_NUM_THREADS=1 on a 2-core machine once broke the process pool: numba refused 2 threads per worker.
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert experiments._threads_each(1) == 1 and experiments._threads_each(16) == 1
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 8)
    assert experiments._threads_each(2) == 4


def test_no_more_worker_processes_start_than_there_are_tasks(short: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    class Pool(ThreadPoolExecutor):  # notes the size asked for; one thread: two parallel kernels at once would abort
        def __init__(self, workers: int, **_: Any) -> None:
            started.append(workers)
            super().__init__(1)

    monkeypatch.setattr(experiments, "ProcessPoolExecutor", Pool)
    rows = run_tasks([(short, 1), (short, 2)], "process", workers=100_000)
    assert started == [2] and len(rows) == 2 and all(rows)


def test_an_unreachable_scheduler_is_one_line_not_a_write_error(tiny_file: Path, tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    args = ["run", str(tiny_file), "--reps", "2", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--set", "run.duration=1h"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in result.output
    assert "cannot write results" not in result.output


def test_sweep_quiet_prints_nothing_and_still_writes(tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "quiet"
    args = ["sweep", str(tiny_file), "--vary", "recommender.exploration=0.05,0.5", "--reps", "1",
            "--executor", "serial", "--set", "run.duration=3h", "--out", str(out), "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and result.output == ""
    assert (out / "summary.csv").is_file() and check_results(out) == []
