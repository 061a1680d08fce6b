"""Re-verify a results directory against the invariants every run must keep."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from tiktok_sim.scenario.schema import AbsoluteGate, Scenario, ScoreGate

RATE_COLUMNS = {"completion": "completions", "like": "likes", "comment": "comments", "share": "shares",
                "follow": "follows"}  # fmt: skip
TOLERANCE = 1e-9  # rates are recomputed from integer counts, so only float rounding may differ


def check_results(directory: str | Path) -> list[str]:
    """Every mismatch found in ``directory`` (empty when it is consistent).

    For one run: the files match the manifest's hashes, views are conserved, the funnel in
    summary.json agrees with videos.csv, and every promotion in stages.csv met its gates.
    For an experiment (``--reps`` or ``sweep`` with ``--out``), see :func:`_experiment_problems`.
    """
    root = Path(directory)
    if (root / "shards").is_dir():
        return _experiment_problems(root)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        summary = json.loads((root / "summary.json").read_text())
        videos = _rows(root / "videos.csv")
        stages = _rows(root / "stages.csv")
    except (OSError, ValueError) as exc:
        return [f"{root}: cannot read results: {exc}"]
    problems = [
        f"{name}: SHA-256 differs from manifest.json"
        for name, digest in manifest.get("files", {}).items()
        if name != "manifest.json" and _sha256(root / name) != digest
    ]
    views = sum(int(v["views"]) for v in videos)
    if views != summary["impressions"]:
        problems.append(f"views: videos.csv sums to {views:,}, summary.json says {summary['impressions']:,}")
    problems += _funnel_problems(summary["funnel"], videos, "summary.json")
    problems += _gate_problems(Scenario.model_validate(summary["scenario"]), stages)
    return problems


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _experiment_problems(root: Path) -> list[str]:
    """Every task has its record, and each finished task's tables agree with its metrics.

    Per task: the views in videos.csv sum to its impressions, and its rows of funnel.csv
    agree with its videos.
    """
    try:
        records = [json.loads(p.read_text()) for p in sorted((root / "shards").glob("point*-rep*.json"))]
        runs, videos, funnel = (_rows(root / f"{name}.csv") for name in ("runs", "videos", "funnel"))
    except (OSError, ValueError) as exc:
        return [f"{root}: cannot read results: {exc}"]
    finished = {f"p{r['point']}-r{r['replication']}": r for r in records if r.get("error") is None}
    problems = [f"{r['run_id']}: in runs.csv but has no shard" for r in runs if r["run_id"] not in
                {f"p{x['point']}-r{x['replication']}" for x in records}]  # fmt: skip
    by_run: dict[str, list[dict[str, str]]] = {run_id: [] for run_id in finished}
    for video in videos:
        by_run.setdefault(video["run_id"], []).append(video)
    for run_id, record in finished.items():
        mine = by_run[run_id]
        views, impressions = sum(int(v["views"]) for v in mine), int(record["metrics"]["impressions"])
        if views != impressions:
            problems.append(f"{run_id}: videos.csv sums to {views:,} views, its shard says {impressions:,}")
        stages = [{k: int(v) for k, v in row.items() if k != "run_id"} for row in funnel if row["run_id"] == run_id]
        problems += [f"{run_id}: {p}" for p in _funnel_problems(stages, mine, "funnel.csv")]
    return problems


def _funnel_problems(funnel: list[dict[str, int]], videos: list[dict[str, str]], source: str) -> list[str]:
    reached = [int(v["stage_reached"]) for v in videos]
    complete = sum(v["stop_reason"] == "ladder_complete" for v in videos)
    last = len(funnel) - 1
    problems = []
    for row in funnel:
        s = row["stage"]
        entered = sum(r >= s for r in reached)
        passed = complete if s == last else sum(r > s for r in reached)
        if (row["entered"], row["passed"]) != (entered, passed):
            problems.append(
                f"funnel stage {s}: {source} says {row['entered']} entered / {row['passed']} passed, "
                f"videos.csv gives {entered} / {passed}"
            )
    return problems


def _gate_problems(scenario: Scenario, stages: list[dict[str, str]]) -> list[str]:
    problems = []
    for row in stages:
        if row.get("passed") != "1":
            continue
        views = int(row["views"])
        rates = {gate: int(row[col]) / views if views else 0.0 for gate, col in RATE_COLUMNS.items()}
        for gate in scenario.ladder[int(row["stage"])].gates:
            if isinstance(gate, AbsoluteGate):
                missed = [k for k, need in gate.thresholds().items() if rates[k] < need - TOLERANCE]
            elif isinstance(gate, ScoreGate):
                score = sum(w * rates[k] for k, w in gate.weights.items())
                missed = ["score"] if score < gate.min - TOLERANCE else []
            else:
                missed = []  # a percentile gate depends on history the files do not keep
            if missed:
                problems.append(f"video {row['video_id']} promoted from stage {row['stage']} below its {missed} gate")
    return problems
