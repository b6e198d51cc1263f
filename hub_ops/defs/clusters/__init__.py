"""The clusters domain: each cluster's observed state (GKE API or Kubernetes API) and
checks of it against the fleet's config. Owns the `gke` resource."""

import dagster as dg

from hub_ops.defs.clusters.assets import clusters
from hub_ops.defs.clusters.jobs import clusters_refresh_job
from hub_ops.defs.clusters.resources import resources
from hub_ops.defs.clusters.schedules import clusters_hourly_schedule

defs = dg.Definitions(assets=[clusters], jobs=[clusters_refresh_job], schedules=[clusters_hourly_schedule])

__all__ = ["defs", "resources"]
