"""Every report fits 80 and 120 columns, with and without colour, and cuts no number or name."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console, RenderableType

from tiktok_sim import simulate
from tiktok_sim.advise import Advice, Effect, levers
from tiktok_sim.calibrate import verdicts
from tiktok_sim.cli import main
from tiktok_sim.experiments import (
    Replications,
    holm_note,
    in_words,
    paired_row,
    reach_bands,
    replicate,
    summaries,
    sweep,
    sweep_metrics,
)
from tiktok_sim.explain import explain_journeys
from tiktok_sim.metrics import funnel
from tiktok_sim.output import write_outputs
from tiktok_sim.report import render_report
from tiktok_sim.report.advice import render_advice
from tiktok_sim.report.calibration import _shown, calibration_table
from tiktok_sim.report.charts import reach_chart
from tiktok_sim.report.explain import _check, render_journey
from tiktok_sim.report.replications import reach_band_charts, render_comparison, replications_table, sweep_table
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario, load_scenario

from .conftest import TINY

WIDTHS = (80, 120)
COLOURS = (None, "truecolor")
LAYOUTS = [(w, c) for w in WIDTHS for c in COLOURS]

# The tiny world with a ladder of large pools, and a featured creator posting at 19:00 in Tokyo.
BIG = (
    TINY.split("featured:")[0].replace("duration: 1d", "duration: 12h")
    + """\
featured:
  - {name: night_owl_kitchen, region: jp, niche: [food], followers: 300, schedule: ["19:00"], video_length_s: 15,
     quality: 0.7, hook: 0.6}
ladder:
  - {pool: 100, window: 6h, gates: [{type: absolute, completion: 0.2}]}
  - {pool: 12345, window: 12h, gates: [{type: absolute, completion: 0.2}]}
  - {pool: 300000, window: 12h, gates: [{type: absolute, completion: 0.2}]}
  - {pool: 1250000, window: 1d, gates: [{type: absolute, completion: 0.2}]}
  - {pool: 5000000, window: 1d, gates: [{type: absolute, completion: 0.2}]}
"""
)


@pytest.fixture(scope="module")
def big_result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    path = tmp_path_factory.mktemp("layout") / "big.yaml"
    path.write_text(BIG)
    return simulate(load_scenario(path))


@pytest.fixture(scope="module")
def short(tiny: Scenario) -> Scenario:
    return tiny.model_copy(update={"run": tiny.run.model_copy(update={"duration": 360.0})})


@pytest.fixture(scope="module")
def replications(short: Scenario) -> Replications:
    return replicate(short, 2, root_seed=5, executor="serial")


@pytest.fixture(scope="module")
def swept(short: Scenario) -> list[tuple[dict[str, str], Replications]]:
    wide = short.model_copy(update={"recommender": short.recommender.model_copy(update={"exploration": 0.5})})
    points = [({"recommender.exploration": "0.08"}, short), ({"recommender.exploration": "0.5"}, wide)]
    return sweep(points, 2, root_seed=3, executor="serial")


def render(renderable: RenderableType, width: int, colour: str | None) -> str:
    """The text ``renderable`` prints on a console ``width`` columns wide, checked to fit it uncut."""
    console = Console(record=True, width=width, color_system=colour, file=io.StringIO())  # type: ignore[arg-type]
    console.print(renderable)
    text = console.export_text()
    assert "…" not in text, text
    too_wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    return text


def words(text: str) -> set[str]:
    """Every run of characters between spaces and table lines."""
    return set(re.split(r"[\s│┃|]+", text))


def prose(text: str) -> str:
    """The words of ``text`` one space apart, panel and table lines left out, so wrapped sentences read whole."""
    return " ".join(re.sub(r"[│┃]", " ", text).split())


def shown(text: str, *forms: str) -> bool:
    """One of ``forms`` (a number written in full, or abbreviated) appears whole."""
    return bool(words(text) & set(forms))


def test_the_report_fits_and_keeps_every_name_and_number(tiny_result: RunResult) -> None:
    v, c = tiny_result.videos, tiny_result.creators_table
    top = np.argsort(-v["views"], kind="stable")[:10]
    creators = np.argsort(-c["views"], kind="stable")[:10]
    mine = np.flatnonzero(v["creator_id"] == 0)
    for width, colour in LAYOUTS:
        text = render(render_report(tiny_result, width=min(width, 120)), width, colour)
        for row in funnel(tiny_result):
            assert shown(text, f"{row['pool_size']:,}"), (width, row)
        for name in {str(c["name"][i]) for i in creators} | {"me"}:
            assert name in words(text), (width, name)
        for i in top:
            assert str(v["video_id"][i]) in words(text) and f"{v['views'][i]:,}" in words(text), (width, i)
        for i in mine:
            assert f"#{i}" in words(text), (width, i)
        for reason in {str(v["stop_reason"][i]) for i in [*top, *mine]}:
            kind, _, gate = reason.partition(":")
            assert reason in words(text) or {f"{kind}:", gate} <= words(text), (width, reason)


def test_large_pools_are_abbreviated_in_a_narrow_terminal_and_dropped_columns_named(big_result: RunResult) -> None:
    pools = [row["pool_size"] for row in funnel(big_result)]
    assert pools == [100, 12345, 300000, 1250000, 5000000]
    wide = render(render_report(big_result, width=120), 120, None)
    assert all(shown(wide, f"{pool:,}") for pool in pools)
    narrow = render(render_report(big_result, width=80), 80, "truecolor")
    assert all(shown(narrow, full, short) for full, short in
               zip(["100", "12,345", "300,000", "1,250,000", "5,000,000"], ["100", "12.3k", "300k", "1.25M", "5M"],
                   strict=True))  # fmt: skip
    assert "k = thousand, M = million" in prose(narrow)
    funnel_part = narrow.split("Funnel")[1].split("Top 10")[0]
    caption = prose(funnel_part.split("└")[1])
    for header in ("comment", "share"):
        assert header not in funnel_part.split("┡")[0] and header in caption.split("not shown at this width:")[1]


def test_the_report_explains_its_terms_and_gives_local_times(tiny_result: RunResult, big_result: RunResult) -> None:
    text = prose(render(render_report(tiny_result, width=120), 120, None))
    assert "unfilled slots: places in users' feeds" in text
    assert "stage k: the k-th rung of the ladder" in text and "pool: that rung's audience" in text
    assert "uploaded (h): hours after the run started (negative: a backlog upload, from before it)" in text
    assert "local time: me's clock (us, UTC-5)" in text  # a featured creator without a region is in the first
    owl = render(render_report(big_result, width=120), 120, None)
    assert "local time: night_owl_kitchen's clock (jp, UTC+9)" in prose(owl)
    uploads = big_result.videos["upload_min"][big_result.videos["creator_id"] == 0]
    assert uploads.size and np.all(np.mod(uploads + 9 * 60, 1440) == 19 * 60)  # the engine posts at 19:00 in Tokyo
    featured = owl.split("Featured: night_owl_kitchen")[1]
    assert featured.count("Mon 19:00") == uploads.size  # day 0 of a run is a Monday


def test_experiment_tables_fit(replications: Replications, swept: list[tuple[dict[str, str], Replications]]) -> None:
    summary, _ = summaries("replications", 5, 2, [({}, replications)])
    rows = summary["summary"]
    points = summaries("sweep", 3, 2, swept)[0]["points"]
    metrics = sweep_metrics(["me"])
    for width, colour in LAYOUTS:
        text = render(replications_table("tiny", 5, 2, rows), width, colour)
        for row in rows:
            assert str(row["metric"]) in words(text), (width, row["metric"])
        for chart in reach_band_charts(reach_bands(replications), width=min(width, 120)):
            assert {"p90", "median", "p10"} <= words(render(chart, width, colour))
        text = render(sweep_table("tiny", 3, 2, ["recommender.exploration"], points, metrics), width, colour)
        for metric in metrics:
            assert metric in words(text), (width, metric)
        for point in points:
            assert f"{point['views_per_video_mean_mean']:,.1f}" in words(text)


def test_calibration_fits(replications: Replications) -> None:
    found = verdicts(replications.metrics)
    for width, colour in LAYOUTS:
        text = render(calibration_table("tiny", 2, 5, found), width, colour)
        for v in found:
            assert _shown(v.figure, v.mean) in words(text), (width, v.figure)
            assert set(f"{v.figure.label} {v.figure.published} {v.figure.source}".split()) <= words(text), width
        assert f"of {len(found)} figures within tolerance" in prose(text)


def test_compare_fits(replications: Replications, swept: list[tuple[dict[str, str], Replications]]) -> None:
    other = swept[1][1]
    rows = [paired_row(name, values, other.metrics[name]) for name, values in replications.metrics.items()]
    for row in rows:
        row["p_adj"] = min(1.0, float(row["p"]) * len(rows)) if np.isfinite(float(row["p"])) else float("nan")
    heading = "A = scenarios/a_long_scenario_name.yaml, B = scenarios/b_long_scenario_name.yaml; 2 paired replications"
    sentences = [in_words(row) for row in rows]
    for width, colour in LAYOUTS:
        text = render(render_comparison(heading, sentences, holm_note(rows)), width, colour)
        assert re.sub(r"\n {4}", " ", text).splitlines() == [heading, *sentences, holm_note(rows)]


def test_explain_fits(tiny_result: RunResult, tmp_path: Path) -> None:
    write_outputs(tiny_result, tmp_path / "run")
    climbed = int(np.argmax(tiny_result.videos["stage_reached"]))
    journeys = explain_journeys(tmp_path / "run", creator="me") + explain_journeys(tmp_path / "run", [climbed])
    for width, colour in LAYOUTS:
        for journey in journeys:
            text = render(render_journey(journey), width, colour)
            for visit in journey.visits:
                assert f"({visit.pool:,})" in words(text) and f"{visit.views:,}" in text, (width, visit)
            for check in (c for visit in journey.visits for c in visit.checks):
                line = " ".join(_check(check).split())
                assert any(line in " ".join(row.split()) for row in text.splitlines()), (width, check)  # on one line


def test_advice_fits(tiny: Scenario) -> None:
    found = levers(tiny, 0)
    relieves = "completion (missed by 62% -> 29% of videos)"
    effects = [Effect(lever, 131.4 - 9 * i, 45.9 - 9 * i, 216.9 - 9 * i, 0.01 * (i + 1), relieves if i % 2 else "")
               for i, lever in enumerate(found)]  # fmt: skip
    advice = Advice("me", "views_mean", 10, 191.5, effects, None)
    for width, colour in LAYOUTS:
        text = render(render_advice(advice), width, colour)
        for effect in effects:
            assert f"{effect.mean:+,.1f}" in words(text), (width, effect)
            assert f"{effect.lo:+,.1f} to {effect.hi:+,.1f}" in text, (width, effect)  # each interval on one line


def test_chart_series_stay_apart_without_colour() -> None:
    hours = np.arange(24)
    curves = [(f"#{k}", hours, np.minimum(hours * (10 + 5 * k), 150.0)) for k in range(3)]
    text = render(reach_chart(curves, width=78), 80, None)
    markers = []
    for label, _, _ in curves:
        found = re.search(rf"(\S) {label}\b", text)
        assert found, label  # each line is labelled at its end, after its own marker
        markers.append(found.group(1))
        assert text.count(found.group(1)) > 5  # and drawn with it
    assert len(set(markers)) == len(curves)


@pytest.mark.parametrize(("columns", "width"), [("80", 80), ("0", 120), ("1", 40), ("5000", 1000)])
def test_columns_sets_the_width_when_piped(tiny_result: RunResult, tmp_path: Path, columns: str, width: int) -> None:
    write_outputs(tiny_result, tmp_path / "run")
    result = CliRunner(env={"COLUMNS": columns}).invoke(main, ["report", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    widest = max(cell_len(line) for line in result.output.splitlines())
    # COLUMNS=0 is no width: piped reports are 120 wide; widths are held within 40-1000 (the header spans them)
    assert widest == width
    assert "…" not in result.output


def test_a_width_past_the_largest_is_refused(tiny_result: RunResult, tmp_path: Path) -> None:
    write_outputs(tiny_result, tmp_path / "run")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--width", "99999999999999999999"])
    assert result.exit_code == 2 and "is not in the range 40<=x<=1000" in result.output
