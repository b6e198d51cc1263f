"""`nightly_backups`: at fleet.yaml's `backups.schedule` (default 02:00 UTC), one backfill of
last night's `user_home_backups` partitions, one per hub.

One backfill per night, not one run per hub: at 2,000 hubs a tick that creates 2,000 runs
spends ~1.6 s per run in the daemon (BENCHMARKS.md, "Orchestration at 2,000 hubs"), minutes
over the 5 s a tick should take. The tick adds the backfill `nightly-backups-<night>` and
Dagster's backfill daemon creates its runs; evaluating the same night twice finds the
backfill and adds nothing. Every run of the backfill carries `hub_ops/kind=backup`, and the
instance's run coordinator (defs/shared/run_queue.py) adds each run's `hub_ops/hub` from its
partition, so the run queue (dagster.yaml) keeps one run per hub and N backups at a time.
Hubs without a home, with backups disabled, or recorded as decommissioned by the decommission
domain are skipped. A hub past its decommission date but not yet retired (its gate closed:
users still working) keeps its nightly backups until decommission_job records it.
"""

import datetime as dt
import time

import dagster as dg

# Dagster has no public API that adds a backfill (a schedule's RunRequest cannot carry one:
# only sensors hand asset-graph subsets to the backfill daemon). PartitionBackfill and
# AssetGraphSubset are what the sensor daemon itself uses for that (dagster._daemon.sensor);
# test_schedules.py builds one with the same arguments and fails if their signatures move.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import PartitionBackfill

from hub_ops.backup.config import backups_enabled
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.jobs import backup_freshness_job, prune_backup_blobs_job, user_home_backups_job
from hub_ops.defs.backups.partitions import backup_partition_key, backup_partitions
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.defs.shared.schedules import fleet_settings_at_load
from hub_ops.fleet import FleetConfigError

# on every run of the nightly backfill (the run coordinator adds hub_ops/hub per run)
NIGHTLY_TAGS = {"hub_ops/kind": "backup"}


def nightly_backfill_id(night: str) -> str:
    """`nightly-backups-<night>`: one backfill per night (Dagster keeps backfill ids <= 32 chars)."""
    return f"nightly-backups-{night}"


def nightly_partitions(context: dg.ScheduleEvaluationContext, fleet_config, night: str):
    """(partition keys of `night` for every hub to back up, one line per hub skipped)."""
    known = set(context.instance.get_dynamic_partitions(hubs_partitions.name))
    retired = decommissioned_hubs(context.instance)
    keys, skipped = [], []
    for hub in fleet_config.hubs():
        if not backups_enabled(hub):
            skipped.append(f"{hub.id}: no home or backups disabled")
        elif hub.id in retired:
            skipped.append(f"{hub.id}: {retired[hub.id]}")
        elif hub.partition_key not in known:
            skipped.append(f"{hub.id}: not yet a `hubs` partition (the hub_partitions_sensor adds it)")
        else:
            keys.append(backup_partition_key(night, hub.partition_key))
    return keys, skipped


def add_nightly_backfill(context: dg.ScheduleEvaluationContext, fleet: FleetResource) -> dg.SkipReason:
    """Add last night's backfill unless it exists; the tick's message says what was done.

    Idempotent: a second evaluation of the same night (a retried tick) adds nothing. The
    tick itself shows as skipped: its work is the backfill, whose runs the UI lists under
    Backfills with this id."""
    when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    night = (when.astimezone(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    backfill_id = nightly_backfill_id(night)
    if context.instance.get_backfill(backfill_id) is not None:
        return dg.SkipReason(f"backfill {backfill_id} was added by an earlier evaluation; nothing to add")
    try:
        fleet_config = fleet.load()
    except FleetConfigError as e:
        return dg.SkipReason(f"fleet config invalid, no backups requested:\n{e}")
    keys, skipped = nightly_partitions(context, fleet_config, night)
    for line in skipped:
        context.log.info(f"skipped {line}")
    if not keys:
        return dg.SkipReason("no hub to back up: " + "; ".join(skipped))
    subset = AssetGraphSubset(
        partitions_subsets_by_asset_key={user_home_backups.key: backup_partitions.subset_with_partition_keys(keys)}
    )
    context.instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags=NIGHTLY_TAGS,
            dynamic_partitions_store=context.instance,
            asset_graph_subset=subset,
            title=f"nightly backups {night}",
            description=f"{len(keys)} hubs; {len(skipped)} skipped",
            run_config=None,
        )
    )
    return dg.SkipReason(f"added backfill {backfill_id}: {len(keys)} hubs to back up, {len(skipped)} skipped")


@dg.schedule(
    cron_schedule=fleet_settings_at_load().backups.schedule,
    job=user_home_backups_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly backups: one backfill of last night's partitions (a run per hub with backups), "
    "at fleet.yaml backups.schedule.",
)
def nightly_backups(context: dg.ScheduleEvaluationContext, fleet: FleetResource):
    return add_nightly_backfill(context, fleet)


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
