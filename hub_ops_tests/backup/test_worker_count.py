"""`backups.workers: auto`: the count from a snapshot's summary and the fleet's budget
(figures worked out by hand in each case)."""

from __future__ import annotations

import pytest

from hub_ops.backup.manifest import SnapshotSummary
from hub_ops.backup.worker_count import choose_workers
from hub_ops.fleet.models import WorkerBudget

BUDGET = WorkerBudget(bytes=100, files=10, seconds=60, max_workers=5)


def _last(bytes_: int, files: int, duration_s: float, workers: int = 1) -> SnapshotSummary:
    return SnapshotSummary(
        id="20261101T020000.000Z-00000000",
        hub="c/h",
        created="2026-11-01T02:00:00+00:00",
        parent=None,
        source="/h",
        bytes=bytes_,
        files=files,
        duration_s=duration_s,
        workers=workers,
    )


@pytest.mark.parametrize(
    ("last", "workers", "by"),
    [
        (_last(100, 10, 60), 1, ""),  # exactly one worker's budget in every measure
        (_last(101, 10, 60), 2, "(by bytes)"),  # one byte over
        (_last(50, 31, 10), 4, "(by files)"),  # 31 files / 10 a worker
        (_last(50, 5, 100, workers=2), 4, "(by time)"),  # 200 worker-seconds / 60
        (_last(10**6, 5, 1), 5, "(capped by max_workers 5)"),  # 10,000 wanted
    ],
)
def test_auto_takes_the_fewest_workers_whose_shares_fit(last, workers, by):
    choice = choose_workers("auto", BUDGET, last)
    assert choice.workers == workers
    assert choice.reason.startswith(f"backups.workers: auto: snapshot {last.id} has {last.bytes} bytes")
    assert by in choice.reason


def test_auto_without_a_snapshot_and_a_fixed_count():
    assert choose_workers("auto", BUDGET, None).workers == 1
    assert "no snapshot yet" in choose_workers("auto", BUDGET, None).reason
    assert choose_workers(7, BUDGET, _last(10**9, 10**9, 10**9)).workers == 7  # a number is taken as it is
