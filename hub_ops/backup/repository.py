"""A backup destination: where everything lives in it, and how snapshots are found.

Layout under the destination URL (one destination may hold many hubs and clusters):

    blobs/ab/cdef...                       content-addressed file contents (see blobs.py),
                                           shared by every hub of the destination
    snapshots/<cluster>/<hub>/<id>.parquet the manifest: the snapshot (see manifest.py)
    snapshots/<cluster>/<hub>/<id>.json    its summary, for quick listings
    locks/<kind>-<uuid>.json               who is writing (see locks.py)
    tmp/                                   staging for atomic writes (local folders only)

Snapshot ids are `YYYYMMDDTHHMMSS.mmmZ-<8 hex>` (UTC, milliseconds): sorted by name is
sorted by time (a new snapshot's id is always after its parent's, whatever the clock says),
and two hosts starting the same millisecond never collide. A snapshot exists exactly when its
manifest exists; a summary without a manifest is debris from an interrupted run (pruned).
Hub folders live under `snapshots/` so no cluster name can collide with `blobs/`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from hub_ops.backup.errors import BackupError, BackupIntegrityError, SnapshotNotFoundError
from hub_ops.backup.manifest import SnapshotSummary, read_summary
from hub_ops.backup.store import Store, open_store
from hub_ops.clients.storage import Storage

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
HUB_PATTERN = re.compile(rf"^({_LABEL})[/.]({_LABEL})$")
SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}$")
MANIFEST_SUFFIX, SUMMARY_SUFFIX = ".parquet", ".json"


def normalize_hub(hub: str) -> str:
    """`cluster/hub` (also accepts the partition form `cluster.hub`); refuses anything
    else, so a hub name can never steer a storage key outside its folder."""
    m = HUB_PATTERN.match(hub)
    if not m:
        raise BackupError(f"hub {hub!r}: expected CLUSTER/HUB (lowercase letters, digits, '-')")
    return f"{m.group(1)}/{m.group(3)}"


def new_snapshot_id(now: dt.datetime | None = None, after: str | None = None) -> str:
    """A fresh id for a snapshot taken at `now`, sorting after the id `after` if given."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if after is not None and now <= snapshot_time(after):
        now = snapshot_time(after) + dt.timedelta(milliseconds=1)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(4)


def snapshot_time(snapshot_id: str) -> dt.datetime:
    return dt.datetime.strptime(snapshot_id[:19], "%Y%m%dT%H%M%S.%f").replace(tzinfo=dt.UTC)


@dataclass
class Repository:
    store: Store

    @classmethod
    def open(cls, url: str, storage: Storage | None = None) -> Repository:
        """The destination at `url` (file://, gs://, a path). Creates nothing remote."""
        return cls(open_store(storage or Storage(), url))

    @property
    def url(self) -> str:
        return self.store.url

    # ------------------------------------------------------------ keys

    @staticmethod
    def hub_prefix(hub: str) -> str:
        return f"snapshots/{normalize_hub(hub)}/"

    def manifest_key(self, hub: str, snapshot_id: str) -> str:
        return self.hub_prefix(hub) + snapshot_id + MANIFEST_SUFFIX

    def summary_key(self, hub: str, snapshot_id: str) -> str:
        return self.hub_prefix(hub) + snapshot_id + SUMMARY_SUFFIX

    # ------------------------------------------------------------ snapshots

    def snapshot_ids(self, hub: str) -> list[str]:
        """Ids of the hub's snapshots (those with a manifest), oldest first."""
        prefix = self.hub_prefix(hub)
        ids = []
        for obj in self.store.list(prefix):
            name = obj.key[len(prefix) :]
            if "/" not in name and name.endswith(MANIFEST_SUFFIX) and SNAPSHOT_ID.match(name[: -len(MANIFEST_SUFFIX)]):
                ids.append(name[: -len(MANIFEST_SUFFIX)])
        return sorted(ids)

    def hubs(self) -> list[str]:
        """Every hub with at least one snapshot in this destination."""
        found = set()
        for obj in self.store.list("snapshots/"):
            parts = obj.key.split("/")
            if len(parts) == 4 and parts[3].endswith(MANIFEST_SUFFIX):
                found.add(f"{parts[1]}/{parts[2]}")
        return sorted(found)

    def resolve(self, hub: str, ref: str = "latest") -> str:
        """A snapshot id from `latest`, an id, or an unambiguous prefix of one."""
        ids = self.snapshot_ids(hub)
        if not ids:
            raise SnapshotNotFoundError(f"no snapshots of {normalize_hub(hub)} in {self.url}")
        if ref == "latest":
            return ids[-1]
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SnapshotNotFoundError(
                f"no snapshot {ref!r} of {normalize_hub(hub)} in {self.url} (latest: {ids[-1]}; "
                f"`hub-ops snapshots` lists them)"
            )
        raise SnapshotNotFoundError(f"snapshot {ref!r} is ambiguous: {', '.join(matches[:5])}")

    def summary(self, hub: str, snapshot_id: str) -> SnapshotSummary:
        """The snapshot's summary: the JSON next to the manifest, else the manifest footer."""
        raw = None
        if self.store.stat(self.summary_key(hub, snapshot_id)) is not None:
            try:
                raw = self.store.read_bytes(self.summary_key(hub, snapshot_id))
            except FileNotFoundError:
                raw = None
        if raw is not None:
            try:
                return SnapshotSummary.from_json(raw)
            except (ValueError, TypeError):
                pass  # fall back to the manifest, which is authoritative
        key = self.manifest_key(hub, snapshot_id)
        try:
            with self.store.open_read(key) as f:
                return read_summary(f)
        except FileNotFoundError:
            raise SnapshotNotFoundError(f"no snapshot {snapshot_id} of {normalize_hub(hub)} in {self.url}") from None
        except (OSError, ValueError) as e:
            raise BackupIntegrityError(f"{self.store.full_url(key)}: manifest unreadable: {e}") from None

    def summaries(self, hub: str) -> list[SnapshotSummary]:
        return [self.summary(hub, i) for i in self.snapshot_ids(hub)]

    @contextlib.contextmanager
    def local_manifest(self, hub: str, snapshot_id: str) -> Iterator[str]:
        """A local file path holding the manifest (the object itself for local stores, a
        temporary download otherwise, removed afterwards)."""
        key = self.manifest_key(hub, snapshot_id)
        local = self.store.local_path(key)
        if local is not None:
            if not os.path.exists(local):
                raise SnapshotNotFoundError(f"no snapshot {snapshot_id} of {normalize_hub(hub)} in {self.url}")
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="hub-ops-manifest-") as tmp:
            path = os.path.join(tmp, "manifest.parquet")
            try:
                with self.store.open_read(key) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 8 << 20)
            except FileNotFoundError:
                raise SnapshotNotFoundError(
                    f"no snapshot {snapshot_id} of {normalize_hub(hub)} in {self.url}"
                ) from None
            yield path
