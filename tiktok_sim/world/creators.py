"""Creators (featured first, then synthetic) and their initial follow edges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.scenario.schema import Featured, LognormalLength, QuantileLength, Scenario, schedule_slot
from tiktok_sim.world.population import Tastes, language_index, region_shares


@dataclass(frozen=True)
class Creators:
    """Creators as parallel arrays (one row per creator; featured creators come first).

    Attributes:
        names: channel names.
        featured: (n,) bool.
        region: (n,) int16.
        language: (n,) int16 index into the population's languages (the region's first).
        niche: (n, m) int16 topics; rows shorter than m repeat their first topic.
        niche_count: (n,) int16 how many of a row's topics are the creator's own.
        quality: (n,) float32 in [0, 1].
        hook: (n,) float32 in [0, 1].
        posts_per_day: (n,) float32 mean uploads per day.
        post_hours: (n, 24) float64 probabilities of the local upload hour.
        length_median_s: (n,) float32, featured creators' typical length, NaN for the rest.
        trending_prob: (n,) float64 chance an upload uses a trending sound.
        schedule: (creator, weekdays, local minute) of every exact upload time of a featured
            creator with a schedule (whose ``posts_per_day`` is then 0: no random uploads).
    """

    names: list[str]
    featured: np.ndarray
    region: np.ndarray
    language: np.ndarray
    niche: np.ndarray
    niche_count: np.ndarray
    quality: np.ndarray
    hook: np.ndarray
    posts_per_day: np.ndarray
    post_hours: np.ndarray
    length_median_s: np.ndarray
    trending_prob: np.ndarray
    schedule: list[tuple[int, tuple[int, ...], int]]

    @property
    def count(self) -> int:
        """Number of creators."""
        return len(self.names)


def build_creators(scenario: Scenario, rng: np.random.Generator) -> Creators:
    """Draw the synthetic creators and place the featured ones first."""
    spec, featured = scenario.creators, scenario.featured
    n_syn, n_feat = spec.count, len(featured)
    n_topics = len(scenario.topics)
    width = max([spec.niche_topics, *(len(f.niche) for f in featured)])
    region_names = [r.name for r in scenario.users.regions]
    languages = language_index(scenario)

    region = np.concatenate(
        [
            [region_names.index(f.region) if f.region else 0 for f in featured],
            rng.choice(len(region_names), size=n_syn, p=region_shares(scenario)),
        ]
    ).astype(np.int16)
    first_language = np.array([languages.index(r.languages[0]) for r in scenario.users.regions])

    niche = np.empty((n_feat + n_syn, width), dtype=np.int16)
    for i, f in enumerate(featured):
        topics = [scenario.topics.index(t) for t in f.niche]
        niche[i] = topics + [topics[0]] * (width - len(topics))
    drawn = np.argsort(rng.random((n_syn, n_topics)), axis=1)[:, : min(spec.niche_topics, n_topics)]
    niche[n_feat:] = np.pad(drawn, ((0, 0), (0, width - drawn.shape[1])), mode="edge")

    ppd = spec.posts_per_day
    hours = np.tile(np.asarray(spec.post_hours) / sum(spec.post_hours), (n_feat + n_syn, 1))
    for i, f in enumerate(featured):
        if f.post_hours:
            hours[i] = np.bincount(f.post_hours, minlength=24) / len(f.post_hours)

    return Creators(
        names=[f.name for f in featured] + [f"creator_{i:05d}" for i in range(n_syn)],
        featured=np.arange(n_feat + n_syn) < n_feat,
        region=region,
        language=first_language[region].astype(np.int16),
        niche=niche,
        niche_count=np.array([len(f.niche) for f in featured] + [drawn.shape[1]] * n_syn, dtype=np.int16),
        quality=np.concatenate([[f.quality for f in featured], rng.beta(spec.quality.a, spec.quality.b, n_syn)]).astype(
            np.float32
        ),
        hook=np.concatenate([[f.hook for f in featured], rng.beta(spec.hook.a, spec.hook.b, n_syn)]).astype(np.float32),
        posts_per_day=np.concatenate(
            [[f.posts_per_day or 0.0 for f in featured], ppd.median * np.exp(ppd.sigma * rng.standard_normal(n_syn))]
        ).astype(np.float32),
        post_hours=hours,
        length_median_s=np.concatenate([[f.video_length_s for f in featured], np.full(n_syn, np.nan)]).astype(
            np.float32
        ),
        trending_prob=np.array([_trending_prob(scenario, f) for f in featured] + [_trending_prob(scenario)] * n_syn),
        schedule=[(i, *schedule_slot(entry)) for i, f in enumerate(featured) for entry in f.schedule or []],
    )


def _trending_prob(scenario: Scenario, featured: Featured | None = None) -> float:
    """A creator's chance of using a trending sound: their own if set, else every upload's."""
    if featured is None or featured.trending_sound_prob is None:
        return scenario.videos.trending_sound_prob
    return featured.trending_sound_prob


def initial_followers(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """(n_creators,) int64 heavy-tailed follower targets, featured first."""
    spec = scenario.creators.followers
    drawn = spec.median * np.exp(spec.sigma * rng.standard_normal(scenario.creators.count))
    counts = np.concatenate([[f.followers for f in scenario.featured], np.round(drawn)])
    return np.minimum(counts, scenario.users.count // 2).astype(np.int64)


def build_follow_keys(
    creators: Creators, tastes: Callable[[], Tastes], targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Sorted unique int64 keys ``user * n_creators + creator``: the initial follow edges.

    Followers speak the creator's language. Half are drawn uniformly among those
    speakers, half in proportion to their true interest in the creator's main topic, so
    audiences lean toward the niche without being pure.

    Args:
        creators: the creators.
        tastes: the users' languages and interests; called (and waited for) only once the
            edges' creators and kinds are drawn, so the users can be drawn meanwhile.
        targets: (creators,) followers each creator starts with.
        rng: the follow graph's own stream.
    """
    n_creators = creators.count
    # int32: half the bytes of a national world's ~76M edges (keys are made int64 at the end)
    owner = np.repeat(np.arange(n_creators, dtype=np.int32), targets)
    users = np.zeros(owner.size, dtype=np.int32)
    by_interest = rng.random(owner.size) < 0.5
    main_topic = creators.niche[owner, 0]
    language = creators.language[owner]
    # The edges drawn by interest, grouped by (language, topic) once, each group in edge order.
    interested = np.flatnonzero(by_interest)
    n_topics = int(main_topic.max(initial=0)) + 1
    group = language[interested].astype(np.int64) * n_topics + main_topic[interested]
    order = np.argsort(group, kind="stable")
    ends = np.cumsum(np.bincount(group))  # where each group's run ends in ``order``
    groups = {g: interested[order[ends[g] - size : ends[g]]] for g, size in enumerate(np.diff(ends, prepend=0)) if size}
    del interested, group, order
    uniform = {int(lang): np.flatnonzero((language == lang) & ~by_interest) for lang in np.unique(language)}
    population = tastes()
    interest = np.ascontiguousarray(population.interest.T)  # a topic's column is read once per language
    for lang, rows in uniform.items():
        speakers = np.flatnonzero((population.langmask >> lang) & 1)
        if not speakers.size:  # nobody speaks it (a tiny world): these creators start without followers
            users[language == lang] = -1
            continue
        users[rows] = speakers[rng.integers(0, speakers.size, rows.size)]
        for topic in range(n_topics):
            chosen = groups.get(lang * n_topics + topic)
            if chosen is None:
                continue
            cdf = np.cumsum(interest[topic, speakers], dtype=np.float64)
            at = _search_in_order(cdf, rng.random(chosen.size) * cdf[-1])
            users[chosen] = speakers[np.minimum(at, speakers.size - 1)]
    return _keys_by_user(users, owner, population.count, n_creators)


@numba.njit(cache=True, nogil=True)  # nogil: the graph is built beside the rest of the population
def _keys_by_user(users: np.ndarray, owner: np.ndarray, n_users: int, n_creators: int) -> np.ndarray:
    """Sorted unique keys ``user * n_creators + owner`` of the edges with a user (>= 0); ``owner`` ascends.

    A counting sort by user: each user's edges keep their ascending owners, so the keys come
    out sorted, as ``np.sort`` would give them, in one pass instead of a sort of every edge;
    a repeated edge is then next to its twin and dropped in a second pass.
    """
    start = np.zeros(n_users + 1, dtype=np.int64)
    for u in users:
        if u >= 0:
            start[u + 1] += 1
    for u in range(n_users):
        start[u + 1] += start[u]
    keys = np.empty(start[n_users], dtype=np.int64)
    for i in range(users.size):
        u = users[i]
        if u >= 0:
            keys[start[u]] = np.int64(u) * n_creators + owner[i]
            start[u] += 1
    kept = 0
    for i in range(keys.size):
        if kept == 0 or keys[i] != keys[kept - 1]:
            keys[kept] = keys[i]
            kept += 1
    return keys[:kept]  # the follow graph copies them into its own room


def _search_in_order(cdf: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cdf, values)``, looking the values up in ascending order.

    Each search then starts where the previous one ended, in cache: at 10M users, where a
    language's cdf outgrows the caches, about 5x faster. The answer is the same.
    """
    order = np.argsort(values)
    at = np.empty(values.size, dtype=np.intp)
    at[order] = np.searchsorted(cdf, values[order])
    return at


def sample_lengths(scenario: Scenario, median_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 video lengths in seconds.

    Where ``median_s`` is finite (featured creators) the length is lognormal around it
    with sigma 0.15; elsewhere it follows the scenario's length distribution.
    """
    dist = scenario.creators.video_length
    u = rng.random(median_s.size)
    if isinstance(dist, QuantileLength):
        ps = np.array([p for p, _ in dist.points])
        log_s = np.log([s for _, s in dist.points])
        drawn = np.exp(np.interp(u, ps, log_s))
    else:
        assert isinstance(dist, LognormalLength)
        from scipy.special import ndtri

        drawn = np.clip(dist.median * np.exp(dist.sigma * ndtri(u)), dist.min, dist.max)
    own = np.isfinite(median_s)
    drawn[own] = median_s[own] * np.exp(0.15 * rng.standard_normal(int(own.sum())))
    return drawn.astype(np.float32)
