"""gates.csv against stages.csv and videos.csv: every gate check of every evaluation, and what it decided."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from tiktok_sim.audience import DAYPARTS, DIMENSIONS, LANGUAGES, SOURCES
from tiktok_sim.check.read import Malformed, Row
from tiktok_sim.model.exposure import GATE_NAMES, check_names, clearly_failing
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.world.catalog import ACTIONS, A

WRITTEN_REL_TOL = 1e-5  # a float written to 6 significant digits is within half this of the engine's, relatively


def gate_log_problems(
    gates: list[Row],
    stages: list[Row],
    videos: list[Row],
    scenario: Scenario,
    rates: Callable[[Row], dict[str, float]],
) -> list[str]:
    """Each evaluation's gate checks agree with its verdict, its counts and the video's missed gates.

    Args:
        gates: gates.csv rows.
        stages: stages.csv rows.
        videos: videos.csv rows.
        scenario: the run's scenario (for the pools).
        rates: what an absolute gate reads, recomputed from a stages.csv row.
    """
    checks: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for row in gates:
        if row["gate"] not in GATE_NAMES:
            raise Malformed(f"{row.where}: gate: unknown gate {row['gate']!r}")
        checks[(row.int("batch"), row.int("video_id"))].append(row)
    evaluations = {(row.int("batch"), row.int("video_id")): row for row in stages}
    if list(checks) != [key for key in evaluations if _check_names(scenario, evaluations[key].int("stage"))]:
        return ["gates.csv: evaluations are not those of stages.csv, in its order"]
    last_missed: dict[int, set[str]] = {}
    problems = []
    for key, evaluation in evaluations.items():
        rows = checks.get(key, [])
        expected = _check_names(scenario, evaluation.int("stage"))
        if [row["gate"] for row in rows] != expected:
            problems.append(f"gates.csv: video {key[1]} in batch {key[0]} checks {[row['gate'] for row in rows]}, "
                            f"its stage {expected}")  # fmt: skip
            continue
        recomputed = rates(evaluation)
        problems += [
            f"{row.where}: value {row['value']}, but stages.csv's counts give {recomputed[row['gate']]:.6g}"
            for row in rows
            if row["gate"] in recomputed and not _close(row.float("value"), recomputed[row["gate"]])
        ]
        missed = {row["gate"] for row in rows if _missed(row)}
        problems += _verdict_problems(evaluation, missed, scenario)
        last_missed[key[1]] = missed  # evaluations are in time order: the last one wins
    for video in videos:
        written = set(filter(None, video["missed_gates"].split(";")))
        missed = last_missed.get(video.int("video_id"), set())
        if written != missed:
            problems.append(f"{video.where}: missed_gates {video['missed_gates']!r}, gates.csv gives "
                            f"{';'.join(sorted(missed))!r}")  # fmt: skip
    return problems


def _check_names(scenario: Scenario, stage: int) -> list[str]:
    return check_names(scenario.ladder[stage]) if 0 <= stage < len(scenario.ladder) else []


def _missed(row: Row) -> bool:
    """Below its threshold; an empty threshold is a percentile gate still warming up, which passes everything."""
    return row["threshold"] != "" and row.float("value") < row.float("threshold") * (1 - WRITTEN_REL_TOL)


def _verdict_problems(evaluation: Row, missed: set[str], scenario: Scenario) -> list[str]:
    """The verdict follows from the checks, and a short-served pool is flagged as such."""
    where = f"stages.csv: video {evaluation['video_id']} at stage {evaluation['stage']}"
    problems = []
    failed = evaluation["failed_gate"]
    if evaluation["passed"] == "1" and missed:
        problems.append(f"{where}: passed, but gates.csv shows it missed {', '.join(sorted(missed))}")
    elif evaluation["passed"] != "1" and failed != "no_audience" and failed not in missed:
        problems.append(f"{where}: failed {failed}, but gates.csv shows that gate met")
    if evaluation.get("early_stop") == "1":
        problems += _early_problems(evaluation, scenario, where)
    if "pool" in evaluation:
        pool = scenario.ladder[evaluation.int("stage")].pool
        short = evaluation.int("views") < pool
        if evaluation.int("pool") != pool or evaluation["short_served"] != str(int(short)):
            problems.append(
                f"{where}: pool {evaluation['pool']}, short_served {evaluation['short_served']}; "
                f"the ladder's pool is {pool}, and {evaluation['views']} views make it {int(short)}"
            )
    return problems


def _early_problems(evaluation: Row, scenario: Scenario, where: str) -> list[str]:
    """An early stop needs the stage's rule, a failure, and counts clearly below one of its rate gates."""
    stage = scenario.ladder[evaluation.int("stage")]
    if stage.early_stop is None:
        return [f"{where}: stopped early, but the stage has no early_stop rule"]
    if evaluation["passed"] == "1" or evaluation["short_served"] != "1":
        return [f"{where}: an early stop must fail on a short-served pool"]
    counts = np.zeros((1, len(ACTIONS)), dtype=np.int64)
    for name, column in A.items():
        counts[0, column] = evaluation.int(name)
    if not clearly_failing(stage, counts)[0]:
        return [f"{where}: stopped early, but {evaluation['views']} views do not put it clearly below a gate "
                f"at {stage.early_stop.confidence:g} confidence"]  # fmt: skip
    return []


def _close(a: float, b: float) -> bool:
    """Equal as written to 6 significant digits (watch measures carry two written floats' rounding)."""
    return math.isclose(a, b, rel_tol=3 * WRITTEN_REL_TOL, abs_tol=1e-12)


def audience_problems(rows: list[Row], videos: list[Row], creators: list[Row], regions: list[str]) -> list[str]:
    """audience.csv covers exactly the featured creators' videos, in order, and each dimension adds up to them."""
    values = dict(zip(DIMENSIONS, (SOURCES, LANGUAGES, tuple(regions), DAYPARTS), strict=True))
    featured = {c["creator_id"] for c in creators if c["featured"] == "1"}
    order = []
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        dimension, value = row["dimension"], row["value"]
        if dimension not in values or value not in values[dimension]:
            raise Malformed(f"{row.where}: {dimension}: unknown value {value!r}")
        vid = row.int("video_id")
        order.append((vid, DIMENSIONS.index(dimension), values[dimension].index(value)))
        sums[(vid, dimension)][0] += row.int("views")
        sums[(vid, dimension)][1] += row.int("completions")
    if order != sorted(set(order)):
        return ["audience.csv: rows are not one per video, dimension and value, in that order"]
    problems = []
    for video in videos:
        vid, mine = video.int("video_id"), video["creator_id"] in featured
        for dimension in DIMENSIONS:
            got = sums.pop((vid, dimension), [0, 0])
            if mine and got != [video.int("views"), video.int("completions")]:
                problems.append(
                    f"audience.csv: video {vid}'s {dimension} rows add up to {got[0]} views and {got[1]} "
                    f"completions, videos.csv says {video['views']} and {video['completions']}"
                )
    problems += [f"audience.csv: video {vid} is not a featured creator's video in videos.csv" for vid, _ in sums]
    return problems
