"""Experiments: replications, sweeps and paired comparisons, on serial, process or Dask executors.

Each task's seed comes from its identity (scenario index, replication) under one root
``SeedSequence``, never from a worker, so results do not depend on the executor or on
how many workers there are.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from scipy import stats

from tiktok_sim.errors import SchedulerUnreachable, TasksFailed
from tiktok_sim.executors import EXECUTORS
from tiktok_sim.metrics import VIEW_SHARES, featured_figures, funnel, gini, top_share
from tiktok_sim.output import CREATOR_COLUMNS, VIDEO_COLUMNS
from tiktok_sim.results import RunResult
from tiktok_sim.scenario.loader import scenario_sha256
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.scenario.sweep import texts, yaml_values
from tiktok_sim.shards import ShardStore, metrics_of
from tiktok_sim.single_run import simulate

CONFIDENCE = 0.95
REACH_PREFIX = "reach:"
"""Metric keys holding a featured creator's median reach curve, one per hour since upload."""
VIEWER_METRICS: dict[str, tuple[str, ...]] = {
    "viewers_entropy_start": ("feed_topic_entropy_bits", "start"),
    "viewers_entropy_end": ("feed_topic_entropy_bits", "end"),
    "viewers_top3_share_start": ("top3_interest_share", "start"),
    "viewers_top3_share_end": ("top3_interest_share", "end"),
    "viewers_exploration_share": ("exploration_share",),
    "viewers_other_language_share": ("other_language_share",),
    "viewers_videos_to_personalization": ("median_videos_to_personalization",),
    "viewers_personalized_share": ("personalized_share",),
    "viewers_hides_per_1000": ("hides_per_1000",),
    "viewers_reports_per_1000": ("reports_per_1000",),
}
"""Flat metric name -> path of its figure in ``RunResult.viewers`` (the summary's ``viewers`` block)."""
PASS_RATE_PREFIX = "pass_rate_stage_"
VIEWER_RATES = frozenset(
    {"viewers_top3_share_start", "viewers_top3_share_end", "viewers_exploration_share",
     "viewers_other_language_share", "viewers_personalized_share"}
)  # fmt: skip
"""Viewer figures that are shares of impressions or viewers (entropy, counts and per-1000 figures are not)."""
Params = dict[str, Any]
"""A sweep point's swept values, typed as the overrides applied them (see :func:`~tiktok_sim.scenario.sweep.typed`)."""


def is_rate(metric: str) -> bool:
    """Whether a metric is a proportion in [0, 1].

    That is a stage's pass rate, a viewers share, a top share of views, or a creator's share of
    videos reaching a pool or missing a gate.

    A rate's interval is :func:`rate_interval`, which stays inside [0, 1].
    """
    rates = metric.startswith((PASS_RATE_PREFIX, "reach_pool_", "missed_"))
    return rates or metric in VIEWER_RATES or metric in VIEW_SHARES


def task_seed(root: int, scenario_index: int, replication: int) -> int:
    """The seed of one task, derived from its identity under the experiment's root seed."""
    sequence = np.random.SeedSequence(root, spawn_key=(scenario_index, replication))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class TaskOutput:
    """What one task sends back: its key metrics and, when results are kept, its tidy tables.

    Attributes:
        metrics: metric name -> value (see :func:`key_metrics`).
        tables: ``videos``, ``funnel`` and ``creators`` as column arrays; empty when no store keeps them.
    """

    metrics: dict[str, float]
    tables: dict[str, Columns]


Measure = Callable[[RunResult], dict[str, float]]
"""What a task reduces its run to: :func:`key_metrics`, or another module-level function (workers import it)."""


def run_task(scenario: Scenario, seed: int, with_tables: bool = False, measure: Measure | None = None) -> TaskOutput:
    """Run once; reduce the result to key metrics, or ``measure``'s figures (and tidy tables if asked)."""
    result = simulate(scenario, seed=seed)
    return TaskOutput((measure or key_metrics)(result), task_tables(result) if with_tables else {})


def task_tables(result: RunResult) -> dict[str, Columns]:
    """The run's ``videos`` and ``creators`` tables (a single run's columns) and its ``funnel``, one row per stage."""
    rows = funnel(result)
    columns = ("stage", "pool_size", "entered", "passed")
    table = {key: np.array([row[key] for row in rows], dtype=np.int64) for key in columns}
    return {
        "videos": {c: result.videos[c] for c in VIDEO_COLUMNS},
        "funnel": table,
        "creators": {c: result.creators_table[c] for c in CREATOR_COLUMNS},
    }


def key_metrics(result: RunResult) -> dict[str, float]:
    """The metrics compared across replications, from one run's result."""
    scenario = result.scenario
    views = result.videos["views"]
    metrics = {
        "impressions": float(result.impressions),
        "views_per_video_mean": float(views.mean()) if views.size else math.nan,
        "views_per_video_median": float(np.median(views)) if views.size else math.nan,
        "views_gini": gini(views),
        **{name: top_share(views, share) for name, share in VIEW_SHARES.items()},
    }
    for row in funnel(result):
        rate = row["passed"] / row["entered"] if row["entered"] else math.nan
        metrics[f"{PASS_RATE_PREFIX}{row['stage']}"] = rate
    hours = int(scenario.run.duration // 60)
    for name, figures in featured_figures(result).items():
        # views_median is already there as median_views_<name>
        metrics.update({f"{key}_{name}": value for key, value in figures.items() if key != "views_median"})
    for cid in np.flatnonzero(result.creators_table["featured"]):
        mine = np.flatnonzero(result.videos["creator_id"] == cid)
        name = result.creators_table["name"][cid]
        metrics[f"median_views_{name}"] = float(np.median(views[mine])) if mine.size else math.nan
        for hour, value in enumerate(_median_reach(result.reach, mine, hours)):
            metrics[f"{REACH_PREFIX}{name}:{hour}"] = value
    metrics.update(viewer_metrics(result.viewers))
    return metrics


def viewer_metrics(viewers: dict[str, Any]) -> dict[str, float]:
    """The user-side figures of :data:`VIEWER_METRICS`; a figure without data is NaN.

    Args:
        viewers: a run's ``viewers`` block; missing keys count as no data, so results made
            before the block existed still reduce to the same metric names.
    """
    metrics = {}
    for name, path in VIEWER_METRICS.items():
        value: Any = viewers
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        metrics[name] = math.nan if value is None else float(value)
    return metrics


def _median_reach(reach: dict[str, np.ndarray], videos: np.ndarray, hours: int) -> np.ndarray:
    """(hours + 1,) median over ``videos`` of cumulative views by hour since upload."""
    curves = np.zeros((max(videos.size, 1), hours + 1))
    for row, vid in enumerate(videos):
        mine = reach["video_id"] == vid
        if mine.any():
            cumulative = reach["views"][mine][: hours + 1]
            curves[row, : cumulative.size] = cumulative
            curves[row, cumulative.size :] = cumulative[-1]
    return np.median(curves, axis=0)


def reach_bands(replications: Replications) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per featured creator: p10, p50 and p90 across replications of the median reach curve."""
    curves: dict[str, dict[int, np.ndarray]] = {}
    for key, values in replications.metrics.items():
        if key.startswith(REACH_PREFIX):
            name, hour = key[len(REACH_PREFIX) :].rsplit(":", 1)
            curves.setdefault(name, {})[int(hour)] = values
    bands = {}
    for name, by_hour in curves.items():
        matrix = np.array([by_hour[h] for h in sorted(by_hour)])  # (hours, reps)
        p10, p50, p90 = np.nanpercentile(matrix, [10, 50, 90], axis=1)
        bands[name] = (p10, p50, p90)
    return bands


@dataclass(frozen=True)
class Replications:
    """Per-replication metrics of one scenario.

    Attributes:
        seeds: the seed of each replication, in replication order.
        metrics: metric name -> (reps,) values, in replication order.
    """

    seeds: list[int]
    metrics: dict[str, np.ndarray]

    def summary(self) -> list[dict[str, float | str | int]]:
        """One row per metric: mean, sd and a 95% interval over replications (NaNs dropped).

        Rates (:func:`is_rate`) get :func:`rate_interval`, every other metric the t-interval.
        """
        rows: list[dict[str, float | str | int]] = []
        for name, values in self.metrics.items():
            if name.startswith(REACH_PREFIX):
                continue  # curves are drawn as bands, not tabulated
            finite = values[np.isfinite(values)]
            mean, sd, lo, hi = (rate_interval if is_rate(name) else interval)(finite)
            rows.append({"metric": name, "mean": mean, "sd": sd, "ci_lo": lo, "ci_hi": hi, "n": int(finite.size)})
        return rows


def interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sample sd and the 95% Student-t confidence interval of the mean."""
    n = values.size
    if n == 0:
        return (math.nan,) * 4
    mean = float(values.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def rate_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sample sd and a 95% interval inside [0, 1] for a proportion measured once per replication.

    Each replication gives one rate, and replications differ by more than the binomial
    spread of their counts would say (the world is drawn anew), so the spread between
    replications is what the interval must carry. It is Wilson's score interval with the
    effective number of trials that spread implies, n = p(1 - p) / var(mean), and Student's
    t in place of z (Korn and Graubard, 1998): as wide as the t-interval near 0.5, and
    lopsided instead of crossing 0 or 1 near the ends. Replications that all agree give
    the point, as the t-interval does.
    """
    mean, sd, lo, hi = interval(values)
    if not math.isfinite(sd) or sd == 0:
        return mean, sd, lo, hi
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, values.size - 1))
    return mean, sd, *wilson(mean, mean * (1 - mean) * values.size / sd**2, t)


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p`` over ``n`` trials at quantile ``z``; always in [0, 1]."""
    k = z * z / n
    centre = (p + k / 2) / (1 + k)
    half = z * math.sqrt(p * (1 - p) / n + k / (4 * n)) / (1 + k)
    return max(0.0, centre - half), min(1.0, centre + half)  # the clamp only absorbs rounding


Outcome = tuple[TaskOutput | None, str | None]


def _guarded(scenario: Scenario, seed: int, with_tables: bool, measure: Measure | None = None) -> Outcome:
    """The task's output, or the error that stopped it (recorded; the experiment goes on)."""
    try:
        return run_task(scenario, seed, with_tables, measure), None
    except Exception as exc:  # any failure of one task must not sink the others
        return None, f"{type(exc).__name__}: {exc}"


def run_tasks(
    tasks: list[tuple[Scenario, int]],
    executor: str = "process",
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
    store: ShardStore | None = None,
    labels: list[tuple[int, int, Params]] | None = None,
    scheduler: str | None = None,
    measure: Measure | None = None,
) -> list[dict[str, float]]:
    """Key metrics (or ``measure``'s figures) of each (scenario, seed) task, in task order, whatever the executor.

    With a ``store``, each task's shard is written as soon as it finishes, and tasks that
    already have a matching shard are not run again. ``labels`` gives each task's
    (point, replication, parameters). A failed task yields an empty row and an error shard.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, found {executor!r}")
    labels = labels or [(0, i, {}) for i in range(len(tasks))]
    results: list[dict[str, float]] = [{} for _ in tasks]
    todo = []
    for i, (scenario, seed) in enumerate(tasks):
        point, rep, _ = labels[i]
        stored = store.finished(point, rep, seed, scenario_sha256(scenario)) if store else None
        if stored is not None:
            results[i] = metrics_of(stored)
        else:
            todo.append(i)

    errors: list[str] = []

    def finish(i: int, outcome: Outcome) -> None:
        output, error = outcome
        results[i] = output.metrics if output else {}
        if error is not None:
            errors.append(error)
        if store is not None:
            point, rep, params = labels[i]
            scenario, seed = tasks[i]
            record = {"point": point, "replication": rep, "params": params, "seed": seed,
                      "scenario_sha256": scenario_sha256(scenario), "metrics": output and output.metrics,
                      "error": error}  # fmt: skip
            store.write(record, output.tables if output else {})
        if on_done:
            on_done()

    keep = store is not None
    if executor == "serial":
        for i in todo:
            finish(i, _guarded(*tasks[i], keep, measure))
    elif executor == "dask":
        for i, outcome in _on_dask([tasks[i] for i in todo], todo, workers, scheduler, (keep, measure)):
            finish(i, outcome)
    else:
        _on_processes(tasks, todo, workers, (keep, measure), finish)
    if tasks and len(errors) == len(tasks):
        raise TasksFailed(f"all {len(tasks)} tasks failed; the first: {errors[0]}")
    return results


def _on_processes(
    tasks: list[tuple[Scenario, int]], todo: list[int], workers: int | None, keep: tuple[bool, Measure | None],
    finish: Callable[[int, Outcome], None],
) -> None:  # fmt: skip
    """Run tasks on local worker processes; ``finish`` each as it completes (``keep``: tables, measure)."""
    n_workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))  # an idle worker is a process for nothing
    with ProcessPoolExecutor(n_workers, initializer=_quiet_worker, initargs=(_threads_each(n_workers),)) as pool:
        futures = {pool.submit(_guarded, *tasks[i], *keep): i for i in todo}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise


def _threads_each(workers: int) -> int:
    """Threads for each worker's compiled kernels: the workers share the cores, never oversubscribe them.

    Never more than NUMBA_NUM_THREADS allows: numba refuses a larger count, which would break the pool.
    """
    ceiling = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    return max(1, min(ceiling, (os.cpu_count() or 1) // workers))


def _quiet_worker(threads: int) -> None:
    """Leave Ctrl-C to the parent, let SIGTERM end a worker silently (no traceback per worker), share the cores."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    numba.set_num_threads(threads)  # results do not depend on it: the kernels split work, never streams


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Drop queued tasks and end running ones, so Ctrl-C (or SIGTERM) does not wait for them.

    Finished tasks' shards are already on disk. Before Python 3.14's ``terminate_workers``
    the worker processes are only reachable through a private attribute.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def _on_dask(
    tasks: list[tuple[Scenario, int]], ids: list[int], workers: int | None, scheduler: str | None,
    keep: tuple[bool, Measure | None],
) -> Iterator[tuple[int, Outcome]]:  # fmt: skip
    """Run tasks on an existing Dask cluster (``scheduler``) or a local one; yield as they finish."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("the dask executor needs the extra: pip install 'tiktok-sim[dask]'") from None
    cluster = None
    if scheduler is None:
        n_workers = min(workers or os.cpu_count() or 1, max(len(tasks), 1))
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               env={"NUMBA_NUM_THREADS": str(_threads_each(n_workers))})  # fmt: skip
    try:
        client = Client(scheduler or cluster)
    except OSError as exc:  # unreachable: say so, not as a failure to write results
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = {
            client.submit(_guarded, scenario, seed, *keep, key=f"task-{i}-{seed}", pure=False): i
            for i, (scenario, seed) in zip(ids, tasks, strict=True)
        }
        for future in dask_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def gather(seeds: list[int], rows: list[dict[str, float]]) -> Replications:
    """One scenario's replications from each replication's metrics (a failed one's row is empty)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return Replications(seeds, {name: np.array([row.get(name, math.nan) for row in rows]) for name in names})


def replicate(
    scenario: Scenario,
    reps: int,
    root_seed: int,
    executor: str = "process",
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
    store: ShardStore | None = None,
    scheduler: str | None = None,
) -> Replications:
    """Run ``reps`` replications and collect their key metrics.

    Args:
        scenario: the resolved scenario.
        reps: number of replications (at least 1).
        root_seed: root of every task's seed.
        executor: ``serial`` or ``process``.
        workers: processes for the process executor (default: CPU count).
        on_done: called after each finished replication (progress).
        store: where each finished replication's shard goes (and is resumed from).
        scheduler: address of an existing Dask scheduler (dask executor only).
    """
    # A replication run is a one-point sweep: same seeds (point 0), same shards, same checks.
    return sweep([({}, scenario)], reps, root_seed, executor, workers, on_done, store, scheduler)[0][1]


def parse_vary(items: tuple[str, ...] | list[str]) -> list[tuple[str, list[str]]]:
    """``key=v1,v2`` options as (key, values); values stay text, parsed later like ``--set``.

    Values that start with ``[`` are one YAML list of values (``key=[[6], [21]]``), so a
    value may be a list itself.

    Raises:
        ValueError: for an empty sweep, a missing ``=``, an empty value list, a malformed
            YAML list or a repeated key.
    """
    if not items:
        raise ValueError("expected at least one --vary key=v1,v2,..., found none")
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        name, sep, raw = item.partition("=")
        key = name.strip()
        if not sep or not key:
            raise ValueError(f"--vary: expected key=v1,v2,..., found {item!r}")
        is_list = raw.strip().startswith("[")
        values = yaml_values(key, raw) if is_list else [v.strip() for v in raw.split(",")]
        if not raw.strip() or not values:
            raise ValueError(f"--vary {key}: expected at least one value, found none")
        if "" in values:  # 1,,2 or a trailing comma: a value left out by mistake, not an empty one meant
            raise ValueError(f"--vary {key}: expected a value between each pair of commas, found {raw.strip()!r}")
        if key in (k for k, _ in axes):
            raise ValueError(f"--vary {key}: expected each key once, found it again")
        axes.append((key, values))
    return axes


def grid(axes: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """The cartesian product of the axes, first axis slowest."""
    return [dict(zip([k for k, _ in axes], combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def latin_hypercube(axes: list[tuple[str, list[str]]], samples: int, seed: int) -> list[dict[str, str]]:
    """``samples`` points from a Latin hypercube over ``lo:hi`` ranges (integers stay integers).

    Raises:
        ValueError: if an axis is not a single ``lo:hi`` range with lo < hi, or samples < 1.
    """
    if samples < 1:
        raise ValueError(f"--sample: expected at least 1 point, found {samples}")
    bounds = []
    for key, values in axes:
        lo_text, sep, hi_text = values[0].partition(":") if len(values) == 1 else ("", "", "")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise ValueError(f"--vary {key}: expected lo:hi with --sample, found {','.join(values)!r}") from None
        if not sep or lo >= hi:
            raise ValueError(f"--vary {key}: expected lo:hi with lo < hi, found {values[0]!r}")
        integral = lo_text.strip().lstrip("-").isdecimal() and hi_text.strip().lstrip("-").isdecimal()
        bounds.append((key, lo, hi, integral))
    unit = stats.qmc.LatinHypercube(d=len(bounds), seed=np.random.default_rng(seed)).random(samples)
    points = []
    for row in unit:
        point = {}
        for (key, lo, hi, integral), u in zip(bounds, row, strict=True):
            value = lo + u * (hi - lo)
            point[key] = str(round(value)) if integral else f"{value:.6g}"
        points.append(point)
    return points


def sweep(
    points: list[tuple[Params, Scenario]],
    reps: int,
    root_seed: int,
    executor: str = "process",
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
    store: ShardStore | None = None,
    scheduler: str | None = None,
    kind: str = "sweep",
) -> list[tuple[Params, Replications]]:
    """Replicate every sweep point; point ``i`` replication ``r`` is seeded from (i, r).

    All tasks go to the executor together, so a sweep keeps every worker busy. For a
    ``compare`` (``kind``), every point is seeded as point 0 (see :func:`seed_point`).
    """
    if reps < 1:
        raise ValueError(f"reps must be at least 1, found {reps}")
    if not points:
        raise ValueError("expected at least one sweep point, found none")
    seeds = [[task_seed(root_seed, seed_point(kind, i), r) for r in range(reps)] for i in range(len(points))]
    tasks = [(scenario, seed) for (_, scenario), point_seeds in zip(points, seeds, strict=True) for seed in point_seeds]
    labels = [(i, r, params) for i, (params, _) in enumerate(points) for r in range(reps)]
    rows = run_tasks(tasks, executor, workers, on_done, store, labels, scheduler)
    return [(params, gather(seeds[i], rows[i * reps : (i + 1) * reps])) for i, (params, _) in enumerate(points)]


KINDS = ("replications", "sweep", "compare")
"""An experiment is ``run --reps`` (one point, no parameters), a ``sweep``, or a ``compare`` (points A and B)."""
SIDES = ({"side": "A"}, {"side": "B"})
"""The parameters of a comparison's two points."""


def seed_point(kind: str, point: int) -> int:
    """The point index whose seeds a task of ``point`` takes.

    A comparison's two sides share point 0's seeds (common random numbers), so replication
    ``r`` of A and of B is a pair; every other experiment's points are seeded apart.
    """
    return 0 if kind == "compare" else point


def experiment_identity(
    kind: str, root_seed: int, base: Scenario, reps: int, points: list[tuple[Params, Scenario]]
) -> dict[str, Any]:
    """What an experiment's manifest records to be told apart from any other (and resumed).

    Args:
        kind: one of :data:`KINDS`.
        root_seed: the root of every task's seed.
        base: the resolved scenario before any point's parameters.
        reps: replications per point.
        points: each point's parameters (typed: :data:`Params`) and resolved scenario.
    """
    identity = {
        "kind": kind,
        "root_seed": root_seed,
        "reps": reps,
        "points": [{"params": params, "scenario_sha256": scenario_sha256(s)} for params, s in points],
        "scenario": base.model_dump(mode="json"),
        "scenario_sha256": scenario_sha256(base),
    }
    if kind == "compare":  # B is not A with parameters: record it whole
        identity["scenario_b"] = points[1][1].model_dump(mode="json")
    return identity


SWEEP_METRICS = (
    "views_per_video_mean", "views_gini", "pass_rate_stage_0",
    "viewers_exploration_share", "viewers_entropy_end", "viewers_top3_share_end",
)  # fmt: skip
"""Shown for every sweep (its table and its pictures), followed by each featured creator's figures below."""
FEATURED_SWEEP_METRICS = ("median_views", "pass_rate_stage_0")


def sweep_metrics(featured: list[str]) -> tuple[str, ...]:
    """The metrics a sweep is shown by: :data:`SWEEP_METRICS`, then each featured creator's figures."""
    return (*SWEEP_METRICS, *(f"{figure}_{name}" for name in featured for figure in FEATURED_SWEEP_METRICS))


def summaries(
    kind: str, root_seed: int, reps: int, results: list[tuple[Params, Replications]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An experiment's summary.json document and its summary.csv rows (one per point and metric).

    For replications the document holds each metric's row; for a sweep, one row per point with
    each metric's mean and interval as columns; for a comparison, :func:`compared`'s rows. The
    document keeps swept values as they are (typed); the rows hold their canonical text
    (:func:`~tiktok_sim.scenario.sweep.texts`).
    """
    rows = [{"point": i, **texts(params), **row} for i, (params, r) in enumerate(results) for row in r.summary()]
    if kind == "compare":
        comparison = compared(results[0][1], results[1][1])
        return {"root_seed": root_seed, "reps": reps, "adjustment": "holm", "comparison": comparison}, rows
    if kind == "replications":
        return {"root_seed": root_seed, "reps": reps, "summary": results[0][1].summary()}, rows
    table = [
        {**params, **{f"{row['metric']}_{k}": row[k] for row in r.summary() for k in ("mean", "ci_lo", "ci_hi")}}
        for params, r in results
    ]
    return {"root_seed": root_seed, "reps": reps, "points": table}, rows


def files_seed(a: Scenario, b: Scenario) -> int | None:
    """The ``seed:`` the compared scenarios set (None if neither sets one).

    Raises:
        ValueError: if they set different seeds: their replications must share one root to be paired.
    """
    seeds = {s.seed for s in (a, b) if s.seed is not None}
    if len(seeds) > 1:
        raise ValueError(f"A and B set different seeds ({a.seed} and {b.seed}): give --seed for the root of both")
    return seeds.pop() if seeds else None


def compare(
    a: Scenario,
    b: Scenario,
    reps: int,
    root_seed: int,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    store: ShardStore | None = None,
) -> list[dict[str, float | str | int]]:
    """B against A on every key metric, paired on common random numbers, Holm-adjusted.

    Replication ``r`` of A and of B use the same seed, so whatever the two scenarios
    share (population, creators, schedules) is drawn identically and the differences
    are paired. The rows are :func:`compared`'s. With a ``store``, each task's shard is
    kept (A is point 0, B point 1) and finished ones are not run again.
    """
    if reps < 2:
        raise ValueError(f"reps must be at least 2 for an interval, found {reps}")
    points = [(SIDES[0], a), (SIDES[1], b)]
    (_, first), (_, second) = sweep(points, reps, root_seed, executor, workers, None, store, scheduler, "compare")
    return compared(first, second)


def compared(first: Replications, second: Replications) -> list[dict[str, float | str | int]]:
    """B's replications (``second``) against A's (``first``), paired by replication, one row per metric.

    Each row is :func:`paired_row`'s, plus ``p_adj``: its p-value adjusted by :func:`holm`
    over every metric that has one, since they are all judged at once.
    """
    reps = len(first.seeds)
    out = [
        paired_row(name, values_a, second.metrics.get(name, np.full(reps, math.nan)))
        for name, values_a in first.metrics.items()
        if not name.startswith(REACH_PREFIX)
    ]
    for row, p_adj in zip(out, holm(np.array([float(row["p"]) for row in out])), strict=True):
        row["p_adj"] = float(p_adj)
    return out


def paired_row(name: str, values_a: np.ndarray, values_b: np.ndarray) -> dict[str, float | str | int]:
    """One metric of a paired comparison (replications where either is undefined are dropped).

    The row holds both means; the mean difference B - A with its 95% paired-t interval and
    two-sided p-value ``p``; and the relative change B / A - 1 with its
    :func:`ratio_interval` (NaN where a ratio says nothing).
    """
    paired = np.isfinite(values_a) & np.isfinite(values_b)
    a, b = values_a[paired], values_b[paired]
    diff, sd, lo, hi = interval(b - a)
    rel, rel_lo, rel_hi = ratio_interval(a, b)
    return {
        "metric": name,
        "a_mean": float(a.mean()) if a.size else math.nan,
        "b_mean": float(b.mean()) if b.size else math.nan,
        "diff": diff,
        "ci_lo": lo,
        "ci_hi": hi,
        "p": _p_value(diff, sd, a.size),
        "rel": rel,
        "rel_lo": rel_lo,
        "rel_hi": rel_hi,
        "n": int(a.size),
    }


def ratio_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """B's mean over A's, minus 1, with its 95% Fieller interval, from paired replications.

    Fieller's interval holds every ratio r for which a paired t-test would not reject a
    zero mean of b - r a. So it excludes 0% exactly when the paired t-interval of B - A
    excludes 0, and, unlike that interval divided by A's mean, it carries the uncertainty
    in A's mean. It is finite only when A's mean is clearly above zero (its own 95%
    interval is clear of 0); otherwise the ratio could be anything, and all three are NaN:
    report the difference instead. Metrics are never negative, so it stops at -100%.
    """
    undefined = (math.nan,) * 3
    if a.size < 2:
        return undefined
    q = float(stats.t.ppf(0.5 + CONFIDENCE / 2, a.size - 1)) ** 2 / a.size
    (var_a, cov), (_, var_b) = np.cov(a, b)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    # The ends solve (mean_b - r mean_a)^2 = q var(b - r a), a quadratic in r: lead r^2 - 2 half r + last = 0.
    lead, half, last = mean_a**2 - q * var_a, mean_a * mean_b - q * cov, mean_b**2 - q * var_b
    if not (mean_a > 0 and lead > 0):  # lead > 0: A's interval is clear of 0, so the set is bounded
        return undefined
    root = math.sqrt(max(half * half - lead * last, 0.0))  # never below 0 but for rounding: r = B / A solves it
    return mean_b / mean_a - 1, max((half - root) / lead, 0.0) - 1, (half + root) / lead - 1


def _p_value(mean: float, sd: float, n: int) -> float:
    """Two-sided one-sample t-test p-value of ``mean`` (sample sd ``sd`` over ``n``) against zero.

    Replications that agree exactly (sd 0) give 1 for no change and 0 for any change.
    """
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values tested together (NaN stays NaN and is not counted).

    The k-th smallest of m p-values is multiplied by m - k + 1, and adjusted values never
    decrease in that order; declaring only adjusted p < 0.05 keeps the chance of any false
    effect among the m below 5%.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, math.nan)
    order = np.flatnonzero(np.isfinite(p))
    order = order[np.argsort(p[order], kind="stable")]
    steps = order.size - np.arange(order.size)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps * p[order]), 1.0)
    return adjusted


ALPHA = 0.05
"""An effect is declared when its Holm-adjusted p-value is below this."""


def in_words(row: dict[str, float | str | int]) -> str:
    """E.g. "B raises views_gini by 23% (95% CI +15% to +31%, adjusted p 0.002)".

    The change is relative where :func:`ratio_interval` gives a ratio, else absolute with
    the reason. An effect is declared only if its adjusted p-value is below :data:`ALPHA`.
    """
    metric, diff, p_adj = row["metric"], float(row["diff"]), float(row["p_adj"])
    if not (math.isfinite(diff) and math.isfinite(float(row["ci_lo"]))):
        return f"{metric}: not comparable (undefined in A or B)"
    rel = float(row["rel"])
    if math.isfinite(rel):
        size, ci, why = f"{rel:+,.0%}", f"95% CI {float(row['rel_lo']):+,.0%} to {float(row['rel_hi']):+,.0%}", ""
    else:
        size, ci = f"{diff:+.3g}", f"95% CI {float(row['ci_lo']):+.3g} to {float(row['ci_hi']):+.3g}"
        why = "; a difference, not a ratio: A's mean is not clearly above zero"
    p = f"adjusted p {p_adj:.2g}" if p_adj >= 0.001 else "adjusted p < 0.001"
    if not p_adj < ALPHA:
        return f"B does not clearly change {metric} ({size}, {ci}, {p}{why})"
    return f"B {'raises' if diff > 0 else 'lowers'} {metric} by {size.lstrip('+-')} ({ci}, {p}{why})"


def holm_note(rows: list[dict[str, float | str | int]]) -> str:
    """The one line saying how many metrics the adjustment covered."""
    tested = sum(math.isfinite(float(row["p"])) for row in rows)
    return (
        f"Holm-adjusted over {tested} metrics: an effect is declared only where its adjusted p < {ALPHA:g} "
        "(each interval is its own metric's 95% CI)."
    )
