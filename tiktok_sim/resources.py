"""Estimate a run's memory and time from its scenario, before building anything."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import psutil

from tiktok_sim.engine import TICK_PART_SLOTS, expected_impressions, expected_videos, local_hour
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.seen import words_for

BASE_BYTES = 280e6  # interpreter, libraries and compiled kernels, and the freed tick memory kept for reuse
SECONDS_PER_IMPRESSION = 1 / 1.3e6  # 1M users x 3 days on a 2-core machine (2026-12-01)
SECONDS_PER_TICK = 0.015  # a tick's fixed cost (offer, tables, pools) whatever its size: it dominates small worlds
TICK_BYTES_PER_SLOT = 200  # a tick's temporaries (candidates, reactions) per slot of the busiest tick or part, as kept
# by the allocator. Fitted to peak RSS from 100k users x 3 days to 10M x 6 hours (2026-12-01).


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to need.

    Attributes:
        impressions: expected impressions if every slot is filled.
        videos: expected uploads, backlog included.
        memory_bytes: expected peak resident memory.
        seconds: expected wall time on a machine like the benchmark's.
    """

    impressions: float
    videos: float
    memory_bytes: float
    seconds: float

    def describe(self) -> str:
        """One line for people."""
        return (
            f"about {self.impressions:,.0f} impressions, {self.videos:,.0f} videos, "
            f"{format_bytes(self.memory_bytes)} of memory and {self.seconds:,.0f} s"
        )


def estimate(scenario: Scenario) -> Estimate:
    """Expected impressions, uploads, peak memory and wall time of one run."""
    users, creators = scenario.users, scenario.creators
    impressions = expected_impressions(scenario)
    videos = expected_videos(scenario)
    topics = len(scenario.topics)

    rec, ring = scenario.recommender, 2
    columns = topics + rec.sound_buckets + rec.hashtag_buckets
    # true interests and style tastes; the estimates (int16 levels); "not interested" ring; last shown; the rest
    # (contexts, session rates, views, follow offsets, marks: about 20 small per-user arrays)
    per_user = topics * 4 + scenario.videos.styles * 4 + columns * 2 + ring * 8 + 8 + 100
    seen_words = words_for(int(impressions) + 1024)
    follow_mean = creators.followers.median * math.exp(creators.followers.sigma**2 / 2)
    edges = creators.count * min(follow_mean, users.count / 2) + sum(f.followers for f in scenario.featured)
    slices = topics + len(users.devices)
    # two counter rows, views and signal per audience slice, hashtags, the other columns
    per_video = 2 * 10 * 8 + slices * 2 * 4 + scenario.videos.hashtags_per_video * 4 + 200
    per_day = impressions / (scenario.run.duration / 1440.0)
    tick_bytes = min(per_day * busiest_tick_share(scenario), TICK_PART_SLOTS) * TICK_BYTES_PER_SLOT  # served in parts
    reach_bytes = videos * (scenario.run.duration / scenario.run.tick) * 0.1 * 24  # ~10% of videos shown per tick

    memory = (
        BASE_BYTES + users.count * per_user + seen_words * 8 + edges * 8
        + videos * 1.3 * per_video + tick_bytes + reach_bytes
    )  # fmt: skip
    ticks = scenario.run.duration / scenario.run.tick
    # world build: 3.4-4.0 s at 1M users, 24-33 s at 10M (2026-12-01)
    # Past 1M users the estimate tables and seen bits miss the caches more: 1.14x per impression
    # at 10M (10M users x 3 days: 1.99 billion impressions in 1,774 s, build included, 2026-12-01,
    # with the second core sharing each tick's draw-free work).
    slowdown = 1 + 0.14 * math.log10(max(users.count, 1e6) / 1e6)
    seconds = impressions * SECONDS_PER_IMPRESSION * slowdown + users.count * 3e-6 + ticks * SECONDS_PER_TICK
    return Estimate(impressions, videos, memory, seconds)


def busiest_tick_share(scenario: Scenario) -> float:
    """Share of a day's feed slots in the run's busiest tick.

    Each region follows the diurnal curve in its own local hour, as the engine draws
    sessions, so the regions' peaks do not coincide: the busiest tick of the default
    world holds two thirds of what the curve's own peak hour would suggest.
    """
    users, tick = scenario.users, scenario.run.tick
    diurnal = np.asarray(users.diurnal, dtype=np.float64)
    shares = np.array([r.share for r in users.regions])
    offsets = np.array([round(r.utc_offset * 60) for r in users.regions])
    now = tick * np.arange(1, max(1, int(min(scenario.run.duration, 1440.0) // tick)) + 1)  # the first day's ticks
    hour = local_hour(now[:, None] - tick / 2, offsets)
    per_tick = diurnal[hour] @ (shares / shares.sum()) / diurnal.sum() * tick / 60.0
    return float(per_tick.max())


def available_memory() -> int:
    """Bytes of memory the machine can give a new process now."""
    return int(psutil.virtual_memory().available)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_size(text: str) -> int:
    """Bytes from ``500MB``, ``2GB``, ``1.5g`` or a plain number of bytes.

    Raises:
        ValueError: if the text is not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"expected a size such as 500MB or 2GB, found {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_bytes(size: float) -> str:
    """``1.2 GB``-style rendering."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} kB" if size >= 1e3 else f"{size:.0f} bytes"
