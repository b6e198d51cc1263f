"""The costs domain: daily and monthly cost reports from the billing export."""

import dagster as dg

from hub_ops.defs.costs.assets import hub_daily_costs, monthly_cost_report
from hub_ops.defs.costs.resources import resources
from hub_ops.defs.costs.schedules import cost_report_schedule, monthly_cost_report_schedule

defs = dg.Definitions(
    assets=[hub_daily_costs, monthly_cost_report],
    schedules=[cost_report_schedule, monthly_cost_report_schedule],
)

__all__ = ["defs", "resources"]
