"""What the world knows of each impression, gathered in one compiled pass.

The reactions read the viewer's true tastes and the video's properties for every
impression: about ten columns. Gathered with numpy that is a pass over the tick's
impressions per column, each with its temporaries; here it is one pass, shared between the
cores. The arithmetic is float32, as numpy's was, so the columns are the same to the bit.
"""

from __future__ import annotations

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.model.engagement import Exposure
from tiktok_sim.prefetch import AHEAD, prefetch, prefetch_row
from tiktok_sim.world.catalog import Catalog
from tiktok_sim.world.population import Population


def gather(
    users: np.ndarray,
    videos: np.ndarray,
    world: tuple[Population, Catalog],
    trend: np.ndarray,
    device_completion: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Exposure]:
    """The topic, sound and creator of impressions ``videos`` shown to ``users``, and what the reactions read.

    Args:
        users: (n,) each impression's viewer.
        videos: (n,) each impression's video.
        world: the population and the catalog.
        trend: (trending sounds,) every trending sound's popularity now.
        device_completion: (devices,) float32 logit of finishing per doubling of length, by device.
    """
    pop, cat = world
    topics, styles = pop.interest.shape[1], pop.style_taste.shape[1]
    topic, sound, creator, affinity, style, quality, hook, length, language_ok, popularity, flagged = _gather(
        users,
        videos,
        (cat.topic, cat.sound, cat.hashtags, cat.language, cat.creator),
        (cat.quality, cat.hook, cat.length_s, cat.spam, cat.duplicate),
        (pop.interest, pop.style_taste, pop.langmask),
        trend,
        (np.float32(topics), np.float32(styles / 2)),
    )
    exposure = Exposure(
        affinity=affinity,
        quality=quality,
        hook=hook,
        length_s=length,
        language_ok=language_ok,
        style=style,
        trend=popularity,
        # numpy's log2, as before: a compiled one may differ from it in the last bit
        complete_shift=device_completion[pop.device[users]] * np.log2(length / np.float32(10.0)),
        flagged=flagged,
    )
    return topic, sound, creator, exposure


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
    interest_rows, taste_rows = interest.reshape(interest.size), taste.reshape(taste.size)
    for i in numba.prange(n):
        ahead = i + AHEAD
        if ahead < n and users[ahead] != users[ahead - 1]:  # a viewer's rows, fetched ahead of their impressions
            prefetch_row(interest_rows, users[ahead], interest.shape[1])
            prefetch_row(taste_rows, users[ahead], styles)
            prefetch(langmask, users[ahead])  # type: ignore[call-arg]
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
