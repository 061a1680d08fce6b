"""Re-verify an experiment's results: its shards are exactly its tasks, and every other file recomputes from them."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from tiktok_sim.check.read import ExperimentManifest, Malformed, Point, Row, ShardRecord, read_json, read_table, shaped
from tiktok_sim.check.run import (
    creator_column_problems,
    creator_problems,
    funnel_problems,
    scenario_of,
    table_columns,
    video_problems,
)
from tiktok_sim.experiments import gather, seed_point, summaries, task_seed
from tiktok_sim.metrics import VIEW_SHARES, gini, top_share
from tiktok_sim.outdir import EXPERIMENT_TABLES
from tiktok_sim.output import file_sha256
from tiktok_sim.scenario.loader import scenario_sha256
from tiktok_sim.shards import (
    LEGACY_TABLES,
    TABLES,
    concatenated,
    csv_text,
    json_text,
    metrics_of,
    runs_rows,
    shard_path,
)

TASK_KEY = ("run_id", "point", "replication")
FUNNEL_COLUMNS = ("stage", "pool_size", "entered", "passed")
FEATURED_MEDIAN = "median_views_"
SHARD_RECORD = re.compile(r"point\d{5}-rep\d{5}\.json")
RESUMABLE = ("run", "sweep", "compare")
"""The commands that write an experiment, and so take --resume."""


def experiment_problems(root: Path, manifest: ExperimentManifest) -> list[str]:
    """Every disagreement in an experiment's directory.

    The shards are exactly the manifest's tasks, each with the seed of its identity and its
    point's scenario hash; a finished task's tables agree with each other and with its metrics;
    a failed one has no tables. runs.csv, summary.csv, summary.json, videos.csv, funnel.csv and
    creators.csv (and their Parquet copies) are what the shards give. Results of schema version 1
    have no creators tables, and their swept values are text.

    Raises:
        Malformed: a file cannot be read as what it should be.
    """
    base = scenario_of(manifest.scenario, "manifest.json")
    problems = []
    if scenario_sha256(base) != manifest.scenario_sha256:
        problems.append(f"manifest.json: scenario_sha256 is {manifest.scenario_sha256[:12]}, "
                        f"the scenario hashes to {scenario_sha256(base)[:12]}")  # fmt: skip
    if manifest.kind == "compare":
        problems += _compared_problems(manifest)
    folder = root / "shards"
    problems += _stray_shards(folder, manifest)
    records: list[list[dict[str, Any]]] = []
    for p, point in enumerate(manifest.points):
        if not point.params and point.scenario_sha256 != manifest.scenario_sha256:
            problems.append(f"manifest.json: point {p} has no parameters but another scenario hash")
        records.append([])
        for r in range(manifest.reps):
            record, found = _task(folder, manifest, p, r)
            problems += found
            records[-1].append(record)
    if problems:
        return problems  # the summaries are recomputed only from a sound set of shards
    return _summary_problems(root, folder, manifest, records)


def unfinished(root: Path, manifest: ExperimentManifest, argv: Any) -> list[str]:
    """What to say of an experiment whose manifest has no file list yet: how far it got, and how to finish it.

    Args:
        root: the experiment's directory.
        manifest: its manifest, without ``files``.
        argv: the command line its manifest records, if any.
    """
    tasks = len(manifest.points) * manifest.reps
    done = sum(bool(SHARD_RECORD.fullmatch(p.name)) for p in (root / "shards").glob("*.json"))
    command = resume_command(argv)
    how = f"run this from the folder it was started in: {command}" if command else "rerun its command with --resume"
    return [
        f"manifest.json: lists no files: an unfinished experiment ({done} of {tasks} tasks have a shard; "
        "interrupted, or every task failed)",
        f"to finish it, {how}",
    ]


def resume_command(argv: Any) -> str | None:
    """The recorded command line with ``--resume`` (and without ``--force``), as one would type it.

    None if ``argv`` is not a ``tiktok-sim run``, ``sweep`` or ``compare`` command line (a test
    runner's, say).
    """
    if not (isinstance(argv, list) and len(argv) > 1 and all(isinstance(a, str) for a in argv)):
        return None
    program = PurePath(argv[0])
    if program.name in ("tiktok-sim", "tiktok-sim.exe"):
        words = ["tiktok-sim"]
    elif program.name == "__main__.py" and program.parent.name == "tiktok_sim":
        words = ["python", "-m", "tiktok_sim"]
    else:
        return None
    if argv[1] not in RESUMABLE:
        return None
    args = [a for a in argv[1:] if a != "--force"]
    return shlex.join([*words, *args, *(["--resume"] if "--resume" not in args else [])])


def _compared_problems(manifest: ExperimentManifest) -> list[str]:
    """A comparison's points are A (the manifest's scenario) and B (its ``scenario_b``), in that order."""
    if len(manifest.points) != 2 or manifest.scenario_b is None:
        return ["manifest.json: a comparison records two points and scenario_b"]
    b = scenario_of(manifest.scenario_b, "manifest.json")
    found = (manifest.points[0].scenario_sha256, manifest.points[1].scenario_sha256)
    if found != (manifest.scenario_sha256, scenario_sha256(b)):
        return ["manifest.json: a comparison's points are not its scenario and its scenario_b"]
    return []


def tables_of(manifest: ExperimentManifest) -> tuple[str, ...]:
    """A task's tables in an experiment of this manifest's schema version."""
    return TABLES if manifest.schema_version >= 2 else LEGACY_TABLES


def _stray_shards(folder: Path, manifest: ExperimentManifest) -> list[str]:
    """Files in shards/ that no task of this experiment writes."""
    names = {shard_path(folder, p, r, t).name for p in range(len(manifest.points)) for r in range(manifest.reps)
             for t in (None, *tables_of(manifest))}  # fmt: skip
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return [f"shards/{name}: not a task of this experiment" for name in present if name not in names]


def _task(folder: Path, manifest: ExperimentManifest, p: int, r: int) -> tuple[dict[str, Any], list[str]]:
    """One task's record, and every problem with its shard."""
    path = shard_path(folder, p, r)
    name = f"shards/{path.name}"
    if not path.is_file():
        return {}, [f"{name}: missing (task p{p}-r{r} of {len(manifest.points)} points x {manifest.reps} reps)"]
    document = read_json(path, name)
    record = shaped(ShardRecord, document, name)
    point = manifest.points[p]
    problems = _identity_problems(record, name, p, r, point, manifest)
    expected = tables_of(manifest)
    tables = [t for t in expected if shard_path(folder, p, r, t).is_file()]
    if record.error is not None:
        if record.metrics is not None or tables:
            problems.append(f"{name}: records an error ({record.error}) yet has results")
        return document, problems
    if record.metrics is None:
        return document, [*problems, f"{name}: records neither metrics nor an error"]
    if len(tables) < len(expected):
        missing = ", ".join(t for t in expected if t not in tables)
        return document, [*problems, f"{name}: finished, but its {missing} table is missing"]
    return document, problems + _table_problems(folder, record, manifest.schema_version)


def _identity_problems(
    record: ShardRecord, name: str, p: int, r: int, point: Point, manifest: ExperimentManifest
) -> list[str]:
    """The shard is task (p, r) of this experiment: its seed, parameters and scenario hash."""
    problems = []
    if (record.point, record.replication) != (p, r):
        problems.append(f"{name}: records task p{record.point}-r{record.replication}, not p{p}-r{r}")
    if record.seed != task_seed(manifest.root_seed, seed_point(manifest.kind, p), r):
        problems.append(f"{name}: seed {record.seed} is not task p{p}-r{r}'s under root seed {manifest.root_seed}")
    if record.scenario_sha256 != point.scenario_sha256:
        problems.append(f"{name}: scenario {record.scenario_sha256[:12]} is not point {p}'s "
                        f"({point.scenario_sha256[:12]})")  # fmt: skip
    if record.params != point.params:
        problems.append(f"{name}: parameters {record.params} are not point {p}'s {point.params}")
    return problems


def _table_problems(folder: Path, record: ShardRecord, schema_version: int) -> list[str]:
    """A finished task's tables: its own rows, a funnel and creators that agree with its videos, and its metrics."""
    run_id = f"p{record.point}-r{record.replication}"
    key = {"run_id": run_id, "point": str(record.point), "replication": str(record.replication)}
    path = {t: shard_path(folder, record.point, record.replication, t) for t in TABLES}
    names = {t: f"shards/{p.name}" for t, p in path.items()}
    video_columns, creator_columns = table_columns(schema_version)
    videos = read_table(path["videos"], names["videos"], (*TASK_KEY, *video_columns))
    funnel = read_table(path["funnel"], names["funnel"], (*TASK_KEY, *FUNNEL_COLUMNS))
    creators = (
        read_table(path["creators"], names["creators"], (*TASK_KEY, *creator_columns)) if schema_version >= 2 else []
    )
    for row in (*videos, *funnel, *creators):
        if any(row[k] != v for k, v in key.items()):
            return [f"{row.where}: a row of another task ({row['run_id']})"]
    stages = [{c: row.int(c) for c in FUNNEL_COLUMNS} for row in funnel]
    if [s["stage"] for s in stages] != list(range(len(stages))):
        return [f"{names['funnel']}: expected stages 0, 1, ... in order"]
    problems = video_problems(videos, len(stages), names["videos"])
    problems += [f"{run_id}: {p}" for p in funnel_problems(stages, videos, "funnel.csv")]
    if schema_version >= 2:
        problems += creator_problems(creators, videos) + creator_column_problems(videos, creators, names["videos"])
    return problems + _metric_problems(record.metrics or {}, videos, stages, run_id, schema_version)


def _metric_problems(
    metrics: dict[str, float | int | None],
    videos: list[Row],
    stages: list[dict[str, int]],
    run_id: str,
    schema_version: int,
) -> list[str]:
    """The metrics a task's tables determine, recomputed: impressions, views per video, Gini, top shares, pass rates."""
    views = np.array([v.int("views") for v in videos], dtype=np.int64)
    expected = {
        "impressions": float(views.sum()),
        "views_per_video_mean": float(views.mean()) if views.size else math.nan,
        "views_per_video_median": float(np.median(views)) if views.size else math.nan,
        "views_gini": gini(views),
        **{name: top_share(views, share) for name, share in VIEW_SHARES.items()
           if schema_version >= 2 or name in metrics},
        **{f"pass_rate_stage_{s['stage']}": s["passed"] / s["entered"] if s["entered"] else math.nan for s in stages},
    }  # fmt: skip
    for key in metrics:
        if key.startswith(FEATURED_MEDIAN):
            mine = [views[i] for i, v in enumerate(videos) if v["creator_name"] == key[len(FEATURED_MEDIAN) :]]
            expected[key] = float(np.median(mine)) if mine else math.nan
    problems = []
    for key, value in expected.items():
        written = metrics.get(key)
        written = math.nan if written is None else float(written)
        if not (math.isclose(written, value, rel_tol=1e-12) or (math.isnan(written) and math.isnan(value))):
            problems.append(f"{run_id}: its shard says {key} is {written}, its tables give {value}")
    return problems


def _summary_problems(
    root: Path, folder: Path, manifest: ExperimentManifest, records: list[list[dict[str, Any]]]
) -> list[str]:
    """The top-level files, each compared with what the shards give."""
    results = [(point.params, gather([r["seed"] for r in rs], [metrics_of(r) for r in rs]))
               for point, rs in zip(manifest.points, records, strict=True)]  # fmt: skip
    summary, summary_rows = summaries(manifest.kind, manifest.root_seed, manifest.reps, results)
    flat = [r for rs in records for r in rs]
    problems = []
    if read_json(root / "summary.json", "summary.json") != json.loads(json_text(summary)):
        problems.append("summary.json: differs from the summary its shards give")
    for name, text in (("runs.csv", csv_text(runs_rows(flat))), ("summary.csv", csv_text(summary_rows))):
        problems += _text_problems(root / name, name, text)
    for table in tables_of(manifest):
        parts = [shard_path(folder, r["point"], r["replication"], table) for r in flat if r.get("error") is None]
        digest = hashlib.sha256("".join(concatenated(parts)).encode()).hexdigest()
        if not (root / f"{table}.csv").is_file() or file_sha256(root / f"{table}.csv") != digest:
            problems.append(f"{table}.csv: differs from its shards' {table} tables, one after another")
    for table in sorted(set(TABLES) - set(tables_of(manifest))):
        problems += [f"{name}: not a table of schema version {manifest.schema_version}"
                     for name in (f"{table}.csv", f"{table}.parquet") if (root / name).exists()]  # fmt: skip
    return problems + _parquet_problems(root)


def _text_problems(path: Path, name: str, expected: str) -> list[str]:
    """A file that must hold exactly ``expected``; the first differing line is named."""
    try:
        found = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise Malformed(f"{name}: cannot read: {exc.strerror or exc}") from None
    if found == expected:
        return []
    lines = zip(found.splitlines(), expected.splitlines(), strict=False)
    line = next(
        (i for i, (a, b) in enumerate(lines, 1) if a != b), min(len(found.splitlines()), len(expected.splitlines())) + 1
    )
    return [f"{name}: line {line} differs from what its shards give"]


def _parquet_problems(root: Path) -> list[str]:
    """Each Parquet copy holds its CSV table (checked when pyarrow is installed; the hashes hold either way)."""
    try:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:
        return []
    problems = []
    for table in EXPERIMENT_TABLES:
        parquet = root / f"{table}.parquet"
        if not parquet.is_file():
            continue
        try:
            same = pq.read_table(parquet).equals(pa_csv.read_csv(root / f"{table}.csv"))
        except (OSError, ValueError) as exc:
            raise Malformed(f"{table}.parquet: cannot read: {str(exc).splitlines()[0]}") from None
        if not same:
            problems.append(f"{table}.parquet: differs from {table}.csv")
    return problems
