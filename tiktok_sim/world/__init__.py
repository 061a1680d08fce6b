"""The synthetic world: users, creators, follow edges and the growing video catalog."""

from tiktok_sim.world.catalog import ACTIONS, Catalog, Status
from tiktok_sim.world.creators import Creators, build_creators, build_follow_keys, initial_followers, sample_lengths
from tiktok_sim.world.population import Population, Tastes, build_population, complete_population, draw_tastes

__all__ = [
    "ACTIONS",
    "Catalog",
    "Creators",
    "Population",
    "Status",
    "Tastes",
    "build_creators",
    "build_follow_keys",
    "build_population",
    "complete_population",
    "draw_tastes",
    "initial_followers",
    "sample_lengths",
]
