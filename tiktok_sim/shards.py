"""One small file per finished task, so interrupted or failed experiments lose nothing.

A shard is written (temp file + rename) as soon as its task finishes. Resuming reads the
shards back and skips every task whose shard matches its seed and scenario hash.
"""

from __future__ import annotations

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
        target = self.path(int(record["point"]), int(record["replication"]))
        fd, tmp = tempfile.mkstemp(prefix=".shard.", dir=self.folder)
        with os.fdopen(fd, "w") as handle:
            json.dump(finite(record), handle)
        os.replace(tmp, target)

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
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.root)
        with os.fdopen(fd, "w") as handle:
            json.dump(finite(document), handle, indent=2)
        os.replace(tmp, self.root / name)
