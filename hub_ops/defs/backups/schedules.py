"""`nightly_backups`: at fleet.yaml's `backups.schedule` (default 02:00 UTC), one run per hub.

Each run backs up one hub's partition of last night; its run_key `<date>-<cluster.hub>`
makes a tick safe to evaluate twice. Tags `hub_ops/hub` and `hub_ops/kind=backup` let the
instance's run queue (dagster.yaml) keep one run per hub and two backups at a time.
Hubs without a home, with backups disabled, or recorded as decommissioned by the decommission
domain are skipped. A hub past its decommission date but not yet retired (its gate closed:
users still working) keeps its nightly backups until decommission_job records it.
"""

import datetime as dt

import dagster as dg

from hub_ops.backup.config import backups_enabled
from hub_ops.defs.backups.jobs import backup_freshness_job, prune_backup_blobs_job, user_home_backups_job
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.defs.shared.schedules import fleet_settings_at_load
from hub_ops.fleet import FleetConfigError


def nightly_requests(context: dg.ScheduleEvaluationContext, fleet: FleetResource):
    """The run requests of one tick (a function so tests call it with any time)."""
    when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    night = (when.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    date = night.isoformat()
    try:
        fleet_config = fleet.load()
    except FleetConfigError as e:
        return dg.SkipReason(f"fleet config invalid, no backups requested:\n{e}")
    known = set(context.instance.get_dynamic_partitions(hubs_partitions.name)) if context.instance else set()
    retired = decommissioned_hubs(context.instance) if context.instance else {}
    requests, skipped = [], []
    for hub in fleet_config.hubs():
        if not backups_enabled(hub):
            skipped.append(f"{hub.id}: no home or backups disabled")
            continue
        if hub.id in retired:
            skipped.append(f"{hub.id}: {retired[hub.id]}")
            continue
        if hub.partition_key not in known:
            skipped.append(f"{hub.id}: not yet a `hubs` partition (the hub_partitions_sensor adds it)")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{date}-{hub.partition_key}",
                partition_key=backup_partition_key(date, hub.partition_key),
                tags={"hub_ops/hub": hub.id, "hub_ops/kind": "backup"},
            )
        )
    for line in skipped:
        context.log.info(f"skipped {line}")
    if not requests:
        return dg.SkipReason("no hub to back up: " + "; ".join(skipped))
    return requests


@dg.schedule(
    cron_schedule=fleet_settings_at_load().backups.schedule,
    job=user_home_backups_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly backups: one run per hub with backups, at fleet.yaml backups.schedule.",
)
def nightly_backups(context: dg.ScheduleEvaluationContext, fleet: FleetResource):
    return nightly_requests(context, fleet)


backup_freshness_schedule = dg.ScheduleDefinition(
    name="backup_freshness_schedule",
    job=backup_freshness_job,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: every hub has a snapshot younger than 26 h (asset check `fresh`).",
)

prune_backup_blobs_schedule = dg.ScheduleDefinition(
    name="prune_backup_blobs_schedule",
    job=prune_backup_blobs_job,
    cron_schedule="0 13 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly, away from the nightly backups: delete contents no kept snapshot references.",
)
