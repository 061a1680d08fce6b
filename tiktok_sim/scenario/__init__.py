"""Scenario schema and loader."""

from tiktok_sim.scenario.loader import load_scenario, scenario_sha256
from tiktok_sim.scenario.schema import Scenario

__all__ = ["Scenario", "load_scenario", "scenario_sha256"]
