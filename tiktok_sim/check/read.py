"""Strict readers for a results directory: malformed content becomes one line naming what is wrong."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError


class Malformed(Exception):
    """A file that cannot be read as what it should be; the message is one line."""


class Row(dict[str, str]):
    """One CSV row that knows where it is, so a bad value is reported by file and line."""

    where: str

    def int(self, column: str) -> int:
        """The column as an integer."""
        try:
            return int(self[column])
        except ValueError:
            raise Malformed(f"{self.where}: {column}: expected an integer, found {self[column]!r}") from None

    def float(self, column: str) -> float:
        """The column as a finite number."""
        try:
            value = float(self[column])
        except ValueError:
            raise Malformed(f"{self.where}: {column}: expected a number, found {self[column]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise Malformed(f"{self.where}: {column}: expected a finite number, found {self[column]!r}")
        return value


def read_table(path: Path, name: str, columns: Iterable[str], exact: bool = True) -> list[Row]:
    """The rows of a CSV file whose header is ``columns`` (or, unless ``exact``, includes them).

    Raises:
        Malformed: unreadable, no header, a missing or unexpected column, or a row with the
            wrong number of fields.
    """
    rows = []
    for header, fields, where in _records(path, name, list(columns), exact):
        row = Row(zip(header, fields, strict=True))
        row.where = where
        rows.append(row)
    return rows


def read_integers(path: Path, name: str, columns: Iterable[str]) -> dict[str, np.ndarray]:
    """Some integer columns of a CSV file whose header includes them, as (rows,) int64 arrays.

    The file is read a row at a time, keeping only these columns: an experiment's tables can
    be far larger than their rows held as :class:`Row` objects.

    Raises:
        Malformed: unreadable, no header, a missing column, a row with the wrong number of
            fields, or a value that is not an integer.
    """
    wanted = list(columns)
    values: list[list[int]] = [[] for _ in wanted]
    at: list[int] = []
    for header, fields, where in _records(path, name, wanted, exact=False):
        at = at or [header.index(column) for column in wanted]  # once: every row shares the header
        for column, i, kept in zip(wanted, at, values, strict=True):
            value = fields[i]
            try:
                kept.append(int(value))
            except ValueError:
                raise Malformed(f"{where}: {column}: expected an integer, found {value!r}") from None
    try:
        return {column: np.array(kept, dtype=np.int64) for column, kept in zip(wanted, values, strict=True)}
    except OverflowError:
        raise Malformed(f"{name}: a value does not fit in 64 bits") from None


def _records(path: Path, name: str, expected: list[str], exact: bool) -> Iterator[tuple[list[str], list[str], str]]:
    """Each row's (header, fields, "name: line N") of a CSV file, read a row at a time, its header checked.

    Raises:
        Malformed: unreadable, no header, a wrong header, or a row with the wrong number of fields.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                raise Malformed(f"{name}: empty, expected a header")
            _check_header(name, header, expected, exact)
            for fields in reader:
                where = f"{name}: line {reader.line_num}"
                if len(fields) != len(header):
                    raise Malformed(f"{where}: expected {len(header)} fields, found {len(fields)}")
                yield header, fields, where
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Malformed(f"{name}: cannot read: {_reason(exc)}") from None


def _check_header(name: str, header: list[str], expected: list[str], exact: bool) -> None:
    missing = [c for c in expected if c not in header]
    if missing:
        raise Malformed(f"{name}: missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise Malformed(f"{name}: a column appears twice in the header")
    if exact and header != expected:
        extra = [c for c in header if c not in expected]
        found = f"unexpected column(s) {', '.join(extra)}" if extra else "columns in another order"
        raise Malformed(f"{name}: {found}")


def read_json(path: Path, name: str) -> Any:
    """A JSON document.

    Raises:
        Malformed: the file is missing, unreadable or not JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Malformed(f"{name}: missing") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Malformed(f"{name}: cannot read: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class Document(BaseModel):
    """A JSON document's shape: the keys ``check`` relies on, typed; other keys are free."""

    model_config = ConfigDict(extra="allow", frozen=True)


SchemaVersion = Literal[1, 2]
"""The results' layout (see :data:`~tiktok_sim.metrics.SCHEMA_VERSION`); files without one are version 1."""


class RunManifest(Document):
    """manifest.json of one run."""

    schema_version: SchemaVersion | None = None  # summary.json's decides; manifests before version 2 lack it
    seed: StrictInt
    scenario_sha256: StrictStr
    files: dict[str, StrictStr] | None = None


class FunnelRow(Document):
    """One stage of summary.json's funnel."""

    stage: StrictInt
    pool_size: StrictInt
    entered: StrictInt
    passed: StrictInt


class Versioned(Document):
    """A document that says which layout its results have (none said: version 1)."""

    schema_version: SchemaVersion = 1


class RunSummary(Versioned):
    """summary.json of one run."""

    seed: StrictInt
    scenario: dict[str, Any]
    scenario_sha256: StrictStr
    creators: StrictInt
    videos: StrictInt
    impressions: StrictInt
    rates: dict[str, StrictFloat | StrictInt]
    views_gini: StrictFloat | StrictInt
    top_share: dict[str, StrictFloat | StrictInt]
    top1_view_share: StrictFloat | StrictInt | None = None
    top10_view_share: StrictFloat | StrictInt | None = None
    funnel: list[FunnelRow]
    featured: dict[str, dict[str, StrictFloat | StrictInt | None]] = {}


class Point(Document):
    """One point of an experiment: its parameters and its resolved scenario's hash.

    Parameters are typed as the overrides applied them (``0.02``, ``true``, ``[3]``), or, in
    results written before they were, their text (``"0.02"``).
    """

    params: dict[str, Any]
    scenario_sha256: StrictStr


class ExperimentManifest(Versioned):
    """manifest.json of an experiment (``run --reps``, ``sweep`` or ``compare``)."""

    kind: Literal["replications", "sweep", "compare"]
    root_seed: StrictInt
    reps: StrictInt = Field(ge=1)
    points: list[Point] = Field(min_length=1)
    scenario: dict[str, Any]
    scenario_sha256: StrictStr
    scenario_b: dict[str, Any] | None = None
    files: dict[str, StrictStr] | None = None


class ShardRecord(Document):
    """One task's JSON record in ``shards/``."""

    point: StrictInt
    replication: StrictInt
    params: dict[str, Any]
    seed: StrictInt
    scenario_sha256: StrictStr
    metrics: dict[str, StrictFloat | StrictInt | None] | None
    error: StrictStr | None


Shape = TypeVar("Shape", bound=BaseModel)


def shaped(model: type[Shape], document: Any, name: str) -> Shape:
    """``document`` as ``model``.

    Raises:
        Malformed: the first way the document differs from the shape, as ``name: key.path: message``.
    """
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise Malformed(f"{name}: {path + ': ' if path else ''}{first['msg']}") from None
