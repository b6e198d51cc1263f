"""The decommission domain: hub_decommissions, decommission_notices, decommission_job and
its schedule, and the orphaned-release check."""

import dagster as dg

from hub_ops.defs.decommission.assets import decommission_notices, hub_decommissions
from hub_ops.defs.decommission.checks import no_orphaned_releases
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.decommission.schedules import decommission_schedule
from hub_ops.defs.decommission.state import decommissioned_hubs

defs = dg.Definitions(
    assets=[hub_decommissions, decommission_notices],
    asset_checks=[no_orphaned_releases],
    jobs=[decommission_job],
    schedules=[decommission_schedule],
)


def resources(env: str) -> dict:
    return {}


__all__ = ["decommissioned_hubs", "defs", "resources"]
