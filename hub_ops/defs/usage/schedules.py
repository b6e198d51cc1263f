"""When usage is observed: every hour (JupyterHub keeps only each user's latest activity, so
the more often hub_usage asks, the less activity is overwritten before it is seen; see
hub_ops/usage/activity.py), and home storage once a day after the nightly backups."""

import datetime as dt

import dagster as dg

from hub_ops.defs.usage.jobs import home_storage_job, hub_usage_job

HOURLY = "5 * * * *"
DAILY = "0 8 * * *"  # UTC: the nightly backups (02:00) are done


@dg.schedule(
    cron_schedule=HOURLY,
    job=hub_usage_job,
    execution_timezone="UTC",
    description="Every hour: hub_usage for today; just after midnight also for yesterday, which that "
    "observation completes.",
)
def hub_usage_schedule(context: dg.ScheduleEvaluationContext):
    at = context.scheduled_execution_time
    days = [at.date() - dt.timedelta(days=1), at.date()] if at.hour == 0 else [at.date()]
    return [
        dg.RunRequest(
            run_key=f"hub_usage:{day}:{at:%Y-%m-%dT%H}", partition_key=day.isoformat(), tags={"hub_ops/kind": "usage"}
        )
        for day in days
    ]


@dg.schedule(
    cron_schedule=DAILY,
    job=home_storage_job,
    execution_timezone="UTC",
    description="Every day after the nightly backups: home_storage from the latest manifests.",
)
def home_storage_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    return dg.RunRequest(run_key=f"home_storage:{day}", partition_key=day.isoformat(), tags={"hub_ops/kind": "usage"})
