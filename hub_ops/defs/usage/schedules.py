"""When usage is observed: every hour (JupyterHub keeps only each user's latest activity, so
the more often hub_usage asks, the less activity is overwritten before it is seen; see
hub_ops/usage/activity.py), and home storage once a day after the nightly backups."""

import datetime as dt

import dagster as dg

from hub_ops.defs.decommission.records import decommission_records
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.usage.jobs import community_reports_job, home_storage_job, hub_usage_job

HOURLY = "5 * * * *"
DAILY = "0 8 * * *"  # UTC: the nightly backups (02:00) are done
MONTHLY = "0 9 1 * *"  # UTC: the month's cost report (06:00) and home_storage (08:00) are written


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


def community_requests(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    """One run per hub partition for the month before; hubs retired before it began are left out."""
    first = context.scheduled_execution_time.date().replace(day=1)
    month = (first - dt.timedelta(days=1)).replace(day=1)
    hubs = context.instance.get_dynamic_partitions(hubs_partitions.name)
    records = decommission_records(context.instance)
    gone = {
        h.replace("/", ".", 1)
        for h, r in records.items()
        if r.retired and r.decommissioned_on and r.decommissioned_on < month.isoformat()
    }
    requests = [
        dg.RunRequest(
            run_key=f"community_reports:{month:%Y-%m}:{hub}",
            partition_key=dg.MultiPartitionKey({"month": month.isoformat(), "hub": hub}),
            tags={"hub_ops/kind": "usage"},
        )
        for hub in sorted(set(hubs) - gone)
    ]
    return requests or dg.SkipReason("no hub partition to report on (the hub_partitions_sensor adds them)")


@dg.schedule(
    cron_schedule=MONTHLY,
    job=community_reports_job,
    execution_timezone="UTC",
    description="On the 1st: each hub's community report for the month before, one run per hub.",
)
def community_reports_schedule(context: dg.ScheduleEvaluationContext):
    return community_requests(context)
