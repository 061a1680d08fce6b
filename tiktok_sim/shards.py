"""One small file per finished task, so interrupted or failed experiments lose nothing.

A shard is written (temp file + rename) as soon as its task finishes. Resuming reads the
shards back and skips every task whose shard matches its seed and scenario hash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tiktok_sim.output import finite


class ShardStore:
    """The ``shards/`` folder of an experiment's output directory."""

    def __init__(self, directory: str | Path) -> None:
        """Create the folder if needed."""
        self.root = Path(directory)
        self.folder = self.root / "shards"
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, point: int, replication: int) -> Path:
        """Where task (point, replication) is stored."""
        return self.folder / f"point{point:05d}-rep{replication:05d}.json"

    def write(self, record: dict[str, Any]) -> None:
        """Store one finished (or failed) task atomically."""
        _atomic_write(self.path(int(record["point"]), int(record["replication"])), json.dumps(finite(record)))

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
        _atomic_write(self.root / name, json.dumps(finite(document), indent=2))

    def records(self) -> list[dict[str, Any]]:
        """Every shard, in (point, replication) order."""
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("point*-rep*.json"))]

    def write_tables(self, summary_rows: list[dict[str, Any]]) -> None:
        """The tidy tables: ``runs`` (one row per task) and ``summary`` (one row per point and metric).

        CSV always; Parquet too when pyarrow is installed.
        """
        runs = [
            {"run_id": f"p{r['point']}-r{r['replication']}", "point": r["point"], "replication": r["replication"],
             **r.get("params", {}), "seed": r["seed"], "error": r.get("error") or ""}
            for r in self.records()
        ]  # fmt: skip
        for name, rows in (("runs", runs), ("summary", summary_rows)):
            _atomic_write(self.root / f"{name}.csv", _csv(rows))
            _maybe_parquet(rows, self.root / f"{name}.parquet")


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(finite(rows))
    return buffer.getvalue()


def _maybe_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return  # Parquet is optional: CSV carries the same table
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(finite(rows)), tmp)
    os.replace(tmp, path)
