"""Assets of the decommission domain, recorded by decommission_job's steps.

`hub_decommissions` (per hub) is the retirement record: every step's result and the hub's
state ("decommissioned", then "backups expired"); deploys and nightly backups skip hubs in
it. `decommission_notices` (per hub) is the dry-run report a notice run writes before the
date: what will be backed up, migrated, uninstalled and deleted, who still uses the hub and
what it costs a day.
"""

import dagster as dg

from hub_ops.defs.shared.partitions import hubs_partitions

HUB_DECOMMISSIONS = dg.AssetKey("hub_decommissions")
DECOMMISSION_NOTICES = dg.AssetKey("decommission_notices")

hub_decommissions = dg.AssetSpec(
    HUB_DECOMMISSIONS,
    partitions_def=hubs_partitions,
    group_name="decommission",
    kinds={"kubernetes", "gcs"},
    description="The retirement of a hub: each step's result (gates, final backup, migration, uninstall, namespace) "
    "and its state. Recorded by decommission_job.",
)

decommission_notices = dg.AssetSpec(
    DECOMMISSION_NOTICES,
    partitions_def=hubs_partitions,
    group_name="decommission",
    description="Dry-run report before a hub's decommission date: what will be backed up, migrated, uninstalled and "
    "deleted, active users in the last 30 days, cost per day. Recorded by decommission_job (dry_run).",
)
