"""Read a saved results directory back, for ``tiktok-sim report``: a run's result, an experiment's tables.

Content that cannot be read as what it should be raises :class:`~tiktok_sim.check.read.Malformed`
with one line; ``tiktok-sim check`` says whether the files agree with each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_sim.audience import AUDIENCE_COLUMNS
from tiktok_sim.check.read import (
    ExperimentManifest,
    Malformed,
    Row,
    Versioned,
    read_integers,
    read_json,
    read_table,
    shaped,
)  # fmt: skip
from tiktok_sim.check.run import scenario_of, table_columns
from tiktok_sim.experiments import Replications, gather
from tiktok_sim.metrics import VIDEO_COUNTS
from tiktok_sim.model.exposure import GATE_CODE
from tiktok_sim.output import GATE_COLUMNS, REACH_COLUMNS
from tiktok_sim.results import WATCH_BINS, RunResult
from tiktok_sim.shards import metrics_of

TEXT = frozenset({"creator_name", "stop_reason", "topic", "name", "missed_gates", "region", "language"})
FLAGS = {"trending_sound", "spam", "duplicate", "sensitive", "featured", "passed", "short_served", "early_stop"}
"""Columns read as text and as 0/1 flags; every other column is a number."""
FUNNEL_COLUMNS = ("point", "replication", "stage", "pool_size", "entered", "passed")
"""An experiment's funnel.csv, every column an integer (its run_id is left out)."""


def load_run(root: Path) -> RunResult:
    """One run's result, as its files record it.

    Everything the report reads is restored; the watch-ratio histogram is not saved
    (summary.json keeps its quantiles), so it comes back empty. Results of schema version 1
    come back without the creator columns (followers, region, language) they did not have.

    Raises:
        Malformed: a file is missing or cannot be read as what it should be.
    """
    summary = read_json(root / "summary.json", "summary.json")
    schema = shaped(Versioned, summary, "summary.json").schema_version
    video_columns, creator_columns = table_columns(schema)
    videos = _columns(read_table(root / "videos.csv", "videos.csv", video_columns))
    try:
        calibration = summary["calibration"]
        return RunResult(
            scenario=scenario_of(summary["scenario"], "summary.json"),
            seed=int(summary["seed"]),
            users=int(summary["users"]),
            creators=int(summary["creators"]),
            impressions=int(summary["impressions"]),
            unfilled_slots=int(summary["engine"]["unfilled_slots"]),
            videos=videos,
            creators_table=_columns(read_table(root / "creators.csv", "creators.csv", creator_columns)),
            stages=_stages(read_table(root / "stages.csv", "stages.csv", ["video_id"], exact=False)),
            reach=_columns(read_table(root / "reach.csv", "reach.csv", REACH_COLUMNS)),
            action_totals={name: int(videos[name].sum()) for name in VIDEO_COUNTS},
            watch_hist=np.zeros(WATCH_BINS, dtype=np.int64),
            watch_sum=float(summary["watch_ratio"]["mean"] or 0.0) * int(summary["impressions"]),
            personalization=np.array([_number(a) for a in calibration["cold_start_affinity_by_25_views"]]),
            exploit_share=_number(calibration["exploit_share_first_200"]),
            viewers=dict(summary["viewers"]),
            engine=dict(summary["engine"]),
            runtime_s=float(summary["runtime_s"]),
            gates=_gates(read_table(root / "gates.csv", "gates.csv", GATE_COLUMNS)),
            audience=_columns(
                read_table(root / "audience.csv", "audience.csv", AUDIENCE_COLUMNS), text=TEXT | {"dimension", "value"}
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"summary.json: cannot read: {type(exc).__name__}: {exc}") from None


def _number(value: Any) -> float:
    """A JSON number, or NaN for the null that stands for a figure without data."""
    return math.nan if value is None else float(value)


def _stages(rows: list[Row]) -> dict[str, np.ndarray]:
    """stages.csv's columns, the failed gate as its code again (-1 for a pass); empty when no stage was judged."""
    if not rows:
        return {}
    columns = _columns(rows, skip=frozenset({"failed_gate"}))
    columns["failed_gate"] = _gate_codes(rows, "stages.csv", "failed_gate", passed="")
    return columns


def _gates(rows: list[Row]) -> dict[str, np.ndarray]:
    """gates.csv's columns, each gate as its code again; a warming-up gate's empty threshold is -inf."""
    if not rows:
        return {}
    columns = _columns(rows, skip=frozenset({"gate", "threshold"}))
    columns["gate"] = _gate_codes(rows, "gates.csv", "gate")
    columns["threshold"] = np.array([row.float("threshold") if row["threshold"] else -np.inf for row in rows])
    return columns


def _gate_codes(rows: list[Row], name: str, column: str, passed: str | None = None) -> np.ndarray:
    """A column of gate names as their codes again; ``passed`` (if given) stands for no gate, -1.

    Raises:
        Malformed: a name that is no gate.
    """
    names = [row[column] for row in rows]
    unknown = sorted(set(names) - {*GATE_CODE, *([passed] if passed is not None else [])})
    if unknown:
        raise Malformed(f"{name}: {column}: unknown gate {unknown[0]!r}")
    return np.array([GATE_CODE.get(n, -1) for n in names], dtype=np.int64)


def _columns(rows: list[Row], skip: frozenset[str] = frozenset(), text: frozenset[str] = TEXT) -> dict[str, np.ndarray]:
    """A table's columns as arrays: text, 0/1 flags as booleans, numbers as integers where they all are."""
    if not rows:
        return {}
    columns: dict[str, np.ndarray] = {}
    for name in rows[0]:
        if name in skip:
            continue
        values = [row[name] for row in rows]
        if name in text:
            columns[name] = np.array(values, dtype=object)
        elif name in FLAGS:
            columns[name] = np.array([row.int(name) for row in rows]) != 0
        else:
            columns[name] = _numbers(rows, name)
    return columns


def _numbers(rows: list[Row], name: str) -> np.ndarray:
    """One numeric column: int64 if every value is an integer, else float64 (an empty cell is NaN)."""
    try:
        return np.array([int(row[name]) for row in rows], dtype=np.int64)
    except ValueError:
        return np.array([math.nan if row[name] == "" else row.float(name) for row in rows])


@dataclass(frozen=True)
class SavedExperiment:
    """An experiment's manifest, its summary.json and point 0's replications (for the reach bands)."""

    manifest: ExperimentManifest
    summary: dict[str, Any]
    replications: Replications


def load_experiment(root: Path, document: dict[str, Any]) -> SavedExperiment:
    """A finished experiment of ``run --reps``, ``sweep`` or ``compare``, its manifest being ``document``.

    Raises:
        Malformed: unfinished (no file list yet), or a file cannot be read as what it should be.
    """
    manifest = shaped(ExperimentManifest, document, "manifest.json")
    if not manifest.files:
        raise Malformed("manifest.json: an unfinished experiment (finish it with --resume)")
    summary = read_json(root / "summary.json", "summary.json")
    key = {"replications": "summary", "sweep": "points", "compare": "comparison"}[manifest.kind]
    if not isinstance(summary, dict) or not isinstance(summary.get(key), list):
        raise Malformed(f"summary.json: expected an object with a list '{key}'")
    if not all(isinstance(row, dict) for row in summary[key]):
        raise Malformed(f"summary.json: {key}: expected a list of objects")
    summary[key] = [{k: math.nan if v is None else v for k, v in row.items()} for row in summary[key]]  # JSON's null
    return SavedExperiment(manifest, summary, load_replications(root, 0))


def load_replications(root: Path, point: int) -> Replications:
    """The metrics of one point's replications, from their records in ``shards/`` (a failed one's are empty).

    Raises:
        Malformed: a record cannot be read as what it should be.
    """
    records = [
        read_json(path, f"shards/{path.name}") for path in sorted((root / "shards").glob(f"point{point:05d}-rep*.json"))
    ]
    try:
        metrics = [metrics_of(record) for record in records]
        seeds = [int(record["seed"]) for record in records]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"shards: a task's record cannot be read: {type(exc).__name__}: {exc}") from None
    return gather(seeds, metrics)


@dataclass(frozen=True)
class ExperimentTables:
    """The tables of a finished experiment that its pictures draw, as int64 columns.

    Attributes:
        funnel: ``point``, ``replication``, ``stage``, ``pool_size``, ``entered``, ``passed``:
            one row per finished task and stage (funnel.csv).
        views: ``point``, ``replication``, ``views``: one row per video of a finished task
            (videos.csv).
    """

    funnel: dict[str, np.ndarray]
    views: dict[str, np.ndarray]


def load_experiment_tables(root: Path) -> ExperimentTables:
    """An experiment's funnel and every video's views, read from funnel.csv and videos.csv.

    Raises:
        Malformed: a table is missing or cannot be read as what it should be.
    """
    funnel = read_integers(root / "funnel.csv", "funnel.csv", FUNNEL_COLUMNS)
    views = read_integers(root / "videos.csv", "videos.csv", ("point", "replication", "views"))
    return ExperimentTables(funnel, views)
