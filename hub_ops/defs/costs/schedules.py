"""When cost reports run.

Two schedules because Dagster runs one job per schedule and refuses a job over assets with
different partitions (daily and monthly): `cost_report_schedule` every day, and
`monthly_cost_report_schedule` on the 1st for the month before (an hour later, when that
morning's daily refresh is done).
"""

import datetime as dt

import dagster as dg

from hub_ops.defs.costs.assets import hub_daily_costs, monthly_cost_report
from hub_ops.fleet.models import CostSettings

# billing rows keep arriving (and get corrected) for days after the usage: refresh this many days
LATE_DAYS = 3
DAILY_CRON = CostSettings().schedule  # fleet.yaml's default; see the lead's note on per-fleet crons


@dg.schedule(
    cron_schedule=DAILY_CRON,
    target=hub_daily_costs,
    execution_timezone="UTC",
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
    cron_schedule="0 7 1 * *",
    target=monthly_cost_report,
    execution_timezone="UTC",
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
