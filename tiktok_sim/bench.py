"""``make bench``: impressions per second, wall time and peak memory of one scenario run.

Run as ``python -m tiktok_sim.bench scenarios/bench.yaml`` in a fresh process, so the
peak RSS is this run's alone.
"""

from __future__ import annotations

import resource
import sys
import time

import click

from tiktok_sim.scenario import load_scenario
from tiktok_sim.simulate import simulate

TARGET_RATE = 2_000_000  # impressions per second on a 2-core machine
TARGET_RSS_MB = 1_500


@click.command()
@click.argument("scenario_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario value.")
def main(scenario_file: str, overrides: tuple[str, ...]) -> None:
    """Run SCENARIO_FILE once and print its speed and peak memory against the targets."""
    scenario = load_scenario(scenario_file, overrides)
    started = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    rate = result.impressions / wall
    print(f"scenario        {scenario.name}: {scenario.users.count:,} users, {scenario.creators.count:,} creators, "
          f"{scenario.run.duration / 1440:g} days")  # fmt: skip
    print(f"impressions     {result.impressions:,}")
    print(f"wall time       {wall:.1f} s (world build, simulation and result tables)")
    print(f"impressions/s   {rate:,.0f}   target >= {TARGET_RATE:,}: {'met' if rate >= TARGET_RATE else 'MISSED'}")
    rss_verdict = "met" if rss_mb <= TARGET_RSS_MB else "MISSED"
    print(f"peak RSS        {rss_mb:,.0f} MB   target <= {TARGET_RSS_MB:,}: {rss_verdict}")
    print(f"unfilled slots  {result.unfilled_slots:,} ({result.unfilled_slots / max(result.impressions, 1):.2%})")
    sys.exit(0)


if __name__ == "__main__":
    main()
