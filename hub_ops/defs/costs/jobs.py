"""Jobs of the costs domain: named, so runs say what they report."""

import dagster as dg

from hub_ops.defs.costs.assets import hub_daily_costs, monthly_cost_report

hub_daily_costs_job = dg.define_asset_job(
    "hub_daily_costs_job",
    selection=[hub_daily_costs],
    description="Cost per hub for the selected days, from the billing export.",
)

monthly_cost_report_job = dg.define_asset_job(
    "monthly_cost_report_job",
    selection=[monthly_cost_report],
    description="The month's cost report, exported as CSV, Parquet and a chart.",
)
