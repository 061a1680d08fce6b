"""The report renders from a RunResult alone, and says why videos stall."""

from __future__ import annotations

import dataclasses

import numpy as np
from rich.console import Console

from tiktok_sim.report import render_report
from tiktok_sim.report.bottleneck import bottleneck
from tiktok_sim.results import RunResult


def test_report_renders_every_section(tiny_result: RunResult) -> None:
    console = Console(record=True, width=100)
    console.print(render_report(tiny_result, width=100))
    text = console.export_text()
    for section in ("scenario tiny", "Funnel", "Top 10 videos", "Creators", "Featured: me", "hours since upload",
                    "Bottleneck:", "Cohort", "Calibration"):  # fmt: skip
        assert section in text, section


def test_bottleneck_names_stage_gate_and_numbers(tiny_result: RunResult) -> None:
    videos, stages = tiny_result.videos, tiny_result.stages
    failed = stages["video_id"][(stages["stage"] == 0) & (stages["passed"] == 0)]
    assert failed.size >= 3
    sentence = bottleneck(tiny_result, failed[:3])
    # stage 0 of the tiny ladder checks completion >= 30% and like >= 4%
    assert sentence.startswith("3 of 3 videos stopped at pool 0.")
    assert ("completion by" in sentence and "against 30.0%)" in sentence) or (
        "like by" in sentence and "against 4.0%)" in sentence
    )
    assert np.all(videos["stage_reached"][failed[:3]] == 0)


def test_bottleneck_when_nothing_stalled(tiny_result: RunResult) -> None:
    climbing = np.flatnonzero(tiny_result.videos["stop_reason"] == "in_progress")
    assert climbing.size >= 1
    assert bottleneck(tiny_result, climbing).startswith(f"No video stalled: {climbing.size} still climbing")


def test_a_featured_name_is_printed_as_written_not_read_as_markup(tiny_result: RunResult) -> None:
    name = "[/] tips [bold]by me"  # rich would raise on the closing tag, and eat the opening one
    featured = tiny_result.creators_table["featured"].astype(bool)
    names = tiny_result.creators_table["name"].copy()
    names[featured] = name
    videos = tiny_result.videos.copy()
    videos["creator_name"] = np.where(videos["creator_name"] == "me", name, videos["creator_name"])
    featured_list = [f.model_copy(update={"name": name}) for f in tiny_result.scenario.featured]
    renamed = dataclasses.replace(
        tiny_result,
        scenario=tiny_result.scenario.model_copy(update={"featured": featured_list}),
        creators_table={**tiny_result.creators_table, "name": names},
        videos=videos,
    )
    console = Console(record=True, width=120)
    console.print(render_report(renamed, width=120))
    assert f"Featured: {name}" in console.export_text()


def test_a_creator_without_videos_shows_dashes_and_its_own_clock(tiny_result: RunResult) -> None:
    uploaded = set(tiny_result.videos["creator_id"].tolist())
    idle = next(c for c in range(len(tiny_result.creators_table["name"])) if c not in uploaded)
    console = Console(record=True, width=120)
    console.print(render_report(tiny_result, width=120, featured=[idle]))
    text = console.export_text()
    region = str(tiny_result.creators_table["region"][idle])
    assert "0 videos; passed pool 0: -; reached pool 1: -; views mean -, median -" in " ".join(text.split())
    assert "nan" not in text and f"clock ({region}, UTC" in " ".join(text.split())
