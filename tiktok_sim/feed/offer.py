"""One feed tick's offer: the videos it can show, compacted, with what ranking needs of each.

Per-candidate gathers hit these small arrays, never catalog-wide ones. Index ``ids.size``
is a sentinel meaning "no candidate": its weights are -inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
from tiktok_sim.feed.context import Contexts

RATIO_CLIP = 1.0  # a slice's observed value moves a score by at most exp(weight x this)


@dataclass(frozen=True)
class Offer:
    """The videos one feed tick can show.

    Attributes:
        ids: (M,) ascending video ids: open videos, every creator's latest and popular ones.
        columns: (3, M + 1) intp estimate columns of each video's topic, sound and hashtag.
        creator: (M + 1,) int creator (-1 for the sentinel).
        sound: (M + 1,) int sound (-1 for the sentinel).
        weight: (contexts, M + 1) float32 expected action value x weak-signal factors.
        sensitive: (M + 1,) bool, shown only to users who opted in.
        similar: (segments, M + 1) float32 similar-users factor, or None when its weight is 0.
        index: (catalog,) intp offer index of every video (the sentinel where not offered).
    """

    ids: np.ndarray
    columns: np.ndarray
    creator: np.ndarray
    sound: np.ndarray
    weight: np.ndarray
    sensitive: np.ndarray
    similar: np.ndarray | None
    index: np.ndarray

    @property
    def none(self) -> int:
        """The sentinel's index."""
        return int(self.ids.size)


def with_sentinel(values: np.ndarray, fill: float | int) -> np.ndarray:
    """``values`` with one more entry along the last axis, ``fill``, for the sentinel."""
    return np.concatenate([values, np.full((*values.shape[:-1], 1), fill, dtype=values.dtype)], axis=-1)


def slice_factor(views: np.ndarray, signal: np.ndarray, prior_views: float, floor: float) -> np.ndarray:
    """(slices, n) log of each slice's observed value over the video's, clipped to +-RATIO_CLIP.

    Args:
        views: (n, slices) views per slice (a segment of users, or a device).
        signal: (n, slices) positive signal per slice.
        prior_views: pseudo-views shrinking each slice's rate toward the video's own.
        floor: the smallest rate considered, so a silent video's ratio stays finite.
    """
    floor32, prior32 = np.float32(floor), np.float32(prior_views)
    total = np.maximum(signal.sum(axis=1) / np.maximum(views.sum(axis=1), np.float32(1.0)), floor32)
    rate = (signal + prior32 * total[:, None]) / (views + prior32)
    return np.clip(np.log(np.maximum(rate, floor32) / total[:, None]), -RATIO_CLIP, RATIO_CLIP).T


def context_weights(
    ctx: Contexts,
    value: np.ndarray,
    language: np.ndarray,
    region: np.ndarray,
    device_log: np.ndarray,
    weights: tuple[float, float, float],
) -> np.ndarray:
    """(contexts, n + 1) float32 value x exp(weak signals); the last column, the sentinel's, is -inf.

    Args:
        ctx: the contexts.
        value: (n,) expected action value per impression.
        language: (n,) each video's language.
        region: (n,) each video's creator's region.
        device_log: (devices, n) clipped log of each device's observed value ratio.
        weights: (language, country, device) weak-signal weights.
    """
    w_language, w_country, w_device = weights
    log = np.where(ctx.speaks[ctx.group_of][:, language], np.float32(0.0), np.float32(-w_language))
    log -= np.float32(w_country) * (ctx.region[:, None] != region[None, :])
    log += np.float32(w_device) * device_log[ctx.device]
    out = np.empty((log.shape[0], value.size + 1), dtype=np.float32)
    np.exp(log, out=out[:, :-1])
    out[:, :-1] *= value
    out[:, -1] = -np.inf
    return out


@numba.njit(cache=True, nogil=True)
def add_slice_counts(
    views: np.ndarray, signal: np.ndarray, videos: np.ndarray, slice_of: np.ndarray, gain: np.ndarray
) -> None:
    """Add each impression's view and positive signal to its video's row, in its viewer's slice's column.

    Args:
        views: (catalog, slices) float32 views per video and slice, updated in place.
        signal: (catalog, slices) float32 positive signal per video and slice, updated in place.
        videos: (n,) video of each impression.
        slice_of: (n,) slice (segment or device) of each impression's viewer.
        gain: (n,) float32 positive signal of each impression.
    """
    for i in range(videos.size):
        views[videos[i], slice_of[i]] += 1
        signal[videos[i], slice_of[i]] += gain[i]
