"""Re-verify a results directory against the invariants every run must keep."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from tiktok_sim.model.exposure import MIN_HISTORY
from tiktok_sim.scenario.schema import AbsoluteGate, PercentileGate, RateName, Scenario, ScoreGate

RATE_COLUMNS = {"completion": "completions", "like": "likes", "comment": "comments", "share": "shares",
                "follow": "follows"}  # fmt: skip
TOLERANCE = 1e-9  # rates are recomputed from integer counts, so only float rounding may differ
WRITTEN_REL_TOL = 1e-5  # a float written to 6 significant digits is within half this of the engine's, relatively
WATCH_MEASURES = {"avg_watched": 1, "watch_time": 2}  # how many written floats (`watched`, `length_s`) each uses


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
    """Every promotion against its stage's gates.

    A percentile gate's cut-off is rebuilt the way the engine keeps it: from the scores of
    the stage's earlier evaluation batches, in file order, before each batch joins them.
    (Files without a ``batch`` column, from earlier versions, cannot be replayed; nor can an
    absolute gate's watch measures in files without ``watched`` and ``length_s``.)
    """
    problems = []
    recent: dict[tuple[int, int], list[float]] = {}  # (stage, gate index) -> newest scores
    for batch in _batches(stages):
        stage = int(batch[0]["stage"])
        gates = scenario.ladder[stage].gates
        rates = [_rates(row) for row in batch]
        cutoff = {}
        for g, gate in enumerate(gates):
            if isinstance(gate, PercentileGate) and "batch" in batch[0]:
                scores = recent.get((stage, g), [])
                cutoff[g] = float(np.quantile(scores, 1.0 - gate.top)) if len(scores) >= MIN_HISTORY else -np.inf
                recent[(stage, g)] = (scores + [_score(r, gate.weights) for r in rates])[-gate.history :]
        for row, r in zip(batch, rates, strict=True):
            if row.get("passed") != "1":
                problems += _cutoff_problems(row, list(cutoff.values()))
                continue
            missed = []
            for g, gate in enumerate(gates):
                if isinstance(gate, AbsoluteGate):
                    missed += [k for k, need in gate.thresholds().items() if k in r and r[k] < need - _slack(k, need)]
                elif isinstance(gate, ScoreGate) and _score(r, gate.weights) < gate.min - TOLERANCE:
                    missed.append("score")
                elif g in cutoff and _score(r, gate.weights) < cutoff[g] - TOLERANCE:
                    missed.append("percentile")
            if missed:
                problems.append(f"video {row['video_id']} promoted from stage {row['stage']} below its {missed} gate")
    return problems


def _cutoff_problems(row: dict[str, str], cutoffs: list[float]) -> list[str]:
    """A percentile failure must quote a replayed cut-off (written to 6 significant digits)."""
    if row.get("failed_gate") != "percentile" or not cutoffs:
        return []
    quoted = float(row["failed_threshold"])
    if any(math.isclose(quoted, c, rel_tol=WRITTEN_REL_TOL, abs_tol=TOLERANCE) for c in cutoffs):
        return []
    return [f"video {row['video_id']} failed stage {row['stage']}'s percentile gate at {quoted:.6g}, "
            f"but the replayed cut-off is {', '.join(f'{c:.6g}' for c in cutoffs)}"]  # fmt: skip


def _batches(stages: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Consecutive rows of one evaluation batch (each row alone if the file has no batches)."""
    batches: list[list[dict[str, str]]] = []
    for row in stages:
        if batches and "batch" in row and batches[-1][0]["batch"] == row["batch"]:
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches


def _rates(row: dict[str, str]) -> dict[str, float]:
    """What a gate can check, computed as :func:`~tiktok_sim.model.exposure.stage_rates` does.

    The watch measures are left out for files written before ``watched`` and ``length_s``.
    """
    views = int(row["views"])
    rates = {gate: int(row[col]) / views if views else 0.0 for gate, col in RATE_COLUMNS.items()}
    if "watched" in row and "length_s" in row:
        rates["avg_watched"] = float(row["watched"]) / max(views, 1)
        rates["watch_time"] = rates["avg_watched"] * float(row["length_s"])
    return rates


def _slack(measure: str, need: float) -> float:
    """How far below ``need`` a replayed passing value may fall through rounding alone.

    Each written float a watch measure is built from adds its own rounding error.
    """
    floats = WATCH_MEASURES.get(measure, 0)
    return need * WRITTEN_REL_TOL * floats if floats else TOLERANCE


def _score(rates: dict[str, float], weights: dict[RateName, float]) -> float:
    """The weighted sum, added in the engine's order so it rounds the same."""
    return sum((w * rates[k] for k, w in weights.items()), 0.0)
