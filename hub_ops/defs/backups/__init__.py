"""The backups domain: nightly snapshots of every hub's home directories, checked fresh
and verified, restorable and migratable from the UI. The engine is hub_ops.backup."""

from __future__ import annotations

import os

import dagster as dg

from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.checks import user_home_backups_fresh
from hub_ops.defs.backups.jobs import migrate_homes_job, prune_backup_blobs_job, restore_homes_job
from hub_ops.defs.backups.resources import BackupRunnerResource
from hub_ops.defs.backups.schedules import (
    backup_freshness_schedule,
    backup_job,
    freshness_job,
    nightly_backups,
    prune_backup_blobs_schedule,
)

defs = dg.Definitions(
    assets=[user_home_backups],
    asset_checks=[user_home_backups_fresh],
    jobs=[backup_job, freshness_job, restore_homes_job, migrate_homes_job, prune_backup_blobs_job],
    schedules=[nightly_backups, backup_freshness_schedule, prune_backup_blobs_schedule],
)


def resources(env: str) -> dict:
    """`backup_runner`: in-process for local homes everywhere; in production, backup pods run
    the hub_ops image (HUB_OPS_IMAGE) under a service account that may write the bucket."""
    if env == "production":
        return {
            "backup_runner": BackupRunnerResource(
                image=os.environ.get("HUB_OPS_IMAGE", "hub-ops:latest"),
                service_account_name=os.environ.get("HUB_OPS_BACKUP_SERVICE_ACCOUNT") or None,
                pod_env={"HUB_OPS_ENV": "production"},
            )
        }
    return {"backup_runner": BackupRunnerResource(image=os.environ.get("HUB_OPS_IMAGE", "hub-ops:dev"))}


__all__ = ["defs", "resources"]
