"""Write a run's tidy results: summary.json and CSV tables, all or nothing."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import os
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_sim import __version__
from tiktok_sim.audience import AUDIENCE_COLUMNS, AudienceLog
from tiktok_sim.metrics import SCHEMA_VERSION, summary
from tiktok_sim.model.exposure import GATE_NAMES
from tiktok_sim.outdir import Mode, staged
from tiktok_sim.results import RunResult
from tiktok_sim.scenario.loader import scenario_sha256
from tiktok_sim.world.catalog import ACTIONS

VIDEO_COLUMNS = (
    "video_id", "creator_id", "creator_name", "upload_min", "length_s", "stage_reached", "views", "completions",
    "likes", "comments", "shares", "follows", "not_interested", "stop_reason", "topic", "quality", "hook",
    "trending_sound", "eligible_min", "sound", "spam", "duplicate", "sensitive", "reports", "missed_gates",
    "followers", "region", "language",
)  # fmt: skip
CREATOR_COLUMNS = (
    "creator_id", "name", "featured", "initial_followers", "followers_gained", "videos", "views", "region", "language",
)  # fmt: skip
LEGACY_VIDEO_COLUMNS = VIDEO_COLUMNS[:-3]
LEGACY_CREATOR_COLUMNS = CREATOR_COLUMNS[:-2]
"""The tables of results schema 1 (before the creator columns), which ``check`` and ``report`` still read."""
REACH_COLUMNS = ("video_id", "hour", "views")
GATE_COLUMNS = ("video_id", "stage", "batch", "gate", "value", "threshold")
STAGE_COLUMNS = (
    "video_id", "stage", "batch", "entered_min", "evaluated_min", *ACTIONS, "watched", "length_s", "pool",
    "short_served", "early_stop", "passed", "failed_gate", "failed_value", "failed_threshold",
)  # fmt: skip


def summary_json(result: RunResult) -> str:
    """The summary document as pretty JSON text (NaN written as null)."""
    return json.dumps(finite(summary(result)), indent=2) + "\n"


def write_outputs(
    result: RunResult, out_dir: str | Path, argv: list[str] | None = None, mode: Mode = Mode.FRESH
) -> list[Path]:
    """Write every output file into ``out_dir`` as one set; return their paths.

    The files are written into a temporary directory beside ``out_dir``, which then takes
    its place with SIGINT and SIGTERM held back: an error or interruption leaves either the
    previous complete set or the new one, never a mix. ``out_dir`` must be absent or empty,
    unless ``mode`` is :attr:`Mode.REPLACE` (see :func:`~tiktok_sim.outdir.claim`).
    ``manifest.json`` records each file's SHA-256 for ``tiktok-sim check``. Tables are
    rendered and written a slice of rows at a time: a national world's tables would
    otherwise take gigabytes as Python strings.
    """
    files: dict[str, Callable[[], Iterable[str]]] = {
        "summary.json": lambda: [summary_json(result)],
        "videos.csv": lambda: csv_chunks(result.videos, VIDEO_COLUMNS),
        "creators.csv": lambda: csv_chunks(result.creators_table, CREATOR_COLUMNS),
        "reach.csv": lambda: csv_chunks(result.reach, REACH_COLUMNS),
        "stages.csv": lambda: csv_chunks(_stage_columns(result.stages), STAGE_COLUMNS),
        "gates.csv": lambda: csv_chunks(_gate_columns(result.gates), GATE_COLUMNS),
        "audience.csv": lambda: csv_chunks(result.audience or AudienceLog([]).table(), AUDIENCE_COLUMNS),
    }
    with staged(Path(out_dir), mode, whole=True) as stage:
        digests = {name: write_hashed(stage / name, chunks()) for name, chunks in files.items()}
        write_hashed(stage / "manifest.json", [manifest_json(result, digests, argv)])
    return [Path(out_dir) / name for name in [*files, "manifest.json"]]


def manifest_json(result: RunResult, digests: dict[str, str], argv: list[str] | None) -> str:
    """Versions, seed, scenario hash and the SHA-256 of every other output file (``digests``)."""
    manifest = {
        **versions(),
        "seed": result.seed,
        "scenario_sha256": scenario_sha256(result.scenario),
        "argv": list(argv or []),
        "files": digests,
    }
    return json.dumps(manifest, indent=2) + "\n"


def versions() -> dict[str, str | int]:
    """The versions that decide a run's numbers (this tool, Python, numpy and simpy) and the files' schema."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "simpy": importlib.metadata.version("simpy"),
    }


def temp_beside(final: Path) -> Path:
    """The temporary name ``final`` is written under before its rename into place.

    It is named before the file exists, so cleanup knows it however early an
    interruption lands (a name returned by ``mkstemp`` can be lost in between).
    """
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (an experiment's tables can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, text: str | bytes | Iterable[str]) -> None:
    """Write ``text`` (or its chunks, or bytes) beside ``path``, then rename it into place."""
    tmp = temp_beside(path)
    try:
        if isinstance(text, bytes):
            tmp.write_bytes(text)
        else:
            write_text(tmp, text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (or its chunks) to ``path``, exactly as given."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines([text] if isinstance(text, str) else text)


def write_hashed(path: Path, chunks: Iterable[str]) -> str:
    """Write ``chunks`` to ``path`` as UTF-8, one after another; return the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for chunk in chunks:
            data = chunk.encode()
            digest.update(data)
            handle.write(data)
    return digest.hexdigest()


CSV_ROWS = 1 << 16
"""Rows of a table rendered at a time."""


def csv_chunks(columns: Mapping[str, np.ndarray], order: tuple[str, ...] | None) -> Iterator[str]:
    """Column arrays as CSV text (floats to 6 significant digits): the header, then ``CSV_ROWS`` rows at a time."""
    names = list(order) if order else list(columns)
    arrays = [np.asarray(columns[n]) for n in names] if columns else []
    rows = len(arrays[0]) if arrays else 0
    for lo in [None, *range(0, rows, CSV_ROWS)]:  # None: the header
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if lo is None:
            writer.writerow(names)
        else:
            writer.writerows(zip(*(_format(a[lo : lo + CSV_ROWS]) for a in arrays), strict=True))
        yield buffer.getvalue()


def to_csv(columns: Mapping[str, np.ndarray], order: tuple[str, ...] | None) -> str:
    """Column arrays as one CSV text (see :func:`csv_chunks`)."""
    return "".join(csv_chunks(columns, order))


def _format(values: np.ndarray) -> list[Any]:
    if values.dtype.kind == "f":
        return [f"{v:.6g}" if np.isfinite(v) else "" for v in values.tolist()]
    if values.dtype.kind == "b":
        return [int(v) for v in values.tolist()]
    return values.tolist()


def _stage_columns(stages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stage evaluations with the failed gate spelled out."""
    if not stages:
        return {c: np.empty(0, dtype=np.int64) for c in STAGE_COLUMNS}
    names = np.array([*GATE_NAMES, ""], dtype=object)
    out = dict(stages)
    out["failed_gate"] = names[stages["failed_gate"]]  # -1 (passed) picks the trailing ""
    return out


def _gate_columns(gates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gate checks with the gate spelled out; a warming-up percentile gate's threshold is written empty."""
    if not gates:
        return {c: np.empty(0, dtype=np.int64) for c in GATE_COLUMNS}
    return {**gates, "gate": np.array(GATE_NAMES, dtype=object)[gates["gate"]]}


def finite(value: Any) -> Any:
    """Replace NaN and infinities with None so the JSON is standard."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
