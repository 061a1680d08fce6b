"""tiktok-sim: how a short video climbs, or stalls on, a recommender's ladder of audience pools."""

__version__ = "0.1.0"

from tiktok_sim.errors import Problem, ScenarioError  # noqa: E402
from tiktok_sim.results import RunResult  # noqa: E402
from tiktok_sim.scenario import Scenario, load_scenario  # noqa: E402
from tiktok_sim.simulate import simulate  # noqa: E402

__all__ = ["Problem", "RunResult", "Scenario", "ScenarioError", "__version__", "load_scenario", "simulate"]
