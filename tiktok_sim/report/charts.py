"""Reach curves drawn in the terminal with plotext."""

from __future__ import annotations

import numpy as np
import plotext as plt
from rich.text import Text


def reach_chart(
    curves: list[tuple[str, np.ndarray, np.ndarray]], width: int = 90, height: int = 16, title: str = ""
) -> Text:
    """Cumulative views against hours since upload, one line per video.

    Args:
        curves: (label, hours, cumulative views) per video.
        width: chart width in characters.
        height: chart height in characters.
        title: chart title.
    """
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    for label, hours, views in curves:
        plt.plot(hours.tolist(), views.tolist(), label=label, marker="braille")
    plt.xlabel("hours since upload")
    plt.ylabel("views")
    if title:
        plt.title(title)
    return Text.from_ansi(plt.build())
