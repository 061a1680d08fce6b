"""The --dry-run estimate: its busiest tick follows each region's local hour."""

from __future__ import annotations

import pytest

from tiktok_sim import resources
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


def test_a_tick_served_in_parts_needs_one_part_of_temporaries(monkeypatch: pytest.MonkeyPatch) -> None:
    national = load_scenario(SCENARIOS / "national.yaml")
    parted = estimate(national).memory_bytes
    monkeypatch.setattr(resources, "TICK_PART_SLOTS", 10**12)
    # Its busiest tick holds about 8.9M slots, four parts of 2.1M: 6.8M slots' temporaries fewer.
    assert estimate(national).memory_bytes - parted == pytest.approx(6.8e6 * resources.TICK_BYTES_PER_SLOT, rel=0.05)
