"""One small set of files per finished task, so interrupted or failed experiments lose nothing.

A task's shard is its tables (``videos``, ``funnel``, ``creators`` as CSV) and then its JSON record,
each written to a temp file and renamed as soon as the task finishes. The record is
written last, so its presence means the whole shard is there. Resuming reads the records
back and skips every task whose record matches its seed and scenario hash.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_sim.outdir import EXPERIMENT_FILES, EXPERIMENT_TABLES, TEMP_NAME, signals_held
from tiktok_sim.output import atomic_write, file_sha256, finite, temp_beside, to_csv, write_text
from tiktok_sim.scenario.sweep import texts

TABLES = ("videos", "funnel", "creators")
"""Per-task tidy tables, concatenated into ``videos.csv``, ``funnel.csv`` and ``creators.csv`` at the end."""
LEGACY_TABLES = TABLES[:2]
"""A task's tables in results schema 1 (before the creators table)."""


class ShardStore:
    """The ``shards/`` folder of an experiment's output directory, and the set it ends with."""

    def __init__(self, directory: str | Path) -> None:
        """Create the folder if needed."""
        self.root = Path(directory)
        self.folder = self.root / "shards"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.reused = 0
        """Tasks whose finished shard :meth:`finished` has handed back (not run again)."""

    def path(self, point: int, replication: int, table: str | None = None) -> Path:
        """Where task (point, replication) keeps its record, or one of its tables."""
        return shard_path(self.folder, point, replication, table)

    def start(self, manifest: dict[str, Any]) -> None:
        """Record which experiment this is, without a file list until it finishes.

        Temporary files a killed process left in ``shards/`` are dropped: their tasks run again.
        """
        for leftover in self.folder.iterdir():
            if TEMP_NAME.fullmatch(leftover.name):
                leftover.unlink()
        atomic_write(self.root / "manifest.json", json_text(manifest))

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
        """The stored record of a successful task with this identity and all its tables, if any.

        Each record handed back is counted in ``reused``: its task is not run again.
        """
        path = self.path(point, replication)
        if not path.is_file():
            return None
        try:
            record: dict[str, Any] = json.loads(path.read_text())
        except ValueError:
            return None  # unreadable: run it again
        same = (
            isinstance(record, dict) and record.get("seed") == seed and record.get("scenario_sha256") == scenario_sha256
        )
        whole = all(self.path(point, replication, table).is_file() for table in TABLES)
        if not (same and whole and record.get("error") is None):
            return None
        self.reused += 1
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every task's record, in (point, replication) order."""
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("point*-rep*.json"))]

    def finish(self, summary: dict[str, Any], summary_rows: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
        """The experiment's set: summary.json, the tidy tables, and the manifest with every file's SHA-256.

        Tables are CSV always and Parquet too when pyarrow is installed: ``runs`` (one row per
        task), ``summary`` (one row per point and metric), and ``videos``, ``funnel`` and
        ``creators`` (every task's rows, keyed by ``run_id``). All are written to temporary files first and renamed
        into place together, the manifest last, with SIGINT and SIGTERM held back.
        """
        staged: dict[str, Path] = {}
        try:
            for name, text in rendered(self.folder, self.records(), summary, summary_rows).items():
                staged[name] = temp_beside(self.root / name)
                write_text(staged[name], text)
            for table in EXPERIMENT_TABLES:
                parquet = temp_beside(self.root / f"{table}.parquet")
                if _parquet(staged[f"{table}.csv"], parquet):
                    staged[f"{table}.parquet"] = parquet
            files = {f"shards/{p.name}": file_sha256(p) for p in sorted(self.folder.iterdir())}
            files |= {name: file_sha256(tmp) for name, tmp in staged.items()}
            staged["manifest.json"] = temp_beside(self.root / "manifest.json")
            write_text(staged["manifest.json"], json_text({**manifest, "files": dict(sorted(files.items()))}))
            with signals_held():
                for stale in set(EXPERIMENT_FILES) - set(staged):
                    (self.root / stale).unlink(missing_ok=True)  # a Parquet copy this run could not make
                for name, tmp in staged.items():  # manifest.json last: it vouches for the others
                    os.replace(tmp, self.root / name)
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)


def shard_path(folder: Path, point: int, replication: int, table: str | None = None) -> Path:
    """Where task (point, replication) keeps its record, or one of its tables."""
    stem = f"point{point:05d}-rep{replication:05d}"
    return folder / (f"{stem}.{table}.csv" if table else f"{stem}.json")


def rendered(
    folder: Path, records: list[dict[str, Any]], summary: dict[str, Any], summary_rows: list[dict[str, Any]]
) -> dict[str, str | Iterator[str]]:
    """The text of the experiment's top-level files (but the manifest), from its shards and summaries."""
    finished = [r for r in records if r.get("error") is None]
    return {
        "summary.json": json_text(summary),
        "runs.csv": csv_text(runs_rows(records)),
        "summary.csv": csv_text(summary_rows),
        **{f"{t}.csv": concatenated([shard_path(folder, r["point"], r["replication"], t) for r in finished])
           for t in TABLES},
    }  # fmt: skip


def runs_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task: run_id, point, replication, parameters, seed, error."""
    return [
        {"run_id": f"p{r['point']}-r{r['replication']}", "point": r["point"], "replication": r["replication"],
         **texts(r.get("params", {})), "seed": r["seed"], "error": r.get("error") or ""}
        for r in records
    ]  # fmt: skip


def metrics_of(record: dict[str, Any]) -> dict[str, float]:
    """A stored task's metrics (JSON keeps undefined values as null); empty for a failed task."""
    return {k: math.nan if v is None else float(v) for k, v in (record.get("metrics") or {}).items()}


def json_text(document: dict[str, Any]) -> str:
    """A top-level JSON file of the experiment (manifest.json, summary.json)."""
    return json.dumps(finite(document), indent=2)


def concatenated(parts: list[Path]) -> Iterator[str]:
    """CSV files with one header, streamed (a sweep's videos need not fit in memory twice)."""
    for i, part in enumerate(parts):
        with part.open(newline="") as handle:
            header = handle.readline()
            if i == 0:
                yield header
            yield from handle


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, every key a column in order of first appearance (NaN written empty)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(finite(rows))
    return buffer.getvalue()


def _parquet(csv_path: Path, parquet_path: Path) -> bool:
    """Write the table of ``csv_path`` as Parquet, if pyarrow is installed and the table has columns."""
    try:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:
        return False  # Parquet is optional: CSV carries the same table
    if csv_path.stat().st_size == 0:
        return False  # no task finished: there are no columns to type
    pq.write_table(pa_csv.read_csv(csv_path), parquet_path)
    return True
