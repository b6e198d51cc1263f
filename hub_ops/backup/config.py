"""What the fleet config says about a hub's backups: where its homes are, where its
snapshots go, what to keep. Plain functions over hub_ops.fleet models (no I/O)."""

from __future__ import annotations

from pathlib import Path

from hub_ops.backup.retention import RetentionPolicy
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Hub, WorkerBudget


def backups_enabled(hub: Hub) -> bool:
    """A hub is backed up when it has a home and its backups are not switched off."""
    return hub.home is not None and (hub.backups is None or hub.backups.enabled)


def backup_destination(fleet: Fleet, hub: Hub) -> str:
    """The hub's destination URL: its own `backups.destination`, else fleet.yaml's."""
    if hub.backups and hub.backups.destination:
        return hub.backups.destination
    return fleet.settings.backups.destination


def backup_workers(hub: Hub) -> int | str:
    """Workers that write (and restore) the hub's snapshot: `backups.workers`, a number or
    "auto" (hub_ops.backup.worker_count), default 1."""
    return hub.backups.workers if hub.backups else 1


def worker_budget(fleet: Fleet) -> WorkerBudget:
    """One worker's share when a hub's workers are `auto`: fleet.yaml `backups.worker_budget`."""
    return fleet.settings.backups.worker_budget


def retention_policy(fleet: Fleet, hub: Hub) -> RetentionPolicy:
    """The hub's `backups.retain`, else fleet.yaml's `backups.retain`."""
    retain = hub.backups.retain if hub.backups and hub.backups.retain else fleet.settings.backups.retain
    return RetentionPolicy(
        last=retain.last or 0, daily=retain.daily or 0, weekly=retain.weekly or 0, monthly=retain.monthly or 0
    )


def local_home(fleet: Fleet, hub: Hub) -> Path | None:
    """The folder of the hub's home directories when it is a local path (relative to the
    fleet root, then `sub_path`), else None (a PVC or NFS export: see defs/backups/pods.py)."""
    if hub.home is None or hub.home.local_path is None:
        return None
    return (fleet.root / hub.home.local_path / hub.home.sub_path).resolve()
