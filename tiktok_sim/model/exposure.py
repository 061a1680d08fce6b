"""The ladder's gates: does a video's stage performance earn the next pool?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.scenario.schema import AbsoluteGate, PercentileGate, RateName, ScoreGate, Stage
from tiktok_sim.world.catalog import A

RATE_COLUMNS = {
    "completion": A["completions"],
    "like": A["likes"],
    "comment": A["comments"],
    "share": A["shares"],
    "follow": A["follows"],
}
GATE_NAMES = (*RATE_COLUMNS, "score", "percentile", "no_audience", "avg_watched", "watch_time")
"""Failure codes: index into this tuple; -1 means passed."""
GATE_CODE = {name: i for i, name in enumerate(GATE_NAMES)}


@dataclass(frozen=True)
class Verdict:
    """Gate outcome per video.

    Attributes:
        passed: (n,) bool.
        failed: (n,) int16 code into GATE_NAMES of the worst-missed gate, -1 if passed.
        value: (n,) float64 the video's value on that gate (NaN if passed).
        threshold: (n,) float64 the gate's minimum (NaN if passed).
        checks: (k,) int16 code into GATE_NAMES of every check the stage makes, in order.
        values: (n, k) float64 each video's value on each check.
        thresholds: (n, k) float64 each check's minimum.
    """

    passed: np.ndarray
    failed: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    checks: np.ndarray
    values: np.ndarray
    thresholds: np.ndarray


def check_names(stage: Stage) -> list[str]:
    """The checks an evaluation at ``stage`` makes, in order: each threshold of an absolute gate, or the gate."""
    names: list[str] = []
    for gate in stage.gates:
        if isinstance(gate, AbsoluteGate):
            names += gate.thresholds()
        else:
            names.append("score" if isinstance(gate, ScoreGate) else "percentile")
    return names


def stage_rates(counts: np.ndarray, watched: np.ndarray, length_s: np.ndarray) -> dict[str, np.ndarray]:
    """What a gate can check, per video.

    Args:
        counts: (n, len(ACTIONS)) stage counters.
        watched: (n,) summed share watched (replays count once) at this stage.
        length_s: (n,) video lengths.

    Returns:
        The per-impression rates, ``avg_watched`` (mean share watched) and ``watch_time``
        (mean seconds watched per view).
    """
    views = np.maximum(counts[:, A["views"]], 1)
    rates = {name: counts[:, col] / views for name, col in RATE_COLUMNS.items()}
    rates["avg_watched"] = watched / views
    rates["watch_time"] = rates["avg_watched"] * length_s
    return rates


def clearly_failing(stage: Stage, counts: np.ndarray) -> np.ndarray:
    """(n,) bool: videos whose stage counts say, at the stage's early-stop confidence, that a rate gate will fail.

    For each absolute rate gate with minimum ``t``, a video with ``k`` of ``n`` views is clearly
    below it when P(X <= k) < 1 - confidence for X ~ Binomial(n, t): its true rate is below
    ``t`` at that confidence. Only videos with at least ``min_views`` views are judged.
    """
    return EarlyStops([stage]).failing(np.zeros(counts.shape[0], dtype=np.int64), counts)


class EarlyStops:
    """The ladder's early-stop rules as per-stage tables: every open video judged in one pass.

    A stage without a rule judges nothing. Where two absolute gates set the same rate, the
    higher minimum decides: P(X <= k) falls as the minimum rises.
    """

    def __init__(self, ladder: list[Stage]) -> None:
        """Tabulate each stage's smallest judged views, confidence and minimum of each rate."""
        self._min_views = np.array([s.early_stop.min_views if s.early_stop else np.inf for s in ladder])
        self._doubt = np.array([1.0 - s.early_stop.confidence if s.early_stop else 0.0 for s in ladder])
        self._need = {name: np.array([_highest_minimum(s, name) for s in ladder]) for name in RATE_COLUMNS}

    def failing(self, stage: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """(n,) bool: videos at ``stage`` whose ``counts`` are clearly below a rate gate (:func:`clearly_failing`)."""
        from scipy.special import bdtr

        views = counts[:, A["views"]]
        judged = views >= self._min_views[stage]
        failing = np.zeros(counts.shape[0], dtype=bool)
        for name, column in RATE_COLUMNS.items():
            if not self._need[name].any():
                continue
            need, hits = self._need[name][stage], counts[:, column]
            # At or above the minimum, P(X <= k) is about 1/2 or more, never below 1 - confidence
            # (confidence > 1/2): only videos below it need the costly tail.
            below = np.flatnonzero(judged & (hits < need * views))
            failing[below] |= bdtr(hits[below], views[below], need[below]) < self._doubt[stage[below]]
        return failing


def _highest_minimum(stage: Stage, name: str) -> float:
    """The highest minimum of rate ``name`` among the stage's absolute gates (0: none; judged only with a rule)."""
    if stage.early_stop is None:
        return 0.0
    needs = [gate.thresholds().get(name, 0.0) for gate in stage.gates if isinstance(gate, AbsoluteGate)]
    return max([0.0, *needs])


def weighted_score(rates: dict[str, np.ndarray], weights: dict[RateName, float]) -> np.ndarray:
    """(n,) float64 weighted sum of rates."""
    n = next(iter(rates.values())).size
    return sum((w * rates[name] for name, w in weights.items()), np.zeros(n))


class ScoreHistory:
    """Recent scores per (stage, gate) for relative gates; a fixed-size ring each."""

    def __init__(self) -> None:
        """Start empty."""
        self._rings: dict[tuple[int, int], list[np.ndarray]] = {}

    def threshold(self, key: tuple[int, int], top: float, warmup: int) -> float:
        """Score needed to be in the top share of the recent history (-inf until it holds ``warmup`` scores)."""
        ring = self._rings.get(key)
        if not ring or ring[0].size < warmup:
            return -np.inf
        return float(np.quantile(ring[0], 1.0 - top))

    def push(self, key: tuple[int, int], scores: np.ndarray, size: int) -> None:
        """Append scores, keeping the newest ``size``."""
        old = self._rings.get(key, [np.empty(0)])[0]
        self._rings[key] = [np.concatenate([old, scores])[-size:]]


def evaluate(
    stage_index: int,
    stage: Stage,
    counts: np.ndarray,
    watched: np.ndarray,
    length_s: np.ndarray,
    history: ScoreHistory,
) -> Verdict:
    """Check a batch of videos against one stage's gates.

    Args:
        stage_index: position of the stage on the ladder (keys the relative history).
        stage: its pool, window and gates.
        counts: (n, len(ACTIONS)) counters of what each video got at this stage.
        watched: (n,) summed share watched at this stage.
        length_s: (n,) video lengths in seconds.
        history: recent scores for relative gates, updated with this batch.
    """
    n = counts.shape[0]
    rates = stage_rates(counts, watched, length_s)
    # Track the worst relative shortfall (value / threshold) across every failing check.
    worst = np.full(n, np.inf)
    failed = np.full(n, -1, dtype=np.int16)
    value = np.full(n, np.nan)
    threshold = np.full(n, np.nan)
    checks: list[tuple[int, np.ndarray, np.ndarray]] = []  # every gate's value, for the gate log

    def check(code: int, got: np.ndarray, need: float | np.ndarray) -> None:
        need_arr = np.broadcast_to(np.asarray(need, dtype=np.float64), got.shape)
        checks.append((code, got, need_arr))
        miss = got < need_arr
        ratio = np.where(need_arr > 0, got / np.where(need_arr > 0, need_arr, 1.0), 0.0)
        take = miss & (ratio < worst)
        worst[take] = ratio[take]
        failed[take] = code
        value[take] = got[take]
        threshold[take] = need_arr[take]

    for g, gate in enumerate(stage.gates):
        if isinstance(gate, AbsoluteGate):
            for name, need in gate.thresholds().items():
                check(GATE_CODE[name], rates[name], need)
        elif isinstance(gate, ScoreGate):
            check(GATE_CODE["score"], weighted_score(rates, gate.weights), gate.min)
        elif isinstance(gate, PercentileGate):
            scores = weighted_score(rates, gate.weights)
            check(GATE_CODE["percentile"], scores, history.threshold((stage_index, g), gate.top, gate.warmup))
            history.push((stage_index, g), scores, gate.history)

    empty = counts[:, A["views"]] == 0
    failed[empty] = GATE_CODE["no_audience"]
    value[empty], threshold[empty] = 0.0, 1.0
    return Verdict(
        passed=failed < 0,
        failed=failed,
        value=value,
        threshold=threshold,
        checks=np.array([c[0] for c in checks], dtype=np.int16),
        values=np.stack([c[1] for c in checks], axis=1) if checks else np.empty((n, 0)),
        thresholds=np.stack([c[2] for c in checks], axis=1) if checks else np.empty((n, 0)),
    )
