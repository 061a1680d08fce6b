"""The viewers block reaches the report and the experiment metrics, and moves with exploration."""

from __future__ import annotations

import math

from rich.console import Console

from tiktok_sim import simulate
from tiktok_sim.experiments import VIEWER_METRICS, key_metrics, viewer_metrics
from tiktok_sim.report import render_report
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario

# Realised exploration share at 0.4 was 0.23-0.37 over seeds 1-8 on the tiny world (0.30
# with seed 2), so the 0.2 floor holds with room for the engine's draws to shift.
SEED = 2


def _explore(scenario: Scenario, exploration: float, seed: int) -> RunResult:
    """``scenario`` run with ``recommender.exploration`` set, nothing else changed."""
    recommender = scenario.recommender.model_copy(update={"exploration": exploration})
    return simulate(scenario.model_copy(update={"recommender": recommender}), seed=seed)


def test_report_shows_the_viewers_section(tiny_result: RunResult) -> None:
    console = Console(record=True, width=100)
    console.print(render_report(tiny_result, width=100))
    text = console.export_text()
    v = tiny_result.viewers
    entropy, top3 = v["feed_topic_entropy_bits"], v["top3_interest_share"]
    assert "Viewers" in text
    for figure in (
        f"{entropy['start']:.2f} -> {entropy['end']:.2f}",
        f"{top3['start']:.1%} -> {top3['end']:.1%}",
        f"{v['exploration_share']:.1%}",
        f"{v['other_language_share']:.1%}",
        f"{v['hides_per_1000']:.2f} / {v['reports_per_1000']:.2f}",
    ):
        assert figure in text, figure


def test_key_metrics_carry_the_viewer_figures(tiny_result: RunResult) -> None:
    metrics = key_metrics(tiny_result)
    viewers = {name: metrics[name] for name in VIEWER_METRICS}
    assert all(math.isfinite(value) for value in viewers.values()), viewers
    assert viewers["viewers_exploration_share"] == tiny_result.viewers["exploration_share"]
    assert viewers["viewers_entropy_end"] == tiny_result.viewers["feed_topic_entropy_bits"]["end"]


def test_viewer_metrics_without_data_are_nan() -> None:
    # A figure the run could not measure (None) and a block from before viewers existed ({})
    # must both give NaN, which replication tables drop and JSON writes as null.
    short = {"feed_topic_entropy_bits": {"start": 2.5, "middle": None, "end": None}, "exploration_share": 0.1}
    metrics = viewer_metrics(short)
    assert metrics["viewers_entropy_start"] == 2.5 and metrics["viewers_exploration_share"] == 0.1
    assert math.isnan(metrics["viewers_entropy_end"]) and math.isnan(metrics["viewers_hides_per_1000"])
    assert set(viewer_metrics({})) == set(VIEWER_METRICS)
    assert all(math.isnan(value) for value in viewer_metrics({}).values())


def test_exploration_is_realised_in_feeds(tiny: Scenario) -> None:
    closed, open_ = _explore(tiny, 0.0, seed=SEED), _explore(tiny, 0.4, seed=SEED)
    assert closed.viewers["exploration_share"] == 0.0
    # Exploring draws inside the viewer's estimated top 3 count as regular, so 0.4 of
    # slots realises as less than 0.4 of impressions.
    assert open_.viewers["exploration_share"] > 0.2
