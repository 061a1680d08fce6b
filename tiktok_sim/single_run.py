"""One run: seed, engine, timing."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from tiktok_sim import checkpoint
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
    checkpoint_to: Path | None = None,
) -> RunResult:
    """Run a scenario once.

    Args:
        scenario: the resolved scenario.
        seed: root seed; falls back to the scenario's, then to a fresh one (recorded in the result).
        progress: called after each feed tick with (minutes done, total).
        record_impressions: keep every impression in the result (tests, audits).
        checkpoint_to: a folder to save the whole state in at each day boundary; a run whose
            checkpoint is there already resumes from it, with byte-identical results. The
            checkpoint is removed when the run ends.
    """
    root = checkpoint.run_seed(seed, scenario, checkpoint_to)
    root = root if root is not None else draw_seed()
    keep_freed_memory()
    started = time.perf_counter()
    with interrupts_unwrapped():  # one landing while a compiled kernel loads comes back wrapped
        engine = checkpoint.load(checkpoint_to, scenario, root) if checkpoint_to is not None else None
        if engine is None:
            engine = Engine(scenario, root, progress, record_impressions)
            engine.checkpoint_to = checkpoint_to
            engine.run()
        else:
            engine.checkpoint_to = checkpoint_to  # a saved engine keeps no folder of its own
            engine.resume(progress)
        engine.recommender.release()
        result = collect(engine)
    if checkpoint_to is not None:
        checkpoint.clear(checkpoint_to)
    # To the millisecond, as summary.json keeps it, so a saved run's report prints what the run printed.
    result.runtime_s = round(time.perf_counter() - started, 3)
    return result
