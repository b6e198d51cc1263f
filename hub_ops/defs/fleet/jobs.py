"""Jobs of the fleet domain."""

import dagster as dg

from hub_ops.defs.fleet.assets import fleet_status

fleet_status_job = dg.define_asset_job(
    "fleet_status_job",
    selection=[fleet_status],
    description="Recompute the fleet at a glance now (fleet_status also refreshes on its own).",
)
