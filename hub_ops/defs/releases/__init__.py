"""The deploy domain: hub_releases, deploy_job, deploy_on_push, the drift check."""

import dagster as dg

from hub_ops.defs.releases.assets import hub_releases
from hub_ops.defs.releases.checks import hub_releases_in_sync
from hub_ops.defs.releases.jobs import deploy_job
from hub_ops.defs.releases.resources import resources
from hub_ops.defs.releases.sensors import deploy_on_push

defs = dg.Definitions(
    assets=[hub_releases], asset_checks=[hub_releases_in_sync], jobs=[deploy_job], sensors=[deploy_on_push]
)

__all__ = ["defs", "resources"]
