"""When cost reports run: fleet.yaml `costs.schedule` (default 06:00 UTC) every day for the
last days (billing rows arrive late), and on the 1st at the same time for the month before.

Two schedules because a month's report and a day's costs have different partitions; the
monthly report reads the whole month from the export itself, so it needs no daily run first.
"""

import datetime as dt

import dagster as dg

from hub_ops.defs.costs.jobs import hub_daily_costs_job, monthly_cost_report_job
from hub_ops.defs.shared.schedules import fleet_settings_at_load

# billing rows keep arriving (and get corrected) for days after the usage: refresh this many days
LATE_DAYS = 3
DAILY_CRON = fleet_settings_at_load().costs.schedule


def monthly_cron(daily_cron: str) -> str:
    """The daily cron's time of day, on the 1st of each month."""
    minute, hour, *_ = daily_cron.split()
    return f"{minute} {hour} 1 * *"


@dg.schedule(
    cron_schedule=DAILY_CRON,
    job=hub_daily_costs_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,  # reads the export, writes reports: nothing on a hub
    description=f"Every day: hub_daily_costs for the last {LATE_DAYS} days (late billing rows).",
)
def cost_report_schedule(context: dg.ScheduleEvaluationContext):
    today = context.scheduled_execution_time.date()
    return [
        dg.RunRequest(
            run_key=f"hub_daily_costs:{day}:{today}",
            partition_key=day.isoformat(),
            tags={"hub_ops/kind": "cost-report"},
        )
        for day in (today - dt.timedelta(days=n) for n in range(LATE_DAYS, 0, -1))
    ]


@dg.schedule(
    cron_schedule=monthly_cron(DAILY_CRON),
    job=monthly_cost_report_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="On the 1st: monthly_cost_report for the month before, exported as CSV, Parquet, PNG.",
)
def monthly_cost_report_schedule(context: dg.ScheduleEvaluationContext):
    first = context.scheduled_execution_time.date().replace(day=1)
    month = (first - dt.timedelta(days=1)).replace(day=1)
    return dg.RunRequest(
        run_key=f"monthly_cost_report:{month:%Y-%m}",
        partition_key=month.isoformat(),
        tags={"hub_ops/kind": "cost-report"},
    )
