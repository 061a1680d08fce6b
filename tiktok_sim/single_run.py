"""One run: seed, engine, timing."""

from __future__ import annotations

import secrets
import time

from tiktok_sim.allocator import keep_freed_memory
from tiktok_sim.engine import Engine, Progress
from tiktok_sim.errors import interrupts_unwrapped
from tiktok_sim.metrics import collect
from tiktok_sim.results import RunResult
from tiktok_sim.scenario.schema import Scenario


def draw_seed() -> int:
    """A fresh root seed from the OS, small enough to retype."""
    return secrets.randbits(63)


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    progress: Progress | None = None,
    record_impressions: bool = False,
) -> RunResult:
    """Run a scenario once.

    Args:
        scenario: the resolved scenario.
        seed: root seed; falls back to the scenario's, then to a fresh one (recorded in the result).
        progress: called after each feed tick with (minutes done, total).
        record_impressions: keep every impression in the result (tests, audits).
    """
    root = seed if seed is not None else scenario.seed if scenario.seed is not None else draw_seed()
    keep_freed_memory()
    started = time.perf_counter()
    with interrupts_unwrapped():  # one landing while a compiled kernel loads comes back wrapped
        result = collect(Engine(scenario, root, progress, record_impressions).run())
    result.runtime_s = time.perf_counter() - started
    return result
