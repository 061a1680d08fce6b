"""gates.csv against stages.csv and videos.csv: every gate check of every evaluation, and what it decided."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from tiktok_sim.check.read import Malformed, Row
from tiktok_sim.model.exposure import GATE_NAMES, check_names
from tiktok_sim.scenario.schema import Scenario

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
    if "pool" in evaluation:
        pool = scenario.ladder[evaluation.int("stage")].pool
        short = evaluation.int("views") < pool
        if evaluation.int("pool") != pool or evaluation["short_served"] != str(int(short)):
            problems.append(
                f"{where}: pool {evaluation['pool']}, short_served {evaluation['short_served']}; "
                f"the ladder's pool is {pool}, and {evaluation['views']} views make it {int(short)}"
            )
    return problems


def _close(a: float, b: float) -> bool:
    """Equal as written to 6 significant digits (watch measures carry two written floats' rounding)."""
    return math.isclose(a, b, rel_tol=3 * WRITTEN_REL_TOL, abs_tol=1e-12)
