"""What should a creator change? Each controllable lever tried alone, then the best ones together.

Every variant changes only the featured creator's entry and runs on the same seeds as the
base scenario (common random numbers), so each replication is a paired comparison: the
world, the audience and everyone else's uploads are drawn identically, and the difference
is the lever's effect. Intervals are 95% paired-t; with several levers, significance is
Holm-adjusted so that "this helps" stays a 5% claim over the whole table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiktok_sim.experiments import holm, interval, run_tasks, task_seed
from tiktok_sim.model.exposure import check_names
from tiktok_sim.resources import estimate
from tiktok_sim.scenario.schema import Scenario

OUTCOMES = ("views_mean", "views_median", "pass_rate_stage_0", "reach_pool_1", "followers_gained")
"""Creator figures advise can rank levers by (see :func:`tiktok_sim.metrics.creator_figures`)."""
MIN_REPS, MAX_REPS = 3, 30


@dataclass(frozen=True)
class Lever:
    """One change to the creator's entry: what it is called, in words, and the keys it sets."""

    name: str
    change: str
    updates: dict[str, Any]


@dataclass(frozen=True)
class Effect:
    """A lever's paired effect on the outcome, and the gate it relieves most."""

    lever: Lever
    mean: float
    lo: float
    hi: float
    p_holm: float
    relieves: str  # "completion (missed by 67% -> 20% of videos)", or ""

    @property
    def helps(self) -> bool:
        """A Holm-significant improvement."""
        return self.p_holm < 0.05 and self.mean > 0


@dataclass(frozen=True)
class Advice:
    """The base outcome, every lever's effect (best first) and the combination's."""

    creator: str
    outcome: str
    reps: int
    base: float
    effects: list[Effect]
    combined: Effect | None


def levers(scenario: Scenario, index: int) -> list[Lever]:
    """The featured creator's controllable levers, each moved over a realistic step."""
    f = scenario.featured[index]
    out = []
    if f.hook <= 0.8:
        out.append(Lever("hook", f"{f.hook:.2f} -> {f.hook + 0.2:.2f}", {"hook": round(f.hook + 0.2, 4)}))
    if f.quality <= 0.8:
        out.append(
            Lever("quality", f"{f.quality:.2f} -> {f.quality + 0.2:.2f}", {"quality": round(f.quality + 0.2, 4)})
        )
    length = f.video_length_s / 2 if f.video_length_s > 20 else f.video_length_s * 2
    out.append(Lever("length", f"{f.video_length_s:g} s -> {length:g} s", {"video_length_s": length}))
    peak = sorted(np.argsort(scenario.users.diurnal)[-3:].tolist())
    if f.schedule:  # exact times: move them to the peak; the rate is the schedule itself
        at_peak = [f"{h:02d}:00" for h in peak]
        if f.schedule != at_peak:
            out.append(Lever("posting hours", f"{', '.join(f.schedule)} -> {', '.join(at_peak)} daily (the "
                             "audience's peak)", {"schedule": at_peak}))  # fmt: skip
    elif f.post_hours is not None and f.posts_per_day is not None:
        if sorted(set(f.post_hours)) != peak:
            out.append(Lever("posting hours", f"{_hours(f.post_hours)} -> {_hours(peak)} (the audience's peak)",
                             {"post_hours": peak}))  # fmt: skip
        out.append(Lever("posts per day", f"{f.posts_per_day:g} -> {f.posts_per_day * 2:g}",
                         {"posts_per_day": f.posts_per_day * 2}))  # fmt: skip
    trending = scenario.videos.trending_sound_prob if f.trending_sound_prob is None else f.trending_sound_prob
    sound = 1.0 if trending < 0.5 else 0.0
    out.append(Lever("sound", f"trending {trending:.0%} -> {sound:.0%} of uploads", {"trending_sound_prob": sound}))
    if len(f.niche) > 1:
        out.append(Lever("niche", f"{', '.join(f.niche)} -> {f.niche[0]} only", {"niche": f.niche[:1]}))
    else:
        extra = scenario.topics[(scenario.topics.index(f.niche[0]) + 1) % len(scenario.topics)]
        if extra != f.niche[0]:
            out.append(Lever("niche", f"{f.niche[0]} -> {f.niche[0]}, {extra}", {"niche": [f.niche[0], extra]}))
    # Not in the creator's hands this week, but it answers "would a bigger following do it?"
    out.append(Lever("followers", f"{f.followers:,} -> {f.followers * 2:,}", {"followers": f.followers * 2}))
    regions = scenario.users.regions
    largest = max(regions, key=lambda r: r.share).name
    if len(regions) > 1 and (f.region or regions[0].name) != largest:
        out.append(Lever("region", f"{f.region or regions[0].name} -> {largest} (the largest audience)",
                         {"region": largest}))  # fmt: skip
    return out


def _hours(hours: list[int]) -> str:
    return ", ".join(f"{h:02d}:00" for h in sorted(set(hours)))


def with_updates(scenario: Scenario, index: int, updates: dict[str, Any]) -> Scenario:
    """The scenario with the featured creator's entry changed, validated like any scenario."""
    document = scenario.model_dump(mode="json")
    document["featured"][index].update(updates)
    return Scenario.model_validate(document)


def plan_reps(scenario: Scenario, variants: int, budget_s: float, workers: int) -> int:
    """Replications per variant that fit ``budget_s`` on ``workers`` cores, within [MIN_REPS, MAX_REPS].

    ``variants`` counts the base; one more set of runs verifies the best levers together.
    """
    per_run = max(estimate(scenario).seconds, 0.5)
    fit = int(budget_s * workers / (per_run * (variants + 1)))
    return min(max(fit, MIN_REPS), MAX_REPS)


def featured_index(scenario: Scenario, creator: str) -> int:
    """Where ``creator`` is among the featured creators.

    Raises:
        ValueError: no featured creator has that name.
    """
    names = [f.name for f in scenario.featured]
    if creator not in names:
        raise ValueError(
            f"expected a featured creator ({', '.join(names) or 'none in the scenario'}), found {creator!r}"
        )
    return names.index(creator)


def check_outcome(outcome: str) -> None:
    """Raises ValueError unless ``outcome`` is one of :data:`OUTCOMES`."""
    if outcome not in OUTCOMES:
        raise ValueError(f"expected one of {', '.join(OUTCOMES)}, found {outcome!r}")


def advise(
    scenario: Scenario,
    creator: str,
    reps: int,
    root_seed: int,
    outcome: str = "views_mean",
    run: Callable[[list[tuple[Scenario, int]]], list[dict[str, float]]] | None = None,
) -> Advice:
    """Rank the creator's levers by their paired effect on ``outcome``, then verify the best together.

    Args:
        scenario: the resolved base scenario.
        creator: a featured creator's name.
        reps: paired replications per variant (at least 2).
        root_seed: root of the shared seeds.
        outcome: one of :data:`OUTCOMES`.
        run: runs (scenario, seed) tasks and returns each one's key metrics (default: serially).

    Raises:
        ValueError: an unknown creator or outcome, or fewer than 2 reps.
    """
    index = featured_index(scenario, creator)
    check_outcome(outcome)
    if reps < 2:
        raise ValueError(f"--reps: expected at least 2 for a paired interval, found {reps}")
    run = run or (lambda tasks: run_tasks(tasks, "serial"))
    seeds = [task_seed(root_seed, 0, r) for r in range(reps)]
    options = levers(scenario, index)
    variants = [scenario] + [with_updates(scenario, index, lever.updates) for lever in options]
    rows = run([(s, seed) for s in variants for seed in seeds])
    per_variant = [rows[i * reps : (i + 1) * reps] for i in range(len(variants))]
    gates = list(dict.fromkeys(g for stage in scenario.ladder for g in check_names(stage)))
    measure = _Measure(creator, outcome, gates, per_variant[0])
    effects = measure.effects(options, per_variant[1:])
    chosen = [e.lever for e in effects if e.helps] or [e.lever for e in effects[:2] if e.mean > 0]
    combined = None
    if len(chosen) > 1:
        both = Lever(" + ".join(lever.name for lever in chosen), "; ".join(lever.change for lever in chosen),
                     {k: v for lever in chosen for k, v in lever.updates.items()})  # fmt: skip
        extra = run([(with_updates(scenario, index, both.updates), seed) for seed in seeds])
        combined = measure.effects([both], [extra])[0]
    return Advice(creator, outcome, reps, measure.base_mean, effects, combined)


class _Measure:
    """Paired differences of one creator's figures against the base runs."""

    def __init__(self, creator: str, outcome: str, gates: list[str], base: list[dict[str, float]]) -> None:
        self._creator, self._outcome, self._gates = creator, outcome, gates
        self._base = base
        values = self._values(base, outcome)
        self.base_mean = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan

    def _values(self, rows: list[dict[str, float]], figure: str) -> np.ndarray:
        return np.array([row.get(f"{figure}_{self._creator}", math.nan) for row in rows], dtype=np.float64)

    def effects(self, options: list[Lever], runs: list[list[dict[str, float]]]) -> list[Effect]:
        """Each lever's effect, best first, with Holm-adjusted p-values over all of them."""
        base = self._values(self._base, self._outcome)
        found = []
        for lever, rows in zip(options, runs, strict=True):
            diff = self._values(rows, self._outcome) - base
            diff = diff[np.isfinite(diff)]
            mean, _, lo, hi = interval(diff)
            p = _p_value(diff)
            found.append((lever, mean, lo, hi, p, self._relieves(rows)))
        adjusted = holm(np.array([p for *_, p, _ in found])).tolist()
        effects = [Effect(lever, m, lo, hi, q, r) for (lever, m, lo, hi, _, r), q in zip(found, adjusted, strict=True)]
        return sorted(effects, key=lambda e: -e.mean if math.isfinite(e.mean) else math.inf)

    def _relieves(self, rows: list[dict[str, float]]) -> str:
        """The gate whose miss share the lever lowers most, with both shares."""
        best, text = 0.0, ""
        for gate in self._gates:
            before = float(np.nanmean(self._values(self._base, f"missed_{gate}")))
            after = float(np.nanmean(self._values(rows, f"missed_{gate}")))
            if after - before < best:
                best, text = after - before, f"{gate} (missed by {before:.0%} -> {after:.0%} of videos)"
        return text


def _p_value(diff: np.ndarray) -> float:
    """Two-sided paired-t p-value of a mean difference of zero (1 when it cannot be computed)."""
    from scipy import stats  # only advise needs it: keep the CLI's start-up light

    if diff.size < 2 or not np.any(diff != diff[0]):
        return 0.0 if diff.size >= 2 and diff[0] != 0 else 1.0
    return float(stats.ttest_1samp(diff, 0.0).pvalue)
