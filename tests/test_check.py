"""`check` re-verifies a results directory, relative (percentile) gates and watch measures included."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tiktok_sim import simulate
from tiktok_sim.check import RATE_COLUMNS, WATCH_MEASURES, check_results
from tiktok_sim.output import write_outputs
from tiktok_sim.scenario import load_scenario
from tiktok_sim.scenario.schema import PercentileGate

WARMUP = PercentileGate(top=0.3).warmup  # the fixture's gate keeps the default warm-up


def _written(tiny_file: Path, factory: pytest.TempPathFactory, name: str, gates: str) -> Path:
    """The tiny world with pool 0 gated by ``gates``, run and written to a fresh directory."""
    out = factory.mktemp(name)
    write_outputs(simulate(load_scenario(tiny_file, [f"ladder.0.gates={gates}"])), out)
    return out


@pytest.fixture(scope="module")
def percentile_run(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world with a percentile gate on pool 0, where hundreds of videos are judged."""
    return _written(tiny_file, tmp_path_factory, "percentile", "[{type: percentile, top: 0.3, history: 20}]")


@pytest.fixture(scope="module")
def watch_run(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world with pool 0 gated on how much of each video is watched, which splits it."""
    return _written(tiny_file, tmp_path_factory, "watch", "[{type: absolute, avg_watched: 0.3, watch_time: 3}]")


def _stages(out: Path) -> list[dict[str, str]]:
    with (out / "stages.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _rewrite(out: Path, rows: list[dict[str, str]]) -> None:
    with (out / "stages.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _judged_late(rows: list[dict[str, str]], passed: str) -> dict[str, str]:
    """A stage-0 row with this outcome, judged once the gate had history to rank against."""
    ranked, batch, in_batch = 0, None, 0  # stage-0 rows of earlier batches: the cut-off's history
    for row in rows:
        if row["batch"] != batch:
            ranked, batch, in_batch = ranked + in_batch, row["batch"], 0
        if row["stage"] == "0":
            if row["passed"] == passed and ranked >= WARMUP and row["views"] != "0":
                return row
            in_batch += 1
    raise AssertionError(f"no late stage-0 row with passed={passed}")


def test_a_consistent_run_with_a_percentile_gate_checks_clean(percentile_run: Path) -> None:
    rows = [r for r in _stages(percentile_run) if r["stage"] == "0"]
    assert check_results(percentile_run) == []
    # The replay met both outcomes: promotions and failures against a real (finite) cut-off.
    assert sum(r["passed"] == "1" for r in rows) > 20
    assert sum(r["failed_gate"] == "percentile" and float(r["failed_threshold"]) > 0 for r in rows) > 20


def test_a_promotion_below_the_percentile_cut_off_is_reported(percentile_run: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(percentile_run, tmp_path / "tampered"))
    rows = _stages(out)
    row = _judged_late(rows, passed="1")
    row.update(dict.fromkeys(RATE_COLUMNS.values(), "0"))  # a score of 0 cannot be in the top 30%
    _rewrite(out, rows)
    problems = check_results(out)
    assert f"video {row['video_id']} promoted from stage 0 below its ['percentile'] gate" in problems


def test_a_percentile_failure_quoting_another_cut_off_is_reported(percentile_run: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(percentile_run, tmp_path / "tampered"))
    rows = _stages(out)
    row = next(r for r in rows if r["failed_gate"] == "percentile" and float(r["failed_threshold"]) > 0)
    row["failed_threshold"] = f"{float(row['failed_threshold']) * 1.01:.6g}"
    _rewrite(out, rows)
    assert any(p.startswith(f"video {row['video_id']} failed stage 0's percentile gate") for p in check_results(out))


def test_a_consistent_run_with_watch_gates_checks_clean(watch_run: Path) -> None:
    rows = [r for r in _stages(watch_run) if r["stage"] == "0"]
    assert check_results(watch_run) == []
    # Both measures decided real videos: some promoted through them, some stopped by each.
    assert sum(r["passed"] == "1" and r["views"] != "0" for r in rows) > 20
    assert all(sum(r["failed_gate"] == m for r in rows) > 5 for m in WATCH_MEASURES)


@pytest.mark.parametrize(
    ("column", "missed"), [("watched", ["avg_watched", "watch_time"]), ("length_s", ["watch_time"])]
)
def test_a_promotion_below_a_watch_gate_is_reported(
    watch_run: Path, tmp_path: Path, column: str, missed: list[str]
) -> None:
    out = Path(shutil.copytree(watch_run, tmp_path / "tampered"))
    rows = _stages(out)
    row = next(r for r in rows if r["stage"] == "0" and r["passed"] == "1" and r["views"] != "0")
    row[column] = "0"  # nothing watched, or a video with no length: no watch time either way
    _rewrite(out, rows)
    assert f"video {row['video_id']} promoted from stage 0 below its {missed} gate" in check_results(out)


def test_stages_without_watch_columns_are_checked_without_them(watch_run: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(watch_run, tmp_path / "older"))
    rows = [{k: v for k, v in r.items() if k not in ("watched", "length_s")} for r in _stages(out)]
    _rewrite(out, rows)
    # Only the edit itself is noticed: the watch measures are skipped, not read as missing.
    assert check_results(out) == ["stages.csv: SHA-256 differs from manifest.json"]
