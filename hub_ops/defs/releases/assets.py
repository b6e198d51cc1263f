"""The `hub_releases` asset: what is deployed where.

Materialized by deploy_job (one event per hub partition after a successful, healthy
deploy), not by an asset function: a release is a side effect on a cluster, so the asset is
declared as a spec and the deploy steps record it.
"""

import dagster as dg

from hub_ops.defs.partitions import hubs_partitions

HUB_RELEASES = dg.AssetKey("hub_releases")

hub_releases = dg.AssetSpec(
    HUB_RELEASES,
    partitions_def=hubs_partitions,
    group_name="deploy",
    kinds={"kubernetes", "helm"},
    description="The helm release of each hub: chart and version, digest of the merged values (never the values), "
    "git sha, helm revision, health check result, duration. Recorded by deploy_job.",
)
