"""What a run writes down as it goes: each stage evaluation, each gate check, and hourly reach.

The logs grow over the whole run, a few rows a tick. Each column lives in one buffer that
doubles when full, instead of a new small array per tick: a run's millions of small
long-lived arrays, left between the ticks' temporaries, split the heap's free space into
pieces the next tick's arrays do not fit, and the process keeps them (see
docs/performance.md, "Memory").
"""

from __future__ import annotations

import numpy as np

# Ticks (or parts of ticks, see engine.TICK_PART_SLOTS) of reach rows kept as they came before being
# merged by video and hour. The merge's sort briefly takes some 40 bytes a row: in the national world
# a spike of about 600 MB every 32 parts, more than a part's own temporaries.
REACH_MERGE_TICKS = 8
_FIRST_ROWS = 1 << 12


class ColumnLog:
    """Named columns appended in batches; each column keeps its first batch's dtype, widened if a later one needs it."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        self.rows = 0
        self.batches = 0  # appends so far

    def __getstate__(self) -> dict[str, object]:
        """What a checkpoint saves: the rows, not the buffers' unused room."""
        return {"_buffers": self.columns(), "rows": self.rows, "batches": self.batches}

    def append(self, batch: dict[str, np.ndarray]) -> None:
        """Add one batch of rows: every column the same length, and the same columns every time."""
        n = len(next(iter(batch.values())))
        for name, values in batch.items():
            values = np.asarray(values)
            buffer = self._buffers.get(name, np.empty(0, dtype=values.dtype))
            dtype = np.result_type(buffer.dtype, values.dtype)  # as concatenating the batches would give
            if self.rows + n > buffer.size or dtype != buffer.dtype:
                grown = np.empty(max(_FIRST_ROWS, 2 * (self.rows + n)), dtype=dtype)
                grown[: self.rows] = buffer[: self.rows]
                buffer = self._buffers[name] = grown
            buffer[self.rows : self.rows + n] = values
        self.rows += n
        self.batches += 1

    def truncate(self, rows: int) -> None:
        """Keep only the first ``rows`` rows."""
        self.rows = min(self.rows, rows)

    def columns(self) -> dict[str, np.ndarray]:
        """Every row so far, as views of the buffers (no copy); empty when nothing was appended."""
        return {name: buffer[: self.rows] for name, buffer in self._buffers.items()}


class ReachLog:
    """(video, hour since upload, views) int32 rows: one video's views in one hour, in one or more rows.

    Only hourly sums are ever read, and a video is shown in up to an hour's ticks of the same
    hour: every ``REACH_MERGE_TICKS`` ticks the rows since the last merge become one row per
    video and hour, which keeps the log several times smaller at the same curves.
    """

    def __init__(self) -> None:
        self._log = ColumnLog()
        self._merged_rows = 0
        self._ticks = 0

    def add(self, video: np.ndarray, hour: np.ndarray, views: np.ndarray) -> None:
        """Add one tick's rows."""
        self._append(video, hour, views)
        self._ticks += 1
        if self._ticks >= REACH_MERGE_TICKS:
            self._merge()

    def _append(self, video: np.ndarray, hour: np.ndarray, views: np.ndarray) -> None:
        columns = {"video": video, "hour": hour, "views": views}
        self._log.append({name: column.astype(np.int32) for name, column in columns.items()})

    def _merge(self) -> None:
        """Merge the rows since the last merge into one row per video and hour, in (video, hour) order."""
        recent = {name: column[self._merged_rows :] for name, column in self._log.columns().items()}
        keys = recent["video"].astype(np.int64)
        keys <<= 32  # in place: a national world's merge sorts millions of keys, and each copy is tens of MB
        keys |= recent["hour"]
        keys, row = np.unique(keys, return_inverse=True)
        total = np.bincount(row, weights=recent["views"], minlength=keys.size)  # whole numbers, exact in float64
        self._log.truncate(self._merged_rows)
        self._append(keys >> 32, keys & 0xFFFFFFFF, total)
        self._merged_rows, self._ticks = self._log.rows, 0

    def rows_of(self, videos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of ``videos``, in the order they were logged."""
        columns = self._log.columns()
        if not columns:
            empty = np.empty(0, dtype=np.int32)
            return empty, empty, empty
        keep = np.isin(columns["video"], videos)
        return columns["video"][keep], columns["hour"][keep], columns["views"][keep]
