"""Keep the clusters asset fresh: observing is read-only and cheap, so hourly."""

import dagster as dg

from hub_ops.defs.clusters.jobs import clusters_refresh_job

clusters_hourly_schedule = dg.ScheduleDefinition(
    name="clusters_hourly_schedule",
    job=clusters_refresh_job,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Observe every cluster at 17 past each hour.",
)
