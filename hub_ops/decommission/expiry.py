"""Expire a retired hub's backups once its keep_backups_days have passed."""

from __future__ import annotations

from collections.abc import Callable

from hub_ops.backup.prune import PruneReport, collect_garbage
from hub_ops.backup.repository import Repository, normalize_hub


def expire_hub_backups(repo: Repository, hub: str, log: Callable[[str], None] | None = None) -> PruneReport:
    """Forget every snapshot of `hub`, then collect what no other snapshot references.

    Unlike a retention prune, the newest snapshot goes too: the hub is retired, no backup of
    it runs any more. Blobs shared with other hubs stay; blob deletion follows the
    destination's lock and grace period (a later prune finishes what is skipped). Idempotent.
    """
    hub = normalize_hub(hub)
    report = PruneReport(hub=hub, policy="retired hub: keep nothing")
    for snapshot_id in repo.snapshot_ids(hub):
        repo.store.delete(repo.manifest_key(hub, snapshot_id))  # manifest first: the snapshot is gone
        repo.store.delete(repo.summary_key(hub, snapshot_id))
        report.forgotten.append(snapshot_id)
    collect_garbage(repo, report, log=log)
    return report
