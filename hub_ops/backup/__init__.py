"""The user-home backup engine: content-addressed, deduplicated, incremental snapshots of a
folder of home directories to any fsspec destination (file://, gs://).

Plain Python, no Dagster: the CLI (hub_ops.cli.backup), Dagster (hub_ops.defs.backups)
and tests all call these functions. Where things live in a destination: repository.py.
How a snapshot is taken and why kill -9 is safe: snapshot.py. Prune and concurrent
backups: locks.py and prune.py.
"""

from hub_ops.backup.errors import (BackupError, BackupIntegrityError, LockError, RestoreRefusedError,
                                   SnapshotNotFoundError, SourceError)
from hub_ops.backup.locks import LockPolicy
from hub_ops.backup.manifest import SnapshotSummary
from hub_ops.backup.prune import PruneReport, prune
from hub_ops.backup.repository import Repository, normalize_hub
from hub_ops.backup.restore import RestoreProgress, RestoreReport, restore_snapshot
from hub_ops.backup.retention import RetentionPolicy, select_kept
from hub_ops.backup.snapshot import BackupOptions, Progress, create_snapshot
from hub_ops.backup.verify import VerifyReport, verify_snapshot

__all__ = [
    "BackupError", "BackupIntegrityError", "BackupOptions", "LockError", "LockPolicy", "Progress", "PruneReport",
    "Repository", "RestoreProgress", "RestoreRefusedError", "RestoreReport", "RetentionPolicy", "SnapshotNotFoundError",
    "SnapshotSummary", "SourceError", "VerifyReport", "create_snapshot", "normalize_hub", "prune", "restore_snapshot",
    "select_kept", "verify_snapshot",
]
