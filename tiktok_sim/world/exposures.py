"""What the world knows of each impression, gathered in one compiled pass.

The reactions read the viewer's true tastes and the video's properties for every
impression: about ten columns. Gathered with numpy that is a pass over the tick's
impressions per column, each with its temporaries; here it is one pass, shared between the
cores. The arithmetic is float32, as numpy's was, so the columns are the same to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.world.catalog import Catalog
from tiktok_sim.world.population import Population


@dataclass(frozen=True)
class Gathered:
    """One row per impression: the video's topic, sound and creator, and what the reactions read.

    ``affinity`` is the viewer's true interest in the topic and ``style`` their taste for the
    sound's and first hashtag's styles, each relative to an even spread (1 = average);
    ``trend`` is the sound's trend popularity now (0 if not trending); ``flagged`` is spam or
    a duplicate.
    """

    topic: np.ndarray
    sound: np.ndarray
    creator: np.ndarray
    affinity: np.ndarray
    style: np.ndarray
    quality: np.ndarray
    hook: np.ndarray
    length_s: np.ndarray
    language_ok: np.ndarray
    trend: np.ndarray
    flagged: np.ndarray


def gather(users: np.ndarray, videos: np.ndarray, pop: Population, cat: Catalog, trend: np.ndarray) -> Gathered:
    """The columns of impressions ``videos`` shown to ``users``, given every trending sound's popularity now."""
    topics, styles = pop.interest.shape[1], pop.style_taste.shape[1]
    columns = _gather(
        users,
        videos,
        (cat.topic, cat.sound, cat.hashtags, cat.language, cat.creator),
        (cat.quality, cat.hook, cat.length_s, cat.spam, cat.duplicate),
        (pop.interest, pop.style_taste, pop.langmask),
        trend,
        (np.float32(topics), np.float32(styles / 2)),
    )
    return Gathered(*columns)


@numba.njit(cache=True, parallel=True)
def _gather(
    users: np.ndarray,
    videos: np.ndarray,
    ids: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    traits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    viewer: tuple[np.ndarray, np.ndarray, np.ndarray],
    trend: np.ndarray,
    scale: tuple[np.float32, np.float32],
) -> tuple[np.ndarray, ...]:
    topic, sound, hashtags, language, creator = ids
    quality, hook, length_s, spam, duplicate = traits
    interest, taste, langmask = viewer
    topic_scale, style_scale = scale
    n, styles = users.size, taste.shape[1]
    out_topic = np.empty(n, dtype=topic.dtype)
    out_sound = np.empty(n, dtype=sound.dtype)
    out_creator = np.empty(n, dtype=np.int64)
    affinity = np.empty(n, dtype=np.float32)
    style = np.empty(n, dtype=np.float32)
    out_quality = np.empty(n, dtype=np.float32)
    out_hook = np.empty(n, dtype=np.float32)
    length = np.empty(n, dtype=np.float32)
    language_ok = np.empty(n, dtype=np.bool_)
    out_trend = np.zeros(n, dtype=np.float32)
    flagged = np.empty(n, dtype=np.bool_)
    for i in numba.prange(n):
        u, v = users[i], videos[i]
        t, s = topic[v], sound[v]
        out_topic[i], out_sound[i], out_creator[i] = t, s, creator[v]
        affinity[i] = interest[u, t] * topic_scale
        style[i] = (taste[u, s % styles] + taste[u, hashtags[v, 0] % styles]) * style_scale
        out_quality[i], out_hook[i], length[i] = quality[v], hook[v], length_s[v]
        language_ok[i] = ((langmask[u] >> language[v]) & 1) == 1
        if s < trend.size:
            out_trend[i] = trend[s]
        flagged[i] = spam[v] or duplicate[v]
    columns = (out_topic, out_sound, out_creator, affinity, style, out_quality, out_hook, length, language_ok)
    return (*columns, out_trend, flagged)
