"""Durations written as ``90m``, ``72h``, ``3d`` (or a bare number of minutes)."""

from __future__ import annotations

import re

_UNITS = {"s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: object) -> float:
    """Return a duration in minutes.

    Args:
        value: a number of minutes, or a string such as ``"90m"``, ``"72h"``, ``"3d"``.

    Raises:
        ValueError: if the value is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90m, 72h or 3d, found {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"expected a duration such as 90m, 72h or 3d, found {value!r}")


def format_duration(minutes: float) -> str:
    """Render minutes in the largest unit that divides them exactly."""
    for unit, size in (("d", 1440.0), ("h", 60.0), ("m", 1.0)):
        if minutes >= size and float(minutes / size).is_integer():
            return f"{int(minutes // size)}{unit}"
    return f"{minutes:g}m"
