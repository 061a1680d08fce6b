"""Synthetic users: where they live, what they speak, what they truly like, how often they scroll."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Tastes:
    """The users' first draws: all the follow graph needs, so it can be built while the rest are drawn.

    Attributes:
        region: (n_users,) int16 index into ``scenario.users.regions``.
        langmask: (n_users,) int64 bitmask over the population's languages.
        device: (n_users,) int8 index into ``scenario.users.devices``.
        interest: (n_users, n_topics) float32 true interests, rows sum to 1.
    """

    region: np.ndarray
    langmask: np.ndarray
    device: np.ndarray
    interest: np.ndarray

    @property
    def count(self) -> int:
        """Number of users."""
        return int(self.region.size)


@dataclass(frozen=True)
class Population(Tastes):
    """Users as parallel arrays (one row per user): their tastes, then the rest.

    Attributes:
        style_taste: (n_users, styles) float32 true tastes over sound and hashtag styles, rows sum to 1.
        opted_in: (n_users,) bool, opted in to sensitive content.
        top_topics: (n_users,) int64 bitmask of each user's three strongest true topics.
        picked: (n_users,) bool, picked interest categories at signup.
        picked_topics: (n_users, signup_picks) int16, the picks (valid where ``picked``).
        sessions_per_day: (n_users,) float32.
        videos_per_session: (n_users,) float32 mean, device multiplier applied.
        languages: language codes; bit i of ``langmask`` is ``languages[i]``.
        region_offset_min: (n_regions,) int, UTC offset of each region in minutes.
    """

    style_taste: np.ndarray
    opted_in: np.ndarray
    top_topics: np.ndarray
    picked: np.ndarray
    picked_topics: np.ndarray
    sessions_per_day: np.ndarray
    videos_per_session: np.ndarray
    languages: list[str]
    region_offset_min: np.ndarray


def language_index(scenario: Scenario) -> list[str]:
    """Every language of every region, in order of first mention."""
    seen: dict[str, None] = {}
    for region in scenario.users.regions:
        seen.update(dict.fromkeys(region.languages))
    return list(seen)


def region_shares(scenario: Scenario) -> np.ndarray:
    """(n_regions,) float64 shares, normalized."""
    shares = np.array([r.share for r in scenario.users.regions])
    return shares / shares.sum()


_CHUNK_ROWS = 1 << 18
"""Users per chunk of the (users x topics) draws: numpy's stream is the same drawn whole or in
row chunks, and the float64 temporaries stay small (a whole 10M-user draw held several GB)."""


def _chunks(n: int) -> list[slice]:
    return [slice(lo, min(lo + _CHUNK_ROWS, n)) for lo in range(0, n, _CHUNK_ROWS)]


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray, n: int) -> np.ndarray:
    """(n, alpha.size) float32 Dirichlet draws, drawn a chunk of rows at a time."""
    out = np.empty((n, alpha.size), dtype=np.float32)
    for rows in _chunks(n):
        out[rows] = rng.dirichlet(alpha, size=rows.stop - rows.start)
    return out


def build_population(scenario: Scenario, rng: np.random.Generator) -> Population:
    """Draw the users of a scenario."""
    return complete_population(scenario, rng, draw_tastes(scenario, rng))


def draw_tastes(scenario: Scenario, rng: np.random.Generator) -> Tastes:
    """Draw each user's region, languages, device and true topic interests."""
    spec = scenario.users
    n, k = spec.count, len(scenario.topics)
    languages = language_index(scenario)
    region = rng.choice(len(spec.regions), size=n, p=region_shares(scenario)).astype(np.int16)

    # First language of the region always; each further one with multilingual_prob.
    langmask = np.zeros(n, dtype=np.int64)
    for r, reg in enumerate(spec.regions):
        members = np.flatnonzero(region == r)
        bits = [languages.index(lang) for lang in reg.languages]
        langmask[members] = 1 << bits[0]
        for bit in bits[1:]:
            speaks = rng.random(members.size) < spec.multilingual_prob
            langmask[members[speaks]] |= 1 << bit

    device_share = np.array([d.share for d in spec.devices])
    device = rng.choice(len(spec.devices), size=n, p=device_share / device_share.sum()).astype(np.int8)
    interest = _dirichlet(rng, np.full(k, spec.interest_concentration), n)
    return Tastes(region=region, langmask=langmask, device=device, interest=interest)


def complete_population(scenario: Scenario, rng: np.random.Generator, tastes: Tastes) -> Population:
    """Draw the rest of the users, after their ``tastes``, from the same stream."""
    spec = scenario.users
    n, k = tastes.count, len(scenario.topics)
    interest, device = tastes.interest, tastes.device
    top_topics = np.empty(n, dtype=np.int64)
    for rows in _chunks(n):
        strongest = np.argpartition(-interest[rows], min(3, k) - 1, axis=1)[:, : min(3, k)]
        top_topics[rows] = np.bitwise_or.reduce(np.left_shift(1, strongest.astype(np.int64)), axis=1)

    styles = scenario.videos.styles
    style_taste = _dirichlet(rng, np.full(styles, spec.style_concentration), n)
    opted_in = rng.random(n) < spec.sensitive_opt_in

    # Signup picks follow true tastes: sampled in proportion to interest, without replacement.
    picks = min(spec.signup_picks, k)
    picked_topics = np.empty((n, picks), dtype=np.int16)
    for rows in _chunks(n):
        gumbel = np.log(interest[rows] + 1e-12) - np.log(-np.log(rng.random((rows.stop - rows.start, k))))
        picked_topics[rows] = np.argpartition(-gumbel, picks - 1, axis=1)[:, :picks]
    picked = rng.random(n) < spec.signup_pick_prob

    spd = spec.sessions_per_day
    sessions = spd.median * np.exp(spd.sigma * rng.standard_normal(n))
    multiplier = np.array([d.session_multiplier for d in spec.devices])[device]
    return Population(
        **{name: getattr(tastes, name) for name in Tastes.__dataclass_fields__},
        style_taste=style_taste,
        opted_in=opted_in,
        top_topics=top_topics,
        picked=picked,
        picked_topics=picked_topics,
        sessions_per_day=sessions.astype(np.float32),
        videos_per_session=(spec.videos_per_session * multiplier).astype(np.float32),
        languages=language_index(scenario),
        region_offset_min=np.array([round(r.utc_offset * 60) for r in spec.regions]),
    )
