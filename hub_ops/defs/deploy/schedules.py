"""Release checks run on their own every hour, not only when someone clicks Execute: a
release changed by hand, or left behind by a hub removed from the config, shows within the
hour. Read-only (helm history and manifests), so it runs by default."""

import dagster as dg

from hub_ops.defs.deploy.jobs import release_checks_job

release_checks_schedule = dg.ScheduleDefinition(
    name="release_checks_schedule",
    job=release_checks_job,
    cron_schedule="47 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: hub_releases_in_sync and no_orphaned_releases.",
)
