"""How many workers back up (and restore) one hub: `backups.workers: N`, or `auto`.

`auto` reads the hub's last snapshot (its summary: files, bytes, duration, workers) and
takes the fewest workers whose share of it fits the fleet's `backups.worker_budget` in
each of three measures: bytes, files, and worker-time (the snapshot's duration times the
workers that took it, so a slow NFS shows even when the homes are small). At most
`max_workers`; 1 when the hub has no snapshot yet (the first night is one worker's).
Plain arithmetic over what the caller read: no I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub_ops.backup.manifest import SnapshotSummary
    from hub_ops.fleet.models import WorkerBudget


@dataclass(frozen=True)
class WorkerChoice:
    workers: int
    reason: str  # for the step's log and metadata: which setting, which snapshot, which measure


def choose_workers(setting: int | str, budget: WorkerBudget, last: SnapshotSummary | None) -> WorkerChoice:
    """`setting` as it is, or for "auto" the count `last` and `budget` call for (module doc)."""
    if setting != "auto":
        return WorkerChoice(int(setting), f"backups.workers: {setting}")
    if last is None:
        return WorkerChoice(1, "backups.workers: auto, and no snapshot yet: 1")
    needs = {
        "bytes": math.ceil(last.bytes / budget.bytes),
        "files": math.ceil(last.files / budget.files),
        "time": math.ceil(last.duration_s * max(last.workers, 1) / budget.seconds),
    }
    wanted = max(1, *needs.values())
    workers = min(wanted, budget.max_workers)
    measure = max(needs, key=lambda k: needs[k])
    reason = (
        f"backups.workers: auto: snapshot {last.id} has {last.bytes} bytes, {last.files} files and took "
        f"{last.duration_s:.0f} s with {last.workers} worker(s); per worker at most {budget.bytes} bytes, "
        f"{budget.files} files, {budget.seconds} s: bytes {needs['bytes']}, files {needs['files']}, "
        f"time {needs['time']} -> {workers}"
        + (f" (by {measure})" if wanted > 1 else "")
        + (f" (capped by max_workers {budget.max_workers})" if wanted > workers else "")
    )
    return WorkerChoice(workers, reason)
