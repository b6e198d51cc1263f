"""Which snapshots a retention policy keeps (pure: no storage, easy to reason about).

Semantics (restic's): `last` keeps the N newest; `daily` keeps, for each of the N most
recent days that have snapshots, the newest of that day; `weekly` the same per ISO week,
`monthly` per calendar month (all in UTC). A snapshot is kept if any rule keeps it. The
newest snapshot is always kept, whatever the policy: a prune never leaves a hub with
nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub_ops.backup.errors import BackupError


@dataclass(frozen=True)
class RetentionPolicy:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        for name in ("last", "daily", "weekly", "monthly"):
            if getattr(self, name) < 0:
                raise BackupError(f"retention {name}={getattr(self, name)}: must be 0 or more")

    def describe(self) -> str:
        parts = [
            f"{n} {name}"
            for name, n in (
                ("last", self.last),
                ("daily", self.daily),
                ("weekly", self.weekly),
                ("monthly", self.monthly),
            )
            if n
        ]
        return ", ".join(parts) or "the newest only"


def _buckets(times: Sequence[tuple[str, dt.datetime]], n: int, bucket: Callable[[dt.datetime], tuple]) -> set[str]:
    keep: set[str] = set()
    seen: list[tuple] = []
    for snapshot_id, t in sorted(times, key=lambda x: x[0], reverse=True):  # newest first
        b = bucket(t)
        if b in seen:
            continue
        if len(seen) >= n:
            break
        seen.append(b)
        keep.add(snapshot_id)
    return keep


def select_kept(snapshots: Sequence[tuple[str, dt.datetime]], policy: RetentionPolicy) -> set[str]:
    """Ids of `snapshots` ((id, created UTC) pairs) that `policy` keeps."""
    if not snapshots:
        return set()
    ordered = sorted(snapshots, key=lambda x: x[0], reverse=True)
    keep = {ordered[0][0]}
    keep |= {sid for sid, _ in ordered[: policy.last]}
    if policy.daily:
        keep |= _buckets(ordered, policy.daily, lambda t: (t.year, t.month, t.day))
    if policy.weekly:
        keep |= _buckets(ordered, policy.weekly, lambda t: tuple(t.isocalendar())[:2])
    if policy.monthly:
        keep |= _buckets(ordered, policy.monthly, lambda t: (t.year, t.month))
    return keep
