"""The run's growing logs give the tables that concatenating their batches would."""

from __future__ import annotations

import pickle

import numpy as np
from pytest import MonkeyPatch

from tiktok_sim import run_logs
from tiktok_sim.run_logs import ColumnLog, ReachLog


def test_a_column_log_holds_what_concatenating_its_batches_gives() -> None:
    rng = np.random.default_rng(4)
    log, batches = ColumnLog(), []
    for i in range(40):  # past the first buffer's rows, so the buffers grow
        n = int(rng.integers(0, 400))
        batch = {
            "stage": np.full(n, i % 3, dtype=np.int8),
            "minute": np.full(n, i * 10) if i < 5 else np.full(n, i * 10.5),  # ints first, then floats
            "value": rng.random(n),
        }
        log.append(batch)
        batches.append(batch)
    columns = log.columns()
    assert log.rows == sum(b["value"].size for b in batches) > run_logs._FIRST_ROWS
    restored = pickle.loads(pickle.dumps(log))  # as a checkpoint saves it: the rows, not the room
    assert log.batches == restored.batches == len(batches)
    for name in batches[0]:
        expected = np.concatenate([b[name] for b in batches])
        assert columns[name].dtype == expected.dtype
        assert np.array_equal(columns[name], expected)
        assert np.array_equal(restored.columns()[name], expected)
    assert len(pickle.dumps(log)) < sum(b.nbytes for b in log._buffers.values())


def test_a_merged_reach_log_keeps_each_video_and_hour_total(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(run_logs, "REACH_MERGE_TICKS", 4)
    rng = np.random.default_rng(9)
    log, rows = ReachLog(), []
    for _ in range(23):  # five merges and three ticks left as they came
        video = np.sort(rng.choice(50, 20, replace=False))
        hour, views = rng.integers(0, 6, video.size), rng.integers(1, 30, video.size)
        log.add(video, hour, views)
        rows.append((video, hour, views))
    video, hour, views = (np.concatenate(c) for c in zip(*rows, strict=True))
    wanted = np.arange(0, 50, 2)
    got = log.rows_of(wanted)
    assert got[0].size < np.isin(video, wanted).sum()  # merged: fewer rows than were added
    for v in wanted:
        for h in range(6):
            mine = (got[0] == v) & (got[1] == h)
            assert got[2][mine].sum() == views[(video == v) & (hour == h)].sum()
    assert not np.isin(got[0], np.arange(1, 50, 2)).any()
