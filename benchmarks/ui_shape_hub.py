"""hub_ops's definitions with user_home_backups partitioned by hub only (the benchmark's
`--shape hub`, issue 18): a stand-in to time the UI, never deployed.

Each hub is one partition of `hubs`, materialized once a night (the night in the
materialization's metadata) instead of one (night, hub) partition per night: 2,000 partitions
at 2,000 hubs however many nights. Swapped in before hub_ops.defs is imported: the asset's
partitions, and the decommission's dependency on them (the same hub, not the hub dimension).
"""

import sys

import dagster as dg

if "hub_ops.defs.backups.assets" in sys.modules:  # its asset already built with the deployed partitions
    raise ImportError("benchmarks.ui_shape_hub must be imported before hub_ops.defs (in its own process)")

import hub_ops.defs.backups.partitions as backup_partitions_module  # noqa: E402
from hub_ops.defs.shared.partitions import hubs_partitions  # noqa: E402

backup_partitions_module.backup_partitions = hubs_partitions
_multi_to_single = dg.MultiToSingleDimensionPartitionMapping
dg.MultiToSingleDimensionPartitionMapping = lambda partition_dimension_name: dg.IdentityPartitionMapping()
try:
    import hub_ops.defs.decommission.assets  # noqa: F401 (its HUB_BACKUPS, built with the swap)
finally:
    dg.MultiToSingleDimensionPartitionMapping = _multi_to_single

from hub_ops.definitions import defs  # noqa: E402

__all__ = ["defs"]
