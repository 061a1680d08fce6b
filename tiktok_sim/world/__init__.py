"""The synthetic world: users, creators, follow edges and the growing video catalog."""

from tiktok_sim.world.catalog import ACTIONS, Catalog, Status
from tiktok_sim.world.creators import Creators, build_creators, build_follow_keys, initial_followers, sample_lengths
from tiktok_sim.world.population import Population, build_population

__all__ = [
    "ACTIONS",
    "Catalog",
    "Creators",
    "Population",
    "Status",
    "build_creators",
    "build_follow_keys",
    "build_population",
    "initial_followers",
    "sample_lengths",
]
