"""Jobs of the usage domain: named, so runs say what they observe."""

import dagster as dg

from hub_ops.defs.usage.assets import community_reports, home_storage, hub_usage

hub_usage_job = dg.define_asset_job(
    "hub_usage_job",
    selection=[hub_usage],
    description="Ask every hub who is active (JupyterHub users listing) and record the day.",
)

home_storage_job = dg.define_asset_job(
    "home_storage_job",
    selection=[home_storage],
    description="Home sizes per hub from the latest backup manifests.",
)

community_reports_job = dg.define_asset_job(
    "community_reports_job",
    selection=[community_reports],
    description="A hub's community report for a month (partition: month and hub).",
)
