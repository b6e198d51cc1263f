"""Jobs of the clusters domain."""

import dagster as dg

from hub_ops.defs.clusters.assets import clusters

clusters_refresh_job = dg.define_asset_job(
    "clusters_refresh_job",
    selection=dg.AssetSelection.assets(clusters),
    description="Observe every cluster now (the clusters asset and its checks).",
)
