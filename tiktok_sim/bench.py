"""``make bench``: impressions per second, wall time and peak memory of one scenario run.

Run as ``python -m tiktok_sim.bench scenarios/bench.yaml`` in a fresh process, so the
peak RSS is this run's alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

import click
import numpy as np

from tiktok_sim.experiments import replicate, run_task, task_seed
from tiktok_sim.scenario import Scenario, load_scenario
from tiktok_sim.single_run import simulate

TARGET_RATE = 2_000_000  # impressions per second on a 2-core machine
TARGET_RSS_MB = 1_500
SIZES = {  # --scale: the same world small and large; cost per impression should not depend on size
    "200k users x 1 day": ("users.count=200000", "creators.count=2000", "run.duration=1d"),
    "1M users x 3 days": ("users.count=1000000", "creators.count=10000", "run.duration=3d"),
}
SCALE_TOLERANCE = 0.10  # the large world's impressions/s may be at most this much below the small one's


@click.command()
@click.argument("scenario_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario value.")
@click.option("--runner", is_flag=True, help="Measure the experiment runner instead (overhead, 1 vs 2 workers).")
@click.option("--reps", default=4, show_default=True, help="Replications for --runner.")
@click.option("--scale", is_flag=True, help="Run the scenario at 200k users x 1 day and 1M users x 3 days; compare.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--ticks", is_flag=True, help="Print per-tick sizes (users, impressions, offer, videos shown).")
def main(
    scenario_file: str, overrides: tuple[str, ...], runner: bool, reps: int, scale: bool, as_json: bool, ticks: bool
) -> None:
    """Run SCENARIO_FILE once and print its speed and peak memory against the targets."""
    if scale:
        _bench_scale(scenario_file, overrides)
        return
    scenario = load_scenario(scenario_file, overrides)
    if runner:
        _bench_runner(scenario, reps)
        return
    if ticks:
        _bench_ticks(scenario)
        return
    started = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    rate = result.impressions / wall
    if as_json:
        print(json.dumps({"impressions": result.impressions, "wall_s": wall, "rate": rate, "rss_mb": rss_mb}))
        return
    print(f"scenario        {scenario.name}: {scenario.users.count:,} users, {scenario.creators.count:,} creators, "
          f"{scenario.run.duration / 1440:g} days")  # fmt: skip
    print(f"impressions     {result.impressions:,}")
    print(f"wall time       {wall:.1f} s (world build, simulation and result tables)")
    print(f"impressions/s   {rate:,.0f}   target >= {TARGET_RATE:,}: {'met' if rate >= TARGET_RATE else 'MISSED'}")
    rss_verdict = "met" if rss_mb <= TARGET_RSS_MB else "MISSED"
    print(f"peak RSS        {rss_mb:,.0f} MiB   target <= {TARGET_RSS_MB:,} MiB: {rss_verdict}")
    print(f"unfilled slots  {result.unfilled_slots:,} ({result.unfilled_slots / max(result.impressions, 1):.2%})")
    sys.exit(0)


def _bench_scale(scenario_file: str, overrides: tuple[str, ...]) -> None:
    """Impressions/s and peak RSS at each of SIZES, each in a fresh process, and the large-to-small ratio."""
    rates = []
    for label, sizes in SIZES.items():
        sets = [arg for value in (*overrides, *sizes) for arg in ("--set", value)]
        command = [sys.executable, "-m", "tiktok_sim.bench", scenario_file, *sets, "--json"]
        run = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        rates.append(run["rate"])
        print(f"{label:<20} {run['impressions']:>13,} impressions  {run['wall_s']:7.1f} s  "
              f"{run['rate']:>11,.0f} impressions/s  peak RSS {run['rss_mb']:,.0f} MiB")  # fmt: skip
    ratio = rates[1] / rates[0]
    verdict = "met" if ratio >= 1 - SCALE_TOLERANCE else "MISSED"
    print(f"large / small impressions/s: {ratio:.2f}   target >= {1 - SCALE_TOLERANCE:.2f}: {verdict}")


def _bench_ticks(scenario: Scenario) -> None:
    """Mean, p95 and max per feed tick (or part of one) of what a sharded run would exchange (see docs/scaling.md)."""
    from tiktok_sim.feed.recommender import Recommender

    rows: list[tuple[int, int, int, int, int]] = []
    serve = Recommender.serve

    def measured(self: Recommender, tick: Any, requests: tuple[np.ndarray, np.ndarray], open_ids: np.ndarray,
                 *args: Any) -> Any:  # fmt: skip
        req, served, offer = serve(self, tick, requests, open_ids, *args)
        rows.append((requests[0].size, served.video.size, offer.ids.size, open_ids.size, np.unique(served.video).size))
        return req, served, offer

    Recommender.serve = measured  # type: ignore[method-assign,assignment]  # instrumentation of this process only
    try:
        started = time.perf_counter()
        simulate(scenario)
        wall = time.perf_counter() - started
    finally:
        Recommender.serve = serve  # type: ignore[method-assign]
    table = np.array(rows, dtype=np.float64)
    print(f"scenario        {scenario.name}: {scenario.users.count:,} users, {len(rows)} ticks, {wall:.1f} s")
    print(f"{'per tick':<24}{'mean':>12}{'p95':>12}{'max':>12}")
    labels = ("active users", "impressions", "videos offered", "videos open", "videos shown")
    for label, column in zip(labels, table.T, strict=True):
        print(f"{label:<24}{column.mean():>12,.0f}{np.percentile(column, 95):>12,.0f}{column.max():>12,.0f}")


def _bench_runner(scenario: Scenario, reps: int) -> None:
    """The runner's overhead against the same runs done by hand, and its 1 -> 2 worker speed-up."""
    seeds = [task_seed(0, 0, r) for r in range(reps)]
    started = time.perf_counter()
    for seed in seeds:
        run_task(scenario, seed)
    by_hand = time.perf_counter() - started
    timings = {}
    for label, executor, workers in (
        ("serial", "serial", None),
        ("1 worker", "process", 1),
        ("2 workers", "process", 2),
    ):
        started = time.perf_counter()
        replicate(scenario, reps, 0, executor, workers)
        timings[label] = time.perf_counter() - started
    print(f"scenario        {scenario.name}: {reps} replications")
    print(f"by hand         {by_hand:.2f} s (a loop of single runs)")
    for label, seconds in timings.items():
        print(f"runner {label:<10} {seconds:.2f} s ({seconds / by_hand - 1:+.1%} vs by hand)")
    print(f"speed-up 1 -> 2 workers: {timings['1 worker'] / timings['2 workers']:.2f}x")


if __name__ == "__main__":
    main()
