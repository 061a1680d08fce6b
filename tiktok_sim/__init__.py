"""tiktok-sim: how a short video climbs, or stalls on, a recommender's ladder of audience pools."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tiktok_sim.errors import Problem, ScenarioError
    from tiktok_sim.results import RunResult
    from tiktok_sim.scenario import Scenario, load_scenario
    from tiktok_sim.single_run import simulate

_HOMES = {
    "Problem": "tiktok_sim.errors",
    "RunResult": "tiktok_sim.results",
    "Scenario": "tiktok_sim.scenario",
    "ScenarioError": "tiktok_sim.errors",
    "load_scenario": "tiktok_sim.scenario",
    "simulate": "tiktok_sim.single_run",
}
"""Each export's module, imported on first use: `tiktok-sim --help` must not wait for numpy or numba."""

__all__ = ["Problem", "RunResult", "Scenario", "ScenarioError", "__version__", "load_scenario", "simulate"]


def __getattr__(name: str) -> Any:
    """An export, imported from its module the first time it is asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module 'tiktok_sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
