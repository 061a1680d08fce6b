"""tiktok-sim: how a short video climbs, or stalls on, a recommender's ladder of audience pools."""

__version__ = "0.1.0"

from tiktok_sim.errors import Problem, ScenarioError
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario, load_scenario
from tiktok_sim.simulate import simulate

__all__ = ["Problem", "RunResult", "Scenario", "ScenarioError", "__version__", "load_scenario", "simulate"]
