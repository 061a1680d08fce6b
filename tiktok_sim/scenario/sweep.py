"""The optional ``sweep:`` block of a scenario file: what ``tiktok-sim sweep`` varies.

It sits beside the scenario keys but is not part of the scenario (it does not change a
run, nor the scenario's hash); the loader takes it out before the schema sees the rest.

    sweep:
      vary:
        featured.0.post_hours: [[3], [19]]     # a list: grid values
        recommender.exploration: {lo: 0.02, hi: 0.2}   # a range: Latin-hypercube samples
      sample: 8                                # points drawn over the ranges
      reps: 5
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tiktok_sim.scenario.guard import check_structure
from tiktok_sim.scenario.schema import Strict

SWEEP_KEY = "sweep"
MAX_POINTS = 1_000
"""Points one sweep: block may make: each is validated before anything runs, then run ``reps`` times."""
Origin = tuple[str, int, int]
"""Where a value was written: (file, line, column), or (``--vary``, 0, 0)."""


class Range(Strict):
    """A range to sample from; integer bounds give integer samples."""

    lo: int | float = Field(description="lower bound")
    hi: int | float = Field(description="upper bound, above lo")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.lo >= self.hi:
            raise ValueError(f"expected lo < hi, found lo {self.lo} and hi {self.hi}")
        return self


def _plain(value: Any) -> Any:
    """A swept value must be one a scenario key can take: text, a number, true/false, a list or a mapping."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(
        f"expected a number, text or a list, found {value!s} (a {type(value).__name__}); quote it for text"
    )


Axis = Annotated[
    Annotated[list[Annotated[Any, AfterValidator(_plain)]], Field(min_length=1), Tag("values")]
    | Annotated[Range, Tag("range")],
    Discriminator(lambda value: "range" if isinstance(value, dict | Range) else "values"),
]
"""A mapping is a range, anything else a list of values (so each gets only its own error)."""


class SweepBlock(Strict):
    """What a sweep varies, and how often each point is replicated."""

    vary: dict[str, Axis] = Field(
        min_length=1, description="scenario key -> a list of values (grid) or {lo, hi} (with sample)"
    )
    sample: int | None = Field(
        default=None, ge=1, le=MAX_POINTS, description="Latin-hypercube points; every axis must be a range"
    )
    reps: int | None = Field(default=None, ge=1, description="replications per point")

    @model_validator(mode="after")
    def _consistent(self) -> SweepBlock:
        ranges = [key for key, values in self.vary.items() if isinstance(values, Range)]
        if self.sample is None and ranges:
            raise ValueError(f"expected lists of values without sample, found a range for {ranges[0]}")
        if self.sample is not None and len(ranges) < len(self.vary):
            lists = [key for key in self.vary if key not in ranges]
            raise ValueError(f"expected a {{lo, hi}} range for every key with sample, found a list for {lists[0]}")
        points = math.prod(len(values) for values in self.vary.values() if isinstance(values, list))
        if self.sample is None and points > MAX_POINTS:
            raise ValueError(f"expected a grid of at most {MAX_POINTS:,} points, found {points:,}")
        return self


@dataclass(frozen=True)
class SweepPlan:
    """A sweep in the form the experiment runner takes (the same as ``--vary`` gives).

    Attributes:
        axes: (key, values as YAML text), or (key, ["lo:hi"]) for a sampled range.
        origins: where each key's values were written, for error messages.
        sample: Latin-hypercube points, or None for a grid.
        reps: replications per point, or None for the command's default.
    """

    axes: list[tuple[str, list[str]]]
    origins: dict[str, Origin] = field(default_factory=dict)
    sample: int | None = None
    reps: int | None = None


def plan(block: SweepBlock, origins: dict[str, Origin]) -> SweepPlan:
    """The runner's form of a validated block."""
    axes = []
    for key, values in block.vary.items():
        if isinstance(values, Range):
            axes.append((key, [f"{values.lo}:{values.hi}"]))
        else:
            axes.append((key, [override_text(v) for v in values]))
    return SweepPlan(axes, origins, block.sample, block.reps)


def yaml_values(key: str, text: str) -> list[str]:
    """The values of ``--vary key=[v1, v2]``: a YAML list, so a value may hold commas (``[[6], [21]]``).

    Raises:
        ValueError: if ``text`` is not a YAML list of plain values.
    """
    try:
        values = YAML(typ="safe", pure=True).load(text)
        texts = [override_text(v) for v in values] if isinstance(values, list) else None
    except (YAMLError, TypeError):  # TypeError: a value JSON cannot write, such as a date
        texts = None
    if texts is None:
        raise ValueError(f"--vary {key}: expected a YAML list of values such as [[6], [21]], found {text.strip()!r}")
    return texts


def as_text(value: Any) -> str:
    """A value as the YAML text an override takes (JSON is YAML); strings stay as written.

    It is also a swept value's canonical form in CSV: ``0.02``, ``true``, ``[3]``, ``us``.
    """
    return value if isinstance(value, str) else json.dumps(value)


def override_text(value: Any) -> str:
    """A value read from YAML as the override text that gives it back.

    A string YAML would read as something else (``"123"``, ``"true"``) is quoted, so it stays a string.
    """
    if not isinstance(value, str) or not value.strip():
        return as_text(value)
    try:
        back = override_value(value)
    except Exception:  # not YAML on its own (e.g. "a: b: c"): quoted, it is
        back = None
    return value if back == value and isinstance(back, str) else json.dumps(value)


def override_value(text: str) -> Any:
    """The value a ``key=text`` override (``--set``, ``--vary``, a sweep point) puts in the scenario.

    It is ``text`` parsed as YAML under the structure limits of a file (empty text is the
    empty string), so ``0.02`` is a number, ``true`` a boolean, ``[3]`` a list and ``12h`` text.

    Raises:
        HostileYAML: structure no scenario needs.
        YAMLError: not YAML.
    """
    if not text.strip():
        return ""
    check_structure(text)
    return YAML(typ="safe", pure=True).load(text)


def typed(point: dict[str, str]) -> dict[str, Any]:
    """A sweep point's values as the overrides applied them (see :func:`override_value`), for its results."""
    return {key: override_value(text) for key, text in point.items()}


def texts(params: dict[str, Any]) -> dict[str, str]:
    """Swept values in their canonical text (:func:`as_text`), for CSV; old results' text stays as written."""
    return {key: as_text(value) for key, value in params.items()}
