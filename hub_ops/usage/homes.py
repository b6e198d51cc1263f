"""Home storage per hub, from the latest backup manifest (no scan of the homes themselves).

The manifest lists every entry of every home with its size; the first path component is the
user. Growth comes from the summaries of older snapshots (their JSON, not their manifests):
since the previous snapshot (normally the previous night) and over 30 days (the newest
snapshot at least 30 days older than the latest; none yet: no figure).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from hub_ops.backup.manifest import iter_batches
from hub_ops.backup.repository import Repository, normalize_hub, snapshot_time
from hub_ops.usage.activity import user_key

LARGEST = 10
TOP_LEVEL = ""  # files directly in the homes folder: counted in the total, no one's home


@dataclass
class HomeStorage:
    hub: str  # cluster/hub
    snapshot: str
    taken: dt.datetime
    total_bytes: int
    total_files: int
    per_user: dict[str, tuple[int, int]] = field(repr=False)  # user -> (bytes, files)
    previous: tuple[str, int] | None = None  # (snapshot id, bytes) of the snapshot before
    month_ago: tuple[str, int] | None = None  # (snapshot id, bytes) 30 days or more before

    @property
    def users(self) -> int:
        return len([u for u in self.per_user if u != TOP_LEVEL])

    @property
    def growth_since_previous(self) -> int | None:
        return self.total_bytes - self.previous[1] if self.previous else None

    @property
    def growth_30_days(self) -> int | None:
        return self.total_bytes - self.month_ago[1] if self.month_ago else None

    def largest(self, n: int = LARGEST, show_names: bool = False) -> list[dict]:
        """The n largest homes, for operators (the UI): names hashed unless show_names."""
        homes = sorted(
            ((b, f, u) for u, (b, f) in self.per_user.items() if u != TOP_LEVEL), key=lambda t: (-t[0], t[2])
        )
        return [{"user": u if show_names else user_key(self.hub, u), "bytes": b, "files": f} for b, f, u in homes[:n]]

    def summary_row(self) -> dict:
        """Counts only: what may leave hub_ops in a report."""
        sizes = sorted(b for u, (b, _) in self.per_user.items() if u != TOP_LEVEL)
        return {
            "hub": self.hub,
            "snapshot": self.snapshot,
            "taken": self.taken.isoformat(),
            "home_bytes": self.total_bytes,
            "home_files": self.total_files,
            "homes": len(sizes),
            "median_home_bytes": sizes[len(sizes) // 2] if sizes else 0,
            "growth_since_previous": self.growth_since_previous,
            "growth_30_days": self.growth_30_days,
        }


def per_user_sizes(manifest_path: str) -> dict[str, tuple[int, int]]:
    """user -> (bytes, files) over a manifest's files, a row group at a time."""
    totals: dict[str, list[int]] = {}
    for batch in iter_batches(manifest_path, ["path", "type", "size"]):
        table = pa.table(batch)
        files = table.filter(pc.equal(table["type"], "f"))
        parts = pc.split_pattern(files["path"].cast(pa.binary()), b"/", max_splits=1)
        nested = pc.greater(pc.list_value_length(parts), 1)
        owner = pc.if_else(nested, pc.list_element(parts, 0), pa.scalar(b"", pa.binary()))
        grouped = (
            pa.table({"user": owner, "size": files["size"]})
            .group_by("user")
            .aggregate([("size", "sum"), ("size", "count")])
        )
        for user, size, count in zip(*(grouped[c].to_pylist() for c in ("user", "size_sum", "size_count"))):
            entry = totals.setdefault(user.decode("utf-8", "surrogateescape"), [0, 0])
            entry[0] += size or 0
            entry[1] += count
        # homes without files still count as homes
        dirs = table.filter(pc.equal(table["type"], "d"))["path"].to_pylist()
        for path in dirs:
            if b"/" not in path:
                totals.setdefault(path.decode("utf-8", "surrogateescape"), [0, 0])
    return {u: (b, f) for u, (b, f) in totals.items()}


def home_storage(repo: Repository, hub: str) -> HomeStorage | None:
    """The hub's home storage at its latest snapshot in `repo`; None when it has none."""
    ids = repo.snapshot_ids(hub)
    if not ids:
        return None
    latest = ids[-1]
    with repo.local_manifest(hub, latest) as path:
        per_user = per_user_sizes(path)
    taken = snapshot_time(latest)
    previous = (ids[-2], repo.summary(hub, ids[-2]).bytes) if len(ids) > 1 else None
    older = [i for i in ids if snapshot_time(i) <= taken - dt.timedelta(days=30)]
    month_ago = (older[-1], repo.summary(hub, older[-1]).bytes) if older else None
    return HomeStorage(
        hub=normalize_hub(hub),
        snapshot=latest,
        taken=taken,
        total_bytes=sum(b for b, _ in per_user.values()),
        total_files=sum(f for _, f in per_user.values()),
        per_user=per_user,
        previous=previous,
        month_ago=month_ago,
    )
