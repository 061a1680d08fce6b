"""The published figures the default world should reproduce, and how far a scenario's runs land from them.

Each :class:`Figure` names a key metric of a run (see :func:`calibration_metrics`), the
published value, the band the simulated mean must fall in, and its source. ``tiktok-sim
calibrate`` replicates a scenario and sets every figure's mean and 95% interval beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tiktok_sim.metrics import calibration, engagement_per_view, gini, watch_quantile
from tiktok_sim.results import RunResult
from tiktok_sim.scenario.schema import Scenario

Task = tuple[Scenario, int]
Row = dict[str, float]


@dataclass(frozen=True)
class Figure:
    """One published figure and the band a simulated mean must fall in.

    Attributes:
        metric: the key metric holding the simulated value.
        label: what it measures, for the table.
        published: the published value, as the source gives it.
        low, high: the tolerance band for the simulated mean.
        source: where the published value comes from.
        percent: shown as a percentage.
    """

    metric: str
    label: str
    published: str
    low: float
    high: float
    source: str
    percent: bool = False

    def holds(self, value: float) -> bool:
        """Whether a simulated value is inside the band."""
        return math.isfinite(value) and self.low <= value <= self.high

    def widened(self, slack: float) -> Figure:
        """The same figure with a band wider by ``slack`` of its published centre on each side (for small worlds)."""
        pad = slack * (self.low + self.high) / 2
        return Figure(self.metric, self.label, self.published, self.low - pad, self.high + pad, self.source,
                      self.percent)  # fmt: skip


KUAIREC = "KuaiRec"
FIGURES: tuple[Figure, ...] = (
    Figure("views_gini", "views per video, Gini", "0.93", 0.88, 0.97, "tiktokodds.com 2020"),
    Figure("engagement_per_view_median", "engagement per view, median video", "3.4%", 0.025, 0.045,
           "Rival IQ 2024", percent=True),
    Figure("video_length_median_s", "video length, median (s)", "9.6", 9.0, 10.5, KUAIREC),
    Figure("video_length_p25_s", "video length, p25 (s)", "7.4", 7.4 * 0.9, 7.4 * 1.1, KUAIREC),
    Figure("video_length_p75_s", "video length, p75 (s)", "12.2", 12.2 * 0.9, 12.2 * 1.1, KUAIREC),
    Figure("plays_per_user_day", "plays per user per day", "66.5", 60.0, 73.0, KUAIREC),
    Figure("personalization_lift_200", "cold-start affinity, views 175-200 / 0-25", "rises within ~200", 1.2,
           math.inf, "Baumann et al. 2025"),
    Figure("exploit_share_first_200", "early impressions on a top-3 interest", "30-50%", 0.30, 0.50,
           "Vombatkere et al. 2024", percent=True),
    Figure("watch_ratio_p25", "watch ratio, p25", "0.311", 0.311 * 0.85, 0.311 * 1.15, KUAIREC),
    Figure("watch_ratio_median", "watch ratio, median", "0.716", 0.716 * 0.9, 0.716 * 1.1, KUAIREC),
    Figure("watch_ratio_p75", "watch ratio, p75 (loops)", "1.162", 1.162 * 0.9, 1.162 * 1.1, KUAIREC),
)  # fmt: skip
"""Every published figure the default world is checked against, in table order."""
FIGURE_METRICS = frozenset(figure.metric for figure in FIGURES)


def calibration_metrics(result: RunResult) -> dict[str, float]:
    """One run's value of every figure in :data:`FIGURES` (NaN where the run has no data for it)."""
    cal = calibration(result)
    lengths = result.videos["length_s"]
    epv = engagement_per_view(result.videos)
    curve = np.asarray(result.personalization, dtype=np.float64)
    lift = curve[-1] / curve[0] if curve.size and np.isfinite(curve[[0, -1]]).all() and curve[0] > 0 else math.nan
    hist = result.watch_hist
    return {
        "views_gini": gini(result.videos["views"]),
        "engagement_per_view_median": float(np.median(epv)) if epv.size else math.nan,
        "video_length_median_s": float(np.median(lengths)) if lengths.size else math.nan,
        "video_length_p25_s": float(np.quantile(lengths, 0.25)) if lengths.size else math.nan,
        "video_length_p75_s": float(np.quantile(lengths, 0.75)) if lengths.size else math.nan,
        "plays_per_user_day": float(cal["plays_per_user_day_mean"]),
        "personalization_lift_200": float(lift),
        "exploit_share_first_200": float(result.exploit_share),
        "watch_ratio_p25": watch_quantile(hist, 0.25),
        "watch_ratio_median": watch_quantile(hist, 0.50),
        "watch_ratio_p75": watch_quantile(hist, 0.75),
    }


@dataclass(frozen=True)
class Verdict:
    """One figure's simulated mean and 95% interval over replications, and whether the mean is in its band."""

    figure: Figure
    mean: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def ok(self) -> bool:
        """The simulated mean is inside the figure's band."""
        return self.figure.holds(self.mean)


def calibrate(scenario: Scenario, reps: int, root_seed: int, run: Callable[[list[Task]], list[Row]]) -> list[Verdict]:
    """Replicate ``scenario`` and judge every figure.

    Args:
        scenario: the world to check (the defaults, for the published figures).
        reps: replications, on seeds derived from ``root_seed`` as every experiment's are.
        root_seed: the root seed.
        run: runs (scenario, seed) tasks with a measure and returns each one's figures
            (``experiments.run_tasks`` on an executor).
    """
    from tiktok_sim.experiments import gather, task_seed

    seeds = [task_seed(root_seed, 0, r) for r in range(reps)]
    return verdicts(gather(seeds, run([(scenario, seed) for seed in seeds])).metrics)


def verdicts(metrics: dict[str, np.ndarray], figures: tuple[Figure, ...] = FIGURES) -> list[Verdict]:
    """Every figure's verdict from per-replication metric values (NaNs, a failed replication's, dropped).

    Proportions get the interval that stays inside [0, 1], everything else the t-interval.
    """
    from tiktok_sim.experiments import interval, rate_interval

    out = []
    for figure in figures:
        values = np.asarray(metrics.get(figure.metric, np.zeros(0)), dtype=np.float64)
        finite = values[np.isfinite(values)]
        mean, _sd, low, high = (rate_interval if figure.percent else interval)(finite)
        out.append(Verdict(figure, mean, low, high, int(finite.size)))
    return out
