"""Assets of the decommission domain, recorded by decommission_job's steps.

`hub_decommissions` (per hub) is the retirement record: every step's result and the hub's
state ("decommissioned", then "backups expired"); deploys and nightly backups skip hubs in
it. `decommission_notices` (per hub) is the dry-run report a notice run writes before the
date: what will be backed up, migrated, uninstalled and deleted, who still uses the hub and
what it costs a day.
"""

import warnings

import dagster as dg

from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.costs.assets import monthly_cost_report
from hub_ops.defs.deploy.assets import CLUSTERS, HUB_RELEASES
from hub_ops.defs.shared.partitions import hubs_partitions

HUB_DECOMMISSIONS = dg.AssetKey("hub_decommissions")
DECOMMISSION_NOTICES = dg.AssetKey("decommission_notices")

# chosen knowingly: the hub dimension of the backup partitions is the hub partition (beta in 1.13)
warnings.filterwarnings("ignore", message=r"Class `MultiToSingleDimensionPartitionMapping`", category=dg.BetaWarning)

# What a retirement reads, as lineage edges (never a wait for an upstream run): the hub's own
# snapshots (its `hub` dimension); the last deploy and the clusters' node pools; the latest
# monthly report (the notice's cost a day), whichever month it is.
HUB_BACKUPS = dg.AssetDep(
    user_home_backups, partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="hub")
)
LATEST_REPORT = dg.AssetDep(monthly_cost_report, partition_mapping=dg.AllPartitionMapping())

hub_decommissions = dg.AssetSpec(
    HUB_DECOMMISSIONS,
    deps=[HUB_BACKUPS, HUB_RELEASES, CLUSTERS],
    partitions_def=hubs_partitions,
    group_name="decommission",
    kinds={"kubernetes", "gcs"},
    description="The retirement of a hub: each step's result (gates, final backup, migration, uninstall, namespace) "
    "and its state. Recorded by decommission_job.",
)

decommission_notices = dg.AssetSpec(
    DECOMMISSION_NOTICES,
    deps=[HUB_BACKUPS, LATEST_REPORT, CLUSTERS],
    partitions_def=hubs_partitions,
    group_name="decommission",
    description="Dry-run report before a hub's decommission date: what will be backed up, migrated, uninstalled and "
    "deleted, active users in the last 30 days, cost per day. Recorded by decommission_job (dry_run).",
)
