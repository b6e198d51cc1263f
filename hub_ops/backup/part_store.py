"""Where a multi-worker snapshot's plan and uncommitted parts live (parts.py), in a module of
its own so prune can find the parts without loading the snapshot engine.

    snapshots/<cluster>/<hub>/parts/<plan id>/plan.json
    snapshots/<cluster>/<hub>/parts/<plan id>/part-NNNN.parquet

Snapshot listings skip these: they are one folder deeper than a snapshot's manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from hub_ops.backup.errors import BackupError
from hub_ops.backup.repository import SNAPSHOT_ID, Repository
from hub_ops.backup.store import Store

PLAN_NAME = "plan.json"
PART_MARK = "/parts/"  # in every part manifest's key, never in a snapshot's


def plan_prefix(repo: Repository, hub: str, plan_id: str) -> str:
    if not SNAPSHOT_ID.match(plan_id):
        raise BackupError(f"plan id {plan_id!r}: expected a snapshot id such as 20260101T000000.000Z-0123abcd")
    return repo.hub_prefix(hub) + f"parts/{plan_id}/"


def part_key(repo: Repository, hub: str, plan_id: str, index: int) -> str:
    return plan_prefix(repo, hub, plan_id) + f"part-{index:04d}.parquet"


def part_manifest_keys(store: Store) -> list[str]:
    """Every uncommitted part manifest in the destination (all hubs)."""
    return [o.key for o in store.list("snapshots/") if PART_MARK in o.key and o.key.endswith(".parquet")]


@contextlib.contextmanager
def local_copy(store: Store, key: str) -> Iterator[str]:
    """A local path holding the object at `key` (the object itself for local stores)."""
    local = store.local_path(key)
    if local is not None:
        if not os.path.exists(local):
            raise FileNotFoundError(store.full_url(key))
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="hub-ops-part-") as tmp:
        path = os.path.join(tmp, "part.parquet")
        with store.open_read(key) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        yield path
