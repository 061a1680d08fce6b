"""Re-verify one run's results: every figure in one file agrees with the others and with the gates."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import numpy as np

from tiktok_sim.audience import AUDIENCE_COLUMNS
from tiktok_sim.check.gates import audience_problems, gate_log_problems
from tiktok_sim.check.read import Malformed, Row, RunManifest, RunSummary, read_json, read_table, shaped
from tiktok_sim.metrics import (
    CREATOR_OF_VIDEO,
    RATE_OF,
    REACH_TOP,
    STOP_KINDS,
    TOP_SHARES,
    VIEW_SHARES,
    climbed,
    creator_figures,
    gini,
    top_share,
)
from tiktok_sim.model.exposure import GATE_NAMES
from tiktok_sim.output import (
    CREATOR_COLUMNS,
    GATE_COLUMNS,
    LEGACY_CREATOR_COLUMNS,
    LEGACY_VIDEO_COLUMNS,
    REACH_COLUMNS,
    VIDEO_COLUMNS,
)
from tiktok_sim.scenario.loader import scenario_sha256
from tiktok_sim.scenario.schema import AbsoluteGate, PercentileGate, RateName, Scenario, ScoreGate, Stage

RATE_COLUMNS = {"completion": "completions", "like": "likes", "comment": "comments", "share": "shares",
                "follow": "follows"}  # fmt: skip
TOLERANCE = 1e-9  # rates are recomputed from integer counts, so only float rounding may differ
WRITTEN_REL_TOL = 1e-5  # a float written to 6 significant digits is within half this of the engine's, relatively
WATCH_MEASURES = {"avg_watched": 1, "watch_time": 2}  # how many written floats (`watched`, `length_s`) each uses
STAGE_COLUMNS = ("video_id", "stage", "views", *RATE_COLUMNS.values(), "passed", "failed_gate", "failed_threshold")
"""What the gate replay reads; ``batch``, ``watched`` and ``length_s`` are used when present (older files lack them)."""
COUNT_COLUMNS = ("views", "completions", "likes", "comments", "shares", "follows", "not_interested", "reports")
STOP_REASONS = {"in_progress", "in_review", "removed", "ladder_complete", "no_audience"} | {
    f"{kind}:{gate}" for gate in GATE_NAMES if gate != "no_audience" for kind in STOP_KINDS
}


def run_problems(root: Path, manifest: RunManifest) -> list[str]:
    """Every disagreement between one run's files.

    Views are conserved; summary.json's counts, rates, inequality figures and funnel recompute
    from videos.csv; creators.csv and reach.csv agree with it, and each video's creator columns
    with its creator's row; stages.csv replays each video's climb and every promotion met its gates.

    Raises:
        Malformed: a file cannot be read as what it should be.
    """
    summary = shaped(RunSummary, read_json(root / "summary.json", "summary.json"), "summary.json")
    scenario = scenario_of(summary.scenario, "summary.json")
    problems = _identity_problems(manifest, summary, scenario)
    try:
        return problems + _table_problems(root, summary, scenario)
    except Malformed as exc:
        return [*problems, str(exc)]


def _table_problems(root: Path, summary: RunSummary, scenario: Scenario) -> list[str]:
    """The tables against summary.json, each other and the ladder."""
    video_columns, creator_columns = table_columns(summary.schema_version)
    videos = read_table(root / "videos.csv", "videos.csv", video_columns)
    creators = read_table(root / "creators.csv", "creators.csv", creator_columns)
    reach = read_table(root / "reach.csv", "reach.csv", REACH_COLUMNS)
    stages = read_table(root / "stages.csv", "stages.csv", STAGE_COLUMNS, exact=False)
    gates = read_table(root / "gates.csv", "gates.csv", GATE_COLUMNS)
    audience = read_table(root / "audience.csv", "audience.csv", AUDIENCE_COLUMNS)
    problems = video_problems(videos, len(scenario.ladder), "videos.csv")
    problems += _summary_problems(summary, videos, creators)
    problems += funnel_problems([row.model_dump() for row in summary.funnel], videos, "summary.json")
    problems += _ladder_funnel_problems(summary, scenario)
    problems += creator_problems(creators, videos)
    if summary.schema_version >= 2:
        problems += creator_column_problems(videos, creators, "videos.csv")
        problems += _region_problems(creators, scenario)
    problems += _featured_problems(summary, videos, creators, scenario.ladder)
    problems += _reach_problems(reach, videos, creators)
    problems += _order_problems(stages)
    problems += _climb_problems(stages, videos, len(scenario.ladder))
    problems += gate_log_problems(gates, stages, videos, scenario, _rates)
    problems += audience_problems(audience, videos, creators, [r.name for r in scenario.users.regions])
    return problems + _gate_problems(scenario, stages)


def table_columns(schema_version: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The columns of videos.csv and creators.csv in results of this schema version."""
    if schema_version >= 2:
        return VIDEO_COLUMNS, CREATOR_COLUMNS
    return LEGACY_VIDEO_COLUMNS, LEGACY_CREATOR_COLUMNS


def scenario_of(document: dict[str, object], name: str) -> Scenario:
    """The resolved scenario a results file records.

    Raises:
        Malformed: it is not a valid scenario.
    """
    try:
        return Scenario.model_validate(document)
    except ValueError as exc:
        raise Malformed(f"{name}: scenario: not a valid scenario ({str(exc).splitlines()[0]})") from None


def _identity_problems(manifest: RunManifest, summary: RunSummary, scenario: Scenario) -> list[str]:
    """The manifest and summary.json name the same seed and scenario, and the scenario hashes to it."""
    problems = []
    if manifest.schema_version not in (None, summary.schema_version):
        problems.append(f"schema_version: manifest.json says {manifest.schema_version}, "
                        f"summary.json says {summary.schema_version}")  # fmt: skip
    if manifest.seed != summary.seed:
        problems.append(f"seed: manifest.json says {manifest.seed}, summary.json says {summary.seed}")
    digest = scenario_sha256(scenario)
    for name, recorded in (("manifest.json", manifest.scenario_sha256), ("summary.json", summary.scenario_sha256)):
        if recorded != digest:
            problems.append(f"scenario_sha256: {name} says {recorded[:12]}, the scenario hashes to {digest[:12]}")
    return problems


def video_problems(videos: list[Row], ladder: int, name: str) -> list[str]:
    """Videos numbered 0, 1, ... in order, each on the ladder, with counts that are counts.

    Raises:
        Malformed: a stage off the ladder, a negative count or an unknown stop reason.
    """
    for i, video in enumerate(videos):
        if video.int("video_id") != i:
            return [f"{video.where}: video_id: expected {i} (one row per video, in order), found {video['video_id']}"]
        stage = video.int("stage_reached")
        if not -1 <= stage < ladder:
            raise Malformed(f"{video.where}: stage_reached: expected -1 to {ladder - 1}, found {stage}")
        if any(video.int(column) < 0 for column in COUNT_COLUMNS):
            raise Malformed(f"{video.where}: a count is negative")
        if video["stop_reason"] not in STOP_REASONS:
            raise Malformed(f"{video.where}: stop_reason: unknown reason {video['stop_reason']!r}")
    return []


def _summary_problems(summary: RunSummary, videos: list[Row], creators: list[Row]) -> list[str]:
    """summary.json's counts, rates and inequality figures, recomputed from the tables."""
    views = np.array([v.int("views") for v in videos], dtype=np.int64)
    totals = {column: sum(v.int(column) for v in videos) for column in COUNT_COLUMNS}
    per_view = max(int(views.sum()), 1)
    recomputed: dict[str, object] = {
        "videos": len(videos),
        "creators": len(creators),
        "impressions": int(views.sum()),
        "rates": {k: round(totals[column] / per_view, 6) for k, column in RATE_OF.items()},
        "views_gini": round(gini(views), 4),
        "top_share": {f"{round(s * 100)}%": round(top_share(views, s), 4) for s in TOP_SHARES} if views.size else {},
    }
    if summary.schema_version >= 2:
        recomputed |= {name: round(top_share(views, share), 4) for name, share in VIEW_SHARES.items()}
    problems = []
    for key, value in recomputed.items():
        written = getattr(summary, key)
        if key == "top_share" and not views.size:
            continue  # no videos: nothing to share
        if written != value:
            problems.append(f"summary.json: {key} is {written}, the tables give {value}")
    return problems


def _featured_problems(summary: RunSummary, videos: list[Row], creators: list[Row], ladder: list[Stage]) -> list[str]:
    """summary.json's per-creator figures of every featured creator, recomputed from the tables."""
    expected = {}
    for creator in (c for c in creators if c["featured"] == "1"):
        mine = [v for v in videos if v["creator_id"] == creator["creator_id"]]
        figures = creator_figures(
            np.array([v.int("views") for v in mine], dtype=np.int64),
            np.array([v.int("stage_reached") for v in mine], dtype=np.int64),
            np.array([v["stop_reason"] == "ladder_complete" for v in mine], dtype=bool),
            np.array([v["missed_gates"] for v in mine], dtype=object),
            ladder,
            (creator.int("initial_followers"), creator.int("followers_gained")),
        )
        expected[creator["name"]] = {k: None if math.isnan(x) else round(x, 6) for k, x in figures.items()}
    if summary.featured != expected:
        return [f"summary.json: featured creators' figures are {summary.featured}, the tables give {expected}"]
    return []


def _ladder_funnel_problems(summary: RunSummary, scenario: Scenario) -> list[str]:
    """One funnel row per stage of the ladder, in order, with the stage's pool."""
    expected = [(s, stage.pool) for s, stage in enumerate(scenario.ladder)]
    found = [(row.stage, row.pool_size) for row in summary.funnel]
    return [] if found == expected else [f"summary.json: funnel lists stages and pools {found}, the ladder {expected}"]


def creator_problems(creators: list[Row], videos: list[Row]) -> list[str]:
    """Creators numbered in order; each one's name, videos and views agree with videos.csv."""
    count, views = Counter[int](), Counter[int]()
    names: dict[int, str] = {}
    for video in videos:
        cid = video.int("creator_id")
        count[cid] += 1
        views[cid] += video.int("views")
        names.setdefault(cid, video["creator_name"])
    problems = []
    for i, creator in enumerate(creators):
        if creator.int("creator_id") != i:
            return [f"{creator.where}: creator_id: expected {i} (one row per creator, in order)"]
        found = (creator["name"], creator.int("videos"), creator.int("views"))
        expected = (names.get(i, creator["name"]), count.pop(i, 0), views.pop(i, 0))
        if found != expected:
            problems.append(f"{creator.where}: name, videos and views are {found}, videos.csv gives {expected}")
        if creator.int("featured") not in (0, 1):
            raise Malformed(f"{creator.where}: featured: expected 0 or 1, found {creator['featured']!r}")
    problems += [f"videos.csv: creator {cid} has videos but no row in creators.csv" for cid in sorted(count)]
    return problems


def creator_column_problems(videos: list[Row], creators: list[Row], name: str) -> list[str]:
    """Each video's creator columns (followers, region, language) are its creator's in creators.csv."""
    expected = {c["creator_id"]: tuple(c[source] for source in CREATOR_OF_VIDEO.values()) for c in creators}
    wrong = [v for v in videos if tuple(v[column] for column in CREATOR_OF_VIDEO) != expected.get(v["creator_id"])]
    if not wrong:
        return []
    first = wrong[0]
    found = tuple(first[column] for column in CREATOR_OF_VIDEO)
    return [f"{name}: {len(wrong):,} of {len(videos):,} videos do not carry their creator's "
            f"{', '.join(CREATOR_OF_VIDEO)} from creators.csv (first: {first.where}: {found}, "
            f"creators.csv gives {expected.get(first['creator_id'])})"]  # fmt: skip


def _region_problems(creators: list[Row], scenario: Scenario) -> list[str]:
    """Each creator lives in a region of the scenario and speaks its first language."""
    first = {region.name: region.languages[0] for region in scenario.users.regions}
    for creator in creators:
        if creator["region"] not in first:
            return [f"{creator.where}: region: {creator['region']!r} is not a region of the scenario"]
        if creator["language"] != first[creator["region"]]:
            return [f"{creator.where}: language: {creator['language']!r} is not region {creator['region']}'s "
                    f"first language, {first[creator['region']]!r}"]  # fmt: skip
    return []


def _reach_problems(reach: list[Row], videos: list[Row], creators: list[Row]) -> list[str]:
    """Each chosen video's cumulative views by hour: hours 0, 1, ..., never falling, ending at its views.

    The chosen videos are the featured creators' and the top ones by views, with any views.
    """
    views = np.array([v.int("views") for v in videos], dtype=np.int64)
    featured = {c.int("creator_id") for c in creators if c["featured"] == "1"}
    top = np.argsort(-views, kind="stable")[:REACH_TOP]
    chosen = sorted(i for i in {*top.tolist(), *(i for i, v in enumerate(videos) if v.int("creator_id") in featured)}
                    if views[i] > 0)  # fmt: skip
    curves: dict[int, list[tuple[int, int]]] = {}
    order = []
    for row in reach:
        vid = row.int("video_id")
        if vid not in curves:
            order.append(vid)
        curves.setdefault(vid, []).append((row.int("hour"), row.int("views")))
    if order != chosen:
        return [f"reach.csv: has curves for {len(order)} videos, videos.csv chooses {len(chosen)} (or another order)"]
    problems = []
    for vid, curve in curves.items():
        hours, cumulative = [h for h, _ in curve], [c for _, c in curve]
        rising = all(a <= b for a, b in itertools.pairwise(cumulative))
        if hours != list(range(len(hours))) or not rising or cumulative[-1] != views[vid]:
            problems.append(f"reach.csv: video {vid}'s curve is not its {views[vid]:,} views, hour by hour")
    return problems


def _order_problems(stages: list[Row]) -> list[str]:
    """Evaluations in the order they happened: batches numbered 0, 1, ... and minutes that never go back."""
    batch, minute = 0, -math.inf
    for row in stages:
        if "batch" in row:
            if row.int("batch") not in (batch, batch + 1) or (row is stages[0] and row.int("batch") != 0):
                return [f"{row.where}: batch {row['batch']} out of order (evaluations are written as they happen)"]
            batch = row.int("batch")
        if "evaluated_min" in row:
            if row.float("evaluated_min") < minute:
                return [f"{row.where}: evaluated before the row above it (evaluations are written as they happen)"]
            minute = row.float("evaluated_min")
    return []


def _climb_problems(stages: list[Row], videos: list[Row], ladder: int) -> list[str]:
    """Each video's evaluations replay its climb: passes at stages 0, 1, ..., then the stop videos.csv gives."""
    mine: dict[int, list[Row]] = {}
    for row in stages:
        stage = row.int("stage")
        if not 0 <= stage < ladder:
            raise Malformed(f"{row.where}: stage: expected 0 to {ladder - 1}, found {stage}")
        if row["passed"] not in ("0", "1"):
            raise Malformed(f"{row.where}: passed: expected 0 or 1, found {row['passed']!r}")
        mine.setdefault(row.int("video_id"), []).append(row)
    problems = [f"stages.csv: video {vid} is not in videos.csv" for vid in sorted(set(mine) - set(range(len(videos))))]
    for video in videos:
        evaluations = mine.get(video.int("video_id"), [])
        if not _leads_to(_climb(evaluations), video):
            problems.append(f"stages.csv: video {video['video_id']}'s evaluations do not lead to stage "
                            f"{video['stage_reached']}, {video['stop_reason']}")  # fmt: skip
    return problems


def _leads_to(climb: tuple[int, str], video: Row) -> bool:
    """Whether the evaluations' climb ends where the video's row says.

    Reports can send a video back to review after it stopped or finished the ladder, so a
    video removed or in review may end its climb with a failure, or one stage above.
    """
    stop = _stop(video)
    if video["stop_reason"] in ("removed", "in_review") and climb[0] != -2:
        return climb[0] == stop[0] or climb == (stop[0] + 1, "")
    return climb == stop


def _climb(evaluations: list[Row]) -> tuple[int, str]:
    """Where a video's evaluations leave it: the passes must come in stage order, with at most one failure, last."""
    passed = [e.int("stage") for e in evaluations if e["passed"] == "1"]
    failed = [e for e in evaluations if e["passed"] != "1"]
    if passed != list(range(len(passed))) or len(failed) > 1 or (failed and evaluations[-1] is not failed[0]):
        return -2, "out of order"
    if failed:
        gate, kind = failed[0]["failed_gate"], _closed_by(failed[0])
        return failed[0].int("stage"), gate if gate == "no_audience" else f"{kind}:{gate}"
    return len(passed), ""


def _closed_by(evaluation: Row) -> str:
    """How the failing evaluation's pool closed (see :data:`~tiktok_sim.metrics.STOP_KINDS`)."""
    if evaluation.get("early_stop") == "1":
        return "early_stop"
    return "short_served" if evaluation.get("short_served") == "1" else "gate"


def _stop(video: Row) -> tuple[int, str]:
    """What :func:`_climb` must give for this video."""
    stage, reason = video.int("stage_reached"), video["stop_reason"]
    if reason == "ladder_complete":
        return stage + 1, ""
    if reason.startswith(tuple(f"{kind}:" for kind in STOP_KINDS)) or reason == "no_audience":
        return stage, reason
    return max(stage, 0), ""  # still climbing, in review or removed: only passes so far


def funnel_problems(funnel: list[dict[str, int]], videos: list[Row], source: str) -> list[str]:
    """Each funnel row's entered and passed, recounted from the videos."""
    reached = np.array([v.int("stage_reached") for v in videos], dtype=np.int64)
    complete = np.array([v["stop_reason"] == "ladder_complete" for v in videos], dtype=bool)
    problems = []
    for row in funnel:
        s = row["stage"]
        entered, passed = climbed(reached, complete, s, len(funnel))
        if (row["entered"], row["passed"]) != (entered, passed):
            problems.append(
                f"funnel stage {s}: {source} says {row['entered']} entered / {row['passed']} passed, "
                f"videos.csv gives {entered} / {passed}"
            )
    return problems


def _gate_problems(scenario: Scenario, stages: list[Row]) -> list[str]:
    """Every promotion against its stage's gates.

    A percentile gate's cut-off is rebuilt the way the engine keeps it: from the scores of
    the stage's earlier evaluation batches, in file order, before each batch joins them.
    (Files without a ``batch`` column, from earlier versions, cannot be replayed; nor can an
    absolute gate's watch measures in files without ``watched`` and ``length_s``.)
    """
    problems = []
    recent: dict[tuple[int, int], list[float]] = {}  # (stage, gate index) -> newest scores
    for batch in _batches(stages):
        stage = batch[0].int("stage")
        gates = scenario.ladder[stage].gates
        rates = [_rates(row) for row in batch]
        cutoff = {}
        for g, gate in enumerate(gates):
            if isinstance(gate, PercentileGate) and "batch" in batch[0]:
                scores = recent.get((stage, g), [])
                cutoff[g] = float(np.quantile(scores, 1.0 - gate.top)) if len(scores) >= gate.warmup else -np.inf
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


def _cutoff_problems(row: Row, cutoffs: list[float]) -> list[str]:
    """A percentile failure must quote a replayed cut-off (written to 6 significant digits)."""
    if row.get("failed_gate") != "percentile" or not cutoffs:
        return []
    quoted = row.float("failed_threshold")
    if any(math.isclose(quoted, c, rel_tol=WRITTEN_REL_TOL, abs_tol=TOLERANCE) for c in cutoffs):
        return []
    return [f"video {row['video_id']} failed stage {row['stage']}'s percentile gate at {quoted:.6g}, "
            f"but the replayed cut-off is {', '.join(f'{c:.6g}' for c in cutoffs)}"]  # fmt: skip


def _batches(stages: list[Row]) -> list[list[Row]]:
    """Consecutive rows of one evaluation batch (each row alone if the file has no batches)."""
    batches: list[list[Row]] = []
    for row in stages:
        if batches and "batch" in row and batches[-1][0]["batch"] == row["batch"]:
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches


def _rates(row: Row) -> dict[str, float]:
    """What a gate can check, computed as :func:`~tiktok_sim.model.exposure.stage_rates` does.

    The watch measures are left out for files written before ``watched`` and ``length_s``.
    """
    views = row.int("views")
    rates = {gate: row.int(col) / views if views else 0.0 for gate, col in RATE_COLUMNS.items()}
    if "watched" in row and "length_s" in row:
        rates["avg_watched"] = row.float("watched") / max(views, 1)
        rates["watch_time"] = rates["avg_watched"] * row.float("length_s")
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
