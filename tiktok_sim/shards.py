"""One small set of files per finished task, so interrupted or failed experiments lose nothing.

A task's shard is its tables (``videos``, ``funnel`` as CSV) and then its JSON record,
each written to a temp file and renamed as soon as the task finishes. The record is
written last, so its presence means the whole shard is there. Resuming reads the records
back and skips every task whose record matches its seed and scenario hash.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_sim.output import atomic_write, finite, temp_beside, to_csv

TABLES = ("videos", "funnel")
"""Per-task tidy tables, concatenated into ``videos.csv`` and ``funnel.csv`` at the end."""


class ShardStore:
    """The ``shards/`` folder of an experiment's output directory."""

    def __init__(self, directory: str | Path) -> None:
        """Create the folder if needed."""
        self.root = Path(directory)
        self.folder = self.root / "shards"
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, point: int, replication: int, table: str | None = None) -> Path:
        """Where task (point, replication) keeps its record, or one of its tables."""
        stem = f"point{point:05d}-rep{replication:05d}"
        return self.folder / (f"{stem}.{table}.csv" if table else f"{stem}.json")

    def write(self, record: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]) -> None:
        """Store one finished (or failed) task: its tables first, its record last."""
        point, replication = int(record["point"]), int(record["replication"])
        identity = {"run_id": f"p{point}-r{replication}", "point": point, "replication": replication}
        for name, columns in tables.items():
            rows = len(next(iter(columns.values()), ()))
            keyed = {key: np.full(rows, value) for key, value in identity.items()} | columns
            atomic_write(self.path(point, replication, name), to_csv(keyed, None))
        atomic_write(self.path(point, replication), json.dumps(finite(record)))

    def finished(self, point: int, replication: int, seed: int, scenario_sha256: str) -> dict[str, Any] | None:
        """The stored record of a successful task with this identity, if any."""
        path = self.path(point, replication)
        if not path.is_file():
            return None
        try:
            record: dict[str, Any] = json.loads(path.read_text())
        except ValueError:
            return None  # unreadable: run it again
        same = record.get("seed") == seed and record.get("scenario_sha256") == scenario_sha256
        return record if same and record.get("error") is None else None

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        """A top-level JSON file of the experiment (manifest.json, summary.json)."""
        atomic_write(self.root / name, json.dumps(finite(document), indent=2))

    def records(self) -> list[dict[str, Any]]:
        """Every task's record, in (point, replication) order."""
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("point*-rep*.json"))]

    def write_tables(self, summary_rows: list[dict[str, Any]]) -> None:
        """The tidy tables, CSV always and Parquet too when pyarrow is installed.

        ``runs`` (one row per task), ``summary`` (one row per point and metric), and
        ``videos`` and ``funnel`` (every task's rows, keyed by ``run_id``).
        """
        records = self.records()
        runs = [
            {"run_id": f"p{r['point']}-r{r['replication']}", "point": r["point"], "replication": r["replication"],
             **r.get("params", {}), "seed": r["seed"], "error": r.get("error") or ""}
            for r in records
        ]  # fmt: skip
        for name, rows in (("runs", runs), ("summary", summary_rows)):
            atomic_write(self.root / f"{name}.csv", _csv(rows))
            _maybe_parquet(self.root / f"{name}.csv")
        for table in TABLES:
            parts = [self.path(r["point"], r["replication"], table) for r in records if r.get("error") is None]
            atomic_write(self.root / f"{table}.csv", _concatenated([p for p in parts if p.is_file()]))
            _maybe_parquet(self.root / f"{table}.csv")


def _concatenated(parts: list[Path]) -> Iterator[str]:
    """CSV files with one header, streamed (a sweep's videos need not fit in memory twice)."""
    for i, part in enumerate(parts):
        with part.open(newline="") as handle:
            header = handle.readline()
            if i == 0:
                yield header
            yield from handle


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(finite(rows))
    return buffer.getvalue()


def _maybe_parquet(csv_path: Path) -> None:
    """The same table as Parquet beside ``csv_path``, if pyarrow is installed."""
    try:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:
        return  # Parquet is optional: CSV carries the same table
    if csv_path.stat().st_size == 0:
        return  # no task finished: there are no columns to type
    path = csv_path.with_suffix(".parquet")
    tmp = temp_beside(path)
    try:
        pq.write_table(pa_csv.read_csv(csv_path), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
