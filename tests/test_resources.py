"""The --dry-run estimate: its busiest tick follows each region's local hour."""

from __future__ import annotations

import pytest

from tiktok_sim.resources import busiest_tick_share, estimate
from tiktok_sim.scenario import load_scenario

from .conftest import SCENARIOS

ONE_REGION = 'users.regions=[{"name": "us", "share": 1.0, "utc_offset": -5, "languages": ["en"]}]'


def test_one_region_peaks_at_its_busiest_hour() -> None:
    scenario = load_scenario(SCENARIOS / "bench.yaml", [ONE_REGION])
    diurnal = scenario.users.diurnal
    assert busiest_tick_share(scenario) == pytest.approx(max(diurnal) / sum(diurnal) * scenario.run.tick / 60)


def test_regions_in_other_time_zones_flatten_the_peak_and_the_memory() -> None:
    spread, single = load_scenario(SCENARIOS / "bench.yaml"), load_scenario(SCENARIOS / "bench.yaml", [ONE_REGION])
    # The default world's six regions span 14 hours: its busiest tick is about two thirds of one region's.
    assert busiest_tick_share(spread) < 0.8 * busiest_tick_share(single)
    assert estimate(spread).memory_bytes < estimate(single).memory_bytes
